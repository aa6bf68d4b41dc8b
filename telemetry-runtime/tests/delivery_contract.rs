//! The delivery contract against a real collector on 127.0.0.1: the send budget (builder and
//! `TELEMETRY_SEND_BUDGET_MS`), flush points bounded by one deadline, `Retry-After` across
//! processes, the body shape, and the regressions of the old delivery loop (an oversized
//! outbox sent whole, no deadline, a trickled answer, appends waiting for a sender, a refused
//! backlog dropped whole).

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::outbox_records;
use serde_json::Value;
use telemetry_runtime::files::OUTBOX_FILE;
use telemetry_runtime::{Client, ClientBuilder, Env};
use telemetry_test_collector::{Collector, Reply, TRICKLE_BYTES, TRICKLE_INTERVAL};

/// Scheduling slack on a loaded two-core machine.
const MARGIN: Duration = Duration::from_secs(2);

fn builder(endpoint: &str, dir: &Path) -> ClientBuilder {
    common::builder(endpoint, dir)
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_millis(1_500))
}

/// A client for flushing a large backlog: a deadline long enough for a loaded machine.
fn patient(endpoint: &str, dir: &Path) -> Client {
    builder(endpoint, dir)
        .timeout(Duration::from_secs(30))
        .build()
}

fn track_n(c: &Client, from: usize, n: usize) {
    for i in from..from + n {
        c.track_command(&format!("e{i:04}"), Vec::<String>::new());
    }
}

fn actions(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["properties"]["action"].as_str().unwrap().to_owned())
        .collect()
}

fn expected(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("e{i:04}")).collect()
}

/// Queues `n` records in `dir` through a client whose send budget is zero (no request).
fn backlog(dir: &Path, n: usize) {
    let c = builder(&telemetry_test_collector::dead_endpoint(), dir)
        .send_budget(Duration::ZERO)
        .build();
    track_n(&c, 0, n);
    assert_eq!(outbox_records(dir).len(), n);
}

#[test]
fn within_the_budget_records_go_out_at_once_then_they_wait_for_the_flush() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let c = builder(&collector.url(), dir.path())
        .send_budget(Duration::from_millis(100))
        .build();
    track_n(&c, 0, 20);
    let direct = collector.requests().len();
    assert!(
        (1..=2).contains(&direct),
        "100 ms of budget at 50 ms per answer: {direct} request(s)"
    );
    assert_eq!(
        outbox_records(dir.path()).len(),
        20 - direct,
        "the rest waits"
    );
    c.flush();
    let requests = collector.requests();
    assert_eq!(
        requests.len(),
        direct + 1,
        "one batched request at the flush"
    );
    assert_eq!(requests.last().unwrap().records().len(), 20 - direct);
    assert_eq!(actions(&collector.records()), expected(0, 20));
    assert!(!dir.path().join(OUTBOX_FILE).exists());
}

#[test]
fn the_budget_comes_from_the_builder_and_the_environment_overrides_it() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(30));
    let dir = tempfile::tempdir().unwrap();
    // Builder: zero, nothing before the flush.
    let c = builder(&collector.url(), dir.path())
        .send_budget(Duration::ZERO)
        .build();
    track_n(&c, 0, 5);
    assert!(collector.requests().is_empty());
    c.flush();
    assert_eq!(collector.requests().len(), 1);
    // Environment over the builder: a large budget, every record at once.
    let c = builder(&collector.url(), dir.path())
        .send_budget(Duration::ZERO)
        .env(Env::from_pairs([("TELEMETRY_SEND_BUDGET_MS", "60000")]))
        .build();
    track_n(&c, 5, 5);
    assert_eq!(collector.requests().len(), 6);
    assert!(outbox_records(dir.path()).is_empty());
    // Environment zero over a large builder budget.
    let c = builder(&collector.url(), dir.path())
        .send_budget(Duration::from_secs(60))
        .env(Env::from_pairs([("TELEMETRY_SEND_BUDGET_MS", "0")]))
        .build();
    track_n(&c, 10, 3);
    assert_eq!(collector.requests().len(), 6);
    assert_eq!(outbox_records(dir.path()).len(), 3);
    c.flush();
    assert_eq!(actions(&collector.records()), expected(0, 13));
}

