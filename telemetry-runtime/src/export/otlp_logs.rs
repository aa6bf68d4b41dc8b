//! OTLP logs: one canonical record → one `LogRecord`, and the `ExportLogsServiceRequest`
//! around a batch of them, written through [`otlp_wire`](super::otlp_wire) so the mapping is
//! stated once for protobuf and JSON. The mapping is OTLP_MAPPING.md's (and the README's
//! table); `opentelemetry/proto/logs/v1/logs.proto` is the reference for every field.
//!
//! The record is read once into borrowed parts (`otlp_parse`: keys as text, values as raw
//! JSON text); JSON copies strings and numbers as the text they already are, protobuf
//! decodes them once.
//!
//! Invariants:
//! - A line that is not a record (not an object, no string `event`, no integer
//!   `event_timestamp`, no object `properties`) writes nothing the caller keeps.
//! - Attribute keys are unique within a record: object members are deduplicated while
//!   reading (a later duplicate replaces an earlier one, as `serde_json` does), and the few
//!   keys two members could map to are decided explicitly (see [`write_attributes`]).
//! - A request never holds more than its limit of bytes; the records that would not fit are
//!   left for the next request (see [`write_request`]).

use super::otlp_batch::{Batch, Nesting, Written, write_nested};
use super::otlp_common::{INT_VALUE, KEY, Pieces, STRING_VALUE, VALUE, write_any_value};
use super::otlp_parse::{Envelope, Member, with_record};
use super::otlp_wire::{Field, Str, Wire, field};

/// `ExportLogsServiceRequest.resource_logs`.
const RESOURCE_LOGS: Field = field!(1, "resourceLogs");
/// `ResourceLogs.scope_logs`.
const SCOPE_LOGS: Field = field!(2, "scopeLogs");
/// `ScopeLogs.log_records`.
const LOG_RECORDS: Field = field!(2, "logRecords");
/// `LogRecord`'s fields, in the order they are written (the JSON mapping's order of old).
const TIME_UNIX_NANO: Field = field!(1, "timeUnixNano");
const OBSERVED_TIME_UNIX_NANO: Field = field!(11, "observedTimeUnixNano");
const SEVERITY_NUMBER: Field = field!(2, "severityNumber");
const SEVERITY_TEXT: Field = field!(3, "severityText");
const EVENT_NAME: Field = field!(12, "eventName");
const ATTRIBUTES: Field = field!(6, "attributes");
const TRACE_ID: Field = field!(9, "traceId");
const SPAN_ID: Field = field!(10, "spanId");

/// `SEVERITY_NUMBER_INFO` and `SEVERITY_NUMBER_ERROR`.
const INFO: u32 = 9;
const ERROR: u32 = 17;

/// The attribute prefix of a record's own properties and events.
const PREFIX: &str = "cli_telemetry.";

/// Writes one `ExportLogsServiceRequest` (its fields, into `w`) carrying `records` from the
/// first, until the next one would take the request over `limit` bytes; `dropped` above zero
/// travels on the first record written. A record over the limit alone is left out.
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
        resource: RESOURCE_LOGS,
        scope: SCOPE_LOGS,
        items: LOG_RECORDS,
    };
    write_nested(w, pieces, nesting, batch, write_log_record)
}

/// Writes the `LogRecord` of one canonical `line` (an item of `logRecords`); `dropped` above
/// zero is added as `cli_telemetry.dropped_records`. Returns `false` when the line is not a
/// record: what was written must then be truncated by the caller.
fn write_log_record<W: Wire>(w: &mut W, line: &str, dropped: u64) -> bool {
    with_record(line, |env, props| {
        write_record(w, line.len(), env, props, dropped)
    })
    .unwrap_or(false)
}

/// [`write_log_record`] of a record read; `false`, having written nothing, when its
/// timestamp in nanoseconds does not fit a `u64`.
fn write_record<W: Wire>(
    w: &mut W,
    size_hint: usize,
    rec: &Envelope<'_>,
    props: &[Member<'_>],
    dropped: u64,
) -> bool {
    let Some(nanos) = rec.event_timestamp.checked_mul(1_000_000) else {
        return false;
    };
    let prop = |key: &str| props.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let failed = prop("is_success") == Some("false");
    let open = w.open_item(LOG_RECORDS, size_hint);
    w.fixed64(TIME_UNIX_NANO, nanos);
    w.fixed64(OBSERVED_TIME_UNIX_NANO, nanos);
    if failed {
        w.enumeration(SEVERITY_NUMBER, ERROR);
        w.string(SEVERITY_TEXT, Str::Quoted("\"ERROR\""));
    } else {
        w.enumeration(SEVERITY_NUMBER, INFO);
        w.string(SEVERITY_TEXT, Str::Quoted("\"INFO\""));
    }
    match (rec.event.as_ref(), prop("action")) {
        ("session", Some("\"start\"")) => w.string(EVENT_NAME, Str::Quoted("\"session.start\"")),
        ("session", Some("\"end\"")) => w.string(EVENT_NAME, Str::Quoted("\"session.end\"")),
        (event, _) => w.prefixed_string(EVENT_NAME, PREFIX, name(event, rec.plain)),
    }
    w.list(ATTRIBUTES);
    write_attributes(w, rec, props, dropped);
    w.end_list();
    // The operator's stream: the record's span (its own, or the one it was made in).
    if let Some((trace_id, span_id)) = rec
        .trace
        .and_then(super::otlp_traces::read_trace)
        .and_then(|t| t.ids())
    {
        w.id(TRACE_ID, &trace_id.0);
        w.id(SPAN_ID, &span_id.0);
    }
    w.close(open);
    true
}

/// A key or event name read from a record: plain text as it is (see `Envelope::plain`).
fn name(s: &str, plain: bool) -> Str<'_> {
    if plain { Str::Plain(s) } else { Str::Text(s) }
}

