//! OTLP traces (`ExportTraceServiceRequest`) mapped to stored spans: the JSON encoding is
//! read into [`RawSpan`]s here (the protobuf encoding into the same [`RawSpan`]s by
//! [`spans_protobuf`](super::spans_protobuf)), and [`to_row`] is the one mapping from a raw span to a [`SpanRow`],
//! with every check: ids, times, numbers and the GenAI attributes the session view uses.
//!
//! A span that fails a check is skipped and counted (`partialSuccess.rejectedSpans`), like a
//! record; the rest of its request is stored.

use serde_json::{Map, Value};

use crate::limits::{MAX_COST, MAX_DURATION_MS, MAX_FUTURE_MS, MAX_TOKENS};
use crate::record::Rejection;
use crate::sessions::Kind;
use crate::span::{SpanRow, cap};

/// One span as sent, before any check.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawSpan {
    /// `traceId` (16 bytes when valid).
    pub trace_id: Vec<u8>,
    /// `spanId` (8 bytes when valid).
    pub span_id: Vec<u8>,
    /// `parentSpanId` (empty for a root).
    pub parent_span_id: Vec<u8>,
    /// `name`.
    pub name: String,
    /// `kind` (`SpanKind`).
    pub kind: i32,
    /// `startTimeUnixNano`.
    pub start: u64,
    /// `endTimeUnixNano`.
    pub end: u64,
    /// `status.code` (2: ERROR).
    pub status_code: i32,
    /// `status.message`.
    pub status_message: String,
    /// The span's attributes as JSON values (ints as numbers).
    pub attributes: Map<String, Value>,
    /// The resource's `service.name`.
    pub service: Option<String>,
}

/// `STATUS_CODE_ERROR`.
const STATUS_ERROR: i32 = 2;

/// The raw spans of an OTLP/JSON `ExportTraceServiceRequest`, in order; `Err` when the body
/// is not one (a span that is not an object becomes a span with no ids, rejected later).
///
/// ```
/// let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
///     "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
///     "name": "run", "kind": 1, "startTimeUnixNano": "1000000", "endTimeUnixNano": "3000000"}]}]}]});
/// let spans = telemetry_collector::otlp::traces::from_json(&body).unwrap();
/// assert_eq!((spans[0].name.as_str(), spans[0].end), ("run", 3_000_000));
/// ```
pub fn from_json(body: &Value) -> Result<Vec<RawSpan>, String> {
    let Some(resource_spans) = body.get("resourceSpans") else {
        return Err("body has no `resourceSpans`".into());
    };
    let Some(resource_spans) = resource_spans.as_array() else {
        return Err("`resourceSpans` is not an array".into());
    };
    let mut out = Vec::new();
    for rs in resource_spans {
        let resource = super::attributes(&rs["resource"]["attributes"]);
        let service = resource
            .get("service.name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                out.push(json_span(s, service.clone()));
            }
        }
    }
    Ok(out)
}

fn json_span(s: &Value, service: Option<String>) -> RawSpan {
    let id = |k: &str| s[k].as_str().and_then(hex_bytes).unwrap_or_default();
    RawSpan {
        trace_id: id("traceId"),
        span_id: id("spanId"),
        parent_span_id: id("parentSpanId"),
        name: s["name"].as_str().unwrap_or_default().to_owned(),
        kind: enum_value(
            &s["kind"],
            "SPAN_KIND_",
            &[
                "UNSPECIFIED",
                "INTERNAL",
                "SERVER",
                "CLIENT",
                "PRODUCER",
                "CONSUMER",
            ],
        ),
        start: nanos(&s["startTimeUnixNano"]),
        end: nanos(&s["endTimeUnixNano"]),
        status_code: enum_value(
            &s["status"]["code"],
            "STATUS_CODE_",
            &["UNSET", "OK", "ERROR"],
        ),
        status_message: s["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        attributes: super::attributes(&s["attributes"]),
        service,
    }
}

/// Hex digits (OTLP/JSON ids) as bytes; `None` when they are not hex. An id that is not
/// hex is kept as no id at all, and rejected by [`to_row`].
fn hex_bytes(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    h.as_bytes()
        .chunks_exact(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect()
}

/// An enum in the JSON mapping: its number, or its name with or without the prefix.
fn enum_value(v: &Value, prefix: &str, names: &[&str]) -> i32 {
    match v {
        Value::String(s) => {
            let s = s.strip_prefix(prefix).unwrap_or(s);
            names.iter().position(|n| *n == s).map_or(-1, |p| p as i32)
        }
        other => other
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0),
    }
}

/// A uint64 in the OTLP JSON mapping: a decimal string, or a plain number (0 when neither).
fn nanos(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_u64().unwrap_or(0),
    }
}

fn reject(why: impl Into<String>) -> Rejection {
    Rejection(why.into())
}

