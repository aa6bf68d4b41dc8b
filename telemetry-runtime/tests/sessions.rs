//! Sessions against a real collector on 127.0.0.1: exact aggregates when many threads record
//! at once, one end event however often it is asked for, and keep-alive delivery.

mod common;

use std::time::Duration;

use common::builder;
use serde_json::Value;
use telemetry_runtime::limits::MAX_SESSION_ERRORS;
use telemetry_runtime::{Client, Outcome, SessionId};
use telemetry_test_collector::Collector;

const THREADS: usize = 8;
const CALLS_PER_THREAD: usize = 1_000;
/// Every tenth tool call fails.
const FAIL_EVERY: usize = 10;
/// Every hundredth tool call is followed by a model turn.
const TOKENS_EVERY: usize = 100;

fn session_ends(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["event"] == "session" && r["properties"]["action"] == "end")
        .collect()
}

#[test]
fn eight_threads_times_a_thousand_tool_calls_give_exact_aggregates() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    // Generous timeouts and an unlimited send budget (each record sent at once): this test is
    // about counting, not about a loaded machine's latency.
    let client = builder(&collector.url(), dir.path())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .send_budget(Duration::from_secs(3600))
        .build();
    client.record_session_start("root", "sess-many");
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let client = client.clone();
            s.spawn(move || {
                for j in 0..CALLS_PER_THREAD {
                    let outcome = if j % FAIL_EVERY == 0 {
                        Outcome::failure(format!("call {t}-{j} failed"))
                    } else {
                        Outcome::Success
                    };
                    client.record_tool_call(
                        "read_file",
                        None,
                        None,
                        Duration::from_millis(1),
                        outcome,
                    );
                    if j % TOKENS_EVERY == 0 {
                        // A binary fraction, so the sum of costs is exact.
                        client.record_token_usage("openai/gpt-4o", 3, 5, 0.25);
                    }
                }
                client.record_error("thread finished with a warning");
            });
        }
    });
    // Asked for from several threads at once, and again afterwards: one end event.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| client.record_session_end());
        }
    });
    client.record_session_end();
    assert!(client.current_session().is_none());

    let calls = THREADS * CALLS_PER_THREAD;
    let turns = THREADS * CALLS_PER_THREAD / TOKENS_EVERY;
    let records = collector.records();
    // start + tool calls + model turns + end
    assert_eq!(records.len(), 1 + calls + turns + 1);
    assert_eq!(collector.requests().len(), records.len(), "nothing retried");
    let tools: Vec<&Value> = records.iter().filter(|r| r["event"] == "tool").collect();
    assert_eq!(tools.len(), calls);
    assert!(
        tools
            .iter()
            .all(|r| r["properties"]["session_id"] == "sess-many"
                && r["properties"]["agent_name"] == "root")
    );
    let failed = tools
        .iter()
        .filter(|r| r["properties"]["is_success"] == false)
        .count();
    assert_eq!(failed, calls / FAIL_EVERY);

    let ends = session_ends(&records);
    assert_eq!(ends.len(), 1, "the end event is sent once");
    let end = &ends[0]["properties"];
    assert_eq!(end["session_id"], "sess-many");
    assert_eq!(end["agent_name"], "root");
    assert_eq!(end["tool_calls"], 8_000);
    assert_eq!(end["error_count"], calls / FAIL_EVERY + THREADS);
    assert_eq!(end["error_count"], 808);
    assert_eq!(end["input_tokens"], 3 * turns);
    assert_eq!(end["output_tokens"], 5 * turns);
    assert_eq!(end["total_tokens"], 8 * turns);
    assert_eq!(end["cost"], 0.25 * turns as f64);
    assert_eq!(end["is_success"], false);
    assert_eq!(
        end["error"].as_array().unwrap().len(),
        MAX_SESSION_ERRORS,
        "error texts are capped"
    );
    let last = records.last().unwrap();
    assert_eq!(last, ends[0], "the end event is the last record");
}

