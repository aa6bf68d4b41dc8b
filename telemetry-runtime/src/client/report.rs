//! The status report of a client ([`Status`]): read from the client, never creating a file.

use std::path::PathBuf;

use super::Client;
use crate::config::{Consent, redact_endpoint};
use crate::status::Status;

impl Client {
    /// The status report: consent and its source, config dir, anonymous id, endpoint
    /// (redacted, never the key), what decided each setting, and the outbox backlog. Reading
    /// it creates no file.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env};
    /// let env = Env::from_pairs([("TELEMETRY_ENDPOINT", "https://me:hunter2@c.example/v1")]);
    /// let text = Client::builder().env(env).build().status().to_string();
    /// assert!(text.contains("https://***@c.example/v1") && !text.contains("hunter2"));
    /// assert!(text.contains("TELEMETRY_ENDPOINT"));
    /// ```
    #[must_use]
    pub fn status(&self) -> Status {
        let consent = self.consent();
        Status {
            enabled: consent.enabled,
            source: consent.source,
            decided_by: consent.decided_by.clone(),
            reason: consent.reason.clone(),
            config_dir: self.config_dir().map(PathBuf::from),
            anonymous_id: self.existing_user_uuid(),
            endpoint: self.configured_endpoint().map(redact_endpoint),
            endpoint_problem: self.endpoint_problem().map(str::to_owned),
            debug: self.is_debug(),
            exporter: self.exporter(),
            send_budget: self.send_budget(),
            timeout: self.request_timeout(),
            decided_by_setting: self
                .decided_by()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            queued_records: self.queued_records(),
            otel: Consent {
                warnings: Vec::new(),
                ..self.otel_consent().clone()
            },
            otel_signals: self.otel_signals().to_vec(),
        }
    }
}
