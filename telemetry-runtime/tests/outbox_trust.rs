//! What a client takes from an outbox: only its own application's records, only from a file
//! that is its user's alone, only lines within the record cap, and never more of a huge file
//! than its caps (a sparse file of gigabytes is replaced once). Real collectors on 127.0.0.1.

mod common;

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use telemetry_runtime::files::OUTBOX_FILE;
use telemetry_runtime::limits::{MAX_RECORD_BYTES, OUTBOX_MAX_BYTES};
use telemetry_runtime::{Client, Env};
use telemetry_test_collector::{Collector, dead_endpoint};

/// A client of application `app` sending to `endpoint` with `key`, config dir `dir`.
fn app_client(app: &str, endpoint: &str, key: &str, dir: &Path) -> Client {
    Client::builder()
        .app(app, "1.0.0")
        .endpoint(endpoint)
        .api_key(key)
        .config_dir(dir)
        .env(Env::empty())
        .timeout(Duration::from_millis(500))
        .build()
}

fn sources(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect()
}

#[test]
fn applications_sharing_a_config_dir_send_only_their_own_records() {
    let dir = tempfile::tempdir().unwrap();
    let cagent = app_client("cagent", &dead_endpoint(), "cagent-key", dir.path());
    for i in 0..5 {
        cagent.track_command(&format!("c{i}"), Vec::<String>::new());
    }
    cagent.flush();
    assert_eq!(common::outbox_records(dir.path()).len(), 5);

    let theirs = Collector::start();
    let other = app_client("othertool", &theirs.url(), "other-key", dir.path());
    other.track_command("o1", Vec::<String>::new());
    other.flush();
    let records = theirs.records();
    assert_eq!(sources(&records), ["othertool"], "only its own record");
    assert!(
        theirs
            .requests()
            .iter()
            .all(|r| r.header("x-api-key") == Some("other-key"))
    );
    assert_eq!(other.queued_records(), 0, "none of its own waits");
    let waiting = common::outbox_records(dir.path());
    assert_eq!(sources(&waiting), ["cagent"; 5], "cagent's wait for cagent");

    let ours = Collector::start();
    let cagent = app_client("cagent", &ours.url(), "cagent-key", dir.path());
    assert_eq!(cagent.queued_records(), 5);
    cagent.flush();
    assert_eq!(sources(&ours.records()), ["cagent"; 5]);
    assert!(
        ours.requests()
            .iter()
            .all(|r| r.header("x-api-key") == Some("cagent-key"))
    );
    assert!(
        !dir.path().join(OUTBOX_FILE).exists(),
        "all sent by their owner"
    );
}

/// A record of the test application, as a hostile user would plant it.
fn planted_record(action: &str, payload: &str) -> String {
    format!(
        r#"{{"event":"command","event_timestamp":1,"properties":{{"action":"{action}","note":"{payload}"}},"source":"{}"}}"#,
        common::APP
    )
}

/// A verbose client of the test application that sends nothing at once (every record is
/// queued until a flush), and what it says.
fn verbose_client(endpoint: &str, dir: &Path) -> (Client, common::DebugBuffer) {
    let out = common::DebugBuffer::default();
    let client = common::builder(endpoint, dir)
        .send_budget(Duration::ZERO)
        .verbose(true)
        .debug_output(out.writer())
        .build();
    (client, out)
}

#[cfg(unix)]
#[test]
fn an_outbox_others_may_write_is_neither_read_nor_appended_to() {
    use std::os::unix::fs::PermissionsExt;
    for mode in [0o666, 0o620, 0o602] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OUTBOX_FILE);
        let planted = planted_record("planted", "password=hunter2 /home/alice") + "\n";
        fs::write(&path, &planted).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let collector = Collector::start();
        let (client, out) = verbose_client(&collector.url(), dir.path());
        assert_eq!(client.queued_records(), 0, "mode {mode:o}");
        // Queued: never in that file, in memory until the flush.
        client.track_command("mine", Vec::<String>::new());
        client.flush();
        let records = collector.records();
        let actions: Vec<&str> = records
            .iter()
            .map(|r| r["properties"]["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["mine"],
            "mode {mode:o}: the planted record stays unsent"
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            planted,
            "nothing written to it"
        );
        let said = out.text();
        assert!(
            said.contains("writable by group or others"),
            "mode {mode:o}: verbose says why: {said}"
        );
    }
}

