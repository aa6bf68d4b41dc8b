//! `/v1/logs` and `/v1/traces` over HTTP: which bodies are taken (`Content-Type`, `Content-Encoding`), gzip
//! inflated within the body limit, and the answer in the request's own encoding.
//!
//! Invariants: a gzip body is never inflated past `--max-body` bytes (the limit applies to
//! the decompressed size, checked while inflating, so memory stays bounded whatever the
//! ratio); nothing here panics on any input.

use std::borrow::Cow;
use std::io::Read;

use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::read::MultiGzDecoder;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::{Value, json};

use super::traces::RawSpan;
use crate::record::Rejection;

/// The types `/v1/logs` takes, as a 415 names them.
pub const SUPPORTED_TYPES: &str = "application/x-protobuf or application/json";

/// How an OTLP request is encoded (its `Content-Type`), and so how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Encoding {
    /// The `Content-Type` of an answer in this encoding.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// How a request body is compressed (its `Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// None, or `identity`.
    Identity,
    /// `gzip` (or its old alias `x-gzip`).
    Gzip,
}

/// The request's encoding and compression. `Err`: why it gets `415` (the type or the
/// encoding, naming what is supported). Type parameters (`; charset=utf-8`) and case do not
/// matter.
pub fn negotiate(headers: &HeaderMap) -> Result<(Encoding, Compression), String> {
    let text = |v: Option<&HeaderValue>| v.map(|v| v.to_str().unwrap_or("?").trim().to_owned());
    let content_type = text(headers.get(CONTENT_TYPE)).unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let encoding = match mime.as_str() {
        "application/x-protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            let got = if other.is_empty() { "none" } else { other };
            return Err(format!(
                "Content-Type must be {SUPPORTED_TYPES} (got {})",
                shown(got)
            ));
        }
    };
    let compression = match text(headers.get(CONTENT_ENCODING)) {
        None => Compression::Identity,
        Some(enc) => match enc.to_ascii_lowercase().as_str() {
            "" | "identity" => Compression::Identity,
            "gzip" | "x-gzip" => Compression::Gzip,
            _ => {
                return Err(format!(
                    "Content-Encoding {} is not supported (gzip or identity)",
                    shown(&enc)
                ));
            }
        },
    };
    Ok((encoding, compression))
}

/// A client's header value as an answer may quote it: printable ASCII, at most 64 characters.
fn shown(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(64)
        .collect()
}

/// Why a body that was read is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Decompressed, it is over the limit (`413`).
    TooLarge,
    /// It is not what its headers say (`400`), with the reason.
    Malformed(String),
}

/// The body as sent, gzip inflated: at most `max` bytes are produced, and a body that would
/// inflate past them is [`Refusal::TooLarge`] as soon as it does.
pub fn inflate(
    body: &[u8],
    compression: Compression,
    max: usize,
) -> Result<Cow<'_, [u8]>, Refusal> {
    if compression == Compression::Identity {
        return Ok(Cow::Borrowed(body));
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| Refusal::Malformed(format!("the gzip body does not inflate: {e}")))?;
    if out.len() > max {
        return Err(Refusal::TooLarge);
    }
    Ok(Cow::Owned(out))
}

/// The canonical records of a `/v1/logs` body (inflated, then decoded as its encoding).
pub fn decode(
    body: &[u8],
    encoding: Encoding,
    compression: Compression,
    max: usize,
) -> Result<Vec<Result<Value, Rejection>>, Refusal> {
    let body = inflate(body, compression, max)?;
    match encoding {
        Encoding::Protobuf => super::records_protobuf(&body).map_err(Refusal::Malformed),
        Encoding::Json => {
            let value: Value = serde_json::from_slice(&body)
                .map_err(|e| Refusal::Malformed(format!("malformed JSON: {e}")))?;
            super::records(&value).map_err(Refusal::Malformed)
        }
    }
}

/// The raw spans of a `/v1/traces` body (inflated, then decoded as its encoding).
pub fn decode_traces(
    body: &[u8],
    encoding: Encoding,
    compression: Compression,
    max: usize,
) -> Result<Vec<RawSpan>, Refusal> {
    let body = inflate(body, compression, max)?;
    match encoding {
        Encoding::Protobuf => super::spans_protobuf(&body).map_err(Refusal::Malformed),
        Encoding::Json => {
            let value: Value = serde_json::from_slice(&body)
                .map_err(|e| Refusal::Malformed(format!("malformed JSON: {e}")))?;
            super::traces::from_json(&value).map_err(Refusal::Malformed)
        }
    }
}

/// The `200` answer of `/v1/traces`: an `ExportTraceServiceResponse` in the request's
/// encoding, with a `partial_success` when `rejected` spans were left out.
pub fn answer_traces(encoding: Encoding, rejected: usize, message: &str) -> Response {
    answer_in(encoding, rejected, message, "rejectedSpans", |partial| {
        let partial_success = partial.map(|(n, m)| ExportTracePartialSuccess {
            rejected_spans: n,
            error_message: m,
        });
        ExportTraceServiceResponse { partial_success }.encode_to_vec()
    })
}

/// The `200` answer: an `ExportLogsServiceResponse` in the request's encoding, with a
/// `partial_success` when `rejected` records were left out (`message` says why).
pub fn answer(encoding: Encoding, rejected: usize, message: &str) -> Response {
    answer_in(
        encoding,
        rejected,
        message,
        "rejectedLogRecords",
        |partial| {
            let partial_success = partial.map(|(n, m)| ExportLogsPartialSuccess {
                rejected_log_records: n,
                error_message: m,
            });
            ExportLogsServiceResponse { partial_success }.encode_to_vec()
        },
    )
}

/// A signal's `200` answer in the request's encoding: `{}` or a `partialSuccess` whose count
/// is `rejected_key` in JSON (an int64 as a string), or the response `protobuf` makes from the
/// partial success (`None` when nothing was rejected).
fn answer_in(
    encoding: Encoding,
    rejected: usize,
    message: &str,
    rejected_key: &str,
    protobuf: impl FnOnce(Option<(i64, String)>) -> Vec<u8>,
) -> Response {
    let rejected = i64::try_from(rejected).unwrap_or(i64::MAX);
    match encoding {
        Encoding::Json => {
            let body = if rejected == 0 {
                json!({})
            } else {
                json!({"partialSuccess": {
                    rejected_key: rejected.to_string(), "errorMessage": message}})
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Encoding::Protobuf => {
            let body = protobuf((rejected > 0).then(|| (rejected, message.to_owned())));
            let headers = [(CONTENT_TYPE, Encoding::Protobuf.content_type())];
            (StatusCode::OK, headers, body).into_response()
        }
    }
}

#[cfg(test)]
mod tests;
