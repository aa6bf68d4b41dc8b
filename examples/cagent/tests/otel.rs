//! End-to-end tests of the operator's own OpenTelemetry stream: the built `cagent` binary
//! with `TELEMETRY_OTEL=1` against receivers on 127.0.0.1. A run of three tool calls (one
//! failing) and four model turns is one trace: the command's root span, the session's
//! `invoke_agent` span under it, and the `execute_tool` and `chat` spans under that, each
//! within its parent's time. Every body is checked strictly by the OpenTelemetry project's
//! own definitions (`scripts/check_otlp.py`), which also gives each protobuf body back in
//! OTLP's JSON mapping for the assertions here.
//!
//! The same run's metrics (one request at its end, in protobuf or JSON) say exactly what its
//! records and spans say.
//!
//! Every child process gets a clean environment (only `PATH`, a home directory and a user
//! name of its own), its own temporary config dir, and the first-run notice hidden.

#[path = "../../../telemetry-runtime/src/export/otlp_check.rs"]
mod otlp_check;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use telemetry_test_collector::{Collector, Reply, Request, dead_endpoint};

/// Three tool calls (the last one fails: no such file) and a text turn: four model turns.
const PROMPT: &str = "read present.txt\nlist .\nread missing.txt\nthanks";
/// The user name of the child processes (the scrubber replaces it).
const USER: &str = "jane-otel-e2e";
const VENDOR_KEY: &str = "vendor-key-never-in-the-operators-stream";

struct Sandbox {
    _root: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
    config: PathBuf,
}

impl Sandbox {
    /// A home directory (`…/home/jane-otel-e2e`) with the working directory inside it.
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home").join(USER);
        let work = home.join("project");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(work.join("present.txt"), "hello\n").unwrap();
        let config = home.join(".config").join("cagent");
        Self {
            _root: root,
            home,
            work,
            config,
        }
    }

    /// Runs `cagent run filesystem.yaml --prompt PROMPT` with `vars`; it must succeed
    /// whatever happens to its telemetry.
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
            .env("HOME", &self.home)
            .env("USER", USER)
            .env("CAGENT_HIDE_TELEMETRY_BANNER", "1")
            .envs(vars.iter().copied())
            .current_dir(&self.work)
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
}

/// The requests to `path`.
fn at(requests: &[Request], path: &str) -> Vec<Request> {
    requests
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect()
}

/// Strictly checks `requests` (bodies of `signal`) and returns their messages in OTLP's JSON
/// mapping; `None` (with a loud SKIP) where the check cannot run outside CI.
fn strict(requests: &[Request], signal: &str, required: &[&str]) -> Option<Vec<Value>> {
    let bodies: Vec<Vec<u8>> = requests.iter().map(|r| r.body.clone()).collect();
    let mut args = vec!["--signal", signal, "--print-json"];
    for event in required {
        args.extend(["--require-event", event]);
    }
    let result = otlp_check::check_bodies(&bodies, &args)?;
    assert!(result.passed, "strict OTLP check failed: {result:?}");
    let messages = result.stdout.lines().nth(1).expect("the messages");
    Some(serde_json::from_str(messages).expect("JSON"))
}

/// A span, as the assertions need it.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    kind: i64,
    trace: String,
    id: String,
    parent: String,
    start: u128,
    end: u128,
    status: Value,
    attrs: HashMap<String, Value>,
}

fn spans(bodies: &[Value]) -> Vec<Span> {
    let mut out = Vec::new();
    for body in bodies {
        for rs in body["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let time = |k: &str| s[k].as_str().unwrap().parse::<u128>().unwrap();
                    let attrs = s["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|kv| (kv["key"].as_str().unwrap().to_owned(), kv["value"].clone()))
                        .collect();
                    out.push(Span {
                        name: s["name"].as_str().unwrap().to_owned(),
                        kind: s["kind"].as_i64().unwrap(),
                        trace: s["traceId"].as_str().unwrap().to_owned(),
                        id: s["spanId"].as_str().unwrap().to_owned(),
                        parent: s["parentSpanId"].as_str().unwrap_or_default().to_owned(),
                        start: time("startTimeUnixNano"),
                        end: time("endTimeUnixNano"),
                        status: s["status"].clone(),
                        attrs,
                    });
                }
            }
        }
    }
    out
}

