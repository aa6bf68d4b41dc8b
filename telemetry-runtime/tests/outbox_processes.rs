//! The outbox across real processes: this test binary starts copies of itself as children
//! (`child_process_entry`, told what to do by an environment variable), each a separate
//! process with its own client on the same config dir, against a collector on 127.0.0.1.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use telemetry_runtime::Client;
use telemetry_runtime::files::OUTBOX_FILE;
use telemetry_test_collector::Collector;

/// Set in a child: `<mode> <endpoint> <config dir> <first> <count> <timeout ms>`.
const CHILD: &str = "OUTBOX_PROCESSES_CHILD";

fn client(endpoint: &str, dir: &Path, timeout: Duration) -> Client {
    common::builder(endpoint, dir).timeout(timeout).build()
}

/// The body of a child process; does nothing in the parent's own test run.
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('\t').collect();
    let [mode, endpoint, dir, first, count, timeout] = parts[..] else {
        panic!("bad child spec {spec:?}");
    };
    let timeout = Duration::from_millis(timeout.parse().unwrap());
    let c = client(endpoint, Path::new(dir), timeout);
    if mode == "track" {
        let first: usize = first.parse().unwrap();
        for i in first..first + count.parse::<usize>().unwrap() {
            c.track_command(&format!("p{i:04}"), Vec::<String>::new());
        }
    }
    // The end of a command: a flush point.
    c.flush();
}

fn spawn(mode: &str, endpoint: &str, dir: &Path, first: usize, count: usize, ms: u64) -> Child {
    let spec = [
        mode,
        endpoint,
        dir.to_str().unwrap(),
        &first.to_string(),
        &count.to_string(),
        &ms.to_string(),
    ]
    .join("\t");
    Command::new(std::env::current_exe().unwrap())
        .args(["child_process_entry", "--exact", "--test-threads=1"])
        .env(CHILD, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// How many times each `event_id` reached the collector.
fn deliveries(collector: &Collector) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in collector.records() {
        *seen
            .entry(r["properties"]["event_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    seen
}

fn outbox_len(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join(OUTBOX_FILE))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("{\"event\""))
        .count()
}

#[test]
fn exactly_once_and_loss_free_at_50_ms_across_processes_and_interleaved_runs() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let (rounds, processes, each) = (3, 4, 25);
    for round in 0..rounds {
        let children: Vec<Child> = (0..processes)
            .map(|p| {
                let first = (round * processes + p) * each;
                spawn("track", &collector.url(), dir.path(), first, each, 5_000)
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
    }
    // What a run could not deliver within its deadline waits for the next run.
    client(&collector.url(), dir.path(), Duration::from_secs(5)).flush();
    let seen = deliveries(&collector);
    assert_eq!(
        seen.len(),
        rounds * processes * each,
        "every record delivered"
    );
    assert!(seen.values().all(|&n| n == 1), "no record delivered twice");
    let mut actions: Vec<String> = collector
        .records()
        .iter()
        .map(|r| r["properties"]["action"].as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    let want: Vec<String> = (0..rounds * processes * each)
        .map(|i| format!("p{i:04}"))
        .collect();
    assert_eq!(actions, want);
    assert_eq!(outbox_len(dir.path()), 0);
}

#[test]
fn a_sender_killed_mid_drain_sends_at_most_the_batch_in_flight_twice() {
    let dir = tempfile::tempdir().unwrap();
    let queued = common::builder(&telemetry_test_collector::dead_endpoint(), dir.path())
        .send_budget(Duration::ZERO)
        .build();
    for i in 0..1_000 {
        queued.track_command(&format!("k{i:04}"), Vec::<String>::new());
    }
    assert_eq!(outbox_len(dir.path()), 1_000);
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(300));
    let mut child = spawn("drain", &collector.url(), dir.path(), 0, 0, 30_000);
    // Four batches answered, the fifth in flight.
    assert!(collector.wait_for_requests(5, Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    let sent_before = collector.requests().len();
    assert!(sent_before < 10, "killed mid-drain");
    client(&collector.url(), dir.path(), Duration::from_secs(30)).flush();
    let seen = deliveries(&collector);
    assert_eq!(seen.len(), 1_000, "every record delivered");
    let twice: usize = seen.values().map(|n| n - 1).sum();
    assert!(twice <= 100, "{twice} records delivered twice");
    assert_eq!(outbox_len(dir.path()), 0);
}
