//! Reading a canonical line (and the arrays and objects inside it) into borrowed parts for
//! the OTLP encoder: a strict single-pass scanner for the compact JSON the client writes,
//! and `serde_json` for everything else.
//!
//! Invariants:
//! - The scanner accepts a subset of what `serde_json` accepts and, on that subset, yields
//!   exactly the parts `serde_json` yields: the same envelope, the same members in the same
//!   order, values as the same raw JSON text. Anything it is not sure of (whitespace, an
//!   escaped key or event, a duplicate envelope field, deep nesting, many members) makes it
//!   give up, and `serde_json` decides, so the result never depends on which one read a line
//!   (`otlp_tests` pins the output against the all-`serde_json` encoder, `otlp_record_ref`).
//! - Members have unique keys: a later duplicate replaces an earlier one's value in the
//!   earlier one's place, as the `serde_json` reading does.
//! - Nothing here allocates on the scanner's path; parts live on the stack.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A record's envelope: `event`, `event_timestamp` (ms) and the optional `source` (raw JSON
/// text; a JSON `null` is no source).
pub(super) struct Envelope<'a> {
    pub(super) event: Cow<'a, str>,
    pub(super) event_timestamp: u64,
    pub(super) source: Option<&'a str>,
    /// The `trace` object of a record of the operator's stream (raw JSON text; see
    /// `crate::trace`), when it has one.
    pub(super) trace: Option<&'a str>,
    /// Whether `event` and every property key are plain: free of `"`, `\` and control
    /// characters, so they are JSON string contents as they are (the scanner's reading).
    pub(super) plain: bool,
}

/// An object member: the key (unescaped) and the value as raw JSON text.
pub(super) type Member<'a> = (&'a str, &'a str);

/// Most properties the scanner holds for one record; more go through `serde_json`.
const RECORD_MEMBERS: usize = 32;
/// Most members or items the scanner holds for an array or object value.
const VALUE_PARTS: usize = 16;
/// Deepest nesting the scanner follows (the record object is depth 1).
const MAX_DEPTH: usize = 24;

/// Calls `f` with the envelope and properties of `line`; `None` when the line is not a
/// record (not a JSON object with a string `event`, an integer `event_timestamp` that fits
/// a `u64`, and an object `properties`).
pub(super) fn with_record<R>(
    line: &str,
    f: impl FnOnce(&Envelope<'_>, &[Member<'_>]) -> R,
) -> Option<R> {
    let mut props = [("", ""); RECORD_MEMBERS];
    if let Some((env, n)) = scan_record(line, &mut props) {
        return Some(f(&env, &props[..n]));
    }
    let rec = serde_json::from_str::<Line<'_>>(line).ok()?;
    let env = Envelope {
        event: rec.event,
        event_timestamp: rec.event_timestamp,
        source: rec.source.map(RawValue::get),
        trace: rec.trace.map(RawValue::get).filter(|t| t.starts_with('{')),
        plain: false,
    };
    let props: Vec<Member<'_>> = rec
        .properties
        .0
        .iter()
        .map(|(k, v)| (&**k, v.get()))
        .collect();
    Some(f(&env, &props))
}