#[test]
fn a_garbage_budget_keeps_the_default() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(30));
    for garbage in ["abc", "-5", "1.5", "100ms"] {
        let dir = tempfile::tempdir().unwrap();
        let c = builder(&collector.url(), dir.path())
            .env(Env::from_pairs([("TELEMETRY_SEND_BUDGET_MS", garbage)]))
            .build();
        let before = collector.requests().len();
        track_n(&c, 0, 10);
        let direct = collector.requests().len() - before;
        // The default (100 ms) at 30 ms per answer: some records at once, not all.
        assert!((1..10).contains(&direct), "{garbage}: {direct} request(s)");
    }
}

#[test]
fn a_flush_to_a_dead_collector_costs_at_most_one_timeout() {
    let stall = Collector::stalling();
    let dir = tempfile::tempdir().unwrap();
    backlog(dir.path(), 300);
    let c = builder(&stall.url(), dir.path())
        .timeout(Duration::from_millis(600))
        .build();
    let start = Instant::now();
    c.flush();
    track_n(&c, 300, 5);
    c.flush();
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(600) + MARGIN,
        "two flushes and five records took {took:?}"
    );
    assert_eq!(
        stall.requests().len(),
        1,
        "one request, then none in this process"
    );
    assert_eq!(actions(&outbox_records(dir.path())), expected(0, 305));
}

#[test]
fn retry_after_in_seconds_is_honoured_across_processes() {
    let collector = Collector::with_script(vec![Reply::RetryAfterSecs(503, 2)]);
    let dir = tempfile::tempdir().unwrap();
    let c = builder(&collector.url(), dir.path()).build();
    track_n(&c, 0, 2);
    assert_eq!(collector.requests().len(), 1);
    let set_at = Instant::now();
    // Another process, before the time: no request at all.
    let c = builder(&collector.url(), dir.path()).build();
    track_n(&c, 2, 1);
    c.flush();
    if set_at.elapsed() < Duration::from_millis(1_900) {
        assert_eq!(
            collector.requests().len(),
            1,
            "no attempt before Retry-After"
        );
    }
    assert_eq!(actions(&outbox_records(dir.path())), expected(0, 3));
    std::thread::sleep(Duration::from_millis(2_100).saturating_sub(set_at.elapsed()));
    let c = builder(&collector.url(), dir.path()).build();
    c.flush();
    assert_eq!(actions(&collector.records()), expected(0, 3));
    assert!(
        common::files_in(dir.path())
            .iter()
            .all(|f| !f.contains("not-before"))
    );
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let at = SystemTime::now() + Duration::from_secs(3);
    let collector = Collector::with_script(vec![Reply::RetryAfterDate(429, at)]);
    let dir = tempfile::tempdir().unwrap();
    backlog(dir.path(), 3);
    let c = builder(&collector.url(), dir.path()).build();
    c.flush();
    assert_eq!(collector.requests().len(), 1);
    let c = builder(&collector.url(), dir.path()).build();
    c.flush();
    track_n(&c, 3, 1);
    if SystemTime::now() + Duration::from_millis(200) < at {
        assert_eq!(collector.requests().len(), 1, "no attempt before the date");
    }
    while SystemTime::now() < at + Duration::from_millis(100) {
        std::thread::sleep(Duration::from_millis(50));
    }
    builder(&collector.url(), dir.path()).build().flush();
    assert_eq!(actions(&collector.records()), expected(0, 4));
}

#[test]
fn the_body_is_exactly_records_and_the_drop_count_rides_on_the_first_record() {
    let collector = Collector::with_script(vec![Reply::Status(400)]);
    let dir = tempfile::tempdir().unwrap();
    backlog(dir.path(), 150);
    builder(&collector.url(), dir.path()).build().flush();
    builder(&collector.url(), dir.path()).build().flush();
    let requests = collector.requests();
    assert_eq!(requests.len(), 2, "refused, then one batch of the 50 left");
    let body = requests[1].json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["records"]);
    let records = body["records"].as_array().unwrap();
    assert_eq!(records.len(), 50);
    assert_eq!(records[0]["properties"]["dropped_records"], 100);
    assert!(
        records[1..]
            .iter()
            .all(|r| r["properties"].get("dropped_records").is_none())
    );
    assert_eq!(requests[1].header("content-type"), Some("application/json"));
}

