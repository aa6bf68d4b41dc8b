//! The anonymous user id: a v4 UUID persisted at `<config_dir>/user-uuid`, and the id debug
//! mode shows instead when none exists yet.

use std::fs;
use std::path::Path;

use super::USER_UUID_FILE;
use crate::files;

/// The `user_uuid` debug-mode records show when no anonymous id exists yet: a well-formed v4
/// UUID that is visibly not a real one (debug mode never creates the id file).
pub const DEBUG_USER_UUID: &str = "00000000-0000-4000-8000-000000000000";

/// Longest `user-uuid` file read (a hyphenated UUID and a newline, with room to spare).
const MAX_ID_FILE_BYTES: usize = 128;

/// Reads the id persisted in `dir`, if the file is a regular file (not a link, not a FIFO) of
/// at most 128 bytes holding a valid UUID.
#[must_use]
pub fn read_user_uuid(dir: &Path) -> Option<String> {
    let bytes = files::read_capped(&dir.join(USER_UUID_FILE), MAX_ID_FILE_BYTES).ok()??;
    let id = uuid::Uuid::parse_str(std::str::from_utf8(&bytes).ok()?.trim()).ok()?;
    Some(id.hyphenated().to_string())
}

/// Returns the id persisted in `dir`, creating it when missing. An empty, unreadable or
/// non-UUID file is replaced. Creation is atomic (a fully written temporary file is hard-linked
/// into place), so two processes starting at once end with the same id. When `dir` cannot be
/// written, a fresh id for this process only is returned: identity never fails.
#[must_use]
pub fn load_or_create_user_uuid(dir: Option<&Path>) -> String {
    let fresh = uuid::Uuid::new_v4().hyphenated().to_string();
    let Some(dir) = dir else { return fresh };
    if let Some(id) = read_user_uuid(dir) {
        return id;
    }
    if fs::create_dir_all(dir).is_err() {
        return fresh;
    }
    let target = dir.join(USER_UUID_FILE);
    files::clean_temps(dir, USER_UUID_FILE, false);
    let Ok(tmp) = files::write_temp(&target, fresh.as_bytes(), true) else {
        return fresh;
    };
    // First writer wins: hard_link fails if the target exists.
    let result = match fs::hard_link(&tmp, &target) {
        Ok(()) => Some(fresh.clone()),
        Err(_) => match read_user_uuid(dir) {
            Some(id) => Some(id),
            // The existing entry is corrupt (or a link, a FIFO): replace the entry itself
            // atomically, then take whatever a racing process may have put there.
            None => fs::rename(&tmp, &target)
                .ok()
                .and_then(|()| read_user_uuid(dir)),
        },
    };
    let _ = fs::remove_file(&tmp);
    result.unwrap_or(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_user_uuid(Some(dir.path()));
        let b = load_or_create_user_uuid(Some(dir.path()));
        assert_eq!(a, b);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(USER_UUID_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn corrupt_files_are_replaced() {
        for content in [&b""[..], b"not-a-uuid", b"\xff\xfe\x00garbage", b"1234"] {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(USER_UUID_FILE), content).unwrap();
            let id = load_or_create_user_uuid(Some(dir.path()));
            assert!(uuid::Uuid::parse_str(&id).is_ok());
            assert_eq!(read_user_uuid(dir.path()), Some(id));
        }
    }

    #[test]
    fn unwritable_dir_gives_a_process_id() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where the directory should be: nothing can be created below it.
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let id = load_or_create_user_uuid(Some(&blocker.join("sub")));
        assert!(uuid::Uuid::parse_str(&id).is_ok());
    }

    #[test]
    fn concurrent_creation_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let ids: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_user_uuid(Some(&path))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    }
}
