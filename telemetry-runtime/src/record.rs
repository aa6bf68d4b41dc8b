//! A record's JSON text, written straight from an event's properties: the hot path of every
//! tracked call when telemetry is on.
//!
//! The text is byte for byte what `serde_json` writes for the record as a [`Value`] map
//! (keys in sorted order, the same escapes and number formats); a unit test in the client holds
//! it to a reference built that way. Writing it directly saves the map, its owned keys and
//! values, and a second pass: properties arrive sorted by key and are merged on the fly with
//! the client's [`Fixed`] ones (system properties and tags, serialized once per client).

use std::borrow::Cow;
use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};

use serde_json::{Map, Value};

use crate::event::{Action, EventKind};
use crate::limits::{MAX_RECORD_BYTES, SYSTEM_KEYS};

/// Bytes of a record's properties, room for the envelope taken off [`MAX_RECORD_BYTES`].
const PROPERTIES_BUDGET: usize = MAX_RECORD_BYTES - 256;

/// An upper bound of the JSON size of a value (every character escaped as `\uXXXX`).
fn rough(v: &Value) -> usize {
    match v {
        Value::String(s) => rough_str(s),
        Value::Array(a) => a.iter().map(rough).sum::<usize>() + a.len() + 2,
        Value::Object(m) => {
            m.iter()
                .map(|(k, v)| rough_key(k) + rough(v))
                .sum::<usize>()
                + 2
        }
        _ => 24,
    }
}

fn rough_str(s: &str) -> usize {
    s.len() * 6 + 2
}

fn rough_key(key: &str) -> usize {
    key.len() * 6 + 3
}

/// Shrinks properties until the record fits in [`MAX_RECORD_BYTES`] (with room for the
/// envelope). `tags`: the keys of `props` that are the client's tags (an event's own property
/// of a tag's name is no tag).
///
/// What goes first is decoration: whole tags, the largest first, until the record fits. Only
/// then are the event's own strings cut shorter, then its arrays, round by round. System keys
/// are short by construction and never cut. Cheap for ordinary records: the exact size is only
/// computed when a quick upper bound says it might be too large.
pub(crate) fn fit_record(props: &mut Map<String, Value>, tags: &[&str]) {
    fn shrink(v: &mut Value, chars: usize, items: usize) {
        match v {
            Value::String(s) => {
                if let Some((i, _)) = s.char_indices().nth(chars) {
                    s.truncate(i);
                }
            }
            Value::Array(a) => {
                a.truncate(items);
                a.iter_mut().for_each(|v| shrink(v, chars, items));
            }
            Value::Object(m) => m.values_mut().for_each(|v| shrink(v, chars, items)),
            _ => {}
        }
    }
    let budget = PROPERTIES_BUDGET;
    let rough_size: usize = props.iter().map(|(k, v)| rough_key(k) + rough(v)).sum();
    if rough_size <= budget {
        return;
    }
    drop_tags(props, tags, budget);
    for (chars, items) in [(128, 16), (64, 8), (32, 4), (16, 2), (8, 1), (0, 0)] {
        if json_size(props) <= budget {
            return;
        }
        for (k, v) in props.iter_mut() {
            if !SYSTEM_KEYS.contains(&k.as_str()) {
                shrink(v, chars, items);
            }
        }
    }
    // Only keys are left: keep the system keys and the event's own action.
    if json_size(props) > budget {
        props.retain(|k, _| SYSTEM_KEYS.contains(&k.as_str()) || k == "action");
    }
}

/// The size of a value as JSON text.
fn json_size(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |b| b.len())
}

/// Removes whole tags, the largest first, until `props` fit in `budget` bytes (or no tag is
/// left). The size is kept by subtraction: an entry is its key, a colon, its value and a
/// comma (the system keys are always there, so no removed entry is the only one).
fn drop_tags(props: &mut Map<String, Value>, tags: &[&str], budget: usize) {
    let mut sized: Vec<(usize, &str)> = tags
        .iter()
        .filter_map(|&k| {
            Some((
                json_size(&k)
                    .saturating_add(json_size(props.get(k)?))
                    .saturating_add(2),
                k,
            ))
        })
        .collect();
    sized.sort_by_key(|&(bytes, _)| std::cmp::Reverse(bytes));
    let mut size = json_size(props);
    for (bytes, key) in sized {
        if size <= budget {
            return;
        }
        props.remove(key);
        size = size.saturating_sub(bytes);
    }
}

