//! One round trip per command at any latency: each destination remembers the round trip the
//! last run measured beside its own outbox (`<outbox>.round-trip`), and a run that knows its
//! collector is slow queues at once and flushes once, while the first run on a machine
//! behaves as before (its first record is sent at once). The file is hostile ground like every
//! file of the config dir. Counts of requests, not times, are asserted: the collectors answer
//! after a fixed delay on 127.0.0.1.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{DebugBuffer, builder, outbox_records};
use telemetry_runtime::files::{OTEL_LOGS_OUTBOX_FILE, OTEL_TRACES_OUTBOX_FILE, OUTBOX_FILE};
use telemetry_runtime::{Client, Env};
use telemetry_test_collector::{Collector, Request};

/// As far as a collector 60 ms away: two round trips do not fit in the default 100 ms budget.
const SLOW: Duration = Duration::from_millis(60);

fn round_trip_file(dir: &Path, outbox: &str) -> PathBuf {
    dir.join(format!("{outbox}.round-trip"))
}

/// The whole milliseconds remembered beside `outbox`.
fn remembered(dir: &Path, outbox: &str) -> Option<u64> {
    fs::read_to_string(round_trip_file(dir, outbox))
        .ok()
        .map(|t| t.trim().parse().expect("a whole number of milliseconds"))
}

/// One run: a client with the default send budget (100 ms) and timeouts, `n` records, then
/// its flush point. Returns how many requests were made before the flush point.
fn run(collector: &Collector, dir: &Path, n: usize) -> usize {
    let before = collector.requests().len();
    let c = builder(&collector.url(), dir).build();
    for i in 0..n {
        c.track_command(&format!("c{i}"), Vec::<String>::new());
    }
    let direct = collector.requests().len() - before;
    c.flush();
    direct
}

fn batch_sizes(requests: &[Request]) -> Vec<usize> {
    requests.iter().map(|r| r.records().len()).collect()
}

#[test]
fn a_second_run_against_a_slow_collector_queues_at_once_and_a_first_run_behaves_as_before() {
    let collector = Collector::start();
    collector.set_delay(SLOW);
    let dir = tempfile::tempdir().unwrap();

    // First run on this machine: nothing remembered, so the first record goes at once (as
    // before); its round trip leaves no room for another, the rest leaves at the flush.
    assert_eq!(remembered(dir.path(), OUTBOX_FILE), None);
    assert_eq!(
        run(&collector, dir.path(), 10),
        1,
        "first run: one direct send"
    );
    assert_eq!(batch_sizes(&collector.requests()), [1, 9]);
    let ms = remembered(dir.path(), OUTBOX_FILE).expect("the round trip is remembered");
    assert!(ms >= 60, "at least the collector's delay: {ms} ms");

    // Second run: it knows the collector is slow. No direct send at all, one request.
    let out = DebugBuffer::default();
    let c = builder(&collector.url(), dir.path())
        .verbose(true)
        .debug_output(out.writer())
        .build();
    for i in 0..10 {
        c.track_command(&format!("d{i}"), Vec::<String>::new());
    }
    assert_eq!(collector.requests().len(), 2, "second run: no direct send");
    assert_eq!(
        outbox_records(dir.path()).len(),
        10,
        "all ten queued at once"
    );
    c.flush();
    assert_eq!(batch_sizes(&collector.requests()), [1, 9, 10], "one flush");
    assert!(outbox_records(dir.path()).is_empty());
    let said = out.text();
    assert!(
        said.contains("measured by an earlier run"),
        "verbose mode says why: {said}"
    );
}

#[test]
fn a_machine_that_knows_a_near_collector_still_sends_each_record_at_once() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    assert!(run(&collector, dir.path(), 5) >= 1, "first run, loopback");
    let ms = remembered(dir.path(), OUTBOX_FILE).expect("remembered");
    assert!(ms >= 1, "rounded up: never 0 for a real answer");
    // Loopback answers in about a millisecond: the run knows it and sends at once (how many
    // of the five fit in the budget depends on the machine's load, not on the file).
    assert!(ms < 50, "{ms} ms at loopback");
    assert!(run(&collector, dir.path(), 5) >= 1, "second run, loopback");
    assert_eq!(collector.records().len(), 10);
}

