//! The wire format a stream is sent in, chosen by the application or the environment:
//! [`Exporter`] (`TELEMETRY_EXPORTER`), and for OTLP its [`OtlpProtocol`] and
//! [`OtlpCompression`]. The encoders that honour them are in `export`.

/// Which wire format records are sent in.
///
/// ```
/// use telemetry_runtime::config::Exporter;
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

/// How OTLP records are encoded: `OTEL_EXPORTER_OTLP_PROTOCOL` (or the per-signal
/// `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL`) as `http/protobuf` or `http/json`.
///
/// ```
/// use telemetry_runtime::config::OtlpProtocol;
/// assert_eq!(OtlpProtocol::default(), OtlpProtocol::Protobuf);
/// assert_eq!(OtlpProtocol::Json.as_str(), "http/json");
/// assert_eq!(OtlpProtocol::Protobuf.content_type(), "application/x-protobuf");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf`: binary protobuf, `Content-Type: application/x-protobuf` (the
    /// OpenTelemetry specification's default).
    #[default]
    Protobuf,
    /// `http/json`: OTLP's JSON mapping, `Content-Type: application/json`.
    Json,
}

impl OtlpProtocol {
    /// The name used by `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` or `http/json`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Protobuf => "http/protobuf",
            Self::Json => "http/json",
        }
    }

    /// The request's `Content-Type`, exactly (no parameters).
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// How OTLP request bodies are compressed: `OTEL_EXPORTER_OTLP_COMPRESSION` (or the
/// per-signal `OTEL_EXPORTER_OTLP_LOGS_COMPRESSION`) as `gzip` or `none`.
///
/// ```
/// use telemetry_runtime::config::OtlpCompression;
/// assert_eq!(OtlpCompression::default(), OtlpCompression::None);
/// assert_eq!(OtlpCompression::Gzip.as_str(), "gzip");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OtlpCompression {
    /// Bodies are sent as they are (the default).
    #[default]
    None,
    /// Bodies are gzip-compressed and sent with `Content-Encoding: gzip`.
    Gzip,
}

impl OtlpCompression {
    /// The name used by `OTEL_EXPORTER_OTLP_COMPRESSION`: `none` or `gzip`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
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
