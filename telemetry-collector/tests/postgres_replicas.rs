//! Several `telemetry-collector serve` processes on one real PostgreSQL database (a server
//! the test starts): migrations racing at start, the same records sent to both replicas
//! stored once with identical summaries, a replica killed with SIGKILL during ingest while
//! the other keeps serving, and a URL whose password is never printed.

#[path = "common/pg.rs"]
mod pg;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use pg::{PASSWORD, Postgres};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_telemetry-collector");

/// One `serve` process; killed (SIGKILL) and reaped on drop.
struct Replica {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

impl Replica {
    fn start(db: &str) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        let (found, addr) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("listening on ") {
                    let _ = found.send(a.to_owned());
                }
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let base = addr
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the replica did not start: {}", log.lock().unwrap()));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            child,
            base,
            log,
            agent,
        }
    }

    /// POSTs a cagent batch; the status (0 when the connection failed) and the answer.
    fn track(&self, records: &[Value]) -> (u16, Value) {
        let body = json!({ "records": records }).to_string();
        match self
            .agent
            .post(&format!("{}/events/v1/track", self.base))
            .header("Content-Type", "application/json")
            .send(&body)
        {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let text = r.body_mut().read_to_string().unwrap_or_default();
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            Err(_) => (0, Value::Null),
        }
    }

    fn summary(&self) -> Value {
        let mut r = self
            .agent
            .get(&format!("{}/api/summary?days=7", self.base))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn healthy(&self) -> bool {
        self.health().0 == 200
    }

    /// `/healthz`: the status (0 when the connection failed) and the body.
    fn health(&self) -> (u16, String) {
        match self.agent.get(&format!("{}/healthz", self.base)).call() {
            Ok(mut r) => (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A tool, token, command or session record with a v4-looking id.
fn record(n: u64) -> Value {
    let id = format!("{:08x}-0000-4000-8000-{:012x}", n >> 12, n);
    let mut p = json!({"event_id": id, "user_uuid": format!("u{}", n % 50), "version": "2.0",
        "os": "linux", "session_id": format!("s{}", n / 20), "agent_name": "root"});
    let event = match n % 4 {
        0 => {
            p["tool_name"] = json!(format!("tool{}", n % 6));
            p["duration_ms"] = json!(n % 2000);
            p["is_success"] = json!(n % 5 != 1);
            if n % 5 == 1 {
                p["error"] = json!("permission denied");
            }
            "tool"
        }
        1 => {
            p["model_name"] = json!("m");
            p["input_tokens"] = json!(n);
            p["output_tokens"] = json!(n / 2);
            p["cost"] = json!(0.25);
            "token"
        }
        2 => {
            p["action"] = json!("run");
            p["duration_ms"] = json!(n % 900);
            p["is_success"] = json!(true);
            "command"
        }
        _ => {
            p["action"] = json!("end");
            p["tool_calls"] = json!(2);
            p["error_count"] = json!(0);
            p["is_success"] = json!(true);
            "session"
        }
    };
    json!({"event": event, "event_timestamp": now_ms(), "source": "t", "properties": p})
}

/// Sends `records` in batches of 100; the accepted and duplicate counts.
fn send_all(r: &Replica, records: &[Value]) -> (u64, u64) {
    let (mut acc, mut dup) = (0, 0);
    for batch in records.chunks(100) {
        let (status, answer) = r.track(batch);
        assert_eq!(status, 200, "{answer}");
        acc += answer["accepted"].as_u64().unwrap();
        dup += answer["duplicates"].as_u64().unwrap();
    }
    (acc, dup)
}

#[test]
fn replicas_started_together_on_an_empty_database_migrate_once() {
    let Some(pg) = Postgres::start("replicas_started_together_on_an_empty_database_migrate_once")
    else {
        return;
    };
    let url = pg.create_db("race");
    let barrier = Arc::new(Barrier::new(3));
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                Replica::start(&url)
            })
        })
        .collect();
    let replicas: Vec<Replica> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    for r in &replicas {
        assert!(r.healthy(), "{}", r.log.lock().unwrap());
    }
    assert_eq!(
        pg.psql("race", "SELECT COUNT(*) FROM schema_version"),
        "1",
        "one version row"
    );
    assert_eq!(replicas[0].track(&[record(1)]).1["accepted"], 1);
    assert_eq!(replicas[1].track(&[record(1)]).1["duplicates"], 1);
}

#[test]
fn two_replicas_store_10000_records_once_and_summarize_them_identically() {
    let Some(pg) = Postgres::start("two_replicas_store_10000_records_once") else {
        return;
    };
    let url = pg.create_db("pair");
    let (a, b) = (Replica::start(&url), Replica::start(&url));
    let records: Vec<Value> = (0..10_000).map(record).collect();
    let (first, second) = records.split_at(5_000);
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| send_all(&a, first));
        let tb = s.spawn(|| send_all(&b, second));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!((ra.0 + rb.0, ra.1 + rb.1), (10_000, 0));
    // All of them again, to the other replica.
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| send_all(&a, &records));
        let tb = s.spawn(|| send_all(&b, &records));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!((ra.0 + rb.0, ra.1 + rb.1), (0, 20_000));
    assert_eq!(pg.psql("pair", "SELECT COUNT(*) FROM events"), "10000");
    let (sa, sb) = (a.summary(), b.summary());
    assert_eq!(sa, sb);
    assert_eq!(sa["records"], 10_000);
    let tools: u64 = sa["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(tools, 2_500);
}