fn string_attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    s.attrs.get(key)?["stringValue"].as_str()
}

/// Every span with a parent in `spans` lies within its parent's time span, in its trace.
fn assert_nested(spans: &[Span]) {
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    for s in spans {
        assert!(s.start <= s.end, "{s:?}");
        if let Some(p) = by_id.get(s.parent.as_str()) {
            assert!(
                p.start <= s.start && s.end <= p.end,
                "{} [{}, {}] is not within {} [{}, {}]",
                s.name,
                s.start,
                s.end,
                p.name,
                p.start,
                p.end
            );
            assert_eq!(s.trace, p.trace);
        }
    }
}

/// Whether `needle` appears in any request body (raw bytes, or decoded when compressed).
fn appears(requests: &[Request], decoded: &[Value], needle: &str) -> bool {
    requests
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains(needle))
        || decoded.iter().any(|b| b.to_string().contains(needle))
}

#[test]
fn a_cagent_run_is_one_trace_of_nested_genai_spans() {
    let otel = Collector::start();
    let usage = Collector::start();
    let sb = Sandbox::new();
    let out = sb.run(&[
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20operator",
        ),
        ("TELEMETRY_ENDPOINT", &usage.url()),
        ("TELEMETRY_API_KEY", VENDOR_KEY),
    ]);
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains("present.txt"), "{answer}");
    let requests = otel.requests();
    let traces = at(&requests, "/v1/traces");
    let logs = at(&requests, "/v1/logs");
    for req in &requests {
        assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(req.header("authorization"), Some("Bearer operator"));
        assert_eq!(req.header("x-api-key"), None);
        assert!(req.is_accepted());
    }
    let required = ["command", "invoke_agent", "execute_tool", "chat"];
    let Some(trace_bodies) = strict(&traces, "traces", &required) else {
        return;
    };
    let spans = spans(&trace_bodies);
    let ids: HashSet<&str> = spans.iter().map(|s| s.trace.as_str()).collect();
    assert_eq!(ids.len(), 1, "one trace: {spans:#?}");

    let roots: Vec<&Span> = spans.iter().filter(|s| s.parent.is_empty()).collect();
    assert_eq!(roots.len(), 1, "{spans:#?}");
    let root = roots[0];
    assert_eq!((root.name.as_str(), root.kind), ("run", 1));
    let agents: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "invoke_agent root")
        .collect();
    assert_eq!(agents.len(), 1);
    let agent = agents[0];
    assert_eq!(agent.parent, root.id);
    assert_eq!(string_attr(agent, "gen_ai.provider.name"), Some("scripted"));
    assert_eq!(string_attr(agent, "gen_ai.agent.name"), Some("root"));
    assert!(string_attr(agent, "gen_ai.conversation.id").is_some_and(|id| id.len() == 36));
    let tools: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("execute_tool "))
        .collect();
    assert_eq!(tools.len(), 3, "{spans:#?}");
    let chats: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    assert_eq!(chats.len(), 4, "{spans:#?}");
    assert_eq!(spans.len(), 1 + 1 + 3 + 4);
    for s in tools.iter().chain(&chats) {
        assert_eq!(s.parent, agent.id, "{s:?}");
        assert_eq!(
            string_attr(s, "gen_ai.conversation.id"),
            string_attr(agent, "gen_ai.conversation.id")
        );
    }
    for c in &chats {
        assert_eq!(c.kind, 3, "a model turn is a CLIENT span");
        assert_eq!(string_attr(c, "gen_ai.operation.name"), Some("chat"));
        assert_eq!(string_attr(c, "gen_ai.provider.name"), Some("scripted"));
        assert_eq!(
            string_attr(c, "gen_ai.request.model"),
            Some("scripted/small")
        );
        assert!(c.attrs["gen_ai.usage.input_tokens"]["intValue"].is_string());
        assert!(c.end > c.start, "a measured turn has a length");
    }
    let failed: Vec<&&Span> = tools.iter().filter(|t| t.status["code"] == 2).collect();
    assert_eq!(failed.len(), 1, "{tools:#?}");
    assert_eq!(failed[0].status["message"], "not found");
    assert_eq!(string_attr(failed[0], "error.type"), Some("_OTHER"));
    assert_eq!(
        string_attr(failed[0], "gen_ai.tool.name"),
        Some("read_file")
    );
    for t in &tools {
        assert_eq!(
            string_attr(t, "gen_ai.operation.name"),
            Some("execute_tool")
        );
        assert_eq!(string_attr(t, "gen_ai.tool.type"), Some("function"));
    }
    assert_nested(&spans);

    // The logs: the same run's records, each in its span.
    let Some(log_bodies) = strict(&logs, "logs", &["session.end"]) else {
        return;
    };
    let trace = &spans[0].trace;
    for body in &log_bodies {
        for rec in body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .unwrap()
        {
            assert_eq!(&rec["traceId"], trace);
            let span = rec["spanId"].as_str().unwrap();
            assert!(spans.iter().any(|s| s.id == span), "{rec}");
        }
    }

    // The home directory and the user name appear nowhere, in either stream.
    let home = sb.home.to_string_lossy().into_owned();
    let usage_requests = usage.requests();
    assert_eq!(usage.records().len(), 10);
    for (reqs, decoded) in [
        (&traces, &trace_bodies),
        (&logs, &log_bodies),
        (&usage_requests, &Vec::new()),
    ] {
        for needle in [home.as_str(), USER] {
            assert!(!appears(reqs, decoded, needle), "{needle} was sent");
        }
    }
    for req in &usage_requests {
        let text = String::from_utf8_lossy(&req.body);
        assert!(
            !text.contains(trace.as_str()),
            "no trace context in the usage stream"
        );
        assert_eq!(req.header("authorization"), None);
        assert_eq!(req.header("x-api-key"), Some(VENDOR_KEY));
    }
}

