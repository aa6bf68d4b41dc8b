//! The config dir is shared, hostile ground: FIFOs, symlinks and stale temporary files planted
//! under our names never hang the program, never redirect a write, and never leak records.

#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use telemetry_runtime::files::{NOTICE_FILE, USER_UUID_FILE};
use telemetry_runtime::{Client, Env, NoticeOutcome, testing};

const CONSENT_FILE: &str = "telemetry-consent";

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `f` on its own thread and fails the test if it has not returned within 10 s (a FIFO
/// opened for reading without a writer would block forever).
fn within_10s<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("blocked on a file of the config dir")
}

#[test]
fn fifos_under_our_names_never_block() {
    let dir = tempfile::tempdir().unwrap();
    for name in [CONSENT_FILE, USER_UUID_FILE, NOTICE_FILE] {
        mkfifo(&dir.path().join(name));
    }
    let path = dir.path().to_owned();
    let records = within_10s(move || {
        let (client, records) =
            testing::capture_client(Client::builder().config_dir(&path).env(Env::empty()));
        let _ = client.status();
        assert_eq!(
            client.first_run_notice_to("X_HIDE", &mut Vec::new()),
            NoticeOutcome::AlreadyShown,
            "something is already there: never opened, never shown twice"
        );
        client.track_command("run", ["x"]);
        testing::take(&records)
    });
    let id = records[0]["properties"]["user_uuid"].as_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "a fresh id replaces the FIFO"
    );
    let path = dir.path().to_owned();
    within_10s(move || {
        let client = Client::builder()
            .config_dir(&path)
            .env(Env::from_pairs([("DO_NOT_TRACK", "1")]))
            .build();
        assert!(!client.is_enabled());
        let _ = client.status();
    });
}

#[test]
fn a_symlinked_id_is_neither_read_nor_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    fs::write(&target, "11111111-1111-4111-8111-111111111111\n").unwrap();
    symlink(&target, dir.path().join(USER_UUID_FILE)).unwrap();
    let (client, records) =
        testing::capture_client(Client::builder().config_dir(dir.path()).env(Env::empty()));
    client.track_command("run", ["x"]);
    let records = testing::take(&records);
    let id = records[0]["properties"]["user_uuid"].as_str().unwrap();
    assert_ne!(
        id, "11111111-1111-4111-8111-111111111111",
        "a link is not our id"
    );
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "11111111-1111-4111-8111-111111111111\n",
        "the link's target is untouched"
    );
    let meta = fs::symlink_metadata(dir.path().join(USER_UUID_FILE)).unwrap();
    assert!(meta.is_file(), "the link was replaced by our own file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_symlinked_consent_file_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    fs::write(&target, "precious").unwrap();
    symlink(&target, dir.path().join(CONSENT_FILE)).unwrap();
    let client = Client::builder()
        .config_dir(dir.path())
        .env(Env::empty())
        .build();
    client.persist_choice(false).unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
    let later = Client::builder()
        .config_dir(dir.path())
        .env(Env::empty())
        .build();
    assert!(
        !later.is_enabled(),
        "the choice was persisted in our own file"
    );
}

#[test]
fn the_notice_marker_is_private_and_never_created_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .config_dir(dir.path())
        .env(Env::empty())
        .build();
    assert_eq!(
        client.first_run_notice_to("X_HIDE", &mut Vec::new()),
        NoticeOutcome::Shown
    );
    let mode = fs::metadata(dir.path().join(NOTICE_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("created-through-link");
    symlink(&target, dir.path().join(NOTICE_FILE)).unwrap();
    let client = Client::builder()
        .config_dir(dir.path())
        .env(Env::empty())
        .build();
    let _ = client.first_run_notice_to("X_HIDE", &mut Vec::new());
    assert!(!target.exists());
}

#[test]
fn stale_temporary_files_are_cleaned_and_reset_removes_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir
        .path()
        .join(format!(".{USER_UUID_FILE}.999999999.deadbeef.tmp"));
    fs::write(&stale, "left by a killed writer").unwrap();
    let (client, _records) =
        testing::capture_client(Client::builder().config_dir(dir.path()).env(Env::empty()));
    client.track_command("run", ["x"]);
    assert!(!stale.exists(), "a dead writer's temporary file is cleaned");
    let ours = dir
        .path()
        .join(format!(".{USER_UUID_FILE}.{}.cafe.tmp", std::process::id()));
    fs::write(&ours, "in flight").unwrap();
    client.reset().unwrap();
    assert!(!ours.exists(), "reset removes every temporary file");
}
