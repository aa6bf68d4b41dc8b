//! Protobuf, written directly (no generated types): tags, varints, fixed-width numbers and
//! length-delimited fields, per the protobuf encoding specification; and a reader for the
//! small messages that come back (answers).
//!
//! An embedded message's length comes before its bytes and is known only after them: the
//! writer reserves the length prefix it expects (one byte, or the caller's size hint) and
//! moves the message when the real prefix is longer or shorter. A moved message is copied
//! once per level, and the exporters' hints make that rare (see BENCHMARKS.md).

use super::{Field, Open, Str, Wire};

/// The wire types the writer uses (the reader also knows `I32`, 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireType {
    /// Varint: int32, int64, uint32, uint64, bool, enum.
    Varint = 0,
    /// 8 bytes: fixed64, sfixed64, double.
    I64 = 1,
    /// Length-delimited: string, bytes, embedded messages, packed repeated fields.
    Len = 2,
}

/// Writes one protobuf message.
#[derive(Debug, Default)]
pub(crate) struct ProtoWire {
    out: Vec<u8>,
}

impl ProtoWire {
    /// A message with room for `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
        }
    }

    /// The bytes written.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.out
    }

    #[inline(always)]
    fn tag(&mut self, field: Field, wire: WireType) {
        let tag = u64::from(field.number) << 3 | wire as u64;
        if tag < 0x80 {
            self.out.push(tag as u8);
        } else {
            varint(&mut self.out, tag);
        }
    }

    /// Tag and a reserved length prefix of `reserved` bytes (1 to 10).
    #[inline(always)]
    fn open_len(&mut self, field: Field, reserved: usize) -> Open {
        self.tag(field, WireType::Len);
        let at = self.out.len();
        if reserved <= 1 {
            self.out.push(0);
        } else {
            self.out.extend_from_slice(&[0; 10][..reserved.min(10)]);
        }
        Open {
            at,
            reserved: reserved.clamp(1, 10) as u8,
        }
    }

    /// [`Wire::close`] when the prefix must change size or take more than one byte.
    #[cold]
    fn close_slow(&mut self, at: usize, reserved: usize, size: usize) {
        let start = at + reserved;
        let need = varint_len(size as u64);
        if need > reserved {
            self.out
                .splice(start..start, std::iter::repeat_n(0, need - reserved));
        } else if need < reserved {
            self.out.drain(at + need..start);
        }
        let mut n = size as u64;
        for byte in self.out.iter_mut().skip(at).take(need) {
            *byte = (n as u8 & 0x7f) | if n >= 0x80 { 0x80 } else { 0 };
            n >>= 7;
        }
    }

    /// The bytes of `s` (JSON literals decoded), as the value of a length-delimited field.
    fn str_bytes(&mut self, s: Str<'_>) {
        match s {
            Str::Quoted(q) => self.out.extend_from_slice(inner(q).as_bytes()),
            Str::Json(j) => unescape_into(&mut self.out, inner(j)),
            Str::Plain(t) | Str::Text(t) => self.out.extend_from_slice(t.as_bytes()),
        }
    }
}

/// The contents of a JSON string literal (between its quotes).
fn inner(literal: &str) -> &str {
    literal
        .get(1..literal.len().saturating_sub(1))
        .unwrap_or("")
}

impl Wire for ProtoWire {
    #[inline]
    fn len(&self) -> usize {
        self.out.len()
    }

