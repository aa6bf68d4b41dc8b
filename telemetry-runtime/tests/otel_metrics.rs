//! The operator's metrics (issue 22) at the client: aggregated only while the operator's
//! stream is on, reported once at the last flush point, and exactly what the same run's
//! records say.

#[path = "../src/export/otlp_check.rs"]
mod otlp_check;

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::DebugBuffer;
use serde_json::Value;
use telemetry_runtime::files::OTEL_METRICS_OUTBOX_FILE;
use telemetry_runtime::testing::Records;
use telemetry_runtime::{Client, Env, Outcome, SessionId};
use telemetry_test_collector::{Collector, Request, dead_endpoint};

/// A client with the operator's stream on (unless `env` says otherwise), its records in one
/// sink and its metrics records in another.
fn client(pairs: &[(&str, &str)]) -> (Client, Records, Records) {
    let (records, metrics) = (Records::default(), Records::default());
    let mut env = vec![("TELEMETRY_OTEL", "1")];
    env.extend_from_slice(pairs);
    let client = Client::builder()
        .app("mytool", "1.0")
        .env(Env::from_pairs(env))
        .enabled(false)
        .otel_sink(records.clone())
        .otel_metrics_sink(metrics.clone())
        .build();
    (client, records, metrics)
}

/// Several commands, tool calls (some failing), model turns of two models (one failing) and
/// sessions.
fn work(client: &Client) {
    for (i, fail) in [false, true, false].into_iter().enumerate() {
        let session = client.start_session("root", SessionId::new(format!("s{i}")));
        for (tool, ms, ok) in [("read_file", 3, true), ("list_directory", 40, !fail)] {
            let outcome = if ok {
                Outcome::Success
            } else {
                Outcome::failure("No such file (os error 2)")
            };
            let d = Duration::from_millis(ms);
            client.record_tool_call(tool, None, None, d, outcome);
        }
        let turn = client.model_turn("scripted", if i == 1 { "large" } else { "echo" });
        std::thread::sleep(Duration::from_millis(2));
        turn.finish(100 + i as u64, 25, 0.25);
        client.record_token_usage("echo", 7, 1, 0.5);
        if fail {
            let turn = client.model_turn("scripted", "echo");
            std::thread::sleep(Duration::from_millis(1));
            turn.fail("rate limited (429)");
        }
        drop(session);
    }
    let failed = Outcome::failure("boom");
    client.track(&telemetry_runtime::event::CommandEvent::new(
        "run",
        vec![],
        failed,
        Duration::from_millis(1234),
    ));
    client.track_command("list", ["--all"]);
}

/// (metric, attributes) → (count, sum): what the records say.
type Totals = BTreeMap<(String, String), (u64, f64)>;

/// A metric's name and its attributes as one sorted text (absent and empty values left out).
fn key(metric: &str, attrs: &[(&str, Value)]) -> (String, String) {
    let mut attrs: Vec<String> = attrs
        .iter()
        .filter(|(_, v)| !v.is_null() && *v != "")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    attrs.sort();
    (metric.to_owned(), attrs.join(","))
}

fn add(t: &mut Totals, metric: &str, attrs: &[(&str, Value)], v: f64) {
    let e = t.entry(key(metric, attrs)).or_default();
    e.0 += 1;
    e.1 += v;
}

fn error_type(p: &Value) -> Value {
    match p["error"].as_str() {
        None => Value::Null,
        Some("panicked") => "panic".into(),
        Some("cancelled") => "cancelled".into(),
        Some(_) => "_OTHER".into(),
    }
}

