//! Where a client's records go: the [`Sink`] trait and the debug sink.
//!
//! A sink receives every record a client builds, as canonical JSON text: one compact object
//! per record, exactly the object that the cagent wire format carries in its `records` array.
//! HTTP delivery and [`testing::capture`](crate::testing::capture) are two sinks; an
//! application can install its own with [`ClientBuilder::sink`](crate::ClientBuilder::sink).

use std::sync::Arc;
use std::time::Instant;

use crate::diag::DiagOut;
use crate::record;

/// Receives the records of a client.
///
/// `record` is called on the thread of the tracked call, synchronously: when it returns, the
/// record must be wherever the sink promises (sent, written, queued). Implementations must not
/// panic and should return quickly; the client never holds a lock while calling them.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use telemetry_runtime::{Client, Env, Sink};
///
/// /// Keeps the event names, e.g. to forward them to the application's own logger.
/// #[derive(Default)]
/// struct Names(Mutex<Vec<String>>);
///
/// impl Sink for Names {
///     fn record(&self, json: String) {
///         let v: serde_json::Value = serde_json::from_str(&json).unwrap();
///         self.0.lock().unwrap().push(v["event"].as_str().unwrap().to_owned());
///     }
/// }
///
/// let names = Arc::new(Names::default());
/// let client = Client::builder().env(Env::empty()).sink(names.clone()).build();
/// client.track_command("build", ["--release"]);
/// assert_eq!(*names.0.lock().unwrap(), ["command"]);
/// ```
pub trait Sink: Send + Sync + 'static {
    /// Takes one record: its compact JSON text (`{"event":..,"event_timestamp":..,
    /// "source":..,"properties":{..}}`), already scrubbed and capped.
    fn record(&self, json: String);

    /// A flush point (the outermost command returned, a session ended,
    /// [`Client::flush`](crate::Client::flush) was called, or the program is ending): deliver
    /// what waits, and return by `deadline`. The default does nothing.
    fn flush(&self, deadline: Instant) {
        let _ = deadline;
    }
}

impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn record(&self, json: String) {
        (**self).record(json);
    }
    fn flush(&self, deadline: Instant) {
        (**self).flush(deadline);
    }
}

/// Flushes every sink by `deadline`, side by side: each but the first on its own scoped
/// thread (or, when no thread can be started, one after the other), so a flush of several
/// destinations costs one round trip, not one per destination.
pub(crate) fn flush_side_by_side(sinks: &[&dyn Sink], deadline: Instant) {
    let Some((first, rest)) = sinks.split_first() else {
        return;
    };
    if rest.is_empty() {
        first.flush(deadline);
        return;
    }
    std::thread::scope(|scope| {
        let mut unstarted = Vec::new();
        for sink in rest {
            let started = std::thread::Builder::new()
                .name("telemetry-flush".into())
                .spawn_scoped(scope, move || sink.flush(deadline));
            if started.is_err() {
                unstarted.push(sink);
            }
        }
        first.flush(deadline);
        for sink in unstarted {
            sink.flush(deadline);
        }
    });
}

/// Debug mode: each record is printed as pretty JSON on the diagnostic output, never sent.
#[derive(Debug)]
pub(crate) struct DebugSink(pub(crate) DiagOut);

impl Sink for DebugSink {
    fn record(&self, json: String) {
        let text = serde_json::to_string_pretty(&record::parse(&json)).unwrap_or_default();
        self.0.line(&text);
    }
}
