//! A status report the application prints (`mytool telemetry status`).

use std::fmt;
use std::path::PathBuf;

use crate::client::Client;
use crate::config::ConsentSource;

/// Everything a user needs to know about telemetry on this machine. Never contains the API
/// key. `Display` renders it for a terminal.
///
/// ```
/// use telemetry_runtime::{Client, ConsentSource, Env};
/// let client = Client::builder().env(Env::from_pairs([("DO_NOT_TRACK", "1")])).build();
/// let status = client.status();
/// assert!(!status.enabled);
/// assert_eq!(status.source, ConsentSource::DoNotTrack);
/// assert!(status.to_string().contains("disabled"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Whether telemetry is enabled.
    pub enabled: bool,
    /// Which source decided.
    pub source: ConsentSource,
    /// Why, in words.
    pub reason: String,
    /// The config dir, if any.
    pub config_dir: Option<PathBuf>,
    /// The anonymous id, if one exists (never created by asking).
    pub anonymous_id: Option<String>,
    /// Where records are sent, if anywhere.
    pub endpoint: Option<String>,
    /// Whether debug mode is on.
    pub debug: bool,
    /// How many records wait in the outbox.
    pub queued_records: usize,
}

impl Client {
    /// The status report: consent and its source, config dir, anonymous id, endpoint (never
    /// the key) and the outbox backlog. Reading it creates no file.
    #[must_use]
    pub fn status(&self) -> Status {
        let consent = self.consent();
        Status {
            enabled: consent.enabled,
            source: consent.source,
            reason: consent.reason.clone(),
            config_dir: self.config_dir().map(PathBuf::from),
            anonymous_id: self.existing_user_uuid(),
            endpoint: self.configured_endpoint().map(str::to_owned),
            debug: self.is_debug(),
            queued_records: self.queued_records(),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Telemetry:      {}",
            if self.enabled { "enabled" } else { "disabled" }
        )?;
        writeln!(f, "Decided by:     {} ({})", self.source, self.reason)?;
        match &self.config_dir {
            Some(d) => writeln!(f, "Config dir:     {}", d.display())?,
            None => writeln!(f, "Config dir:     none")?,
        }
        writeln!(
            f,
            "Anonymous id:   {}",
            self.anonymous_id.as_deref().unwrap_or("none yet")
        )?;
        match &self.endpoint {
            Some(e) => writeln!(f, "Endpoint:       {e}")?,
            None => writeln!(f, "Endpoint:       none (nothing leaves this machine)")?,
        }
        if self.debug {
            writeln!(f, "Debug mode:     on (records are printed, not sent)")?;
        }
        writeln!(f, "Queued records: {}", self.queued_records)
    }
}
