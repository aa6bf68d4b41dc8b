//! OTLP's JSON mapping, written directly: lowerCamelCase keys, 64-bit integers as decimal
//! strings, enums as integers, ids in lowercase hex.
//!
//! Invariant: a comma goes before a member or item exactly when the byte before it is not
//! the `{` or `[` that opened its object or array (no value ends with either), so no state
//! beyond the output is needed.

use super::{Field, Open, Str, Wire};
use crate::export::otlp_parse::find_special;

/// Writes one JSON object (or, as a fragment, members to splice into one).
#[derive(Debug)]
pub(crate) struct JsonWire {
    out: Vec<u8>,
    /// Whether `out` is a whole object (opened by [`JsonWire::message`]).
    message: bool,
}

impl Default for JsonWire {
    /// A [`fragment`](Self::fragment).
    fn default() -> Self {
        Self::fragment()
    }
}

impl JsonWire {
    /// A top-level message: `{`, the fields written, then `}` at [`finish`](Self::finish).
    pub(crate) fn message(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'{');
        Self { out, message: true }
    }

    /// Members only, for [`Wire::piece`]: no braces, no leading comma.
    pub(crate) fn fragment() -> Self {
        Self {
            out: Vec::new(),
            message: false,
        }
    }

    /// The bytes written (a message closed with its `}`).
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.message {
            self.out.push(b'}');
        }
        self.out
    }

    /// A comma, unless this is the first member or item of its object or array.
    #[inline(always)]
    fn sep(&mut self) {
        if !matches!(self.out.last(), None | Some(b'{' | b'[')) {
            self.out.push(b',');
        }
    }

    #[inline(always)]
    fn key(&mut self, field: Field) {
        self.sep();
        self.push(field.key);
    }

    #[inline(always)]
    fn push(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// The inside of a JSON string for `s`.
    #[inline(always)]
    fn contents(&mut self, s: Str<'_>) {
        match s {
            Str::Quoted(q) | Str::Json(q) => {
                self.push(q.get(1..q.len().saturating_sub(1)).unwrap_or(""))
            }
            Str::Plain(p) => self.push(p),
            Str::Text(t) => push_escaped(&mut self.out, t),
        }
    }
}

impl Wire for JsonWire {
    #[inline(always)]
    fn len(&self) -> usize {
        self.out.len()
    }

    #[inline(always)]
    fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
    }

    #[inline(always)]
    fn open(&mut self, field: Field) -> Open {
        self.key(field);
        self.out.push(b'{');
        Open { at: 0, reserved: 0 }
    }

    #[inline(always)]
    fn open_item(&mut self, _field: Field, _size_hint: usize) -> Open {
        self.sep();
        self.out.push(b'{');
        Open { at: 0, reserved: 0 }
    }

    #[inline(always)]
    fn close(&mut self, _open: Open) {
        self.out.push(b'}');
    }

    #[inline(always)]
    fn list(&mut self, field: Field) {
        self.key(field);
        self.out.push(b'[');
    }

    #[inline(always)]
    fn end_list(&mut self) {
        self.out.push(b']');
    }

    #[inline(always)]
    fn string(&mut self, field: Field, s: Str<'_>) {
        self.key(field);
        match s {
            Str::Quoted(q) | Str::Json(q) => self.push(q),
            other => {
                self.out.push(b'"');
                self.contents(other);
                self.out.push(b'"');
            }
        }
    }

    #[inline(always)]
    fn prefixed_string(&mut self, field: Field, prefix: &'static str, s: Str<'_>) {
        self.key(field);
        self.out.push(b'"');
        self.push(prefix);
        self.contents(s);
        self.out.push(b'"');
    }

    #[inline(always)]
    fn fixed64(&mut self, field: Field, n: u64) {
        self.key(field);
        self.out.push(b'"');
        push_decimal(&mut self.out, n);
        self.out.push(b'"');
    }

    #[inline(always)]
    fn int64_text(&mut self, field: Field, text: &str) {
        self.key(field);
        self.out.push(b'"');
        self.push(if text == "-0" { "0" } else { text });
        self.out.push(b'"');
    }

    #[inline(always)]
    fn int64(&mut self, field: Field, n: i64) {
        self.key(field);
        self.out.push(b'"');
        if n < 0 {
            self.out.push(b'-');
        }
        push_decimal(&mut self.out, n.unsigned_abs());
        self.out.push(b'"');
    }

    #[inline(always)]
    fn enumeration(&mut self, field: Field, n: u32) {
        self.key(field);
        push_decimal(&mut self.out, u64::from(n));
    }

    #[inline(always)]
    fn boolean(&mut self, field: Field, b: bool) {
        self.key(field);
        self.push(if b { "true" } else { "false" });
    }

    #[inline(always)]
    fn double_text(&mut self, field: Field, text: &str) {
        self.key(field);
        self.push(json_double(text));
    }

    fn double(&mut self, field: Field, x: f64) {
        self.key(field);
        push_double(&mut self.out, x);
    }

    fn sfixed64(&mut self, field: Field, n: i64) {
        self.int64(field, n);
    }

    fn packed_fixed64(&mut self, field: Field, items: &[u64]) {
        if items.is_empty() {
            return;
        }
        self.key(field);
        self.out.push(b'[');
        for (i, &n) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.push(b'"');
            push_decimal(&mut self.out, n);
            self.out.push(b'"');
        }
        self.out.push(b']');
    }

    fn packed_double(&mut self, field: Field, items: &[f64]) {
        if items.is_empty() {
            return;
        }
        self.key(field);
        self.out.push(b'[');
        for (i, &x) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            push_double(&mut self.out, x);
        }
        self.out.push(b']');
    }

    #[inline(always)]
    fn id(&mut self, field: Field, id: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(field);
        self.out.push(b'"');
        for &b in id {
            self.out.push(HEX[usize::from(b >> 4)]);
            self.out.push(HEX[usize::from(b & 0xf)]);
        }
        self.out.push(b'"');
    }

    #[inline(always)]
    fn piece(&mut self, piece: &[u8]) {
        if !piece.is_empty() {
            self.sep();
            self.out.extend_from_slice(piece);
        }
    }
}

/// A JSON number's text as the JSON mapping writes a double: as it is, unless it is too
/// large for one (`1e999`): then the string `"Infinity"` or `"-Infinity"`, as the mapping
/// writes infinities. Only an exponent or over 300 digits can overflow, so only those are
/// parsed.
pub(crate) fn json_double(text: &str) -> &str {
    let may_overflow = text.len() > 300 || text.bytes().any(|b| b == b'e' || b == b'E');
    if !may_overflow {
        return text;
    }
    match text.parse::<f64>() {
        Ok(f) if f == f64::INFINITY => "\"Infinity\"",
        Ok(f) if f == f64::NEG_INFINITY => "\"-Infinity\"",
        _ => text,
    }
}

/// Appends a double as the JSON mapping writes it: the shortest decimal that reads back as
/// the same number (Rust's `Display` of `f64`), or `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn push_double(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        out.extend_from_slice(x.to_string().as_bytes());
    }
}

/// Appends `n` in decimal, two digits at a time.
#[inline]
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839404142434445464748495051525354555657585960\
        6162636465666768697071727374757677787980818283848586878889909192939495969798\
        99";
    let mut digits = [0_u8; 20];
    let mut start = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[start..]);
}

/// The inside of a JSON string for `s`: `"`, `\` and control characters escaped.
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    if find_special(s.as_bytes(), 0).is_none() {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}
