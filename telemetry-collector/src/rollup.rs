//! The arithmetic of the daily rollups, shared by both stores: which day a record counts
//! on, what one stored row adds ([`Contribution`]), the duration histogram's buckets and
//! their blob, and sums that saturate. The stores own their schema and SQL
//! (`store::sqlite::rollups`, `store::postgres::ingest`); this module holds no SQL.
//!
//! Invariant (kept by both stores): a rollup counts exactly the rows of `events`, because
//! only rows the store actually inserted are added, in the same transaction, so a replayed
//! batch changes nothing.
//!
//! Durations are kept as a histogram per (day, kind, name): the bucket of `d` ms is `d` cut
//! to its 3 most significant decimal digits ([`bucket`]), so durations under 1,000 ms (and
//! round ones such as 3,000) are exact and any other is less than 1% above its bucket's
//! lower bound: at most 900 buckets per decade.

use std::collections::BTreeMap;

use crate::record::Row;

/// Milliseconds in a UTC day; a record's day is `ts_ms / MS_PER_DAY` (rounded down).
pub const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The UTC day (days since 1970-01-01) of a time in milliseconds since the epoch.
///
/// ```
/// use telemetry_collector::rollup::day_of;
/// assert_eq!((day_of(0), day_of(86_399_999), day_of(86_400_000), day_of(-1)), (0, 0, 1, -1));
/// ```
pub fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(MS_PER_DAY)
}

/// The name a record without one is grouped under.
pub const NO_NAME: &str = "(none)";

/// The histogram bucket (its lower bound, in ms) of a duration: `d` cut to its 3 most
/// significant decimal digits.
///
/// ```
/// use telemetry_collector::rollup::bucket;
/// assert_eq!((bucket(999), bucket(3000), bucket(1234), bucket(98_765)), (999, 3000, 1230, 98_700));
/// ```
pub fn bucket(d: i64) -> i64 {
    let mut d = d.max(0);
    let mut scale = 1;
    while d >= 1000 {
        d /= 10;
        scale *= 10;
    }
    d * scale
}

/// A histogram blob's `(bucket, count)` pairs, sorted by bucket; a damaged blob reads as far
/// as it is well-formed.
///
/// ```
/// use telemetry_collector::rollup::{decode_hist, encode_hist};
/// let h = vec![(5, 2), (3000, 1)];
/// assert_eq!(decode_hist(&encode_hist(&h)), h);
/// ```
pub fn decode_hist(blob: &[u8]) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(lo), Some(n)) = (varint(blob, &mut at), varint(blob, &mut at)) {
        out.push((lo as i64, n));
    }
    out
}

