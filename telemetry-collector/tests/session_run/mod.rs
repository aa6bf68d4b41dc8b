//! One agent run in the shapes the runtime sends (issue 21: the command's root span,
//! `invoke_agent`, `execute_tool`, `chat`, with their GenAI attributes) and the same run as
//! cagent records, for the session tests of both stores.
#![allow(dead_code)]

use serde_json::{Value, json};

use crate::common::{self, attr, i, s, session_end, session_start, token};

/// The trace the run's spans belong to.
pub const TRACE: &str = "5b8efff798038103d269b633813fc60c";

/// One span of the run, as the runtime's OTLP/JSON writer sends it.
#[allow(clippy::too_many_arguments)]
pub fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    kind: i64,
    (start_ms, end_ms): (i64, i64),
    attrs: Vec<Value>,
    error: Option<&str>,
) -> Value {
    let mut s = json!({"traceId": trace, "spanId": id, "name": name, "kind": kind,
        "startTimeUnixNano": (start_ms * 1_000_000).to_string(),
        "endTimeUnixNano": (end_ms * 1_000_000).to_string(), "attributes": attrs});
    if let Some(p) = parent {
        s["parentSpanId"] = json!(p);
    }
    if let Some(e) = error {
        s["status"] = json!({"code": 2, "message": e});
    }
    s
}

pub fn traces_request(spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", s("cagent")),
            attr("service.version", s("0.1.0"))]},
        "scopeSpans": [{"scope": {"name": "cli-telemetry", "version": "0.1.0"}, "spans": spans}]
    }]})
}

/// The tool calls and model turns of the run: (tool, error) or (model, input, output).
pub enum Step {
    Tool(&'static str, Option<&'static str>),
    Chat(i64, i64),
}

pub const RUN: &[Step] = &[
    Step::Chat(40, 5),
    Step::Tool("read_file", None),
    Step::Chat(60, 8),
    Step::Tool("read_file", Some("not found")),
    Step::Chat(55, 9),
    Step::Tool("list_directory", None),
    Step::Chat(70, 12),
];

/// The run as spans: `run` → `invoke_agent root` → a span per step; ends `t0 + 1000` ms.
pub fn run_spans(session: &str, trace: &str, t0: i64) -> Vec<Value> {
    let conv = || attr("gen_ai.conversation.id", s(session));
    let agent = || attr("gen_ai.agent.name", s("root"));
    let root = "00000000000000a1";
    let sess = "00000000000000a2";
    let mut spans = vec![
        span(trace, root, None, "run", 1, (t0, t0 + 1000), vec![], None),
        span(
            trace,
            sess,
            Some(root),
            "invoke_agent root",
            1,
            (t0 + 10, t0 + 990),
            vec![
                attr("gen_ai.operation.name", s("invoke_agent")),
                agent(),
                conv(),
                attr("gen_ai.provider.name", s("scripted")),
                attr("cli_telemetry.tool_calls", i(3)),
            ],
            None,
        ),
    ];
    for (n, step) in RUN.iter().enumerate() {
        let start = t0 + 20 + 100 * n as i64;
        let id = format!("{:016x}", 0xb0 + n);
        spans.push(match step {
            Step::Tool(tool, error) => {
                let mut attrs = vec![
                    attr("gen_ai.operation.name", s("execute_tool")),
                    attr("gen_ai.tool.name", s(tool)),
                    agent(),
                    conv(),
                ];
                if error.is_some() {
                    attrs.push(attr("error.type", s("_OTHER")));
                }
                let name = format!("execute_tool {tool}");
                span(
                    trace,
                    &id,
                    Some(sess),
                    &name,
                    1,
                    (start, start + 30),
                    attrs,
                    *error,
                )
            }
            Step::Chat(input, output) => span(
                trace,
                &id,
                Some(sess),
                "chat scripted/small",
                3,
                (start, start + 50),
                vec![
                    attr("gen_ai.operation.name", s("chat")),
                    attr("gen_ai.provider.name", s("scripted")),
                    attr("gen_ai.request.model", s("scripted/small")),
                    attr("gen_ai.usage.input_tokens", i(*input)),
                    attr("gen_ai.usage.output_tokens", i(*output)),
                    json!({"key": "cli_telemetry.cost", "value": {"doubleValue": 0.001}}),
                    agent(),
                    conv(),
                ],
                None,
            ),
        });
    }
    spans
}

/// The same run as cagent records (a record is made when what it measures ends).
pub fn run_records(session: &str, t0: i64) -> Vec<Value> {
    let at = |mut r: Value, ts: i64| {
        r["event_timestamp"] = json!(ts);
        r["properties"]["session_id"] = json!(session);
        r
    };
    let id = |k: &str| format!("{session}-{k}");
    let mut out = vec![at(session_start(&id("start"), "u1", session), t0 + 10)];
    for (n, step) in RUN.iter().enumerate() {
        let start = t0 + 20 + 100 * n as i64;
        out.push(match step {
            Step::Tool(tool, error) => at(
                common::tool(&id(&n.to_string()), "u1", tool, *error, 30),
                start + 30,
            ),
            Step::Chat(input, output) => at(
                token(
                    &id(&n.to_string()),
                    "u1",
                    "scripted/small",
                    *input,
                    *output,
                    0.001,
                ),
                start + 50,
            ),
        });
    }
    let mut end = at(
        session_end(&id("end"), "u1", session, &["not found"]),
        t0 + 990,
    );
    end["properties"]["duration_ms"] = json!(980);
    end["properties"]["tool_calls"] = json!(3);
    out.push(end);
    out
}

/// The same request in protobuf: each span and attribute of the JSON `request` (as
/// [`traces_request`] writes them) as the OpenTelemetry project's own messages.
pub fn traces_protobuf(request: &Value) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use prost::Message;

    let hex = |v: &Value| -> Vec<u8> {
        let h = v.as_str().unwrap_or("");
        (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    let kvs = |list: &Value| -> Vec<KeyValue> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|kv| {
                let v = &kv["value"];
                let value = if let Some(s) = v["stringValue"].as_str() {
                    any_value::Value::StringValue(s.to_owned())
                } else if let Some(i) = v["intValue"].as_str() {
                    any_value::Value::IntValue(i.parse().unwrap())
                } else {
                    any_value::Value::DoubleValue(v["doubleValue"].as_f64().unwrap())
                };
                KeyValue {
                    key: kv["key"].as_str().unwrap().to_owned(),
                    value: Some(AnyValue { value: Some(value) }),
                    ..Default::default()
                }
            })
            .collect()
    };
    let nanos = |v: &Value| v.as_str().unwrap().parse::<u64>().unwrap();
    let rs = &request["resourceSpans"][0];
    let spans = rs["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Span {
            trace_id: hex(&s["traceId"]),
            span_id: hex(&s["spanId"]),
            parent_span_id: hex(&s["parentSpanId"]),
            name: s["name"].as_str().unwrap().to_owned(),
            kind: s["kind"].as_i64().unwrap() as i32,
            start_time_unix_nano: nanos(&s["startTimeUnixNano"]),
            end_time_unix_nano: nanos(&s["endTimeUnixNano"]),
            attributes: kvs(&s["attributes"]),
            status: s.get("status").map(|st| Status {
                message: st["message"].as_str().unwrap_or("").to_owned(),
                code: st["code"].as_i64().unwrap() as i32,
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: kvs(&rs["resource"]["attributes"]),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// `bytes` gzipped.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}
