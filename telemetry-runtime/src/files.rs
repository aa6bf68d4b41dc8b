//! Every file of ours in the config dir, and the only way they are opened.
//!
//! The config dir is shared, hostile ground: another user or program may have planted a
//! symlink, a FIFO, a device or a huge file under one of our names. Invariants:
//! - the last path component is never followed when it is a symlink (`O_NOFOLLOW`), and a
//!   file is used only when the opened handle is a regular file (checked on the handle, not on
//!   the path, so a swap between check and use changes nothing);
//! - opening never blocks (`O_NONBLOCK`: a FIFO without a writer opens at once, then is
//!   rejected as not regular);
//! - a read never takes more than the caller's cap;
//! - files are created with mode 0600 (`create_new`, so never through a planted link), and
//!   temporary files have unpredictable names (process id and random bits), renamed into place;
//! - a file whose content is trusted (the outbox: its records are sent as they are) is used
//!   only when its handle is owned by this process's user and not writable by group or others
//!   (Unix; as OpenSSH checks its own files), so a file another user planted is never read.
//!
//! Anything that is not a regular file is treated as absent or corrupt by the callers, with
//! one diagnostic line where the user should know.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

mod identity;

pub use identity::{DEBUG_USER_UUID, load_or_create_user_uuid, read_user_uuid};

/// The anonymous id.
pub const USER_UUID_FILE: &str = "user-uuid";
/// The persisted choice: `enabled` or `disabled`.
pub const CONSENT_FILE: &str = "telemetry-consent";
/// Marker: the first-run notice was shown.
pub const NOTICE_FILE: &str = "telemetry-notice-shown";
/// Records waiting to be delivered, one JSON object per line.
pub const OUTBOX_FILE: &str = "telemetry-outbox.jsonl";
/// The operator's OpenTelemetry stream: spans waiting for the traces endpoint (the same
/// format as [`OUTBOX_FILE`], each record with its trace context).
pub const OTEL_TRACES_OUTBOX_FILE: &str = "telemetry-otel-traces.jsonl";
/// The operator's OpenTelemetry stream: records waiting for the logs endpoint.
pub const OTEL_LOGS_OUTBOX_FILE: &str = "telemetry-otel-logs.jsonl";
/// The operator's OpenTelemetry stream: metrics waiting for the metrics endpoint.
pub const OTEL_METRICS_OUTBOX_FILE: &str = "telemetry-otel-metrics.jsonl";

/// Suffix of our temporary files: `.<name>.<pid>.<random>.tmp`.
const TMP_SUFFIX: &str = ".tmp";

/// Why a file of ours could not be used.
fn not_regular(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} is not a regular file", path.display()),
    )
}

/// Options that never follow a final symlink, never block, and create with mode 0600.
fn options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut opts = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    opts
}

/// Opens `path` with `opts` (which must come from [`options`]) and checks the handle.
fn open_checked(path: &Path, opts: &OpenOptions) -> io::Result<File> {
    #[cfg(not(unix))]
    if fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(not_regular(path));
    }
    let file = opts.open(path).map_err(|e| {
        // ELOOP: the final component is a symlink.
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return not_regular(path);
        }
        e
    })?;
    if !file.metadata()?.is_file() {
        return Err(not_regular(path));
    }
    Ok(file)
}

/// Reads at most `cap` bytes of a regular file. `Ok(None)`: the file does not exist.
/// A longer file is an error (`InvalidData`): a file of ours is never that long.
pub(crate) fn read_capped(path: &Path, cap: usize) -> io::Result<Option<Vec<u8>>> {
    let mut file = match open_checked(path, options().read(true)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    Read::by_ref(&mut file)
        .take(cap as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {cap} bytes", path.display()),
        ));
    }
    Ok(Some(bytes))
}

/// Opens a regular file for reading without a cap on what the caller reads (the caller
/// bounds it, e.g. by streaming with `take`). `Ok(None)`: the file does not exist.
pub(crate) fn open_read(path: &Path) -> io::Result<Option<File>> {
    match open_checked(path, options().read(true)) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`open_read`], for a file whose content is trusted: one that another user owns, or that
/// group or others may write, is an error (`PermissionDenied`, saying why; see
/// [`check_private`]).
pub(crate) fn open_read_private(path: &Path) -> io::Result<Option<File>> {
    let file = open_read(path)?;
    if let Some(f) = &file {
        check_private(path, f)?;
    }
    Ok(file)
}

/// [`open_append`], for a file whose content is trusted (see [`open_read_private`]): nothing
/// is ever written to a file another user could read or change.
pub(crate) fn open_append_private(path: &Path) -> io::Result<File> {
    let file = open_append(path)?;
    check_private(path, &file)?;
    Ok(file)
}

/// Whether an open file is ours alone: owned by this process's effective user and not writable
/// by group or others. Checked on the handle. Always true where there are no such owners
/// (not Unix).
fn check_private(path: &Path, file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata()?;
        let me = rustix::process::geteuid().as_raw();
        let why = if meta.uid() != me {
            format!("owned by user id {}, not by this user ({me})", meta.uid())
        } else if meta.mode() & 0o022 != 0 {
            format!(
                "writable by group or others (mode {:o})",
                meta.mode() & 0o777
            )
        } else {
            return Ok(());
        };
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not used: {why}", path.display()),
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        Ok(())
    }
}

