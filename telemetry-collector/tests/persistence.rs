//! Restarts, concurrent writers, retention, and the binary itself: graceful SIGTERM, the
//! loopback rule, environment variables and `report`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_telemetry-collector");

fn collector() -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TELEMETRY_COLLECTOR_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Starts `serve` and returns the child and its address, read from the stderr line.
fn spawn_serve(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the collector did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn report_json(db: &std::path::Path) -> Value {
    let out = collector()
        .args(["report", "--format", "json", "--days", "7", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn records_survive_a_restart() {
    let mut h = Harness::start();
    h.track(&[
        command("p1", "u", "run", None, 5),
        tool("p2", "u", "grep", None, 1),
    ]);
    h.restart();
    let s = h.summary(7);
    assert_eq!(s["records"], 2);
    assert_eq!(
        h.track(&[command("p1", "u", "run", None, 5)]).1["duplicates"],
        1,
        "ids survive too"
    );
}

#[test]
fn concurrent_writers_lose_nothing_and_store_each_record_once() {
    let h = Arc::new(Harness::start());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                for b in 0..20 {
                    // Every batch overlaps the previous one by 10 records.
                    let batch: Vec<Value> = (b * 40..b * 40 + 50)
                        .map(|n| command(&format!("t{t}-{n}"), &format!("u{t}"), "run", None, n))
                        .collect();
                    let (status, answer) = h.track(&batch);
                    assert_eq!(status, 200, "{answer}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = h.summary(7);
    assert_eq!(s["records"], 8 * (19 * 40 + 50));
    assert_eq!(s["installs"], 8);
}

#[test]
fn retention_deletes_old_records_at_start() {
    let day = 86_400_000;
    let mut h = Harness::start_with(|c| c.retain_days = Some(7));
    let mut old = command("old", "u", "run", None, 1);
    old["event_timestamp"] = json!(now_ms() - 30 * day);
    let mut edge = command("edge", "u", "run", None, 1);
    edge["event_timestamp"] = json!(now_ms() - 3 * day);
    h.track(&[old, edge, command("new", "u", "run", None, 1)]);
    assert_eq!(h.summary(60)["records"], 3, "kept until the next sweep");
    h.restart();
    assert_eq!(h.summary(60)["records"], 2);
    let conn = telemetry_collector::store::sqlite::open_read(&h.db()).unwrap();
    let gone: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE event_id = 'old'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(gone, 0);
}

#[test]
fn sigterm_stops_gracefully_without_losing_an_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let (mut child, addr) = spawn_serve(
        collector()
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db),
    );
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..3)
        .map(|t| {
            let (acked, url) = (Arc::clone(&acked), format!("http://{addr}/events/v1/track"));
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for b in 0..2000 {
                    let ids: Vec<String> = (0..20).map(|n| format!("g{t}-{b}-{n}")).collect();
                    let records: Vec<Value> = ids
                        .iter()
                        .map(|id| command(id, "u", "run", None, 1))
                        .collect();
                    let body = json!({ "records": records }).to_string();
                    match agent.post(&url).header("Content-Type", JSON).send(&body) {
                        Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(ids),
                        _ => return,
                    }
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 600 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap();
    let conn = telemetry_collector::store::sqlite::open_read(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT 1 FROM events WHERE event_id = ?1")
        .unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !stmt.exists([id.as_str()]).unwrap())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert!(
        acked.len() < 3 * 2000 * 20,
        "the senders were still going at SIGTERM"
    );
}

#[test]
fn a_public_address_needs_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = collector()
        .args(["serve", "--listen", "0.0.0.0:0", "--db"])
        .arg(dir.path().join("c.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--admin-token"), "{err}");
    assert!(
        !dir.path().join("c.db").exists(),
        "refused before touching anything"
    );
}

#[test]
fn env_variables_configure_serve_and_report_reads_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    let (mut child, addr) = spawn_serve(
        collector()
            .arg("serve")
            .env("TELEMETRY_COLLECTOR_DB", &db)
            .env("TELEMETRY_COLLECTOR_LISTEN", "127.0.0.1:0")
            .env("TELEMETRY_COLLECTOR_API_KEYS", "k1,k2")
            .env("TELEMETRY_COLLECTOR_ADMIN_TOKEN", "admin-env-token-0123")
            .env("TELEMETRY_COLLECTOR_MAX_BODY", "2000")
            .env("TELEMETRY_COLLECTOR_RETAIN_DAYS", "30"),
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://{addr}");
    let body = json!({"records": [command("v1", "u", "run", Some("bad <thing>"), 9)]}).to_string();
    let post = |key: &str, body: &str| {
        agent
            .post(&format!("{url}/events/v1/track"))
            .header("Content-Type", JSON)
            .header("x-api-key", key)
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post("k3", &body), 401);
    assert_eq!(post("k2", &body), 200);
    assert_eq!(post("k1", &"x".repeat(3000)), 413);
    let summary = |auth: &str| {
        agent
            .get(&format!("{url}/api/summary"))
            .header("Authorization", auth)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        summary("Bearer k1"),
        401,
        "an ingest key never opens the report"
    );
    assert_eq!(summary("Bearer admin-env-token-0123"), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());

    let s = report_json(&db);
    assert_eq!(s["records"], 1);
    assert_eq!(s["commands"][0]["name"], "run");
    let text = collector()
        .args(["report", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Commands") && text.contains("bad <thing>"),
        "{text}"
    );
    let missing = collector()
        .args(["report", "--db"])
        .arg(dir.path().join("nope.db"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database"));
}
