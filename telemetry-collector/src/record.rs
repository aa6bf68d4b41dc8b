//! One canonical record (the cagent format) checked and flattened into a storable [`Row`].
//!
//! Required: `event` (a string) and `properties` (an object). `properties.event_id` is the
//! record's identity; a record without one (upstream cagent's Go client sends none) gets a
//! deterministic id, `sha256:` + the first 32 hex digits of SHA-256 over the record's
//! canonical JSON (keys sorted, no whitespace), so a replayed batch still deduplicates.
//! Every string in the record is capped at [`MAX_STRING_CHARS`] characters before storing,
//! and its numbers are checked against their bounds first (`validate.rs`); a NUL in a
//! string becomes U+FFFD.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The longest string kept anywhere in a stored record, in characters; longer ones are cut.
pub const MAX_STRING_CHARS: usize = 1024;

pub use crate::validate::Rejection;

/// A record ready for the `events` table: the indexed columns plus the whole record's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Unique identity (`event_id`, `log.record.uid`, or the derived `sha256:` id).
    pub event_id: String,
    /// `event_timestamp`, milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// `event`: `command`, `tool`, `token`, `session`, or any other kind a client sends.
    pub kind: String,
    /// `properties.action`.
    pub action: Option<String>,
    /// What the report groups by: the command's action, `tool_name` or `model_name`.
    pub name: Option<String>,
    /// `user_uuid`: the anonymous install id.
    pub user_id: Option<String>,
    /// `session_id`.
    pub session_id: Option<String>,
    /// `agent_name` (the session view's agent when no session record names one).
    pub agent: Option<String>,
    /// `is_success`.
    pub is_success: Option<bool>,
    /// `duration_ms`.
    pub duration_ms: Option<i64>,
    /// `input_tokens`.
    pub input_tokens: Option<i64>,
    /// `output_tokens`.
    pub output_tokens: Option<i64>,
    /// `cost`.
    pub cost: Option<f64>,
    /// `tool_calls` (session end).
    pub tool_calls: Option<i64>,
    /// `error_count` (session end).
    pub error_count: Option<i64>,
    /// `error` when it is a string (command and tool failures).
    pub error: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `os`.
    pub os: Option<String>,
    /// The envelope's `source`.
    pub source: Option<String>,
    /// `dropped_records`: records the client dropped before this one.
    pub dropped_records: Option<i64>,
    /// The whole record (strings capped), so unknown properties are kept.
    pub json: String,
}

/// Checks one canonical record and flattens it; `now_ms` stands in for a missing timestamp.
///
/// ```
/// let rec = serde_json::json!({"event": "command", "event_timestamp": 1,
///     "properties": {"action": "run", "event_id": "e1", "is_success": true}});
/// let row = telemetry_collector::record::to_row(rec, 0).unwrap();
/// assert_eq!((row.kind.as_str(), row.name.as_deref()), ("command", Some("run")));
/// ```
pub fn to_row(record: Value, now_ms: i64) -> Result<Row, Rejection> {
    let Value::Object(obj) = record else {
        return Err(Rejection("a record is not a JSON object".into()));
    };
    let Some(Value::String(_)) = obj.get("event") else {
        return Err(Rejection("a record has no string `event`".into()));
    };
    let Some(Value::Object(_)) = obj.get("properties") else {
        return Err(Rejection("a record has no object `properties`".into()));
    };
    let event_id = match obj["properties"].get("event_id") {
        Some(Value::String(id)) if id.is_empty() => {
            return Err(Rejection("`properties.event_id` is empty".into()));
        }
        Some(Value::String(id)) => cap(id),
        None | Some(Value::Null) => derived_id(&obj),
        Some(_) => return Err(Rejection("`properties.event_id` is not a string".into())),
    };
    crate::validate::numbers(&obj, now_ms)?;
    let mut record = Value::Object(obj);
    cap_strings(&mut record);
    Ok(flatten(event_id, record, now_ms))
}

