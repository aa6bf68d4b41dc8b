//! The OTLP/HTTP exporter of one signal: one `ExportLogsServiceRequest` (logs),
//! `ExportTraceServiceRequest` (traces) or `ExportMetricsServiceRequest` (metrics) per request, in protobuf (`application/x-protobuf`,
//! the specification's default) or in OTLP's JSON mapping (`application/json`), optionally
//! gzip-compressed; one resource (the sending application), one scope (this crate), one
//! `LogRecord` per canonical record (see `otlp_logs`), one `Span` per record that is a span
//! (see `otlp_traces`) or one `ScopeMetrics` per metrics record (see `otlp_metrics`). Answers are judged per the OTLP/HTTP specification.
//!
//! No OpenTelemetry SDK and no generated protobuf types: the `opentelemetry-otlp` crate
//! brings an async runtime and over a hundred crates for what is a few strings here, and
//! `prost` with generated types costs more than the writer here (BENCHMARKS.md); the bodies
//! are checked against the OpenTelemetry project's own definitions by the tests instead
//! (`otlp_check`).

use super::otlp_answer::{Encoding, partial_success, status_message};
use super::otlp_batch::Written;
use super::otlp_common::{OtlpResource, Pieces};
use super::otlp_logs;
use super::otlp_metrics;
use super::otlp_traces;
use super::otlp_wire::{JsonWire, ProtoWire, gzip};
use super::{Answer, Encoded, OtlpCompression, OtlpProtocol, Signal, Verdict, WireFormat};
use crate::limits::MAX_BODY_BYTES;

/// Bytes kept free under [`MAX_BODY_BYTES`] for what closes a request after its last record
/// (JSON: `]}]}]}}`; protobuf: nothing, its length prefixes are reserved at full size).
const CLOSING: usize = 16;

/// The OTLP exporter of one signal. The resource and scope are written once, when it is
/// built.
#[derive(Debug, Clone)]
pub(crate) struct Otlp {
    /// Logs or traces.
    signal: Signal,
    protocol: OtlpProtocol,
    compression: OtlpCompression,
    pieces: Pieces,
}

impl Otlp {
    /// The logs exporter for a client whose requests carry `resource`.
    pub(crate) fn new(
        resource: &OtlpResource,
        protocol: OtlpProtocol,
        compression: OtlpCompression,
    ) -> Self {
        Self::for_signal(Signal::Logs, resource, protocol, compression)
    }

    /// The exporter of `signal`: its records are log records, spans or metrics records.
    pub(crate) fn for_signal(
        signal: Signal,
        resource: &OtlpResource,
        protocol: OtlpProtocol,
        compression: OtlpCompression,
    ) -> Self {
        Self {
            signal,
            protocol,
            compression,
            pieces: Pieces::new(resource, protocol),
        }
    }

    /// The request body of `records` before compression, and what went into it.
    fn write(&self, records: &[String], dropped: u64) -> (Vec<u8>, Written) {
        let size: usize = records.iter().map(|r| r.len() * 3 + 256).sum();
        let size = size.min(MAX_BODY_BYTES) + self.pieces.resource.len();
        let limit = MAX_BODY_BYTES - CLOSING;
        match self.protocol {
            OtlpProtocol::Json => {
                let mut w = JsonWire::message(size);
                let n = self.write_request(&mut w, records, dropped, limit);
                (w.finish(), n)
            }
            OtlpProtocol::Protobuf => {
                let mut w = ProtoWire::new(size);
                let n = self.write_request(&mut w, records, dropped, limit);
                (w.finish(), n)
            }
        }
    }
}

impl Otlp {
    /// The signal's request for `records` in `w`.
    fn write_request<W: super::otlp_wire::Wire>(
        &self,
        w: &mut W,
        records: &[String],
        dropped: u64,
        limit: usize,
    ) -> Written {
        match self.signal {
            Signal::Traces => otlp_traces::write_request(w, &self.pieces, records, dropped, limit),
            Signal::Logs => otlp_logs::write_request(w, &self.pieces, records, dropped, limit),
            Signal::Metrics => {
                otlp_metrics::write_request(w, &self.pieces, records, dropped, limit)
            }
        }
    }
}

impl WireFormat for Otlp {
    fn content_type(&self) -> &'static str {
        self.protocol.content_type()
    }

    /// Lines that are not records are skipped and counted; `dropped` travels on the first
    /// record written (`carried_dropped` says whether there was one); records past the
    /// request's size limit are left for the next request (`taken`).
    fn encode_counted(&self, records: &[String], dropped: u64) -> Encoded {
        let (body, n) = self.write(records, dropped);
        let (body, content_encoding) = match self.compression {
            OtlpCompression::None => (body, None),
            OtlpCompression::Gzip => match gzip(&body) {
                Some(compressed) => (compressed, Some("gzip")),
                None => (body, None),
            },
        };
        Encoded {
            body,
            content_encoding,
            skipped: n.skipped,
            too_large: n.too_large,
            taken: n.taken,
            carried_dropped: dropped == 0 || n.written > 0,
        }
    }

    fn judge(&self, answer: &Answer<'_>) -> Verdict {
        let requested = match self.protocol {
            OtlpProtocol::Protobuf => Encoding::Protobuf,
            OtlpProtocol::Json => Encoding::Json,
        };
        let rejected_key = match self.signal {
            Signal::Traces => "rejectedSpans",
            Signal::Logs => "rejectedLogRecords",
            Signal::Metrics => "rejectedDataPoints",
        };
        judge(
            answer,
            Encoding::of(answer.content_type, requested),
            rejected_key,
        )
    }
}

/// The OTLP/HTTP answer rules: 2xx delivered (a `partial_success` counts rejected records;
/// a body that cannot be read is a full success); 429, 502, 503, 504 retried later; any other
/// status refuses the batch, with the `google.rpc.Status` message when there is one.
pub(crate) fn judge(answer: &Answer<'_>, encoding: Encoding, rejected_key: &str) -> Verdict {
    match answer.status {
        200..=299 => {
            let (rejected, message) = partial_success(answer.body, encoding, rejected_key);
            Verdict::Delivered { rejected, message }
        }
        s @ (429 | 502 | 503 | 504) => Verdict::Retry {
            after: answer.retry_after,
            why: format!("collector answered {s}"),
        },
        s => Verdict::Refused {
            why: match status_message(answer.body, encoding) {
                Some(m) => format!("collector refused them ({s}: {m})"),
                None => format!("collector refused them ({s})"),
            },
        },
    }
}