#[test]
fn a_replica_killed_during_ingest_loses_no_acknowledged_record_and_the_other_serves_on() {
    let Some(pg) = Postgres::start("a_replica_killed_during_ingest") else {
        return;
    };
    let url = pg.create_db("kill");
    let (a, b) = (Replica::start(&url), Replica::start(&url));
    let pid = a.child.id().to_string();
    let acked = Mutex::new(Vec::<String>::new());
    let (stop, killed) = (AtomicBool::new(false), AtomicBool::new(false));
    let b_after_kill = AtomicU32::new(0);
    let ids = |batch: &[Value]| -> Vec<String> {
        batch
            .iter()
            .map(|r| r["properties"]["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    std::thread::scope(|s| {
        // Two clients on the replica that will be killed, one on the other.
        for t in 0..3u64 {
            let (a, b, acked, stop, killed, b_after_kill, ids) =
                (&a, &b, &acked, &stop, &killed, &b_after_kill, &ids);
            s.spawn(move || {
                let mut n = (t + 1) * 10_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<Value> = (n..n + 100).map(record).collect();
                    n += 100;
                    let (status, answer) = if t < 2 {
                        a.track(&batch)
                    } else {
                        b.track(&batch)
                    };
                    if t == 2 {
                        assert_eq!(status, 200, "the other replica keeps serving: {answer}");
                        if killed.load(Ordering::Relaxed) {
                            b_after_kill.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if status == 200 {
                        assert_eq!(answer["rejected"], 0);
                        acked.lock().unwrap().extend(ids(&batch));
                    }
                }
            });
        }
        // Let ingest run, then SIGKILL the first replica in the middle of it.
        let started = Instant::now();
        while acked.lock().unwrap().len() < 5_000 && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let kill = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(kill.success());
        killed.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
    });
    assert!(
        b_after_kill.load(Ordering::Relaxed) > 0,
        "the other replica kept answering"
    );
    assert!(b.healthy());
    assert!(!a.healthy());
    let acked = acked.into_inner().unwrap();
    pg.psql("kill", "CREATE TABLE acked (event_id TEXT PRIMARY KEY)");
    for chunk in acked.chunks(2_000) {
        let values: Vec<String> = chunk.iter().map(|id| format!("('{id}')")).collect();
        pg.psql(
            "kill",
            &format!("INSERT INTO acked VALUES {}", values.join(",")),
        );
    }
    let missing = pg.psql(
        "kill",
        "SELECT COUNT(*) FROM acked WHERE event_id NOT IN (SELECT event_id FROM events)",
    );
    assert_eq!(
        missing,
        "0",
        "every acknowledged record is stored ({} acked)",
        acked.len()
    );
    // The rollups count exactly what `events` holds, and the survivor reports it.
    assert_eq!(
        pg.psql(
            "kill",
            "SELECT (SELECT SUM(calls) FROM daily) = (SELECT COUNT(*) FROM events)"
        ),
        "t"
    );
    assert_eq!(
        b.summary()["records"].as_u64().unwrap().to_string(),
        pg.psql("kill", "SELECT COUNT(*) FROM events")
    );
}

#[test]
fn while_postgresql_is_down_ingest_and_healthz_answer_503_then_serve_again() {
    let Some(pg) = Postgres::start("while_postgresql_is_down") else {
        return;
    };
    let r = Replica::start(&pg.create_db("outage"));
    assert_eq!(r.track(&[record(1)]).1["accepted"], 1);
    pg.stop_server();
    let (status, answer) = r.track(&[record(2)]);
    assert_eq!(status, 503, "{answer}");
    let (status, body) = r.health();
    assert_eq!(status, 503, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "failing");
    assert!(
        health["database"]
            .as_str()
            .unwrap()
            .contains("postgres://collector:***@"),
        "{body}"
    );
    assert!(!body.contains(PASSWORD), "{body}");
    pg.start_server();
    let started = Instant::now();
    while !r.healthy() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(r.healthy(), "{}", r.health().1);
    assert_eq!(r.track(&[record(2)]).1["accepted"], 1);
    assert_eq!(r.track(&[record(1)]).1["duplicates"], 1);
}

#[test]
fn the_password_is_never_printed() {
    let secret = "S3cret-in-url";
    let url = format!("postgres://collector:{secret}@127.0.0.1:1/db?connect_timeout=2");
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .env("TELEMETRY_COLLECTOR_DB", &url)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&help.stdout).to_string() + &String::from_utf8_lossy(&help.stderr);
    assert!(help.status.success(), "{text}");
    assert!(!text.contains(secret), "{text}");
    for args in [
        vec!["serve", "--db", &url, "--listen", "127.0.0.1:0"],
        vec!["report", "--db", &url],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("postgres://collector:***@127.0.0.1:1/db"),
            "{err}"
        );
        assert!(!err.contains(secret), "{err}");
    }
    let _ = PASSWORD;
}
