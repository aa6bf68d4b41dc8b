//! What the server refused or cut off to protect itself, counted and logged: one stderr line
//! when a limit first sheds load, then at most one line per limit every
//! [`LOG_EVERY`] with how many were shed since the last line. `/healthz` shows the totals.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::limits::Limits;

/// The least time between two log lines about the same limit.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// A limit that shed load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// A connection over `--max-connections`: answered 503 and closed.
    Connection,
    /// A connection that sent no complete request head within `--header-timeout`: closed.
    HeaderTimeout,
    /// A body that did not arrive within `--body-timeout`: 408, connection closed.
    BodyTimeout,
    /// An ingest request that found every `--max-concurrent-bodies` slot taken: 503.
    Body,
    /// A login or admin token attempt from an address that failed too often: 429.
    Login,
    /// `accept` failed (for example out of file descriptors).
    Accept,
}

const KINDS: usize = 6;

impl Shed {
    fn index(self) -> usize {
        self as usize
    }
}

/// Totals since start, as `/healthz` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShedCounts {
    /// Connections refused over `--max-connections`.
    pub connections: u64,
    /// Connections closed by `--header-timeout`.
    pub header_timeouts: u64,
    /// Requests cut off by `--body-timeout`.
    pub body_timeouts: u64,
    /// Ingest requests refused for want of a `--max-concurrent-bodies` slot.
    pub bodies: u64,
    /// Login and admin token attempts refused while their address was throttled.
    pub logins: u64,
    /// Failed `accept` calls.
    pub accept_errors: u64,
}

/// The counters and the rate-limited log.
#[derive(Debug)]
pub struct ShedLog {
    totals: [AtomicU64; KINDS],
    /// Per kind: shed since the last line, and when that line was written.
    pending: Mutex<[(u64, Option<Instant>); KINDS]>,
    what: [String; KINDS],
}

impl ShedLog {
    /// A log whose lines name the flags and values of `limits`.
    pub fn new(limits: &Limits, max_connections: usize) -> Self {
        let secs = |d: Duration| d.as_secs_f64();
        Self {
            totals: Default::default(),
            pending: Mutex::new([(0, None); KINDS]),
            what: [
                format!("connection(s) refused with 503: --max-connections {max_connections} open"),
                format!(
                    "connection(s) closed: no complete request head within --header-timeout {} s",
                    secs(limits.header_timeout)
                ),
                format!(
                    "request(s) answered 408: body not received within --body-timeout {} s",
                    secs(limits.body_timeout)
                ),
                format!(
                    "ingest request(s) refused with 503: --max-concurrent-bodies {} bodies already being read",
                    limits.max_concurrent_bodies
                ),
                "admin token attempt(s) refused with 429: too many failures from the address"
                    .to_owned(),
                "accept() failure(s)".to_owned(),
            ],
        }
    }

    /// Counts one shed event and logs it, rate-limited; `detail` is added to the line.
    pub fn note(&self, kind: Shed, detail: &str) {
        let i = kind.index();
        self.totals[i].fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let line = {
            let Ok(mut pending) = self.pending.lock() else {
                return;
            };
            let (count, last) = &mut pending[i];
            *count += 1;
            if last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
                return;
            }
            let since = match last {
                Some(t) => format!(" in the last {} s", now.duration_since(*t).as_secs()),
                None => String::new(),
            };
            let line = format!("telemetry-collector: shed {count} {}{since}", self.what[i]);
            *count = 0;
            *last = Some(now);
            line
        };
        if detail.is_empty() {
            eprintln!("{line}");
        } else {
            eprintln!("{line} ({detail})");
        }
    }

    /// Totals since start.
    pub fn counts(&self) -> ShedCounts {
        let n = |k: Shed| self.totals[k.index()].load(Ordering::Relaxed);
        ShedCounts {
            connections: n(Shed::Connection),
            header_timeouts: n(Shed::HeaderTimeout),
            body_timeouts: n(Shed::BodyTimeout),
            bodies: n(Shed::Body),
            logins: n(Shed::Login),
            accept_errors: n(Shed::Accept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_counted_even_when_not_logged() {
        let log = ShedLog::new(&Limits::default(), 10);
        for _ in 0..5 {
            log.note(Shed::Connection, "");
        }
        log.note(Shed::Body, "");
        let c = log.counts();
        assert_eq!((c.connections, c.bodies, c.header_timeouts), (5, 1, 0));
        assert_eq!(
            log.pending.lock().unwrap()[0].0,
            4,
            "4 wait for the next line"
        );
    }
}
