//! Exporters: how canonical records become a request body, and how an answer is judged.
//!
//! The outbox and delivery only know canonical records (the cagent JSON object of one record,
//! one compact line each). An exporter turns a batch of them into the bytes of one request at
//! send time, so switching exporters loses nothing that waits in the outbox.
//!
//! Invariants:
//! - `encode` never fails and never drops a record: a line it cannot read is sent as it is
//!   understood best (cagent) or skipped and counted by the caller (never silently).
//! - `judge` is a pure function of the answer: no I/O, no clock.

mod cagent;
mod otlp;
mod otlp_bench;
#[cfg(test)]
mod otlp_check;
mod otlp_env;
mod otlp_parse;
mod otlp_record;
#[cfg(test)]
mod otlp_record_ref;
#[cfg(test)]
mod otlp_tests;

use std::fmt;
use std::time::Duration;

pub(crate) use cagent::Cagent;
pub(crate) use otlp::Otlp;
pub use otlp_bench::BenchEncoder;
pub(crate) use otlp_env::{otlp_endpoint, otlp_headers, otlp_resource, otlp_timeout};

/// Which wire format records are sent in.
///
/// ```
/// use telemetry_runtime::Exporter;
/// assert_eq!(Exporter::default(), Exporter::Cagent);
/// assert_eq!("otlp".parse::<Exporter>(), Ok(Exporter::Otlp));
/// assert!("zipkin".parse::<Exporter>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Exporter {
    /// docker/cagent's JSON: `{"records": [record, ...]}` (the default).
    #[default]
    Cagent,
    /// OTLP/HTTP logs in OTLP's JSON mapping (`ExportLogsServiceRequest`).
    Otlp,
}

impl Exporter {
    /// The name used by `TELEMETRY_EXPORTER`: `cagent` or `otlp`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cagent => "cagent",
            Self::Otlp => "otlp",
        }
    }
}

impl std::str::FromStr for Exporter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cagent" => Ok(Self::Cagent),
            "otlp" => Ok(Self::Otlp),
            other => Err(format!(
                "unknown exporter `{other}` (expected `cagent` or `otlp`)"
            )),
        }
    }
}

/// A collector's answer to one request, as the exporter needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer<'a> {
    /// HTTP status code.
    pub(crate) status: u16,
    /// The response body (possibly cut at a cap).
    pub(crate) body: &'a [u8],
    /// `Retry-After`, when the answer carried a valid one.
    pub(crate) retry_after: Option<Duration>,
}

/// What an answer means for the batch that was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Stored: the batch leaves the outbox. `rejected` of its records were refused one by one
    /// (OTLP partial success): they are counted as dropped and never retried.
    Delivered {
        /// Records the collector refused inside an accepted batch.
        rejected: u64,
        /// The collector's explanation, shown in verbose mode.
        message: Option<String>,
    },
    /// Not now: the batch stays in the outbox for a later flush, not before `after`.
    Retry {
        /// The collector's `Retry-After`, when given.
        after: Option<Duration>,
        /// Why, for verbose mode.
        why: String,
    },
    /// Refused for good: the batch is dropped and counted.
    Refused {
        /// Why, for verbose mode.
        why: String,
    },
}

/// One wire format. Implementations are small, stateless apart from their configuration, and
/// shared by every thread of a client.
pub(crate) trait WireFormat: fmt::Debug + Send + Sync {
    /// The `Content-Type` of the request body.
    fn content_type(&self) -> &'static str;

    /// The body of one request carrying `records` (canonical lines, oldest first). A `dropped`
    /// count above zero travels as the `dropped_records` property of the first record.
    fn encode(&self, records: &[String], dropped: u64) -> Vec<u8>;

    /// [`encode`](Self::encode), saying how many lines were left out of the body (lines
    /// that are not records, for a format that cannot carry them as they are).
    fn encode_counted(&self, records: &[String], dropped: u64) -> Encoded {
        Encoded {
            body: self.encode(records, dropped),
            skipped: 0,
            carried_dropped: true,
        }
    }

    /// What the collector's answer means for the batch.
    fn judge(&self, answer: &Answer<'_>) -> Verdict;
}

/// A request body and what did not make it into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoded {
    /// The request body.
    pub(crate) body: Vec<u8>,
    /// Lines left out (not records): the caller counts them as dropped and removes them
    /// with the batch. When every line was skipped the body carries no record and need not
    /// be sent.
    pub(crate) skipped: usize,
    /// Whether a `dropped` count above zero is in the body (false only when no record was
    /// written to carry it: the caller keeps the count for the next batch).
    pub(crate) carried_dropped: bool,
}
