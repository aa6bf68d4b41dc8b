//! Helpers for testing instrumentation: capture the records a closure would send.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::client::{Client, ClientBuilder};
use crate::current::with_client;

/// Runs `f` with a fresh, enabled client as the current client of this thread. That client
/// keeps its records in memory instead of sending them; they are returned exactly as they
/// would have been POSTed (the envelope objects of the `records` array).
///
/// Records made on other threads are not captured unless those threads use the client
/// explicitly (see [`capture_client`]).
///
/// ```
/// let ((), records) = telemetry_runtime::testing::capture(|| {
///     telemetry_runtime::current().track_command("build", ["--release"]);
/// });
/// assert_eq!(records.len(), 1);
/// assert_eq!(records[0]["event"], "command");
/// assert_eq!(records[0]["properties"]["args"][0], "--release");
/// ```
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Value>) {
    capture_with(Client::builder().app("test", "0.0.0"), f)
}

/// Like [`capture`], with a builder for the capturing client (its environment is empty unless
/// the builder sets one; its records are kept in memory whatever the builder says).
pub fn capture_with<R>(builder: ClientBuilder, f: impl FnOnce() -> R) -> (R, Vec<Value>) {
    let (client, records) = capture_client(builder);
    let r = with_client(&client, f);
    (r, take(&records))
}

/// A capturing client and the records it keeps, for tests that pass the client around
/// (threads, async tasks).
///
/// ```
/// use telemetry_runtime::{Client, testing};
/// let (client, records) = testing::capture_client(Client::builder());
/// client.record_error("ignored: no session");
/// client.track_command("x", Vec::<String>::new());
/// assert_eq!(records.len(), 1);
/// assert_eq!(testing::take(&records).len(), 1);
/// assert!(records.is_empty());
/// ```
pub fn capture_client(builder: ClientBuilder) -> (Client, Records) {
    let records = Records::default();
    let client = builder
        .env_or_empty()
        .enabled(true)
        .sink(records.clone())
        .build();
    (client, records)
}

/// Runs `f` with a fresh client whose operator's OpenTelemetry stream is on, as the current
/// client of this thread, and returns the records that stream would have exported: each with
/// its `trace` object (`trace_id`, `span_id`, `parent_span_id`, and `start_ns`/`end_ns` for
/// the records that are spans). Nothing is sent, no file is written.
///
/// ```
/// let ((), records) = telemetry_runtime::testing::capture_otel(|| {
///     let client = telemetry_runtime::current();
///     client.record_tool_call("grep", None, None, std::time::Duration::from_millis(3),
///         telemetry_runtime::Outcome::Success);
/// });
/// let trace = &records[0]["trace"];
/// assert_eq!(trace["trace_id"].as_str().unwrap().len(), 32);
/// assert!(trace["end_ns"].as_u64().unwrap() - trace["start_ns"].as_u64().unwrap() >= 3_000_000);
/// ```
pub fn capture_otel<R>(f: impl FnOnce() -> R) -> (R, Vec<Value>) {
    let records = Records::default();
    let client = Client::builder()
        .app("test", "0.0.0")
        .env_or_empty()
        .sink(Records::default())
        .otel(true)
        .otel_sink(records.clone())
        .build();
    let r = with_client(&client, f);
    (r, take(&records))
}

/// Takes the records collected so far, parsed.
#[must_use]
pub fn take(records: &Records) -> Vec<Value> {
    records.take()
}

/// The records a capturing client keeps: the exact JSON text of each record, byte for byte
/// what would have been sent. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Records(Arc<Mutex<Vec<String>>>);

impl Records {
    /// Takes the records collected so far, parsed (the envelope objects).
    #[must_use]
    pub fn take(&self) -> Vec<Value> {
        self.take_json()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Takes the records collected so far as the JSON text that would have been sent, one
    /// compact object per record.
    ///
    /// ```
    /// use telemetry_runtime::{Client, testing};
    /// let (client, records) = testing::capture_client(Client::builder());
    /// client.track_command("x", ["--y"]);
    /// let json = records.take_json();
    /// assert!(json[0].starts_with(r#"{"event":"command","event_timestamp":"#));
    /// ```
    #[must_use]
    pub fn take_json(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock())
    }

    /// How many records are waiting to be taken.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record is waiting to be taken.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl crate::sink::Sink for Records {
    fn record(&self, json: String) {
        self.lock().push(json);
    }
}
