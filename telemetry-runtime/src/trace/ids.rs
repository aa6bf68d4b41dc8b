//! W3C trace and span ids: random, never all zero, written as lowercase hex.

use std::fmt;

use crate::record::random_u128;

/// A trace id: 16 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TraceId(pub(crate) [u8; 16]);

/// A span id: 8 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SpanId(pub(crate) [u8; 8]);

impl TraceId {
    /// A fresh random trace id.
    pub(crate) fn random() -> Self {
        loop {
            let bits = random_u128();
            if bits != 0 {
                return Self(bits.to_be_bytes());
            }
        }
    }

    /// Parses 32 lowercase hex digits, not all zero (W3C Trace Context).
    pub(crate) fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0_u8; 16];
        parse_hex(s, &mut out)?;
        (out != [0; 16]).then_some(Self(out))
    }

    /// 32 lowercase hex digits.
    pub(crate) fn to_hex(self) -> String {
        hex(&self.0)
    }
}

impl SpanId {
    /// A fresh random span id.
    pub(crate) fn random() -> Self {
        loop {
            // The low half of a fresh 128-bit draw: each draw is independent.
            let bits = random_u128() as u64;
            if bits != 0 {
                return Self(bits.to_be_bytes());
            }
        }
    }

    /// Parses 16 lowercase hex digits, not all zero (W3C Trace Context).
    pub(crate) fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0_u8; 8];
        parse_hex(s, &mut out)?;
        (out != [0; 8]).then_some(Self(out))
    }

    /// 16 lowercase hex digits.
    pub(crate) fn to_hex(self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

/// Fills `out` from exactly `2 * out.len()` lowercase hex digits.
fn parse_hex(s: &str, out: &mut [u8]) -> Option<()> {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (digit(s[2 * i])? << 4) | digit(s[2 * i + 1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_nonzero_and_round_trip_as_lowercase_hex() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let t = TraceId::random();
            let s = SpanId::random();
            assert!(seen.insert(t.to_hex()) && seen.insert(s.to_hex()));
            assert_eq!(TraceId::from_hex(&t.to_hex()), Some(t));
            assert_eq!(SpanId::from_hex(&s.to_hex()), Some(s));
        }
        assert_eq!(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")
                .unwrap()
                .to_hex(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        for bad in [
            "00000000000000000000000000000000",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "4bf92f3577b34da6a3ce929d0e0e473",
            "4bf92f3577b34da6a3ce929d0e0e47366",
            "4bf92f3577b34da6a3ce929d0e0e473g",
            "",
        ] {
            assert_eq!(TraceId::from_hex(bad), None, "{bad}");
        }
        assert_eq!(SpanId::from_hex("0000000000000000"), None);
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902b7").unwrap().to_hex(),
            "00f067aa0ba902b7"
        );
    }
}
