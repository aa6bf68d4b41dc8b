//! The operator's OpenTelemetry stream (B) delivered to real receivers on 127.0.0.1, beside the
//! usage stream (A): traces and logs to their own endpoints, durable across an outage, one
//! failing signal never stopping the other, nothing without the switch. Bodies are read in
//! the JSON mapping (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) unless a test says otherwise;
//! traces bodies pass the strict checker (`scripts/check_otlp.py --signal traces`).

#[path = "../src/export/otlp_check.rs"]
mod otlp_check;

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::{DebugBuffer, attr};
use serde_json::Value;
use telemetry_runtime::files::{OTEL_LOGS_OUTBOX_FILE, OTEL_TRACES_OUTBOX_FILE, OUTBOX_FILE};
use telemetry_runtime::{Client, ClientBuilder, Env, Outcome, SessionId};
use telemetry_test_collector::{Collector, Reply, Request, dead_endpoint};

/// A builder with the operator's stream on, configured by `otel` (JSON unless it says), and
/// the usage stream to `usage` (with a key in code) when given.
fn builder(dir: &Path, usage: Option<&str>, otel: &[(&str, &str)]) -> ClientBuilder {
    let mut pairs = vec![
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ];
    pairs.extend_from_slice(otel);
    let mut b = Client::builder()
        .app("testapp", "1.2.3")
        .config_dir(dir)
        .env(Env::from_pairs(pairs));
    if let Some(url) = usage {
        b = b.endpoint(url).api_key("vendor-key");
    }
    b
}

/// A small agent run, then a flush: a session with two tool calls (one failing) and a
/// measured model turn, and a command. Five spans, six records.
fn agent_run(c: &Client) {
    let session = c.start_session("root", SessionId::random());
    let turn = c.model_turn("openai", "gpt-4o");
    c.record_tool_call(
        "read_file",
        None,
        None,
        Duration::from_millis(2),
        Outcome::Success,
    );
    c.record_tool_call(
        "read_file",
        None,
        None,
        Duration::from_millis(1),
        Outcome::failure("not found"),
    );
    turn.finish(100, 20, 0.001);
    drop(session);
    c.track_command("run", ["--fast"]);
    c.flush();
}

