//! Support for the encoding benchmark (`benches/encoding.rs`): the two exporters' `encode`,
//! reachable from outside the crate. Not a public API.

use super::otlp_common::OtlpResource;
use super::{Cagent, Otlp, OtlpCompression, OtlpProtocol, WireFormat};

/// One exporter's encoder, as delivery uses it at send time.
///
/// ```
/// use telemetry_runtime::__BenchEncoder;
/// let line = r#"{"event":"tool","event_timestamp":1,"properties":{"event_id":"e"}}"#;
/// let lines = vec![line.to_owned()];
/// let cagent = __BenchEncoder::cagent().encode(&lines);
/// assert_eq!(cagent, format!(r#"{{"records":[{line}]}}"#).into_bytes());
/// let otlp = __BenchEncoder::otlp("app", "1.0.0").encode(&lines);
/// assert!(otlp.starts_with(br#"{"resourceLogs":[{"resource":"#));
/// use telemetry_runtime::{OtlpCompression, OtlpProtocol};
/// let pb = __BenchEncoder::otlp_with("app", "1.0.0", OtlpProtocol::Protobuf, OtlpCompression::None);
/// assert_eq!(pb.encode(&lines)[0], 0x0a, "field 1, length-delimited: resource_logs");
/// let gz = __BenchEncoder::otlp_with("app", "1.0.0", OtlpProtocol::Protobuf, OtlpCompression::Gzip);
/// assert_eq!(gz.encode(&lines)[..2], [0x1f, 0x8b], "the gzip magic");
/// ```
#[derive(Debug)]
pub struct BenchEncoder(Box<dyn WireFormat>);

impl BenchEncoder {
    /// The cagent encoder.
    #[must_use]
    pub fn cagent() -> Self {
        Self(Box::new(Cagent))
    }

    /// The OTLP encoder (JSON, uncompressed) of an application, without extra resource
    /// attributes.
    #[must_use]
    pub fn otlp(app: &str, version: &str) -> Self {
        Self::otlp_with(app, version, OtlpProtocol::Json, OtlpCompression::None)
    }

    /// The OTLP encoder of an application in `protocol` and `compression`.
    #[must_use]
    pub fn otlp_with(
        app: &str,
        version: &str,
        protocol: OtlpProtocol,
        compression: OtlpCompression,
    ) -> Self {
        let resource = OtlpResource::new(app, version, &[]);
        Self(Box::new(Otlp::new(&resource, protocol, compression)))
    }

    /// The body of one request carrying `records` (canonical lines).
    #[must_use]
    pub fn encode(&self, records: &[String]) -> Vec<u8> {
        self.0.encode(records, 0)
    }

    /// `body` compressed as the OTLP exporter compresses with gzip (to compare sizes).
    #[must_use]
    pub fn gzip(body: &[u8]) -> Vec<u8> {
        super::otlp_wire::gzip(body).unwrap_or_default()
    }
}
