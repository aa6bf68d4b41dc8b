//! OTLP logs (`ExportLogsServiceRequest`, in OTLP/JSON or in protobuf) mapped back to
//! canonical records, per the mapping the runtime's OTLP exporter follows (see the crate
//! README). Each encoding is read into the same `LogIn`s (`records` for JSON, `proto` for
//! protobuf); `log_record` is the one mapping from there. `body` is the HTTP side: content
//! types, gzip within the body limit, answers in the request's encoding.

pub mod body;
mod proto;
pub mod traces;

use serde_json::{Map, Value, json};

use crate::record::Rejection;

pub use proto::{records_protobuf, spans_protobuf};

/// Attributes with a semantic-convention name and their canonical property.
const SEMCONV: &[(&str, &str)] = &[
    ("log.record.uid", "event_id"),
    ("enduser.pseudo.id", "user_uuid"),
    ("session.id", "session_id"),
    ("gen_ai.agent.name", "agent_name"),
    ("gen_ai.tool.name", "tool_name"),
    ("gen_ai.request.model", "model_name"),
    ("gen_ai.usage.input_tokens", "input_tokens"),
    ("gen_ai.usage.output_tokens", "output_tokens"),
    ("error.message", "error"),
    ("cli_telemetry.errors", "error"),
];

/// Attributes the exporter derives from others; mapping back drops them.
const DERIVED: &[&str] = &["error.type", "gen_ai.operation.name"];

/// The canonical records of one request, in order; a log record missing `log.record.uid` or
/// an event name is a [`Rejection`]. `Err` when the body is not an export request at all.
///
/// ```
/// let body = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
///     "timeUnixNano": "5000000", "eventName": "cli_telemetry.command",
///     "attributes": [{"key": "log.record.uid", "value": {"stringValue": "id-1"}}]}]}]}]});
/// let recs = telemetry_collector::otlp::records(&body).unwrap();
/// assert_eq!(recs[0].as_ref().unwrap()["event_timestamp"], 5);
/// ```
pub fn records(body: &Value) -> Result<Vec<Result<Value, Rejection>>, String> {
    let Some(resource_logs) = body.get("resourceLogs") else {
        return Err("body has no `resourceLogs`".into());
    };
    let Some(resource_logs) = resource_logs.as_array() else {
        return Err("`resourceLogs` is not an array".into());
    };
    let mut out = Vec::new();
    for rl in resource_logs {
        let resource = attributes(&rl["resource"]["attributes"]);
        for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
            for lr in sl["logRecords"].as_array().into_iter().flatten() {
                out.push(log_record(json_log(lr), &resource));
            }
        }
    }
    Ok(out)
}

/// One log record, as either encoding gives it: what the mapping reads. Times of zero and an
/// empty event name count as unset (protobuf cannot tell them apart from unset).
pub(crate) struct LogIn {
    /// `eventName`.
    pub(crate) event_name: Option<String>,
    /// `timeUnixNano`, else `observedTimeUnixNano`.
    pub(crate) time_unix_nano: Option<u64>,
    /// The attributes, mapped to JSON values (`any_value`).
    pub(crate) attributes: Map<String, Value>,
}

impl LogIn {
    pub(crate) fn new(
        event_name: Option<String>,
        time: Option<u64>,
        observed: Option<u64>,
        attributes: Map<String, Value>,
    ) -> Self {
        Self {
            event_name: event_name.filter(|n| !n.is_empty()),
            time_unix_nano: time.filter(|t| *t > 0).or(observed.filter(|t| *t > 0)),
            attributes,
        }
    }
}

/// A log record of an OTLP/JSON body.
fn json_log(lr: &Value) -> LogIn {
    LogIn::new(
        lr["eventName"].as_str().map(str::to_owned),
        nanos(&lr["timeUnixNano"]),
        nanos(&lr["observedTimeUnixNano"]),
        attributes(&lr["attributes"]),
    )
}