/// The items under `path` (e.g. `resourceSpans[0].scopeSpans[0].spans`) of the requests to
/// `endpoint` answered 2xx (JSON bodies).
fn accepted_items(requests: &[Request], endpoint: &str, path: [&str; 3]) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.path == endpoint && r.is_accepted())
        .flat_map(|r| {
            let body = r.json();
            body[path[0]][0][path[1]][0][path[2]]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// The spans of the traces requests answered 2xx (JSON bodies).
fn spans(requests: &[Request]) -> Vec<Value> {
    accepted_items(
        requests,
        "/v1/traces",
        ["resourceSpans", "scopeSpans", "spans"],
    )
}

/// The log records of the logs requests answered 2xx (JSON bodies).
fn log_records(requests: &[Request]) -> Vec<Value> {
    accepted_items(
        requests,
        "/v1/logs",
        ["resourceLogs", "scopeLogs", "logRecords"],
    )
}

fn string_attr<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    attr(span, key)?["stringValue"].as_str()
}

/// Runs the strict checker on the traces bodies.
fn strict_traces(requests: &[Request]) {
    let bodies: Vec<Vec<u8>> = requests
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .map(|r| r.body.clone())
        .collect();
    if let Some(r) = otlp_check::check_bodies(&bodies, &["--signal", "traces"]) {
        assert!(r.passed, "{r:?}");
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("{\"event\""))
        .count()
}

#[test]
fn traces_and_logs_go_to_their_own_endpoints_beside_the_usage_stream() {
    let usage = Collector::start();
    let otel = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        dir.path(),
        Some(&usage.url()),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20op-token",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-traces=1"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,owner=jane@example.com",
            ),
        ],
    )
    .build();
    agent_run(&c);
    let requests = otel.requests();
    strict_traces(&requests);
    let spans = spans(&requests);
    let names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "execute_tool read_file",
            "execute_tool read_file",
            "chat gpt-4o",
            "invoke_agent root",
            "run"
        ]
    );
    let chat = &spans[2];
    assert_eq!(chat["kind"], 3, "a model turn is a CLIENT span");
    assert_eq!(string_attr(chat, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(string_attr(chat, "gen_ai.request.model"), Some("gpt-4o"));
    assert_eq!(
        attr(chat, "gen_ai.usage.input_tokens").unwrap()["intValue"],
        "100"
    );
    assert_eq!(
        attr(chat, "gen_ai.usage.output_tokens").unwrap()["intValue"],
        "20"
    );
    assert_eq!(
        attr(chat, "cli_telemetry.cost").unwrap()["doubleValue"],
        0.001
    );
    let failed = &spans[1];
    assert_eq!(failed["status"]["code"], 2);
    assert_eq!(failed["status"]["message"], "not found");
    assert_eq!(string_attr(failed, "error.type"), Some("_OTHER"));
    assert_eq!(string_attr(failed, "gen_ai.tool.type"), Some("function"));
    let agent = &spans[3];
    assert_eq!(
        string_attr(agent, "gen_ai.operation.name"),
        Some("invoke_agent")
    );
    assert_eq!(
        string_attr(agent, "gen_ai.provider.name"),
        Some("openai"),
        "from its turn"
    );
    assert!(
        agent.get("status").is_none_or(|s| s.get("code").is_none()),
        "it went on"
    );
    for s in &spans[..3] {
        assert_eq!(s["parentSpanId"], agent["spanId"], "{s}");
        assert_eq!(s["traceId"], agent["traceId"]);
    }
    for req in &requests {
        assert_eq!(req.header("authorization"), Some("Bearer op-token"));
        assert_eq!(req.header("x-api-key"), None, "never the vendor's key");
        let traces = req.path == "/v1/traces";
        assert_eq!(req.header("x-traces").is_some(), traces, "{}", req.path);
        let body = req.json();
        let resource = body
            .as_object()
            .and_then(|o| o.values().next())
            .map(|v| v[0]["resource"]["attributes"].clone())
            .unwrap();
        assert!(
            resource.to_string().contains("jane@example.com"),
            "the operator's own resource attributes, as given: {resource}"
        );
    }
    let logs = log_records(&requests);
    assert_eq!(logs.len(), 6, "every record is a log record too");
    for r in &logs {
        // The command, recorded after the session, is the root of a trace of its own.
        if r["eventName"] != "cli_telemetry.command" {
            assert_eq!(r["traceId"], agent["traceId"], "{r}");
        }
        assert!(r["spanId"].is_string());
    }
    // The usage stream: the same six records, its key, none of the operator's.
    let usage_records = usage.records();
    assert_eq!(usage_records.len(), 6);
    for req in usage.requests() {
        assert_eq!(req.header("x-api-key"), Some("vendor-key"));
        assert_eq!(req.header("authorization"), None);
        let text = String::from_utf8_lossy(&req.body);
        assert!(!text.contains("trace_id") && !text.contains("deployment.environment"));
    }
    for file in [OUTBOX_FILE, OTEL_TRACES_OUTBOX_FILE, OTEL_LOGS_OUTBOX_FILE] {
        assert_eq!(lines(&dir.path().join(file)), 0, "{file}");
    }
}

#[test]
fn spans_wait_out_an_outage_and_leave_once_on_a_later_run() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_endpoint();
    let down = builder(
        dir.path(),
        None,
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &dead),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    )
    .build();
    agent_run(&down);
    assert_eq!(lines(&dir.path().join(OTEL_TRACES_OUTBOX_FILE)), 5);
    assert!(!dir.path().join(OTEL_LOGS_OUTBOX_FILE).exists());
    assert!(
        !dir.path().join(OUTBOX_FILE).exists(),
        "nothing of the usage stream"
    );

    let up = Collector::start();
    let endpoint = format!("{}/v1/traces", up.base_url());
    let c = builder(
        dir.path(),
        None,
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    )
    .build();
    agent_run(&c);
    let requests = up.requests();
    strict_traces(&requests);
    let spans = spans(&requests);
    assert_eq!(spans.len(), 10, "both runs' spans");
    let ids: HashSet<&str> = spans
        .iter()
        .map(|s| s["spanId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10, "no span twice");
    let traces: HashSet<&str> = spans
        .iter()
        .map(|s| s["traceId"].as_str().unwrap())
        .collect();
    assert_eq!(
        traces.len(),
        4,
        "the session and the command of each run: their own traces"
    );
    assert_eq!(lines(&dir.path().join(OTEL_TRACES_OUTBOX_FILE)), 0);
    // A third run sends only its own.
    agent_run(&c);
    assert_eq!(spans_of(&up).len(), 15);
}

fn spans_of(c: &Collector) -> Vec<Value> {
    spans(&c.requests())
}

#[test]
fn a_logs_endpoint_that_refuses_never_stops_the_traces() {
    // 404: a receiver that takes traces only; 415: one that takes another encoding of logs.
    for status in [404, 415] {
        a_logs_endpoint_answering(status);
    }
}

fn a_logs_endpoint_answering(status: u16) {
    let otel = Collector::start();
    otel.answer_path("/v1/logs", Reply::Status(status));
    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        dir.path(),
        None,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url())],
    )
    .send_budget(Duration::from_secs(5))
    .build();
    agent_run(&c);
    agent_run(&c);
    let requests = otel.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/v1/logs" && r.answered == Some(status)),
        "the logs were offered"
    );
    assert_eq!(spans(&requests).len(), 10, "every span arrived");
    assert_eq!(lines(&dir.path().join(OTEL_TRACES_OUTBOX_FILE)), 0);
    // A second process: the traces still go, whatever the logs endpoint says.
    let again = builder(
        dir.path(),
        None,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url())],
    )
    .build();
    agent_run(&again);
    assert_eq!(spans(&otel.requests()).len(), 15);
}

