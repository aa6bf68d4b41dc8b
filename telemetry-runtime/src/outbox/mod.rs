//! The on-disk outbox: records waiting to be delivered, one JSON object per line.
//!
//! Files beside each other in the config dir, every one opened through [`crate::files`] (no
//! symlink followed, no FIFO opened, mode 0600, temporary files with unpredictable names):
//! - `telemetry-outbox.jsonl`: the records, oldest first, and meta lines
//!   `{"dropped_records":N,"source":"<app>"}` counting each application's records dropped and
//!   not yet reported;
//! - `telemetry-outbox.jsonl.lock`: the append lock, held only while a line is appended or
//!   the file is rewritten (microseconds to a millisecond), never across network I/O;
//! - `telemetry-outbox.jsonl.send`: the send lock, taken with a try-lock by the one process
//!   that sends the outbox; never waited for;
//! - `telemetry-outbox.jsonl.not-before`: the collector's `Retry-After`, as unix milliseconds;
//! - `telemetry-outbox.jsonl.round-trip`: the round trip to this outbox's endpoint measured by
//!   the last run, in whole milliseconds (rounded up), read as at most
//!   [`MAX_ROUND_TRIP`](crate::limits::MAX_ROUND_TRIP) whatever the file says.
//!
//! Invariants:
//! - an outbox is shared by the applications of one config dir, and each sends only its own
//!   records (their `source`) and reports only its own dropped counts; a rewrite keeps the
//!   others' records and counts for them;
//! - the file is used only when it is ours alone (owned by this user, not writable by group or
//!   others: [`files::open_read_private`]); another user's file is neither read nor appended to;
//! - appends never wait for a sender (only for another append or a rewrite);
//! - a record leaves the file only after the answer to the request that carried it: each
//!   rewrite removes exactly the lines sent (by content: every record holds a unique
//!   `event_id`) and keeps every line appended meanwhile, so a process killed between two
//!   batches re-sends at most the batch that was in flight;
//! - the file keeps at most [`MAX_RECORDS`] records and [`MAX_BYTES`] bytes of records, the
//!   newest; older ones are counted in the meta lines. Reads stream the file and keep at most
//!   the caps, whatever its size; a file far over them is read at its ends only and replaced
//!   by what is kept at its first rewrite (a snapshot makes one), so it costs once.

mod scan;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::files;
pub use crate::files::OUTBOX_FILE;
use crate::limits::MAX_ROUND_TRIP;
use crate::limits::{OUTBOX_MAX_BYTES as MAX_BYTES, OUTBOX_MAX_RECORDS as MAX_RECORDS};
use scan::{Keep, Scan};

/// Suffix of the append lock file.
const LOCK_SUFFIX: &str = ".lock";
/// Suffix of the send lock file.
const SEND_SUFFIX: &str = ".send";
/// Suffix of the "not before" file.
const NOT_BEFORE_SUFFIX: &str = ".not-before";
/// Suffix of the file remembering the last round trip measured.
const ROUND_TRIP_SUFFIX: &str = ".round-trip";
/// Longest wait for the append lock. It is held for at most a rewrite of 1 MiB, so this is
/// reached only when its holder is stopped; the caller then keeps the records in memory.
const APPEND_PATIENCE: Duration = Duration::from_secs(1);
/// Longest "not before" honoured: a later one (a hostile answer, a clock change) is cut here.
pub(crate) const MAX_NOT_BEFORE: Duration = Duration::from_secs(24 * 3600);

/// The outbox of one config dir, as one application (`source`) uses it.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    /// The application's name: the `source` of its records.
    source: String,
    dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    send_path: PathBuf,
    not_before_path: PathBuf,
    round_trip_path: PathBuf,
}

/// What waits to be sent: records (oldest first) and the count of dropped records.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) records: Vec<String>,
    pub(crate) dropped: u64,
}

