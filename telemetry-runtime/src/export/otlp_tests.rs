//! Tests of the OTLP exporter: the mapping of every event kind (against an independent
//! map-based statement of OTLP_MAPPING.md), the strict check of bodies sent to a real
//! loopback server, skipped lines, dropped counts, the resource, answers and configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use telemetry_test_collector::Collector;

use super::otlp_check::check_bodies;
use super::otlp_common::OtlpResource;
use super::{
    Answer, Encoded, Otlp, OtlpCompression, OtlpProtocol, Verdict, WireFormat, otlp_resource,
};
use crate::config::Env;
use crate::event::{CommandEvent, EventKind};
use crate::{Client, Event, Outcome, testing};

/// An application event with every JSON type and the property names that could collide.
struct Odd;

impl Event for Odd {
    fn kind(&self) -> EventKind {
        EventKind::Command
    }
    fn properties(&self) -> Map<String, Value> {
        let v = json!({
            "action": "odd", "nested": {"a": [1, null, true], "b": {"c": 1.5}},
            "big": u64::MAX, "neg": -5, "nothing": null, "source": "spoof",
            "errors": ["x"], "dropped_records": 3, "quote\"key\n": "v\u{1}", "empty": [],
        });
        v.as_object().cloned().unwrap_or_default()
    }
}

/// The canonical lines of a run: every event kind, successes and failures, tags.
fn run_records() -> Vec<String> {
    let env = Env::from_pairs([("TELEMETRY_TAGS", "team=infra,contact=jane@example.com")]);
    let (client, records) =
        testing::capture_client(Client::builder().app("cagent", "1.2.3").env(env));
    client.track_command("build", ["--release"]);
    let fail = Outcome::failure("disk full, ask jane@example.com");
    client.track(&CommandEvent::new(
        "deploy",
        vec![],
        fail,
        Duration::from_millis(42),
    ));
    let session = client.start_session("coder", "sess-1");
    let ms = Duration::from_millis(7);
    client.record_tool_call("read_file", None, None, ms, Outcome::Success);
    client.record_tool_call("shell", None, None, ms, Outcome::failure("panicked"));
    client.record_tool_call("fetch", None, None, ms, Outcome::failure("cancelled"));
    client.record_token_usage("gpt-x", 120, 30, 0.0125);
    client.record_error("boom");
    session.finish(&Outcome::Success);
    client.track(&Odd);
    records.take_json()
}

fn resource() -> OtlpResource {
    OtlpResource::new(
        "cagent",
        "1.2.3",
        &[("deployment.environment".into(), "ci".into())],
    )
}

/// The exporter in OTLP's JSON mapping, uncompressed (what the mapping tests read).
fn json_otlp() -> Otlp {
    Otlp::new(&resource(), OtlpProtocol::Json, OtlpCompression::None)
}

/// Every protocol and compression.
pub(super) const EVERY_ENCODING: [(OtlpProtocol, OtlpCompression); 4] = [
    (OtlpProtocol::Protobuf, OtlpCompression::None),
    (OtlpProtocol::Protobuf, OtlpCompression::Gzip),
    (OtlpProtocol::Json, OtlpCompression::None),
    (OtlpProtocol::Json, OtlpCompression::Gzip),
];

fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("the body is JSON")
}

fn log_records(body: &Value) -> &Vec<Value> {
    body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        .as_array()
        .expect("logRecords")
}

/// A record's attributes by key; fails on a duplicate key.
fn attributes(log: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for kv in log["attributes"].as_array().expect("attributes") {
        let key = kv["key"].as_str().expect("key").to_owned();
        assert!(
            out.insert(key.clone(), kv["value"].clone()).is_none(),
            "duplicate {key}"
        );
    }
    out
}

/// OTLP_MAPPING.md's value types.
fn any(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.as_i64().is_some() => json!({ "intValue": n.to_string() }),
        Value::Number(_) => json!({ "doubleValue": v }),
        Value::Array(a) => json!({"arrayValue": {"values": a.iter().map(any).collect::<Vec<_>>()}}),
        Value::Object(m) => {
            let kvs: Vec<Value> = m
                .iter()
                .map(|(k, v)| json!({"key": k, "value": any(v)}))
                .collect();
            json!({"kvlistValue": {"values": kvs}})
        }
        Value::Null => json!({}),
    }
}