#[test]
fn nothing_is_exported_without_the_switch() {
    let otel = Collector::start();
    let usage = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let out = DebugBuffer::default();
    let c = Client::builder()
        .app("testapp", "1.2.3")
        .config_dir(dir.path())
        .endpoint(usage.url())
        .verbose(true)
        .debug_output(out.writer())
        .env(Env::from_pairs([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otel.base_url().as_str()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", otel.url().as_str()),
            ("TELEMETRY_EXPORTER", "otlp"),
        ]))
        .build();
    agent_run(&c);
    assert!(otel.requests().is_empty());
    let said = out.text();
    assert!(
        said.contains(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, but the OpenTelemetry stream is off"
        ),
        "verbose mode says why: {said}"
    );
    assert_eq!(c.traceparent(), None);
    for file in [OTEL_TRACES_OUTBOX_FILE, OTEL_LOGS_OUTBOX_FILE] {
        assert!(!dir.path().join(file).exists(), "{file}");
    }
    // The usage stream in OTLP goes to its own endpoint, never to OTEL_EXPORTER_OTLP_ENDPOINT.
    let paths: HashSet<String> = usage.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, HashSet::from(["/v1/records".to_owned()]));
}

#[test]
fn otel_sdk_disabled_turns_the_stream_off_and_do_not_track_only_the_usage_stream() {
    let otel = Collector::start();
    let usage = Collector::start();
    let base = otel.base_url();
    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        dir.path(),
        Some(&usage.url()),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("OTEL_SDK_DISABLED", "true"),
        ],
    )
    .build();
    agent_run(&c);
    assert!(otel.requests().is_empty());
    assert_eq!(
        usage.records().len(),
        6,
        "the usage stream is not the SDK's"
    );

    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        dir.path(),
        Some(&usage.url()),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("DO_NOT_TRACK", "1"),
        ],
    )
    .build();
    agent_run(&c);
    assert_eq!(usage.records().len(), 6, "nothing more to the vendor");
    assert_eq!(
        spans_of(&otel).len(),
        5,
        "the operator's own stream goes on"
    );
    assert!(
        !dir.path().join("user-uuid").exists(),
        "no anonymous id made"
    );
}

#[test]
fn the_console_exporter_prints_strict_otlp_json_and_none_turns_a_signal_off() {
    let out = DebugBuffer::default();
    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        dir.path(),
        None,
        &[
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    )
    .debug_output(out.writer())
    .build();
    agent_run(&c);
    let text = out.text();
    let bodies: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
    assert_eq!(bodies.len(), 5, "one request per span: {text}");
    if let Some(r) = otlp_check::check_bodies(&bodies, &["--signal", "traces"]) {
        assert!(r.passed, "{r:?}");
    }
    let status = c.status();
    let shown = status.to_string();
    assert!(
        shown.contains("traces:       console (OTEL_TRACES_EXPORTER)"),
        "{shown}"
    );
    assert!(
        shown.contains("logs:         off (OTEL_LOGS_EXPORTER)"),
        "{shown}"
    );
}