/// The send lock of an outbox: its holder alone sends and removes records.
#[derive(Debug)]
pub(crate) struct Sending<'a> {
    outbox: &'a Outbox,
    _lock: File,
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Outbox {
    /// The usage stream's outbox ([`OUTBOX_FILE`]) of the application `source`.
    pub(crate) fn new(config_dir: &Path, source: &str) -> Self {
        Self::named(config_dir, OUTBOX_FILE, source)
    }

    /// An outbox in `config_dir` called `file_name`, with its lock and "not before" files
    /// beside it (the operator's stream keeps one per signal), of the application `source`.
    pub(crate) fn named(config_dir: &Path, file_name: &str, source: &str) -> Self {
        let path = config_dir.join(file_name);
        Self {
            source: source.to_owned(),
            dir: config_dir.to_path_buf(),
            lock_path: beside(&path, LOCK_SUFFIX),
            send_path: beside(&path, SEND_SUFFIX),
            not_before_path: beside(&path, NOT_BEFORE_SUFFIX),
            round_trip_path: beside(&path, ROUND_TRIP_SUFFIX),
            path,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the outbox, its lock files, the "not before" and round trip files and every
    /// temporary file of them (opt-out, reset). Missing files are fine; nothing is opened (a
    /// FIFO is removed).
    pub(crate) fn delete(&self) -> io::Result<()> {
        for p in [
            &self.path,
            &self.lock_path,
            &self.send_path,
            &self.not_before_path,
            &self.round_trip_path,
        ] {
            files::remove(p)?;
        }
        for name in [&self.path, &self.not_before_path, &self.round_trip_path] {
            if let Some(name) = name.file_name().and_then(|n| n.to_str()) {
                files::clean_temps(&self.dir, name, true);
            }
        }
        Ok(())
    }

    /// Takes the append lock, waiting at most [`APPEND_PATIENCE`].
    fn append_lock(&self) -> io::Result<File> {
        fs::create_dir_all(&self.dir)?;
        let file = files::open_rw(&self.lock_path)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::Error(e)) => return Err(e),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() >= APPEND_PATIENCE => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "the outbox is locked by a process that does not finish",
                    ));
                }
                Err(fs::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Appends records (one line each), keeping the caps: the common case is one `write` of
    /// the new lines; only when a cap would be passed is the file rewritten, newest kept.
    pub(crate) fn append(&self, lines: &[String]) -> io::Result<()> {
        let _lock = self.append_lock()?;
        let mut file = files::open_append_private(&self.path)?;
        let size = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
        let added: usize = lines.iter().map(|l| l.len() + 1).sum();
        let (count, whole) = if size == 0 {
            (0, true)
        } else if size.saturating_add(added) > MAX_BYTES {
            (usize::MAX, true)
        } else {
            match files::open_read_private(&self.path)? {
                Some(mut f) => scan::count_lines(&mut f)?,
                None => (0, true),
            }
        };
        if count.saturating_add(lines.len()) > MAX_RECORDS {
            return self.rewrite(&HashSet::new(), lines, 0, 0).map(|_| ());
        }
        let mut text = String::with_capacity(added + 1);
        if !whole {
            // Half a line from a crashed writer: end it, so it cannot swallow ours.
            text.push('\n');
        }
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        file.write_all(text.as_bytes())
    }

    /// Counts `n` more dropped records (reported by the next delivered batch).
    pub(crate) fn add_dropped(&self, n: u64) -> io::Result<()> {
        let _lock = self.append_lock()?;
        self.rewrite(&HashSet::new(), &[], 0, n).map(|_| ())
    }

    /// Scans the file (missing: empty), keeping `keep`'s records.
    fn scan(&self, exclude: &HashSet<&str>, extra: &[String], keep: Keep<'_>) -> io::Result<Scan> {
        match files::open_read_private(&self.path)? {
            Some(mut f) => {
                let len = f.metadata()?.len();
                scan::scan(&mut f, len, exclude, extra, keep)
            }
            None => scan::scan(&mut io::Cursor::new([]), 0, exclude, extra, keep),
        }
    }

    /// Under the append lock: rewrites the file without the `sent` lines, with `extra` lines
    /// appended, `reported` fewer and `more` more dropped records of this application, the
    /// caps applied; other applications' records and counts stay. Returns the size of the
    /// file written (0: removed).
    fn rewrite(
        &self,
        sent: &HashSet<&str>,
        extra: &[String],
        reported: u64,
        more: u64,
    ) -> io::Result<u64> {
        let mut scan = self.scan(sent, extra, Keep::Every)?;
        scan.settle(&self.source, reported, more);
        if scan.records.is_empty() && !scan.has_dropped() {
            files::remove(&self.path)?;
            return Ok(0);
        }
        let mut text = String::new();
        scan.meta_lines(&mut text);
        for r in &scan.records {
            text.push_str(r);
            text.push('\n');
        }
        // No fsync: this is telemetry; the rename alone keeps readers from a half file.
        files::replace(&self.path, text.as_bytes(), false)?;
        Ok(text.len() as u64)
    }

    /// The size of the outbox file; 0 when it is missing or not a regular file.
    pub(crate) fn size(&self) -> u64 {
        fs::symlink_metadata(&self.path)
            .ok()
            .filter(fs::Metadata::is_file)
            .map_or(0, |m| m.len())
    }

    /// How many of this application's records wait (within the caps), without any lock.
    pub(crate) fn count(&self) -> usize {
        self.scan(&HashSet::new(), &[], Keep::Of(&self.source))
            .map_or(0, |s| s.records.len())
    }

    /// Takes the send lock if it is free right now; `Ok(None)` when another process sends.
    pub(crate) fn try_send(&self) -> io::Result<Option<Sending<'_>>> {
        fs::create_dir_all(&self.dir)?;
        let file = files::open_rw(&self.send_path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Sending {
                outbox: self,
                _lock: file,
            })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// The time before which no request may be made, when one is set and still ahead.
    pub(crate) fn not_before(&self) -> Option<SystemTime> {
        let bytes = files::read_capped(&self.not_before_path, 32).ok()??;
        let ms: u64 = std::str::from_utf8(&bytes).ok()?.trim().parse().ok()?;
        let now = SystemTime::now();
        let at = UNIX_EPOCH.checked_add(Duration::from_millis(ms))?;
        (at > now).then(|| {
            now.checked_add(MAX_NOT_BEFORE)
                .map_or(at, |max| at.min(max))
        })
    }

    /// Sets the time before which no request may be made, for every process.
    pub(crate) fn set_not_before(&self, at: SystemTime) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let at = SystemTime::now()
            .checked_add(MAX_NOT_BEFORE)
            .map_or(at, |max| at.min(max));
        files::replace(
            &self.not_before_path,
            unix_ms(at).to_string().as_bytes(),
            false,
        )
    }

    /// Forgets the "not before" (a request was answered).
    pub(crate) fn clear_not_before(&self) {
        let _ = files::remove(&self.not_before_path);
    }

    /// The round trip to this outbox's endpoint that an earlier run measured, in whole
    /// milliseconds, at most [`MAX_ROUND_TRIP`]. `None` when there is none or the file is not
    /// a regular file of at most 32 bytes holding a whole number (hostile contents are
    /// ignored, never trusted past the cap).
    pub(crate) fn round_trip(&self) -> Option<Duration> {
        let bytes = files::read_capped(&self.round_trip_path, 32).ok()??;
        let text = std::str::from_utf8(&bytes).ok()?.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // All digits: only an overflow fails to parse, and that is over the cap too.
        let ms = text.parse::<u64>().unwrap_or(u64::MAX);
        Some(Duration::from_millis(ms).min(MAX_ROUND_TRIP))
    }

    /// Remembers `ms`, a round trip in whole milliseconds, for later runs (a private file
    /// renamed into place, so a reader never sees half of it).
    pub(crate) fn set_round_trip(&self, ms: u64) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let ms = ms.min(u64::try_from(MAX_ROUND_TRIP.as_millis()).unwrap_or(u64::MAX));
        files::replace(&self.round_trip_path, ms.to_string().as_bytes(), false)
    }
}