/// Calls `f` with the members of `text`, a JSON object already read as part of a record;
/// with no members if it cannot be read as an object. The flag says whether every key is
/// plain (see [`Envelope::plain`]).
pub(super) fn with_members<R>(text: &str, f: impl FnOnce(&[Member<'_>], bool) -> R) -> R {
    let mut parts = [("", ""); VALUE_PARTS];
    let mut s = Scanner::new(text);
    if let Some(n) = s.members(&mut parts, 1).filter(|_| s.at_end()) {
        return f(&parts[..n], true);
    }
    let members = serde_json::from_str(text).unwrap_or(Members(Vec::new()));
    let parts: Vec<Member<'_>> = members.0.iter().map(|(k, v)| (&**k, v.get())).collect();
    f(&parts, false)
}

/// Calls `f` with the items (raw JSON text) of `text`, a JSON array already read as part of
/// a record; with no items if it cannot be read as an array.
pub(super) fn with_items<R>(text: &str, f: impl FnOnce(&[&str]) -> R) -> R {
    let mut parts = [""; VALUE_PARTS];
    let mut s = Scanner::new(text);
    if let Some(n) = s.items(&mut parts, 1).filter(|_| s.at_end()) {
        return f(&parts[..n]);
    }
    let items: Vec<&RawValue> = serde_json::from_str(text).unwrap_or_default();
    let parts: Vec<&str> = items.iter().map(|v| v.get()).collect();
    f(&parts)
}

/// The scanner's reading of a record, or `None` to leave it to `serde_json`.
fn scan_record<'a>(line: &'a str, props: &mut [Member<'a>]) -> Option<(Envelope<'a>, usize)> {
    let mut s = Scanner::new(line);
    let (mut event, mut ts, mut source, mut n_props) = (None, None, None, None);
    let mut trace = None;
    s.eat(b'{')?;
    if s.eat(b'}').is_none() {
        loop {
            let key = s.key()?;
            s.eat(b':')?;
            match key {
                "event" if event.is_none() => event = Some(s.plain_string()?),
                "event_timestamp" if ts.is_none() => ts = Some(s.u64()?),
                "source" if source.is_none() => source = Some(s.value(2)?),
                "properties" if n_props.is_none() => n_props = Some(s.members(props, 2)?),
                "trace" if trace.is_none() => trace = Some(s.value(2)?),
                "event" | "event_timestamp" | "source" | "properties" | "trace" => return None,
                _ => {
                    s.value(2)?;
                }
            }
            if s.eat(b',').is_none() {
                break;
            }
        }
        s.eat(b'}')?;
    }
    if !s.at_end() {
        return None;
    }
    let env = Envelope {
        event: Cow::Borrowed(event?),
        event_timestamp: ts?,
        source: source.filter(|&text| text != "null"),
        trace: trace.filter(|&text| text.starts_with('{')),
        plain: true,
    };
    Some((env, n_props?))
}

/// A cursor over compact JSON text. Every method returns `None` where the text is not JSON
/// the scanner handles, leaving the cursor anywhere.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    /// One value at `depth` (its own), as raw JSON text.
    fn value(&mut self, depth: usize) -> Option<&'a str> {
        let start = self.pos;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' => self.skip_container(b'}', depth)?,
            b'[' => self.skip_container(b']', depth)?,
            b't' => self.literal("true")?,
            b'f' => self.literal("false")?,
            b'n' => self.literal("null")?,
            _ => self.number()?,
        }
        self.text.get(start..self.pos)
    }

    /// Skips an object (`close` `}`) or array (`]`) without keeping its parts.
    fn skip_container(&mut self, close: u8, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            if close == b'}' {
                self.key()?;
                self.eat(b':')?;
            }
            self.value(depth + 1)?;
            if self.eat(b',').is_none() {
                return self.eat(close);
            }
        }
    }

    /// An object at `depth` into `parts`, duplicates merged; the number of members.
    fn members(&mut self, parts: &mut [Member<'a>], depth: usize) -> Option<usize> {
        self.eat(b'{')?;
        let mut n = 0;
        if self.eat(b'}').is_some() {
            return Some(0);
        }
        // The `key_bit`s of the keys so far: a key whose bit is clear was not seen before.
        let mut seen_bits = 0_u64;
        loop {
            let key = self.key()?;
            self.eat(b':')?;
            let value = self.value(depth + 1)?;
            let bit = key_bit(key);
            let seen = if seen_bits & bit == 0 {
                None
            } else {
                parts[..n].iter_mut().find(|(k, _)| *k == key)
            };
            match seen {
                Some(member) => member.1 = value,
                None => {
                    *parts.get_mut(n)? = (key, value);
                    n += 1;
                    seen_bits |= bit;
                }
            }
            if self.eat(b',').is_none() {
                self.eat(b'}')?;
                return Some(n);
            }
        }
    }

    /// An array at `depth` into `parts`; the number of items.
    fn items(&mut self, parts: &mut [&'a str], depth: usize) -> Option<usize> {
        self.eat(b'[')?;
        let mut n = 0;
        if self.eat(b']').is_some() {
            return Some(0);
        }
        loop {
            *parts.get_mut(n)? = self.value(depth + 1)?;
            n += 1;
            if self.eat(b',').is_none() {
                self.eat(b']')?;
                return Some(n);
            }
        }
    }

    /// An object key without escapes (its text is then its value).
    fn key(&mut self) -> Option<&'a str> {
        self.plain_string()
    }

    /// A string without escapes; its contents.
    fn plain_string(&mut self) -> Option<&'a str> {
        let (body, escaped) = self.string()?;
        (!escaped).then_some(body)
    }

    /// A string (the cursor at its opening quote), escapes checked as `serde_json` checks
    /// them in a value it does not decode; its raw contents and whether they hold escapes.
    #[inline]
    fn string(&mut self) -> Option<(&'a str, bool)> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos = find_special(bytes, self.pos)?;
            let byte = bytes[self.pos];
            self.pos += 1;
            match byte {
                b'"' => return Some((self.text.get(start..self.pos - 1)?, escaped)),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return None,
            }
        }
    }

    /// The rest of an escape, after its backslash.
    fn escape(&mut self) -> Option<()> {
        let byte = self.peek()?;
        self.pos += 1;
        match byte {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let hex = self.text.as_bytes().get(self.pos..self.pos + 4)?;
                self.pos += 4;
                hex.iter().all(u8::is_ascii_hexdigit).then_some(())
            }
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.pos + word.len();
        (self.text.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// Digits; how many.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A JSON number: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// An unsigned integer (no sign, fraction or exponent) that fits a `u64`.
    fn u64(&mut self) -> Option<u64> {
        let start = self.pos;
        let digits = self.digits();
        let text = self.text.get(start..self.pos)?;
        if digits == 0 || (digits > 1 && text.starts_with('0')) {
            return None;
        }
        text.bytes().try_fold(0_u64, |n, b| {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
    }
}

/// One of 64 bits for a key, from its length and last byte (equal keys, equal bits).
fn key_bit(key: &str) -> u64 {
    let last = key.as_bytes().last().copied().unwrap_or(0);
    1_u64 << ((key.len() * 7 + usize::from(last)) % 64)
}

/// The index of the first `"`, `\` or control character in `bytes` from `from`, if any.
/// Eight bytes at a time (SWAR): in each word, the high bit of a byte is set where the byte
/// is `"` or `\` (it is zero after the XOR) or below 0x20; bytes above 0x7f (UTF-8) never
/// set it. Borrows can only flag bytes above a true hit, so the lowest flag is exact.
#[inline]
pub(crate) fn find_special(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(word) = bytes.get(i..i + 8) {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(word).ok()?);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let hits = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = bytes.get(i..)?;
    let at = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(i + at)
}

/// An object key, borrowed from the line unless it holds escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// A JSON object's members in document order, without duplicate keys (`serde_json`).
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::new();
                while let Some((Key(k), v)) = map.next_entry::<Key<'a>, &'a RawValue>()? {
                    match members.iter_mut().find(|(seen, _)| *seen == k) {
                        Some(member) => member.1 = v,
                        None => members.push((k, v)),
                    }
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

/// The envelope of a canonical record (`serde_json`).
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    event_timestamp: u64,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Members<'a>,
    #[serde(borrow, default)]
    trace: Option<&'a RawValue>,
}