#[test]
fn otlp_and_console_together_and_verbose_lines_say_whose_they_are() {
    let otel = Collector::start();
    let out = DebugBuffer::default();
    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        dir.path(),
        None,
        &[
            ("OTEL_TRACES_EXPORTER", "otlp,console"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
        ],
    )
    .verbose(true)
    .debug_output(out.writer())
    .build();
    agent_run(&c);
    assert_eq!(spans_of(&otel).len(), 5);
    let text = out.text();
    let printed = text
        .lines()
        .filter(|l| l.starts_with("{\"resourceSpans\""))
        .count();
    assert_eq!(printed, 5, "{text}");
    assert!(text.contains("telemetry (otel traces): sent"), "{text}");
    assert!(text.contains("telemetry (otel logs): sent"), "{text}");
}

#[test]
fn the_status_shows_each_signal_and_its_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_endpoint();
    let c = builder(
        dir.path(),
        None,
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://user:secret@127.0.0.1:9/otel?k=v",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &dead),
        ],
    )
    .build();
    agent_run(&c);
    let c = builder(
        dir.path(),
        None,
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://user:secret@127.0.0.1:9/otel?k=v",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &dead),
        ],
    )
    .build();
    let status = c.status();
    let text = status.to_string();
    assert!(!text.contains("secret"), "{text}");
    let traces = &status.otel_signals[0];
    assert_eq!(traces.signal, "traces");
    assert_eq!(
        traces.endpoint_decided_by,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    );
    assert_eq!(traces.queued_records, 5);
    let logs = &status.otel_signals[1];
    assert_eq!(logs.endpoint_decided_by, "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert!(
        logs.endpoint.as_deref().unwrap().contains("***"),
        "{logs:?}"
    );
    assert!(text.contains("5 queued"), "{text}");
}

#[test]
fn protobuf_is_the_default_and_gzip_is_on_request() {
    let otel = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = Client::builder()
        .app("testapp", "1.2.3")
        .config_dir(dir.path())
        .env(Env::from_pairs([
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otel.base_url().as_str()),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ]))
        .build();
    agent_run(&c);
    let requests = otel.requests();
    for req in &requests {
        assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
        let gzip = req.path == "/v1/traces";
        assert_eq!(
            req.header("content-encoding"),
            gzip.then_some("gzip"),
            "{}",
            req.path
        );
    }
    let bodies: Vec<Vec<u8>> = requests
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .map(|r| r.body.clone())
        .collect();
    let args = [
        "--signal",
        "traces",
        "--min-records",
        "5",
        "--require-event",
        "invoke_agent",
        "--require-event",
        "execute_tool",
        "--require-event",
        "chat",
        "--require-event",
        "command",
    ];
    if let Some(r) = otlp_check::check_bodies(&bodies, &args) {
        assert!(r.passed, "{r:?}");
    }
}

/// Issue 18 item 2 with both streams (issue 21): every destination's flushes share the one
/// deadline of the process. The usage stream waits 1.4 s at the first flush point (a backlog);
/// then the operator's logs, then its traces, have something to flush, each at a later flush
/// point. Were each destination's flushes bounded on their own account, each would wait its
/// own 1.4 s one after the other (4.2 s); within the one deadline (send budget 0 plus one
/// timeout of 1.5 s) the later flush points send nothing and the records wait in the outbox.
#[test]
fn every_destination_flushes_within_the_one_deadline_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let backlog = Client::builder()
        .app("testapp", "1.2.3")
        .config_dir(dir.path())
        .endpoint(dead_endpoint())
        .send_budget(Duration::ZERO)
        .env(Env::empty())
        .build();
    backlog.track_command("earlier", ["x"]);
    assert_eq!(lines(&dir.path().join(OUTBOX_FILE)), 1);

    let usage = Collector::start();
    let otel = Collector::start();
    for c in [&usage, &otel] {
        c.set_delay(Duration::from_millis(1_400));
    }
    let c = builder(
        dir.path(),
        Some(&usage.url()),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
        ],
    )
    .send_budget(Duration::ZERO)
    .timeout(Duration::from_millis(1_500))
    .build();
    let start = std::time::Instant::now();
    c.flush(); // the usage stream's backlog: 1.4 s
    c.record_session_start("root", "s-1"); // a record of the operator's logs
    c.flush();
    c.record_tool_call("t", None, None, Duration::ZERO, Outcome::Success); // a span
    c.flush();
    let took = start.elapsed();
    // Scheduling slack on a loaded two-core machine.
    let bound = Duration::from_millis(1_500) + Duration::from_secs(2);
    assert!(took < bound, "three flush points took {took:?}");
    assert_eq!(usage.records().len(), 1, "the backlog went first");
    // A request may still start in what is left (then cut at the deadline): nothing of
    // the operator's stream is delivered, all of it waits in its outboxes.
    let paths: Vec<String> = otel.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.len() <= 2, "{paths:?}");
    assert_eq!(lines(&dir.path().join(OTEL_LOGS_OUTBOX_FILE)), 2);
    assert_eq!(lines(&dir.path().join(OTEL_TRACES_OUTBOX_FILE)), 1);
    assert_eq!(
        lines(&dir.path().join(OUTBOX_FILE)),
        2,
        "and the usage stream's"
    );
}