/// Bug 1: an oversized outbox is read up to the caps, streaming, and sent as at most 1,000
/// records, the newest, the rest counted.
#[test]
fn an_oversized_outbox_sends_only_the_newest_within_the_caps() {
    let dir = tempfile::tempdir().unwrap();
    backlog(dir.path(), 1);
    let line = fs::read_to_string(dir.path().join(OUTBOX_FILE)).unwrap();
    let line = line.trim();
    let total = 30_000;
    let mut text = String::with_capacity(total * (line.len() + 8));
    for i in 0..total {
        text.push_str(&line.replace("\"e0000\"", &format!("\"big{i:05}\"")));
        text.push('\n');
    }
    fs::write(dir.path().join(OUTBOX_FILE), &text).unwrap();
    assert!(text.len() > 8 * 1024 * 1024);
    let collector = Collector::start();
    patient(&collector.url(), dir.path()).flush();
    let requests = collector.requests();
    assert!(requests.len() <= 10, "{} requests", requests.len());
    let records = collector.records();
    assert_eq!(records.len(), 1_000);
    assert_eq!(
        records[0]["properties"]["dropped_records"],
        u64::try_from(total - 1_000).unwrap()
    );
    let want: Vec<String> = (total - 1_000..total)
        .map(|i| format!("big{i:05}"))
        .collect();
    assert_eq!(actions(&records), want, "the newest, oldest first");
    assert!(!dir.path().join(OUTBOX_FILE).exists());
}

/// Bug 3: a run's delivery has one deadline, and a trickled answer is a failure within it.
#[test]
fn a_slow_collector_and_a_trickled_answer_cost_one_deadline() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(1_200));
    let dir = tempfile::tempdir().unwrap();
    backlog(dir.path(), 1_000);
    let c = builder(&collector.url(), dir.path()).build();
    let start = Instant::now();
    c.flush();
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(1_500) + MARGIN,
        "flush took {took:?}"
    );
    assert!(collector.requests().len() <= 2);
    assert!(
        outbox_records(dir.path()).len() >= 800,
        "the rest waits for a later run"
    );

    let trickle = Collector::with_script(vec![Reply::Trickle(200); 5]);
    let dir = tempfile::tempdir().unwrap();
    let c = builder(&trickle.url(), dir.path())
        .timeout(Duration::from_millis(600))
        .build();
    assert!(TRICKLE_INTERVAL * TRICKLE_BYTES as u32 > Duration::from_secs(5));
    let start = Instant::now();
    track_n(&c, 0, 5);
    c.flush();
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(600) + MARGIN,
        "5 records took {took:?}"
    );
    assert_eq!(
        trickle.requests().len(),
        1,
        "a trickled answer is a failure"
    );
    assert_eq!(actions(&outbox_records(dir.path())), expected(0, 5));
}

/// Bug 4: appends never wait for a sender, however slow its collector.
#[test]
fn appends_do_not_wait_for_a_slow_drain() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    backlog(dir.path(), 1_000);
    let sender = builder(&collector.url(), dir.path())
        .timeout(Duration::from_secs(20))
        .build();
    let writer = builder(&collector.url(), dir.path())
        .send_budget(Duration::ZERO)
        .build();
    let mut appended = Duration::ZERO;
    std::thread::scope(|s| {
        let drain = s.spawn(|| sender.flush());
        assert!(collector.wait_for_requests(1, Duration::from_secs(5)));
        let start = Instant::now();
        for i in 0..50 {
            writer.track_command(&format!("w{i:02}"), Vec::<String>::new());
        }
        appended = start.elapsed();
        drain.join().unwrap();
    });
    assert!(
        appended < MARGIN,
        "50 appends took {appended:?} during a drain"
    );
    // The sender also sent what was appended while it sent.
    let delivered: HashSet<String> = actions(&collector.records()).into_iter().collect();
    for i in 0..50 {
        assert!(delivered.contains(&format!("w{i:02}")), "w{i:02} not sent");
    }
    assert_eq!(delivered.len(), 1_050);
    assert_eq!(collector.records().len(), 1_050, "none twice");
    assert!(outbox_records(dir.path()).is_empty());
}

#[test]
fn at_loopback_speed_a_whole_run_fits_in_the_budget() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = builder(&collector.url(), dir.path()).build();
    track_n(&c, 0, 50);
    assert_eq!(collector.requests().len(), 50, "each record at once");
    assert!(!dir.path().join(OUTBOX_FILE).exists(), "nothing queued");
    assert_eq!(collector.connections(), 1, "one keep-alive connection");
}

