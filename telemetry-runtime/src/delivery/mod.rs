//! Delivery decisions: send now, queue, or drop — and say why in verbose mode.
//! Talks to [`crate::transport`] for the bytes, to an exporter ([`WireFormat`]) for the body
//! and the meaning of an answer, and to [`crate::outbox`] for the disk.
//!
//! Invariants:
//! - synchronous means durable: when [`Delivery::deliver`] returns, its record was answered
//!   with a 2xx, counted as refused, or is queued (the outbox; memory only when the outbox
//!   cannot be written or there is no config dir);
//! - direct sends wait at most the send budget in all ([`budget`]), and start only while what
//!   is left of it holds the collector's round trip twice (the send and the flush after it):
//!   a run that knows, from its own measurements or the last run's ([`round_trip`]), that its
//!   collector is slow queues at once; queued records leave in batches at the next flush
//!   point ([`flush`]);
//! - the process waits on the network at most the send budget plus one request timeout in
//!   all, flushes included: one flush deadline per process, not one per flush point;
//! - after the first failure, `Retry` or refusal, this process makes no more requests
//!   (a dead endpoint costs at most one timeout per process);
//! - no request before the collector's `Retry-After` (kept beside the outbox for every
//!   process);
//! - inside [`queue_only`] (a tracked future being polled) nothing waits on the network;
//! - a process's records arrive in the order they were made: once one of them is queued, the
//!   following ones are queued too, until a flush point sent what waited.

mod budget;
mod destination;
mod flush;
mod round_trip;
mod window;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

pub use budget::DEFAULT_SEND_BUDGET;
pub(crate) use budget::{DirectSpend, is_queue_only, queue_only};
pub(crate) use destination::{OtelStream, outbox_file};
pub(crate) use window::FlushWindow;

use crate::diag::DiagOut;
use crate::export::{Answer, Verdict, WireFormat};
use crate::outbox::Outbox;
use crate::transport::Transport;
use budget::{Budget, NoSend};
use round_trip::RoundTrip;

/// Most records kept in memory when there is no outbox to write to.
const MAX_MEMORY: usize = crate::limits::OUTBOX_MAX_RECORDS;

/// How a delivery is configured.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Longest wait for one request; the deadline of a whole flush, and of all flushes of
    /// the process together (beyond the send budget).
    pub(crate) timeout: Duration,
    /// Longest total wait of direct sends in this process.
    pub(crate) send_budget: Duration,
    /// What direct sends waited, shared by every destination of the client.
    pub(crate) direct: DirectSpend,
}

/// Records that could not go to the outbox, waiting for the next flush point.
#[derive(Debug, Default)]
struct Memory {
    records: VecDeque<String>,
    dropped: u64,
}

/// Delivers records to one endpoint.
#[derive(Debug)]
pub(crate) struct Delivery {
    transport: Transport,
    format: Arc<dyn WireFormat>,
    outbox: Option<Outbox>,
    memory: Mutex<Memory>,
    budget: Budget,
    /// The round trip remembered beside the outbox, and this process's latest.
    round_trip: RoundTrip,
    /// Set after the first failure, `Retry` or refusal: no more requests in this process.
    stopped: AtomicBool,
    /// Set while records must stay on this machine (the first-run notice was shown).
    hold: AtomicBool,
    /// Set while a record of this process waits for a flush point.
    pending: AtomicBool,
    timeout: Duration,
    diag: DiagOut,
}

impl Delivery {
    pub(crate) fn new(
        transport: Transport,
        format: Arc<dyn WireFormat>,
        outbox: Option<Outbox>,
        settings: Settings,
        diag: DiagOut,
    ) -> Self {
        let round_trip = RoundTrip::load(outbox.as_ref());
        let budget = Budget::new(
            settings.send_budget,
            settings.timeout,
            settings.direct,
            round_trip.remembered(),
        );
        Self {
            transport,
            format,
            outbox,
            memory: Mutex::default(),
            budget,
            round_trip,
            stopped: AtomicBool::new(false),
            hold: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            timeout: settings.timeout,
            diag,
        }
    }

