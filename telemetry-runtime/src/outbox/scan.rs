//! Reading the outbox as a stream, in bounded memory and bounded time, whatever its size.
//!
//! Invariants: a scan holds at most [`MAX_RECORDS`] records and [`MAX_BYTES`] bytes of them
//! (the newest; older ones are counted, never kept) plus one line of at most [`MAX_LINE`]
//! bytes, the record cap: a longer line is skipped whole, whoever wrote it. A line is a record
//! when it is valid UTF-8, starts with `{"event":`, ends with `}` and parses as JSON; a meta
//! line `{"dropped_records":N}` (with the `source` whose records they were, when known) adds N
//! to that application's dropped count; anything else (garbage, half a line after a crash) is
//! skipped and forgotten at the next rewrite. A file far over the caps (more than [`FAR_OVER`]
//! bytes) is read only at its start (the meta line) and its end (the newest records within the
//! caps): a sparse file of gigabytes costs what a full outbox costs.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use crate::limits::{
    MAX_RECORD_BYTES, MAX_TRACE_BYTES, OUTBOX_MAX_BYTES as MAX_BYTES,
    OUTBOX_MAX_RECORDS as MAX_RECORDS,
};
/// Longest line read: the record cap, and the cap of the trace context a record of the
/// operator's stream carries. A record the client wrote is never longer, so a longer line was
/// planted or corrupted.
const MAX_LINE: usize = MAX_RECORD_BYTES + MAX_TRACE_BYTES;
/// A file larger than this is far over the caps (the client keeps the file within
/// [`MAX_BYTES`] plus what is appended between two rewrites): only its first line and its last
/// [`MAX_BYTES`] + [`MAX_LINE`] bytes are read, and records in between are neither kept nor
/// counted. Up to this size the whole file is read (a few milliseconds) and every record
/// dropped for the caps is counted.
pub(super) const FAR_OVER: u64 = 16 * MAX_BYTES as u64;
/// Size of each read.
const CHUNK: usize = 64 * 1024;
/// How a record line starts (the record writer puts `event` first).
const RECORD_PREFIX: &str = "{\"event\":";
/// How the meta line starts.
const META_PREFIX: &str = "{\"dropped_records\":";

/// Which records a scan keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Keep<'a> {
    /// Every line that looks like a record, nothing parsed (a rewrite: what is not this
    /// application's stays for its owner).
    Every,
    /// The records of this application (`source`) that parse: what it sends or counts.
    Of(&'a str),
}

/// Dropped records not yet reported, by the application whose records they were (`None`: not
/// known, from an outbox written before counts had an owner: reported by any application).
type Dropped = BTreeMap<Option<String>, u64>;

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The newest records within the caps, oldest first.
    pub(crate) records: VecDeque<String>,
    /// Bytes of `records`, newlines included.
    bytes: usize,
    /// Dropped counts: the meta lines, plus the records this scan dropped for the caps.
    dropped: Dropped,
    /// How many records this scan dropped for the caps.
    pub(crate) older: u64,
    /// The file was far over the caps: only its start and its end were read.
    pub(crate) cut: bool,
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
                let source = serde_json::from_str::<LineShape>(&old)
                    .ok()
                    .and_then(|s| s.source);
                self.count(source, 1);
            }
        }
    }

    fn count(&mut self, source: Option<String>, n: u64) {
        let count = self.dropped.entry(source).or_default();
        *count = count.saturating_add(n);
    }

    /// The dropped records `source` reports: its own and those of no known owner.
    pub(crate) fn dropped_for(&self, source: &str) -> u64 {
        let of = |k: Option<&str>| self.dropped.get(&k.map(str::to_owned)).copied();
        of(Some(source))
            .unwrap_or(0)
            .saturating_add(of(None).unwrap_or(0))
    }

    /// `source` reported `reported` dropped records (those of no known owner first) and
    /// dropped `more` of its own.
    pub(crate) fn settle(&mut self, source: &str, mut reported: u64, more: u64) {
        for key in [None, Some(source.to_owned())] {
            if let Some(n) = self.dropped.get_mut(&key) {
                let taken = reported.min(*n);
                *n -= taken;
                reported -= taken;
            }
        }
        self.count(Some(source.to_owned()), more);
        self.dropped.retain(|_, n| *n > 0);
    }

    /// Whether dropped records wait to be reported.
    pub(crate) fn has_dropped(&self) -> bool {
        self.dropped.values().any(|n| *n > 0)
    }

    /// The meta lines of the dropped counts, one per application.
    pub(crate) fn meta_lines(&self, out: &mut String) {
        for (source, n) in self.dropped.iter().filter(|(_, n)| **n > 0) {
            out.push_str(META_PREFIX);
            out.push_str(&n.to_string());
            if let Some(s) = source {
                out.push_str(",\"source\":");
                out.push_str(&serde_json::Value::from(s.as_str()).to_string());
            }
            out.push_str("}\n");
        }
    }
}

