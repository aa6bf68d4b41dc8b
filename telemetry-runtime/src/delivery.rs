//! Delivery decisions: send now, queue in the outbox, or drop — and say why in debug mode.
//! Talks to [`crate::transport`] for the bytes and [`crate::outbox`] for the disk.
//!
//! - Per-process budget: after the first network failure (refused, DNS, timeout, 5xx, 429) no
//!   more network attempts are made in this process; records go straight to the outbox. A dead
//!   endpoint costs at most one timeout per process.
//! - A send carries the outbox backlog first, oldest first, in batches of at most
//!   [`MAX_BATCH`] records, while holding the outbox lock (two processes never send the same
//!   record). Records leave the outbox only after a 2xx.
//! - A 4xx other than 429 refuses the payload itself: those records are dropped and counted.
//! - The count of dropped records is reported in the next delivered batch, as the
//!   `dropped_records` property of its first record (the body stays `{"records":[...]}`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::diag::DiagOut;
use crate::export::{Cagent, WireFormat};
use crate::outbox::{Contents, Outbox};
use crate::transport::{PostResult, Transport};

/// Most records in one request.
pub const MAX_BATCH: usize = 100;

/// Delivers records to one endpoint, synchronously.
#[derive(Debug)]
pub(crate) struct Delivery {
    transport: Transport,
    outbox: Option<Outbox>,
    /// Per-process budget: set after the first network failure.
    failed: AtomicBool,
    /// Set while records must stay on this machine (the first-run notice was shown).
    hold: AtomicBool,
    /// How long to wait for another process's batch before giving up on the outbox lock.
    patience: Duration,
    diag: DiagOut,
}

/// How the collector judged one request.
enum Verdict {
    Delivered(u16),
    Refused(u16),
    Failed(String),
}

impl Delivery {
    pub(crate) fn new(
        transport: Transport,
        outbox: Option<Outbox>,
        timeout: Duration,
        diag: DiagOut,
    ) -> Self {
        Self {
            transport,
            outbox,
            failed: AtomicBool::new(false),
            hold: AtomicBool::new(false),
            patience: timeout + Duration::from_millis(500),
            diag,
        }
    }

    pub(crate) fn endpoint(&self) -> &str {
        self.transport.endpoint()
    }

    pub(crate) fn hold(&self) {
        self.hold.store(true, Ordering::Relaxed);
    }

    fn post(&self, records: &[String], dropped: u64) -> Verdict {
        let body = Cagent.encode(records, dropped);
        match self.transport.post(&body) {
            PostResult::Status(s) if (200..300).contains(&s) => Verdict::Delivered(s),
            PostResult::Status(s) if (400..500).contains(&s) && s != 429 => Verdict::Refused(s),
            PostResult::Status(s) => Verdict::Failed(format!("collector answered {s}")),
            PostResult::Failed(e) => Verdict::Failed(e),
        }
    }

    /// Queues records in the outbox (or says why it cannot).
    fn queue(&self, lines: &[String], why: &str) {
        let Some(outbox) = &self.outbox else {
            self.diag.line(&format!(
                "telemetry: dropped {} record(s): {why}, and no config dir for an outbox",
                lines.len()
            ));
            return;
        };
        let result = outbox
            .lock_within(self.patience)
            .and_then(|l| l.append(lines));
        match result {
            Ok(()) => self.diag.line(&format!(
                "telemetry: queued {} record(s) in {}: {why}",
                lines.len(),
                outbox.path().display()
            )),
            Err(e) => self.diag.line(&format!(
                "telemetry: dropped {} record(s): {why}, and the outbox cannot be written: {e}",
                lines.len()
            )),
        }
    }

    /// Delivers one record (its compact JSON text), with the outbox backlog. Returns once the
    /// collector answered or the attempt failed; never panics.
    pub(crate) fn deliver(&self, line: String) {
        if self.hold.load(Ordering::Relaxed) {
            self.queue(&[line], "first run: records wait for the next run");
            return;
        }
        if self.failed.load(Ordering::Relaxed) {
            self.queue(&[line], "an earlier delivery failed in this process");
            return;
        }
        let Some(outbox) = &self.outbox else {
            self.send_alone(line);
            return;
        };
        if !outbox.path().exists() {
            // Nothing waits (the common case): no lock, no read, just this record.
            self.send_alone(line);
            return;
        }
        let lock = match outbox.try_lock() {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                // Another process is sending the backlog right now: send ours alone.
                self.send_alone(line);
                return;
            }
            Err(e) => {
                self.diag.line(&format!(
                    "telemetry: outbox unavailable ({e}); sending without it"
                ));
                self.send_alone(line);
                return;
            }
        };
        let Contents {
            records: mut pending,
            mut dropped,
        } = lock.read();
        pending.push(line);
        let mut sent = 0;
        let mut refused = 0;
        let mut failure = None;
        while sent + refused < pending.len() {
            let start = sent + refused;
            let end = (start + MAX_BATCH).min(pending.len());
            let batch = &pending[start..end];
            match self.post(batch, dropped) {
                Verdict::Delivered(s) => {
                    self.diag.line(&format!(
                        "telemetry: sent {} record(s) ({s}){}",
                        batch.len(),
                        if dropped > 0 {
                            format!(", reporting {dropped} dropped")
                        } else {
                            String::new()
                        }
                    ));
                    dropped = 0;
                    sent += batch.len();
                }
                Verdict::Refused(s) => {
                    self.diag.line(&format!(
                        "telemetry: dropped {} record(s): collector refused them ({s})",
                        batch.len()
                    ));
                    dropped += batch.len() as u64;
                    refused += batch.len();
                }
                Verdict::Failed(e) => {
                    self.failed.store(true, Ordering::Relaxed);
                    failure = Some(e);
                    break;
                }
            }
        }
        let done = sent + refused;
        let remaining = pending.split_off(done);
        if let Some(e) = &failure {
            self.diag.line(&format!(
                "telemetry: queued {} record(s) in {}: {e}; no more attempts in this process",
                remaining.len(),
                outbox.path().display()
            ));
        }
        // Sent and refused records leave; the rest (this record included, on failure) stay.
        if let Err(e) = lock.write(Contents {
            records: remaining,
            dropped,
        }) {
            self.diag
                .line(&format!("telemetry: outbox cannot be written: {e}"));
        }
    }

    /// Remembers dropped records in the outbox, to be reported by the next delivered batch.
    fn count_dropped(&self, n: u64) {
        let Some(outbox) = &self.outbox else { return };
        let result = outbox.lock_within(self.patience).and_then(|lock| {
            let mut contents = lock.read();
            contents.dropped += n;
            lock.write(contents)
        });
        if let Err(e) = result {
            self.diag
                .line(&format!("telemetry: cannot count dropped records: {e}"));
        }
    }

    fn send_alone(&self, line: String) {
        match self.post(std::slice::from_ref(&line), 0) {
            Verdict::Delivered(s) => self.diag.line(&format!("telemetry: sent 1 record ({s})")),
            Verdict::Refused(s) => {
                self.diag.line(&format!(
                    "telemetry: dropped 1 record: collector refused it ({s})"
                ));
                self.count_dropped(1);
            }
            Verdict::Failed(e) => {
                self.failed.store(true, Ordering::Relaxed);
                self.queue(&[line], &e);
            }
        }
    }
}

impl crate::sink::Sink for Delivery {
    fn record(&self, json: String) {
        self.deliver(json);
    }
}