#[test]
fn traceparent_makes_the_run_a_child_of_the_parent_process() {
    let otel = Collector::start();
    let sb = Sandbox::new();
    sb.run(&[
        ("CAGENT_TELEMETRY_OTEL", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
        ("OTEL_LOGS_EXPORTER", "none"),
        (
            "TRACEPARENT",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("TRACESTATE", "rojo=00f067aa0ba902b7"),
    ]);
    let traces = at(&otel.requests(), "/v1/traces");
    let Some(bodies) = strict(&traces, "traces", &["command"]) else {
        return;
    };
    let spans = spans(&bodies);
    let root = spans.iter().find(|s| s.name == "run").unwrap();
    assert_eq!(root.parent, "b7ad6b7169203331");
    assert!(
        spans
            .iter()
            .all(|s| s.trace == "0af7651916cd43dd8448eb211c80319c")
    );
    let raw = &bodies[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(raw["traceState"], "rojo=00f067aa0ba902b7");
    assert_nested(&spans);
}

#[test]
fn spans_wait_out_an_outage_and_are_sent_once_later() {
    let sb = Sandbox::new();
    let dead = dead_endpoint();
    sb.run(&[
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &dead),
    ]);
    let queued = std::fs::read_to_string(sb.config.join("telemetry-otel-traces.jsonl")).unwrap();
    assert_eq!(queued.lines().count(), 9, "{queued}");

    let otel = Collector::start();
    sb.run(&[
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
    ]);
    let requests = otel.requests();
    let traces = at(&requests, "/v1/traces");
    let Some(bodies) = strict(&traces, "traces", &["command"]) else {
        return;
    };
    let spans = spans(&bodies);
    assert_eq!(spans.len(), 18, "both runs' spans");
    let ids: HashSet<&str> = spans.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 18, "no span twice");
    let traces: HashSet<&str> = spans.iter().map(|s| s.trace.as_str()).collect();
    assert_eq!(traces.len(), 2, "each run its own trace");
    assert_nested(&spans);
    let left =
        std::fs::read_to_string(sb.config.join("telemetry-otel-traces.jsonl")).unwrap_or_default();
    assert!(left.trim().is_empty(), "{left}");
    // The logs went too: both runs' 20 records.
    let logs = at(&requests, "/v1/logs");
    let Some(log_bodies) = strict(&logs, "logs", &[]) else {
        return;
    };
    let n: usize = log_bodies
        .iter()
        .map(|b| {
            b["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(n, 20);
}

#[test]
fn a_receiver_that_refuses_logs_still_gets_every_span() {
    let otel = Collector::start();
    otel.answer_path("/v1/logs", Reply::Status(404));
    let sb = Sandbox::new();
    for _ in 0..2 {
        sb.run(&[
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
        ]);
    }
    let requests = otel.requests();
    assert!(
        at(&requests, "/v1/logs")
            .iter()
            .all(|r| r.answered == Some(404))
    );
    let traces = at(&requests, "/v1/traces");
    assert!(traces.iter().all(Request::is_accepted));
    let Some(bodies) = strict(&traces, "traces", &["command"]) else {
        return;
    };
    assert_eq!(spans(&bodies).len(), 18);
}

#[test]
fn do_not_track_stops_the_usage_stream_only_and_nothing_goes_without_the_switch() {
    let otel = Collector::start();
    let usage = Collector::start();
    let sb = Sandbox::new();
    sb.run(&[
        ("DO_NOT_TRACK", "1"),
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
        ("TELEMETRY_ENDPOINT", &usage.url()),
    ]);
    assert!(usage.requests().is_empty());
    let traces = at(&otel.requests(), "/v1/traces");
    if let Some(bodies) = strict(&traces, "traces", &["command"]) {
        assert_eq!(spans(&bodies).len(), 9, "the operator's stream goes on");
    }
    assert!(!sb.config.join("user-uuid").exists());

    let quiet = Collector::start();
    sb.run(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &quiet.base_url()),
        ("TELEMETRY_EXPORTER", "otlp"),
        ("TELEMETRY_ENDPOINT", &usage.url()),
    ]);
    assert!(quiet.requests().is_empty(), "no export without the switch");
    assert_eq!(
        usage.records().len(),
        0,
        "the usage stream sends OTLP, not records"
    );
    assert!(!usage.requests().is_empty());

    let off = Collector::start();
    sb.run(&[
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &off.base_url()),
    ]);
    assert!(off.requests().is_empty(), "OTEL_SDK_DISABLED");
}

#[test]
fn telemetry_status_shows_both_streams_and_what_decided_each() {
    let sb = Sandbox::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cagent"));
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let out = cmd
        .env("HOME", &sb.home)
        .env("DO_NOT_TRACK", "1")
        .env("CAGENT_TELEMETRY_OTEL", "1")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://tenant:s3cret@127.0.0.1:9",
        )
        .env("OTEL_LOGS_EXPORTER", "none")
        .arg("--config-dir")
        .arg(&sb.config)
        .args(["telemetry", "status"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Telemetry:      disabled"), "{text}");
    assert!(text.contains("Decided by:     DO_NOT_TRACK"), "{text}");
    assert!(
        text.contains("OpenTelemetry:  on (decided by CAGENT_TELEMETRY_OTEL"),
        "{text}"
    );
    assert!(
        text.contains(
            "traces:       otlp (default) -> https://***@127.0.0.1:9/v1/traces (from OTEL_EXPORTER_OTLP_ENDPOINT)"
        ),
        "{text}"
    );
    assert!(
        text.contains("logs:         off (OTEL_LOGS_EXPORTER)"),
        "{text}"
    );
    assert!(
        text.contains(
            "metrics:      otlp (default) -> https://***@127.0.0.1:9/v1/metrics (from OTEL_EXPORTER_OTLP_ENDPOINT)"
        ),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

/// (metric, its point's attributes as sorted `key=value` text) → (count, sum).
type Totals = BTreeMap<(String, String), (u64, f64)>;

/// An attribute set as one sorted text; `None` values are left out.
fn attr_key(attrs: &[(&str, Option<String>)]) -> String {
    let mut kv: Vec<String> = attrs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    kv.sort();
    kv.join(",")
}

fn add(t: &mut Totals, metric: &str, attrs: &[(&str, Option<String>)], value: f64) {
    let e = t.entry((metric.to_owned(), attr_key(attrs))).or_default();
    e.0 += 1;
    e.1 += value;
}

/// What the metrics must say, from the same run's usage records (commands, tools, tokens,
/// sessions) and its `chat` spans (a model turn's duration is its span's).
fn expected_metrics(records: &[Value], spans: &[Span]) -> Totals {
    let mut t = Totals::new();
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let failed = |p: &Value| (p["is_success"] == false).then(|| "_OTHER".to_owned());
    for r in records {
        let p = &r["properties"];
        let secs = p["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
        match (r["event"].as_str().unwrap(), p["action"].as_str()) {
            ("command", action) => {
                let attrs = [
                    ("cli_telemetry.action", action.map(str::to_owned)),
                    ("error.type", failed(p)),
                ];
                add(&mut t, "cli_telemetry.command.duration", &attrs, secs);
            }
            ("tool", _) => {
                let attrs = [
                    ("gen_ai.tool.name", s(&p["tool_name"])),
                    ("gen_ai.tool.type", Some("function".into())),
                    ("gen_ai.agent.name", s(&p["agent_name"])),
                    ("error.type", failed(p)),
                ];
                add(&mut t, "gen_ai.execute_tool.duration", &attrs, secs);
            }
            ("token", _) => {
                let model = s(&p["model_name"]);
                let provider = Some("scripted".to_owned());
                for (kind, key) in [("input", "input_tokens"), ("output", "output_tokens")] {
                    let attrs = [
                        ("gen_ai.operation.name", Some("chat".into())),
                        ("gen_ai.provider.name", provider.clone()),
                        ("gen_ai.request.model", model.clone()),
                        ("gen_ai.token.type", Some(kind.into())),
                    ];
                    let n = p[key].as_f64().unwrap();
                    add(&mut t, "gen_ai.client.token.usage", &attrs, n);
                }
                let attrs = [
                    ("gen_ai.provider.name", provider),
                    ("gen_ai.request.model", model),
                ];
                add(
                    &mut t,
                    "cli_telemetry.cost",
                    &attrs,
                    p["cost"].as_f64().unwrap(),
                );
            }
            ("session", Some("end")) => {
                let attrs = [
                    ("gen_ai.agent.name", s(&p["agent_name"])),
                    (
                        "cli_telemetry.is_success",
                        Some(p["is_success"].to_string()),
                    ),
                ];
                add(&mut t, "cli_telemetry.session.count", &attrs, 1.0);
            }
            _ => {}
        }
    }
    for c in spans.iter().filter(|s| s.name.starts_with("chat ")) {
        let attrs = [
            ("gen_ai.operation.name", Some("chat".into())),
            (
                "gen_ai.provider.name",
                string_attr(c, "gen_ai.provider.name").map(Into::into),
            ),
            (
                "gen_ai.request.model",
                string_attr(c, "gen_ai.request.model").map(Into::into),
            ),
        ];
        let secs = (c.end - c.start) as f64 / 1e9;
        add(&mut t, "gen_ai.client.operation.duration", &attrs, secs);
    }
    t
}

/// The metrics of one strictly parsed body: every metric by name, and the totals of its
/// points (a counter's point counts once). Checks what each point must hold on the way.
fn metric_totals(body: &Value, temporality: i64) -> (BTreeMap<String, Value>, Totals) {
    let mut by_name = BTreeMap::new();
    let mut t = Totals::new();
    let scopes = body["resourceMetrics"][0]["scopeMetrics"]
        .as_array()
        .unwrap();
    assert_eq!(scopes.len(), 1, "one metrics record");
    for m in scopes[0]["metrics"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap().to_owned();
        let (data, histogram) = match (m.get("histogram"), m.get("sum")) {
            (Some(h), None) => (h, true),
            (None, Some(s)) => {
                assert_eq!(s["isMonotonic"], true, "{name}: a counter");
                (s, false)
            }
            _ => panic!("{m}"),
        };
        assert_eq!(data["aggregationTemporality"], temporality, "{name}");
        for p in data["dataPoints"].as_array().unwrap() {
            let attrs: Vec<(&str, Option<String>)> = p["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| {
                    let v = &kv["value"];
                    let text = v["stringValue"]
                        .as_str()
                        .map_or_else(|| v["boolValue"].to_string(), str::to_owned);
                    (kv["key"].as_str().unwrap(), Some(text))
                })
                .collect();
            let num = |v: &Value| -> u64 { v.as_str().unwrap().parse().unwrap() };
            let (count, sum) = if histogram {
                let buckets: u64 = p["bucketCounts"].as_array().unwrap().iter().map(num).sum();
                assert_eq!(buckets, num(&p["count"]), "{name}: buckets add up");
                (num(&p["count"]), p["sum"].as_f64().unwrap_or(0.0))
            } else {
                let v = p["asDouble"].as_f64();
                (1, v.unwrap_or_else(|| num(&p["asInt"]) as f64))
            };
            let key = (name.clone(), attr_key(&attrs));
            assert!(
                t.insert(key, (count, sum)).is_none(),
                "{name}: one point per set"
            );
        }
        by_name.insert(name, m.clone());
    }
    (by_name, t)
}

/// Totals compared at the nanosecond (sums of seconds and costs are sums of floats); a
/// counter's records count as one point.
fn comparable(t: &Totals) -> Vec<(String, String, u64, String)> {
    t.iter()
        .map(|((m, a), (n, s))| {
            let n = if m.starts_with("cli_telemetry.") && !m.ends_with(".duration") {
                1
            } else {
                *n
            };
            (m.clone(), a.clone(), n, format!("{s:.9}"))
        })
        .collect()
}

#[test]
fn a_cagent_run_reports_its_metrics_once_exactly_as_its_records_say_in_both_encodings() {
    let sb = Sandbox::new();
    for (protocol, compression, temporality) in
        [("http/protobuf", "none", 1), ("http/json", "gzip", 2)]
    {
        let otel = Collector::start();
        let usage = Collector::start();
        let preference = if temporality == 1 { "" } else { "cumulative" };
        sb.run(&[
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otel.base_url()),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", compression),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                preference,
            ),
            ("TELEMETRY_ENDPOINT", &usage.url()),
        ]);
        let requests = otel.requests();
        let metrics = at(&requests, "/v1/metrics");
        assert_eq!(metrics.len(), 1, "one metrics request per run");
        let req = &metrics[0];
        assert!(req.is_accepted());
        let json = protocol == "http/json";
        let want = if json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        assert_eq!(req.header("content-type"), Some(want));
        assert_eq!(
            req.header("content-encoding").is_some(),
            compression == "gzip"
        );
        let names = [
            "gen_ai.client.token.usage",
            "gen_ai.client.operation.duration",
            "gen_ai.execute_tool.duration",
            "cli_telemetry.command.duration",
            "cli_telemetry.cost",
            "cli_telemetry.session.count",
        ];
        let Some(bodies) = strict(&metrics, "metrics", &names) else {
            return;
        };
        let Some(trace_bodies) = strict(&at(&requests, "/v1/traces"), "traces", &[]) else {
            return;
        };
        let spans = spans(&trace_bodies);
        let (by_name, got) = metric_totals(&bodies[0], temporality);
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        assert_eq!(
            by_name.keys().map(String::as_str).collect::<Vec<_>>(),
            sorted
        );
        let records = usage.records();
        assert_eq!(records.len(), 10);
        assert_eq!(
            comparable(&got),
            comparable(&expected_metrics(&records, &spans))
        );

        // Units and the conventions' boundaries.
        let unit = |n: &str| by_name[n]["unit"].as_str().unwrap().to_owned();
        assert_eq!(unit("gen_ai.client.token.usage"), "{token}");
        assert_eq!(unit("gen_ai.client.operation.duration"), "s");
        assert_eq!(unit("gen_ai.execute_tool.duration"), "s");
        assert_eq!(unit("cli_telemetry.command.duration"), "s");
        assert_eq!(unit("cli_telemetry.cost"), "{USD}");
        let bounds = |n: &str| by_name[n]["histogram"]["dataPoints"][0]["explicitBounds"].clone();
        let tokens: Vec<f64> = (0..14).map(|k| 4f64.powi(k)).collect();
        assert_eq!(
            bounds("gen_ai.client.token.usage"),
            serde_json::json!(tokens)
        );
        let seconds = serde_json::json!([
            0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
        ]);
        assert_eq!(bounds("gen_ai.client.operation.duration"), seconds);
        assert_eq!(bounds("gen_ai.execute_tool.duration"), seconds);
        assert!(by_name["cli_telemetry.cost"]["sum"]["dataPoints"][0]["asDouble"].is_number());
        assert!(
            by_name["cli_telemetry.session.count"]["sum"]["dataPoints"][0]["asInt"].is_string()
        );

        // Every point covers the process's client, from before its command to its report.
        let root = spans.iter().find(|s| s.parent.is_empty()).unwrap();
        for m in by_name.values() {
            let data = m.get("histogram").or(m.get("sum")).unwrap();
            for p in data["dataPoints"].as_array().unwrap() {
                let time = |k: &str| p[k].as_str().unwrap().parse::<u128>().unwrap();
                assert!(time("startTimeUnixNano") <= root.start, "{p}");
                assert!(time("timeUnixNano") >= root.end, "{p}");
            }
        }
        // Nothing of the home directory or the user, and nothing left in the outbox.
        let home = sb.home.to_string_lossy().into_owned();
        for needle in [home.as_str(), USER] {
            assert!(!appears(&metrics, &bodies, needle), "{needle} was sent");
        }
        let left = std::fs::read_to_string(sb.config.join("telemetry-otel-metrics.jsonl"))
            .unwrap_or_default();
        assert!(left.trim().is_empty(), "{left}");
    }
}

/// `OTEL_TRACES_EXPORTER=console`: each request's OTLP JSON on one line of stderr, strictly
/// valid, one trace of the run; stdout (the agent's answer) never gets any of it.
#[test]
fn the_console_exporter_prints_to_stderr_only() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("present.txt"), "{stdout}");
    assert!(!stdout.contains("resourceSpans"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let bodies: Vec<Vec<u8>> = stderr
        .lines()
        .filter(|l| l.starts_with("{\"resourceSpans\""))
        .map(|l| l.as_bytes().to_vec())
        .collect();
    assert_eq!(bodies.len(), 9, "one request per span: {stderr}");
    let Some(result) = otlp_check::check_bodies(&bodies, &["--signal", "traces", "--print-json"])
    else {
        return;
    };
    assert!(result.passed, "{result:?}");
    let messages: Vec<Value> =
        serde_json::from_str(result.stdout.lines().nth(1).expect("the messages")).unwrap();
    let spans = spans(&messages);
    let traces: HashSet<&str> = spans.iter().map(|s| s.trace.as_str()).collect();
    assert_eq!(traces.len(), 1, "{spans:#?}");
    assert_nested(&spans);
    assert!(!stderr.contains(sb.home.to_string_lossy().as_ref()));
}