/// The shape a record line must parse to; unknown fields are skipped without being built.
#[derive(serde::Deserialize)]
struct LineShape {
    event: Option<serde::de::IgnoredAny>,
    dropped_records: Option<u64>,
    source: Option<String>,
}

/// Scans `input` (`len` bytes long) to its end, then `extra` lines as if appended; lines in
/// `exclude` are left out (records already sent), and so are records `keep` does not keep.
pub(crate) fn scan<R: Read + Seek>(
    input: &mut R,
    len: u64,
    exclude: &HashSet<&str>,
    extra: &[String],
    keep: Keep<'_>,
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
                source,
            }) = serde_json::from_str(line)
        {
            scan.count(source, n);
        }
    };
    if len > FAR_OVER {
        // The meta line is the first; the newest records are within the last caps' worth.
        let mut first = Vec::new();
        Read::by_ref(input)
            .take(MAX_LINE as u64)
            .read_to_end(&mut first)?;
        if let Some(end) = first.iter().position(|&b| b == b'\n') {
            first.truncate(end + 1);
            first.pop();
            take(&first);
        }
        let window = (MAX_BYTES + MAX_LINE) as u64;
        input.seek(SeekFrom::Start(len - window))?;
        let mut tail = BufReader::with_capacity(CHUNK, Read::by_ref(input).take(window));
        tail.skip_until(b'\n')?;
        for_each_line(&mut tail, &mut take)?;
    } else {
        for_each_line(&mut BufReader::with_capacity(CHUNK, input), &mut take)?;
    }
    for line in extra {
        take(line.as_bytes());
    }
    scan.cut = len > FAR_OVER;
    if let Keep::Of(source) = keep {
        // Only the kept records are parsed: a huge outbox costs a read, not a parse per line.
        scan.records.retain(|r| {
            matches!(
                serde_json::from_str::<LineShape>(r),
                Ok(LineShape { event: Some(_), source: Some(s), .. }) if s == source
            )
        });
        scan.bytes = scan.records.iter().map(|r| r.len() + 1).sum();
    }
    Ok(scan)
}

