//! Flush points: what waits leaves in batches, oldest first, within one deadline.
//!
//! Invariants:
//! - one deadline bounds the whole flush: each request gets what is left of it (at most the
//!   request timeout), and no request starts when the last round trip no longer fits;
//! - one deadline bounds all flushes of the process together: each request is also granted
//!   no more than what is left of the process's network time ([`super::budget`]); once that
//!   is spent, a flush point sends nothing and what waits stays in the outbox;
//! - the outbox is sent by one process at a time (its send lock, taken without waiting);
//!   after each answer the batch leaves the outbox before the next one is sent;
//! - a sender sends, before it returns, what others appended while it held the send lock
//!   (they could not take it), within its deadline;
//! - after a refused batch the flush stops (the rest waits for a later run).

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Delivery;
use crate::export::Verdict;
use crate::limits::MAX_BATCH;
use crate::outbox::Outbox;

/// Takes a batch out of the queue after its answer: `(batch, reported, refused)`.
type Settle<'a> = dyn FnMut(&[String], u64, u64) -> io::Result<()> + 'a;

impl Delivery {
    /// Sends what waits (memory first, then the outbox) until `deadline`, then remembers the
    /// round trip this process measured for later runs.
    pub(crate) fn flush(&self, deadline: Instant) {
        self.flush_waiting(deadline);
        self.remember_round_trip();
    }

    /// Writes the latest round trip measured beside the outbox, when it changed.
    fn remember_round_trip(&self) {
        let (Some(outbox), Some(ms)) = (&self.outbox, self.round_trip.to_save()) else {
            return;
        };
        match outbox.set_round_trip(ms) {
            Ok(()) => self.round_trip.saved(ms),
            Err(e) => self
                .diag
                .line(&format!("telemetry: cannot remember the round trip: {e}")),
        }
    }

    /// Sends what waits (memory first, then the outbox) until `deadline`.
    fn flush_waiting(&self, deadline: Instant) {
        if self.nothing_waits() {
            return;
        }
        if let Some(why) = self.no_request_now() {
            self.diag.line(&format!("telemetry: flush skipped: {why}"));
            return;
        }
        if self.budget.is_spent() {
            self.diag.line(&format!(
                "telemetry: flush skipped: this process has waited its {} ms on the network \
                 (send budget plus one timeout); what waits is sent by a later run",
                self.budget.whole().as_millis()
            ));
            return;
        }
        if !self.flush_memory(deadline) {
            return;
        }
        if let Some(outbox) = &self.outbox {
            self.flush_outbox(outbox, deadline);
        }
        self.nothing_waits();
    }

    /// Whether nothing waits (then records of this process may be sent at once again).
    fn nothing_waits(&self) -> bool {
        let empty =
            self.memory().records.is_empty() && self.outbox.as_ref().is_none_or(|o| o.size() == 0);
        if empty {
            self.pending.store(false, Ordering::Relaxed);
        }
        empty
    }

    /// Sends the records kept in memory. Returns whether to go on.
    fn flush_memory(&self, deadline: Instant) -> bool {
        let (records, dropped) = {
            let mut memory = self.memory();
            if memory.records.is_empty() {
                return true;
            }
            let records: Vec<String> = memory.records.drain(..).collect();
            (records, std::mem::take(&mut memory.dropped))
        };
        let mut reported = 0;
        let (done, go_on) = self.drain(&records, dropped, deadline, &mut |_, r, refused| {
            reported += r;
            if refused > 0 {
                let mut memory = self.memory();
                memory.dropped = memory.dropped.saturating_add(refused);
            }
            Ok(())
        });
        let mut memory = self.memory();
        memory.dropped = memory
            .dropped
            .saturating_add(dropped - reported.min(dropped));
        for r in records.into_iter().skip(done).rev() {
            memory.records.push_front(r);
        }
        go_on
    }

