//! A status report the application prints (`mytool telemetry status`).
//!
//! Invariants: a status never holds the API key nor an endpoint's userinfo or query string
//! (endpoints are stored redacted), and reading one creates no file.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Exporter;
use crate::config::{Consent, ConsentSource};

/// Everything a user needs to know about telemetry on this machine: the usage stream (the
/// vendor's anonymous statistics: the fields from `enabled` to `queued_records`) and the
/// operator's OpenTelemetry stream (`otel`), each with what decided it. Never contains the API
/// key, a header value nor an endpoint's credentials. `Display` renders it for a terminal.
///
/// ```
/// use telemetry_runtime::config::ConsentSource;
/// use telemetry_runtime::{Client, Env};
/// let client = Client::builder().env(Env::from_pairs([("DO_NOT_TRACK", "1")])).build();
/// let status = client.status();
/// assert!(!status.enabled);
/// assert_eq!(status.source, ConsentSource::DoNotTrack);
/// assert!(status.to_string().contains("disabled"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Whether the usage stream is enabled.
    pub enabled: bool,
    /// Which source decided.
    pub source: ConsentSource,
    /// The variable or input that decided, by name (e.g. `CAGENT_TELEMETRY_ENABLED`).
    pub decided_by: String,
    /// Why, in words.
    pub reason: String,
    /// The config dir, if any.
    pub config_dir: Option<PathBuf>,
    /// The anonymous id, if one exists (never created by asking).
    pub anonymous_id: Option<String>,
    /// Where records are sent, if anywhere, with userinfo and query string redacted.
    pub endpoint: Option<String>,
    /// Why nothing is sent although an endpoint was given: the variable (or the application)
    /// it came from, redacted, and what is wrong with it (not an `http://` or `https://` URL
    /// with a host).
    pub endpoint_problem: Option<String>,
    /// Whether debug mode is on.
    pub debug: bool,
    /// The wire format.
    pub exporter: Exporter,
    /// The send budget.
    pub send_budget: Duration,
    /// The timeout of one request, also the deadline of a flush and of all flushes of the
    /// process together (beyond the send budget); at most
    /// [`MAX_TIMEOUT`](crate::config::MAX_TIMEOUT).
    pub timeout: Duration,
    /// Each setting that was decided by something (`endpoint`, `api key`, `debug`, `verbose`,
    /// `tags`, `send budget`, `exporter`, `timeout`) and what decided it: a variable name,
    /// `application` or `default`.
    pub decided_by_setting: Vec<(String, String)>,
    /// How many records wait in the outbox.
    pub queued_records: usize,
    /// Whether the operator's OpenTelemetry stream is on, and what decided it.
    pub otel: Consent,
    /// Each signal of the operator's stream when it is on: where it goes and why.
    pub otel_signals: Vec<SignalStatus>,
}

/// One signal of the operator's OpenTelemetry stream, as the status shows it. Never holds a
/// header value nor an endpoint's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalStatus {
    /// `traces`, `logs`, or `all` when the application's own sink takes the stream.
    pub signal: String,
    /// The exporters in force: `otlp`, `console`, `application sink`; none: the signal is off.
    pub exporters: Vec<&'static str>,
    /// What chose the exporters: `OTEL_<SIGNAL>_EXPORTER` or `default`.
    pub exporter_decided_by: String,
    /// Where OTLP sends, userinfo and query string redacted.
    pub endpoint: Option<String>,
    /// The variable that gave the endpoint.
    pub endpoint_decided_by: String,
    /// Why OTLP sends nothing, when it was asked for (no endpoint, an unusable one).
    pub problem: Option<String>,
    /// How many records wait in the signal's outbox.
    pub queued_records: usize,
}

impl SignalStatus {
    pub(crate) fn new(signal: &str, exporter: &'static str) -> Self {
        Self {
            signal: signal.to_owned(),
            exporters: [exporter].into_iter().filter(|e| !e.is_empty()).collect(),
            exporter_decided_by: "application".to_owned(),
            endpoint: None,
            endpoint_decided_by: String::new(),
            problem: None,
            queued_records: 0,
        }
    }
}

impl fmt::Display for SignalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = format!("  {}:", self.signal);
        write!(f, "{name:<16}")?;
        if self.exporters.is_empty() {
            write!(f, "off ({})", self.exporter_decided_by)?;
        } else {
            write!(
                f,
                "{} ({})",
                self.exporters.join(" + "),
                self.exporter_decided_by
            )?;
        }
        if let Some(e) = &self.endpoint {
            write!(f, " -> {e} (from {})", self.endpoint_decided_by)?;
        }
        if let Some(p) = &self.problem {
            write!(f, "; nothing sent: {p}")?;
        }
        if self.queued_records > 0 {
            write!(f, "; {} queued", self.queued_records)?;
        }
        Ok(())
    }
}

impl Status {
    /// What decided `setting`, if it was recorded.
    fn by(&self, setting: &str) -> Option<&str> {
        self.decided_by_setting
            .iter()
            .find(|(k, _)| k == setting)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = if self.enabled { "enabled" } else { "disabled" };
        writeln!(f, "Telemetry:      {on}")?;
        writeln!(f, "Decided by:     {} ({})", self.decided_by, self.reason)?;
        match &self.config_dir {
            Some(d) => writeln!(f, "Config dir:     {}", d.display())?,
            None => writeln!(f, "Config dir:     none")?,
        }
        let id = self.anonymous_id.as_deref().unwrap_or("none yet");
        writeln!(f, "Anonymous id:   {id}")?;
        let from = |setting| self.by(setting).unwrap_or("default");
        match (&self.endpoint, &self.endpoint_problem) {
            (_, Some(why)) => writeln!(f, "Endpoint:       none: {why}; nothing is sent")?,
            (Some(e), None) => writeln!(f, "Endpoint:       {e} (from {})", from("endpoint"))?,
            (None, None) => writeln!(f, "Endpoint:       none (nothing leaves this machine)")?,
        }
        match self.by("api key") {
            Some(by) => writeln!(f, "API key:        set (from {by})")?,
            None => writeln!(f, "API key:        none")?,
        }
        writeln!(
            f,
            "Exporter:       {} ({})",
            self.exporter.as_str(),
            from("exporter")
        )?;
        let ms = self.send_budget.as_millis();
        writeln!(f, "Send budget:    {ms} ms ({})", from("send budget"))?;
        let ms = self.timeout.as_millis();
        writeln!(f, "Timeout:        {ms} ms ({})", from("timeout"))?;
        if let Some(by) = self.by("tags") {
            writeln!(f, "Tags:           from {by}")?;
        }
        if self.debug {
            let by = from("debug");
            writeln!(
                f,
                "Debug mode:     on (records are printed, not sent; from {by})"
            )?;
        }
        writeln!(f, "Queued records: {}", self.queued_records)?;
        let otel = if self.otel.enabled { "on" } else { "off" };
        writeln!(
            f,
            "OpenTelemetry:  {otel} (decided by {}: {})",
            self.otel.decided_by, self.otel.reason
        )?;
        for signal in &self.otel_signals {
            writeln!(f, "{signal}")?;
        }
        Ok(())
    }
}
