//! The built `cagent` binary runs one agent session with three tool calls (one failing)
//! against a real `telemetry-collector` on 127.0.0.1, sent in the cagent format (the usage
//! stream) and, in another run, as traces (the operator's stream, `TELEMETRY_OTEL=1`, OTLP
//! protobuf to `/v1/traces`): each run is one session in Recent sessions (`/api/sessions`)
//! with the same tool calls and outcome, and its page draws one bar per span in parent
//! order; a replayed run is stored once; and the two runs give the same sessions with the
//! collector on PostgreSQL.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use telemetry_collector::{BackgroundServer, Config};

// The collector's own PostgreSQL harness: a real server in a temporary directory.
#[path = "../../../telemetry-collector/tests/common/pg.rs"]
mod pg;

const ADMIN: &str = "cagent-sessions-admin-token";
const KEY: &str = "cagent-sessions-ingest-key";
const PROMPT: &str = "read present.txt\nread missing.txt\nlist .\nthanks";

struct Setup {
    _db_dir: tempfile::TempDir,
    work: tempfile::TempDir,
    server: BackgroundServer,
}

fn setup() -> Setup {
    setup_on(None)
}

/// A collector over a SQLite file in a temporary directory, or over `postgres_url`.
fn setup_on(postgres_url: Option<&str>) -> Setup {
    let db_dir = tempfile::tempdir().unwrap();
    let mut config = match postgres_url {
        Some(url) => Config::new(url),
        None => Config::new(db_dir.path().join("collector.db")),
    };
    config.admin_token = Some(ADMIN.into());
    config.api_keys = vec![KEY.into()];
    let server = BackgroundServer::start(config).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("present.txt"), "hello\n").unwrap();
    Setup {
        _db_dir: db_dir,
        work,
        server,
    }
}