    pub(crate) fn endpoint(&self) -> &str {
        self.transport.endpoint()
    }

    /// The longest wait for one request, and the deadline of its flushes.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn hold(&self) {
        self.hold.store(true, Ordering::Relaxed);
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Why a request must not be made now, if it must not.
    fn no_request_now(&self) -> Option<String> {
        if self.hold.load(Ordering::Relaxed) {
            return Some("first run: records wait for the next run".to_owned());
        }
        if self.stopped.load(Ordering::Relaxed) {
            return Some("an earlier delivery failed in this process".to_owned());
        }
        let at = self.outbox.as_ref()?.not_before()?;
        let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
        Some(format!(
            "the collector asked to wait (Retry-After), {} s left",
            wait.as_secs().max(1)
        ))
    }

    /// Delivers one record (its compact JSON text): sent at once while the budget lasts,
    /// else queued for the next flush point. Never panics.
    pub(crate) fn deliver(&self, line: String) {
        let why = if is_queue_only() {
            Some("recorded in async code: sent at the next flush point".to_owned())
        } else if let Some(why) = self.no_request_now() {
            Some(why)
        } else if self.pending.load(Ordering::Relaxed) {
            Some("earlier records of this process wait for the next flush point".to_owned())
        } else {
            self.budget
                .direct_send()
                .err()
                .map(|no| self.no_send_why(no))
        };
        if let Some(why) = why {
            self.queue(vec![line], &why);
            return;
        }
        let started = Instant::now();
        let answer = self.post(std::slice::from_ref(&line), 0, self.timeout);
        self.budget.spend(started.elapsed());
        match answer {
            Ok((status, Verdict::Delivered { rejected, message }, _)) => {
                self.diag
                    .line(&format!("telemetry: sent 1 record(s) ({status})"));
                self.rejected(rejected, 1, message);
            }
            Ok((_, Verdict::Retry { after, why }, _)) => {
                self.retry_later(after);
                self.stop();
                self.queue(
                    vec![line],
                    &format!("{why}; no more attempts in this process"),
                );
            }
            Ok((_, Verdict::Refused { why }, _)) => {
                self.stop();
                self.diag.line(&format!(
                    "telemetry: dropped 1 record(s): {why}; no more attempts in this process"
                ));
                self.count_dropped(1);
            }
            Err(e) => {
                self.stop();
                self.queue(
                    vec![line],
                    &format!("{e}; no more attempts in this process"),
                );
            }
        }
    }

    /// Why a direct send does not start, for verbose mode.
    fn no_send_why(&self, no: NoSend) -> String {
        let budget = self.budget.total().as_millis();
        match no {
            NoSend::Spent => {
                format!("the send budget ({budget} ms) is spent: sent at the next flush point")
            }
            NoSend::Slow {
                round_trip,
                remembered,
                left,
            } => format!(
                "a round trip to the collector takes {} ms ({}): it and the flush's do not fit \
                 in the {} ms left of the send budget ({budget} ms): sent at the next flush \
                 point",
                round_trip.as_millis(),
                if remembered {
                    "measured by an earlier run"
                } else {
                    "measured by this run"
                },
                left.as_millis()
            ),
        }
    }