#[test]
fn the_collector_getting_near_again_is_learned_at_the_flush() {
    let collector = Collector::start();
    collector.set_delay(SLOW);
    let dir = tempfile::tempdir().unwrap();
    run(&collector, dir.path(), 3);
    collector.set_delay(Duration::ZERO);
    assert_eq!(
        run(&collector, dir.path(), 3),
        0,
        "still thought slow: queued"
    );
    assert!(remembered(dir.path(), OUTBOX_FILE).unwrap() < 60);
    assert!(
        run(&collector, dir.path(), 3) >= 1,
        "the flush measured it near: sent at once again"
    );
    assert_eq!(collector.records().len(), 9);
}

#[test]
fn each_destination_remembers_its_own_round_trip() {
    let usage = Collector::start();
    usage.set_delay(SLOW);
    let otel = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = || {
        Client::builder()
            .app("testapp", "1.2.3")
            .config_dir(dir.path())
            .endpoint(usage.url())
            .env(Env::from_pairs([
                ("TELEMETRY_OTEL", "1"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", otel.base_url().as_str()),
                ("OTEL_LOGS_EXPORTER", "none"),
            ]))
            .build()
    };
    let c = client();
    c.track_command("first", Vec::<String>::new());
    c.flush();
    let slow = remembered(dir.path(), OUTBOX_FILE).unwrap();
    let near = remembered(dir.path(), OTEL_TRACES_OUTBOX_FILE).unwrap();
    assert!(slow >= 60 && near < 60, "usage {slow} ms, traces {near} ms");
    assert_eq!(
        remembered(dir.path(), OTEL_LOGS_OUTBOX_FILE),
        None,
        "no logs"
    );

    let (usage_before, otel_before) = (usage.requests().len(), otel.requests().len());
    let c = client();
    for i in 0..3 {
        c.track_command(&format!("c{i}"), Vec::<String>::new());
    }
    assert_eq!(
        usage.requests().len(),
        usage_before,
        "the usage stream queues"
    );
    assert!(
        otel.requests().len() > otel_before,
        "the operator's near collector still takes spans at once"
    );
    c.flush();
    assert_eq!(usage.records().len(), 4);
}

#[test]
fn a_planted_or_hostile_round_trip_file_never_blocks_nor_keeps_records_from_leaving() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let path = round_trip_file(dir.path(), OUTBOX_FILE);

    // A huge number is read as the cap: the run queues at once, and its flush still sends
    // and writes the real round trip back.
    fs::write(&path, "18446744073709551615999").unwrap();
    assert_eq!(run(&collector, dir.path(), 3), 0, "queued at once");
    assert_eq!(collector.records().len(), 3, "sent at the flush point");
    assert!(remembered(dir.path(), OUTBOX_FILE).unwrap() < 60_000);

    // Garbage is no measurement: the run behaves as a first run (its first record goes at
    // once; how many follow depends on the machine's load).
    for garbage in ["-1", "fast", "1e9", "\u{1b}[2J", ""] {
        fs::write(&path, garbage).unwrap();
        assert!(run(&collector, dir.path(), 2) >= 1, "{garbage:?}");
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::{PermissionsExt, symlink};
        // A symlink is never followed: its target stays as it was, the link is replaced.
        let target = dir.path().join("elsewhere");
        fs::write(&target, "999999").unwrap();
        fs::remove_file(&path).unwrap();
        symlink(&target, &path).unwrap();
        assert!(run(&collector, dir.path(), 2) >= 1, "the link is not read");
        assert_eq!(fs::read_to_string(&target).unwrap(), "999999");
        assert!(fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        // A FIFO never blocks a run.
        fs::remove_file(&path).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(run(&collector, dir.path(), 2) >= 1, "the FIFO is not read");
    }
    // No temporary file is left behind.
    let names = common::files_in(dir.path());
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}