    /// Sends the outbox, if no other process is sending it.
    fn flush_outbox(&self, outbox: &Outbox, deadline: Instant) {
        loop {
            let sending = match outbox.try_send() {
                Ok(Some(s)) => s,
                Ok(None) => {
                    self.diag.line(
                        "telemetry: another process is sending the outbox; it sends ours too",
                    );
                    return;
                }
                Err(e) => {
                    self.diag
                        .line(&format!("telemetry: outbox unavailable: {e}"));
                    return;
                }
            };
            let snapshot = match sending.snapshot() {
                Ok(s) => s,
                Err(e) => {
                    self.diag
                        .line(&format!("telemetry: outbox cannot be read: {e}"));
                    return;
                }
            };
            if snapshot.records.is_empty() {
                return;
            }
            let (done, go_on) = self.drain(
                &snapshot.records,
                snapshot.dropped,
                deadline,
                &mut |b, r, x| sending.remove(b, r, x).map(|_| ()),
            );
            drop(sending);
            if done > 0 {
                outbox.clear_not_before();
            }
            // Lines appended meanwhile (their writers found the send lock taken) are ours.
            if !go_on || done == 0 || outbox.size() == 0 {
                return;
            }
        }
    }

    /// The time granted to one more request: what is left of `deadline` and of the
    /// process's network time, at most the request timeout, if the last round trip fits in
    /// it. Reserved: give it back with `budget.settle`.
    fn time_for_a_request(&self, deadline: Instant) -> Option<Duration> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || left < self.budget.last_round_trip() {
            return None;
        }
        self.budget.reserve(left.min(self.timeout))
    }

    /// Sends `records` in batches of at most [`MAX_BATCH`] (fewer when their request would be
    /// over the exporter's size limit), `dropped` reported by the first delivered one. After each answer that takes a batch out of the queue, `settle(batch,
    /// reported, refused)` removes it. Returns how many records were taken out, and whether
    /// this flush may go on (not past its deadline, no answer that stops this process).
    fn drain(
        &self,
        records: &[String],
        mut dropped: u64,
        deadline: Instant,
        settle: &mut Settle<'_>,
    ) -> (usize, bool) {
        let mut done = 0;
        while done < records.len() {
            let batch = &records[done..records.len().min(done + MAX_BATCH)];
            let Some(timeout) = self.time_for_a_request(deadline) else {
                self.diag.line(&format!(
                    "telemetry: flush deadline reached (this flush's or the process's); {} \
                     record(s) wait for a later flush",
                    records.len() - done
                ));
                return (done, false);
            };
            let started = Instant::now();
            let answer = self.post(batch, dropped, timeout);
            self.budget.settle(timeout, started.elapsed());
            let n = match &answer {
                Ok((_, _, taken)) => (*taken).min(batch.len()),
                Err(_) => batch.len(),
            };
            let batch = &batch[..n];
            let removed = match answer {
                Ok((status, Verdict::Delivered { rejected, message }, _)) => {
                    self.diag.line(&format!(
                        "telemetry: sent {n} record(s) ({status}){}",
                        if dropped > 0 {
                            format!(", reporting {dropped} dropped")
                        } else {
                            String::new()
                        }
                    ));
                    let removed = settle(batch, dropped, 0);
                    self.rejected(rejected, n, message);
                    dropped = 0;
                    removed
                }
                Ok((_, Verdict::Retry { after, why }, _)) => {
                    self.retry_later(after);
                    return self.halt(done, records.len(), &why);
                }
                Ok((_, Verdict::Refused { why }, _)) => {
                    self.diag
                        .line(&format!("telemetry: dropped {n} record(s): {why}"));
                    if let Err(e) = settle(batch, 0, n as u64) {
                        self.diag
                            .line(&format!("telemetry: outbox cannot be written: {e}"));
                    }
                    return self.halt(done + n, records.len(), "a batch was refused");
                }
                Err(e) => return self.halt(done, records.len(), &e),
            };
            done += n;
            if let Err(e) = removed {
                // Sending on would leave more sent records behind, to be sent again.
                self.diag
                    .line(&format!("telemetry: outbox cannot be written: {e}"));
                return (done, false);
            }
        }
        (done, true)
    }

    /// Stops this process's requests after `why`; `done` of `total` records were taken out.
    fn halt(&self, done: usize, total: usize, why: &str) -> (usize, bool) {
        self.stop();
        self.diag.line(&format!(
            "telemetry: {} record(s) wait for a later run: {why}; no more attempts in this process",
            total - done
        ));
        (done, false)
    }
}
