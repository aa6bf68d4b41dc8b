//! OTLP traces: a canonical record that is a span (it carries a `trace` object with its
//! times, see `crate::trace`) → one `Span`, and the `ExportTraceServiceRequest` around a
//! batch of them, written through [`otlp_wire`](super::otlp_wire) so the mapping is stated
//! once for protobuf and JSON. `opentelemetry/proto/trace/v1/trace.proto` is the reference
//! for every field; the attributes follow the OpenTelemetry GenAI semantic conventions for
//! agent spans (README, "Your own OpenTelemetry backend", has the table).
//!
//! Invariants:
//! - A line that is not a span (not a record, no `trace` object with valid ids and both
//!   times, or not sampled) writes nothing the caller keeps, and is counted as skipped.
//! - Attribute keys are unique within a span: each is written by exactly one rule below.
//! - A request never holds more than its limit of bytes; the spans that would not fit are
//!   left for the next request.

use std::borrow::Cow;

use serde::Deserialize;

use super::otlp_batch::{Batch, Nesting, Written, write_nested};
use super::otlp_common::{
    DOUBLE_VALUE, INT_VALUE, KEY, Pieces, STRING_VALUE, VALUE, write_any_value,
};
use super::otlp_parse::{Envelope, Member, with_record};
use super::otlp_wire::{Field, Str, Wire, field};
use crate::trace::{SpanId, TraceId};

/// `ExportTraceServiceRequest.resource_spans`.
const RESOURCE_SPANS: Field = field!(1, "resourceSpans");
/// `ResourceSpans.scope_spans`.
const SCOPE_SPANS: Field = field!(2, "scopeSpans");
/// `ScopeSpans.spans`.
const SPANS: Field = field!(2, "spans");
/// `Span`'s fields, in the order they are written.
const TRACE_ID: Field = field!(1, "traceId");
const SPAN_ID: Field = field!(2, "spanId");
const TRACE_STATE: Field = field!(3, "traceState");
const PARENT_SPAN_ID: Field = field!(4, "parentSpanId");
const NAME: Field = field!(5, "name");
const KIND: Field = field!(6, "kind");
const START_TIME_UNIX_NANO: Field = field!(7, "startTimeUnixNano");
const END_TIME_UNIX_NANO: Field = field!(8, "endTimeUnixNano");
const ATTRIBUTES: Field = field!(9, "attributes");
const STATUS: Field = field!(15, "status");
/// `Status.message` and `.code`.
const STATUS_MESSAGE: Field = field!(2, "message");
const STATUS_CODE: Field = field!(3, "code");

/// `SPAN_KIND_INTERNAL` and `SPAN_KIND_CLIENT`.
const INTERNAL: u32 = 1;
const CLIENT: u32 = 3;
/// `STATUS_CODE_ERROR`.
const STATUS_ERROR: u32 = 2;

/// A record's `trace` object (see `crate::trace`).
#[derive(Deserialize)]
pub(super) struct TraceObject<'a> {
    #[serde(borrow)]
    pub(super) trace_id: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) span_id: Cow<'a, str>,
    #[serde(borrow, default)]
    parent_span_id: Option<Cow<'a, str>>,
    #[serde(default)]
    start_ns: Option<u64>,
    #[serde(default)]
    end_ns: Option<u64>,
    #[serde(default)]
    pub(super) sampled: Option<bool>,
    #[serde(borrow, default)]
    state: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    provider: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
}

impl TraceObject<'_> {
    /// The trace and span ids, when both are valid.
    pub(super) fn ids(&self) -> Option<(TraceId, SpanId)> {
        Some((
            TraceId::from_hex(&self.trace_id)?,
            SpanId::from_hex(&self.span_id)?,
        ))
    }
}

/// Reads a record's `trace` object (raw JSON text); `None` when it is malformed.
pub(super) fn read_trace(text: &str) -> Option<TraceObject<'_>> {
    serde_json::from_str(text).ok()
}

/// Writes one `ExportTraceServiceRequest` (its fields, into `w`) carrying the spans of
/// `records` from the first, until the next one would take the request over `limit` bytes;
/// `dropped` above zero travels on the first span written (`cli_telemetry.dropped_records`).
/// A span over the limit alone is left out; lines that are not spans are skipped.
pub(super) fn write_request<W: Wire>(
    w: &mut W,
    pieces: &Pieces,
    records: &[String],
    dropped: u64,
    limit: usize,
) -> Written {
    let batch = Batch {
        records,
        dropped,
        limit,
    };
    let nesting = Nesting {
        resource: RESOURCE_SPANS,
        scope: SCOPE_SPANS,
        items: SPANS,
    };
    write_nested(w, pieces, nesting, batch, write_span)
}