/// What every record of a client repeats: the system properties (`event_id` aside) and the
/// tags, as JSON text, and the record's closing `source`.
#[derive(Debug)]
pub(crate) struct Fixed {
    /// Sorted by key.
    props: Vec<FixedProp>,
    /// `},"source":"<app>"}`: closes the properties and the record.
    tail: String,
    /// Room a record usually needs.
    capacity: usize,
    /// The constant actions, scrubbed, indexed by [`Action`].
    actions: [String; 4],
}

#[derive(Debug)]
struct FixedProp {
    key: String,
    /// The value; `None` for `event_id`, which is new in every record.
    value: Option<String>,
    /// `"key":"value"`, or `"event_id":` for `event_id`.
    json: String,
    /// The property's part of the rough size.
    rough: usize,
    /// A tag (an event's own property of the same name wins over it).
    is_tag: bool,
}

/// A string as long as an `event_id`.
const EVENT_ID_SHAPE: &str = "00000000-0000-0000-0000-000000000000";

impl Fixed {
    /// `system`: the system properties but `event_id`; `tags`: scrubbed, in the order given
    /// (a tag named like a system key or an earlier tag is left out); `app`: the `source`;
    /// `scrub`: the client's scrubber, for the constant actions.
    pub(crate) fn new(
        system: [(&str, &str); 4],
        tags: &[(String, String)],
        app: &str,
        scrub: impl Fn(&'static str) -> String,
    ) -> Self {
        let mut props: Vec<FixedProp> = system
            .iter()
            .map(|&(k, v)| FixedProp::new(k, Some(v), false))
            .collect();
        props.push(FixedProp::new("event_id", None, false));
        for (k, v) in tags {
            if !props.iter().any(|p| p.key == *k) {
                props.push(FixedProp::new(k, Some(v), true));
            }
        }
        props.sort_by(|a, b| a.key.cmp(&b.key));
        let mut tail = String::from("},\"source\":");
        push_json_str(&mut tail, app);
        tail.push('}');
        let capacity = 320 + tail.len() + props.iter().map(|p| p.json.len()).sum::<usize>();
        Self {
            props,
            tail,
            capacity,
            actions: Action::ALL.map(|a| scrub(a.as_str())),
        }
    }

    /// A constant action, scrubbed.
    pub(crate) fn action(&self, action: Action) -> &str {
        &self.actions[action as usize]
    }
}

impl FixedProp {
    fn new(key: &str, value: Option<&str>, is_tag: bool) -> Self {
        let mut json = String::new();
        push_json_str(&mut json, key);
        json.push(':');
        if let Some(v) = value {
            push_json_str(&mut json, v);
        }
        Self {
            key: key.to_owned(),
            value: value.map(str::to_owned),
            json,
            rough: rough_key(key) + rough_str(value.unwrap_or(EVENT_ID_SHAPE)),
            is_tag,
        }
    }
}

/// Writes the properties of one record. Properties must come in increasing key order and
/// hold no system key; strings must be scrubbed already.
pub(crate) struct RecordWriter<'w> {
    mode: Mode<'w>,
}

enum Mode<'w> {
    /// Writing JSON text, merging in the fixed properties not yet written.
    Text {
        out: String,
        fixed: &'w [FixedProp],
        id: &'w str,
        rough: usize,
    },
    /// Collecting the properties in a map instead (the slow path of a record too large).
    Collect(Map<String, Value>),
}

impl<'w> RecordWriter<'w> {
    /// Starts the record: its envelope up to the properties.
    fn text(kind: EventKind, fixed: &'w [FixedProp], id: &'w str, capacity: usize) -> Self {
        let mut out = String::with_capacity(capacity);
        out.push_str("{\"event\":");
        push_json_str(&mut out, kind.as_str());
        out.push_str(",\"event_timestamp\":");
        push_u64(&mut out, now_millis());
        out.push_str(",\"properties\":{");
        Self {
            mode: Mode::Text {
                out,
                fixed,
                id,
                rough: 0,
            },
        }
    }

