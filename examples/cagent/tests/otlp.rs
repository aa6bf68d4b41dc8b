//! End-to-end tests of OTLP logs: the built `cagent` binary's usage stream with
//! `TELEMETRY_EXPORTER=otlp` (protobuf, the default), and the operator's own stream's logs
//! (`TELEMETRY_OTEL=1`, configured by `OTEL_*` only) in protobuf (the default) and in JSON,
//! with and without gzip, against the loopback test collector on 127.0.0.1. Every request body goes through the
//! strict checker (`scripts/check_otlp.py`, the OpenTelemetry project's own definitions),
//! which also gives back each body's message in OTLP's JSON mapping for the assertions here
//! on the mapping (OTLP_MAPPING.md).
//!
//! Every child process gets a clean environment (only `PATH`), its own temporary config dir,
//! and the first-run notice hidden.

#[path = "../../../telemetry-runtime/src/export/otlp_check.rs"]
mod otlp_check;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use telemetry_test_collector::{Collector, Request, dead_endpoint};

/// The prompt of the main scenario: one successful and one failing tool call, one text turn.
const PROMPT: &str = "read present.txt\nread missing.txt\nthanks";
/// The queue of canonical records, in the config dir.
const OUTBOX: &str = "telemetry-outbox.jsonl";
const TELEMETRY_KEY: &str = "telemetry-key-must-not-reach-otel";
const CAGENT_KEY: &str = "cagent-key-must-not-reach-otel";

/// The event names of the main scenario, in the order the records are made.
const SCENARIO: [&str; 8] = [
    "session.start",
    "cli_telemetry.tool",
    "cli_telemetry.token",
    "cli_telemetry.tool",
    "cli_telemetry.token",
    "cli_telemetry.token",
    "session.end",
    "cli_telemetry.command",
];

