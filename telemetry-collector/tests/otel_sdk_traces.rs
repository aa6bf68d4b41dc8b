//! The official OpenTelemetry Python SDK (`opentelemetry-sdk` with its OTLP/HTTP span
//! exporter, protobuf by default) sending an agent run's spans to `/v1/traces`, with and
//! without gzip: each run is one session in Recent sessions with its tool calls and outcome,
//! and its spans in parent order. `scripts/otel_sdk_traces.py` drives the SDK; `.ci/run`
//! installs it. Without the SDK the test prints a loud SKIP, except under CI where it fails.

mod common;

use std::path::Path;
use std::process::Command;

use common::Harness;
use serde_json::{Value, json};

const KEY: &str = "sdk-ingest-key";
const ADMIN: &str = "sdk-traces-admin-token";

/// Runs the SDK script; its summary line, or `None` when the SDK is missing outside CI.
fn send_with_sdk(endpoint: &str, session: &str, gzip: bool) -> Option<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/otel_sdk_traces.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).args([
        "--endpoint",
        endpoint,
        "--api-key",
        KEY,
        "--session",
        session,
    ]);
    if gzip {
        cmd.arg("--gzip");
    }
    let out = cmd.output();
    let skip = match &out {
        Err(e) => Some(format!("python3 cannot run: {e}")),
        Ok(o) if o.status.code() == Some(3) => {
            Some(String::from_utf8_lossy(&o.stderr).trim().to_owned())
        }
        Ok(_) => None,
    };
    if let Some(why) = skip {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(
            !ci,
            "the OpenTelemetry Python SDK test must run in CI: {why}"
        );
        eprintln!("\n!!!!!!!! SKIP: OpenTelemetry SDK traces test not run: {why} !!!!!!!!\n");
        return None;
    }
    let out = out.expect("checked above");
    assert!(
        out.status.success(),
        "the SDK's exports failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("the script's summary line"))
}

fn api(h: &Harness, path: &str) -> Value {
    let (status, text) = h.get(path, &[("Authorization", &format!("Bearer {ADMIN}"))]);
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn an_agent_run_from_the_python_sdk_is_a_session_with_and_without_gzip() {
    let h = Harness::start_with(|c| {
        c.api_keys = vec![KEY.to_owned()];
        c.admin_token = Some(ADMIN.to_owned());
    });
    let url = h.url("/v1/traces");
    for (session, gzip) in [("sdk-plain", false), ("sdk-gzip", true)] {
        let Some(sent) = send_with_sdk(&url, session, gzip) else {
            return;
        };
        assert_eq!(sent["spans"], 9, "{sent}");
        let d = api(&h, &format!("/api/sessions/{session}"));
        assert_eq!(
            (
                &d["source"],
                &d["agent"],
                &d["tool_calls"],
                &d["failed_tool_calls"]
            ),
            (&json!("traces"), &json!("root"), &json!(3), &json!(1)),
            "{d:#}"
        );
        assert_eq!(
            (&d["is_success"], &d["input_tokens"], &d["output_tokens"]),
            (&json!(false), &json!(225), &json!(34))
        );
        let spans = d["spans"].as_array().unwrap();
        let names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "run",
                "invoke_agent root",
                "chat small",
                "execute_tool read_file",
                "chat small",
                "execute_tool read_file",
                "chat small",
                "execute_tool list_directory",
                "chat small"
            ]
        );
        assert_eq!(spans[1]["parent_id"], spans[0]["span_id"]);
        assert!(
            spans[2..]
                .iter()
                .all(|s| s["parent_id"] == spans[1]["span_id"])
        );
        assert_eq!(
            (&spans[5]["is_success"], &spans[5]["error"]),
            (&json!(false), &json!("not found"))
        );
        assert!(
            spans
                .iter()
                .all(|s| s["span_id"].as_str().unwrap().len() == 16)
        );
    }
    let page = api(&h, "/api/sessions");
    let ids: Vec<&str> = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sdk-gzip", "sdk-plain"]);
}