    /// Starts the property `key` (writes the fixed ones before it), or collects `value`.
    /// `plain`: the key needs no escaping. Returns where the value goes and the rough size to
    /// add it to, if text.
    fn key(
        &mut self,
        key: &str,
        plain: bool,
        value: impl FnOnce() -> Value,
    ) -> Option<(&mut String, &mut usize)> {
        match &mut self.mode {
            Mode::Collect(map) => {
                map.insert(key.to_owned(), value());
                None
            }
            Mode::Text {
                out,
                fixed,
                id,
                rough,
            } => {
                while let Some((p, rest)) = fixed.split_first()
                    && key_le(&p.key, key)
                {
                    *fixed = rest;
                    if p.key != key {
                        write_fixed(out, p, id, rough);
                    }
                }
                if !out.ends_with('{') {
                    out.push(',');
                }
                if plain {
                    out.push('"');
                    out.push_str(key);
                    out.push('"');
                } else {
                    push_json_str(out, key);
                }
                out.push(':');
                *rough += rough_key(key);
                Some((out, rough))
            }
        }
    }

    /// A string property.
    pub(crate) fn str(&mut self, key: &str, plain: bool, value: &str) {
        if let Some((out, rough)) = self.key(key, plain, || Value::from(value)) {
            push_json_str(out, value);
            *rough += rough_str(value);
        }
    }

    /// A number property.
    pub(crate) fn u64(&mut self, key: &str, plain: bool, value: u64) {
        if let Some((out, rough)) = self.key(key, plain, || Value::from(value)) {
            push_u64(out, value);
            *rough += 24;
        }
    }

    /// A boolean property.
    pub(crate) fn bool(&mut self, key: &str, plain: bool, value: bool) {
        if let Some((out, rough)) = self.key(key, plain, || Value::Bool(value)) {
            out.push_str(if value { "true" } else { "false" });
            *rough += 24;
        }
    }

    /// A number property that may be a fraction; `0` when not finite (JSON has no NaN).
    pub(crate) fn f64(&mut self, key: &str, plain: bool, value: f64) {
        let v = || crate::event::finite(value);
        if let Some((out, rough)) = self.key(key, plain, v) {
            out.push_str(&v().to_string());
            *rough += 24;
        }
    }

    /// An array of strings.
    pub(crate) fn list<'s>(
        &mut self,
        key: &str,
        plain: bool,
        items: impl Iterator<Item = Cow<'s, str>> + Clone,
    ) {
        let value = || Value::Array(items.clone().map(|s| Value::from(s.as_ref())).collect());
        if let Some((out, rough)) = self.key(key, plain, value) {
            out.push('[');
            let mut n = 0;
            for s in items.clone() {
                if n > 0 {
                    out.push(',');
                }
                push_json_str(out, &s);
                n += rough_str(&s) + 1;
            }
            out.push(']');
            *rough += n + 2;
        }
    }

    /// Any JSON value (an application's own property).
    pub(crate) fn json(&mut self, key: &str, value: &Value) {
        if let Some((out, r)) = self.key(key, false, || value.clone()) {
            out.push_str(&value.to_string());
            *r += rough(value);
        }
    }
}

/// `a <= b`, most often decided by the first bytes (keys are short and differ early).
fn key_le(a: &str, b: &str) -> bool {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a <= b,
    }
}

fn write_fixed(out: &mut String, p: &FixedProp, id: &str, rough: &mut usize) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push_str(&p.json);
    if p.value.is_none() {
        push_json_str(out, id);
    }
    *rough += p.rough;
}

/// Writes a record: `emit` gives the event's properties to the writer (sorted by key, no
/// system key, scrubbed); the fixed ones are merged in. A record whose rough size passes the
/// budget is written again the careful way: its properties collected in a map and cut by
/// [`fit_record`] (`emit` is called a second time then).
pub(crate) fn write(
    kind: EventKind,
    fixed: &Fixed,
    emit: &mut dyn FnMut(&mut RecordWriter<'_>),
) -> String {
    let mut id = uuid::Uuid::encode_buffer();
    let id: &str = new_event_id().hyphenated().encode_lower(&mut id);
    let mut w = RecordWriter::text(kind, &fixed.props, id, fixed.capacity);
    emit(&mut w);
    let Mode::Text {
        mut out,
        fixed: rest,
        rough,
        ..
    } = w.mode
    else {
        unreachable!("a text writer stays one")
    };
    let mut rough = rough;
    for p in rest {
        write_fixed(&mut out, p, id, &mut rough);
    }
    if rough <= PROPERTIES_BUDGET {
        out.push_str(&fixed.tail);
        return out;
    }
    // Rare: too large.
    let mut w = RecordWriter {
        mode: Mode::Collect(Map::new()),
    };
    emit(&mut w);
    let Mode::Collect(mut map) = w.mode else {
        unreachable!("a collecting writer stays one")
    };
    let mut tags = Vec::new();
    for p in &fixed.props {
        if !(p.is_tag && map.contains_key(&p.key)) {
            map.insert(p.key.clone(), Value::from(p.value.as_deref().unwrap_or(id)));
            if p.is_tag {
                tags.push(p.key.as_str());
            }
        }
    }
    fit_record(&mut map, &tags);
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut w = RecordWriter::text(kind, &[], id, fixed.capacity);
    for (k, v) in entries {
        w.json(k, v);
    }
    let Mode::Text { mut out, .. } = w.mode else {
        unreachable!("a text writer stays one")
    };
    out.push_str(&fixed.tail);
    out
}

/// Writes a JSON string exactly as `serde_json` does. Most strings need no escaping (no `"`,
/// `\` or control character; `serde_json` writes everything else as it is): they are copied
/// after one branch-free scan.
fn push_json_str(out: &mut String, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::from(s).to_string());
    }
}

