//! A 4xx answer other than 429 refuses a batch for good, in the cagent format as in OTLP:
//! the batch is dropped and counted (the count travels with the next delivered record), never
//! retried, and the process makes no more requests. Every such status is in the table, so a
//! status slipping into the retryable set (a refused batch retried forever) fails here.

mod common;

use std::path::Path;
use std::time::Duration;

use common::outbox_records;
use serde_json::Value;
use telemetry_runtime::files::OUTBOX_FILE;
use telemetry_runtime::{Client, Env};
use telemetry_test_collector::{Collector, Reply, dead_endpoint};

/// Every 4xx a collector may answer that is not "try later" (429).
const REFUSING: [u16; 5] = [400, 401, 403, 404, 413];

fn client(endpoint: &str, dir: &Path) -> Client {
    Client::builder()
        .app("refusal-test", "1.0.0")
        .env(Env::empty())
        .endpoint(endpoint)
        .config_dir(dir)
        .timeout(Duration::from_secs(5))
        .build()
}

fn actions(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["properties"]["action"].as_str().unwrap_or_default())
        .collect()
}

/// Later runs: one queues a record (the endpoint is dead), the next delivers it to a
/// collector that takes everything, carrying the count of records the refusal dropped.
fn later_runs_report(dir: &Path, dropped: u64, status: u16) {
    client(&dead_endpoint(), dir).track_command("later", Vec::<String>::new());
    let good = Collector::start();
    client(&good.url(), dir).flush();
    let records = good.records();
    assert_eq!(
        actions(&records),
        ["later"],
        "{status}: refused records are not re-sent"
    );
    assert_eq!(
        records[0]["properties"]["dropped_records"], dropped,
        "{status}: the refused records are counted"
    );
    assert!(!dir.join(OUTBOX_FILE).exists(), "{status}");
}

#[test]
fn a_refused_direct_send_is_dropped_counted_and_never_retried() {
    for status in REFUSING {
        let dir = tempfile::tempdir().unwrap();
        let collector = Collector::with_script(vec![Reply::Status(status)]);
        let c = client(&collector.url(), dir.path());
        c.track_command("refused", Vec::<String>::new());
        c.track_command("later", Vec::<String>::new());
        c.flush();
        assert_eq!(
            collector.requests().len(),
            1,
            "{status}: one request, no retry"
        );
        assert_eq!(
            actions(&outbox_records(dir.path())),
            ["later"],
            "{status}: only the record made after the refusal waits"
        );
        drop(c);
        // `later` waits in the outbox; the refused one is gone and counted.
        let good = Collector::start();
        client(&good.url(), dir.path()).flush();
        let records = good.records();
        assert_eq!(actions(&records), ["later"], "{status}");
        assert_eq!(records[0]["properties"]["dropped_records"], 1, "{status}");
        assert!(!dir.path().join(OUTBOX_FILE).exists(), "{status}");
    }
}

#[test]
fn a_refused_batch_from_the_outbox_is_dropped_counted_and_never_retried() {
    for status in REFUSING {
        let dir = tempfile::tempdir().unwrap();
        let queued = client(&dead_endpoint(), dir.path());
        for i in 0..3 {
            queued.track_command(&format!("q{i}"), Vec::<String>::new());
        }
        drop(queued);
        assert_eq!(outbox_records(dir.path()).len(), 3, "{status}");

        let collector = Collector::with_script(vec![Reply::Status(status)]);
        let c = client(&collector.url(), dir.path());
        c.flush();
        c.flush();
        assert_eq!(
            collector.requests().len(),
            1,
            "{status}: the batch is not retried"
        );
        assert!(
            outbox_records(dir.path()).is_empty(),
            "{status}: a refused batch leaves the outbox"
        );
        drop(c);
        later_runs_report(dir.path(), 3, status);
    }
}