/// Bug 5: a refused backlog batch stops the drain; the rest waits, the refused are counted.
#[test]
fn a_refused_batch_stops_the_drain_and_keeps_the_rest() {
    let collector = Collector::with_script(vec![Reply::Status(403)]);
    let dir = tempfile::tempdir().unwrap();
    backlog(dir.path(), 1_000);
    builder(&collector.url(), dir.path()).build().flush();
    assert_eq!(collector.requests().len(), 1);
    assert_eq!(actions(&outbox_records(dir.path())), expected(100, 900));
    patient(&collector.url(), dir.path()).flush();
    let records = collector.records();
    assert_eq!(actions(&records), expected(100, 900));
    assert_eq!(records[0]["properties"]["dropped_records"], 100);
}

/// A flush's one deadline is the timeout each destination was built with: the operator's
/// stream follows `OTEL_EXPORTER_OTLP_TIMEOUT`, even when it is longer than the builder's; the
/// usage stream (even in OTLP) never reads it (issue 21) and keeps the builder's.
#[test]
fn the_flush_deadline_follows_each_streams_own_timeout() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(600));
    let dir = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .app("testapp", "1.2.3")
        .endpoint(collector.url())
        .config_dir(dir.path())
        .timeout(Duration::from_millis(200))
        .send_budget(Duration::ZERO)
        .exporter(telemetry_runtime::Exporter::Otlp)
        .env(Env::from_pairs([
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.base_url().as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
        ]))
        .build();
    client.track_command("run", ["x"]);
    client.flush();
    let paths: Vec<String> = collector
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(paths.contains(&"/v1/logs".to_owned()), "{paths:?}");
    let otel_logs = dir
        .path()
        .join(telemetry_runtime::files::OTEL_LOGS_OUTBOX_FILE);
    assert!(
        std::fs::read_to_string(&otel_logs)
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "delivered within OTLP's 5 s, not cut at the builder's 200 ms"
    );
    assert_eq!(
        outbox_records(dir.path()).len(),
        1,
        "the usage stream's request is cut at the builder's 200 ms"
    );
}

/// Issue 18, item 2: all flush points of a process share one deadline. Ten sessions (each end
/// a flush point) against a collector answering in 1.4 s cost the send budget plus one
/// timeout, not ten answers (14 s); what could not go waits in the outbox for a later run.
#[test]
fn ten_sessions_against_a_slow_collector_cost_one_deadline() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(1_400));
    let dir = tempfile::tempdir().unwrap();
    let c = builder(&collector.url(), dir.path()).build();
    let start = Instant::now();
    for i in 0..10 {
        let id = format!("sess-{i}");
        c.record_session_start("root", &id);
        c.record_tool_call(
            "t",
            None,
            None,
            Duration::ZERO,
            telemetry_runtime::Outcome::Success,
        );
        c.record_session_end();
    }
    c.flush();
    let took = start.elapsed();
    let bound = c.send_budget() + Duration::from_millis(1_500);
    assert!(
        took < bound + MARGIN,
        "10 sessions took {took:?}; the bound is {bound:?}"
    );
    assert_eq!(
        collector.requests().len(),
        1,
        "one request fit in the deadline"
    );
    let waiting = outbox_records(dir.path()).len();
    assert_eq!(waiting + collector.records().len(), 30, "nothing lost");
    assert!(waiting >= 27, "the rest waits for a later run: {waiting}");

    // A later run sends what waited.
    collector.set_delay(Duration::ZERO);
    patient(&collector.url(), dir.path()).flush();
    assert_eq!(collector.records().len(), 30);
    assert!(outbox_records(dir.path()).is_empty());
}

/// The shared deadline also holds when the send budget's direct sends already waited: a
/// direct send that took 1.4 s leaves no time for a flush request (1.6 s in all).
#[test]
fn a_slow_direct_send_leaves_no_second_timeout_to_the_flush() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(1_400));
    let dir = tempfile::tempdir().unwrap();
    let c = builder(&collector.url(), dir.path()).build();
    let start = Instant::now();
    track_n(&c, 0, 5);
    c.flush();
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(1_600) + MARGIN,
        "took {took:?}"
    );
    assert_eq!(collector.requests().len(), 1, "the direct send only");
    assert_eq!(actions(&outbox_records(dir.path())), expected(1, 4));
}