/// Checks one raw span and maps it: `now_ms` is the server's clock.
///
/// ```
/// use telemetry_collector::otlp::traces::{RawSpan, to_row};
/// let raw = RawSpan { trace_id: vec![1; 16], span_id: vec![2; 8], name: "run".into(),
///     start: 1_000_000, end: 4_000_000, ..Default::default() };
/// let row = to_row(raw, 10).unwrap();
/// assert_eq!((row.start_ns, row.end_ns, row.is_success), (1_000_000, 4_000_000, true));
/// assert!(to_row(RawSpan::default(), 10).is_err(), "no ids");
/// ```
pub fn to_row(raw: RawSpan, now_ms: i64) -> Result<SpanRow, Rejection> {
    let trace_id: [u8; 16] = raw
        .trace_id
        .as_slice()
        .try_into()
        .ok()
        .filter(|t| *t != [0; 16])
        .ok_or_else(|| reject("a span's traceId is not 16 bytes (32 hex digits), or is zero"))?;
    let span_id: [u8; 8] = raw
        .span_id
        .as_slice()
        .try_into()
        .ok()
        .filter(|s| *s != [0; 8])
        .ok_or_else(|| reject("a span's spanId is not 8 bytes (16 hex digits), or is zero"))?;
    let parent_id = match raw.parent_span_id.len() {
        0 => None,
        8 => Some(<[u8; 8]>::try_from(raw.parent_span_id.as_slice()).unwrap_or([0; 8]))
            .filter(|p| *p != [0; 8]),
        _ => {
            return Err(reject(
                "a span's parentSpanId is not 8 bytes (16 hex digits)",
            ));
        }
    };
    let (start_ns, end_ns) = times(raw.start, raw.end, now_ms)?;
    let a = &raw.attributes;
    let text = |k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(cap)
    };
    let kind = kind_of(
        a.get("gen_ai.operation.name").and_then(Value::as_str),
        &raw.name,
    );
    let name = if raw.name.is_empty() {
        "(unnamed)".to_owned()
    } else {
        cap(&raw.name)
    };
    let is_success = raw.status_code != STATUS_ERROR;
    let error = (!is_success).then(|| {
        Some(raw.status_message.as_str())
            .filter(|m| !m.is_empty())
            .map(cap)
            .or_else(|| text("error.message"))
            .or_else(|| text("error.type"))
            .unwrap_or_else(|| "error".to_owned())
    });
    let tool_name = text("gen_ai.tool.name").or_else(|| {
        (kind == Kind::Tool)
            .then(|| name.strip_prefix("execute_tool ").map(str::to_owned))
            .flatten()
    });
    let model = text("gen_ai.request.model")
        .or_else(|| text("gen_ai.response.model"))
        .or_else(|| {
            (kind == Kind::Chat)
                .then(|| name.split_once(' ').map(|(_, m)| m.to_owned()))
                .flatten()
        });
    Ok(SpanRow {
        trace_id,
        span_id,
        parent_id,
        otel_kind: raw.kind.clamp(0, 5),
        kind,
        start_ns,
        end_ns,
        is_success,
        error,
        session_id: text("gen_ai.conversation.id").or_else(|| text("session.id")),
        agent: text("gen_ai.agent.name"),
        tool_name,
        model,
        input_tokens: tokens(a, "gen_ai.usage.input_tokens")?,
        output_tokens: tokens(a, "gen_ai.usage.output_tokens")?,
        cost: cost(a)?,
        service: raw.service.as_deref().filter(|s| !s.is_empty()).map(cap),
        name,
    })
}

/// What a span is, from `gen_ai.operation.name` (else its name's first word).
fn kind_of(operation: Option<&str>, name: &str) -> Kind {
    let op = operation.unwrap_or_else(|| name.split(' ').next().unwrap_or(""));
    match op {
        "execute_tool" => Kind::Tool,
        "chat" | "text_completion" | "generate_content" => Kind::Chat,
        "invoke_agent" => Kind::Session,
        _ => Kind::Command,
    }
}

/// Start and end in ns as stored: the start at most 24 h ahead of the server's clock, the
/// end not before the start, the duration at most 30 days (as a record's).
fn times(start: u64, end: u64, now_ms: i64) -> Result<(i64, i64), Rejection> {
    let start_ns =
        i64::try_from(start).map_err(|_| reject("a span's startTimeUnixNano is after 2262"))?;
    if start_ns == 0 {
        return Err(reject("a span has no startTimeUnixNano"));
    }
    if start_ns / 1_000_000 > now_ms.saturating_add(MAX_FUTURE_MS) {
        return Err(reject(format!(
            "a span starts more than 24 h ahead of the server's clock ({start_ns} ns)"
        )));
    }
    if end < start {
        return Err(reject(
            "a span's endTimeUnixNano is before its startTimeUnixNano",
        ));
    }
    let length = end - start;
    if length / 1_000_000 > MAX_DURATION_MS as u64 {
        return Err(reject(format!(
            "a span lasts more than 30 days ({length} ns)"
        )));
    }
    Ok((start_ns, start_ns + length as i64))
}

