//! Tests of the OTLP metrics encoding: every body strictly parsed by the OpenTelemetry
//! project's own definitions (Python `opentelemetry-proto`), JSON and protobuf decoding to
//! equal messages, and the numbers in the points exactly those measured.

use serde_json::Value;

use super::OtlpProtocol;
use super::otlp_check::check_bodies;
use super::otlp_common::{OtlpResource, Pieces};
use super::otlp_metrics::{encode_for_tests, write_request};
use super::otlp_wire::JsonWire;
use crate::limits::MAX_BODY_BYTES;
use crate::metrics::{Measure, Metrics, Temporality};

fn pieces(protocol: OtlpProtocol) -> Pieces {
    let resource = OtlpResource::new("cagent", "1.2.3", &[("team".into(), "a\"b".into())]);
    Pieces::new(&resource, protocol)
}

/// A process's measurements: three tool calls (one failing, one panicking), two turns of
/// two models, a command and two sessions; awkward strings included.
fn measured(temporality: Temporality) -> Metrics {
    let m = Metrics::new(temporality);
    let tools = [
        ("read_file", 12, None),
        ("read_file", 130, Some("No such file")),
        ("list \"dir\"\t✓", 0, Some("panicked")),
    ];
    for (tool, millis, error) in tools {
        m.measure(Measure::Tool {
            tool,
            agent: "root",
            millis,
            error,
        });
    }
    for (model, input, output, cost, nanos) in [
        ("echo", 120, 30, 0.0012, Some(25_000_000)),
        ("echo", 5000, 70_000_000, 0.5, Some(90_000_000_000)),
        ("large", 1, 0, 0.0, None),
    ] {
        m.measure(Measure::Turn {
            model,
            provider: Some("scripted"),
            input,
            output,
            cost,
            nanos,
            error: None,
        });
    }
    m.measure(Measure::Turn {
        model: "echo",
        provider: Some("scripted"),
        input: 0,
        output: 0,
        cost: 0.0,
        nanos: Some(3_000_000),
        error: Some("rate limited"),
    });
    m.measure(Measure::Command {
        action: "run",
        millis: 700_000,
        error: None,
    });
    m.measure(Measure::SessionEnd {
        agent: "root",
        success: false,
    });
    m.measure(Measure::SessionEnd {
        agent: "root",
        success: false,
    });
    m
}

fn report(m: &Metrics) -> Vec<String> {
    m.report("cagent", &|s: &str| s.to_owned())
}

/// The points of metric `name` in one scope (one record) of a parsed request (canonical
/// JSON).
fn points<'a>(scope: &'a Value, name: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for metric in scope["metrics"].as_array().unwrap() {
        if metric["name"] == name {
            let data = metric.get("histogram").or(metric.get("sum")).unwrap();
            out.extend(data["dataPoints"].as_array().unwrap());
        }
    }
    out
}

fn attr<'a>(point: &'a Value, key: &str) -> Option<&'a Value> {
    point["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

fn find<'a>(points: &[&'a Value], key: &str, value: &str) -> Vec<&'a Value> {
    points
        .iter()
        .copied()
        .filter(|p| attr(p, key).and_then(|v| v["stringValue"].as_str()) == Some(value))
        .collect()
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_f64().unwrap(),
    }
}