/// Runs `cagent run filesystem.yaml` over [`PROMPT`] with a clean environment plus `vars`.
fn run_cagent(s: &Setup, vars: &[(&str, &str)]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cagent"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("TELEMETRY_") || key.starts_with("CAGENT_") || key.starts_with("OTEL_") {
            cmd.env_remove(&*key);
        }
    }
    let agent: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/filesystem.yaml");
    let out = cmd
        .env_remove("CI")
        .env_remove("DO_NOT_TRACK")
        .env_remove("TRACEPARENT")
        .env("CAGENT_HIDE_TELEMETRY_BANNER", "1")
        .envs(vars.iter().copied())
        .current_dir(s.work.path())
        .stdin(Stdio::null())
        .arg("--config-dir")
        .arg(s.work.path().join("config"))
        .arg("run")
        .arg(agent)
        .args(["--prompt", PROMPT])
        .output()
        .expect("cagent starts");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GET path` with the admin token over a plain HTTP/1.1 connection; the body of a 200.
fn get(s: &Setup, path: &str) -> String {
    let mut stream = TcpStream::connect(s.server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    body.to_owned()
}

fn api(s: &Setup, path: &str) -> Value {
    serde_json::from_str(&get(s, path)).unwrap()
}

/// The session's bars on its page, top to bottom: each label and its indent (x).
fn bars(html: &str) -> Vec<(String, f64)> {
    html.split("</title><text x=\"")
        .skip(1)
        .map(|t| {
            let x = t.split('"').next().unwrap().parse().unwrap();
            let label = t.split('>').nth(1).unwrap().split('<').next().unwrap();
            (label.to_owned(), x)
        })
        .collect()
}

fn bar_labels(html: &str) -> Vec<String> {
    bars(html).into_iter().map(|(l, _)| l).collect()
}

/// A run sent in the cagent format to `/events/v1/track`.
fn run_as_records(s: &Setup) {
    let endpoint = s.server.url("/events/v1/track");
    run_cagent(
        s,
        &[
            ("TELEMETRY_ENDPOINT", &endpoint),
            ("TELEMETRY_API_KEY", KEY),
        ],
    );
}

/// A run sent as traces only: the operator's stream to the collector's base URL (protobuf,
/// the default), its logs signal off, the usage stream nowhere.
fn run_as_traces(s: &Setup) {
    let headers = format!("x-api-key={KEY}");
    run_cagent(
        s,
        &[
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &s.server.url("")),
            ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    );
}

/// Recent sessions, newest first.
fn sessions(s: &Setup) -> Vec<Value> {
    api(s, "/api/sessions")["sessions"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_cagent_run_sent_as_records_is_one_session_with_its_waterfall() {
    let s = setup();
    run_as_records(&s);

    let page = api(&s, "/api/sessions");
    let list = page["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{page:#}");
    let session = &list[0];
    assert_eq!(session["source"], "records");
    assert_eq!(session["agent"], "root");
    assert_eq!(
        (
            &session["tool_calls"],
            &session["failed_tool_calls"],
            &session["is_success"]
        ),
        (&Value::from(3), &Value::from(1), &Value::from(false)),
        "{session}"
    );
    assert!(session["input_tokens"].as_i64().unwrap() > 0);
    assert!(session["cost"].as_f64().unwrap() > 0.0);
    let id = session["id"].as_str().unwrap();

    let detail = api(&s, &format!("/api/sessions/{id}"));
    let spans = detail["spans"].as_array().unwrap();
    let kinds: Vec<&str> = spans.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "session");
    assert_eq!(kinds.iter().filter(|k| **k == "tool").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "chat").count(), 4);
    let failed: Vec<&Value> = spans.iter().filter(|s| s["is_success"] == false).collect();
    assert_eq!(
        failed.len(),
        2,
        "the failed read and the session: {detail:#}"
    );
    assert_eq!(failed[1]["tool_name"], "read_file");
    assert_eq!(failed[1]["error"], "not found");

    let html = get(&s, &format!("/sessions/{id}"));
    assert_eq!(html.matches("<rect class=b").count(), spans.len());
    let labels = bar_labels(&html);
    assert_eq!(labels[0], "invoke_agent root", "{labels:?}");
    let tools: Vec<&str> = labels
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with("chat ") && !l.starts_with("invoke_agent"))
        .collect();
    assert_eq!(tools, ["read_file", "read_file", "list_directory"]);
}

#[test]
fn a_cagent_run_sent_as_traces_and_one_sent_as_records_are_the_same_session() {
    traces_and_records_make_the_same_session(&setup());
}

#[test]
fn in_postgresql_a_cagent_run_sent_as_traces_and_one_sent_as_records_are_the_same_session() {
    let Some(pg) = pg::Postgres::start("in_postgresql_a_cagent_run_sent_as_traces") else {
        return;
    };
    let url = pg.create_db("cagent_sessions");
    let s = setup_on(Some(&url));
    traces_and_records_make_the_same_session(&s);
    assert_eq!(
        pg.psql("cagent_sessions", "SELECT COUNT(*) FROM spans"),
        "9"
    );
    s.server.stop().unwrap();
}

/// Both runs, one per stream: one session each in Recent sessions with the same totals and
/// outcome, and the traces' page drawn in parent order.
fn traces_and_records_make_the_same_session(s: &Setup) {
    run_as_records(s);
    run_as_traces(s);
    let list = sessions(s);
    assert_eq!(list.len(), 2, "{list:#?}");
    let by = |source: &str| list.iter().find(|x| x["source"] == source).unwrap().clone();
    let (traces, records) = (by("traces"), by("records"));
    assert_ne!(traces["id"], records["id"], "two runs, two sessions");
    assert_eq!(list[0]["source"], "traces", "the later run first");
    for key in [
        "agent",
        "tool_calls",
        "failed_tool_calls",
        "is_success",
        "input_tokens",
        "output_tokens",
    ] {
        assert_eq!(traces[key], records[key], "{key}: {traces} vs {records}");
    }
    assert_eq!(
        (
            &traces["tool_calls"],
            &traces["failed_tool_calls"],
            &traces["is_success"]
        ),
        (&Value::from(3), &Value::from(1), &Value::from(false))
    );
    let cost = |x: &Value| x["cost"].as_f64().unwrap();
    assert!((cost(&traces) - cost(&records)).abs() < 1e-9);

    // The traces' session: the command's root span, the session under it, the rest under
    // that; one bar per span, in parent order, each indented under its parent.
    let id = traces["id"].as_str().unwrap();
    let detail = api(s, &format!("/api/sessions/{id}"));
    let spans = detail["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 9, "{detail:#}");
    assert_eq!(
        (&spans[0]["kind"], &spans[0]["name"]),
        (&Value::from("command"), &Value::from("run"))
    );
    assert_eq!(spans[1]["kind"], "session");
    assert_eq!(spans[1]["parent_id"], spans[0]["span_id"]);
    assert!(
        spans[2..]
            .iter()
            .all(|x| x["parent_id"] == spans[1]["span_id"])
    );
    let failed: Vec<&Value> = spans.iter().filter(|x| x["is_success"] == false).collect();
    assert!(
        failed.iter().any(|x| x["tool_name"] == "read_file"),
        "{detail:#}"
    );
    let html = get(s, &format!("/sessions/{id}"));
    let bars = bars(&html);
    assert_eq!(bars.len(), 9);
    assert_eq!(
        (bars[0].0.as_str(), bars[1].0.as_str()),
        ("run", "invoke_agent root")
    );
    assert!(bars[0].1 < bars[1].1 && bars[1].1 < bars[2].1, "{bars:?}");
    assert!(bars[2..].iter().all(|b| b.1 == bars[2].1), "{bars:?}");
    let tools: Vec<&str> = bars
        .iter()
        .map(|b| b.0.as_str())
        .filter(|l| !l.starts_with("chat ") && !l.starts_with("invoke_agent") && *l != "run")
        .collect();
    assert_eq!(tools, ["read_file", "read_file", "list_directory"]);
    assert!(html.contains("failed: not found</title>"));
}

#[test]
fn a_run_whose_traces_and_records_both_arrive_is_shown_once_from_its_traces() {
    let s = setup();
    let headers = format!("x-api-key={KEY}");
    let endpoint = s.server.url("/events/v1/track");
    run_cagent(
        &s,
        &[
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &s.server.url("")),
            ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
            ("TELEMETRY_ENDPOINT", &endpoint),
            ("TELEMETRY_API_KEY", KEY),
        ],
    );
    let list = sessions(&s);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(
        (&list[0]["source"], &list[0]["tool_calls"]),
        (&Value::from("traces"), &Value::from(3))
    );
}

/// POSTs `body` to the collector's `/v1/traces` in protobuf; the status.
fn post_traces(s: &Setup, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(s.server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {KEY}\r\n\
         Content-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut head = String::new();
    stream.read_to_string(&mut head).unwrap_or_default();
    head[9..12].parse().unwrap()
}

#[test]
fn a_cagent_run_whose_spans_are_replayed_is_stored_once() {
    // The run's real trace bodies, as cagent sent them, caught by a recording receiver...
    let recorder = telemetry_test_collector::Collector::start();
    let s = setup();
    let headers = format!("x-api-key={KEY}");
    run_cagent(
        &s,
        &[
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &recorder.base_url()),
            ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    );
    let bodies: Vec<Vec<u8>> = recorder
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/traces")
        .map(|r| r.body)
        .collect();
    assert!(!bodies.is_empty());
    // ...sent to the collector three times over (as an outage's retries would).
    for _ in 0..3 {
        for b in &bodies {
            assert_eq!(post_traces(&s, b), 200);
        }
    }
    let list = sessions(&s);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(
        (&list[0]["tool_calls"], &list[0]["failed_tool_calls"]),
        (&Value::from(3), &Value::from(1))
    );
    let id = list[0]["id"].as_str().unwrap();
    let detail = api(&s, &format!("/api/sessions/{id}"));
    assert_eq!(detail["spans"].as_array().unwrap().len(), 9);
}
