//! Sessions in PostgreSQL (a real server the test starts) against the same in SQLite: the
//! same run as spans and as records, replays, and a second replica, give equal
//! `/api/sessions`, `/api/sessions/{id}`, session pages and report pages in both stores.

mod common;
#[path = "common/pg.rs"]
mod pg;
mod session_run;

use common::*;
use pg::Postgres;
use serde_json::{Value, json};
use session_run::*;
use telemetry_collector::{BackgroundServer, Config};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(server: &BackgroundServer, path: &str, body: &Value) -> (u16, String) {
    let mut r = agent()
        .post(&server.url(path))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn get(server: &BackgroundServer, path: &str) -> String {
    let mut r = agent().get(&server.url(path)).call().unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.body_mut().read_to_string().unwrap()
}

#[test]
fn sessions_are_the_same_in_both_stores() {
    let Some(pg) = Postgres::start("sessions_are_the_same_in_both_stores") else {
        return;
    };
    let url = pg.create_db("sessions");
    let dir = tempfile::tempdir().unwrap();
    let lite = BackgroundServer::start(Config::new(dir.path().join("s.db"))).unwrap();
    let post_a = BackgroundServer::start(Config::new(url.as_str())).unwrap();
    let post_b = BackgroundServer::start(Config::new(url.as_str())).unwrap();
    let t0 = now_ms() - 600_000;
    let mut traces = Vec::new();
    let mut records = Vec::new();
    for n in 0..30i64 {
        let trace = format!("{:032x}", 0xabc0 + n);
        let start = t0 + n * 7_000;
        traces.push(traces_request(run_spans(
            &format!("t{n:02}"),
            &trace,
            start,
        )));
        records.extend(run_records(&format!("r{n:02}"), start + 3_000));
    }
    // Both sources of one session: traces win.
    records.extend(run_records("t05", t0));
    for (i, body) in traces.iter().enumerate() {
        // PostgreSQL: alternate replicas, and every request twice (replays).
        for server in [&lite, if i % 2 == 0 { &post_a } else { &post_b }, &post_a] {
            assert_eq!(post(server, "/v1/traces", body), (200, "{}".to_owned()));
        }
    }
    for chunk in records.chunks(40) {
        let body = json!({ "records": chunk });
        for server in [&lite, &post_b, &post_a] {
            assert_eq!(post(server, "/events/v1/track", &body).0, 200);
        }
    }
    let mut paths = vec![
        "/api/sessions".to_owned(),
        "/api/sessions?failed=1&limit=7".to_owned(),
        "/api/sessions/t05".to_owned(),
        "/api/sessions/r07".to_owned(),
        "/sessions/t03".to_owned(),
        "/sessions/r03".to_owned(),
        "/?days=2".to_owned(),
    ];
    let first: Value = serde_json::from_str(&get(&lite, "/api/sessions")).unwrap();
    assert_eq!(first["sessions"].as_array().unwrap().len(), 50);
    let next = first["next"].as_str().unwrap();
    paths.push(format!("/api/sessions?cursor={next}"));
    for path in &paths {
        let a = get(&lite, path);
        assert_eq!(a, get(&post_a, path), "{path}");
        assert_eq!(a, get(&post_b, path), "{path}");
    }
    let t05: Value = serde_json::from_str(&get(&post_a, "/api/sessions/t05")).unwrap();
    assert_eq!(
        (&t05["source"], &t05["tool_calls"]),
        (&json!("traces"), &json!(3))
    );
    assert_eq!(t05["spans"].as_array().unwrap().len(), 9);
    let all: Value =
        serde_json::from_str(&get(&post_b, &format!("/api/sessions?cursor={next}"))).unwrap();
    assert_eq!(
        all["sessions"].as_array().unwrap().len(),
        10,
        "60 sessions in all"
    );
    assert_eq!(
        pg.psql("sessions", "SELECT COUNT(*) FROM spans"),
        (30 * 9).to_string()
    );
    lite.stop().unwrap();
    post_a.stop().unwrap();
    post_b.stop().unwrap();
}

#[test]
fn a_version_1_database_gets_the_sessions_of_its_records() {
    let Some(pg) = Postgres::start("a_version_1_database_gets_the_sessions_of_its_records") else {
        return;
    };
    // The same records stored by SQLite (whose tallies are made in Rust at ingest)...
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let lite = BackgroundServer::start(Config::new(path.clone())).unwrap();
    let mut records = Vec::new();
    for n in 0..5i64 {
        records.extend(run_records(&format!("r{n}"), now_ms() - 60_000 + n * 2_000));
    }
    // A session without start or end records, and a hostile agent name with a NUL.
    let mut lone = common::tool("lone-1", "u", "read_file", None, 12);
    lone["properties"]["session_id"] = json!("lone");
    lone["properties"]["agent_name"] = json!("a\u{0}b");
    records.push(lone);
    assert_eq!(
        post(&lite, "/events/v1/track", &json!({ "records": records })).0,
        200
    );
    // ...and copied into a PostgreSQL database at schema version 1, then migrated.
    let url = pg.create_db("v1");
    let v1 = telemetry_collector::store::postgres::schema::MIGRATIONS[0];
    pg.psql(
        "v1",
        &format!("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1); {v1}"),
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT event_id, ts_ms, day, kind, action, name, session_id, is_success,
             duration_ms, input_tokens, output_tokens, cost, json FROM events",
        )
        .unwrap();
    let quote = |v: rusqlite::types::Value| match v {
        rusqlite::types::Value::Null => "NULL".to_owned(),
        rusqlite::types::Value::Integer(n) => n.to_string(),
        rusqlite::types::Value::Real(f) => f.to_string(),
        rusqlite::types::Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
        rusqlite::types::Value::Blob(_) => unreachable!(),
    };
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            let cells: Vec<String> = (0..13).map(|i| quote(r.get(i).unwrap())).collect();
            Ok(cells)
        })
        .unwrap()
        .map(|cells| {
            let mut c = cells.unwrap();
            c[7] = match c[7].as_str() {
                "1" => "TRUE".into(),
                "0" => "FALSE".into(),
                other => other.to_owned(),
            };
            format!("({}, 0)", c.join(", "))
        })
        .collect();
    pg.psql(
        "v1",
        &format!(
            "INSERT INTO events (event_id, ts_ms, day, kind, action, name, session_id,
             is_success, duration_ms, input_tokens, output_tokens, cost, json, received_ms)
             VALUES {}",
            rows.join(", ")
        ),
    );
    let post_ = BackgroundServer::start(Config::new(url.as_str())).unwrap();
    for path in ["/api/sessions", "/api/sessions/r3", "/api/sessions/lone"] {
        assert_eq!(get(&lite, path), get(&post_, path), "{path}");
    }
    let page: Value = serde_json::from_str(&get(&post_, "/api/sessions")).unwrap();
    assert_eq!(page["sessions"].as_array().unwrap().len(), 6);
    lite.stop().unwrap();
    post_.stop().unwrap();
}

