//! The OTLP record encoder as it was before the scanner (`otlp_parse`): every line parsed by
//! `serde_json`. Kept only as the tests' oracle: the encoder's output must stay byte for byte
//! what this one writes (`tests` below).
//!
//! One canonical record → one OTLP `LogRecord`, in OTLP's JSON mapping, written directly.
//!
//! The record is parsed once into borrowed parts (keys as `Cow<str>`, values as raw JSON
//! text); strings and numbers are copied into the output as the JSON text they already are, so
//! a string is never unescaped and escaped again. The mapping is OTLP_MAPPING.md's (and the
//! README's table).
//!
//! Invariants:
//! - The output is one JSON object or nothing: a line that is not a record (not an object,
//!   no string `event`, no integer `event_timestamp`, no object `properties`) writes nothing.
//! - Attribute keys are unique within a record: object members are deduplicated while
//!   parsing (a later duplicate replaces an earlier one, as `serde_json` does), and the few
//!   keys two members could map to are decided explicitly (see [`write_attributes`]).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object key, borrowed from the line unless it holds escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// A JSON object's members in document order, without duplicate keys.
pub(super) struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::with_capacity(16);
                while let Some((Key(k), v)) = map.next_entry::<Key<'a>, &'a RawValue>()? {
                    match members.iter_mut().find(|(seen, _)| *seen == k) {
                        Some(member) => member.1 = v,
                        None => members.push((k, v)),
                    }
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

/// The envelope of a canonical record.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    event_timestamp: u64,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Members<'a>,
}

/// Writes the `LogRecord` of one canonical `line` to `out`; `dropped` above zero is added as
/// `cli_telemetry.dropped_records`. Returns `false`, having written nothing, when the line is
/// not a record.
pub(super) fn write_log_record(out: &mut String, line: &str, dropped: u64) -> bool {
    let Ok(rec) = serde_json::from_str::<Line<'_>>(line) else {
        return false;
    };
    let Some(nanos) = rec.event_timestamp.checked_mul(1_000_000) else {
        return false;
    };
    let prop = |key: &str| {
        rec.properties
            .0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.get())
    };
    let failed = prop("is_success") == Some("false");
    let mut nanos_text = nanos.to_string();
    nanos_text.push('"');
    out.push_str("{\"timeUnixNano\":\"");
    out.push_str(&nanos_text);
    out.push_str(",\"observedTimeUnixNano\":\"");
    out.push_str(&nanos_text);
    out.push_str(if failed {
        ",\"severityNumber\":17,\"severityText\":\"ERROR\""
    } else {
        ",\"severityNumber\":9,\"severityText\":\"INFO\""
    });
    out.push_str(",\"eventName\":");
    match (rec.event.as_ref(), prop("action")) {
        ("session", Some("\"start\"")) => out.push_str("\"session.start\""),
        ("session", Some("\"end\"")) => out.push_str("\"session.end\""),
        (event, _) => push_prefixed_key(out, event),
    }
    out.push_str(",\"attributes\":[");
    write_attributes(out, &rec.event, rec.source, &rec.properties, dropped);
    out.push_str("]}");
    true
}