/// The totals the records of a run imply.
fn from_records(records: &[Value]) -> Totals {
    let mut t = Totals::new();
    for r in records {
        let p = &r["properties"];
        let secs = p["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
        match (r["event"].as_str().unwrap(), p["action"].as_str()) {
            ("command", _) => add(
                &mut t,
                "cli_telemetry.command.duration",
                &[
                    ("cli_telemetry.action", p["action"].clone()),
                    ("error.type", error_type(p)),
                ],
                secs,
            ),
            ("tool", _) => add(
                &mut t,
                "gen_ai.execute_tool.duration",
                &[
                    ("gen_ai.tool.name", p["tool_name"].clone()),
                    ("gen_ai.tool.type", "function".into()),
                    ("gen_ai.agent.name", p["agent_name"].clone()),
                    ("error.type", error_type(p)),
                ],
                secs,
            ),
            ("token", _) => {
                let provider = r["trace"]["provider"].clone();
                let failed = !r["trace"]["error"].is_null();
                let model = p["model_name"].clone();
                let base = |extra: (&'static str, Value)| {
                    vec![
                        ("gen_ai.operation.name", Value::from("chat")),
                        ("gen_ai.provider.name", provider.clone()),
                        ("gen_ai.request.model", model.clone()),
                        extra,
                    ]
                };
                let (start, end) = (&r["trace"]["start_ns"], &r["trace"]["end_ns"]);
                let nanos = end.as_u64().unwrap() - start.as_u64().unwrap();
                if nanos > 0 {
                    let error = if failed { "_OTHER".into() } else { Value::Null };
                    let attrs = base(("error.type", error));
                    add(
                        &mut t,
                        "gen_ai.client.operation.duration",
                        &attrs,
                        nanos as f64 / 1e9,
                    );
                }
                if failed {
                    // A failed turn reports its duration only.
                    continue;
                }
                for (kind, key) in [("input", "input_tokens"), ("output", "output_tokens")] {
                    let attrs = base(("gen_ai.token.type", kind.into()));
                    add(
                        &mut t,
                        "gen_ai.client.token.usage",
                        &attrs,
                        p[key].as_f64().unwrap(),
                    );
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
            ("session", Some("end")) => add(
                &mut t,
                "cli_telemetry.session.count",
                &[
                    ("gen_ai.agent.name", p["agent_name"].clone()),
                    ("cli_telemetry.is_success", p["is_success"].clone()),
                ],
                1.0,
            ),
            _ => {}
        }
    }
    t
}

/// The totals the metrics records say (a counter's point counts once, its value is the sum).
fn from_metrics(records: &[Value]) -> Totals {
    let mut t = Totals::new();
    for r in records {
        for m in r["properties"]["metrics"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            for p in m["points"].as_array().unwrap() {
                let attrs: Vec<(&str, Value)> = p["attributes"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                let (count, sum) = match m["kind"].as_str().unwrap() {
                    "histogram" => {
                        let buckets: u64 = p["buckets"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|n| n.as_u64().unwrap())
                            .sum();
                        assert_eq!(Some(buckets), p["count"].as_u64(), "{p}");
                        (p["count"].as_u64().unwrap(), p["sum"].as_f64().unwrap())
                    }
                    _ => (1, p["value"].as_f64().unwrap()),
                };
                let e = t.entry(key(name, &attrs)).or_default();
                assert_eq!(e.0, 0, "two points of one attribute set: {name} {attrs:?}");
                *e = (count, sum);
            }
        }
    }
    t
}

fn rounded(t: Totals, counters: bool) -> Vec<(String, String, u64, String)> {
    t.into_iter()
        .map(|((m, a), (n, s))| {
            let n = if counters && (m == "cli_telemetry.cost" || m == "cli_telemetry.session.count")
            {
                0
            } else {
                n
            };
            (m, a, n, format!("{s:.9}"))
        })
        .collect()
}

#[test]
fn the_metrics_record_says_exactly_what_the_runs_records_say() {
    for preference in ["", "delta", "cumulative"] {
        let (client, records, metrics) = client(&[(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            preference,
        )]);
        work(&client);
        assert!(metrics.is_empty(), "nothing before the last flush point");
        client.shutdown();
        let metrics = metrics.take();
        assert_eq!(metrics.len(), 1, "one record");
        let want = if preference == "cumulative" {
            "cumulative"
        } else {
            "delta"
        };
        assert_eq!(metrics[0]["properties"]["temporality"], want);
        let records = records.take();
        assert_eq!(records.len(), 21);
        assert_eq!(
            rounded(from_metrics(&metrics), true),
            rounded(from_records(&records), true),
            "{preference}"
        );
        // The counters: one point per attribute set, each the sum of its records.
        let sessions = from_metrics(&metrics)
            .into_iter()
            .filter(|((m, _), _)| m == "cli_telemetry.session.count")
            .map(|((_, a), (_, v))| (a, v))
            .collect::<Vec<_>>();
        assert_eq!(
            sessions,
            [
                (
                    "cli_telemetry.is_success=false,gen_ai.agent.name=\"root\"".to_owned(),
                    1.0
                ),
                (
                    "cli_telemetry.is_success=true,gen_ai.agent.name=\"root\"".to_owned(),
                    2.0
                )
            ]
        );
        let p = &metrics[0]["properties"];
        assert!(p["start_time_unix_nano"].as_u64() <= p["time_unix_nano"].as_u64());
    }
}

#[test]
fn reported_at_the_last_flush_points_only_and_never_when_nothing_was_recorded() {
    let (client, _records, metrics) = client(&[]);
    client.shutdown();
    {
        let _guard = client.flush_guard();
    }
    assert!(metrics.is_empty(), "nothing recorded: no metrics record");
    client.record_tool_call("t", None, None, Duration::ZERO, Outcome::Success);
    client.flush();
    let _ = client.start_session("a", SessionId::random());
    assert!(
        metrics.is_empty(),
        "flush() and a session's end are not the last flush point"
    );
    {
        let _guard = client.flush_guard();
    }
    assert_eq!(metrics.take().len(), 1, "the flush guard is");
    client.shutdown();
    assert!(metrics.is_empty(), "nothing new since: no second record");
    client.track_command("run", Vec::<String>::new());
    client.shutdown();
    let second = metrics.take();
    assert_eq!(second.len(), 1);
    let names: Vec<&str> = second[0]["properties"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["cli_telemetry.command.duration"],
        "delta: only what is new"
    );
}

#[test]
fn with_the_operators_stream_off_nothing_is_aggregated_or_reported() {
    for off in [
        [("TELEMETRY_OTEL", "0"), ("OTEL_SDK_DISABLED", "false")],
        [("TELEMETRY_OTEL", "1"), ("OTEL_SDK_DISABLED", "true")],
    ] {
        let (records, metrics) = (Records::default(), Records::default());
        let client = Client::builder()
            .env(Env::from_pairs(off))
            .sink(records.clone())
            .otel_metrics_sink(metrics.clone())
            .build();
        assert!(!client.is_otel_enabled());
        work(&client);
        client.shutdown();
        assert!(metrics.is_empty(), "{off:?}");
        assert_eq!(records.len(), 21, "the usage stream is untouched");
        assert!(client.traceparent().is_none());
    }
}

/// A client whose operator's stream is configured by `otel` only (the standard variables), in
/// `dir`.
fn wired(dir: &Path, otel: &[(&str, &str)]) -> Client {
    let mut pairs = vec![("TELEMETRY_OTEL", "1")];
    pairs.extend_from_slice(otel);
    Client::builder()
        .app("mytool", "1.0")
        .config_dir(dir)
        .enabled(false)
        .env(Env::from_pairs(pairs))
        .build()
}

/// The requests to `/v1/metrics`.
fn metrics_requests(c: &Collector) -> Vec<Request> {
    c.requests()
        .into_iter()
        .filter(|r| r.path == "/v1/metrics")
        .collect()
}

#[test]
fn metrics_go_to_their_own_endpoint_once_strictly_in_both_encodings_and_both_temporalities() {
    let collector = Collector::start();
    let base = collector.base_url();
    let mut bodies = Vec::new();
    for (protocol, preference, gzip) in [
        ("http/json", "delta", "none"),
        ("http/protobuf", "cumulative", "gzip"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let c = wired(
            dir.path(),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", gzip),
                (
                    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                    preference,
                ),
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OTEL_LOGS_EXPORTER", "none"),
            ],
        );
        let before = metrics_requests(&collector).len();
        work(&c);
        c.flush();
        assert_eq!(
            metrics_requests(&collector).len(),
            before,
            "not before the last flush point"
        );
        c.shutdown();
        c.shutdown();
        let sent = metrics_requests(&collector);
        assert_eq!(sent.len(), before + 1, "one request, sent once");
        let r = sent.last().unwrap();
        assert!(r.is_accepted());
        let want = if protocol == "http/json" {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        assert_eq!(r.header("content-type"), Some(want));
        assert_eq!(r.header("content-encoding").is_some(), gzip == "gzip");
        assert_eq!(lines(&dir.path().join(OTEL_METRICS_OUTBOX_FILE)), 0);
        bodies.push(r.body.clone());
        let shown = c.status().to_string();
        assert!(shown.contains("metrics:      otlp"), "{shown}");
    }
    let args = ["--signal", "metrics", "--print-json"];
    let Some(result) = otlp_check::check_bodies(&bodies, &args) else {
        return;
    };
    assert!(result.passed, "{result:?}");
    let parsed: Vec<Value> = serde_json::from_str(result.stdout.lines().nth(1).unwrap()).unwrap();
    for (body, temporality) in parsed.iter().zip([1, 2]) {
        let scopes = body["resourceMetrics"][0]["scopeMetrics"]
            .as_array()
            .unwrap();
        assert_eq!(scopes.len(), 1, "one record");
        let names: Vec<&str> = scopes[0]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "gen_ai.client.token.usage",
                "gen_ai.client.operation.duration",
                "gen_ai.execute_tool.duration",
                "cli_telemetry.command.duration",
                "cli_telemetry.cost",
                "cli_telemetry.session.count"
            ]
        );
        for m in scopes[0]["metrics"].as_array().unwrap() {
            let data = m.get("histogram").or(m.get("sum")).unwrap();
            assert_eq!(data["aggregationTemporality"], temporality);
        }
    }
}

#[test]
fn none_exports_no_metrics_and_nothing_recorded_sends_nothing() {
    let collector = Collector::start();
    let base = collector.base_url();
    let dir = tempfile::tempdir().unwrap();
    let off = wired(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    );
    work(&off);
    off.shutdown();
    assert!(metrics_requests(&collector).is_empty());
    assert!(!dir.path().join(OTEL_METRICS_OUTBOX_FILE).exists());
    let shown = off.status().to_string();
    assert!(
        shown.contains("metrics:      off (OTEL_METRICS_EXPORTER)"),
        "{shown}"
    );

    let before = collector.requests().len();
    let idle = wired(dir.path(), &[("OTEL_EXPORTER_OTLP_ENDPOINT", &base)]);
    idle.shutdown();
    {
        let _guard = idle.flush_guard();
    }
    assert_eq!(
        collector.requests().len(),
        before,
        "a process that records nothing sends nothing"
    );
}

#[test]
fn the_console_exporter_prints_the_metrics_request_in_strict_otlp_json() {
    let out = DebugBuffer::default();
    let dir = tempfile::tempdir().unwrap();
    let pairs = [
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_METRICS_EXPORTER", "console"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ];
    let c = Client::builder()
        .app("mytool", "1.0")
        .config_dir(dir.path())
        .enabled(false)
        .env(Env::from_pairs(pairs))
        .debug_output(out.writer())
        .build();
    work(&c);
    assert!(out.text().is_empty());
    c.shutdown();
    let text = out.text();
    let bodies: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
    assert_eq!(bodies.len(), 1, "{text}");
    if let Some(r) = otlp_check::check_bodies(&bodies, &["--signal", "metrics"]) {
        assert!(r.passed, "{r:?}");
    }
}

#[test]
fn a_metrics_record_waits_out_an_outage_and_leaves_once_on_a_later_run() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_endpoint();
    let only = |endpoint: &str| {
        wired(
            dir.path(),
            &[
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OTEL_LOGS_EXPORTER", "none"),
            ],
        )
    };
    let down = only(&dead);
    work(&down);
    down.shutdown();
    assert_eq!(lines(&dir.path().join(OTEL_METRICS_OUTBOX_FILE)), 1);
    let up = Collector::start();
    let endpoint = format!("{}/v1/metrics", up.base_url());
    let again = only(&endpoint);
    again.track_command("run", Vec::<String>::new());
    again.shutdown();
    let requests = metrics_requests(&up);
    let ids: Vec<String> = requests
        .iter()
        .flat_map(|r| {
            let body = r.json();
            body["resourceMetrics"][0]["scopeMetrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["metrics"][0]["metadata"][0]["value"]["stringValue"].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids.len(), 2, "both runs' records: {ids:?}");
    assert_ne!(ids[0], ids[1]);
    assert_eq!(lines(&dir.path().join(OTEL_METRICS_OUTBOX_FILE)), 0);
    again.shutdown();
    assert_eq!(metrics_requests(&up).len(), requests.len(), "sent once");
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn a_failed_model_turn_is_an_error_span_and_a_duration_with_its_error_type() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = wired(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.base_url()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    );
    let turn = c.model_turn("openai", "gpt-4o");
    std::thread::sleep(Duration::from_millis(2));
    turn.fail("quota of jane@example.com exceeded (429)");
    c.shutdown();
    let requests = collector.requests();
    let at = |path: &str| -> Vec<Vec<u8>> {
        requests
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.body.clone())
            .collect()
    };
    let (traces, metrics) = (at("/v1/traces"), at("/v1/metrics"));
    assert_eq!((traces.len(), metrics.len()), (1, 1));
    let Some(checked) = otlp_check::check_bodies(&traces, &["--signal", "traces"]) else {
        return;
    };
    assert!(checked.passed, "{checked:?}");
    let body: Value = serde_json::from_slice(&traces[0]).unwrap();
    let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["name"], "chat gpt-4o");
    assert_eq!(span["status"]["code"], 2);
    let message = span["status"]["message"].as_str().unwrap();
    assert!(message.contains("exceeded (429)"), "{message}");
    assert!(!message.contains("jane@example.com"), "scrubbed: {message}");
    let attr = |key: &str| {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == key)
            .map(|kv| kv["value"].clone())
    };
    assert_eq!(
        attr("error.type"),
        Some(serde_json::json!({"stringValue": "_OTHER"}))
    );

    let Some(checked) = otlp_check::check_bodies(&metrics, &["--signal", "metrics"]) else {
        return;
    };
    assert!(checked.passed, "{checked:?}");
    let body: Value = serde_json::from_slice(&metrics[0]).unwrap();
    let names: Vec<&str> = body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["gen_ai.client.operation.duration"],
        "no token usage or cost for a failed turn"
    );
    let metric = &body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
    let point = &metric["histogram"]["dataPoints"][0];
    assert_eq!(point["count"], "1");
    let start: u64 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u64 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let seconds = point["sum"].as_f64().unwrap();
    assert!(
        (seconds - (end - start) as f64 / 1e9).abs() < 1e-9,
        "{seconds}"
    );
    let keys: Vec<(String, String)> = point["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let v = kv["value"]["stringValue"].as_str().unwrap_or_default();
            (kv["key"].as_str().unwrap().to_owned(), v.to_owned())
        })
        .collect();
    assert!(
        keys.contains(&("error.type".into(), "_OTHER".into())),
        "{keys:?}"
    );
    assert!(
        keys.contains(&("gen_ai.provider.name".into(), "openai".into())),
        "{keys:?}"
    );
}

#[test]
fn the_metrics_signal_has_its_own_headers_and_timeout() {
    let traces = Collector::start();
    let metrics = Collector::start();
    metrics.set_delay(Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let traces_url = format!("{}/v1/traces", traces.base_url());
    let metrics_url = format!("{}/v1/metrics", metrics.base_url());
    let c = wired(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces_url),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &metrics_url),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=general,x-tenant=t1",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
                "authorization=metrics%20only",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "20000"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "300"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    );
    c.track_command("run", Vec::<String>::new());
    let started = std::time::Instant::now();
    c.shutdown();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(2),
        "the metrics' 300 ms, not the general 20 s nor the receiver's 3 s: {waited:?}"
    );
    let sent = metrics_requests(&metrics);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("authorization"), Some("metrics only"));
    assert_eq!(sent[0].header("x-tenant"), Some("t1"));
    assert_eq!(
        lines(&dir.path().join(OTEL_METRICS_OUTBOX_FILE)),
        1,
        "not answered in time: it waits in the outbox"
    );
    let spans: Vec<Request> = traces.requests();
    assert!(!spans.is_empty());
    for r in &spans {
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(r.header("authorization"), Some("general"));
        assert!(r.is_accepted());
    }
}
