//! The on-disk outbox: records that could not be delivered yet, one JSON object per line.
//!
//! `<config_dir>/telemetry-outbox.jsonl`, mode 0600, capped at [`MAX_RECORDS`] records and
//! [`MAX_BYTES`] bytes (the oldest are dropped first, and counted). Every change happens under
//! an exclusive lock on `<config_dir>/telemetry-outbox.jsonl.lock`, and a process that sends a
//! batch holds that lock until the collector answered, so two processes never send the same
//! record twice. Records leave the file only after a 2xx for the request that carried them.
//!
//! A line that is not a JSON object (garbage, half a line after a crash, binary) is skipped
//! and forgotten at the next rewrite. A meta line `{"dropped_records": N}` carries the count of
//! records dropped by the cap or refused by the collector until a delivered batch reports it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::identity::{private_options, write_new_private};

/// File name of the outbox inside the config dir.
pub const OUTBOX_FILE: &str = "telemetry-outbox.jsonl";
/// Most records the outbox keeps.
pub const MAX_RECORDS: usize = 1_000;
/// Most bytes the outbox keeps.
pub const MAX_BYTES: usize = 1024 * 1024;

const LOCK_SUFFIX: &str = ".lock";
const META_KEY: &str = "dropped_records";

/// The outbox of one config dir.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    path: PathBuf,
    lock_path: PathBuf,
}

/// What the outbox holds: records (raw JSON lines, oldest first) and the dropped count.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Contents {
    pub(crate) records: Vec<String>,
    pub(crate) dropped: u64,
}

/// An exclusive hold on the outbox; released when dropped.
#[derive(Debug)]
pub(crate) struct Locked<'a> {
    outbox: &'a Outbox,
    _file: File,
}