/// Opens (creating with 0600 when missing) a regular file for appending.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    open_checked(path, options().append(true).create(true))
}

/// Opens (creating with 0600 when missing) a regular file for reading and writing, without
/// truncating it (lock files).
pub(crate) fn open_rw(path: &Path) -> io::Result<File> {
    open_checked(path, options().read(true).write(true).create(true))
}

/// Creates a new file (never an existing one, never through a link) with mode 0600.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    open_checked(path, options().write(true).create_new(true))
}

/// A fresh temporary path beside `target`: `.<name>.<pid>.<random>.tmp`.
pub(crate) fn temp_path(target: &Path) -> PathBuf {
    let name = target.file_name().unwrap_or_default();
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".{}.{}{TMP_SUFFIX}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    target.with_file_name(tmp)
}

/// Writes `bytes` to a new temporary file beside `target` and returns its path. The file is
/// synced when `sync` is true. On error nothing is left behind.
pub(crate) fn write_temp(target: &Path, bytes: &[u8], sync: bool) -> io::Result<PathBuf> {
    let tmp = temp_path(target);
    let result = create_new(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        if sync { f.sync_all() } else { Ok(()) }
    });
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Replaces `target` with `bytes` atomically (temporary file, then rename). A symlink at
/// `target` is replaced, never followed.
pub(crate) fn replace(target: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let tmp = write_temp(target, bytes, sync)?;
    fs::rename(&tmp, target).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Removes a file (or a planted symlink, never its target); a missing file is fine.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes temporary files of `name` left in `dir` by writers that are gone: a process that
/// no longer runs (Linux: no `/proc/<pid>`), or, where that cannot be told, files older than
/// ten minutes. With `all`, every temporary file of `name` goes (opt-out, reset).
pub(crate) fn clean_temps(dir: &Path, name: &str, all: bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some(rest) = file_name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(TMP_SUFFIX))
        else {
            continue;
        };
        if all || writer_is_gone(rest, &entry) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether the writer of a temporary file (`<pid>.<random>`) is gone.
fn writer_is_gone(rest: &str, entry: &fs::DirEntry) -> bool {
    let pid = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
    if cfg!(target_os = "linux")
        && let Some(pid) = pid
    {
        return pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
    }
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 600)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::time::{Duration, Instant};

    #[test]
    fn a_fifo_is_rejected_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(CONSENT_FILE);
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        let err = read_capped(&fifo, 64).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(open_append(&fifo).is_err());
        assert!(open_rw(&fifo).is_err());
        assert!(start.elapsed() < Duration::from_secs(5), "never blocks");
    }

    #[test]
    fn symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"secret").unwrap();
        let link = dir.path().join(USER_UUID_FILE);
        symlink(&outside, &link).unwrap();
        assert!(read_capped(&link, 64).is_err());
        assert!(open_append(&link).is_err());
        assert!(open_rw(&link).is_err());
        assert!(create_new(&link).is_err());
        replace(&link, b"mine", false).unwrap();
        assert_eq!(
            fs::read(&outside).unwrap(),
            b"secret",
            "the target is untouched"
        );
        assert!(
            fs::symlink_metadata(&link).unwrap().is_file(),
            "the link was replaced"
        );
        let dangling = dir.path().join(OUTBOX_FILE);
        symlink(dir.path().join("newf"), &dangling).unwrap();
        assert!(open_append(&dangling).is_err());
        assert!(
            !dir.path().join("newf").exists(),
            "nothing created through a link"
        );
    }

    #[test]
    fn reads_are_capped_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONSENT_FILE);
        replace(&path, &[b'x'; 100], true).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_capped(&path, 100).unwrap().unwrap().len(), 100);
        assert!(read_capped(&path, 99).is_err());
        assert!(
            read_capped(&dir.path().join("missing"), 9)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_file_others_may_write_or_own_is_not_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OUTBOX_FILE);
        drop(open_append_private(&path).unwrap());
        assert!(open_read_private(&path).unwrap().is_some(), "ours, 0600");
        for mode in [0o620, 0o602, 0o666] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = open_read_private(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
            assert!(
                err.to_string().contains("writable by group or others"),
                "{err}"
            );
            assert!(open_append_private(&path).is_err());
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            open_read_private(&path).unwrap().is_some(),
            "readable is fine"
        );
        assert!(
            open_read_private(&dir.path().join("missing"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn temporary_names_are_unpredictable_and_stale_ones_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(OUTBOX_FILE);
        assert_ne!(temp_path(&target), temp_path(&target));
        let mine = write_temp(&target, b"x", false).unwrap();
        let dead = dir.path().join(format!(".{OUTBOX_FILE}.999999999.abc.tmp"));
        fs::write(&dead, b"records").unwrap();
        clean_temps(dir.path(), OUTBOX_FILE, false);
        assert!(!dead.exists(), "a dead writer's file goes");
        assert!(mine.exists(), "a live writer's file stays");
        clean_temps(dir.path(), OUTBOX_FILE, true);
        assert!(!mine.exists());
    }
}
