//! Helpers for testing instrumentation: capture the records a closure would send.

use std::sync::{Arc, Mutex};

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

/// A capturing client and the vector it fills, for tests that pass the client around
/// (threads, async tasks).
///
/// ```
/// use telemetry_runtime::{Client, testing};
/// let (client, records) = testing::capture_client(Client::builder());
/// client.record_error("ignored: no session");
/// client.track_command("x", Vec::<String>::new());
/// assert_eq!(testing::take(&records).len(), 1);
/// ```
pub fn capture_client(builder: ClientBuilder) -> (Client, Arc<Mutex<Vec<Value>>>) {
    let records = Arc::new(Mutex::new(Vec::new()));
    let client = builder
        .env_or_empty()
        .enabled(true)
        .memory(records.clone())
        .build();
    (client, records)
}

/// Takes the records collected so far.
#[must_use]
pub fn take(records: &Arc<Mutex<Vec<Value>>>) -> Vec<Value> {
    std::mem::take(
        &mut *records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}