    #[inline]
    fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
    }

    #[inline(always)]
    fn open(&mut self, field: Field) -> Open {
        self.open_len(field, 1)
    }

    #[inline(always)]
    fn open_item(&mut self, field: Field, size_hint: usize) -> Open {
        self.open_len(field, varint_len(size_hint as u64))
    }

    #[inline(always)]
    fn close(&mut self, open: Open) {
        let Open { at, reserved } = open;
        let start = at + usize::from(reserved);
        let size = self.out.len().saturating_sub(start);
        match self.out.get_mut(at) {
            Some(prefix) if reserved == 1 && size < 0x80 => *prefix = size as u8,
            _ => self.close_slow(at, usize::from(reserved), size),
        }
    }

    #[inline]
    fn list(&mut self, _field: Field) {}

    #[inline]
    fn end_list(&mut self) {}

    #[inline(always)]
    fn string(&mut self, field: Field, s: Str<'_>) {
        let text = match s {
            Str::Quoted(t) | Str::Json(t) => inner(t),
            Str::Plain(t) | Str::Text(t) => t,
        };
        if text.is_empty() && !field.presence {
            return;
        }
        if matches!(s, Str::Json(_)) && text.as_bytes().contains(&b'\\') {
            // Decoded text is never longer than its escaped form.
            let open = self.open_len(field, varint_len(text.len() as u64));
            unescape_into(&mut self.out, text);
            self.close(open);
            return;
        }
        self.tag(field, WireType::Len);
        if text.len() < 0x80 {
            self.out.push(text.len() as u8);
        } else {
            varint(&mut self.out, text.len() as u64);
        }
        self.out.extend_from_slice(text.as_bytes());
    }

    #[inline]
    fn prefixed_string(&mut self, field: Field, prefix: &'static str, s: Str<'_>) {
        let open = self.open_len(field, 1);
        self.out.extend_from_slice(prefix.as_bytes());
        self.str_bytes(s);
        self.close(open);
    }

    #[inline]
    fn fixed64(&mut self, field: Field, n: u64) {
        if n != 0 || field.presence {
            self.tag(field, WireType::I64);
            self.out.extend_from_slice(&n.to_le_bytes());
        }
    }

    #[inline]
    fn int64_text(&mut self, field: Field, text: &str) {
        self.int64(field, text.parse().unwrap_or(0));
    }

    #[inline]
    fn int64(&mut self, field: Field, n: i64) {
        if n != 0 || field.presence {
            self.tag(field, WireType::Varint);
            // Two's complement: a negative int64 is a 10-byte varint.
            varint(&mut self.out, n as u64);
        }
    }

    #[inline]
    fn enumeration(&mut self, field: Field, n: u32) {
        if n != 0 || field.presence {
            self.tag(field, WireType::Varint);
            varint(&mut self.out, u64::from(n));
        }
    }

    #[inline]
    fn boolean(&mut self, field: Field, b: bool) {
        if b || field.presence {
            self.tag(field, WireType::Varint);
            self.out.push(u8::from(b));
        }
    }

    #[inline]
    fn double_text(&mut self, field: Field, text: &str) {
        // The scanner and serde_json only pass JSON numbers here; Rust parses them correctly
        // rounded, as every JSON decoder of the receiving side does.
        let bits = text.parse::<f64>().unwrap_or(0.0).to_bits();
        if bits != 0 || field.presence {
            self.tag(field, WireType::I64);
            self.out.extend_from_slice(&bits.to_le_bytes());
        }
    }

    #[inline]
    fn double(&mut self, field: Field, x: f64) {
        let bits = x.to_bits();
        if bits != 0 || field.presence {
            self.tag(field, WireType::I64);
            self.out.extend_from_slice(&bits.to_le_bytes());
        }
    }

    #[inline]
    fn sfixed64(&mut self, field: Field, n: i64) {
        if n != 0 || field.presence {
            self.tag(field, WireType::I64);
            self.out.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn packed_fixed64(&mut self, field: Field, items: &[u64]) {
        if !items.is_empty() {
            self.tag(field, WireType::Len);
            varint(&mut self.out, 8 * items.len() as u64);
            for n in items {
                self.out.extend_from_slice(&n.to_le_bytes());
            }
        }
    }

    fn packed_double(&mut self, field: Field, items: &[f64]) {
        if !items.is_empty() {
            self.tag(field, WireType::Len);
            varint(&mut self.out, 8 * items.len() as u64);
            for x in items {
                self.out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
        }
    }

    #[inline]
    fn id(&mut self, field: Field, id: &[u8]) {
        if !id.is_empty() || field.presence {
            self.tag(field, WireType::Len);
            varint(&mut self.out, id.len() as u64);
            self.out.extend_from_slice(id);
        }
    }

    #[inline]
    fn piece(&mut self, piece: &[u8]) {
        self.out.extend_from_slice(piece);
    }
}

/// Appends `n` as a varint.
#[inline]
pub(crate) fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// How many bytes `n` takes as a varint (1 to 10).
#[inline]
fn varint_len(n: u64) -> usize {
    (64 - (n | 1).leading_zeros() as usize).div_ceil(7)
}

/// Decodes the contents of a JSON string (escapes included) into UTF-8 bytes. A `\u`
/// escape of a lone surrogate becomes U+FFFD, as the JSON decoders that replace rather than
/// refuse do; the line was read as JSON before, so nothing else can be malformed.
fn unescape_into(out: &mut Vec<u8>, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let after = &rest[i + 1..];
        let mut chars = after.chars();
        let c = match chars.next() {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('u') => {
                let (c, used) = unicode_escape(after);
                rest = after.get(used..).unwrap_or("");
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            Some(other) => other,
            None => break,
        };
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        rest = chars.as_str();
    }
    out.extend_from_slice(rest.as_bytes());
}

/// The character of `u` + 4 hex digits at the start of `s` (a surrogate pair takes a second
/// `\uXXXX`), and how many bytes of `s` it used.
fn unicode_escape(s: &str) -> (char, usize) {
    let hex = |at: usize| {
        s.get(at..at + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let Some(first) = hex(1) else {
        return (char::REPLACEMENT_CHARACTER, s.len().min(1));
    };
    if (0xD800..0xDC00).contains(&first)
        && s.get(5..7) == Some("\\u")
        && let Some(second @ 0xDC00..0xE000) = hex(7)
    {
        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        return (char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER), 11);
    }
    (
        char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER),
        5,
    )
}

/// A value read by [`Reader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// A varint's value.
    Varint(u64),
    /// An 8-byte value, little-endian.
    I64(u64),
    /// A length-delimited value's bytes.
    Len(&'a [u8]),
    /// A 4-byte value, little-endian.
    I32(u32),
}

/// Reads the fields of one protobuf message, in order. Never panics: anything malformed
/// (a cut varint or value, a length past the end, a group or unknown wire type) ends the
/// reading with `Err`.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader of the message `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The next field (its number and value); `Ok(None)` at the end of the message.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, Malformed> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| Malformed)?;
        if number == 0 {
            return Err(Malformed);
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::I64(u64::from_le_bytes(
                self.take(8)?.try_into().map_err(|_| Malformed)?,
            )),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
                Value::Len(self.take(len)?)
            }
            5 => Value::I32(u32::from_le_bytes(
                self.take(4)?.try_into().map_err(|_| Malformed)?,
            )),
            _ => return Err(Malformed),
        };
        Ok(Some((number, value)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.buf.len() {
            return Err(Malformed);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut n = 0_u64;
        for i in 0..10 {
            let byte = *self.buf.get(i).ok_or(Malformed)?;
            n |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(n);
            }
        }
        Err(Malformed)
    }
}

/// A protobuf message that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;