#[test]
fn both_encodings_pass_the_reference_definitions_and_carry_exactly_what_was_measured() {
    for temporality in [Temporality::Delta, Temporality::Cumulative] {
        let m = measured(temporality);
        let mut lines = report(&m);
        // A second report of the same process, then a garbage line: both in one request.
        m.measure(Measure::Command {
            action: "run",
            millis: 5,
            error: Some("cancelled"),
        });
        lines.extend(report(&m));
        assert_eq!(lines.len(), 2);
        let json = encode_for_tests(&pieces(OtlpProtocol::Json), OtlpProtocol::Json, &lines);
        let proto = encode_for_tests(
            &pieces(OtlpProtocol::Protobuf),
            OtlpProtocol::Protobuf,
            &lines,
        );
        let args = ["--signal", "metrics", "--pairs", "--print-json"];
        let Some(result) = check_bodies(&[json, proto], &args) else {
            return;
        };
        assert!(result.passed, "{}\n{}", result.stdout, result.stderr);
        let parsed: Vec<Value> =
            serde_json::from_str(result.stdout.lines().nth(1).unwrap()).unwrap();
        let request = &parsed[1];
        let scopes = request["resourceMetrics"][0]["scopeMetrics"]
            .as_array()
            .unwrap();
        assert_eq!(scopes.len(), 2, "one scope per record");
        let want_temporality = match temporality {
            Temporality::Delta => 1,
            Temporality::Cumulative => 2,
        };
        for metric in scopes[0]["metrics"].as_array().unwrap() {
            let data = metric.get("histogram").or(metric.get("sum")).unwrap();
            assert_eq!(data["aggregationTemporality"], want_temporality);
        }

        let first = &scopes[0];
        let usage = points(first, "gen_ai.client.token.usage");
        let first_usage = &usage[..];
        let input = find(first_usage, "gen_ai.token.type", "input");
        let echo_in = find(&input, "gen_ai.request.model", "echo");
        assert_eq!(echo_in.len(), 1);
        assert_eq!(num(&echo_in[0]["count"]), 2.0);
        assert_eq!(num(&echo_in[0]["sum"]), 5120.0);
        let outputs = find(first_usage, "gen_ai.token.type", "output");
        let echo_out = find(&outputs, "gen_ai.request.model", "echo");
        assert_eq!(num(&echo_out[0]["sum"]), 70_000_030.0);
        let counts: Vec<f64> = echo_out[0]["bucketCounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(num)
            .collect();
        // 30 is in (16, 64]; 70 000 000 is above 67 108 864: the last bucket.
        assert_eq!((counts[3], counts[14]), (1.0, 1.0));
        assert_eq!(counts.iter().sum::<f64>(), num(&echo_out[0]["count"]));
        assert_eq!(echo_out[0]["explicitBounds"].as_array().unwrap().len(), 14);
        for p in &usage {
            assert_eq!(
                attr(p, "gen_ai.operation.name").unwrap()["stringValue"],
                "chat"
            );
            assert_eq!(
                attr(p, "gen_ai.provider.name").unwrap()["stringValue"],
                "scripted"
            );
        }

        let durations = points(first, "gen_ai.client.operation.duration");
        let total: f64 = durations.iter().map(|p| num(&p["count"])).sum();
        assert_eq!(total, 3.0, "the turn without a duration has no point");
        let echo = find(&durations, "gen_ai.request.model", "echo");
        assert_eq!(echo.len(), 2, "the failed turn is a series of its own");
        let failed = find(&echo, "error.type", "_OTHER");
        assert_eq!(
            (num(&failed[0]["count"]), num(&failed[0]["sum"])),
            (1.0, 0.003)
        );
        let ok: Vec<&Value> = echo
            .iter()
            .copied()
            .filter(|p| attr(p, "error.type").is_none())
            .collect();
        assert!((num(&ok[0]["sum"]) - 90.025).abs() < 1e-9);
        assert_eq!(num(&ok[0]["min"]), 0.025);

        let tools = points(first, "gen_ai.execute_tool.duration");
        let read_file = find(&tools, "gen_ai.tool.name", "read_file");
        assert_eq!(read_file.len(), 2, "success and failure are two series");
        let failed = find(&read_file, "error.type", "_OTHER");
        assert_eq!(num(&failed[0]["sum"]), 0.13);
        let panicked = find(&tools, "error.type", "panic");
        assert_eq!(
            attr(panicked[0], "gen_ai.tool.name").unwrap()["stringValue"],
            "list \"dir\"\t✓"
        );

        let commands = points(first, "cli_telemetry.command.duration");
        assert_eq!(commands.len(), 1);
        assert_eq!(num(&commands[0]["sum"]), 700.0);
        let buckets = commands[0]["bucketCounts"].as_array().unwrap();
        assert_eq!(num(&buckets[17]), 1.0, "700 s is above the last boundary");
        let later = points(&scopes[1], "cli_telemetry.command.duration");
        assert_eq!(find(&later, "error.type", "cancelled").len(), 1);
        let later_tools = points(&scopes[1], "gen_ai.execute_tool.duration").len();
        match temporality {
            Temporality::Delta => assert_eq!((later.len(), later_tools), (1, 0)),
            Temporality::Cumulative => assert_eq!((later.len(), later_tools), (2, 3)),
        }

        let cost = points(first, "cli_telemetry.cost");
        let echo_cost = find(&cost, "gen_ai.request.model", "echo");
        assert_eq!(num(&echo_cost[0]["asDouble"]), 0.5012);
        let sessions = points(first, "cli_telemetry.session.count");
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["asInt"], "2");
        assert_eq!(
            attr(sessions[0], "cli_telemetry.is_success").unwrap()["boolValue"],
            false
        );
        let starts: Vec<&Value> = scopes
            .iter()
            .map(|s| &s["metrics"][0])
            .map(|m| &m.get("histogram").or(m.get("sum")).unwrap()["dataPoints"][0])
            .collect();
        let (s0, t0) = (
            num(&starts[0]["startTimeUnixNano"]),
            num(&starts[0]["timeUnixNano"]),
        );
        let s1 = num(&starts[1]["startTimeUnixNano"]);
        match temporality {
            Temporality::Delta => {
                assert_eq!(s1, t0, "the second window starts where the first ended")
            }
            Temporality::Cumulative => assert_eq!(s1, s0, "cumulative points start when built"),
        }
    }
}

#[test]
fn lines_that_are_no_metrics_records_are_skipped_and_the_limit_holds() {
    let lines = report(&measured(Temporality::Delta));
    let mut batch = vec!["{\"event\":\"tool\"}".to_owned()];
    batch.extend(lines.iter().cloned());
    batch.extend(lines.iter().cloned());
    let mut w = JsonWire::message(64);
    let n = write_request(
        &mut w,
        &pieces(OtlpProtocol::Json),
        &batch,
        7,
        MAX_BODY_BYTES,
    );
    assert_eq!((n.written, n.skipped, n.taken), (2, 1, 3));
    let body: Value = serde_json::from_slice(&w.finish()).unwrap();
    let metadata = &body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["metadata"];
    assert_eq!(metadata[1]["key"], "cli_telemetry.dropped_records");
    assert_eq!(metadata[1]["value"]["intValue"], "7");
    let uid = &metadata[0]["value"]["stringValue"];
    let record: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(*uid, record["properties"]["event_id"]);

    let one = {
        let mut w = JsonWire::message(64);
        write_request(
            &mut w,
            &pieces(OtlpProtocol::Json),
            &lines[..1],
            0,
            MAX_BODY_BYTES,
        );
        w.finish().len()
    };
    let mut w = JsonWire::message(64);
    let n = write_request(
        &mut w,
        &pieces(OtlpProtocol::Json),
        &batch[1..],
        0,
        one + 10,
    );
    assert_eq!(
        (n.written, n.taken),
        (1, 1),
        "the second record waits for the next request"
    );
    let mut w = JsonWire::message(64);
    let n = write_request(&mut w, &pieces(OtlpProtocol::Json), &batch[1..], 0, 100);
    assert_eq!(
        (n.written, n.too_large, n.taken),
        (0, 2, 2),
        "each alone over the limit"
    );
}
