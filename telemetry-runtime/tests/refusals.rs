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
use telemetry_runtime::{Client, Env, Exporter, OtlpProtocol};
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

/// The `cli_telemetry.dropped_records` attribute of the first log record of an OTLP/JSON body.
fn otlp_dropped(body: &Value) -> Option<Value> {
    body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == "cli_telemetry.dropped_records")
        .map(|a| a["value"].clone())
}

/// Records an OTLP collector rejects inside an accepted batch (a partial success) are
/// dropped, never re-sent, and counted: the next batch reports them.
#[test]
fn records_rejected_in_a_partial_success_are_counted_by_the_next_batch() {
    let partial = r#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"too old"}}"#;
    let collector = Collector::with_script(vec![Reply::Raw(200, "", partial)]);
    let dir = tempfile::tempdir().unwrap();
    let c = Client::builder()
        .app("refusal-test", "1.0.0")
        .env(Env::empty())
        .endpoint(collector.url())
        .config_dir(dir.path())
        .exporter(Exporter::Otlp)
        .otlp_protocol(OtlpProtocol::Json)
        .send_budget(Duration::ZERO)
        .build();
    for i in 0..3 {
        c.track_command(&format!("b{i}"), Vec::<String>::new());
    }
    c.flush();
    c.track_command("next", Vec::<String>::new());
    c.flush();
    let requests = collector.requests();
    assert_eq!(requests.len(), 2, "the accepted batch is not sent again");
    let first = requests[0].json();
    assert_eq!(
        first["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(otlp_dropped(&first), None);
    let second = requests[1].json();
    assert_eq!(
        second["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        otlp_dropped(&second),
        Some(serde_json::json!({"intValue": "2"})),
        "{second}"
    );
    assert!(outbox_records(dir.path()).is_empty());
}
