//! OTLP/HTTP protobuf: an `ExportLogsServiceRequest` (or `ExportTraceServiceRequest`)
//! decoded with the OpenTelemetry project's own message definitions (`opentelemetry-proto`,
//! generated for prost), read into the same `LogIn`s (raw spans) as OTLP/JSON, and mapped by
//! the one mapping (`log_record`, `traces::to_row`).
//! `AnyValue`s become the JSON values the JSON mapping of the same value gives.

use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Map, Value};

use super::traces::RawSpan;
use super::{LogIn, log_record};
use crate::record::Rejection;

/// The canonical records of a protobuf request, in order (as [`records`](super::records)
/// gives those of a JSON one). `Err` when the body is not an `ExportLogsServiceRequest`
/// (malformed protobuf, a string that is not UTF-8, nesting past prost's limit).
///
/// ```
/// use prost::Message;
/// use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
/// use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
/// use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
/// let uid = KeyValue {
///     key: "log.record.uid".into(),
///     value: Some(AnyValue { value: Some(Value::StringValue("id-1".into())) }),
///     ..Default::default()
/// };
/// let record = LogRecord {
///     time_unix_nano: 5_000_000,
///     event_name: "cli_telemetry.command".into(),
///     attributes: vec![uid],
///     ..Default::default()
/// };
/// let scope = ScopeLogs { log_records: vec![record], ..Default::default() };
/// let request = ExportLogsServiceRequest {
///     resource_logs: vec![ResourceLogs { scope_logs: vec![scope], ..Default::default() }],
/// };
/// let recs = telemetry_collector::otlp::records_protobuf(&request.encode_to_vec()).unwrap();
/// assert_eq!(recs[0].as_ref().unwrap()["event_timestamp"], 5);
/// assert!(telemetry_collector::otlp::records_protobuf(b"\x0a\x05cut").is_err());
/// ```
pub fn records_protobuf(body: &[u8]) -> Result<Vec<Result<Value, Rejection>>, String> {
    let request = ExportLogsServiceRequest::decode(body)
        .map_err(|e| format!("malformed protobuf ExportLogsServiceRequest: {e}"))?;
    let mut out = Vec::new();
    for rl in request.resource_logs {
        let resource = rl
            .resource
            .map(|r| attributes(r.attributes))
            .unwrap_or_default();
        for sl in rl.scope_logs {
            for lr in sl.log_records {
                let log = LogIn::new(
                    Some(lr.event_name),
                    Some(lr.time_unix_nano),
                    Some(lr.observed_time_unix_nano),
                    attributes(lr.attributes),
                );
                out.push(log_record(log, &resource));
            }
        }
    }
    Ok(out)
}

/// The raw spans of a protobuf `ExportTraceServiceRequest`, in order (as
/// [`traces::from_json`](super::traces::from_json) gives those of a JSON one); the one
/// mapping from there is [`traces::to_row`](super::traces::to_row). `Err` when the body is
/// not an `ExportTraceServiceRequest`.
///
/// ```
/// use prost::Message;
/// use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
/// use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
/// let span = Span { trace_id: vec![1; 16], span_id: vec![2; 8], name: "run".into(),
///     start_time_unix_nano: 5, end_time_unix_nano: 9, ..Default::default() };
/// let scope = ScopeSpans { spans: vec![span], ..Default::default() };
/// let request = ExportTraceServiceRequest {
///     resource_spans: vec![ResourceSpans { scope_spans: vec![scope], ..Default::default() }],
/// };
/// let spans = telemetry_collector::otlp::spans_protobuf(&request.encode_to_vec()).unwrap();
/// assert_eq!((spans[0].name.as_str(), spans[0].end), ("run", 9));
/// assert!(telemetry_collector::otlp::spans_protobuf(b"\x0a\x05cut").is_err());
/// ```
pub fn spans_protobuf(body: &[u8]) -> Result<Vec<RawSpan>, String> {
    let request = ExportTraceServiceRequest::decode(body)
        .map_err(|e| format!("malformed protobuf ExportTraceServiceRequest: {e}"))?;
    let mut out = Vec::new();
    for rs in request.resource_spans {
        let resource = rs
            .resource
            .map(|r| attributes(r.attributes))
            .unwrap_or_default();
        let service = resource
            .get("service.name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for ss in rs.scope_spans {
            for sp in ss.spans {
                let status = sp.status.unwrap_or_default();
                out.push(RawSpan {
                    trace_id: sp.trace_id,
                    span_id: sp.span_id,
                    parent_span_id: sp.parent_span_id,
                    name: sp.name,
                    kind: sp.kind,
                    start: sp.start_time_unix_nano,
                    end: sp.end_time_unix_nano,
                    status_code: status.code,
                    status_message: status.message,
                    attributes: attributes(sp.attributes),
                    service: service.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Key-value pairs as a JSON object (a later key replaces an earlier one, as in JSON);
/// pairs without a value are left out.
fn attributes(list: Vec<KeyValue>) -> Map<String, Value> {
    let mut map = Map::new();
    for kv in list {
        if let Some(value) = kv.value.and_then(any_value) {
            map.insert(kv.key, value);
        }
    }
    map
}

/// The JSON value the JSON mapping of `v` gives: strings, booleans, integers, doubles
/// (infinities and NaN as the strings the JSON mapping writes), arrays, objects, bytes as
/// base64 text. An empty `AnyValue` (or a profiles-only string index) is no value.
fn any_value(v: AnyValue) -> Option<Value> {
    Some(match v.value? {
        any_value::Value::StringValue(s) => Value::String(s),
        any_value::Value::BoolValue(b) => Value::Bool(b),
        any_value::Value::IntValue(i) => Value::from(i),
        any_value::Value::DoubleValue(d) => serde_json::Number::from_f64(d).map_or_else(
            || {
                let text = match d {
                    f64::INFINITY => "Infinity",
                    f64::NEG_INFINITY => "-Infinity",
                    _ => "NaN",
                };
                Value::String(text.to_owned())
            },
            Value::Number,
        ),
        any_value::Value::ArrayValue(a) => {
            Value::Array(a.values.into_iter().filter_map(any_value).collect())
        }
        any_value::Value::KvlistValue(kv) => Value::Object(attributes(kv.values)),
        any_value::Value::BytesValue(b) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn any(v: any_value::Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn any_values_map_to_what_their_json_mapping_gives() {
        use any_value::Value as V;
        let kv = |k: &str, v| KeyValue {
            key: k.into(),
            value: Some(any(v)),
            ..Default::default()
        };
        let list = any(V::KvlistValue(KeyValueList {
            values: vec![kv("k", V::DoubleValue(1.5)), kv("k", V::IntValue(-7))],
        }));
        let array = any(V::ArrayValue(ArrayValue {
            values: vec![any(V::BoolValue(true)), AnyValue { value: None }, list],
        }));
        assert_eq!(any_value(array), Some(json!([true, {"k": -7}])));
        assert_eq!(
            any_value(any(V::BytesValue(b"hi".to_vec()))),
            Some(json!("aGk="))
        );
        assert_eq!(
            any_value(any(V::DoubleValue(f64::INFINITY))),
            Some(json!("Infinity"))
        );
        assert_eq!(any_value(any(V::DoubleValue(f64::NAN))), Some(json!("NaN")));
        assert_eq!(any_value(AnyValue { value: None }), None);
    }
}