struct Sandbox {
    work: tempfile::TempDir,
    _config_root: tempfile::TempDir,
    config: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("present.txt"), "hello\n").unwrap();
        let config_root = tempfile::tempdir().unwrap();
        let config = config_root.path().join("cagent");
        Self {
            work,
            _config_root: config_root,
            config,
        }
    }

    /// Runs `cagent run filesystem.yaml --prompt PROMPT` with only `PATH` and `vars`; it must
    /// succeed whatever happens to its telemetry.
    fn run(&self, vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cagent"));
        cmd.env_clear();
        for key in ["PATH", "SYSTEMROOT"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/filesystem.yaml");
        let out = cmd
            .env("CAGENT_HIDE_TELEMETRY_BANNER", "1")
            .envs(vars.iter().copied())
            .current_dir(self.work.path())
            .stdin(Stdio::null())
            .arg("--config-dir")
            .arg(&self.config)
            .arg("run")
            .arg(agent)
            .args(["--prompt", PROMPT])
            .output()
            .expect("cagent starts");
        assert!(
            out.status.success(),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn user_uuid(&self) -> String {
        std::fs::read_to_string(self.config.join("user-uuid"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The `event_id`s of the records waiting in the outbox (meta lines left out).
    fn queued_ids(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.config.join(OUTBOX)).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter_map(|v| v["properties"]["event_id"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Runs the strict checker on every body, requiring each event of the scenario and at least
/// `min_records` log records in all, and returns each body's message in OTLP's JSON mapping
/// (whatever its encoding). `None` (with a loud SKIP) where it cannot run outside CI.
fn strict_check(requests: &[Request], min_records: usize) -> Option<Vec<Value>> {
    let bodies: Vec<Vec<u8>> = requests.iter().map(|r| r.body.clone()).collect();
    let min = min_records.to_string();
    let mut args = vec!["--print-json", "--min-records", min.as_str()];
    for event in SCENARIO {
        args.extend(["--require-event", event]);
    }
    let result = otlp_check::check_bodies(&bodies, &args)?;
    assert!(result.passed, "strict OTLP check failed: {result:?}");
    let messages = result.stdout.lines().nth(1).expect("the messages");
    Some(serde_json::from_str(messages).expect("JSON"))
}

/// An attribute list (`[{"key", "value": {"stringValue": ...}}]`) as `key -> AnyValue`.
fn attrs(list: &Value) -> Vec<(String, Value)> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|kv| (kv["key"].as_str().unwrap().to_owned(), kv["value"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn attr<'a>(list: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn string_attr(list: &[(String, Value)], key: &str) -> Option<String> {
    attr(list, key).and_then(|v| v["stringValue"].as_str().map(str::to_owned))
}

/// The one resource of a request body (its message in the JSON mapping), and its log records.
fn resource_and_records(body: &Value) -> (Vec<(String, Value)>, Vec<Value>) {
    let resources = body["resourceLogs"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{body:#}");
    let resource = attrs(&resources[0]["resource"]["attributes"]);
    let scopes = resources[0]["scopeLogs"].as_array().unwrap();
    assert_eq!(scopes.len(), 1, "{body:#}");
    assert_eq!(scopes[0]["scope"]["name"], "cli-telemetry");
    let records = scopes[0]["logRecords"].as_array().unwrap().clone();
    (resource, records)
}

/// Every log record of every body, in arrival order.
fn all_records(bodies: &[Value]) -> Vec<Value> {
    bodies
        .iter()
        .flat_map(|b| resource_and_records(b).1)
        .collect()
}

fn event_names(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["eventName"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// How a run's requests are encoded: `Content-Type` and `Content-Encoding`.
type Encoding = (&'static str, Option<&'static str>);
const PROTOBUF: Encoding = ("application/x-protobuf", None);
const JSON_GZIP: Encoding = ("application/json", Some("gzip"));

/// What every request of a run must be: a 2xx-answered POST to `path` in OTLP/HTTP, encoded
/// as `encoding` says; `bodies` are their messages (from [`strict_check`]).
fn assert_otlp_requests(
    requests: &[Request],
    bodies: &[Value],
    path: &str,
    service: &str,
    encoding: Encoding,
) {
    assert!(!requests.is_empty(), "no request reached the collector");
    assert_eq!(requests.len(), bodies.len());
    for (req, body) in requests.iter().zip(bodies) {
        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", path));
        assert_eq!(req.header("content-type"), Some(encoding.0));
        assert_eq!(req.header("content-encoding"), encoding.1);
        assert!(req.is_accepted());
        let (resource, _) = resource_and_records(body);
        assert_eq!(
            string_attr(&resource, "service.name").as_deref(),
            Some(service)
        );
        assert_eq!(
            string_attr(&resource, "service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
    }
}

/// The usage stream over OTLP: to `TELEMETRY_ENDPOINT` with `TELEMETRY_API_KEY`; the `OTEL_*`
/// variables (an endpoint, headers) configure it no more (issue 21): without the switch of
/// the operator's stream nothing goes to the OTEL endpoint, and its headers go nowhere.
#[test]
fn a_cagent_run_over_otlp_is_strict_otlp() {
    let collector = Collector::start();
    let otel = Collector::start();
    let sb = Sandbox::new();
    let logs = format!("{}/v1/logs", collector.base_url());
    sb.run(&[
        ("TELEMETRY_EXPORTER", "otlp"),
        ("TELEMETRY_ENDPOINT", &logs),
        ("TELEMETRY_API_KEY", TELEMETRY_KEY),
        ("CAGENT_TELEMETRY_API_KEY", CAGENT_KEY),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-otel-token=otel-secret,x-tenant=acme%20corp",
        ),
    ]);
    assert!(otel.requests().is_empty(), "no export without the switch");
    let requests = collector.requests();
    let Some(bodies) = strict_check(&requests, SCENARIO.len()) else {
        return;
    };
    assert_otlp_requests(&requests, &bodies, "/v1/logs", "cagent", PROTOBUF);
    for req in &requests {
        assert_eq!(req.header("x-api-key"), Some(TELEMETRY_KEY));
        assert_eq!(req.header("x-otel-token"), None);
        assert_eq!(req.header("x-tenant"), None);
        assert_eq!(req.header("authorization"), None);
    }
    assert_scenario_records(&sb, &all_records(&bodies));
}

/// The operator's stream's logs: the same records, to the OTEL endpoints with the OTEL
/// headers and never a key of the usage stream; protobuf by default; `OTEL_SERVICE_NAME`
/// names the service, a logs endpoint is used exactly as given, JSON and gzip on request.
#[test]
fn the_operators_logs_are_strict_otlp_in_every_encoding() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    // The logs signal alone (the metrics signal's own test is in tests/otel.rs).
    sb.run(&[
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("TELEMETRY_API_KEY", TELEMETRY_KEY),
        ("CAGENT_TELEMETRY_API_KEY", CAGENT_KEY),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.base_url()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-otel-token=otel-secret,x-tenant=acme%20corp",
        ),
    ]);
    let requests = collector.requests();
    let Some(bodies) = strict_check(&requests, SCENARIO.len()) else {
        return;
    };
    assert_otlp_requests(&requests, &bodies, "/v1/logs", "cagent", PROTOBUF);
    for req in &requests {
        assert_eq!(req.header("x-otel-token"), Some("otel-secret"));
        assert_eq!(req.header("x-tenant"), Some("acme corp"));
        assert_eq!(req.header("x-api-key"), None);
        assert_eq!(req.header("authorization"), None);
        for (name, value) in &req.headers {
            for key in [TELEMETRY_KEY, CAGENT_KEY] {
                assert!(!value.contains(key), "{key} sent in header {name}");
            }
        }
    }
    let records = all_records(&bodies);
    assert_scenario_records(&sb, &records);
    for r in &records {
        let trace_id = r["traceId"].as_str().unwrap_or_default();
        assert_eq!(
            trace_id.len(),
            32,
            "every log record carries its trace: {r}"
        );
        assert_eq!(r["spanId"].as_str().map(str::len), Some(16), "{r}");
    }

    let renamed = Collector::start();
    let logs_endpoint = format!("{}/custom/logs", renamed.base_url());
    sb.run(&[
        ("CAGENT_TELEMETRY_OTEL", "on"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_SERVICE_NAME", "my-agent-service"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &logs_endpoint),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.base_url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
    ]);
    let again = renamed.requests();
    let Some(bodies) = strict_check(&again, SCENARIO.len()) else {
        return;
    };
    assert_otlp_requests(
        &again,
        &bodies,
        "/custom/logs",
        "my-agent-service",
        JSON_GZIP,
    );
    assert_eq!(event_names(&all_records(&bodies)), SCENARIO);
    assert_eq!(collector.requests().len(), requests.len());
}

/// The records of one run of the scenario, in either stream.
fn assert_scenario_records(sb: &Sandbox, records: &[Value]) {
    assert_eq!(event_names(records), SCENARIO, "{records:#?}");
    let uuid = sb.user_uuid();
    let mut uids = HashSet::new();
    for r in records {
        let a = attrs(&r["attributes"]);
        let uid = string_attr(&a, "log.record.uid").expect("log.record.uid");
        assert!(uids.insert(uid.clone()), "log.record.uid {uid} repeated");
        assert_eq!(string_attr(&a, "enduser.pseudo.id"), Some(uuid.clone()));
    }
    let tools: Vec<Vec<(String, Value)>> = records
        .iter()
        .filter(|r| r["eventName"] == "cli_telemetry.tool")
        .map(|r| attrs(&r["attributes"]))
        .collect();
    let failed: Vec<&Value> = records
        .iter()
        .filter(|r| r["eventName"] == "cli_telemetry.tool" && r["severityNumber"] == 17)
        .collect();
    assert_eq!(failed.len(), 1, "{records:#?}");
    assert_eq!(failed[0]["severityText"], "ERROR");
    let fa = attrs(&failed[0]["attributes"]);
    assert_eq!(string_attr(&fa, "error.type").as_deref(), Some("_OTHER"));
    assert_eq!(
        string_attr(&fa, "error.message").as_deref(),
        Some("not found")
    );
    for t in &tools {
        assert_eq!(
            string_attr(t, "gen_ai.tool.name").as_deref(),
            Some("read_file")
        );
        assert_eq!(
            string_attr(t, "gen_ai.operation.name").as_deref(),
            Some("execute_tool")
        );
    }
    let end = records.iter().find(|r| r["eventName"] == "session.end");
    let end = attrs(&end.unwrap()["attributes"]);
    assert_eq!(string_attr(&end, "error.type").as_deref(), Some("_OTHER"));
    let command = attrs(&records[7]["attributes"]);
    assert_eq!(
        string_attr(&command, "cli_telemetry.action").as_deref(),
        Some("run")
    );
    assert!(
        attr(&command, "cli_telemetry.duration_ms").unwrap()["intValue"].is_string(),
        "{command:?}"
    );
}

/// The key of the telemetry endpoint goes with OTLP to it, when both come from the same prefix
/// level; `OTEL_EXPORTER_OTLP_HEADERS` go only to the operator's stream, never to this one.
#[test]
fn the_telemetry_api_key_goes_with_otlp_to_the_telemetry_endpoint() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let endpoint = format!("{}/v1/logs", collector.base_url());
    sb.run(&[
        ("TELEMETRY_EXPORTER", "otlp"),
        ("CAGENT_TELEMETRY_ENDPOINT", &endpoint),
        ("CAGENT_TELEMETRY_API_KEY", CAGENT_KEY),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-otel-token=otel-secret"),
    ]);
    let requests = collector.requests();
    let Some(bodies) = strict_check(&requests, SCENARIO.len()) else {
        return;
    };
    assert_otlp_requests(&requests, &bodies, "/v1/logs", "cagent", PROTOBUF);
    for req in &requests {
        assert_eq!(req.header("x-api-key"), Some(CAGENT_KEY));
        assert_eq!(req.header("x-otel-token"), None);
    }
    // An unprefixed endpoint takes only an unprefixed key.
    let other = Collector::start();
    let endpoint = format!("{}/v1/logs", other.base_url());
    Sandbox::new().run(&[
        ("TELEMETRY_EXPORTER", "otlp"),
        ("TELEMETRY_ENDPOINT", &endpoint),
        ("CAGENT_TELEMETRY_API_KEY", CAGENT_KEY),
    ]);
    let requests = other.requests();
    strict_check(&requests, SCENARIO.len());
    assert!(requests.iter().all(|r| r.header("x-api-key").is_none()));
}

#[test]
fn switching_exporters_loses_nothing() {
    let sb = Sandbox::new();
    // The collector is down: the cagent-format run queues its records, canonical, on disk.
    let dead = dead_endpoint();
    sb.run(&[("TELEMETRY_ENDPOINT", &dead)]);
    let queued = sb.queued_ids();
    assert_eq!(queued.len(), SCENARIO.len(), "outbox: {queued:?}");

    // A later run under OTLP sends them, encoded as OTLP at send time, with its own records.
    let collector = Collector::start();
    sb.run(&[
        ("TELEMETRY_EXPORTER", "otlp"),
        ("TELEMETRY_ENDPOINT", &collector.url()),
    ]);
    let requests = collector.requests();
    let Some(bodies) = strict_check(&requests, 2 * SCENARIO.len()) else {
        return;
    };
    assert_otlp_requests(&requests, &bodies, "/v1/records", "cagent", PROTOBUF);
    let records = all_records(&bodies);
    let names = event_names(&records);
    assert_eq!(names.len(), 2 * SCENARIO.len(), "{names:?}");
    for event in SCENARIO {
        let want = 2 * SCENARIO.iter().filter(|e| **e == event).count();
        assert_eq!(
            names.iter().filter(|n| *n == event).count(),
            want,
            "{event}"
        );
    }
    let sent: HashSet<String> = records
        .iter()
        .filter_map(|r| string_attr(&attrs(&r["attributes"]), "log.record.uid"))
        .collect();
    assert_eq!(sent.len(), 2 * SCENARIO.len());
    for id in &queued {
        assert!(sent.contains(id), "queued record {id} never sent: {sent:?}");
    }
    assert!(sb.queued_ids().is_empty(), "the outbox still holds records");
    for r in &records {
        let a = attrs(&r["attributes"]);
        assert_eq!(string_attr(&a, "enduser.pseudo.id"), Some(sb.user_uuid()));
    }
}
