//! Caps on what a record may hold. Every string, array and record that leaves the machine is
//! within these bounds, whatever the application passes; what a collector or the environment
//! says is held to the bounds here too.

use std::time::Duration;

/// Keys the client adds to every record's properties; neither tags nor events overwrite them.
pub const SYSTEM_KEYS: [&str; 5] = [USER_UUID, VERSION, OS, OS_LANGUAGE, EVENT_ID];

/// The system property holding the anonymous id.
pub(crate) const USER_UUID: &str = "user_uuid";
/// The system property holding the application's version.
pub(crate) const VERSION: &str = "version";
/// The system property holding the operating system's (Go) name.
pub(crate) const OS: &str = "os";
/// The system property holding the user's language.
pub(crate) const OS_LANGUAGE: &str = "os_language";
/// The system property holding the record's unique id.
pub(crate) const EVENT_ID: &str = "event_id";

/// At most this many entries are kept in any array property (such as `args`).
pub const MAX_ARRAY_ITEMS: usize = 32;

/// A record's properties never serialize to more than this many bytes.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;

/// The `trace` object a record of the operator's OpenTelemetry stream carries after it is
/// never longer than this many bytes (its optional strings are left out first).
pub const MAX_TRACE_BYTES: usize = 2 * 1024;

/// At most this many error texts are kept in a session's `error` list.
pub const MAX_SESSION_ERRORS: usize = 20;

/// At most this many `TELEMETRY_TAGS` pairs are kept.
pub const MAX_TAGS: usize = 20;
/// Tag values longer than this many characters are cut.
pub const MAX_TAG_VALUE_CHARS: usize = 128;

/// A collector's `Retry-After` (seconds or an HTTP date) is honoured for at most this long:
/// however large the number or late the date, a CLI waits at most a day before it sends again.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Longest timeout accepted, from the builder or `OTEL_EXPORTER_OTLP_TIMEOUT`: a longer one is
/// cut to this, with one warning. A CLI never waits on telemetry for longer than a minute.
/// Also at `config::MAX_TIMEOUT`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// A round trip remembered beside an outbox (`<outbox>.round-trip`) is taken as at most this,
/// the longest request timeout: however large the number in the file, it can only make a run
/// queue its records at once (they leave at the flush point, which measures the round trip
/// again).
pub const MAX_ROUND_TRIP: Duration = MAX_TIMEOUT;

/// Every count the client sends (tokens, tool calls, durations in milliseconds, dropped
/// records) is at most this: the largest int64, so OTLP's `intValue` and a collector's sums
/// always take it.
pub const MAX_COUNT: u64 = i64::MAX as u64;

/// `n`, at most [`MAX_COUNT`].
pub(crate) fn clamp_count(n: u64) -> u64 {
    n.min(MAX_COUNT)
}

/// At most this many headers from `OTEL_EXPORTER_OTLP_HEADERS` (and its logs variant) are
/// sent; the rest are left out with one warning.
pub const MAX_OTLP_HEADERS: usize = 64;
/// At most this many bytes of header names and values from `OTEL_EXPORTER_OTLP_HEADERS` (and
/// its logs variant) are sent.
pub const MAX_OTLP_HEADER_BYTES: usize = 8 * 1024;

/// At most this many attribute sets (series) per metric of the operator's metrics; further
/// ones are added to the metric's one overflow series (attribute `otel.metric.overflow`).
pub const MAX_METRIC_SERIES: usize = 100;

/// Longest string kept, in characters (Unicode scalar values): the scrubber cuts every string
/// that leaves the machine to this.
pub const MAX_STRING_CHARS: usize = 256;

/// Most records in one request.
pub const MAX_BATCH: usize = 100;

/// The largest request body sent, before compression (4 MiB): a batch whose body would be
/// larger is split, and a record whose body alone would be larger is dropped and counted.
/// OpenTelemetry receivers refuse larger bodies by default (the Collector's OTLP receiver
/// and most vendors' intakes take at most 4 MiB or more).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Most records an outbox keeps (the newest).
pub const OUTBOX_MAX_RECORDS: usize = 1_000;
/// Most bytes of records an outbox keeps (the newest).
pub const OUTBOX_MAX_BYTES: usize = 1024 * 1024;
