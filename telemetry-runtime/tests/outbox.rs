//! The outbox: delivery that never hangs and never loses an event, against a real collector
//! on 127.0.0.1. Records that could not be sent wait in the outbox and leave at a flush point
//! (`Client::flush`), in batches of at most 100, oldest first.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::outbox_records;
use serde_json::Value;
use telemetry_runtime::files::OUTBOX_FILE;
use telemetry_runtime::{Client, Env};
use telemetry_test_collector::{Collector, Reply, dead_endpoint};

const TIMEOUT: Duration = Duration::from_millis(600);
/// Generous: this machine has two cores and runs other tests at the same time.
const MARGIN: Duration = Duration::from_millis(700);

fn client(endpoint: &str, dir: &Path) -> Client {
    Client::builder()
        .app("outbox-test", "1.0.0")
        .env(Env::empty())
        .endpoint(endpoint)
        .config_dir(dir)
        .connect_timeout(Duration::from_millis(300))
        .timeout(TIMEOUT)
        .build()
}

/// A client for flushing a large backlog: a deadline long enough for a loaded machine.
fn flusher(endpoint: &str, dir: &Path) -> Client {
    Client::builder()
        .app("outbox-test", "1.0.0")
        .env(Env::empty())
        .endpoint(endpoint)
        .config_dir(dir)
        .timeout(Duration::from_secs(30))
        .build()
}

fn verbose_client(endpoint: &str, dir: &Path) -> (Client, Arc<Mutex<Vec<u8>>>) {
    let out = Arc::new(Mutex::new(Vec::new()));
    let c = Client::builder()
        .app("outbox-test", "1.0.0")
        .env(Env::empty())
        .endpoint(endpoint)
        .config_dir(dir)
        .timeout(TIMEOUT)
        .verbose(true)
        .debug_output(out.clone())
        .build();
    (c, out)
}

fn text(out: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8(std::mem::take(&mut *out.lock().unwrap())).unwrap()
}

fn actions(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            r["properties"]["action"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn track_n(c: &Client, from: usize, n: usize) {
    for i in from..from + n {
        c.track_command(&format!("e{i:04}"), Vec::<String>::new());
    }
}

fn expected(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("e{i:04}")).collect()
}

#[test]
fn dead_port_then_stalling_server_cost_one_timeout_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(&dead_endpoint(), dir.path());
    let start = Instant::now();
    track_n(&c, 0, 50);
    assert!(start.elapsed() < TIMEOUT + MARGIN, "{:?}", start.elapsed());
    assert_eq!(actions(&outbox_records(dir.path())), expected(0, 50));

    let stall = Collector::stalling();
    let dir2 = tempfile::tempdir().unwrap();
    let c = client(&stall.url(), dir2.path());
    let start = Instant::now();
    track_n(&c, 0, 50);
    let took = start.elapsed();
    assert!(
        took < TIMEOUT + MARGIN,
        "50 events against a stalling server took {took:?}"
    );
    assert_eq!(actions(&outbox_records(dir2.path())), expected(0, 50));
    assert_eq!(stall.requests().len(), 1, "one network attempt per process");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir2.path().join(OUTBOX_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn backlog_is_delivered_once_oldest_first_in_batches_of_100() {
    let dir = tempfile::tempdir().unwrap();
    track_n(&client(&dead_endpoint(), dir.path()), 0, 250);
    assert_eq!(outbox_records(dir.path()).len(), 250);

    let collector = Collector::start();
    let c = flusher(&collector.url(), dir.path());
    c.flush();
    let requests = collector.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| r.records().len()).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(actions(&collector.records()), expected(0, 250));
    assert!(!dir.path().join(OUTBOX_FILE).exists(), "outbox emptied");
    // Nothing is sent twice: the next record goes alone, and a flush has nothing to send.
    c.track_command("e0250", Vec::<String>::new());
    c.flush();
    assert_eq!(actions(&collector.records()), expected(0, 251));
    assert_eq!(collector.connections(), 1, "one keep-alive connection");
}

#[test]
fn server_errors_then_too_many_requests_then_ok() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::with_script(vec![Reply::Status(500), Reply::Status(429)]);
    // Process 1: 500 -> queued, and no more attempts in this process.
    let c = client(&collector.url(), dir.path());
    track_n(&c, 0, 3);
    assert_eq!(collector.requests().len(), 1);
    assert_eq!(actions(&outbox_records(dir.path())), expected(0, 3));
    // Process 2: 429 -> still queued, nothing lost.
    let c = client(&collector.url(), dir.path());
    track_n(&c, 3, 2);
    assert_eq!(collector.requests().len(), 2);
    assert_eq!(actions(&outbox_records(dir.path())), expected(0, 5));
    // Process 3: 200 -> everything delivered once, in order.
    let c = client(&collector.url(), dir.path());
    c.flush();
    track_n(&c, 5, 1);
    assert_eq!(actions(&collector.records()), expected(0, 6));
    assert!(outbox_records(dir.path()).is_empty());
}

