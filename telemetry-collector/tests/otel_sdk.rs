//! The official OpenTelemetry Python SDK (`opentelemetry-sdk` with its OTLP/HTTP exporter,
//! protobuf by default) sending logs to the collector's `/v1/logs`, with and without gzip,
//! and what the summary shows of them. `scripts/otel_sdk_logs.py` drives the SDK; `.ci/run`
//! installs it. Without the SDK the tests print a loud SKIP, except under CI where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Harness, entry};
use serde_json::Value;
use telemetry_test_collector::Collector;

const KEY: &str = "sdk-ingest-key";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/otel_sdk_logs.py")
}

/// Runs the SDK script against `endpoint`; its summary line, or `None` when the SDK is not
/// installed here and `CI` is not set.
fn send_with_sdk(endpoint: &str, gzip: bool, tools: usize, run: &str) -> Option<Value> {
    let mut cmd = Command::new("python3");
    cmd.arg(script())
        .args(["--endpoint", endpoint, "--api-key", KEY])
        .args(["--tools", &tools.to_string(), "--run-id", run]);
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
        eprintln!("\n!!!!!!!! SKIP: OpenTelemetry SDK test not run: {why} !!!!!!!!\n");
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

#[test]
fn the_python_sdk_sends_protobuf_with_and_without_gzip_as_it_announces() {
    // What the SDK puts on the wire, seen by a recording server.
    for gzip in [false, true] {
        let recorder = Collector::start();
        let url = format!("{}/v1/logs", recorder.base_url());
        if send_with_sdk(&url, gzip, 2, "wire-").is_none() {
            return;
        }
        let requests = recorder.requests();
        assert!(!requests.is_empty());
        for r in &requests {
            assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
            assert_eq!(r.header("content-encoding"), gzip.then_some("gzip"));
        }
    }
}

#[test]
fn logs_from_the_python_sdk_land_in_the_summary_with_and_without_gzip() {
    let h = Harness::start_with(|c| c.api_keys = vec![KEY.to_owned()]);
    let url = h.url("/v1/logs");
    let Some(plain) = send_with_sdk(&url, false, 3, "plain-") else {
        return;
    };
    assert_eq!(plain["records"], 4, "{plain}");
    let sum = h.summary(2);
    assert_eq!(sum["records"], 4, "{sum:#}");
    assert_eq!(entry(&sum, "commands", "build")["calls"], 1);
    let tools = entry(&sum, "tools", "read_file");
    assert_eq!(
        (tools["calls"].clone(), tools["failures"].clone()),
        (3.into(), 1.into())
    );
    assert_eq!(entry(&sum, "versions", "4.5.6")["installs"], 1, "{sum:#}");

    let Some(gz) = send_with_sdk(&url, true, 6, "gzip-") else {
        return;
    };
    assert_eq!(
        (gz["records"].clone(), gz["compression"].clone()),
        (7.into(), "gzip".into())
    );
    let sum = h.summary(2);
    assert_eq!(sum["records"], 11, "{sum:#}");
    assert_eq!(entry(&sum, "commands", "build")["calls"], 2);
    let tools = entry(&sum, "tools", "read_file");
    assert_eq!(
        (tools["calls"].clone(), tools["failures"].clone()),
        (9.into(), 3.into())
    );
    assert_eq!(
        sum["installs"], 2,
        "each run is its own anonymous user: {sum:#}"
    );
}

#[test]
fn the_python_sdk_without_the_ingest_key_is_refused_and_stores_nothing() {
    let h = Harness::start_with(|c| c.api_keys = vec!["another-key".to_owned()]);
    let mut cmd = Command::new("python3");
    cmd.arg(script())
        .args(["--endpoint", &h.url("/v1/logs"), "--api-key", KEY, "--gzip"]);
    let Ok(out) = cmd.output() else { return };
    if out.status.code() == Some(3) {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(!ci, "the OpenTelemetry Python SDK test must run in CI");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "every export refused (401)");
    assert_eq!(h.summary(2)["records"], 0);
}
