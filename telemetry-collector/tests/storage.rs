//! Storage states the server must report truthfully: the writer's health, "listening" only
//! once the database is ready, one server per database file, a database deleted under a
//! running server. Real binary or server on 127.0.0.1, real SQLite files.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_telemetry-collector");

fn collector() -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TELEMETRY_COLLECTOR_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    cmd
}

fn serve(db: &std::path::Path) -> Command {
    let mut cmd = collector();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db);
    cmd
}

/// Runs a `serve` that must fail: its exit status and everything it printed on stderr.
fn failing_serve(cmd: &mut Command) -> (std::process::ExitStatus, String) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (child.wait().unwrap(), err)
}

/// A running `serve`: the child and its address.
struct Running(Child, String);

impl Running {
    fn start(cmd: &mut Command) -> Self {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        std::thread::spawn(move || lines.for_each(drop));
        Self(child, addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn health(h: &Harness) -> (u16, Value) {
    let (status, text) = h.get("/healthz", &[]);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn a_batch_that_once_killed_the_writer_is_rejected_and_healthz_reports_the_writer() {
    let h = Harness::start();
    // In a debug build of a6ccf17 this batch panicked the writer thread for good.
    let big = [
        token("w1", "u", "m", i64::MAX, 0, 0.0),
        token("w2", "u", "m", i64::MAX, 0, 0.0),
    ];
    let (status, answer) = h.track(&big);
    assert_eq!(
        (status, answer["rejected"].as_u64()),
        (200, Some(2)),
        "{answer}"
    );
    assert_eq!(
        h.track(&[command("next", "u", "run", None, 1)]).1["accepted"],
        1
    );
    let (status, report) = health(&h);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["writer"], "running", "{report}");
    assert_eq!(report["database"], "ok", "{report}");
    assert_eq!(report["writer_recoveries"], 0, "{report}");
}

#[test]
fn listening_is_printed_only_once_the_database_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    // Not a database: opening it fails after the port could be bound.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
    // A directory where the file should be.
    let directory = dir.path().join("dir.db");
    std::fs::create_dir(&directory).unwrap();
    // A read-only file (only meaningful when we cannot write it ourselves, i.e. not root).
    let readonly = dir.path().join("ro.db");
    drop(Running::start(&mut serve(&readonly)));
    let mut perms = std::fs::metadata(&readonly).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&readonly, perms).unwrap();
    let mut cases = vec![garbage, directory];
    if std::fs::OpenOptions::new()
        .write(true)
        .open(&readonly)
        .is_err()
    {
        cases.push(readonly);
    }
    for db in cases {
        let (status, err) = failing_serve(&mut serve(&db));
        assert!(!status.success(), "{db:?}: {err}");
        assert!(
            !err.contains("listening"),
            "{db:?} printed listening: {err}"
        );
        assert!(err.contains(&db.display().to_string()), "{db:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one clear line: {err}");
    }
}

#[test]
fn a_second_server_on_the_same_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let first = Running::start(&mut serve(&db));
    let (status, err) = failing_serve(&mut serve(&db));
    assert!(!status.success(), "{err}");
    assert!(!err.contains("listening"), "{err}");
    assert!(err.contains("already serving"), "{err}");
    assert!(err.contains("shared.db"), "{err}");
    // The first one still serves and stores.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = serde_json::json!({"records": [command("s1", "u", "run", None, 1)]}).to_string();
    let status = agent
        .post(&format!("http://{}/events/v1/track", first.1))
        .header("Content-Type", JSON)
        .send(&body)
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // In-process servers are refused the same way.
    let config = telemetry_collector::Config::new(db.clone());
    let err = telemetry_collector::BackgroundServer::start(config)
        .err()
        .unwrap();
    assert!(err.contains("already serving"), "{err}");
    drop(first);
    // Once the first is gone, the file can be served again.
    drop(Running::start(&mut serve(&db)));
}

#[test]
fn a_database_deleted_under_the_server_fails_ingest_and_healthz() {
    let h = Harness::start();
    assert_eq!(h.track(&[command("d1", "u", "run", None, 1)]).0, 200);
    assert_eq!(health(&h).0, 200);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = h.db().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let (status, answer) = h.track(&[command("d2", "u", "run", None, 1)]);
    assert_eq!(status, 503, "{answer}");
    assert!(answer.as_str().unwrap().contains("deleted"), "{answer}");
    let (status, report) = health(&h);
    assert_eq!(status, 503, "{report}");
    assert_eq!(report["status"], "failing", "{report}");
    assert!(
        report["database"].as_str().unwrap().contains("deleted"),
        "{report}"
    );
    // A new file at the path is not the database the server opened either.
    std::fs::write(h.db(), b"").unwrap();
    assert_eq!(h.track(&[command("d3", "u", "run", None, 1)]).0, 503);
    assert_eq!(health(&h).0, 503);
}
