//! Reading the outbox as a stream, in bounded memory, whatever its size.
//!
//! Invariants: a scan holds at most [`MAX_RECORDS`] records and [`MAX_BYTES`] bytes of them
//! (the newest; older ones are counted, never kept) plus one line of at most [`MAX_LINE`]
//! bytes; a longer line is skipped whole. A line is a record when it is valid UTF-8, starts
//! with `{"event":`, ends with `}` and parses as JSON; a meta line `{"dropped_records":N}`
//! adds N to the dropped count; anything else (garbage, half a line after a crash) is skipped
//! and forgotten at the next rewrite.

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read};

/// Most records the outbox keeps (the newest).
pub const MAX_RECORDS: usize = 1_000;
/// Most bytes of records the outbox keeps (the newest).
pub const MAX_BYTES: usize = 1024 * 1024;
/// Longest line read; a record is at most a few KiB, so a longer line is garbage.
const MAX_LINE: usize = 64 * 1024;
/// Size of each read.
const CHUNK: usize = 64 * 1024;
/// How a record line starts (the record writer puts `event` first).
const RECORD_PREFIX: &str = "{\"event\":";
/// How the meta line starts.
pub(super) const META_PREFIX: &str = "{\"dropped_records\":";

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The newest records within the caps, oldest first.
    pub(crate) records: VecDeque<String>,
    /// Bytes of `records`, newlines included.
    bytes: usize,
    /// The sum of the meta lines.
    pub(crate) meta: u64,
    /// Records older than the kept ones: dropped by the caps, not yet counted in `meta`.
    pub(crate) older: u64,
}

impl Scan {
    /// Keeps `line` as the newest record, dropping (and counting) the oldest beyond the caps.
    fn push(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.records.push_back(line);
        while self.records.len() > MAX_RECORDS || self.bytes > MAX_BYTES {
            if let Some(old) = self.records.pop_front() {
                self.bytes -= old.len() + 1;
                self.older += 1;
            }
        }
    }

    /// Every record dropped and not yet reported: the meta count and the records over the caps.
    pub(crate) fn dropped(&self) -> u64 {
        self.meta.saturating_add(self.older)
    }
}

/// The shape a record line must parse to; unknown fields are skipped without being built.
#[derive(serde::Deserialize)]
struct LineShape {
    event: Option<serde::de::IgnoredAny>,
    dropped_records: Option<u64>,
}

/// Scans `input` to its end, then `extra` lines as if appended; lines in `exclude` are left
/// out (records already sent). With `validate`, kept records that do not parse as JSON are
/// left out too (a rewrite keeps them: every read for sending validates).
pub(crate) fn scan(
    input: &mut impl Read,
    exclude: &HashSet<&str>,
    extra: &[String],
    validate: bool,
) -> io::Result<Scan> {
    let mut scan = Scan::default();
    let mut take = |raw: &[u8]| {
        let Ok(line) = std::str::from_utf8(raw) else {
            return;
        };
        let line = line.trim();
        if line.starts_with(RECORD_PREFIX) && line.ends_with('}') {
            if !exclude.contains(line) {
                scan.push(line.to_owned());
            }
        } else if line.starts_with(META_PREFIX)
            && let Ok(LineShape {
                event: None,
                dropped_records: Some(n),
            }) = serde_json::from_str(line)
        {
            scan.meta = scan.meta.saturating_add(n);
        }
    };
    for_each_line(input, &mut take)?;
    for line in extra {
        take(line.as_bytes());
    }
    if !validate {
        return Ok(scan);
    }
    // Only the kept records are parsed: a huge outbox costs a read, not a parse per line.
    let before = scan.records.len();
    scan.records.retain(|r| {
        matches!(
            serde_json::from_str::<LineShape>(r),
            Ok(LineShape { event: Some(_), .. })
        )
    });
    if scan.records.len() != before {
        scan.bytes = scan.records.iter().map(|r| r.len() + 1).sum();
    }
    Ok(scan)
}

/// Calls `f` with each line of `input` (without its newline; the last one even without a
/// newline). Lines longer than [`MAX_LINE`] are skipped. (`BufRead` finds newlines with the
/// platform's `memchr`: fast even in an unoptimized build.)
fn for_each_line(input: &mut impl Read, f: &mut impl FnMut(&[u8])) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(CHUNK, input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = Read::by_ref(&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() > MAX_LINE {
            // Too long: skip to the end of the line.
            reader.skip_until(b'\n')?;
            continue;
        }
        f(&line);
    }
}

/// Counts the newlines of `input` and says whether it ends with one (or is empty).
pub(crate) fn count_lines(input: &mut impl Read) -> io::Result<(usize, bool)> {
    let mut reader = BufReader::with_capacity(CHUNK, input);
    let mut line = Vec::new();
    let mut lines = 0;
    loop {
        line.clear();
        let n = Read::by_ref(&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok((lines, true));
        }
        if line.last() == Some(&b'\n') {
            lines += 1;
        } else if reader.fill_buf()?.is_empty() {
            return Ok((lines, false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize) -> String {
        format!(r#"{{"event":"tool","properties":{{"n":{i}}}}}"#)
    }

    fn scan_bytes(bytes: &[u8]) -> Scan {
        scan(&mut &bytes[..], &HashSet::new(), &[], true).unwrap()
    }

    #[test]
    fn keeps_the_newest_within_the_caps_and_counts_the_rest() {
        let text: String = (0..1_500).map(|i| rec(i) + "\n").collect();
        let s = scan_bytes(text.as_bytes());
        assert_eq!(s.records.len(), MAX_RECORDS);
        assert_eq!(s.records[0], rec(500));
        assert_eq!(s.older, 500);
        let big = format!(r#"{{"event":"tool","pad":"{}"}}"#, "x".repeat(10_000));
        let text = format!("{big}\n").repeat(200);
        let s = scan_bytes(text.as_bytes());
        assert!(s.bytes <= MAX_BYTES && s.records.len() > 90);
        assert_eq!(s.records.len() as u64 + s.older, 200);
    }

    #[test]
    fn garbage_meta_exclusions_and_long_lines() {
        let mut text = b"garbage\n\xff\xfe\x00binary\n".to_vec();
        text.extend_from_slice(format!("{}\n", rec(1)).as_bytes());
        text.extend_from_slice(b"{\"dropped_records\":7}\n[1,2]\n{\"event\":\"x\",}\n");
        text.extend_from_slice(format!("{{\"event\":\"{}\"}}\n", "y".repeat(MAX_LINE)).as_bytes());
        text.extend_from_slice(format!("{}\n{}", rec(2), rec(3)).as_bytes());
        text.extend_from_slice(b"\n{\"event\":\"tool\",\"half");
        let r2 = rec(2);
        let s = scan(
            &mut &text[..],
            &HashSet::from([r2.as_str()]),
            &[rec(4)],
            true,
        )
        .unwrap();
        assert_eq!(Vec::from(s.records), vec![rec(1), rec(3), rec(4)]);
        assert_eq!((s.meta, s.older), (7, 0));
    }

    #[test]
    fn counts_lines() {
        assert_eq!(count_lines(&mut &b""[..]).unwrap(), (0, true));
        assert_eq!(count_lines(&mut &b"a\nb\n"[..]).unwrap(), (2, true));
        assert_eq!(count_lines(&mut &b"a\nb"[..]).unwrap(), (1, false));
    }
}