#[test]
fn bad_request_drops_the_payload_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::with_script(vec![Reply::Status(400)]);
    let c = client(&collector.url(), dir.path());
    track_n(&c, 0, 1);
    assert!(
        outbox_records(dir.path()).is_empty(),
        "a refused payload is not retried"
    );
    // No more attempts in this process: the next record waits for a later run.
    track_n(&c, 1, 1);
    c.flush();
    assert_eq!(collector.requests().len(), 1);
    assert_eq!(actions(&outbox_records(dir.path())), expected(1, 1));
    client(&collector.url(), dir.path()).flush();
    let requests = collector.requests();
    assert_eq!(requests.len(), 2);
    let body = requests[1].json();
    assert!(
        body.get("dropped_records").is_none(),
        "only `records` at the top level"
    );
    assert_eq!(body["records"][0]["properties"]["dropped_records"], 1);
    assert_eq!(actions(&collector.records()), expected(1, 1));
    assert!(!dir.path().join(OUTBOX_FILE).exists());
}

#[test]
fn cap_keeps_newest_1000_and_reports_500_dropped() {
    let dir = tempfile::tempdir().unwrap();
    track_n(&client(&dead_endpoint(), dir.path()), 0, 1_500);
    let queued = outbox_records(dir.path());
    assert_eq!(queued.len(), 1_000);
    assert_eq!(actions(&queued), expected(500, 1_000));
    assert!(fs::metadata(dir.path().join(OUTBOX_FILE)).unwrap().len() <= 1024 * 1024);

    let collector = Collector::start();
    flusher(&collector.url(), dir.path()).flush();
    let first = collector.requests()[0].json();
    assert!(
        first.get("dropped_records").is_none(),
        "only `records` at the top level"
    );
    assert_eq!(first["records"][0]["properties"]["dropped_records"], 500);
    assert_eq!(collector.records().len(), 1_000);
    assert_eq!(actions(&collector.records()), expected(500, 1_000));
    assert_eq!(
        collector.requests()[1].json()["records"][0]["properties"].get("dropped_records"),
        None,
        "reported once"
    );
}