impl Outbox {
    pub(crate) fn new(config_dir: &Path) -> Self {
        let path = config_dir.join(OUTBOX_FILE);
        let mut lock = path.clone().into_os_string();
        lock.push(LOCK_SUFFIX);
        Self {
            path,
            lock_path: PathBuf::from(lock),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the outbox and its lock file (opt-out, reset). Missing files are fine.
    pub(crate) fn delete(&self) -> io::Result<()> {
        for p in [&self.path, &self.lock_path] {
            match fs::remove_file(p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn open_lock_file(&self) -> io::Result<File> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
    }

    /// Takes the lock if it is free right now; `Ok(None)` if another holder has it.
    pub(crate) fn try_lock(&self) -> io::Result<Option<Locked<'_>>> {
        let file = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Locked {
                outbox: self,
                _file: file,
            })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Takes the lock, waiting at most `patience` (another process may be sending a batch).
    pub(crate) fn lock_within(&self, patience: Duration) -> io::Result<Locked<'_>> {
        let start = Instant::now();
        loop {
            if let Some(l) = self.try_lock()? {
                return Ok(l);
            }
            if start.elapsed() >= patience {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "outbox is locked by another process",
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Counts the records waiting, without locking (for status reports).
    pub(crate) fn count(&self) -> usize {
        read_contents(&self.path).records.len()
    }
}

impl Locked<'_> {
    /// Reads the outbox; unreadable or missing means empty.
    pub(crate) fn read(&self) -> Contents {
        read_contents(&self.outbox.path)
    }

    /// Appends records, dropping the oldest beyond the caps.
    ///
    /// The common case is a plain append (no fsync: a crashed process loses nothing, the page
    /// cache has it). Only when the line count or size might pass a cap is the file split into
    /// lines, capped and rewritten. Counting newlines over-estimates records (meta and corrupt
    /// lines count too), so the caps are never passed; the rewrite is exact.
    pub(crate) fn append(&self, new: &[String]) -> io::Result<()> {
        let existing = match fs::read(&self.outbox.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let lines = existing.iter().filter(|b| **b == b'\n').count();
        let added: usize = new.iter().map(|r| r.len() + 1).sum();
        let whole_lines = existing.last().is_none_or(|b| *b == b'\n');
        if whole_lines && lines + new.len() <= MAX_RECORDS && existing.len() + added <= MAX_BYTES {
            let mut text = String::with_capacity(added);
            for r in new {
                text.push_str(r);
                text.push('\n');
            }
            return private_options()
                .append(true)
                .create(true)
                .open(&self.outbox.path)?
                .write_all(text.as_bytes());
        }
        // Over a cap: split lines without parsing them (the outbox can hold a thousand
        // records and this runs once per record while it is full). Lines are validated when
        // they are read for sending.
        let mut contents = split_lines(&existing);
        contents.records.extend_from_slice(new);
        self.write(contents)
    }

    /// Replaces the outbox with `contents` (capped), atomically (temp file + rename).
    /// An empty outbox with nothing to report is removed.
    pub(crate) fn write(&self, mut contents: Contents) -> io::Result<()> {
        enforce_caps(&mut contents);
        if contents.records.is_empty() && contents.dropped == 0 {
            return match fs::remove_file(&self.outbox.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let mut text = String::new();
        if contents.dropped > 0 {
            text.push_str(&format!("{{\"{META_KEY}\":{}}}\n", contents.dropped));
        }
        for r in &contents.records {
            text.push_str(r);
            text.push('\n');
        }
        let mut tmp = self.outbox.path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        // No fsync: this is telemetry, and a rewrite can happen once per record while the
        // outbox is full; rename keeps readers from ever seeing a half-written file.
        let result = write_new_private(&tmp, text.as_bytes())
            .and_then(|_| fs::rename(&tmp, &self.outbox.path));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Drops the oldest records beyond [`MAX_RECORDS`] or [`MAX_BYTES`], counting them.
fn enforce_caps(contents: &mut Contents) {
    let mut excess = contents.records.len().saturating_sub(MAX_RECORDS);
    let mut bytes: usize = contents.records.iter().map(|r| r.len() + 1).sum::<usize>() + 32;
    for r in &contents.records[excess..] {
        if bytes <= MAX_BYTES {
            break;
        }
        bytes -= r.len() + 1;
        excess += 1;
    }
    let excess = excess.min(contents.records.len());
    if excess > 0 {
        contents.records.drain(..excess);
        contents.dropped += excess as u64;
    }
}

fn read_contents(path: &Path) -> Contents {
    fs::read(path)
        .map(|b| parse_contents(&b))
        .unwrap_or_default()
}

/// Splits the outbox into lines without validating records: meta lines are recognised, other
/// lines that start like an object are kept as records.
fn split_lines(bytes: &[u8]) -> Contents {
    let mut contents = Contents::default();
    let meta_prefix = format!("{{\"{META_KEY}\":");
    for line in bytes.split(|b| *b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let line = line.trim();
        if line.starts_with(&meta_prefix) {
            contents.dropped = contents.dropped.saturating_add(
                line[meta_prefix.len()..]
                    .trim_end_matches('}')
                    .trim()
                    .parse()
                    .unwrap_or(0),
            );
        } else if line.starts_with('{') {
            contents.records.push(line.to_owned());
        }
    }
    contents
}

/// What a line must look like: an object with an `event`, or the meta line. Unknown fields are
/// skipped without being built, so validating a full outbox stays cheap.
#[derive(serde::Deserialize)]
struct LineShape {
    event: Option<serde::de::IgnoredAny>,
    dropped_records: Option<u64>,
}

fn parse_contents(bytes: &[u8]) -> Contents {
    let mut contents = Contents::default();
    for line in bytes.split(|b| *b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        match serde_json::from_str::<LineShape>(line) {
            Ok(LineShape { event: Some(_), .. }) => contents.records.push(line.to_owned()),
            Ok(LineShape {
                event: None,
                dropped_records: Some(n),
            }) => contents.dropped = contents.dropped.saturating_add(n),
            _ => {}
        }
    }
    contents
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize) -> String {
        format!(r#"{{"event":"tool","properties":{{"n":{i}}}}}"#)
    }

    #[test]
    fn append_read_and_cap() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path());
        let l = ob.try_lock().unwrap().unwrap();
        let recs: Vec<String> = (0..1_500).map(rec).collect();
        for chunk in recs.chunks(100) {
            l.append(chunk).unwrap();
        }
        let c = l.read();
        assert_eq!(c.records.len(), MAX_RECORDS);
        assert_eq!(c.dropped, 500);
        assert_eq!(c.records[0], rec(500), "oldest dropped first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(ob.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn byte_cap() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path());
        let l = ob.try_lock().unwrap().unwrap();
        let big = format!(r#"{{"event":"tool","pad":"{}"}}"#, "x".repeat(10_000));
        l.append(&vec![big; 200]).unwrap();
        let c = l.read();
        assert!(fs::metadata(ob.path()).unwrap().len() <= MAX_BYTES as u64);
        assert_eq!(c.records.len() as u64 + c.dropped, 200);
        assert!(c.records.len() > 90);
    }

    #[test]
    fn corrupt_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path());
        let mut junk = Vec::new();
        junk.extend_from_slice(b"garbage\n\xff\xfe\x00\x01binary\n");
        junk.extend_from_slice(rec(1).as_bytes());
        junk.extend_from_slice(b"\n[1,2]\n{\"no_event\":1}\n");
        junk.extend_from_slice(rec(2).as_bytes());
        junk.extend_from_slice(b"\n{\"event\":\"tool\",\"half");
        fs::write(ob.path(), junk).unwrap();
        let l = ob.try_lock().unwrap().unwrap();
        assert_eq!(l.read().records, vec![rec(1), rec(2)]);
    }

    #[test]
    fn lock_is_exclusive_and_empty_outbox_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path());
        let other = Outbox::new(dir.path());
        let l = ob.try_lock().unwrap().unwrap();
        assert!(other.try_lock().unwrap().is_none());
        assert!(other.lock_within(Duration::from_millis(20)).is_err());
        l.append(&[rec(1)]).unwrap();
        assert_eq!(ob.count(), 1);
        l.write(Contents::default()).unwrap();
        assert!(!ob.path().exists());
        drop(l);
        assert!(other.try_lock().unwrap().is_some());
    }

    #[test]
    fn read_only_dir_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let ob = Outbox::new(&blocker.join("sub"));
        assert!(ob.try_lock().is_err());
        assert_eq!(ob.count(), 0);
    }
}
