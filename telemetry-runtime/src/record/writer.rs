//! The two writers of a record's properties: [`TextWriter`] writes the JSON text directly (the
//! hot path), [`MapWriter`] collects a map (the rare record too large to write as it is).
//! Callers are generic over [`RecordWriter`] (see [`Emit`](super::Emit)), so the hot path is
//! statically dispatched and inlined.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::fixed::FixedProp;
use super::json::{now_millis, push_json_str, push_u64};
use super::size::{rough, rough_key, rough_str};
use crate::event::EventKind;
use crate::limits::clamp_count;

/// Takes the properties of one record. Properties must come in increasing key order and hold
/// no system key; strings must be scrubbed already. `plain`: the key needs no escaping.
pub(crate) trait RecordWriter {
    /// A string property.
    fn str(&mut self, key: &str, plain: bool, value: &str);
    /// A count, written at most [`MAX_COUNT`](crate::limits::MAX_COUNT).
    fn u64(&mut self, key: &str, plain: bool, value: u64);
    /// A boolean property.
    fn bool(&mut self, key: &str, plain: bool, value: bool);
    /// A number that may be a fraction; `0` when not finite (JSON has no NaN).
    fn f64(&mut self, key: &str, plain: bool, value: f64);
    /// An array of strings.
    fn list<'s>(&mut self, key: &str, plain: bool, items: impl Iterator<Item = Cow<'s, str>>);
    /// Any JSON value (an application's own property).
    fn json(&mut self, key: &str, value: &Value);
}

/// Writes the record's JSON text, merging in the fixed properties not yet written.
pub(super) struct TextWriter<'w> {
    out: String,
    fixed: &'w [FixedProp],
    id: &'w str,
    /// An upper bound of the properties' size so far.
    rough: usize,
}

impl<'w> TextWriter<'w> {
    /// Starts the record: its envelope up to the properties.
    pub(super) fn new(kind: EventKind, fixed: &'w [FixedProp], id: &'w str, cap: usize) -> Self {
        let mut out = String::with_capacity(cap);
        out.push_str("{\"event\":");
        push_json_str(&mut out, kind.as_str());
        out.push_str(",\"event_timestamp\":");
        push_u64(&mut out, now_millis());
        out.push_str(",\"properties\":{");
        Self {
            out,
            fixed,
            id,
            rough: 0,
        }
    }

    /// Writes the fixed properties left and returns the text (the properties still open) and
    /// the rough size of all properties.
    pub(super) fn finish(mut self) -> (String, usize) {
        for p in self.fixed {
            p.write(&mut self.out, self.id, &mut self.rough);
        }
        (self.out, self.rough)
    }

    /// Starts the property `key`, after the fixed ones that sort before it (a tag of the same
    /// name is left out: the event's own property wins).
    fn key(&mut self, key: &str, plain: bool) {
        while let Some((p, rest)) = self.fixed.split_first()
            && key_le(&p.key, key)
        {
            self.fixed = rest;
            if p.key != key {
                p.write(&mut self.out, self.id, &mut self.rough);
            }
        }
        if !self.out.ends_with('{') {
            self.out.push(',');
        }
        if plain {
            self.out.push('"');
            self.out.push_str(key);
            self.out.push('"');
        } else {
            push_json_str(&mut self.out, key);
        }
        self.out.push(':');
        self.rough += rough_key(key);
    }
}

impl RecordWriter for TextWriter<'_> {
    fn str(&mut self, key: &str, plain: bool, value: &str) {
        self.key(key, plain);
        push_json_str(&mut self.out, value);
        self.rough += rough_str(value);
    }

    fn u64(&mut self, key: &str, plain: bool, value: u64) {
        self.key(key, plain);
        push_u64(&mut self.out, clamp_count(value));
        self.rough += 24;
    }

    fn bool(&mut self, key: &str, plain: bool, value: bool) {
        self.key(key, plain);
        self.out.push_str(if value { "true" } else { "false" });
        self.rough += 24;
    }

    fn f64(&mut self, key: &str, plain: bool, value: f64) {
        self.key(key, plain);
        self.out.push_str(&crate::event::finite(value).to_string());
        self.rough += 24;
    }

    fn list<'s>(&mut self, key: &str, plain: bool, items: impl Iterator<Item = Cow<'s, str>>) {
        self.key(key, plain);
        self.out.push('[');
        let mut n = 0;
        for s in items {
            if n > 0 {
                self.out.push(',');
            }
            push_json_str(&mut self.out, &s);
            n += rough_str(&s) + 1;
        }
        self.out.push(']');
        self.rough += n + 2;
    }

    fn json(&mut self, key: &str, value: &Value) {
        self.key(key, false);
        self.out.push_str(&value.to_string());
        self.rough += rough(value);
    }
}

/// Collects the properties in a map.
#[derive(Default)]
pub(super) struct MapWriter(pub(super) Map<String, Value>);

impl RecordWriter for MapWriter {
    fn str(&mut self, key: &str, _: bool, value: &str) {
        self.0.insert(key.to_owned(), Value::from(value));
    }
    fn u64(&mut self, key: &str, _: bool, value: u64) {
        self.0
            .insert(key.to_owned(), Value::from(clamp_count(value)));
    }
    fn bool(&mut self, key: &str, _: bool, value: bool) {
        self.0.insert(key.to_owned(), Value::Bool(value));
    }
    fn f64(&mut self, key: &str, _: bool, value: f64) {
        self.0.insert(key.to_owned(), crate::event::finite(value));
    }
    fn list<'s>(&mut self, key: &str, _: bool, items: impl Iterator<Item = Cow<'s, str>>) {
        let items = items.map(|s| Value::from(s.as_ref())).collect();
        self.0.insert(key.to_owned(), Value::Array(items));
    }
    fn json(&mut self, key: &str, value: &Value) {
        self.0.insert(key.to_owned(), value.clone());
    }
}

/// `a <= b`, most often decided by the first bytes (keys are short and differ early).
fn key_le(a: &str, b: &str) -> bool {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a <= b,
    }
}