#[test]
fn concurrent_flushes_send_every_event_id_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    track_n(&client(&dead_endpoint(), dir.path()), 0, 300);
    let queued: Vec<String> = outbox_records(dir.path())
        .iter()
        .map(|r| r["properties"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(queued.len(), 300);

    let collector = Collector::start();
    let url = collector.url();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (url, path) = (url.clone(), dir.path().to_path_buf());
            s.spawn(move || {
                let c = flusher(&url, &path);
                track_n(&c, 1_000 + t * 100, 10);
                c.flush();
            });
        }
    });
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in collector.records() {
        *seen
            .entry(r["properties"]["event_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), 340, "every record delivered");
    assert!(seen.values().all(|&n| n == 1), "no record delivered twice");
    assert!(queued.iter().all(|id| seen.contains_key(id)));
    assert!(outbox_records(dir.path()).is_empty());
}

#[test]
fn corrupt_outbox_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    track_n(&client(&dead_endpoint(), dir.path()), 0, 2);
    let good = fs::read(dir.path().join(OUTBOX_FILE)).unwrap();
    let mut junk = b"garbage line\n\x00\x01\xff\xfebinary\n".to_vec();
    junk.extend_from_slice(&good);
    junk.extend_from_slice(b"{\"event\":\"command\",\"properties\":{\"act");
    fs::write(dir.path().join(OUTBOX_FILE), junk).unwrap();

    let collector = Collector::start();
    let c = client(&collector.url(), dir.path());
    c.flush();
    track_n(&c, 2, 1);
    // Sent at once, or (on a loaded machine, when the flush's round trip left too little of
    // the send budget) queued until this flush point.
    c.flush();
    assert_eq!(actions(&collector.records()), expected(0, 3));
    assert!(!dir.path().join(OUTBOX_FILE).exists());
}

#[cfg(unix)]
#[test]
fn read_only_config_dir_leaves_the_process_unharmed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).unwrap();
    let writable = fs::write(ro.join("probe"), b"x").is_ok(); // root ignores permissions
    let c = client(&dead_endpoint(), &ro);
    let start = Instant::now();
    track_n(&c, 0, 20);
    assert!(start.elapsed() < TIMEOUT + MARGIN);
    if !writable {
        assert!(!ro.join(OUTBOX_FILE).exists());
    }
    // A config dir that is a file: nothing can be created below it.
    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    let collector = Collector::start();
    let c = client(&collector.url(), &file.join("sub"));
    track_n(&c, 0, 3);
    assert_eq!(
        actions(&collector.records()),
        expected(0, 3),
        "sent without an outbox"
    );
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn opt_out_deletes_the_queued_records_unsent() {
    let dir = tempfile::tempdir().unwrap();
    track_n(&client(&dead_endpoint(), dir.path()), 0, 5);
    assert_eq!(outbox_records(dir.path()).len(), 5);
    let collector = Collector::start();
    for env in [
        Env::from_pairs([("TELEMETRY_ENABLED", "false")]),
        Env::from_pairs([("DO_NOT_TRACK", "1")]),
    ] {
        let c = Client::builder()
            .env(env.with("TELEMETRY_ENDPOINT", collector.url()))
            .config_dir(dir.path())
            .build();
        track_n(&c, 5, 1);
        assert!(!dir.path().join(OUTBOX_FILE).exists());
    }
    assert!(collector.requests().is_empty());
}

#[test]
fn verbose_mode_shows_each_delivery_decision() {
    let dir = tempfile::tempdir().unwrap();
    let (c, out) = verbose_client(&dead_endpoint(), dir.path());
    track_n(&c, 0, 2);
    let log = text(&out);
    assert!(log.contains("queued 1 record(s)"), "{log}");
    assert!(
        log.contains("an earlier delivery failed in this process"),
        "{log}"
    );

    let collector = Collector::with_script(vec![Reply::Status(400)]);
    let (c, out) = verbose_client(&collector.url(), dir.path());
    track_n(&c, 2, 1);
    c.flush();
    let log = text(&out);
    assert!(
        log.contains("dropped 1 record(s): collector refused them (400)"),
        "{log}"
    );
    assert!(
        log.contains("flush skipped: an earlier delivery failed"),
        "{log}"
    );

    let (c, out) = verbose_client(&collector.url(), dir.path());
    c.flush();
    let log = text(&out);
    assert!(
        log.contains("sent 2 record(s) (200), reporting 1 dropped"),
        "{log}"
    );
    track_n(&c, 3, 1);
    assert!(text(&out).contains("sent 1 record(s) (200)"));

    // With the budget spent, records are queued and the flush sends them in one batch.
    let out = Arc::new(Mutex::new(Vec::new()));
    let c = Client::builder()
        .app("outbox-test", "1.0.0")
        .env(Env::from_pairs([("TELEMETRY_SEND_BUDGET_MS", "0")]))
        .endpoint(collector.url())
        .config_dir(dir.path())
        .verbose(true)
        .debug_output(out.clone())
        .build();
    track_n(&c, 4, 2);
    let log = text(&out);
    assert!(
        log.contains("the send budget (0 ms) is spent: sent at the next flush point"),
        "{log}"
    );
    c.flush();
    assert!(text(&out).contains("sent 2 record(s) (200)"));
}