#[test]
fn end_event_is_sent_once_however_often_end_is_asked() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path()).build();
    let guard = client.start_session("root", SessionId::new("sess-once"));
    client.record_tool_call("t", None, None, Duration::ZERO, Outcome::Success);
    client.record_session_end();
    client.record_session_end();
    guard.finish(&Outcome::Success);
    client.record_session_end();
    let records = collector.records();
    let ends = session_ends(&records);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["properties"]["tool_calls"], 1);
    assert_eq!(ends[0]["properties"]["is_success"], true);
}

#[test]
fn guard_ends_the_session_on_drop_and_on_panic() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path()).build();
    {
        let _guard = client.start_session("root", SessionId::new("sess-drop"));
    }
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = client.start_session("root", SessionId::new("sess-panic"));
        panic!("tool exploded");
    }));
    assert!(panicked.is_err());
    let records = collector.records();
    let ends = session_ends(&records);
    assert_eq!(ends.len(), 2);
    assert_eq!(ends[0]["properties"]["session_id"], "sess-drop");
    assert_eq!(ends[0]["properties"]["is_success"], true);
    assert_eq!(ends[1]["properties"]["session_id"], "sess-panic");
    assert_eq!(ends[1]["properties"]["is_success"], false);
    assert_eq!(ends[1]["properties"]["error_count"], 1);
}

#[test]
fn starting_a_session_ends_the_running_one_once() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path()).build();
    client.record_session_start("root", "first");
    client.record_session_start("root", "second");
    client.record_session_end();
    client.record_session_end();
    let records = collector.records();
    let ended: Vec<&Value> = session_ends(&records)
        .iter()
        .map(|r| &r["properties"]["session_id"])
        .collect();
    assert_eq!(ended, ["first", "second"]);
}

#[test]
fn many_records_travel_over_one_keep_alive_connection() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    // Each record sent at once, however loaded the machine: an unlimited send budget.
    let client = builder(&collector.url(), dir.path())
        .send_budget(Duration::from_secs(3600))
        .build();
    client.record_session_start("root", "sess-ka");
    for i in 0..40 {
        client.record_tool_call(
            &format!("tool-{i}"),
            None,
            None,
            Duration::ZERO,
            Outcome::Success,
        );
    }
    client.record_token_usage("m", 1, 1, 0.0);
    client.track_command("run", Vec::<String>::new());
    client.record_session_end();
    assert_eq!(collector.records().len(), 44);
    assert_eq!(collector.requests().len(), 44);
    assert_eq!(
        collector.connections(),
        1,
        "one TCP connection for every record"
    );
}

#[test]
fn clones_share_one_connection_and_one_session() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path()).build();
    let other: Client = client.clone();
    client.record_session_start("root", "shared");
    other.record_tool_call("t", None, None, Duration::ZERO, Outcome::Success);
    client.record_tool_call("t", None, None, Duration::ZERO, Outcome::Success);
    other.record_session_end();
    let records = collector.records();
    let ends = session_ends(&records);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["properties"]["tool_calls"], 2);
    assert_eq!(collector.connections(), 1);
}

/// Sessions started on many threads at once: each start ends the previous session in the same
/// critical section, so every session that started also ends, exactly once.
#[test]
fn concurrent_starts_never_lose_a_session_end() {
    let (client, records) = telemetry_runtime::testing::capture_client(Client::builder());
    std::thread::scope(|s| {
        for t in 0..8 {
            let client = client.clone();
            s.spawn(move || {
                for i in 0..200 {
                    client.record_session_start("root", format!("s-{t}-{i}"));
                }
            });
        }
    });
    client.record_session_end();
    let records = telemetry_runtime::testing::take(&records);
    let ids = |action: &str| {
        let mut ids: Vec<String> = records
            .iter()
            .filter(|r| r["event"] == "session" && r["properties"]["action"] == action)
            .map(|r| r["properties"]["session_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let starts = ids("start");
    assert_eq!(starts.len(), 8 * 200);
    assert_eq!(
        ids("end"),
        starts,
        "every started session ends exactly once"
    );
}
