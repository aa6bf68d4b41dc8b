//! One canonical record → one OTLP `LogRecord`, in OTLP's JSON mapping, written directly.
//!
//! The record is read once into borrowed parts (`otlp_parse`: keys as text, values as raw
//! JSON text); strings and numbers are copied into the output as the JSON text they already
//! are, so a string is never unescaped and escaped again, and attribute keys are static
//! strings. The mapping is OTLP_MAPPING.md's (and the README's table).
//!
//! Invariants:
//! - The output is one JSON object or nothing: a line that is not a record (not an object,
//!   no string `event`, no integer `event_timestamp`, no object `properties`) writes nothing.
//! - Attribute keys are unique within a record: object members are deduplicated while
//!   reading (a later duplicate replaces an earlier one, as `serde_json` does), and the few
//!   keys two members could map to are decided explicitly (see [`write_attributes`]).

use super::otlp_parse::{Envelope, Member, find_special, with_items, with_members, with_record};

/// Writes the `LogRecord` of one canonical `line` to `out`; `dropped` above zero is added as
/// `cli_telemetry.dropped_records`. Returns `false`, having written nothing, when the line is
/// not a record.
pub(super) fn write_log_record(out: &mut String, line: &str, dropped: u64) -> bool {
    with_record(line, |env, props| write_record(out, env, props, dropped)).unwrap_or(false)
}

/// [`write_log_record`] of a record read; `false`, having written nothing, when its
/// timestamp in nanoseconds does not fit a `u64`.
fn write_record(out: &mut String, rec: &Envelope<'_>, props: &[Member<'_>], dropped: u64) -> bool {
    let Some(nanos) = rec.event_timestamp.checked_mul(1_000_000) else {
        return false;
    };
    let prop = |key: &str| props.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let failed = prop("is_success") == Some("false");
    let mut digits = [0_u8; 20];
    let nanos = decimal(nanos, &mut digits);
    out.push_str("{\"timeUnixNano\":\"");
    out.push_str(nanos);
    out.push_str("\",\"observedTimeUnixNano\":\"");
    out.push_str(nanos);
    out.push('"');
    out.push_str(if failed {
        ",\"severityNumber\":17,\"severityText\":\"ERROR\""
    } else {
        ",\"severityNumber\":9,\"severityText\":\"INFO\""
    });
    out.push_str(",\"eventName\":");
    match (rec.event.as_ref(), prop("action")) {
        ("session", Some("\"start\"")) => out.push_str("\"session.start\""),
        ("session", Some("\"end\"")) => out.push_str("\"session.end\""),
        (event, _) => push_prefixed_key(out, event, rec.plain),
    }
    out.push_str(",\"attributes\":[");
    write_attributes(out, rec, props, dropped);
    out.push_str("]}");
    true
}

/// The attributes of one record. Keys two members could map to are settled here: the
/// envelope's `source` wins over a `source` property, an `error` array over an `errors`
/// property, and the `dropped` count over a `dropped_records` property.
fn write_attributes(out: &mut String, rec: &Envelope<'_>, props: &[Member<'_>], dropped: u64) {
    let (event, source) = (rec.event.as_ref(), rec.source);
    let mut attrs = Attrs { out, first: true };
    if let Some(src) = source {
        attrs.raw("\"cli_telemetry.source\"", src);
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
                    attrs.open_key();
                    push_prefixed_key(attrs.out, other, rec.plain);
                    attrs.value(value);
                    continue;
                }
            },
        };
        attrs.raw(name, value);
    }
    match event {
        "tool" => attrs.string("\"gen_ai.operation.name\"", "\"execute_tool\""),
        "token" => attrs.string("\"gen_ai.operation.name\"", "\"chat\""),
        _ => {}
    }
    if let Some(t) = error_type {
        attrs.string("\"error.type\"", t);
    }
    if dropped > 0 {
        attrs.int(
            "\"cli_telemetry.dropped_records\"",
            crate::limits::clamp_count(dropped),
        );
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

/// Writes `KeyValue`s, commas between them.
struct Attrs<'o> {
    out: &'o mut String,
    first: bool,
}

