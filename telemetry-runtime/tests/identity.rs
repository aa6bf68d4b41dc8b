//! The anonymous id when the `user-uuid` file is corrupt, unreadable or cannot be written:
//! every record still carries a valid v4 UUID and is sent.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_uuid_v4, builder};
use telemetry_runtime::files::{USER_UUID_FILE, read_user_uuid};
use telemetry_test_collector::Collector;

/// Sends one command with `dir` as config dir; returns the record's `user_uuid`.
fn sent_user_uuid(dir: &Path) -> String {
    let collector = Collector::start();
    let client = builder(&collector.url(), dir).build();
    client.track_command("run", Vec::<String>::new());
    let records = collector.records();
    assert_eq!(
        records.len(),
        1,
        "the record is sent whatever the identity file"
    );
    assert_uuid_v4(&records[0]["properties"]["user_uuid"])
}

#[test]
fn fresh_id_is_persisted_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let first = sent_user_uuid(dir.path());
    assert_eq!(read_user_uuid(dir.path()), Some(first.clone()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join(USER_UUID_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        sent_user_uuid(dir.path()),
        first,
        "a second client reuses it"
    );
}

#[test]
fn an_existing_valid_id_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    fs::write(dir.path().join(USER_UUID_FILE), format!("{id}\n")).unwrap();
    assert_eq!(sent_user_uuid(dir.path()), id);
}

#[test]
fn corrupt_id_files_are_replaced_with_a_valid_id() {
    let corrupt: [&[u8]; 7] = [
        b"",
        b"   \n",
        b"not-a-uuid",
        b"1234",
        b"3f2504e0-4f89-41d3-9a0c-0305e82c330G",
        b"\xff\xfe\x00\x01binary\x00",
        b"3f2504e0-4f89-41d3-9a0c-0305e82c3301 trailing garbage",
    ];
    for content in corrupt {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(USER_UUID_FILE), content).unwrap();
        let id = sent_user_uuid(dir.path());
        assert_eq!(
            read_user_uuid(dir.path()),
            Some(id),
            "{:?} replaced by the id that was sent",
            String::from_utf8_lossy(content)
        );
    }
}

#[test]
fn unreadable_id_file_still_gives_a_valid_id() {
    // A directory where the file should be: it can be neither read nor replaced.
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join(USER_UUID_FILE)).unwrap();
    fs::write(dir.path().join(USER_UUID_FILE).join("x"), b"x").unwrap();
    sent_user_uuid(dir.path());
}

#[test]
fn unwritable_config_dir_still_gives_a_valid_id() {
    // A regular file where a parent directory should be: nothing can be created below it,
    // whoever runs the tests (root ignores permission bits, not this).
    let root = tempfile::tempdir().unwrap();
    let blocker = root.path().join("not-a-dir");
    fs::write(&blocker, b"x").unwrap();
    let dir = blocker.join("config");
    let a = sent_user_uuid(&dir);
    let b = sent_user_uuid(&dir);
    assert_ne!(a, b, "an id for this process only, never persisted");
    assert_eq!(fs::read(&blocker).unwrap(), b"x");
}

#[cfg(unix)]
#[test]
fn read_only_config_dir_with_a_corrupt_file_still_gives_a_valid_id() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(USER_UUID_FILE), b"garbage").unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o500)).unwrap();
    // As root the directory is still writable and the file gets replaced; as anyone else it
    // cannot be. Either way the record carries a valid id.
    sent_user_uuid(dir.path());
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
}
