//! The operator's stream's spans as they leave (the `console` exporter's OTLP JSON, strictly
//! checked): a failed command is an ERROR root span with the scrubbed error, a model turn
//! recorded with `record_model_turn` has its duration and provider, a session's span carries
//! the usage totals; and a signal without an endpoint is off.

#[path = "../src/export/otlp_check.rs"]
mod otlp_check;

mod common;

use std::time::Duration;

use common::{DebugBuffer, attr};
use serde_json::Value;
use telemetry_runtime::event::CommandEvent;
use telemetry_runtime::files::{OTEL_LOGS_OUTBOX_FILE, OTEL_TRACES_OUTBOX_FILE};
use telemetry_runtime::{Client, Env, Outcome, SessionId};
use telemetry_test_collector::Collector;

/// A client whose traces are printed (one OTLP JSON request per line) into `out`.
fn console(out: &DebugBuffer) -> Client {
    Client::builder()
        .app("testapp", "1.2.3")
        .env(Env::from_pairs([
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        .debug_output(out.writer())
        .build()
}

/// The spans printed, after the strict check of every request.
fn printed_spans(out: &DebugBuffer) -> Vec<Value> {
    let text = out.text();
    let bodies: Vec<Vec<u8>> = text
        .lines()
        .filter(|l| l.starts_with("{\"resourceSpans\""))
        .map(|l| l.as_bytes().to_vec())
        .collect();
    if let Some(r) = otlp_check::check_bodies(&bodies, &["--signal", "traces"]) {
        assert!(r.passed, "{r:?}");
    }
    bodies
        .iter()
        .flat_map(|b| {
            let body: Value = serde_json::from_slice(b).unwrap();
            body["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .cloned()
                .unwrap()
        })
        .collect()
}

fn nanos(span: &Value, key: &str) -> u64 {
    span[key].as_str().unwrap().parse().unwrap()
}

#[test]
fn a_failed_command_is_an_error_root_span_with_the_scrubbed_error() {
    let out = DebugBuffer::default();
    let c = console(&out);
    c.track(&CommandEvent::new(
        "deploy",
        vec!["--prod".into()],
        Outcome::failure("login failed: password=hunter2"),
        Duration::from_millis(40),
    ));
    c.track_command("run", ["--fast"]);
    let spans = printed_spans(&out);
    assert_eq!(spans.len(), 2);
    let failed = &spans[0];
    assert_eq!(failed["name"], "deploy");
    assert_eq!(failed["kind"], 1, "INTERNAL");
    assert!(failed.get("parentSpanId").is_none_or(|p| p == ""), "a root");
    assert_eq!(failed["status"]["code"], 2, "ERROR");
    let message = failed["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("login failed"), "{message}");
    assert!(!message.contains("hunter2"), "scrubbed: {message}");
    assert_eq!(attr(failed, "error.type").unwrap()["stringValue"], "_OTHER");
    let took = nanos(failed, "endTimeUnixNano") - nanos(failed, "startTimeUnixNano");
    assert_eq!(took, 40_000_000, "start = end - duration");
    let ok = &spans[1];
    assert!(ok["status"].get("code").is_none(), "{ok}");
    assert!(attr(ok, "error.type").is_none());
}

#[test]
fn record_model_turn_gives_the_chat_span_its_duration_and_provider() {
    let out = DebugBuffer::default();
    let c = console(&out);
    let session = c.start_session("coder", SessionId::new("sess-7"));
    c.record_model_turn(
        "anthropic",
        "claude-sonnet",
        1_000,
        50,
        0.02,
        Duration::from_millis(1_250),
    );
    c.record_token_usage("claude-sonnet", 10, 5, 0.001);
    c.record_tool_call(
        "grep",
        None,
        None,
        Duration::from_millis(3),
        Outcome::Success,
    );
    drop(session);
    let spans = printed_spans(&out);
    let names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "chat claude-sonnet",
            "chat claude-sonnet",
            "execute_tool grep",
            "invoke_agent coder"
        ]
    );
    let (measured, unmeasured, agent) = (&spans[0], &spans[1], &spans[3]);
    assert_eq!(measured["kind"], 3, "CLIENT");
    let took = nanos(measured, "endTimeUnixNano") - nanos(measured, "startTimeUnixNano");
    assert_eq!(took, 1_250_000_000);
    assert_eq!(
        attr(measured, "gen_ai.provider.name").unwrap()["stringValue"],
        "anthropic"
    );
    assert_eq!(
        attr(measured, "gen_ai.operation.name").unwrap()["stringValue"],
        "chat"
    );
    assert_eq!(
        nanos(unmeasured, "endTimeUnixNano"),
        nanos(unmeasured, "startTimeUnixNano"),
        "a turn without a duration is a zero-length span"
    );
    for s in &spans[..3] {
        assert_eq!(s["parentSpanId"], agent["spanId"]);
    }
    // The session's span: the usage totals of its turns, its provider, its id.
    assert_eq!(
        attr(agent, "gen_ai.usage.input_tokens").unwrap()["intValue"],
        "1010"
    );
    assert_eq!(
        attr(agent, "gen_ai.usage.output_tokens").unwrap()["intValue"],
        "55"
    );
    let cost = attr(agent, "cli_telemetry.cost").unwrap()["doubleValue"]
        .as_f64()
        .unwrap();
    assert!((cost - 0.021).abs() < 1e-9, "{cost}");
    assert_eq!(
        attr(agent, "gen_ai.provider.name").unwrap()["stringValue"],
        "anthropic"
    );
    assert_eq!(
        attr(agent, "gen_ai.conversation.id").unwrap()["stringValue"],
        "sess-7"
    );
    assert_eq!(
        attr(agent, "gen_ai.agent.name").unwrap()["stringValue"],
        "coder"
    );
    assert_eq!(
        attr(agent, "cli_telemetry.tool_calls").unwrap()["intValue"],
        "1"
    );
}

#[test]
fn a_signal_without_an_endpoint_is_off() {
    let otel = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let traces_url = format!("{}/v1/traces", otel.base_url());
    let c = Client::builder()
        .app("testapp", "1.2.3")
        .config_dir(dir.path())
        .env(Env::from_pairs([
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces_url.as_str()),
        ]))
        .build();
    c.track_command("run", ["x"]);
    c.flush();
    let paths: Vec<String> = otel.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/traces"], "traces only");
    assert!(!dir.path().join(OTEL_LOGS_OUTBOX_FILE).exists());
    let status = c.status();
    let logs = status
        .otel_signals
        .iter()
        .find(|s| s.signal == "logs")
        .unwrap();
    assert_eq!(logs.endpoint, None, "{logs:?}");
    assert!(!status.to_string().contains("/v1/logs"), "{status}");

    // Switched on with no endpoint at all: nothing is sent, nothing queued.
    let dir = tempfile::tempdir().unwrap();
    let c = Client::builder()
        .app("testapp", "1.2.3")
        .config_dir(dir.path())
        .env(Env::from_pairs([("TELEMETRY_OTEL", "1")]))
        .build();
    c.track_command("run", ["x"]);
    c.flush();
    assert_eq!(c.traceparent(), None, "no stream to carry a trace");
    for file in [OTEL_TRACES_OUTBOX_FILE, OTEL_LOGS_OUTBOX_FILE] {
        assert!(!dir.path().join(file).exists(), "{file}");
    }
}
