//! The series of the instruments: one aggregate per instrument and attribute set, kept in
//! memory until the metrics are reported.
//!
//! Recording is the hot path (once per tool call, model turn, command and session): it hashes
//! the borrowed attributes, finds the series without allocating (a new series allocates its
//! strings once), and adds the value. Strings are kept as the application gave them; they
//! are scrubbed when the record is written (`report`), never here.
//!
//! Invariants: at most [`MAX_METRIC_SERIES`](crate::limits::MAX_METRIC_SERIES) series per instrument; further attribute sets go to
//! the instrument's one overflow series (the OpenTelemetry SDKs' `otel.metric.overflow`), so
//! nothing recorded is lost from the totals and memory stays bounded. A histogram's bucket
//! counts always add up to its count.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::instruments::{Instrument, Kind};

use crate::limits::MAX_METRIC_SERIES as MAX_SERIES;

/// How a measured operation ended, as the `error.type` attribute says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ErrorType {
    /// No error: no `error.type`.
    None,
    /// `_OTHER`: any error.
    Other,
    /// `panic`: the body panicked.
    Panic,
    /// `cancelled`: the future was dropped before it finished.
    Cancelled,
}

impl ErrorType {
    /// The error type of an outcome's error text (as the OTLP logs mapping reads it).
    pub(crate) fn of(error: Option<&str>) -> Self {
        match error {
            None => Self::None,
            Some("panicked") => Self::Panic,
            Some("cancelled") => Self::Cancelled,
            Some(_) => Self::Other,
        }
    }

    /// The attribute's value; `None` for no error.
    pub(crate) fn as_str(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Other => Some("_OTHER"),
            Self::Panic => Some("panic"),
            Self::Cancelled => Some("cancelled"),
        }
    }
}

/// The attributes of one measurement, borrowed: two strings and one small value, each
/// meaning what its instrument says (see `report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attrs<'a> {
    pub(crate) a: &'a str,
    pub(crate) b: &'a str,
    pub(crate) flag: u8,
}

/// [`Attrs`], owned by a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedAttrs {
    pub(crate) a: Box<str>,
    pub(crate) b: Box<str>,
    pub(crate) flag: u8,
}

impl OwnedAttrs {
    #[inline]
    fn is(&self, attrs: &Attrs<'_>) -> bool {
        fn same(x: &str, y: &str) -> bool {
            x.len() == y.len() && (x.is_empty() || x == y)
        }
        self.flag == attrs.flag && same(&self.a, attrs.a) && same(&self.b, attrs.b)
    }
}

/// A histogram with explicit boundaries: bucket `i` counts the values `v` with
/// `bounds[i - 1] < v <= bounds[i]`, the last one those above every boundary.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) buckets: Box<[u64]>,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            buckets: vec![0; bounds.len() + 1].into_boxed_slice(),
        }
    }

    fn add(&mut self, bounds: &[f64], v: f64) {
        let i = bounds.partition_point(|&b| b < v);
        if let Some(n) = self.buckets.get_mut(i) {
            *n = n.saturating_add(1);
            self.count = self.count.saturating_add(1);
            self.sum += v;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// Adds another histogram of the same boundaries.
    pub(crate) fn merge(&mut self, other: &Self) {
        for (n, m) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *n = n.saturating_add(*m);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// One series' aggregate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Aggregate {
    Histogram(Histogram),
    Double(f64),
    Int(u64),
}

impl Aggregate {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Histogram(bounds) => Self::Histogram(Histogram::new(bounds)),
            Kind::SumDouble => Self::Double(0.0),
            Kind::SumInt => Self::Int(0),
        }
    }

    fn add(&mut self, kind: Kind, v: f64) {
        match (self, kind) {
            (Self::Histogram(h), Kind::Histogram(bounds)) => h.add(bounds, v),
            (Self::Double(x), _) => *x += v,
            // Integer sums take whole counts only (sessions: 1 each).
            (Self::Int(n), _) => *n = n.saturating_add(v as u64),
            (Self::Histogram(_), _) => {}
        }
    }

    /// Adds another aggregate of the same instrument.
    pub(crate) fn merge(&mut self, other: &Self) {
        match (self, other) {
            (Self::Histogram(h), Self::Histogram(o)) => h.merge(o),
            (Self::Double(x), Self::Double(y)) => *x += y,
            (Self::Int(n), Self::Int(m)) => *n = n.saturating_add(*m),
            _ => {}
        }
    }
}

/// One series: an instrument, its attributes and its aggregate.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) instrument: Instrument,
    pub(crate) attrs: OwnedAttrs,
    pub(crate) value: Aggregate,
}

/// Every series recorded since the last report (delta) or since the client was built
/// (cumulative).
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Each instrument's series, in the order they were first recorded.
    series: [Vec<Series>; Instrument::ALL.len()],
    /// Where each series is in `series`, by the hash of its instrument and attributes (a
    /// collision shares a list).
    index: HashMap<u64, Vec<u32>, BuildHasherDefault<Prehashed>>,
    /// Each instrument's series recorded last, by the low bits of the flag (success and
    /// failure, input and output tokens): a run of calls of one tool finds its series
    /// without hashing, whichever way each call ends.
    last: [[usize; 4]; Instrument::ALL.len()],
    /// Each instrument's overflow series.
    overflow: [Option<Aggregate>; Instrument::ALL.len()],
    /// Whether anything was recorded since the last [`take_changed`](Self::take_changed).
    changed: bool,
}