fn tokens(a: &Map<String, Value>, key: &str) -> Result<Option<i64>, Rejection> {
    match a.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (0..=MAX_TOKENS).contains(&n) => Ok(Some(n)),
            _ => Err(reject(format!(
                "`{key}` is not a whole number in 0..={MAX_TOKENS}"
            ))),
        },
    }
}

fn cost(a: &Map<String, Value>) -> Result<Option<f64>, Rejection> {
    match a.get("cli_telemetry.cost") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(c) if c.is_finite() && (0.0..=MAX_COST).contains(&c) => Ok(Some(c)),
            _ => Err(reject(format!(
                "`cli_telemetry.cost` is not a number in 0..={MAX_COST}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(attrs: Value) -> RawSpan {
        RawSpan {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            name: "execute_tool read_file".into(),
            kind: 1,
            start: 1_000_000,
            end: 2_000_000,
            attributes: attrs.as_object().unwrap().clone(),
            ..Default::default()
        }
    }

    #[test]
    fn the_genai_attributes_map_to_the_session_view() {
        let mut r = raw(json!({"gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "read_file", "gen_ai.conversation.id": "s1",
            "gen_ai.agent.name": "root", "error.type": "_OTHER"}));
        r.status_code = 2;
        r.status_message = "not found".into();
        let row = to_row(r, 10).unwrap();
        assert_eq!(row.kind, Kind::Tool);
        assert_eq!(row.tool_name.as_deref(), Some("read_file"));
        assert_eq!(row.session_id.as_deref(), Some("s1"));
        assert_eq!(
            (row.is_success, row.error.as_deref()),
            (false, Some("not found"))
        );
        assert_eq!(row.parent_id, Some([3; 8]));
        let mut chat = raw(
            json!({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3,
            "cli_telemetry.cost": 0.5}),
        );
        chat.name = "chat m".into();
        let row = to_row(chat, 10).unwrap();
        assert_eq!(
            (row.kind, row.model.as_deref(), row.input_tokens, row.cost),
            (Kind::Chat, Some("m"), Some(12), Some(0.5))
        );
    }

    #[test]
    fn bad_ids_times_and_numbers_are_rejected() {
        let ok = raw(json!({}));
        assert!(to_row(ok.clone(), 10).is_ok());
        type Case = Box<dyn Fn(&mut RawSpan)>;
        let cases: Vec<Case> = vec![
            Box::new(|r| r.trace_id = vec![0; 16]),
            Box::new(|r| r.trace_id = vec![1; 15]),
            Box::new(|r| r.span_id = vec![]),
            Box::new(|r| r.parent_span_id = vec![1; 3]),
            Box::new(|r| r.start = 0),
            Box::new(|r| r.end = 500),
            Box::new(|r| r.start = u64::MAX),
            Box::new(|r| r.end = r.start + 31 * 86_400_000_000_000),
            Box::new(|r| r.start = 10 * 86_400_000_000_000),
            Box::new(|r| {
                r.attributes
                    .insert("gen_ai.usage.input_tokens".into(), json!(-1));
            }),
            Box::new(|r| {
                r.attributes
                    .insert("gen_ai.usage.output_tokens".into(), json!("7"));
            }),
            Box::new(|r| {
                r.attributes.insert("cli_telemetry.cost".into(), json!(2e6));
            }),
        ];
        for (n, case) in cases.iter().enumerate() {
            let mut r = ok.clone();
            case(&mut r);
            assert!(to_row(r, 10).is_err(), "case {n}");
        }
        let mut root = ok.clone();
        root.parent_span_id = vec![0; 8];
        assert_eq!(
            to_row(root, 10).unwrap().parent_id,
            None,
            "a zero parent is a root"
        );
    }

    #[test]
    fn json_enums_may_be_numbers_or_names_and_ids_are_hex() {
        let body = json!({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "cagent"}}]},
            "scopeSpans": [{"spans": [{"traceId": "0102030405060708090a0b0c0d0e0f10",
            "spanId": "0102030405060708", "parentSpanId": "", "name": "chat m",
            "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": 5, "endTimeUnixNano": "6",
            "status": {"code": "STATUS_CODE_ERROR"}}, "not a span"]}]}]});
        let spans = from_json(&body).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[0].kind, spans[0].status_code, spans[0].end),
            (3, 2, 6)
        );
        assert_eq!(spans[0].service.as_deref(), Some("cagent"));
        assert_eq!(spans[0].trace_id[15], 16);
        assert!(to_row(spans[1].clone(), 10).is_err());
        assert!(from_json(&json!({"resourceSpans": {}})).is_err());
    }
}