fn flatten(event_id: String, record: Value, now_ms: i64) -> Row {
    let p = &record["properties"];
    let kind = str_of(&record["event"]).unwrap_or_default();
    let action = str_of(&p["action"]);
    let name = match kind.as_str() {
        "tool" => str_of(&p["tool_name"]),
        "token" => str_of(&p["model_name"]),
        "session" => str_of(&p["agent_name"]),
        _ => action.clone(),
    };
    Row {
        event_id,
        ts_ms: int_of(&record["event_timestamp"]).unwrap_or(now_ms),
        action,
        name,
        user_id: str_of(&p["user_uuid"]),
        session_id: str_of(&p["session_id"]),
        agent: p["agent_name"]
            .as_str()
            .filter(|a| !a.is_empty())
            .map(no_nul),
        is_success: p["is_success"].as_bool(),
        duration_ms: int_of(&p["duration_ms"]).map(|d| d.max(0)),
        input_tokens: int_of(&p["input_tokens"]),
        output_tokens: int_of(&p["output_tokens"]),
        cost: p["cost"].as_f64(),
        tool_calls: int_of(&p["tool_calls"]),
        error_count: int_of(&p["error_count"]),
        error: str_of(&p["error"]),
        version: str_of(&p["version"]),
        os: str_of(&p["os"]),
        source: str_of(&record["source"]),
        dropped_records: int_of(&p["dropped_records"]).map(|d| d.max(0)),
        json: record.to_string(),
        kind,
    }
}

fn str_of(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn int_of(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// `sha256:` + 32 hex digits over the canonical JSON (serde_json's maps are sorted by key).
fn derived_id(obj: &Map<String, Value>) -> String {
    let canonical = serde_json::to_string(obj).unwrap_or_default();
    let digest = Sha256::digest(canonical.as_bytes());
    let mut id = String::from("sha256:");
    for byte in &digest[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// `s` cut to [`MAX_STRING_CHARS`] characters, each NUL replaced by U+FFFD (PostgreSQL's
/// text cannot hold NUL, and both stores keep the same text).
pub fn cap(s: &str) -> String {
    let s = match s.char_indices().nth(MAX_STRING_CHARS) {
        Some((at, _)) => &s[..at],
        None => s,
    };
    no_nul(s)
}

/// `s` with each NUL replaced by U+FFFD.
///
/// ```
/// assert_eq!(telemetry_collector::record::no_nul("a\u{0}b"), "a\u{fffd}b");
/// ```
pub fn no_nul(s: &str) -> String {
    s.replace('\0', "\u{fffd}")
}

/// Caps every string, and replaces each NUL by U+FFFD: PostgreSQL's text cannot hold NUL
/// (a record with one would fail its whole batch there), and both stores keep the same text.
fn cap_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some((at, _)) = s.char_indices().nth(MAX_STRING_CHARS) {
                s.truncate(at);
            }
            if s.contains('\0') {
                *s = no_nul(s);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(cap_strings),
        Value::Object(map) => map.values_mut().for_each(cap_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_event_id_gets_the_same_derived_id_every_time() {
        let rec = json!({"event": "tool", "properties": {"tool_name": "x", "user_uuid": "u"}});
        let a = to_row(rec.clone(), 5).unwrap();
        let b = to_row(rec, 6).unwrap();
        assert_eq!(a.event_id, b.event_id);
        assert!(a.event_id.starts_with("sha256:") && a.event_id.len() == 39);
        assert_eq!(a.ts_ms, 5, "a missing timestamp falls back to now");
    }

    #[test]
    fn records_without_required_fields_are_rejected() {
        for bad in [
            json!(1),
            json!({"properties": {}}),
            json!({"event": "x"}),
            json!({"event": "x", "properties": []}),
            json!({"event": "x", "properties": {"event_id": 3}}),
            json!({"event": "x", "properties": {"event_id": ""}}),
            json!({"event": "x", "properties": {"event_id": "e", "cost": -1}}),
        ] {
            assert!(to_row(bad.clone(), 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_strings_are_capped_in_columns_and_json() {
        let long = "é".repeat(MAX_STRING_CHARS + 10);
        let rec = json!({"event": "command", "properties": {"event_id": "e", "error": long, "tag": long}});
        let row = to_row(rec, 0).unwrap();
        assert_eq!(row.error.unwrap().chars().count(), MAX_STRING_CHARS);
        let stored: Value = serde_json::from_str(&row.json).unwrap();
        assert_eq!(
            stored["properties"]["tag"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            MAX_STRING_CHARS
        );
    }
}