/// The attributes of one record. Keys two members could map to are settled here: the
/// envelope's `source` wins over a `source` property, an `error` array over an `errors`
/// property, and the `dropped` count over a `dropped_records` property.
fn write_attributes(
    out: &mut String,
    event: &str,
    source: Option<&RawValue>,
    props: &Members<'_>,
    dropped: u64,
) {
    let mut attrs = Attrs { out, first: true };
    if let Some(src) = source {
        attrs.raw("\"cli_telemetry.source\"", src);
    }
    let error_is_array = props
        .0
        .iter()
        .any(|(k, v)| k == "error" && v.get().starts_with('['));
    let mut error_type = None;
    for (key, value) in &props.0 {
        let name = match (key.as_ref(), value.get()) {
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
                    push_prefixed_key(attrs.out, other);
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
        attrs.int("\"cli_telemetry.dropped_records\"", dropped);
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
    fn value(&mut self, value: &RawValue) {
        self.out.push_str(",\"value\":");
        write_any_value(self.out, value);
        self.out.push('}');
    }

    /// A `KeyValue` whose key is JSON text already.
    fn raw(&mut self, key_json: &str, value: &RawValue) {
        self.open_key();
        self.out.push_str(key_json);
        self.value(value);
    }

    /// A `KeyValue` of an integer value; the key is JSON text already.
    fn int(&mut self, key_json: &str, n: u64) {
        self.open_key();
        self.out.push_str(key_json);
        self.out.push_str(",\"value\":{\"intValue\":\"");
        self.out.push_str(&n.to_string());
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
pub(super) fn write_any_value(out: &mut String, value: &RawValue) {
    let text = value.get();
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
            let items: Vec<&RawValue> = serde_json::from_str(text).unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_any_value(out, item);
            }
            out.push_str("]}}");
        }
        Some(b'{') => {
            out.push_str("{\"kvlistValue\":{\"values\":[");
            let members = serde_json::from_str(text).unwrap_or(Members(Vec::new()));
            for (i, (k, v)) in members.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"key\":");
                push_json_str(out, k);
                out.push_str(",\"value\":");
                write_any_value(out, v);
                out.push('}');
            }
            out.push_str("]}}");
        }
        // Two corrections the protobuf encoder's tests found (the JSON mapping writes `0`
        // for `-0`, and infinities as strings); the encoder under test makes them too.
        Some(b'-' | b'0'..=b'9') if is_int64(text) => {
            out.push_str("{\"intValue\":\"");
            out.push_str(if text == "-0" { "0" } else { text });
            out.push_str("\"}");
        }
        Some(b'-' | b'0'..=b'9') => {
            out.push_str("{\"doubleValue\":");
            out.push_str(match text.parse::<f64>() {
                Ok(f) if f == f64::INFINITY => "\"Infinity\"",
                Ok(f) if f == f64::NEG_INFINITY => "\"-Infinity\"",
                _ => text,
            });
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

/// `"cli_telemetry.<name>"` as a JSON string.
fn push_prefixed_key(out: &mut String, name: &str) {
    out.push_str("\"cli_telemetry.");
    push_json_str_body(out, name);
    out.push('"');
}

/// A JSON string.
pub(super) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_str_body(out, s);
    out.push('"');
}

/// The inside of a JSON string: `"`, `\` and control characters escaped.
fn push_json_str_body(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
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

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use crate::export::otlp_wire::JsonWire;

    use serde_json::{Map, Value, json};

    use crate::config::Env;
    use crate::event::{CommandEvent, EventKind};
    use crate::{Client, Event, Outcome, testing};

    /// An event with every JSON type, escapes, nesting and colliding names.
    struct Odd;

    impl Event for Odd {
        fn kind(&self) -> EventKind {
            EventKind::Command
        }
        fn properties(&self) -> Map<String, Value> {
            let deep = (0..30).fold(json!(1), |v, _| json!([v]));
            let many: Map<String, Value> = (0..40).map(|i| (format!("k{i}"), json!(i))).collect();
            let v = json!({
                "action": "odd", "nested": {"a": [1, null, true, -0.5e-3], "b": {"c": 1.5}},
                "big": u64::MAX, "neg": i64::MIN, "nothing": null, "source": "spoof",
                "errors": ["x"], "dropped_records": 3, "quote\"key\n": "v\u{1}\\\"é😀",
                "empty": [], "emptyo": {}, "many": many, "long": (0..40).collect::<Vec<_>>(),
                "deep": deep,
                "error": ["e1", "e2"], "is_success": false,
            });
            v.as_object().cloned().unwrap_or_default()
        }
    }

    /// The canonical lines of a run: every event kind, successes and failures, tags.
    pub(in crate::export) fn records() -> Vec<String> {
        let env = Env::from_pairs([("TELEMETRY_TAGS", "team=infra,env=ci")]);
        let (client, records) =
            testing::capture_client(Client::builder().app("cagent", "1.2.3").env(env));
        client.track_command("build", ["--release", "a \"quoted\" arg"]);
        let fail = Outcome::failure("disk full\n\tat C:\\path");
        let ms = Duration::from_millis(42);
        client.track(&CommandEvent::new("deploy", vec![], fail, ms));
        let session = client.start_session("coder", "sess-1");
        client.record_tool_call("read_file", None, None, ms, Outcome::Success);
        client.record_tool_call("shell", None, None, ms, Outcome::failure("panicked"));
        client.record_tool_call("fetch", None, None, ms, Outcome::failure("cancelled"));
        client.record_token_usage("gpt-x", 120, 30, 0.0125);
        client.record_error("boom");
        session.finish(&Outcome::Success);
        client.track(&Odd);
        records.take_json()
    }

    /// Hand-made lines at the edges of what either reader accepts.
    pub(in crate::export) fn edge_lines() -> Vec<String> {
        let p = r#""properties":{"a":1}"#;
        [
            format!(r#"{{"event":"tool","event_timestamp":1,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1,"source":null,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1,"source":[1,{{"x":2}}],{p}}}"#),
            format!(r#"{{"event":"tool","event":"x","event_timestamp":1,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1,"source":null,"source":1,{p}}}"#),
            format!(r#"{{"ev\u0065nt":"tool","event_timestamp":1,{p}}}"#),
            format!(r#"{{"event":"t\u006fol","event_timestamp":1,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":01,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1.0,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":-0,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":18446744073709551615,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":18446744073709551616,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1,{p},"other":[1e5,-0,0.1E+2]}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1,{p},"other":01}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1,{p},"other":1.}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1,{p}}} "#),
            format!(r#" {{"event":"tool","event_timestamp":1,{p}}}"#),
            format!(r#"{{"event":"tool","event_timestamp":1,{p}}}x"#),
            format!(r#"{{"event":"tool","event_timestamp":1,{p},}}"#),
            r#"["tool",1,null,{"a":1}]"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"a":1,"b":2,"a":3}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"o":{"a":1,"a":[]}}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"o":{"\ud800":1}}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"o":{"\u0041":1}}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"s":"\ud800\x"}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"s":"\ud800\/"}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"s":"\u12G4"}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"s":"	"}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"t":tru}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"o":{"a" :[1 ,2]}}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{"":""}}"#.to_owned(),
            r#"{"event":"session","event_timestamp":1,"properties":{"action":"end"}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":{}}"#.to_owned(),
            r#"{"event":"tool","event_timestamp":1,"properties":[]}"#.to_owned(),
            r#"{}"#.to_owned(),
        ]
        .into()
    }

    /// Each line, every cut of it, and each byte in turn replaced by bytes that matter to JSON.
    fn corpus() -> Vec<String> {
        let mut lines = records();
        lines.extend(edge_lines());
        let mut all = Vec::new();
        for line in &lines {
            let boundaries = (0..=line.len()).filter(|&i| line.is_char_boundary(i));
            for i in boundaries {
                all.push(line[..i].to_owned());
                for b in [
                    "\"", "\\", ",", ":", "{", "}", "[", "]", " ", "0", "-", ".", "e", "\u{1}",
                ] {
                    let end = line[i..].chars().next().map_or(i, |c| i + c.len_utf8());
                    all.push(format!("{}{b}{}", &line[..i], &line[end..]));
                }
            }
        }
        all
    }

    #[test]
    fn the_encoder_writes_what_the_serde_encoder_wrote() {
        let corpus = corpus();
        let mut written = 0;
        for line in &corpus {
            for dropped in [0, 3] {
                let mut old = String::new();
                let new = super::super::otlp_logs::log_record_alone::<JsonWire>(line, dropped)
                    .map(|w| String::from_utf8(w.finish()).expect("UTF-8"));
                let old_ok = super::write_log_record(&mut old, line, dropped);
                assert_eq!(new, old_ok.then_some(old), "{line}");
                written += usize::from(old_ok);
            }
        }
        // The corpus reaches both sides: records written and lines refused.
        assert!(
            written > corpus.len() / 2 && written < corpus.len() * 2,
            "{written}"
        );
    }
}
