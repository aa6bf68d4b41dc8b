//! The outbox's files on hostile ground: a FIFO, planted symlinks (the outbox, its lock, the
//! old predictable temp name), temp files of dead writers, and what opting out and `reset`
//! delete. Nothing may hang, follow a link, or be created outside the config dir.
#![cfg(unix)]

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use telemetry_runtime::files::OUTBOX_FILE;
use telemetry_runtime::{Client, Env};
use telemetry_test_collector::{Collector, dead_endpoint};

/// Runs `f` on its own thread and fails if it does not finish within 20 s (a hang).
fn never_hangs(label: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "{label} hung"
    );
}

fn client(endpoint: &str, dir: &Path) -> Client {
    common::builder(endpoint, dir)
        .timeout(Duration::from_millis(600))
        .build()
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_fifo_named_like_the_outbox_hangs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    mkfifo(&path.join(OUTBOX_FILE));
    let collector = Collector::start();
    let url = collector.url();
    never_hangs("an enabled client", move || {
        let c = client(&dead_endpoint(), &path);
        c.track_command("a", Vec::<String>::new());
        c.track_command("b", Vec::<String>::new());
        c.flush();
        assert_eq!(c.queued_records(), 0);
        let c = client(&url, &path);
        c.flush();
        c.track_command("c", Vec::<String>::new());
        // Opted out: the FIFO is removed (never opened).
        let off = Client::builder()
            .env(Env::from_pairs([("DO_NOT_TRACK", "1")]))
            .config_dir(&path)
            .build();
        off.track_command("d", Vec::<String>::new());
    });
    assert!(!dir.path().join(OUTBOX_FILE).exists());
    assert_eq!(collector.records().len(), 1, "only `c` was sent");
}

#[test]
fn a_symlinked_outbox_or_lock_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let newf = outside.path().join("newf");
    symlink(&newf, dir.path().join(OUTBOX_FILE)).unwrap();
    let c = client(&dead_endpoint(), dir.path());
    c.track_command("a", Vec::<String>::new());
    c.flush();
    assert!(!newf.exists(), "nothing created through the outbox link");

    let dir = tempfile::tempdir().unwrap();
    let lock = outside.path().join("lock");
    symlink(&lock, dir.path().join(format!("{OUTBOX_FILE}.lock"))).unwrap();
    let collector = Collector::start();
    let c = common::builder(&collector.url(), dir.path())
        .send_budget(Duration::ZERO)
        .build();
    c.track_command("b", Vec::<String>::new());
    assert!(!lock.exists(), "nothing created through the lock link");
    // The outbox could not be locked: the record waited in memory for the flush point.
    c.flush();
    assert_eq!(collector.records().len(), 1);
    assert!(!lock.exists());
}

#[test]
fn rewrites_use_unpredictable_temp_names_and_never_write_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("target");
    fs::write(&target, b"untouched").unwrap();
    // The old temp name, for this process's pid.
    let planted = dir
        .path()
        .join(format!("{OUTBOX_FILE}.{}.tmp", std::process::id()));
    symlink(&target, &planted).unwrap();
    let dotted = dir
        .path()
        .join(format!(".{OUTBOX_FILE}.{}.tmp", std::process::id()));
    symlink(&target, &dotted).unwrap();
    let queue = common::builder(&dead_endpoint(), dir.path())
        .send_budget(Duration::ZERO)
        .build();
    for i in 0..1_100 {
        // Past the cap: every append from the 1,001st on rewrites the file.
        queue.track_command(&format!("e{i:04}"), Vec::<String>::new());
    }
    let collector = Collector::start();
    client(&collector.url(), dir.path()).flush();
    assert_eq!(collector.records().len(), 1_000);
    assert_eq!(fs::read(&target).unwrap(), b"untouched");
    assert!(fs::symlink_metadata(&planted).unwrap().is_symlink());
}

#[test]
fn stale_temp_files_of_dead_writers_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir
        .path()
        .join(format!(".{OUTBOX_FILE}.999999999.0123abcd.tmp"));
    fs::write(&dead, b"half a rewrite").unwrap();
    let queue = common::builder(&dead_endpoint(), dir.path())
        .send_budget(Duration::ZERO)
        .build();
    queue.track_command("a", Vec::<String>::new());
    let collector = Collector::start();
    client(&collector.url(), dir.path()).flush();
    assert!(
        !dead.exists(),
        "a dead writer's temp file goes at the next send"
    );
    assert_eq!(collector.records().len(), 1);
}

/// Opting out (three ways) and `reset` delete the outbox, its lock files, the "not before"
/// file and every temp file of theirs.
#[test]
fn opting_out_and_reset_delete_every_outbox_file() {
    let plant = |dir: &Path| {
        let collector =
            Collector::with_script(vec![telemetry_test_collector::Reply::RetryAfterSecs(
                503, 60,
            )]);
        let c = client(&collector.url(), dir);
        c.track_command("a", Vec::<String>::new());
        c.flush();
        let live = format!(".{OUTBOX_FILE}.{}.ab12.tmp", std::process::id());
        fs::write(dir.join(live), b"x").unwrap();
        let names = common::files_in(dir);
        assert!(
            names.iter().any(|n| n.ends_with(".not-before")),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n == OUTBOX_FILE), "{names:?}");
    };
    let only_ours_left = |dir: &Path| {
        let names = common::files_in(dir);
        assert!(
            names.iter().all(|n| !n.contains("telemetry-outbox")),
            "{names:?}"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    plant(dir.path());
    client(&dead_endpoint(), dir.path()).reset().unwrap();
    only_ours_left(dir.path());

    plant(dir.path());
    client(&dead_endpoint(), dir.path())
        .persist_choice(false)
        .unwrap();
    only_ours_left(dir.path());

    let _ = fs::remove_file(dir.path().join("telemetry-consent"));
    plant(dir.path());
    let _ = Client::builder()
        .env(Env::from_pairs([("TELEMETRY_ENABLED", "false")]))
        .config_dir(dir.path())
        .build();
    only_ours_left(dir.path());
}