/// The mapping: one log record (with its resource's attributes) → one canonical record; a
/// log record missing `log.record.uid` or an event name is a [`Rejection`].
pub(crate) fn log_record(lr: LogIn, resource: &Map<String, Value>) -> Result<Value, Rejection> {
    let attrs = lr.attributes;
    let event_name = lr
        .event_name
        .as_deref()
        .or_else(|| attrs.get("event.name").and_then(Value::as_str))
        .ok_or_else(|| Rejection("a log record has no eventName".into()))?;
    let (event, action) = match event_name {
        "session.start" => ("session".to_owned(), Some("start")),
        "session.end" => ("session".to_owned(), Some("end")),
        other => (
            other
                .strip_prefix("cli_telemetry.")
                .unwrap_or(other)
                .to_owned(),
            None,
        ),
    };
    match attrs.get("log.record.uid") {
        Some(Value::String(uid)) if uid.is_empty() => {
            return Err(Rejection("a log record's log.record.uid is empty".into()));
        }
        Some(Value::String(_)) => {}
        _ => {
            return Err(Rejection(
                "a log record has no string log.record.uid".into(),
            ));
        }
    }
    let mut props = Map::new();
    let mut source = None;
    for (key, value) in attrs {
        if key == "cli_telemetry.source" {
            source = Some(value);
        } else if let Some((_, canonical)) = SEMCONV.iter().find(|(k, _)| *k == key) {
            props.insert((*canonical).to_owned(), value);
        } else if let Some(own) = key.strip_prefix("cli_telemetry.") {
            props.insert(own.to_owned(), value);
        } else if !DERIVED.contains(&key.as_str()) && key != "event.name" {
            props.insert(key, value);
        }
    }
    if let Some(action) = action {
        props.insert("action".into(), json!(action));
    }
    for (res_key, prop) in [("service.version", "version"), ("os.type", "os")] {
        if let (false, Some(v)) = (props.contains_key(prop), resource.get(res_key)) {
            props.insert(prop.into(), v.clone());
        }
    }
    let source = source.or_else(|| resource.get("service.name").cloned());
    let ts = lr
        .time_unix_nano
        .map(|ns| (ns / 1_000_000).min(i64::MAX as u64) as i64);
    let mut rec = Map::new();
    rec.insert("event".into(), json!(event));
    if let Some(ts) = ts {
        rec.insert("event_timestamp".into(), json!(ts));
    }
    if let Some(source) = source {
        rec.insert("source".into(), source);
    }
    rec.insert("properties".into(), Value::Object(props));
    Ok(Value::Object(rec))
}

/// A uint64 in the OTLP JSON mapping: a decimal string, or a plain number.
fn nanos(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse::<u64>().ok(),
        other => other.as_u64(),
    }
}

/// `[{"key", "value": AnyValue}]` as a JSON object; malformed entries are ignored.
pub fn attributes(list: &Value) -> Map<String, Value> {
    let mut map = Map::new();
    for kv in list.as_array().into_iter().flatten() {
        if let (Some(key), Some(value)) = (kv["key"].as_str(), any_value(&kv["value"])) {
            map.insert(key.to_owned(), value);
        }
    }
    map
}

fn any_value(v: &Value) -> Option<Value> {
    let obj = v.as_object()?;
    let (kind, inner) = obj.iter().next()?;
    Some(match kind.as_str() {
        "stringValue" | "boolValue" | "bytesValue" => inner.clone(),
        "intValue" => match inner {
            Value::String(s) => s.parse::<i64>().map(Value::from).ok()?,
            other => other.clone(),
        },
        "doubleValue" => inner.clone(),
        "arrayValue" => Value::Array(
            inner["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(any_value)
                .collect(),
        ),
        "kvlistValue" => Value::Object(attributes(&inner["values"])),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_values_map_back_to_json_types() {
        let v = json!({"arrayValue": {"values": [{"intValue": "7"}, {"boolValue": true},
            {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}}]}});
        assert_eq!(any_value(&v), Some(json!([7, true, {"k": 1.5}])));
        assert_eq!(any_value(&json!({"intValue": "x"})), None);
    }

    #[test]
    fn a_body_without_resource_logs_is_an_error() {
        assert!(records(&json!({})).is_err());
        assert!(records(&json!({"resourceLogs": 1})).is_err());
        assert_eq!(records(&json!({"resourceLogs": []})).unwrap().len(), 0);
    }
}