/// Writes the `Span` of one canonical `line` (an item of `spans`). Returns `false` when the
/// line is not a sampled span: what was written must then be truncated by the caller.
fn write_span<W: Wire>(w: &mut W, line: &str, dropped: u64) -> bool {
    with_record(line, |env, props| {
        let Some(t) = env.trace.and_then(read_trace) else {
            return false;
        };
        write_span_of(w, line.len(), (env, props), &t, dropped)
    })
    .unwrap_or(false)
}

/// What a record is as a span: its name's prefix and the property naming it, its kind and
/// its `gen_ai.operation.name`.
struct Shape {
    prefix: &'static str,
    named_by: &'static str,
    kind: u32,
    operation: Option<&'static str>,
}

fn shape(event: &str, action: Option<&str>) -> Option<Shape> {
    let (prefix, named_by, kind, operation) = match (event, action) {
        ("command", _) => ("", "action", INTERNAL, None),
        ("tool", _) => (
            "execute_tool ",
            "tool_name",
            INTERNAL,
            Some("\"execute_tool\""),
        ),
        ("token", _) => ("chat ", "model_name", CLIENT, Some("\"chat\"")),
        ("session", Some("\"end\"")) => (
            "invoke_agent ",
            "agent_name",
            INTERNAL,
            Some("\"invoke_agent\""),
        ),
        _ => return None,
    };
    Some(Shape {
        prefix,
        named_by,
        kind,
        operation,
    })
}

/// [`write_span`] of a record read; `false`, having written nothing, when it is no
/// sampled span.
fn write_span_of<W: Wire>(
    w: &mut W,
    size_hint: usize,
    (rec, props): (&Envelope<'_>, &[Member<'_>]),
    t: &TraceObject<'_>,
    dropped: u64,
) -> bool {
    let prop = |key: &str| props.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let (Some((trace_id, span_id)), Some(start), Some(end)) = (t.ids(), t.start_ns, t.end_ns)
    else {
        return false;
    };
    if t.sampled == Some(false) {
        return false;
    }
    let Some(shape) = shape(rec.event.as_ref(), prop("action")) else {
        return false;
    };
    let open = w.open_item(SPANS, size_hint);
    w.id(TRACE_ID, &trace_id.0);
    w.id(SPAN_ID, &span_id.0);
    if let Some(state) = t.state.as_deref().filter(|s| !s.is_empty()) {
        w.string(TRACE_STATE, Str::Text(state));
    }
    if let Some(parent) = t.parent_span_id.as_deref().and_then(SpanId::from_hex) {
        w.id(PARENT_SPAN_ID, &parent.0);
    }
    match prop(shape.named_by).filter(|v| v.starts_with('"') && *v != "\"\"") {
        Some(name) => w.prefixed_string(NAME, shape.prefix, Str::Json(name)),
        None => w.string(NAME, Str::Text(shape.prefix.trim_end())),
    }
    w.enumeration(KIND, shape.kind);
    w.fixed64(START_TIME_UNIX_NANO, start);
    w.fixed64(END_TIME_UNIX_NANO, end.max(start));
    w.list(ATTRIBUTES);
    let error = write_attributes(w, &shape, props, t);
    if dropped > 0 {
        let kv = w.open_item(ATTRIBUTES, 48);
        w.string(KEY, Str::Quoted("\"cli_telemetry.dropped_records\""));
        let v = w.open(VALUE);
        let dropped = crate::limits::clamp_count(dropped);
        w.int64(INT_VALUE, i64::try_from(dropped).unwrap_or(i64::MAX));
        w.close(v);
        w.close(kv);
    }
    w.end_list();
    if let Some(message) = error {
        let status = w.open(STATUS);
        w.string(STATUS_MESSAGE, message);
        w.enumeration(STATUS_CODE, STATUS_ERROR);
        w.close(status);
    }
    w.close(open);
    true
}

