//! OTLP/HTTP logs in OTLP's JSON mapping: one `ExportLogsServiceRequest` per batch, one
//! resource (the sending application), one scope (this crate), one `LogRecord` per canonical
//! record (see `otlp_record`). Answers are judged per the OTLP/HTTP specification.
//!
//! No OpenTelemetry SDK: the `opentelemetry-otlp` crate brings an async runtime and over a
//! hundred crates for what is a few strings here; the bodies are checked against the
//! OpenTelemetry project's own definitions by the tests instead (`otlp_check`).

use serde_json::Value;

use super::otlp_record::{push_json_str, write_log_record};
use super::{Answer, Encoded, Verdict, WireFormat};

/// The scope's and `telemetry.sdk.name`'s name: the facade crate.
pub(crate) const SDK_NAME: &str = "cli-telemetry";
/// This crate's version (the workspace's: the facade's too).
pub(crate) const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The resource of every request a client sends: string attributes, unique keys, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OtlpResource {
    attributes: Vec<(String, String)>,
}

impl OtlpResource {
    /// `service.name`, `service.version`, `os.type`, `telemetry.sdk.{name,language,version}`,
    /// then `extra` (already capped and scrubbed): an extra key equal to one of those or to an
    /// earlier extra key is left out.
    pub(crate) fn new(
        service_name: &str,
        service_version: &str,
        extra: &[(String, String)],
    ) -> Self {
        let mut attributes: Vec<(String, String)> = [
            ("service.name", service_name),
            ("service.version", service_version),
            ("os.type", os_type(std::env::consts::OS)),
            ("telemetry.sdk.name", SDK_NAME),
            ("telemetry.sdk.language", "rust"),
            ("telemetry.sdk.version", SDK_VERSION),
        ]
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            if !attributes.iter().any(|(seen, _)| seen == k) {
                attributes.push((k.clone(), v.clone()));
            }
        }
        Self { attributes }
    }

    /// The attributes, in the order they are sent.
    pub(crate) fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }
}

/// The semantic conventions' `os.type` for a Rust `std::env::consts::OS`.
pub(crate) fn os_type(os: &str) -> &str {
    match os {
        "macos" | "ios" => "darwin",
        "dragonfly" => "dragonflybsd",
        other => other,
    }
}

/// The OTLP exporter. The resource and scope are serialized once, when it is built.
#[derive(Debug, Clone)]
pub(crate) struct Otlp {
    /// The body up to the first `LogRecord`.
    head: String,
}

/// The body after the last `LogRecord`.
const TAIL: &str = "]}]}]}";

impl Otlp {
    /// The exporter for a client whose requests carry `resource`.
    pub(crate) fn new(resource: &OtlpResource) -> Self {
        let mut head = String::from("{\"resourceLogs\":[{\"resource\":{\"attributes\":[");
        for (i, (k, v)) in resource.attributes().iter().enumerate() {
            if i > 0 {
                head.push(',');
            }
            head.push_str("{\"key\":");
            push_json_str(&mut head, k);
            head.push_str(",\"value\":{\"stringValue\":");
            push_json_str(&mut head, v);
            head.push_str("}}");
        }
        head.push_str("]},\"scopeLogs\":[{\"scope\":{\"name\":");
        push_json_str(&mut head, SDK_NAME);
        head.push_str(",\"version\":");
        push_json_str(&mut head, SDK_VERSION);
        head.push_str("},\"logRecords\":[");
        Self { head }
    }
}

impl WireFormat for Otlp {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn encode(&self, records: &[String], dropped: u64) -> Vec<u8> {
        self.encode_counted(records, dropped).body
    }

    /// Lines that are not records are skipped and counted; `dropped` travels on the first
    /// record written (`carried_dropped` says whether there was one).
    fn encode_counted(&self, records: &[String], dropped: u64) -> Encoded {
        let size: usize = records.iter().map(|r| r.len() * 3 + 256).sum();
        let mut body = String::with_capacity(self.head.len() + size + TAIL.len());
        body.push_str(&self.head);
        let (mut written, mut skipped) = (0_usize, 0_usize);
        for line in records {
            let mark = body.len();
            if written > 0 {
                body.push(',');
            }
            let carry = if written == 0 { dropped } else { 0 };
            if write_log_record(&mut body, line, carry) {
                written += 1;
            } else {
                body.truncate(mark);
                skipped += 1;
            }
        }
        body.push_str(TAIL);
        Encoded {
            body: body.into_bytes(),
            skipped,
            carried_dropped: dropped == 0 || written > 0,
        }
    }

    fn judge(&self, answer: &Answer<'_>) -> Verdict {
        judge(answer)
    }
}

/// Longest collector message kept for verbose mode, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

/// The OTLP/HTTP answer rules: 2xx delivered (a `partialSuccess` counts rejected records);
/// 429, 502, 503, 504 retried later; any other status refuses the batch.
pub(crate) fn judge(answer: &Answer<'_>) -> Verdict {
    match answer.status {
        200..=299 => {
            let (rejected, message) = partial_success(answer.body);
            Verdict::Delivered { rejected, message }
        }
        s @ (429 | 502 | 503 | 504) => Verdict::Retry {
            after: answer.retry_after,
            why: format!("collector answered {s}"),
        },
        s => Verdict::Refused {
            why: match status_message(answer.body) {
                Some(m) => format!("collector refused them ({s}: {m})"),
                None => format!("collector refused them ({s})"),
            },
        },
    }
}

/// `partialSuccess.rejectedLogRecords` (a decimal string or a number) and `errorMessage` of
/// an `ExportLogsServiceResponse`; an empty, cut or non-JSON body is a full success.
fn partial_success(body: &[u8]) -> (u64, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (0, None);
    };
    let Some(ps) = v.get("partialSuccess") else {
        return (0, None);
    };
    let rejected = match ps.get("rejectedLogRecords") {
        Some(Value::String(s)) => s.trim().parse::<u64>().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    };
    let message = ps
        .get("errorMessage")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .map(cap_message);
    (rejected, message)
}

/// The `message` of a `google.rpc.Status` error body, when there is one.
fn status_message(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<Value>(body).ok()?;
    let m = v.get("message")?.as_str()?.trim();
    (!m.is_empty()).then(|| cap_message(m))
}

/// A collector's message as it may be shown: on one line, without control characters (a
/// peer's text never reaches a terminal raw), at most [`MAX_MESSAGE_CHARS`] characters.
fn cap_message(m: &str) -> String {
    crate::diag::printable(m, false)
        .trim()
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect()
}