/// OTLP_MAPPING.md's attribute table, stated as a map.
fn expected_attributes(rec: &Value) -> BTreeMap<String, Value> {
    let props = rec["properties"].as_object().expect("properties");
    let named = BTreeMap::from([
        ("event_id", "log.record.uid"),
        ("user_uuid", "enduser.pseudo.id"),
        ("session_id", "session.id"),
        ("agent_name", "gen_ai.agent.name"),
        ("tool_name", "gen_ai.tool.name"),
        ("model_name", "gen_ai.request.model"),
        ("input_tokens", "gen_ai.usage.input_tokens"),
        ("output_tokens", "gen_ai.usage.output_tokens"),
    ]);
    let mut m = BTreeMap::from([("cli_telemetry.source".to_owned(), any(&rec["source"]))]);
    let error_array = props.get("error").is_some_and(Value::is_array);
    for (k, v) in props {
        let name = match (k.as_str(), v) {
            ("error", Value::String(s)) => {
                let t = match s.as_str() {
                    "panicked" => "panic",
                    "cancelled" => "cancelled",
                    _ => "_OTHER",
                };
                m.insert("error.type".into(), json!({ "stringValue": t }));
                "error.message".to_owned()
            }
            ("error", Value::Array(a)) => {
                if !a.is_empty() {
                    m.insert("error.type".into(), json!({"stringValue": "_OTHER"}));
                }
                "cli_telemetry.errors".to_owned()
            }
            ("source", _) => continue,
            ("errors", _) if error_array => continue,
            (k, _) => named
                .get(k)
                .map_or_else(|| format!("cli_telemetry.{k}"), |n| (*n).to_owned()),
        };
        m.insert(name, any(v));
    }
    let op = match rec["event"].as_str() {
        Some("tool") => Some("execute_tool"),
        Some("token") => Some("chat"),
        _ => None,
    };
    if let Some(op) = op {
        m.insert("gen_ai.operation.name".into(), json!({ "stringValue": op }));
    }
    m
}

#[test]
fn every_record_maps_field_by_field() {
    let lines = run_records();
    assert_eq!(lines.len(), 9, "{lines:#?}");
    let body = body_json(&json_otlp().encode(&lines, 0));
    let logs = log_records(&body);
    assert_eq!(
        logs.len(),
        lines.len(),
        "one LogRecord per record, none dropped"
    );
    for (line, log) in lines.iter().zip(logs) {
        let rec: Value = serde_json::from_str(line).unwrap();
        assert_eq!(attributes(log), expected_attributes(&rec), "{line}");
        let nanos = (rec["event_timestamp"].as_u64().unwrap() * 1_000_000).to_string();
        assert_eq!(log["timeUnixNano"], json!(nanos));
        assert_eq!(log["observedTimeUnixNano"], json!(nanos));
        let ok = rec["properties"]["is_success"] != json!(false);
        assert_eq!(
            log["severityNumber"],
            json!(if ok { 9 } else { 17 }),
            "{line}"
        );
        assert_eq!(
            log["severityText"],
            json!(if ok { "INFO" } else { "ERROR" })
        );
        let event = rec["event"].as_str().unwrap();
        let name = match (event, rec["properties"]["action"].as_str()) {
            ("session", Some(a)) => format!("session.{a}"),
            _ => format!("cli_telemetry.{event}"),
        };
        assert_eq!(log["eventName"], json!(name));
    }
}

#[test]
fn semantic_convention_names_spelled_out() {
    let body = body_json(&json_otlp().encode(&run_records(), 0));
    let logs = log_records(&body);
    let by_tool = |t: &str| {
        let log = logs
            .iter()
            .find(|l| attributes(l).get("gen_ai.tool.name") == Some(&json!({ "stringValue": t })))
            .expect("tool record");
        attributes(log)
    };
    assert_eq!(
        by_tool("shell")["error.type"],
        json!({"stringValue": "panic"})
    );
    assert_eq!(
        by_tool("fetch")["error.type"],
        json!({"stringValue": "cancelled"})
    );
    assert_eq!(
        by_tool("read_file")["gen_ai.operation.name"],
        json!({"stringValue": "execute_tool"})
    );
    let token = attributes(&logs[6]);
    assert_eq!(
        token["gen_ai.usage.input_tokens"],
        json!({"intValue": "120"})
    );
    assert_eq!(
        token["gen_ai.usage.output_tokens"],
        json!({"intValue": "30"})
    );
    assert_eq!(token["cli_telemetry.cost"], json!({"doubleValue": 0.0125}));
    assert_eq!(logs[7]["eventName"], "session.end");
    assert_eq!(
        attributes(&logs[7])["error.type"],
        json!({"stringValue": "_OTHER"})
    );
    let tags = attributes(&logs[0]);
    assert_eq!(tags["cli_telemetry.team"], json!({"stringValue": "infra"}));
    assert_eq!(
        tags["cli_telemetry.contact"],
        json!({"stringValue": "<email>"})
    );
}