impl Attrs<'_> {
    /// Writes `{"key":` (after a comma unless first); the caller writes the key next.
    fn open_key(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str("{\"key\":");
    }

    /// Writes `,"value":<AnyValue>}`, closing the `KeyValue`.
    fn value(&mut self, value: &str) {
        self.out.push_str(",\"value\":");
        write_any_value(self.out, value);
        self.out.push('}');
    }

    /// A `KeyValue` whose key is JSON text already.
    fn raw(&mut self, key_json: &str, value: &str) {
        self.open_key();
        self.out.push_str(key_json);
        self.value(value);
    }

    /// A `KeyValue` of an integer value; the key is JSON text already.
    fn int(&mut self, key_json: &str, n: u64) {
        self.open_key();
        self.out.push_str(key_json);
        self.out.push_str(",\"value\":{\"intValue\":\"");
        self.out.push_str(decimal(n, &mut [0; 20]));
        self.out.push_str("\"}}");
    }

    /// A `KeyValue` of a string value, both JSON text already.
    fn string(&mut self, key_json: &str, value_json: &str) {
        self.open_key();
        self.out.push_str(key_json);
        self.out.push_str(",\"value\":{\"stringValue\":");
        self.out.push_str(value_json);
        self.out.push_str("}}");
    }
}

/// Writes an `AnyValue` for a JSON value: string, bool, integer (as a decimal string when it
/// fits an int64), other numbers as `doubleValue`, arrays and objects recursively; `null` is
/// the empty `AnyValue` `{}`.
pub(super) fn write_any_value(out: &mut String, text: &str) {
    match text.as_bytes().first() {
        Some(b'"') => {
            out.push_str("{\"stringValue\":");
            out.push_str(text);
            out.push('}');
        }
        Some(b't' | b'f') => {
            out.push_str("{\"boolValue\":");
            out.push_str(text);
            out.push('}');
        }
        Some(b'[') => {
            out.push_str("{\"arrayValue\":{\"values\":[");
            with_items(text, |items| {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_any_value(out, item);
                }
            });
            out.push_str("]}}");
        }
        Some(b'{') => {
            out.push_str("{\"kvlistValue\":{\"values\":[");
            with_members(text, |members, plain| {
                for (i, &(k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"key\":");
                    out.push('"');
                    push_str_contents(out, k, plain);
                    out.push_str("\",\"value\":");
                    write_any_value(out, v);
                    out.push('}');
                }
            });
            out.push_str("]}}");
        }
        Some(b'-' | b'0'..=b'9') if is_int64(text) => {
            out.push_str("{\"intValue\":\"");
            out.push_str(text);
            out.push_str("\"}");
        }
        Some(b'-' | b'0'..=b'9') => {
            out.push_str("{\"doubleValue\":");
            out.push_str(text);
            out.push('}');
        }
        _ => out.push_str("{}"),
    }
}

/// Whether a JSON number is an integer that fits an int64.
fn is_int64(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() < 19 || text.parse::<i64>().is_ok())
}

fn is_empty_array(text: &str) -> bool {
    text.get(1..text.len().saturating_sub(1))
        .is_some_and(|inner| inner.trim().is_empty())
}

/// `n` in decimal, written at the end of `digits`.
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &str {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&digits[start..]).unwrap_or_default()
}

/// `"cli_telemetry.<name>"` as a JSON string.
fn push_prefixed_key(out: &mut String, name: &str, plain: bool) {
    out.push_str("\"cli_telemetry.");
    push_str_contents(out, name, plain);
    out.push('"');
}

/// The inside of a JSON string for `s`: as it is when `plain` (see `Envelope::plain`).
fn push_str_contents(out: &mut String, s: &str, plain: bool) {
    if plain {
        out.push_str(s);
    } else {
        push_json_str_body(out, s);
    }
}

/// A JSON string.
pub(super) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_str_body(out, s);
    out.push('"');
}

/// The inside of a JSON string: `"`, `\` and control characters escaped.
fn push_json_str_body(out: &mut String, s: &str) {
    if find_special(s.as_bytes(), 0).is_none() {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
}