impl Store {
    /// Adds `v` to the series of `instrument` and `attrs`.
    #[inline]
    pub(crate) fn record(&mut self, instrument: Instrument, attrs: Attrs<'_>, v: f64) {
        self.changed = true;
        let (i, f) = (instrument.index(), usize::from(attrs.flag & 3));
        let last = self.last[i][f];
        if let Some(s) = self.series[i].get_mut(last)
            && s.attrs.is(&attrs)
        {
            s.value.add(instrument.kind(), v);
            return;
        }
        self.record_new(instrument, attrs, v);
    }

    /// [`record`](Self::record) when the series is not the one recorded last: found by its
    /// hash, else made (or the overflow series).
    #[cold]
    #[inline(never)]
    fn record_new(&mut self, instrument: Instrument, attrs: Attrs<'_>, v: f64) {
        let kind = instrument.kind();
        let (i, f) = (instrument.index(), usize::from(attrs.flag & 3));
        let list = self.index.entry(hash(instrument, &attrs)).or_default();
        let series = &mut self.series[i];
        if let Some(&at) = list.iter().find(|&&at| {
            series
                .get(at as usize)
                .is_some_and(|s| s.instrument == instrument && s.attrs.is(&attrs))
        }) {
            self.last[i][f] = at as usize;
            if let Some(s) = series.get_mut(at as usize) {
                s.value.add(kind, v);
            }
            return;
        }
        if series.len() >= MAX_SERIES {
            self.overflow[i]
                .get_or_insert_with(|| Aggregate::new(kind))
                .add(kind, v);
            return;
        }
        let mut value = Aggregate::new(kind);
        value.add(kind, v);
        list.push(series.len() as u32);
        self.last[i][f] = series.len();
        series.push(Series {
            instrument,
            attrs: OwnedAttrs {
                a: attrs.a.into(),
                b: attrs.b.into(),
                flag: attrs.flag,
            },
            value,
        });
    }

    /// Every series, instrument by instrument.
    pub(crate) fn series(&self) -> impl Iterator<Item = &Series> {
        self.series.iter().flatten()
    }

    /// Each instrument's overflow series, when it has one.
    pub(crate) fn overflow(&self, instrument: Instrument) -> Option<&Aggregate> {
        self.overflow[instrument.index()].as_ref()
    }

    /// Whether anything was recorded since the last call; clears the mark.
    pub(crate) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Forgets every series (after a delta report).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// FNV-1a over the instrument and the attributes (strings ended by a byte no UTF-8 text
/// holds, so `("ab", "c")` and `("a", "bc")` differ). Only the map's buckets depend on it: a
/// collision costs a comparison, never a wrong series.
fn hash(instrument: Instrument, attrs: &Attrs<'_>) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    eat(instrument as u8);
    eat(attrs.flag);
    for s in [attrs.a, attrs.b] {
        s.bytes().for_each(&mut eat);
        eat(0xff);
    }
    h
}

/// The map's hasher: its keys are already hashes.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs<'a>(a: &'a str, b: &'a str, flag: u8) -> Attrs<'a> {
        Attrs { a, b, flag }
    }

    #[test]
    fn values_go_to_the_bucket_whose_upper_bound_they_reach() {
        let mut s = Store::default();
        let i = Instrument::TokenUsage;
        for v in [0.0, 1.0, 1.5, 4.0, 5.0, 67_108_864.0, 1e9] {
            s.record(i, attrs("p", "m", 0), v);
        }
        let series: Vec<&Series> = s.series().collect();
        assert_eq!(series.len(), 1);
        let Aggregate::Histogram(h) = &series[0].value else {
            panic!("not a histogram")
        };
        let mut want = [0; 15];
        want[0] = 2; // 0 and 1: <= 1
        want[1] = 2; // 1.5 and 4: (1, 4]
        want[2] = 1; // 5: (4, 16]
        want[13] = 1; // 67108864: (16777216, 67108864]
        want[14] = 1; // above every bound
        assert_eq!(&*h.buckets, &want[..]);
        assert_eq!(h.count, 7);
        assert_eq!(h.buckets.iter().sum::<u64>(), h.count);
        assert_eq!((h.min, h.max), (0.0, 1e9));
        assert_eq!(h.sum, 0.0 + 1.0 + 1.5 + 4.0 + 5.0 + 67_108_864.0 + 1e9);
    }

    #[test]
    fn attribute_sets_are_told_apart_and_capped_into_the_overflow_series() {
        let mut s = Store::default();
        let i = Instrument::SessionCount;
        s.record(i, attrs("ab", "c", 1), 1.0);
        s.record(i, attrs("a", "bc", 1), 1.0);
        s.record(i, attrs("a", "bc", 0), 1.0);
        s.record(i, attrs("a", "bc", 0), 1.0);
        assert_eq!(s.series().count(), 3);
        let names: Vec<String> = (0..MAX_SERIES + 10).map(|n| format!("t{n}")).collect();
        let tool = Instrument::ToolDuration;
        for n in &names {
            s.record(tool, attrs(n, "", 0), 0.5);
        }
        s.record(tool, attrs("t0", "", 0), 0.5);
        let tools = s.series().filter(|x| x.instrument == tool).count();
        assert_eq!(tools, MAX_SERIES);
        let Some(Aggregate::Histogram(over)) = s.overflow(tool) else {
            panic!("no overflow series")
        };
        assert_eq!(over.count, 10);
        assert!(s.take_changed() && !s.take_changed());
        s.clear();
        assert_eq!(s.series().count(), 0);
    }
}