#[cfg(unix)]
#[test]
fn an_outbox_another_user_owns_is_not_read() {
    use std::os::unix::fs::chown;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OUTBOX_FILE);
    fs::write(&path, planted_record("planted", "password=hunter2") + "\n").unwrap();
    if let Err(e) = chown(&path, Some(65_534), Some(65_534)) {
        // Only root may give a file away; CI runs as root.
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot chown under CI: {e}"
        );
        return;
    }
    let collector = Collector::start();
    let (client, out) = verbose_client(&collector.url(), dir.path());
    client.track_command("mine", Vec::<String>::new());
    client.flush();
    let records = collector.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["properties"]["action"], "mine");
    let said = out.text();
    assert!(said.contains("owned by user id 65534"), "{said}");
}

#[test]
fn every_line_of_an_outbox_is_held_to_the_record_cap() {
    let dir = tempfile::tempdir().unwrap();
    let long = planted_record("long", &"x".repeat(60 * 1024));
    assert!(long.len() > MAX_RECORD_BYTES);
    let just = planted_record("just", "");
    let text = format!("{long}\n{just}\n");
    fs::write(dir.path().join(OUTBOX_FILE), text).unwrap();
    let collector = Collector::start();
    common::builder(&collector.url(), dir.path())
        .build()
        .flush();
    let records = collector.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["properties"]["action"], "just");
    for r in collector.requests() {
        assert!(
            r.body.len() < 2 * MAX_RECORD_BYTES,
            "{} bytes",
            r.body.len()
        );
    }
}

/// Bytes this process has read so far (Linux: `rchar` of `/proc/self/io`).
#[cfg(target_os = "linux")]
fn bytes_read() -> u64 {
    let io = fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// An 8 GiB sparse outbox (no disk space used) ending with `tail` lines.
fn sparse_outbox(dir: &Path, tail: &[String]) {
    let mut f = fs::File::create(dir.join(OUTBOX_FILE)).unwrap();
    f.set_len(8 << 30).unwrap();
    f.seek(SeekFrom::End(0)).unwrap();
    for line in tail {
        writeln!(f, "\n{line}").unwrap();
    }
}

/// Most bytes a run may read of a huge outbox: its caps, twice (a snapshot, then the rewrite
/// that replaces the file), with room for everything else a test process reads.
const READ_BOUND: u64 = 64 << 20;

#[cfg(target_os = "linux")]
#[test]
fn a_sparse_outbox_far_over_its_cap_is_replaced_once_by_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let tail: Vec<String> = (0..3)
        .map(|i| planted_record(&format!("t{i}"), ""))
        .collect();
    sparse_outbox(dir.path(), &tail);
    let collector = Collector::start();
    let before = bytes_read();
    common::builder(&collector.url(), dir.path())
        .build()
        .flush();
    let read = bytes_read() - before;
    assert!(read < READ_BOUND, "{read} bytes read");
    let actions: Vec<String> = collector
        .records()
        .iter()
        .map(|r| r["properties"]["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["t0", "t1", "t2"],
        "the newest records are kept and sent"
    );
    let left = fs::symlink_metadata(dir.path().join(OUTBOX_FILE)).map_or(0, |m| m.len());
    assert!(left <= OUTBOX_MAX_BYTES as u64, "replaced: {left} bytes");
}

#[cfg(target_os = "linux")]
#[test]
fn a_sparse_outbox_far_over_its_cap_is_replaced_once_by_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let tail: Vec<String> = (0..2)
        .map(|i| planted_record(&format!("t{i}"), ""))
        .collect();
    sparse_outbox(dir.path(), &tail);
    let before = bytes_read();
    let client = common::builder(&dead_endpoint(), dir.path()).build();
    client.track_command("queued", Vec::<String>::new());
    let read = bytes_read() - before;
    assert!(read < READ_BOUND, "{read} bytes read");
    let path = dir.path().join(OUTBOX_FILE);
    let size = fs::metadata(&path).unwrap().len();
    assert!(size <= OUTBOX_MAX_BYTES as u64, "replaced: {size} bytes");
    let actions: Vec<String> = common::outbox_records(dir.path())
        .iter()
        .map(|r| r["properties"]["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["t0", "t1", "queued"]);
    // The next run pays nothing: the file is small now.
    let before = bytes_read();
    client.track_command("next", Vec::<String>::new());
    assert!(bytes_read() - before < 4 * OUTBOX_MAX_BYTES as u64);
}