/// Calls `f` with each line of `reader` (without its newline; the last one even without a
/// newline). Lines longer than [`MAX_LINE`] are skipped. (`BufRead` finds newlines with the
/// platform's `memchr`: fast even in an unoptimized build.)
fn for_each_line(reader: &mut impl BufRead, f: &mut impl FnMut(&[u8])) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .by_ref()
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
    use std::io::Cursor;

    const APP: &str = "app";

    fn rec(i: usize) -> String {
        format!(r#"{{"event":"tool","properties":{{"n":{i}}},"source":"{APP}"}}"#)
    }

    fn scan_bytes(bytes: &[u8]) -> Scan {
        let len = bytes.len() as u64;
        scan(
            &mut Cursor::new(bytes),
            len,
            &HashSet::new(),
            &[],
            Keep::Of(APP),
        )
        .unwrap()
    }

    #[test]
    fn keeps_the_newest_within_the_caps_and_counts_the_rest() {
        let text: String = (0..1_500).map(|i| rec(i) + "\n").collect();
        let s = scan_bytes(text.as_bytes());
        assert_eq!(s.records.len(), MAX_RECORDS);
        assert_eq!(s.records[0], rec(500));
        assert_eq!((s.older, s.dropped_for(APP)), (500, 500));
        let big = format!(
            r#"{{"event":"tool","pad":"{}","source":"app"}}"#,
            "x".repeat(7_000)
        );
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
        text.extend_from_slice(b"{\"dropped_records\":2,\"source\":\"other\"}\n");
        // One byte over the record cap: skipped, whoever wrote it.
        let long = format!(
            r#"{{"event":"y","p":"{}","source":"app"}}"#,
            "y".repeat(MAX_LINE)
        );
        text.extend_from_slice(format!("{}\n", &long[..MAX_LINE + 1]).as_bytes());
        text.extend_from_slice(format!("{}\n{}", rec(2), rec(3)).as_bytes());
        text.extend_from_slice(b"\n{\"event\":\"tool\",\"half");
        let r2 = rec(2);
        let len = text.len() as u64;
        let s = scan(
            &mut Cursor::new(&text[..]),
            len,
            &HashSet::from([r2.as_str()]),
            &[rec(4)],
            Keep::Of(APP),
        )
        .unwrap();
        assert_eq!(Vec::from(s.records.clone()), vec![rec(1), rec(3), rec(4)]);
        assert_eq!(
            (s.dropped_for(APP), s.dropped_for("other"), s.older),
            (7, 9, 0)
        );
    }

    #[test]
    fn records_of_other_applications_are_kept_by_a_rewrite_only() {
        let other = rec(2).replace("\"app\"", "\"other\"");
        let text = format!("{}\n{other}\n{}\n", rec(1), rec(3));
        let len = text.len() as u64;
        let every = scan(
            &mut Cursor::new(text.as_bytes()),
            len,
            &HashSet::new(),
            &[],
            Keep::Every,
        );
        assert_eq!(every.unwrap().records.len(), 3);
        let ours = scan_bytes(text.as_bytes());
        assert_eq!(Vec::from(ours.records), vec![rec(1), rec(3)]);
    }

    #[test]
    fn dropped_counts_belong_to_their_application() {
        let mut s = Scan::default();
        s.count(None, 2);
        s.count(Some("app".into()), 3);
        s.count(Some("other".into()), 5);
        assert_eq!(s.dropped_for("app"), 5);
        s.settle("app", 4, 1);
        assert_eq!((s.dropped_for("app"), s.dropped_for("other")), (2, 5));
        let mut lines = String::new();
        s.meta_lines(&mut lines);
        assert_eq!(
            lines,
            "{\"dropped_records\":2,\"source\":\"app\"}\n\
             {\"dropped_records\":5,\"source\":\"other\"}\n"
        );
    }

    /// A reader of `len` zero bytes with `tail` at its end, that counts what it hands out.
    struct Sparse {
        len: u64,
        tail: Vec<u8>,
        pos: u64,
        read: u64,
    }

    impl Read for Sparse {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let tail_start = self.len - self.tail.len() as u64;
            let left = self.len.saturating_sub(self.pos);
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            for (i, b) in buf[..n].iter_mut().enumerate() {
                let at = self.pos + i as u64;
                *b = if at >= tail_start {
                    self.tail[(at - tail_start) as usize]
                } else {
                    0
                };
            }
            self.pos += n as u64;
            self.read += n as u64;
            Ok(n)
        }
    }

    impl Seek for Sparse {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            let SeekFrom::Start(at) = to else {
                unreachable!("the scan seeks from the start")
            };
            self.pos = at;
            Ok(at)
        }
    }

    #[test]
    fn a_file_far_over_the_caps_is_read_at_its_ends_only() {
        let tail: String = (0..3).map(|i| format!("\n{}", rec(i))).collect();
        let mut input = Sparse {
            len: 8 << 30,
            tail: tail.into_bytes(),
            pos: 0,
            read: 0,
        };
        let len = input.len;
        let s = scan(&mut input, len, &HashSet::new(), &[], Keep::Of(APP)).unwrap();
        assert_eq!(Vec::from(s.records), vec![rec(0), rec(1), rec(2)]);
        assert!(s.cut);
        assert!(
            input.read <= (MAX_BYTES + 2 * MAX_LINE) as u64,
            "{} bytes read",
            input.read
        );
    }

    #[test]
    fn counts_lines() {
        assert_eq!(count_lines(&mut &b""[..]).unwrap(), (0, true));
        assert_eq!(count_lines(&mut &b"a\nb\n"[..]).unwrap(), (2, true));
        assert_eq!(count_lines(&mut &b"a\nb"[..]).unwrap(), (1, false));
    }
}