impl Sending<'_> {
    /// What of this application's waits, newest kept within the caps. When the file holds
    /// more than the caps (or is far over them), it is rewritten first to what is kept (the
    /// rest counted), so what is sent is the file. Temporary files left by dead writers are
    /// removed.
    pub(crate) fn snapshot(&self) -> io::Result<Snapshot> {
        let ob = self.outbox;
        if let Some(name) = ob.path.file_name().and_then(|n| n.to_str()) {
            files::clean_temps(&ob.dir, name, false);
        }
        // No lock for the read: only appends happen to this file while the send lock is held
        // elsewhere than in a rewrite, and a rewrite renames a new file over it (the handle
        // keeps reading the old one, whole).
        let none = HashSet::new();
        let mut scan = ob.scan(&none, &[], Keep::Of(&ob.source))?;
        if scan.older > 0 || scan.cut {
            let _lock = ob.append_lock()?;
            ob.rewrite(&none, &[], 0, 0)?;
            scan = ob.scan(&none, &[], Keep::Of(&ob.source))?;
        }
        Ok(Snapshot {
            dropped: scan.dropped_for(&ob.source),
            records: scan.records.into(),
        })
    }

    /// Removes `sent` records after their answer; `reported` dropped records were reported
    /// with them, `refused` more are counted as dropped. Returns the file's size afterwards.
    pub(crate) fn remove(&self, sent: &[String], reported: u64, refused: u64) -> io::Result<u64> {
        let ob = self.outbox;
        let _lock = ob.append_lock()?;
        let sent: HashSet<&str> = sent.iter().map(String::as_str).collect();
        ob.rewrite(&sent, &[], reported, refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize) -> String {
        format!(r#"{{"event":"tool","properties":{{"n":{i}}},"source":"app"}}"#)
    }

    fn recs(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(rec).collect()
    }

    #[test]
    fn appending_to_a_full_outbox_never_passes_the_cap_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path(), "app");
        for chunk in recs(0..MAX_RECORDS).chunks(100) {
            ob.append(chunk).unwrap();
        }
        // Exactly full, no drop yet: the file holds the records and nothing else.
        let full = fs::read_to_string(ob.path()).unwrap();
        assert_eq!(full.lines().count(), MAX_RECORDS);
        ob.append(&recs(MAX_RECORDS..MAX_RECORDS + 100)).unwrap();
        // The file itself, not a snapshot (which would apply the cap when read).
        let text = fs::read_to_string(ob.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "{\"dropped_records\":100,\"source\":\"app\"}");
        assert_eq!(lines[1..], recs(100..MAX_RECORDS + 100));
    }

    #[test]
    fn append_keeps_the_caps_and_the_file_private() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path(), "app");
        for chunk in recs(0..1_500).chunks(100) {
            ob.append(chunk).unwrap();
        }
        let text = fs::read_to_string(ob.path()).unwrap();
        assert_eq!(
            text.lines().count(),
            MAX_RECORDS + 1,
            "records and one meta line"
        );
        assert!(text.starts_with("{\"dropped_records\":500,\"source\":\"app\"}\n"));
        let sending = ob.try_send().unwrap().unwrap();
        let snap = sending.snapshot().unwrap();
        assert_eq!(snap.records, recs(500..1_500));
        assert_eq!(snap.dropped, 500);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(ob.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn remove_takes_exactly_the_sent_lines_and_keeps_later_appends() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path(), "app");
        ob.append(&recs(0..5)).unwrap();
        ob.add_dropped(3).unwrap();
        let sending = ob.try_send().unwrap().unwrap();
        let snap = sending.snapshot().unwrap();
        assert_eq!((snap.records.len(), snap.dropped), (5, 3));
        ob.append(&recs(5..7)).unwrap();
        sending.remove(&snap.records[..2], 3, 0).unwrap();
        let again = sending.snapshot().unwrap();
        assert_eq!(again.records, recs(2..7));
        assert_eq!(again.dropped, 0);
        sending.remove(&again.records[..1], 0, 1).unwrap();
        assert_eq!(
            sending.snapshot().unwrap().dropped,
            1,
            "a refused batch is counted"
        );
        let rest = sending.snapshot().unwrap().records;
        assert_eq!(sending.remove(&rest, 1, 0).unwrap(), 0);
        assert!(!ob.path().exists(), "an empty outbox is removed");
    }

    #[test]
    fn the_send_lock_is_exclusive_and_appends_never_wait_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path(), "app");
        let other = Outbox::new(dir.path(), "app");
        let held = ob.try_send().unwrap().unwrap();
        assert!(other.try_send().unwrap().is_none());
        let start = Instant::now();
        other.append(&recs(0..1)).unwrap();
        assert!(start.elapsed() < APPEND_PATIENCE);
        assert_eq!(other.count(), 1);
        drop(held);
        assert!(other.try_send().unwrap().is_some());
    }

    #[test]
    fn not_before_round_trips_and_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path(), "app");
        assert!(ob.not_before().is_none());
        let at = SystemTime::now() + Duration::from_secs(60);
        ob.set_not_before(at).unwrap();
        let read = ob.not_before().unwrap();
        assert!(read <= at && read + Duration::from_secs(1) > at);
        ob.set_not_before(SystemTime::now() + Duration::from_secs(365 * 86_400))
            .unwrap();
        assert!(ob.not_before().unwrap() <= SystemTime::now() + MAX_NOT_BEFORE);
        ob.clear_not_before();
        assert!(ob.not_before().is_none());
    }

    #[test]
    fn the_round_trip_is_remembered_and_hostile_contents_are_clamped_or_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(dir.path(), "app");
        assert_eq!(ob.round_trip(), None, "nothing measured yet");
        ob.set_round_trip(51).unwrap();
        assert_eq!(ob.round_trip(), Some(Duration::from_millis(51)));
        let path = dir.path().join(format!("{OUTBOX_FILE}{ROUND_TRIP_SUFFIX}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        for (text, read) in [
            (" 7\n", Some(Duration::from_millis(7))),
            ("0", Some(Duration::ZERO)),
            ("99999999999999999999999", Some(MAX_ROUND_TRIP)),
            ("3600000", Some(MAX_ROUND_TRIP)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("12ms", None),
            ("\u{0}\u{1b}[2J", None),
            ("1234567890123456789012345678901234", None),
        ] {
            fs::write(&path, text).unwrap();
            assert_eq!(ob.round_trip(), read, "{text:?}");
        }
        ob.set_round_trip(u64::MAX).unwrap();
        assert_eq!(ob.round_trip(), Some(MAX_ROUND_TRIP));
        ob.delete().unwrap();
        assert!(!path.exists(), "opting out forgets it too");
    }

    #[test]
    fn a_config_dir_below_a_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let ob = Outbox::new(&blocker.join("sub"), "app");
        assert!(ob.append(&recs(0..1)).is_err());
        assert!(ob.try_send().is_err());
        assert_eq!(ob.count(), 0);
    }
}