/// The attributes of a span, by the GenAI semantic conventions where they have a name;
/// returns the status message when the span ended in error.
fn write_attributes<'a, W: Wire>(
    w: &mut W,
    shape: &Shape,
    props: &[Member<'a>],
    t: &'a TraceObject<'a>,
) -> Option<Str<'a>> {
    if let Some(op) = shape.operation {
        string_attribute(w, "\"gen_ai.operation.name\"", Str::Quoted(op));
    }
    let mut error = None;
    let mut error_type = None;
    for &(key, value) in props {
        let name = match key {
            "error" if value.starts_with('"') => {
                error_type = Some(match value {
                    "\"panicked\"" => "\"panic\"",
                    "\"cancelled\"" => "\"cancelled\"",
                    _ => "\"_OTHER\"",
                });
                error = Some(Str::Json(value));
                continue;
            }
            "agent_name" | "session_id" if value == "\"\"" => continue,
            "agent_name" => "\"gen_ai.agent.name\"",
            "session_id" => "\"gen_ai.conversation.id\"",
            "tool_name" => "\"gen_ai.tool.name\"",
            "model_name" => "\"gen_ai.request.model\"",
            "input_tokens" => "\"gen_ai.usage.input_tokens\"",
            "output_tokens" => "\"gen_ai.usage.output_tokens\"",
            "cost" => "\"cli_telemetry.cost\"",
            "tool_calls" => "\"cli_telemetry.tool_calls\"",
            "error_count" => "\"cli_telemetry.error_count\"",
            "args" => "\"cli_telemetry.args\"",
            "user_uuid" => "\"enduser.pseudo.id\"",
            _ => continue,
        };
        let kv = w.open_item(ATTRIBUTES, value.len() + 40);
        w.string(KEY, Str::Quoted(name));
        let v = w.open(VALUE);
        if key == "cost" {
            w.double_text(DOUBLE_VALUE, value);
        } else {
            write_any_value(w, value);
        }
        w.close(v);
        w.close(kv);
    }
    let extras = [
        ("\"gen_ai.provider.name\"", &t.provider),
        ("\"gen_ai.tool.type\"", &t.tool_type),
        ("\"gen_ai.tool.call.id\"", &t.tool_call_id),
    ];
    for (key, value) in extras {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            string_attribute(w, key, Str::Text(v));
        }
    }
    if let Some(e) = t.error.as_deref() {
        error_type = Some("\"_OTHER\"");
        error = Some(Str::Text(e));
    }
    if let Some(ty) = error_type {
        string_attribute(w, "\"error.type\"", Str::Quoted(ty));
    }
    error
}

