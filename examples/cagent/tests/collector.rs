//! The built `cagent` binary pointed at a real `telemetry-collector` on 127.0.0.1 (SQLite in a
//! temp dir): what the CLI sends ends up in the collector's summary, once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use telemetry_collector::{BackgroundServer, Config};

const API_KEY: &str = "cagent-ingest-key";
const ADMIN: &str = "cagent-admin-token";

struct Setup {
    _db_dir: tempfile::TempDir,
    work: tempfile::TempDir,
    config: PathBuf,
    server: BackgroundServer,
}

fn setup() -> Setup {
    let db_dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(db_dir.path().join("collector.db"));
    config.api_keys = vec![API_KEY.into()];
    config.admin_token = Some(ADMIN.into());
    let server = BackgroundServer::start(config).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("present.txt"), "hello\n").unwrap();
    let config = work.path().join("config");
    Setup {
        _db_dir: db_dir,
        work,
        config,
        server,
    }
}

/// Runs `cagent run filesystem.yaml` with a clean telemetry environment, sending in the cagent
/// format to the collector's `/events/v1/track`.
fn run_cagent(s: &Setup, api_key: &str) -> Output {
    let endpoint = s.server.url("/events/v1/track");
    run_cagent_with(
        s,
        &[
            ("TELEMETRY_ENDPOINT", &endpoint),
            ("TELEMETRY_API_KEY", api_key),
        ],
    )
}

/// Runs `cagent run filesystem.yaml` with a clean telemetry environment plus `vars`.
fn run_cagent_with(s: &Setup, vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cagent"));
    cmd.env_remove("CI").env_remove("DO_NOT_TRACK");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("TELEMETRY_") || key.starts_with("CAGENT_") || key.starts_with("OTEL_") {
            cmd.env_remove(&*key);
        }
    }
    let agent: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/filesystem.yaml");
    cmd.env("CAGENT_HIDE_TELEMETRY_BANNER", "1")
        .envs(vars.iter().copied())
        .current_dir(s.work.path())
        .stdin(Stdio::null())
        .arg("--config-dir")
        .arg(&s.config)
        .arg("run")
        .arg(agent)
        .args(["--prompt", "read present.txt\nread missing.txt\nthanks"]);
    let out = cmd.output().expect("cagent starts");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every OTLP protocol and compression: `OTEL_EXPORTER_OTLP_PROTOCOL`,
/// `OTEL_EXPORTER_OTLP_COMPRESSION` (the operator's own stream's).
const EVERY_ENCODING: [(&str, &str); 4] = [
    ("http/protobuf", "none"),
    ("http/protobuf", "gzip"),
    ("http/json", "none"),
    ("http/json", "gzip"),
];

/// Runs cagent with its usage stream over OTLP (its default protocol, protobuf): the
/// collector's `/v1/logs` in `TELEMETRY_ENDPOINT`, the ingest key in `TELEMETRY_API_KEY` (the
/// `OTEL_*` variables belong to the operator's own stream).
fn run_cagent_otlp(s: &Setup) -> Output {
    let logs = s.server.url("/v1/logs");
    run_cagent_with(
        s,
        &[
            ("TELEMETRY_EXPORTER", "otlp"),
            ("TELEMETRY_ENDPOINT", &logs),
            ("TELEMETRY_API_KEY", API_KEY),
        ],
    )
}

/// Runs cagent with the operator's own stream sending its logs to the collector (the
/// collector's base URL in `OTEL_EXPORTER_OTLP_ENDPOINT`, the ingest key in
/// `OTEL_EXPORTER_OTLP_HEADERS`), traces off, no usage stream, and `more` variables.
fn run_cagent_otel_logs_as(s: &Setup, more: &[(&str, &str)]) -> Output {
    let base = s.server.url("");
    let headers = format!("x-api-key={API_KEY}");
    let mut vars = vec![
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
    ];
    vars.extend_from_slice(more);
    run_cagent_with(s, &vars)
}

/// `GET /api/summary?days=2` with the admin token, over a plain HTTP/1.1 connection.
fn summary(s: &Setup) -> Value {
    let mut stream = TcpStream::connect(s.server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/summary?days=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap()
}

fn named<'a>(s: &'a Value, list: &str, name: &str) -> &'a Value {
    s[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}: {s:#}"))
}

#[test]
fn a_cagent_run_lands_in_the_collector_summary() {
    let s = setup();
    run_cagent(&s, API_KEY);
    assert_one_scenario(&summary(&s));
}