#[test]
fn a_nul_in_a_record_or_span_is_stored_as_a_replacement_character_in_both_stores() {
    let Some(pg) = Postgres::start("a_nul_in_a_record_or_span_is_stored") else {
        return;
    };
    let url = pg.create_db("nul");
    let dir = tempfile::tempdir().unwrap();
    let lite = BackgroundServer::start(Config::new(dir.path().join("n.db"))).unwrap();
    let post_ = BackgroundServer::start(Config::new(url.as_str())).unwrap();
    let mut rec = common::tool("nul-1", "u\u{0}", "read\u{0}file", Some("bad\u{0}"), 3);
    rec["properties"]["session_id"] = json!("s\u{0}1");
    rec["properties"]["agent_name"] = json!("ro\u{0}ot");
    let mut spans = run_spans("t\u{0}1", TRACE, now_ms() - 5_000);
    spans[3]["name"] = json!("execute_tool x\u{0}y");
    spans[3]["status"]["message"] = json!("not\u{0}found");
    for server in [&lite, &post_] {
        let (status, text) = post(server, "/events/v1/track", &json!({ "records": [rec] }));
        assert_eq!(
            (status, text.contains("\"accepted\":1")),
            (200, true),
            "{text}"
        );
        assert_eq!(
            post(server, "/v1/traces", &traces_request(spans.clone())).0,
            200
        );
    }
    for path in [
        "/api/sessions",
        "/api/sessions/s%00",
        "/api/sessions?cursor=1.7300",
        "/api/sessions/t%EF%BF%BD1",
        "/api/summary",
    ] {
        let (a, b) = (get_any(&lite, path), get_any(&post_, path));
        assert_eq!(a, b, "{path}");
    }
    let s: Value = serde_json::from_str(&get(&post_, "/api/sessions")).unwrap();
    let ids: Vec<&str> = s["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s\u{fffd}1", "t\u{fffd}1"]);
    assert_eq!(s["sessions"][0]["agent"], "ro\u{fffd}ot");
    lite.stop().unwrap();
    post_.stop().unwrap();
}