/// Whether a JSON string needs escapes: a control character, `"` or `\`. Eight bytes at a
/// time (the classic "has a byte less than / equal to" word tricks, exact for any input).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0_u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        if x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0
            || has_zero(x ^ (ONES * u64::from(b'"')))
            || has_zero(x ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Writes a number in decimal, two digits per step (timestamps have 13).
fn push_u64(out: &mut String, mut n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [0_u8; 20];
    let mut start = digits.len();
    while n >= 10 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n > 0 || start == digits.len() {
        start -= 1;
        digits[start] = b'0' + n as u8;
    }
    // ASCII digits: always valid UTF-8.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or("0"));
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Parses a record the client wrote (always valid JSON).
pub(crate) fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or(Value::Null)
}

thread_local! {
    /// Per thread: a 128-bit key drawn from the operating system once (through std's
    /// `RandomState`, whose keys are), and a counter.
    static EVENT_IDS: Cell<(u128, u64)> = Cell::new((random_key(), 0));
}

fn random_key() -> u128 {
    let state = RandomState::new();
    (u128::from(state.hash_one(1_u8)) << 64) | u128::from(state.hash_one(2_u8))
}

/// A fresh random (version 4) UUID for a record's `event_id`, without a system call per
/// record. Each thread adds a counter to its random 128-bit key and mixes the sum with a
/// bijection (a three-round Feistel network over SplitMix64's finalizer): ids never repeat
/// within a thread, and two threads or processes, with independent random keys, draw from the
/// 2^128 values without any practical chance of meeting. That is all `event_id` is for (a
/// collector drops duplicates); nothing relies on it being unpredictable. (A process that
/// forks without exec continues the parent's sequence in the child.)
pub(crate) fn new_event_id() -> uuid::Uuid {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (key, n) = EVENT_IDS.with(|ids| {
        let (key, n) = ids.get();
        ids.set((key, n.wrapping_add(1)));
        (key, n)
    });
    let x = key.wrapping_add(u128::from(n));
    let (mut left, mut right) = ((x >> 64) as u64, x as u64);
    for round in [
        0x9e37_79b9_7f4a_7c15_u64,
        0x3c6e_f372_fe94_f82a,
        0xdaa6_6d2c_7ddf_743f,
    ] {
        (left, right) = (right, left ^ mix(right ^ round));
    }
    let bits = (u128::from(left) << 64) | u128::from(right);
    uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_fresh_v4_uuids() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = new_event_id();
            assert_eq!(id.get_version_num(), 4);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert!(seen.insert(id));
        }
        let other = std::thread::spawn(new_event_id).join().unwrap();
        assert!(seen.insert(other), "another thread draws other ids");
    }

    #[test]
    fn escape_check_is_exact() {
        let special = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        // Every byte value at every position of strings up to 20 bytes long.
        for len in 0..=20 {
            for pos in 0..len {
                for b in 0..=255_u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = b;
                    assert_eq!(needs_escape(&bytes), special(b), "{bytes:?}");
                }
            }
        }
        assert!(!needs_escape("é ✓ 🎉 ~ del\u{7f}".as_bytes()));
    }

    #[test]
    fn strings_and_numbers_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "é ✓ 🎉",
            "quote\" backslash\\ nl\n tab\t ctl\u{1}\u{1f} del\u{7f}",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
        for n in [0, 7, 10, 99, 100, 101, 1_700_000_000_123, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, serde_json::to_string(&n).unwrap());
        }
    }
}
