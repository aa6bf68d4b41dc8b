//! The database file as a thing that can be taken away: one server per file (an exclusive
//! lock on `<db>.lock`, held for the server's life), a file that must be writable, and the
//! identity of the file opened, so a database deleted or replaced under a running server is
//! noticed instead of ingesting into an unlinked file.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The lock file of a database: its path with `.lock` appended.
///
/// ```
/// let p = telemetry_collector::store::sqlite::dbfile::lock_path("data/t.db".as_ref());
/// assert_eq!(p, std::path::PathBuf::from("data/t.db.lock"));
/// ```
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// A database file this process serves: the lock is held until it is dropped.
#[derive(Debug)]
pub struct DbFile {
    path: PathBuf,
    _lock: File,
    id: Option<FileId>,
}

/// Device and inode (Unix); elsewhere only existence is checked.
type FileId = (u64, u64);

impl DbFile {
    /// Takes the exclusive lock of `db`, or says which other server holds it.
    pub fn lock(db: &Path) -> Result<Self, String> {
        let lock = lock_path(db);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|e| format!("cannot create the lock file {}: {e}", lock.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                path: db.to_owned(),
                _lock: file,
                id: None,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(format!(
                "another telemetry-collector is already serving {} (it holds {}); stop it, \
                 or give this one another --db",
                db.display(),
                lock.display()
            )),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(format!("cannot lock {}: {e}", lock.display()))
            }
        }
    }

    /// Remembers which file the database is now (call once it is open).
    pub fn identify(&mut self) -> Result<(), String> {
        self.id = Some(
            file_id(&self.path).ok_or_else(|| format!("cannot read {}", self.path.display()))?,
        );
        Ok(())
    }

    /// Fails when the file at the path is gone or is another file than the one opened.
    pub fn check(&self) -> Result<(), String> {
        match (self.id, file_id(&self.path)) {
            (_, None) => Err(format!(
                "the database file {} was deleted; restart the collector",
                self.path.display()
            )),
            (Some(opened), Some(now)) if opened != now => Err(format!(
                "the database file {} was replaced by another file; restart the collector",
                self.path.display()
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|_| (0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_a_deleted_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(&db, b"x").unwrap();
        let mut first = DbFile::lock(&db).unwrap();
        first.identify().unwrap();
        let err = DbFile::lock(&db).unwrap_err();
        assert!(err.contains("already serving"), "{err}");
        assert!(first.check().is_ok());
        // The server's SQLite connection keeps the unlinked file (and its inode) alive.
        let _open = File::open(&db).unwrap();
        std::fs::remove_file(&db).unwrap();
        assert!(first.check().unwrap_err().contains("deleted"));
        std::fs::write(&db, b"y").unwrap();
        assert!(first.check().unwrap_err().contains("replaced"));
        drop(first);
        assert!(DbFile::lock(&db).is_ok(), "released on drop");
    }
}