/// A failing stream never stops the other: a dead usage endpoint leaves the operator's spans
/// going, and a dead operator's receiver leaves the usage records going.
#[test]
fn a_failing_stream_never_stops_the_other() {
    let dead = dead_endpoint();
    let otel = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        dir.path(),
        Some(&dead),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url())],
    )
    .build();
    agent_run(&c);
    agent_run(&c);
    assert_eq!(spans_of(&otel).len(), 10, "every span");
    assert_eq!(log_records(&otel.requests()).len(), 12, "every log record");
    assert_eq!(
        lines(&dir.path().join(OUTBOX_FILE)),
        12,
        "the usage records wait"
    );

    let usage = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        dir.path(),
        Some(&usage.url()),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &dead)],
    )
    .build();
    agent_run(&c);
    agent_run(&c);
    assert_eq!(usage.records().len(), 12, "every usage record");
    assert_eq!(lines(&dir.path().join(OTEL_TRACES_OUTBOX_FILE)), 10);
    assert_eq!(lines(&dir.path().join(OTEL_LOGS_OUTBOX_FILE)), 12);
}

/// The persisted choice (`telemetry disable`) and the first-run hold govern the usage stream
/// only: the operator's stream sends in the first run and after the user opted out.
#[test]
fn the_persisted_choice_and_the_first_run_hold_govern_the_usage_stream_only() {
    let usage = Collector::start();
    let otel = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let otel_env = [("OTEL_EXPORTER_OTLP_ENDPOINT", otel.base_url())];
    let otel_env: Vec<(&str, &str)> = otel_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The first run: the notice was shown, so the usage stream's records stay on the machine.
    let first = builder(dir.path(), Some(&usage.url()), &otel_env).build();
    first.hold_delivery();
    agent_run(&first);
    assert!(usage.requests().is_empty(), "held");
    assert_eq!(lines(&dir.path().join(OUTBOX_FILE)), 6);
    assert_eq!(
        spans_of(&otel).len(),
        5,
        "the operator's stream is not held"
    );

    // `telemetry disable`, persisted: the usage stream is off, the operator's goes on.
    first.persist_choice(false).unwrap();
    let c = builder(dir.path(), Some(&usage.url()), &otel_env).build();
    assert!(!c.is_enabled() && c.is_otel_enabled());
    agent_run(&c);
    assert!(usage.requests().is_empty(), "opted out");
    assert_eq!(
        lines(&dir.path().join(OUTBOX_FILE)),
        0,
        "the held records are deleted"
    );
    assert_eq!(spans_of(&otel).len(), 10);
    let status = c.status().to_string();
    assert!(
        status.contains("OpenTelemetry:  on (decided by TELEMETRY_OTEL"),
        "{status}"
    );
}

/// The operator's outboxes are trusted like the usage stream's (issue 18, item 13): one that
/// group or others may write is neither read nor appended to, so planted spans never reach
/// the operator's backend.
#[cfg(unix)]
#[test]
fn an_operators_outbox_others_may_write_is_neither_read_nor_appended_to() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let traces_only = |endpoint: &str| {
        builder(
            dir.path(),
            None,
            &[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint),
                ("OTEL_LOGS_EXPORTER", "none"),
            ],
        )
        .build()
    };
    agent_run(&traces_only(&dead_endpoint()));
    let path = dir.path().join(OTEL_TRACES_OUTBOX_FILE);
    assert_eq!(lines(&path), 5);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let planted = std::fs::read_to_string(&path).unwrap();

    let up = Collector::start();
    let c = traces_only(&format!("{}/v1/traces", up.base_url()));
    agent_run(&c);
    assert_eq!(spans_of(&up).len(), 5, "this run's own spans only");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        planted,
        "untouched"
    );
}