#[test]
fn the_body_has_one_resource_and_this_crates_scope() {
    let body = body_json(&json_otlp().encode(&run_records()[..1], 0));
    let rl = &body["resourceLogs"];
    assert_eq!(rl.as_array().map(Vec::len), Some(1));
    let res = attributes(&rl[0]["resource"]);
    assert_eq!(res["service.name"], json!({"stringValue": "cagent"}));
    assert_eq!(res["service.version"], json!({"stringValue": "1.2.3"}));
    assert_eq!(
        res["telemetry.sdk.name"],
        json!({"stringValue": "cli-telemetry"})
    );
    assert_eq!(
        res["telemetry.sdk.language"],
        json!({"stringValue": "rust"})
    );
    assert_eq!(res["deployment.environment"], json!({"stringValue": "ci"}));
    let scope = &rl[0]["scopeLogs"][0]["scope"];
    assert_eq!(scope["name"], "cli-telemetry");
    assert_eq!(scope["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json_otlp().content_type(), "application/json");
}

#[test]
fn lines_that_are_not_records_are_skipped_and_counted() {
    let good = run_records().remove(0);
    let lines: Vec<String> = [
        "not json",
        "[1,2]",
        r#"{"event":"tool","properties":{}}"#,
        r#"{"event":"tool","event_timestamp":-1,"properties":{}}"#,
        r#"{"event":"tool","event_timestamp":18446744073709551,"properties":{}}"#,
        r#"{"event":"tool","event_timestamp":1,"properties":[]}"#,
        r#"{"event":7,"event_timestamp":1,"properties":{}}"#,
        good.as_str(),
    ]
    .map(str::to_owned)
    .into();
    let enc = json_otlp().encode_counted(&lines, 4);
    assert_eq!(enc.skipped, 7);
    assert!(enc.carried_dropped);
    let body = body_json(&enc.body);
    let logs = log_records(&body);
    assert_eq!(logs.len(), 1);
    assert_eq!(
        attributes(&logs[0])["cli_telemetry.dropped_records"],
        json!({"intValue": "4"})
    );
    let none = json_otlp().encode_counted(&lines[..2], 4);
    assert_eq!((none.skipped, none.carried_dropped), (2, false));
    assert!(log_records(&body_json(&none.body)).is_empty());
}

#[test]
fn the_dropped_count_travels_on_the_first_record_only_and_replaces_a_property() {
    let mut lines = run_records();
    let odd = lines.pop().unwrap();
    lines.insert(0, odd);
    let body = body_json(&json_otlp().encode(&lines, 9));
    let logs = log_records(&body);
    assert_eq!(
        attributes(&logs[0])["cli_telemetry.dropped_records"],
        json!({"intValue": "9"})
    );
    assert!(
        logs[1..]
            .iter()
            .all(|l| !attributes(l).contains_key("cli_telemetry.dropped_records"))
    );
    let plain = body_json(&json_otlp().encode(&lines, 0));
    assert_eq!(
        attributes(&log_records(&plain)[0])["cli_telemetry.dropped_records"],
        json!({"intValue": "3"})
    );
}

/// Sends each body to a real HTTP server on 127.0.0.1 with `otlp`'s headers and returns the
/// bodies it received, checking the headers it received.
fn through_loopback(otlp: &Otlp, bodies: &[Encoded]) -> Vec<Vec<u8>> {
    let collector = Collector::start();
    let url = format!("{}/v1/logs", collector.base_url());
    for body in bodies {
        let mut req = ureq::post(&url).header("Content-Type", otlp.content_type());
        if let Some(encoding) = body.content_encoding {
            req = req.header("Content-Encoding", encoding);
        }
        let answer = req.send(&body.body[..]).expect("loopback POST");
        assert_eq!(answer.status().as_u16(), 200);
    }
    let requests = collector.requests();
    assert_eq!(requests.len(), bodies.len());
    for (r, sent) in requests.iter().zip(bodies) {
        assert_eq!(
            (r.path.as_str(), r.header("content-type")),
            ("/v1/logs", Some(otlp.content_type()))
        );
        assert_eq!(r.header("content-encoding"), sent.content_encoding);
    }
    requests.into_iter().map(|r| r.body).collect()
}

#[test]
fn bodies_sent_over_http_pass_the_opentelemetry_definitions_strictly() {
    let lines = run_records();
    let env = Env::from_pairs([
        ("OTEL_SERVICE_NAME", "svc"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "host.arch=amd64,team=a%2Cb,service.name=nope",
        ),
    ]);
    let (res, _) = otlp_resource(&env, "cagent", "1.2.3");
    let mut junk = lines.clone();
    junk.insert(1, "garbage".into());
    let mut received = Vec::new();
    for (protocol, compression) in EVERY_ENCODING {
        let otlp = Otlp::new(&res, protocol, compression);
        let sent = [
            otlp.encode_counted(&lines, 0),
            otlp.encode_counted(&lines[2..5], 12),
            otlp.encode_counted(&junk, 0),
            otlp.encode_counted(&[], 0),
        ];
        let got = through_loopback(&otlp, &sent);
        assert!(got.iter().zip(&sent).all(|(g, s)| *g == s.body));
        received.extend(got);
    }
    let events = [
        "session.start",
        "session.end",
        "cli_telemetry.command",
        "cli_telemetry.tool",
        "cli_telemetry.token",
    ];
    let mut args = vec!["--min-records", "84"];
    for e in events {
        args.extend(["--require-event", e]);
    }
    let Some(result) = check_bodies(&received, &args) else {
        return;
    };
    assert!(result.passed, "{result:?}");
    assert!(
        result.stdout.contains("\"records\": 84")
            && result
                .stdout
                .contains(r#""encodings": {"protobuf": 8, "gzip": 8, "json": 8}"#),
        "{}",
        result.stdout
    );
}

#[test]
fn the_strict_check_refuses_a_broken_encoding() {
    // The same body with one 64-bit integer written as a JSON number, as a naive encoder
    // would: the check must see it.
    let body = String::from_utf8(json_otlp().encode(&run_records()[..1], 0)).unwrap();
    let broken = body
        .replacen("\"timeUnixNano\":\"", "\"timeUnixNano\":", 1)
        .replacen("000000\",\"observed", "000000,\"observed", 1);
    assert_ne!(broken, body);
    let Some(result) = check_bodies(&[broken.into_bytes()], &[]) else {
        return;
    };
    assert!(!result.passed, "{result:?}");
    assert!(result.stderr.contains("timeUnixNano"), "{}", result.stderr);
}

fn judged(status: u16, body: &str) -> Verdict {
    let retry_after = Some(Duration::from_secs(3));
    let answer = Answer {
        status,
        body: body.as_bytes(),
        retry_after,
        content_type: None,
    };
    json_otlp().judge(&answer)
}

#[test]
fn answers_follow_the_otlp_http_specification() {
    let delivered = |rejected, message: Option<&str>| Verdict::Delivered {
        rejected,
        message: message.map(str::to_owned),
    };
    assert_eq!(judged(200, ""), delivered(0, None));
    assert_eq!(judged(200, "{}"), delivered(0, None));
    assert_eq!(judged(204, "<html>"), delivered(0, None));
    assert_eq!(judged(200, r#"{"partialSuccess":{}}"#), delivered(0, None));
    let partial = r#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"too big"}}"#;
    assert_eq!(judged(200, partial), delivered(3, Some("too big")));
    let numeric = r#"{"partialSuccess":{"rejectedLogRecords":2}}"#;
    assert_eq!(judged(202, numeric), delivered(2, None));
    let warning = r#"{"partialSuccess":{"errorMessage":"deprecated field"}}"#;
    assert_eq!(judged(200, warning), delivered(0, Some("deprecated field")));
    assert_eq!(
        judged(200, &partial[..40]),
        delivered(0, None),
        "a cut body is a success"
    );
    for s in [429, 502, 503, 504] {
        let v = judged(s, "");
        assert!(
            matches!(v, Verdict::Retry { after: Some(d), .. } if d == Duration::from_secs(3)),
            "{s}: {v:?}"
        );
    }
    for s in [400, 401, 403, 404, 413, 500, 501, 505, 599, 301] {
        assert!(matches!(judged(s, ""), Verdict::Refused { .. }), "{s}");
    }
    let why = match judged(400, r#"{"code":3,"message":"bad field"}"#) {
        Verdict::Refused { why } => why,
        other => panic!("{other:?}"),
    };
    assert!(why.contains("400") && why.contains("bad field"), "{why}");
}

/// The operator's own values go as given (issue 21), only capped.
#[test]
fn any_cut_or_corrupted_line_is_skipped_or_encoded_as_valid_json() {
    let otlp = json_otlp();
    for line in run_records() {
        let cuts = (0..line.len()).filter(|&i| line.is_char_boundary(i));
        let mut variants: Vec<String> = cuts.map(|i| line[..i].to_owned()).collect();
        variants.push(line.replace("\"properties\":{", "\"properties\":{\"event_id\":null,"));
        variants.push(line.replace(':', ": "));
        for v in variants {
            let enc = otlp.encode_counted(std::slice::from_ref(&v), 0);
            let body: Value = serde_json::from_slice(&enc.body).expect("always JSON");
            assert_eq!(log_records(&body).len() + enc.skipped, 1, "{v}");
        }
    }
}
