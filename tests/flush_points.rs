//! Flush points of tracked code, against a collector on 127.0.0.1 that answers late: the
//! outermost `#[track_command]` returning (its own record included), a guard or `shutdown()`
//! for programs without commands, and async code, which never waits on the network.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use cli_telemetry::files::OUTBOX_FILE;
use cli_telemetry::{Client, Env, with_client, with_client_future};
use telemetry_test_collector::Collector;

fn client(endpoint: &str, dir: &Path, budget: Duration) -> Client {
    Client::builder()
        .app("flush-points", "1.0.0")
        .endpoint(endpoint)
        .config_dir(dir)
        .env(Env::empty())
        .send_budget(budget)
        .build()
}

fn queued(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join(OUTBOX_FILE))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("{\"event\""))
        .count()
}

fn events(collector: &Collector) -> Vec<String> {
    collector
        .records()
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_owned())
        .collect()
}

#[cli_telemetry::track_tool]
fn tool(n: u32) -> u32 {
    n + 1
}

#[cli_telemetry::track_command]
fn inner_command() -> u32 {
    tool(1)
}

#[cli_telemetry::track_command]
fn outer_command(collector: &Collector, dir: &Path) -> usize {
    for i in 0..10 {
        tool(i);
    }
    inner_command();
    // An inner command is no flush point: nothing left yet (the budget is zero).
    assert!(collector.requests().is_empty());
    queued(dir)
}

#[test]
fn the_outermost_command_is_the_flush_point_and_carries_its_own_record() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let c = client(&collector.url(), dir.path(), Duration::ZERO);
    let queued_inside = with_client(&c, || outer_command(&collector, dir.path()));
    assert_eq!(
        queued_inside, 12,
        "10 tools, the inner tool and the inner command"
    );
    let requests = collector.requests();
    assert_eq!(requests.len(), 1, "one batched request");
    let mut kinds = events(&collector);
    assert_eq!(
        kinds.pop().as_deref(),
        Some("command"),
        "the outer command last"
    );
    assert_eq!(kinds.len(), 12);
    assert_eq!(queued(dir.path()), 0);
}

#[cli_telemetry::track_command]
fn many_tools() {
    for i in 0..50 {
        tool(i);
    }
}

#[test]
fn fifty_tool_calls_at_50_ms_all_arrive_by_the_end_of_the_command() {
    let collector = Collector::start();
    collector.set_delay(Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let c = client(&collector.url(), dir.path(), Duration::from_millis(100));
    with_client(&c, many_tools);
    assert_eq!(collector.records().len(), 51);
    assert!(
        collector.requests().len() <= 3,
        "{}",
        collector.requests().len()
    );
    assert_eq!(queued(dir.path()), 0);
}

#[cli_telemetry::track_command]
fn panicking_command() {
    tool(0);
    panic!("boom");
}

#[test]
fn a_panicking_command_still_flushes() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&collector.url(), dir.path(), Duration::ZERO);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        with_client(&c, panicking_command);
    }));
    assert!(r.is_err());
    let records = collector.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["properties"]["is_success"], false);
    assert_eq!(queued(dir.path()), 0);
}

#[test]
fn a_program_without_commands_flushes_with_a_guard_or_shutdown() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&collector.url(), dir.path(), Duration::ZERO);
    with_client(&c, || {
        let _flush = c.flush_guard();
        tool(1);
        tool(2);
        assert!(collector.requests().is_empty());
    });
    assert_eq!(collector.records().len(), 2);
    with_client(&c, || tool(3));
    assert_eq!(queued(dir.path()), 1);
    c.shutdown();
    assert_eq!(collector.records().len(), 3);
}

#[cli_telemetry::track_tool]
async fn async_tool(n: u32) -> u32 {
    // A sync tracked call inside tracked async code is queued too.
    tool(n)
}

#[cli_telemetry::track_session(agent = "root")]
async fn async_session() -> u32 {
    async_tool(1).await + async_tool(2).await
}

fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

#[test]
fn tracked_async_code_never_waits_on_the_network() {
    let collector = Collector::start();
    let round_trip = Duration::from_millis(1_000);
    collector.set_delay(round_trip);
    let dir = tempfile::tempdir().unwrap();
    // A budget large enough for many round trips: only the async rule keeps it unused.
    let c = client(&collector.url(), dir.path(), Duration::from_secs(60));
    let start = Instant::now();
    let v = block_on(with_client_future(&c, async_session()));
    let took = start.elapsed();
    assert_eq!(v, 5);
    assert!(
        took < round_trip / 2,
        "a single-threaded executor waited {took:?}"
    );
    assert!(collector.requests().is_empty(), "nothing sent from a poll");
    // Session start and end, two async tools, two sync tools: all queued.
    assert_eq!(queued(dir.path()), 6);
    c.flush();
    assert_eq!(collector.records().len(), 6);
    assert_eq!(queued(dir.path()), 0);
}

#[cli_telemetry::track_session(agent = "root")]
fn sync_session() -> u32 {
    tool(1) + tool(2)
}

#[test]
fn a_session_ending_is_a_flush_point() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&collector.url(), dir.path(), Duration::ZERO);
    assert_eq!(with_client(&c, sync_session), 5);
    assert_eq!(
        events(&collector),
        ["session", "tool", "tool", "session"],
        "start, two tools, end: one batch at the end"
    );
    assert_eq!(collector.requests().len(), 1);
    assert_eq!(queued(dir.path()), 0);
}