/// A `KeyValue` of a string; the key is a JSON literal without escapes.
fn string_attribute<W: Wire>(w: &mut W, key: &'static str, value: Str<'_>) {
    let kv = w.open_item(ATTRIBUTES, key.len() + 40);
    w.string(KEY, Str::Quoted(key));
    let v = w.open(VALUE);
    w.string(STRING_VALUE, value);
    w.close(v);
    w.close(kv);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::super::otlp_check::check_bodies;
    use super::super::otlp_tests::EVERY_ENCODING;
    use super::super::{Otlp, OtlpCompression, OtlpProtocol, OtlpResource, Signal, WireFormat};
    use crate::testing::Records;
    use crate::{Client, Env, Outcome, SessionId};

    /// The records of the operator's stream for a small run (each with its `trace` object),
    /// and a few that are no spans.
    fn traced_records() -> Vec<String> {
        let records = Records::default();
        let env = Env::from_pairs([
            ("TELEMETRY_OTEL", "1"),
            (
                "TRACEPARENT",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("TRACESTATE", "congo=t61rcWkgMzE"),
        ]);
        let client = Client::builder()
            .app("cagent", "1.2.3")
            .env(env)
            .otel_sink(records.clone())
            .build();
        let session = client.start_session("coder \"quoted\"", SessionId::new("sess-1"));
        let turn = client.model_turn("anthropic", "claude-sonnet");
        client.record_tool_call(
            "grep",
            None,
            None,
            Duration::from_millis(3),
            Outcome::Success,
        );
        client.record_tool_call(
            "shell",
            None,
            None,
            Duration::from_millis(1),
            Outcome::failure("panicked"),
        );
        turn.finish(1200, 80, 0.0125);
        session.finish(&Outcome::failure("the model gave up"));
        client.track_command("run", ["--fast", "x"]);
        records.take_json()
    }

    fn spans(body: &Value) -> Vec<Value> {
        body["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn spans_pass_the_opentelemetry_definitions_in_every_encoding_and_agree() {
        let lines = traced_records();
        assert_eq!(
            lines.len(),
            6,
            "session start, two tools, a turn, the end, the command"
        );
        let resource = OtlpResource::new("cagent", "1.2.3", &[]);
        let mut bodies = Vec::new();
        for (protocol, compression) in EVERY_ENCODING {
            let otlp = Otlp::for_signal(Signal::Traces, &resource, protocol, compression);
            let encoded = otlp.encode_counted(&lines, 3);
            assert_eq!(encoded.skipped, 1, "the session start is no span");
            assert_eq!(encoded.taken, lines.len());
            bodies.push(encoded.body);
        }
        // Protobuf and JSON (plain and gzip) of the same records decode to equal messages.
        let pairs = [
            bodies[0].clone(),
            bodies[2].clone(),
            bodies[1].clone(),
            bodies[3].clone(),
        ];
        let Some(r) = check_bodies(
            &pairs,
            &["--signal", "traces", "--pairs", "--min-records", "20"],
        ) else {
            return;
        };
        assert!(r.passed, "{r:?}");
        assert!(
            r.stdout.contains(
                r#""events": {"execute_tool": 8, "chat": 4, "invoke_agent": 4, "command": 4}"#
            ),
            "{}",
            r.stdout
        );
    }

    #[test]
    fn the_json_mapping_of_spans() {
        let lines = traced_records();
        let resource = OtlpResource::new("cagent", "1.2.3", &[]);
        let otlp = Otlp::for_signal(
            Signal::Traces,
            &resource,
            OtlpProtocol::Json,
            OtlpCompression::None,
        );
        let body: Value = serde_json::from_slice(&otlp.encode_counted(&lines, 3).body).unwrap();
        let spans = spans(&body);
        let names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "execute_tool grep",
                "execute_tool shell",
                "chat claude-sonnet",
                "invoke_agent coder \"quoted\"",
                "run"
            ]
        );
        let attrs = |s: &Value| -> Value {
            s["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| (kv["key"].as_str().unwrap().to_owned(), kv["value"].clone()))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        for s in &spans {
            assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(s["traceState"], "congo=t61rcWkgMzE");
            assert!(
                s["startTimeUnixNano"]
                    .as_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    > 0
            );
        }
        let shell = attrs(&spans[1]);
        assert_eq!(
            spans[1]["status"],
            serde_json::json!({"message": "panicked", "code": 2})
        );
        assert_eq!(shell["error.type"]["stringValue"], "panic");
        assert_eq!(shell["gen_ai.tool.name"]["stringValue"], "shell");
        assert_eq!(shell["gen_ai.conversation.id"]["stringValue"], "sess-1");
        assert_eq!(
            attrs(&spans[0])["cli_telemetry.dropped_records"]["intValue"],
            "3",
            "the dropped count travels on the first span"
        );
        let chat = attrs(&spans[2]);
        assert_eq!(spans[2]["kind"], 3);
        assert_eq!(chat["gen_ai.provider.name"]["stringValue"], "anthropic");
        assert_eq!(chat["gen_ai.usage.input_tokens"]["intValue"], "1200");
        assert_eq!(chat["cli_telemetry.cost"]["doubleValue"], 0.0125);
        let agent = attrs(&spans[3]);
        assert_eq!(
            agent["gen_ai.operation.name"]["stringValue"],
            "invoke_agent"
        );
        assert_eq!(agent["gen_ai.provider.name"]["stringValue"], "anthropic");
        assert_eq!(agent["cli_telemetry.tool_calls"]["intValue"], "2");
        assert_eq!(agent["cli_telemetry.error_count"]["intValue"], "2");
        assert_eq!(
            spans[3]["status"]["message"], "the model gave up",
            "the session's own failure, not its tools'"
        );
        for s in &spans[..3] {
            assert_eq!(s["parentSpanId"], spans[3]["spanId"]);
        }
        assert_eq!(
            spans[3]["parentSpanId"], "00f067aa0ba902b7",
            "the parent process's span"
        );
        let run = attrs(&spans[4]);
        assert_eq!(spans[4]["kind"], 1);
        assert_eq!(
            run["cli_telemetry.args"]["arrayValue"]["values"][0]["stringValue"],
            "--fast"
        );
        assert!(spans[4].get("status").is_none());
    }

    #[test]
    fn lines_that_are_not_sampled_spans_are_skipped() {
        let mut lines = traced_records();
        let unsampled = lines[1].replace("\"trace\":{", "\"trace\":{\"sampled\":false,");
        let bad_id = lines[1].replace("\"trace_id\":\"4bf9", "\"trace_id\":\"XXXX");
        lines.extend([unsampled, bad_id, "garbage".to_owned()]);
        let resource = OtlpResource::new("cagent", "1.2.3", &[]);
        let otlp = Otlp::for_signal(
            Signal::Traces,
            &resource,
            OtlpProtocol::Json,
            OtlpCompression::None,
        );
        let encoded = otlp.encode_counted(&lines, 0);
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(spans(&body).len(), 5);
        assert_eq!(encoded.skipped, 4);
    }
}
