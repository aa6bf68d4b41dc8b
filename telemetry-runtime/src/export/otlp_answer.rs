//! Reading an OTLP/HTTP answer: `ExportLogsServiceResponse.partial_success` on a 2xx, the
//! `google.rpc.Status` message on an error, each in protobuf or in the JSON mapping.
//!
//! Invariants: never fails and never panics; a body that cannot be read says nothing (a 2xx
//! stays a full success); texts are cut at [`MAX_MESSAGE_CHARS`] and stripped of control
//! characters before anyone prints them.

use serde_json::Value;

use super::otlp_wire::{ProtoValue, Reader};

/// Longest collector message kept for verbose mode, in characters.
pub(super) const MAX_MESSAGE_CHARS: usize = 200;

/// The encoding of an answer's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The answer's encoding from its `Content-Type`; without a known one, the request's
    /// (`requested`), as a receiver answers in the request's type.
    pub(super) fn of(content_type: Option<&str>, requested: Self) -> Self {
        let mime = content_type
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        match mime.as_deref() {
            Some("application/x-protobuf" | "application/protobuf") => Self::Protobuf,
            Some("application/json") => Self::Json,
            _ => requested,
        }
    }
}

/// `partial_success`: the rejected count (negative or unreadable: 0) and the error message;
/// `(0, None)` for an empty or unreadable body. `rejected_key` is the count's name in the JSON
/// mapping (`rejectedLogRecords`, `rejectedSpans`): field 1 of every signal's partial success.
pub(super) fn partial_success(
    body: &[u8],
    encoding: Encoding,
    rejected_key: &str,
) -> (u64, Option<String>) {
    let (rejected, message) = match encoding {
        Encoding::Json => json_partial_success(body, rejected_key),
        Encoding::Protobuf => proto_partial_success(body),
    };
    (rejected, message.as_deref().and_then(clean))
}

/// The `message` of a `google.rpc.Status` error body, when there is one.
pub(super) fn status_message(body: &[u8], encoding: Encoding) -> Option<String> {
    let message = match encoding {
        Encoding::Json => serde_json::from_slice::<Value>(body)
            .ok()?
            .get("message")?
            .as_str()
            .map(str::to_owned),
        Encoding::Protobuf => proto_string_field(body, 2),
    };
    message.as_deref().and_then(clean)
}

fn json_partial_success(body: &[u8], rejected_key: &str) -> (u64, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (0, None);
    };
    let Some(ps) = v.get("partialSuccess") else {
        return (0, None);
    };
    let rejected = match ps.get(rejected_key) {
        Some(Value::String(s)) => s.trim().parse::<u64>().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    };
    let message = ps
        .get("errorMessage")
        .and_then(Value::as_str)
        .map(str::to_owned);
    (rejected, message)
}

/// `ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }`,
/// `ExportLogsPartialSuccess { int64 rejected_log_records = 1; string error_message = 2; }`.
/// A later occurrence of a field replaces an earlier one, as protobuf merges them.
fn proto_partial_success(body: &[u8]) -> (u64, Option<String>) {
    let mut partial: Option<&[u8]> = None;
    let mut reader = Reader::new(body);
    while let Ok(Some((number, value))) = reader.field() {
        if let (1, ProtoValue::Len(bytes)) = (number, value) {
            partial = Some(bytes);
        }
    }
    let Some(partial) = partial else {
        return (0, None);
    };
    let (mut rejected, mut message) = (0, None);
    let mut reader = Reader::new(partial);
    while let Ok(Some((number, value))) = reader.field() {
        match (number, value) {
            (1, ProtoValue::Varint(n)) => rejected = u64::try_from(n as i64).unwrap_or(0),
            (2, ProtoValue::Len(text)) => {
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
            _ => {}
        }
    }
    (rejected, message)
}

/// The last string field `number` of a protobuf message.
fn proto_string_field(body: &[u8], number: u32) -> Option<String> {
    let mut found = None;
    let mut reader = Reader::new(body);
    while let Ok(Some((n, value))) = reader.field() {
        if let (true, ProtoValue::Len(text)) = (n == number, value) {
            found = Some(text);
        }
    }
    found.map(|t| String::from_utf8_lossy(t).into_owned())
}

/// A collector's message as it may be shown: on one line, without control characters (a
/// peer's text never reaches a terminal raw), trimmed, at most [`MAX_MESSAGE_CHARS`]
/// characters; `None` when nothing is left.
fn clean(m: &str) -> Option<String> {
    let text: String = crate::diag::printable(m, false)
        .trim()
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    (!text.is_empty()).then_some(text)
}
