//! Support for the encoding benchmark (`benches/encoding.rs`): the two exporters' `encode`,
//! reachable from outside the crate. Not a public API.

use super::otlp::OtlpResource;
use super::{Cagent, Otlp, WireFormat};

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
/// ```
#[derive(Debug)]
pub struct BenchEncoder(Box<dyn WireFormat>);

impl BenchEncoder {
    /// The cagent encoder.
    #[must_use]
    pub fn cagent() -> Self {
        Self(Box::new(Cagent))
    }

    /// The OTLP encoder of an application, without extra resource attributes.
    #[must_use]
    pub fn otlp(app: &str, version: &str) -> Self {
        Self(Box::new(Otlp::new(&OtlpResource::new(app, version, &[]))))
    }

    /// The body of one request carrying `records` (canonical lines).
    #[must_use]
    pub fn encode(&self, records: &[String]) -> Vec<u8> {
        self.0.encode(records, 0)
    }
}
