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
mod otlp_answer;
mod otlp_batch;
mod otlp_bench;
#[cfg(test)]
mod otlp_check;
mod otlp_common;
mod otlp_env;
#[cfg(test)]
mod otlp_env_tests;
mod otlp_logs;
mod otlp_metrics;
#[cfg(test)]
mod otlp_metrics_tests;
mod otlp_parse;
#[cfg(test)]
mod otlp_protocol_tests;
#[cfg(test)]
mod otlp_record_ref;
#[cfg(test)]
mod otlp_tests;
mod otlp_traces;
pub(crate) mod otlp_wire;

use std::fmt;
use std::time::Duration;

pub(crate) use crate::config::{Exporter, OtlpCompression, OtlpProtocol};
pub(crate) use cagent::Cagent;
pub(crate) use otlp::Otlp;
pub use otlp_bench::BenchEncoder;
pub(crate) use otlp_common::OtlpResource;
pub(crate) use otlp_env::{
    Signal, otlp_compression, otlp_endpoint, otlp_headers, otlp_protocol, otlp_resource,
    otlp_timeout,
};

/// A collector's answer to one request, as the exporter needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer<'a> {
    /// HTTP status code.
    pub(crate) status: u16,
    /// The response body (possibly cut at a cap).
    pub(crate) body: &'a [u8],
    /// The response's `Content-Type`, when it had a readable one.
    pub(crate) content_type: Option<&'a str>,
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

    /// The body of one request carrying `records` (canonical lines, oldest first) from the
    /// first, as many as fit in [`MAX_BODY_BYTES`], saying how many lines it accounts for and
    /// how many were left out of it. A `dropped` count above zero travels as the
    /// `dropped_records` property of the first record.
    fn encode_counted(&self, records: &[String], dropped: u64) -> Encoded;

    /// The body of [`encode_counted`](Self::encode_counted) alone.
    fn encode(&self, records: &[String], dropped: u64) -> Vec<u8> {
        self.encode_counted(records, dropped).body
    }

    /// What the collector's answer means for the batch.
    fn judge(&self, answer: &Answer<'_>) -> Verdict;
}

/// A request body and what did not make it into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoded {
    /// The request body (at most [`MAX_BODY_BYTES`] before compression).
    pub(crate) body: Vec<u8>,
    /// The body's `Content-Encoding` (`gzip`), if compressed.
    pub(crate) content_encoding: Option<&'static str>,
    /// How many of the lines given this body accounts for (sent in it or left out): the
    /// first `taken`. The others did not fit under [`MAX_BODY_BYTES`] and go in a later
    /// request. At least one whenever lines were given.
    pub(crate) taken: usize,
    /// Lines left out (not records): the caller counts them as dropped and removes them
    /// with the batch. When every line taken was left out the body carries no record and
    /// need not be sent.
    pub(crate) skipped: usize,
    /// Records left out because each alone would take a body over [`MAX_BODY_BYTES`]:
    /// counted and removed like `skipped`.
    pub(crate) too_large: usize,
    /// Whether a `dropped` count above zero is in the body (false only when no record was
    /// written to carry it: the caller keeps the count for the next batch).
    pub(crate) carried_dropped: bool,
}
