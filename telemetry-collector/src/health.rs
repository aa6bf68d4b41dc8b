//! The server's own state, as `GET /healthz` reports it: whether the writer thread runs (and
//! how often it recovered from a failed commit), whether the database file is still the one
//! opened, and what the limits shed. A stopped writer also ends the server (non-zero exit)
//! so a supervisor restarts it.

use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::watch;

use crate::shed::ShedCounts;

/// Shared by the writer thread and the routes.
#[derive(Debug)]
pub struct Health {
    state: Mutex<State>,
    stopped: watch::Sender<Option<String>>,
}

#[derive(Debug, Default)]
struct State {
    recoveries: u64,
    last_error: Option<String>,
    storage: Option<String>,
}

/// The body of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `ok`, or `failing` (then the answer is 503).
    pub status: &'static str,
    /// `running`, or `stopped: <why>`.
    pub writer: String,
    /// Commits that failed with a panic and were recovered from (the batches got 503).
    pub writer_recoveries: u64,
    /// The last commit failure, if any.
    pub last_writer_error: Option<String>,
    /// `ok`, or why the database cannot be written.
    pub database: String,
    /// What the limits shed since start.
    pub shed: ShedCounts,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            stopped: watch::channel(None).0,
        }
    }
}

impl Health {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// A commit failed in a way the writer recovered from.
    pub fn recovered(&self, why: &str) {
        eprintln!("telemetry-collector: the writer recovered from a failed commit: {why}");
        self.with(|s| {
            s.recoveries += 1;
            s.last_error = Some(why.to_owned());
        });
    }

    /// A commit failed with an error (the batches were answered 503).
    pub fn commit_failed(&self, why: &str) {
        self.with(|s| s.last_error = Some(why.to_owned()));
    }

    /// The writer thread ended for good; the server stops with an error.
    pub fn writer_stopped(&self, why: &str) {
        eprintln!("telemetry-collector: the writer stopped: {why}");
        self.stopped.send_replace(Some(why.to_owned()));
    }

    /// Why the writer stopped for good, if it did.
    pub fn stopped(&self) -> Option<String> {
        self.stopped.borrow().clone()
    }

    /// The database file's state: `None` when fine.
    pub fn set_storage(&self, problem: Option<String>) {
        self.with(|s| s.storage = problem);
    }

    /// Waits until the writer stops for good; returns why.
    pub async fn writer_dead(&self) -> String {
        let mut rx = self.stopped.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// The report; `shed` comes from the server's shed log.
    pub fn report(&self, shed: ShedCounts) -> Report {
        let stopped = self.stopped.borrow().clone();
        self.with(|s| {
            let failing = stopped.is_some() || s.storage.is_some();
            Report {
                status: if failing { "failing" } else { "ok" },
                writer: stopped.map_or_else(|| "running".to_owned(), |w| format!("stopped: {w}")),
                writer_recoveries: s.recoveries,
                last_writer_error: s.last_error.clone(),
                database: s.storage.clone().unwrap_or_else(|| "ok".to_owned()),
                shed,
            }
        })
    }
}