fn get_any(server: &BackgroundServer, path: &str) -> (u16, String) {
    let mut r = agent().get(&server.url(path)).call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

/// `report --db URL --session ID` (text and JSON): its stdout, after checking it succeeded.
fn report_session(db: &str, id: &str, json: bool) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_telemetry-collector"));
    cmd.env_remove("TELEMETRY_COLLECTOR_DB")
        .args(["report", "--db", db, "--session", id]);
    if json {
        cmd.args(["--format", "json"]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{db} {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn report_session_and_retention_of_spans_and_sessions_are_the_same_in_both_stores() {
    let Some(pg) = Postgres::start("report_session_and_retention_in_both_stores") else {
        return;
    };
    let url = pg.create_db("retain");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let old = now_ms() - 10 * 86_400_000;
    let fresh = now_ms() - 60_000;
    let fresh_trace = "0af7651916cd43dd8448eb211c80319c";
    for db in [path.to_str().unwrap(), url.as_str()] {
        let server = BackgroundServer::start(Config::new(db)).unwrap();
        for (id, trace, t0) in [("old-t", TRACE, old), ("new-t", fresh_trace, fresh)] {
            let body = traces_request(run_spans(id, trace, t0));
            assert_eq!(post(&server, "/v1/traces", &body).0, 200);
        }
        for (id, t0) in [("old-r", old), ("new-r", fresh + 1_000)] {
            let body = json!({ "records": run_records(id, t0) });
            assert_eq!(post(&server, "/events/v1/track", &body).0, 200);
        }
        server.stop().unwrap();
    }
    // The terminal waterfall and its JSON read the same from either store.
    for id in ["new-t", "new-r", "old-t"] {
        for json in [false, true] {
            let lite = report_session(path.to_str().unwrap(), id, json);
            assert_eq!(lite, report_session(&url, id, json), "{id}");
        }
    }
    let text = report_session(&url, "new-t", false);
    assert!(text.starts_with("Session new-t · agent root"), "{text}");
    assert!(text.contains("3 tool calls (1 failed)"), "{text}");
    let detail: Value = serde_json::from_str(&report_session(&url, "new-r", true)).unwrap();
    assert_eq!(detail["spans"].as_array().unwrap().len(), 8, "{detail}");

    // Retention (at start, --retain-days 3) removes the old sessions' spans, records and
    // totals in both stores alike.
    let servers: Vec<BackgroundServer> = [path.to_str().unwrap(), url.as_str()]
        .into_iter()
        .map(|db| {
            let mut config = Config::new(db);
            config.retain_days = Some(3);
            BackgroundServer::start(config).unwrap()
        })
        .collect();
    for path in [
        "/api/sessions",
        "/api/sessions/new-t",
        "/api/sessions/new-r",
    ] {
        assert_eq!(get(&servers[0], path), get(&servers[1], path), "{path}");
    }
    let page: Value = serde_json::from_str(&get(&servers[1], "/api/sessions")).unwrap();
    let ids: Vec<&str> = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["new-r", "new-t"]);
    for server in &servers {
        for gone in ["/api/sessions/old-t", "/api/sessions/old-r"] {
            assert_eq!(get_any(server, gone).0, 404, "{gone}");
        }
    }
    assert_eq!(pg.psql("retain", "SELECT COUNT(*) FROM spans"), "9");
    assert_eq!(pg.psql("retain", "SELECT COUNT(*) FROM sessions"), "2");
    for server in servers {
        server.stop().unwrap();
    }
}
