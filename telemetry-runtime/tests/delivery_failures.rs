//! A collector that refuses, never answers, closes or fails: `track()` and a flush still
//! return within the configured timeout (plus a generous margin for a loaded machine) and
//! never panic.
//!
//! These tests assert on time and on what reached the collector only: where a record that
//! could not be sent ends up (the outbox, or nowhere) is another test's business.

mod common;

use std::time::{Duration, Instant};

use common::builder;
use telemetry_runtime::{Client, Env, Outcome};
use telemetry_test_collector::{Collector, Reply, dead_endpoint};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_millis(600);
/// Scheduling slack on a loaded two-core machine.
const MARGIN: Duration = Duration::from_secs(2);

/// Runs `f` and asserts it returned within the configured overall timeout plus the margin.
fn within_timeout(label: &str, f: impl FnOnce()) {
    let started = Instant::now();
    f();
    let took = started.elapsed();
    assert!(
        took < TIMEOUT + MARGIN,
        "{label}: took {took:?}, timeout is {TIMEOUT:?}"
    );
}

fn client_for(endpoint: &str, dir: &std::path::Path) -> Client {
    builder(endpoint, dir)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .build()
}

/// Every kind of call a command makes, each timed.
fn exercise_timed(client: &Client, label: &str) {
    within_timeout(&format!("{label}: track_command"), || {
        client.track_command("run", ["--x"]);
    });
    within_timeout(&format!("{label}: session start"), || {
        client.record_session_start("root", "sess-f");
    });
    within_timeout(&format!("{label}: tool call"), || {
        client.record_tool_call("t", None, None, Duration::ZERO, Outcome::Success);
    });
    within_timeout(&format!("{label}: session end"), || {
        client.record_session_end();
    });
    within_timeout(&format!("{label}: flush"), || client.flush());
}

#[test]
fn refused_connection_returns_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_for(&dead_endpoint(), dir.path());
    assert!(client.is_enabled());
    exercise_timed(&client, "refused");
}

#[test]
fn refused_connection_without_config_dir_returns_within_the_timeout() {
    let client = Client::builder()
        .app(common::APP, common::VERSION)
        .endpoint(dead_endpoint())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .env(Env::empty())
        .build();
    exercise_timed(&client, "refused, no config dir");
}

#[test]
fn stalling_server_returns_within_the_timeout() {
    let collector = Collector::stalling();
    let dir = tempfile::tempdir().unwrap();
    let client = client_for(&collector.url(), dir.path());
    exercise_timed(&client, "stalling");
    assert!(
        collector.wait_for_requests(1, Duration::from_secs(5)),
        "the request reached the stalling server"
    );
    assert!(collector.records().is_empty());
}

#[test]
fn stall_from_the_environment_endpoint_returns_within_the_timeout() {
    let collector = Collector::stalling();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&dead_endpoint(), dir.path())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .env(Env::from_pairs([("TELEMETRY_ENDPOINT", collector.url())]))
        .build();
    exercise_timed(&client, "stalling via TELEMETRY_ENDPOINT");
    assert!(collector.wait_for_requests(1, Duration::from_secs(5)));
}

#[test]
fn server_closing_without_answer_returns_within_the_timeout() {
    let collector = Collector::with_script(vec![Reply::Close; 8]);
    let dir = tempfile::tempdir().unwrap();
    let client = client_for(&collector.url(), dir.path());
    exercise_timed(&client, "close");
    assert!(collector.wait_for_requests(1, Duration::from_secs(5)));
    assert!(collector.records().is_empty());
}

#[test]
fn server_errors_return_within_the_timeout() {
    for status in [500, 503, 429, 400, 404] {
        let collector = Collector::with_script(vec![Reply::Status(status); 8]);
        let dir = tempfile::tempdir().unwrap();
        let client = client_for(&collector.url(), dir.path());
        exercise_timed(&client, &format!("status {status}"));
        assert!(!collector.requests().is_empty(), "status {status}");
        assert!(collector.records().is_empty(), "status {status}");
    }
}

#[test]
fn a_stall_on_one_client_does_not_block_another() {
    // No lock is held across network I/O: a client whose collector stalls does not hold up
    // a client of a healthy collector in another thread.
    let stalling = Collector::stalling();
    let healthy = Collector::start();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let slow = builder(&stalling.url(), dir_a.path())
        .timeout(Duration::from_secs(60))
        .build();
    let fast = client_for(&healthy.url(), dir_b.path());
    std::thread::scope(|s| {
        s.spawn(|| slow.track_command("slow", Vec::<String>::new()));
        assert!(stalling.wait_for_requests(1, Duration::from_secs(5)));
        within_timeout("healthy while another stalls", || {
            fast.track_command("fast", Vec::<String>::new());
        });
        // Closing the stalled connection lets the slow client return.
        drop(stalling);
    });
    assert_eq!(healthy.records().len(), 1);
}

/// A redirect is an answer, never followed: the records are not sent to the place it names
/// (a collector must not move a CLI's records elsewhere); they are refused and counted.
#[test]
fn redirects_are_never_followed() {
    let elsewhere = Collector::start();
    let to: &'static str = Box::leak(elsewhere.url().into_boxed_str());
    for status in [301, 302, 307, 308] {
        let collector = Collector::with_script(vec![Reply::Redirect(status, to)]);
        let dir = tempfile::tempdir().unwrap();
        let client = client_for(&collector.url(), dir.path());
        client.track_command("run", ["x"]);
        client.flush();
        assert_eq!(
            collector.requests().len(),
            1,
            "{status}: one request, answered"
        );
        assert!(
            elsewhere.requests().is_empty(),
            "{status}: the redirect was followed"
        );
    }
}