    /// POSTs the first records of `records` that fit in one request within `timeout` and
    /// judges the answer: `(status, verdict, taken)`, where `taken` is how many records the
    /// request accounted for (the others did not fit and wait for the next one). `Err`: no
    /// answer.
    fn post(
        &self,
        records: &[String],
        dropped: u64,
        timeout: Duration,
    ) -> Result<(u16, Verdict, usize), String> {
        let encoded = self.format.encode_counted(records, dropped);
        let taken = encoded.taken.clamp(1, records.len().max(1));
        if encoded.skipped > 0 {
            self.diag.line(&format!(
                "telemetry: dropped {} line(s) of the outbox that are not records",
                encoded.skipped
            ));
            self.count_dropped(encoded.skipped as u64);
        }
        if encoded.too_large > 0 {
            self.diag.line(&format!(
                "telemetry: dropped {} record(s) whose request alone would be over {} bytes",
                encoded.too_large,
                crate::limits::MAX_BODY_BYTES
            ));
            self.count_dropped(encoded.too_large as u64);
        }
        if !encoded.carried_dropped && dropped > 0 {
            // No record to carry the count: it waits for the next batch.
            self.count_dropped(dropped);
        }
        if encoded.skipped + encoded.too_large >= taken {
            // Nothing to send: the records taken leave the outbox as if delivered.
            let nothing = Verdict::Delivered {
                rejected: 0,
                message: None,
            };
            return Ok((204, nothing, taken));
        }
        let started = Instant::now();
        let reply = self.transport.post(
            &encoded.body,
            self.format.content_type(),
            encoded.content_encoding,
            timeout,
        )?;
        self.round_trip.answered(started.elapsed());
        let verdict = self.format.judge(&Answer {
            status: reply.status,
            body: &reply.body,
            retry_after: reply.retry_after,
            content_type: reply.content_type.as_deref(),
        });
        Ok((reply.status, verdict, taken))
    }

    /// Counts records refused inside an accepted batch of `batch` records: never more than
    /// the batch held, whatever the collector claims.
    fn rejected(&self, rejected: u64, batch: usize, message: Option<String>) {
        let rejected = rejected.min(batch as u64);
        if rejected > 0 {
            self.diag.line(&format!(
                "telemetry: dropped {rejected} record(s): the collector rejected them{}",
                message.map(|m| format!(" ({m})")).unwrap_or_default()
            ));
            self.count_dropped(rejected);
        }
    }

    /// Keeps the collector's `Retry-After` for every process, at most
    /// [`MAX_RETRY_AFTER`](crate::limits::MAX_RETRY_AFTER) from now.
    fn retry_later(&self, after: Option<Duration>) {
        let (Some(after), Some(outbox)) = (after, &self.outbox) else {
            return;
        };
        let after = after.min(crate::limits::MAX_RETRY_AFTER);
        let Some(at) = SystemTime::now().checked_add(after) else {
            self.diag
                .line("telemetry: cannot keep the Retry-After: the clock is out of range");
            return;
        };
        match outbox.set_not_before(at) {
            Ok(()) => self.diag.line(&format!(
                "telemetry: no request before {} s from now (Retry-After)",
                after.as_secs()
            )),
            Err(e) => self
                .diag
                .line(&format!("telemetry: cannot keep the Retry-After: {e}")),
        }
    }

    /// Queues records for the next flush point: the outbox, else memory.
    fn queue(&self, lines: Vec<String>, why: &str) {
        self.pending.store(true, Ordering::Relaxed);
        let n = lines.len();
        let fallback = match &self.outbox {
            Some(outbox) => match outbox.append(&lines) {
                Ok(()) => {
                    self.diag.line(&format!(
                        "telemetry: queued {n} record(s) in {}: {why}",
                        outbox.path().display()
                    ));
                    return;
                }
                Err(e) => format!("the outbox cannot be written ({e})"),
            },
            None => "no config dir for an outbox".to_owned(),
        };
        self.diag.line(&format!(
            "telemetry: queued {n} record(s) in memory until the next flush point: {why}; \
             {fallback}"
        ));
        let mut memory = self.memory();
        memory.records.extend(lines);
        let excess = memory.records.len().saturating_sub(MAX_MEMORY);
        memory.records.drain(..excess);
        memory.dropped = memory.dropped.saturating_add(excess as u64);
    }

    /// Remembers dropped records, to be reported by the next delivered batch.
    fn count_dropped(&self, n: u64) {
        if let Some(outbox) = &self.outbox {
            match outbox.add_dropped(n) {
                Ok(()) => return,
                Err(e) => self.diag.line(&format!(
                    "telemetry: cannot count dropped records on disk: {e}"
                )),
            }
        }
        let mut memory = self.memory();
        memory.dropped = memory.dropped.saturating_add(n);
    }
}

impl crate::sink::Sink for Delivery {
    fn record(&self, json: String) {
        self.deliver(json);
    }

    fn flush(&self, deadline: Instant) {
        Delivery::flush(self, deadline);
    }
}
