//! JSON text written exactly as `serde_json` writes it, without building a `Value`.

use serde_json::Value;

/// Writes a JSON string exactly as `serde_json` does. Most strings need no escaping (no `"`,
/// `\` or control character; `serde_json` writes everything else as it is): they are copied
/// after one branch-free scan.
pub(super) fn push_json_str(out: &mut String, s: &str) {
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
pub(super) fn push_u64(out: &mut String, mut n: u64) {
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

pub(super) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

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