/// The blob of sorted `(bucket, count)` pairs (buckets are never negative).
pub fn encode_hist(hist: &[(i64, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hist.len() * 4);
    for &(lo, n) in hist {
        put_varint(&mut out, lo.max(0) as u64);
        put_varint(&mut out, n);
    }
    out
}

fn varint(blob: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *blob.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Adds `(bucket, count)` pairs into a histogram, saturating.
pub fn add_hist(into: &mut BTreeMap<i64, u64>, pairs: impl IntoIterator<Item = (i64, u64)>) {
    for (lo, n) in pairs {
        let c = into.entry(lo).or_default();
        *c = c.saturating_add(n);
    }
}

/// Sums of one (day, kind, name); every addition saturates, so a sum never wraps or fails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Daily {
    /// Records.
    pub calls: i64,
    /// Records with `is_success` false.
    pub failures: i64,
    /// Sum of `input_tokens`.
    pub input_tokens: i64,
    /// Sum of `output_tokens`.
    pub output_tokens: i64,
    /// Sum of `cost`, kept finite.
    pub cost: f64,
    /// Session ends.
    pub ends: i64,
    /// Failed session ends.
    pub end_failures: i64,
    /// Sum of `tool_calls` of session ends.
    pub tool_calls: i64,
    /// Sum of `error_count` of session ends.
    pub error_count: i64,
    /// Sum of `dropped_records`.
    pub dropped: i64,
    /// Duration histogram: bucket → count.
    pub hist: BTreeMap<i64, u64>,
}

impl Daily {
    /// Adds another sum into this one.
    pub fn add(&mut self, d: &Daily) {
        self.calls = self.calls.saturating_add(d.calls);
        self.failures = self.failures.saturating_add(d.failures);
        self.input_tokens = self.input_tokens.saturating_add(d.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(d.output_tokens);
        self.cost = finite_sum(self.cost, d.cost);
        self.ends = self.ends.saturating_add(d.ends);
        self.end_failures = self.end_failures.saturating_add(d.end_failures);
        self.tool_calls = self.tool_calls.saturating_add(d.tool_calls);
        self.error_count = self.error_count.saturating_add(d.error_count);
        self.dropped = self.dropped.saturating_add(d.dropped);
        add_hist(&mut self.hist, d.hist.iter().map(|(&lo, &n)| (lo, n)));
    }

    /// Adds one row's contribution.
    pub fn add_one(&mut self, c: &Contribution<'_>) {
        self.calls = self.calls.saturating_add(1);
        self.failures = self.failures.saturating_add(i64::from(c.failed));
        self.input_tokens = self.input_tokens.saturating_add(c.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(c.output_tokens);
        self.cost = finite_sum(self.cost, c.cost);
        self.ends = self.ends.saturating_add(i64::from(c.end));
        self.end_failures = self.end_failures.saturating_add(i64::from(c.end_failed));
        self.tool_calls = self.tool_calls.saturating_add(c.tool_calls);
        self.error_count = self.error_count.saturating_add(c.error_count);
        self.dropped = self.dropped.saturating_add(c.dropped);
        if let Some(b) = c.bucket {
            add_hist(&mut self.hist, [(b, 1)]);
        }
    }
}

/// `a + b`, kept finite (`f64::MAX` at most): a rollup's cost is never NaN or infinite.
pub fn finite_sum(a: f64, b: f64) -> f64 {
    let s = a + b;
    if s.is_finite() {
        s
    } else if s.is_nan() {
        a
    } else {
        f64::MAX.copysign(s)
    }
}

/// What one stored row adds to the rollups, its names already folded past the day's bound
/// (`cardinality.rs`). Both stores sum exactly these.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution<'a> {
    /// UTC day of the record.
    pub day: i64,
    /// The `daily` row's kind.
    pub kind: &'a str,
    /// The `daily` row's name ([`NO_NAME`] when the record has none).
    pub name: &'a str,
    /// `is_success` is false.
    pub failed: bool,
    /// A session end (`action` = `end`).
    pub end: bool,
    /// A failed session end.
    pub end_failed: bool,
    /// `input_tokens`, 0 when absent.
    pub input_tokens: i64,
    /// `output_tokens`, 0 when absent.
    pub output_tokens: i64,
    /// `cost`, 0 when absent.
    pub cost: f64,
    /// `tool_calls` of a session end, else 0.
    pub tool_calls: i64,
    /// `error_count` of a session end, else 0.
    pub error_count: i64,
    /// `dropped_records`, 0 when absent.
    pub dropped: i64,
    /// The duration's histogram bucket.
    pub bucket: Option<i64>,
    /// The error text.
    pub error: Option<&'a str>,
    /// (user, version, os) of the install; version and os `""` when absent.
    pub install: Option<(&'a str, &'a str, &'a str)>,
    /// The session id of a `session` record.
    pub session: Option<&'a str>,
}

/// What `r` adds to the rollups, with its kind, name, error and install already folded.
///
/// ```
/// let rec = serde_json::json!({"event": "session", "event_timestamp": 1,
///     "properties": {"event_id": "e", "action": "end", "is_success": false,
///     "session_id": "s", "tool_calls": 3, "duration_ms": 1234}});
/// let row = telemetry_collector::record::to_row(rec, 1).unwrap();
/// let c = telemetry_collector::rollup::contribution(&row, "session", "(none)", None, None);
/// assert!(c.end && c.end_failed && c.failed);
/// assert_eq!((c.tool_calls, c.bucket, c.session), (3, Some(1230), Some("s")));
/// ```
pub fn contribution<'a>(
    r: &'a Row,
    kind: &'a str,
    name: &'a str,
    error: Option<&'a str>,
    install: Option<(&'a str, &'a str, &'a str)>,
) -> Contribution<'a> {
    let failed = r.is_success == Some(false);
    let end = r.action.as_deref() == Some("end");
    Contribution {
        day: day_of(r.ts_ms),
        kind,
        name,
        failed,
        end,
        end_failed: end && failed,
        input_tokens: r.input_tokens.unwrap_or(0),
        output_tokens: r.output_tokens.unwrap_or(0),
        cost: r.cost.unwrap_or(0.0),
        tool_calls: if end { r.tool_calls.unwrap_or(0) } else { 0 },
        error_count: if end { r.error_count.unwrap_or(0) } else { 0 },
        dropped: r.dropped_records.unwrap_or(0),
        bucket: r.duration_ms.map(bucket),
        error,
        install,
        session: match (r.session_id.as_deref(), r.kind.as_str()) {
            (Some(s), "session") => Some(s),
            _ => None,
        },
    }
}