/// The summary of one run of the main scenario: one command, two tool calls (one failed),
/// three model turns, one failed session.
fn assert_one_scenario(sum: &Value) {
    assert_eq!(sum["records"], 8, "{sum:#}");
    assert_eq!(sum["installs"], 1);
    let run = named(sum, "commands", "run");
    assert_eq!(
        (run["calls"].as_u64(), run["failures"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(run["p50_ms"].as_i64().is_some());
    let read = named(sum, "tools", "read_file");
    assert_eq!(
        (read["calls"].as_u64(), read["failures"].as_u64()),
        (Some(2), Some(1))
    );
    let model = named(sum, "models", "scripted/small");
    assert_eq!(model["calls"], 3);
    assert!(model["cost"].as_f64().unwrap() > 0.0);
    assert!(model["output_tokens"].as_i64().unwrap() >= 4);
    assert_eq!(
        sum["sessions"],
        json!({"count": 1, "ended": 1, "failed": 1, "tool_calls": 2, "errors": 1})
    );
    assert_eq!(sum["errors"], json!([{"text": "not found", "count": 1}]));
    assert_eq!(
        sum["versions"],
        json!([{"name": env!("CARGO_PKG_VERSION"), "installs": 1}])
    );
    assert_eq!(sum["os"].as_array().unwrap().len(), 1);
}

#[test]
fn a_second_run_of_the_same_install_adds_records_not_installs() {
    let s = setup();
    run_cagent(&s, API_KEY);
    run_cagent(&s, API_KEY);
    let sum = summary(&s);
    assert_eq!(sum["records"], 16, "{sum:#}");
    assert_eq!(sum["installs"], 1);
    assert_eq!(named(&sum, "commands", "run")["calls"], 2);
    assert_eq!(sum["sessions"]["count"], 2);
}

#[test]
fn a_wrong_api_key_stores_nothing_and_cagent_still_succeeds() {
    let s = setup();
    run_cagent(&s, "not-the-key");
    assert_eq!(summary(&s)["records"], 0);
}

#[test]
fn a_cagent_run_over_otlp_lands_in_the_collector_summary() {
    let s = setup();
    run_cagent_otlp(&s);
    assert_one_scenario(&summary(&s));
}

#[test]
fn the_collector_refuses_the_operators_metrics_and_the_logs_still_land() {
    let s = setup();
    let out = run_cagent_otel_logs_as(&s, &[("TELEMETRY_VERBOSE", "1")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("telemetry (otel metrics): dropped 1 record(s): collector refused them (404"),
        "{stderr}"
    );
    let left =
        std::fs::read_to_string(s.config.join("telemetry-otel-metrics.jsonl")).unwrap_or_default();
    // A refused record is dropped, not sent again; only the count of dropped records stays
    // (the next request of the signal reports it).
    assert!(!left.contains("\"event\""), "{left}");
    assert!(left.contains("\"dropped_records\":1"), "{left}");
    assert_one_scenario(&summary(&s));
}

#[test]
fn cagent_runs_in_every_otlp_protocol_and_compression_give_the_same_summary() {
    let cagent = setup();
    run_cagent(&cagent, API_KEY);
    let expected = comparable(&summary(&cagent));
    for (protocol, compression) in EVERY_ENCODING {
        let s = setup();
        run_cagent_otel_logs_as(
            &s,
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", compression),
            ],
        );
        let got = comparable(&summary(&s));
        assert_eq!(expected, got, "{protocol}, {compression}:\n{got:#}");
    }
}

/// The parts of a summary that do not depend on timing: durations become "measured or not",
/// the report's own dates are left out.
fn comparable(sum: &Value) -> Value {
    let mut out = json!({});
    for key in [
        "records",
        "installs",
        "dropped_records",
        "commands",
        "tools",
        "models",
        "sessions",
        "errors",
        "versions",
        "os",
    ] {
        out[key] = sum[key].clone();
    }
    for list in ["commands", "tools"] {
        for entry in out[list].as_array_mut().unwrap() {
            for timing in ["p50_ms", "p95_ms"] {
                entry[timing] = json!(entry[timing].is_i64());
            }
        }
    }
    out
}

#[test]
fn otlp_and_cagent_format_runs_give_the_same_summary() {
    let cagent = setup();
    run_cagent(&cagent, API_KEY);
    let otlp = setup();
    run_cagent_otlp(&otlp);
    let (a, b) = (comparable(&summary(&cagent)), comparable(&summary(&otlp)));
    assert_eq!(a["records"], 8, "{a:#}");
    assert_eq!(a, b, "cagent format:\n{a:#}\nOTLP:\n{b:#}");
}

/// The records waiting in the outbox of the setup's config dir, one JSON line each.
fn outbox(s: &Setup) -> String {
    std::fs::read_to_string(s.config.join("telemetry-outbox.jsonl")).unwrap_or_default()
}

#[test]
fn otlp_batches_replayed_from_the_outbox_are_stored_once() {
    let s = setup();
    // The collector is unreachable: the run's records wait in the outbox.
    let dead = telemetry_test_collector::dead_endpoint();
    run_cagent_with(
        &s,
        &[
            ("TELEMETRY_EXPORTER", "otlp"),
            ("TELEMETRY_ENDPOINT", &dead),
        ],
    );
    let queued = outbox(&s);
    assert_eq!(queued.lines().count(), 8, "{queued}");

    // The next run delivers them over OTLP, with its own.
    run_cagent_otlp(&s);
    assert_eq!(outbox(&s), "");
    assert_eq!(summary(&s)["records"], 16);

    // The same outbox delivered a second time (a copy restored, a lost answer): stored once.
    std::fs::write(s.config.join("telemetry-outbox.jsonl"), &queued).unwrap();
    run_cagent_otlp(&s);
    assert_eq!(outbox(&s), "");
    let sum = summary(&s);
    assert_eq!(sum["records"], 24, "{sum:#}");
    assert_eq!(sum["installs"], 1);
    assert_eq!(sum["sessions"]["count"], 3);
    assert_eq!(named(&sum, "commands", "run")["calls"], 3);
    assert_eq!(named(&sum, "tools", "read_file")["calls"], 6);
}
