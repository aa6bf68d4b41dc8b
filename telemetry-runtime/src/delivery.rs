//! Delivery decisions: send now, or not at all. Talks to [`crate::transport`] for the bytes.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::diag::DiagOut;
use crate::transport::{PostResult, Transport};

/// Delivers records to one endpoint, synchronously.
#[derive(Debug)]
pub(crate) struct Delivery {
    transport: Transport,
    /// Per-process budget: set after the first network failure.
    failed: AtomicBool,
    diag: DiagOut,
}

impl Delivery {
    pub(crate) fn new(transport: Transport, diag: DiagOut) -> Self {
        Self {
            transport,
            failed: AtomicBool::new(false),
            diag,
        }
    }

    pub(crate) fn endpoint(&self) -> &str {
        self.transport.endpoint()
    }

    /// Sends one record. Returns once the POST was answered or failed.
    pub(crate) fn deliver(&self, record: Value) {
        if self.failed.load(Ordering::Relaxed) {
            self.diag
                .line("telemetry: not sent: an earlier delivery failed in this process");
            return;
        }
        let body = match serde_json::to_vec(&serde_json::json!({ "records": [record] })) {
            Ok(b) => b,
            Err(e) => {
                self.diag
                    .line(&format!("telemetry: dropped: cannot serialize: {e}"));
                return;
            }
        };
        match self.transport.post(&body) {
            PostResult::Status(s) if (200..300).contains(&s) => {
                self.diag.line(&format!("telemetry: sent 1 record ({s})"));
            }
            PostResult::Status(s) => {
                self.failed.store(true, Ordering::Relaxed);
                self.diag
                    .line(&format!("telemetry: not sent: collector answered {s}"));
            }
            PostResult::Failed(e) => {
                self.failed.store(true, Ordering::Relaxed);
                self.diag.line(&format!("telemetry: not sent: {e}"));
            }
        }
    }
}