/// The attributes of one record. Keys two members could map to are settled here: the
/// envelope's `source` wins over a `source` property, an `error` array over an `errors`
/// property, and the `dropped` count over a `dropped_records` property.
fn write_attributes<W: Wire>(w: &mut W, rec: &Envelope<'_>, props: &[Member<'_>], dropped: u64) {
    let (event, source) = (rec.event.as_ref(), rec.source);
    if let Some(src) = source {
        attribute(w, Str::Quoted("\"cli_telemetry.source\""), src);
    }
    let error_is_array = props
        .iter()
        .any(|&(k, v)| k == "error" && v.starts_with('['));
    let mut error_type = None;
    for &(key, value) in props {
        let name = match (key, value) {
            ("error", text) if text.starts_with('"') => {
                error_type = Some(match text {
                    "\"panicked\"" => "\"panic\"",
                    "\"cancelled\"" => "\"cancelled\"",
                    _ => "\"_OTHER\"",
                });
                "\"error.message\""
            }
            ("error", text) if error_is_array => {
                if !is_empty_array(text) {
                    error_type = Some("\"_OTHER\"");
                }
                "\"cli_telemetry.errors\""
            }
            ("source", _) if source.is_some() => continue,
            ("errors", _) if error_is_array => continue,
            ("dropped_records", _) if dropped > 0 => continue,
            (other, _) => match semantic_name(other) {
                Some(name) => name,
                None => {
                    let kv = w.open_item(ATTRIBUTES, key.len() + value.len() + 24);
                    w.prefixed_string(KEY, PREFIX, name(other, rec.plain));
                    any_value(w, value);
                    w.close(kv);
                    continue;
                }
            },
        };
        attribute(w, Str::Quoted(name), value);
    }
    match event {
        "tool" => string_attribute(w, "\"gen_ai.operation.name\"", "\"execute_tool\""),
        "token" => string_attribute(w, "\"gen_ai.operation.name\"", "\"chat\""),
        _ => {}
    }
    if let Some(t) = error_type {
        string_attribute(w, "\"error.type\"", t);
    }
    if dropped > 0 {
        let kv = w.open_item(ATTRIBUTES, 48);
        w.string(KEY, Str::Quoted("\"cli_telemetry.dropped_records\""));
        let v = w.open(VALUE);
        let dropped = crate::limits::clamp_count(dropped);
        w.int64(INT_VALUE, i64::try_from(dropped).unwrap_or(i64::MAX));
        w.close(v);
        w.close(kv);
    }
}

/// The semantic-convention attribute (as JSON text) of a property that has one.
fn semantic_name(key: &str) -> Option<&'static str> {
    Some(match key {
        "event_id" => "\"log.record.uid\"",
        "user_uuid" => "\"enduser.pseudo.id\"",
        "session_id" => "\"session.id\"",
        "agent_name" => "\"gen_ai.agent.name\"",
        "tool_name" => "\"gen_ai.tool.name\"",
        "model_name" => "\"gen_ai.request.model\"",
        "input_tokens" => "\"gen_ai.usage.input_tokens\"",
        "output_tokens" => "\"gen_ai.usage.output_tokens\"",
        _ => return None,
    })
}

/// A `KeyValue` of a record's JSON value.
fn attribute<W: Wire>(w: &mut W, key: Str<'_>, value: &str) {
    let kv = w.open_item(ATTRIBUTES, value.len() + 40);
    w.string(KEY, key);
    any_value(w, value);
    w.close(kv);
}

/// A `KeyValue` of a string; key and value are JSON literals without escapes.
fn string_attribute<W: Wire>(w: &mut W, key: &'static str, value: &'static str) {
    let kv = w.open_item(ATTRIBUTES, key.len() + value.len() + 8);
    w.string(KEY, Str::Quoted(key));
    let v = w.open(VALUE);
    w.string(STRING_VALUE, Str::Quoted(value));
    w.close(v);
    w.close(kv);
}

/// The `value` of a `KeyValue`: the `AnyValue` of a record's JSON value.
fn any_value<W: Wire>(w: &mut W, text: &str) {
    let v = w.open(VALUE);
    write_any_value(w, text);
    w.close(v);
}

fn is_empty_array(text: &str) -> bool {
    text.get(1..text.len().saturating_sub(1))
        .is_some_and(|inner| inner.trim().is_empty())
}

/// One `LogRecord` of `line` alone, as [`write_log_record`] writes it in `W`'s encoding
/// (`W::default()`); `None` when the line is not a record. For the tests that hold the
/// encoders to the reference encoder and to each other.
#[cfg(test)]
pub(super) fn log_record_alone<W: Wire + Default>(line: &str, dropped: u64) -> Option<W> {
    let mut w = W::default();
    write_log_record(&mut w, line, dropped).then_some(w)
}
