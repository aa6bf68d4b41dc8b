//! Issue 5: privacy and consent that hold by construction — scrubbing end to end, the
//! first-run notice and its hold, the CI default, status, enable/disable/reset, record caps.

use std::fs;
use std::path::Path;
use std::time::Duration;

use telemetry_runtime::event::CommandEvent;
use telemetry_runtime::files::{NOTICE_FILE, OUTBOX_FILE, USER_UUID_FILE};
use telemetry_runtime::limits::MAX_RECORD_BYTES;
use telemetry_runtime::{AgentName, Client, ConsentSource, Env, NoticeOutcome, Outcome, SessionId};
use telemetry_test_collector::Collector;

const HIDE: &str = "TESTAPP_HIDE_TELEMETRY_BANNER";

fn builder(endpoint: &str, dir: &Path, env: Env) -> telemetry_runtime::ClientBuilder {
    Client::builder()
        .app("testapp", "1.0.0")
        .endpoint(endpoint)
        .config_dir(dir)
        .timeout(Duration::from_secs(2))
        .env(env)
}

/// Secrets and personal data that must never reach the collector.
const SECRETS: &[&str] = &[
    "/home/alice",
    "alice",
    "alice.smith@example.com",
    "hunter2",
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "AKIAIOSFODNN7EXAMPLE",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "xoxb-1234567890-abcdefghijklmnop",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "0123456789abcdef0123456789abcdef01",
];

#[test]
fn nothing_personal_or_secret_reaches_the_collector() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let env = Env::from_pairs([
        ("HOME", "/home/alice"),
        ("USER", "alice"),
        (
            "TELEMETRY_TAGS",
            "team=alice.smith@example.com,token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        ),
    ]);
    let c = builder(&collector.url(), dir.path(), env).build();
    let noisy = format!(
        "open /home/alice/projects/secret.txt failed for alice (alice.smith@example.com) \
         via https://alice:hunter2@git.example.com/repo.git with api_key={} token={} {} {} {} {}",
        SECRETS[4], SECRETS[5], SECRETS[6], SECRETS[7], SECRETS[8], SECRETS[9]
    );
    c.track(&CommandEvent::new(
        "run",
        vec![
            noisy.clone(),
            "--key".into(),
            SECRETS[10].into(),
            "/home/alice/.ssh/id_rsa".into(),
        ],
        Outcome::failure(&noisy),
        Duration::from_millis(3),
    ));
    c.record_session_start(AgentName::new("root"), SessionId::new("s1"));
    c.record_tool_call(
        "read_file",
        None,
        None,
        Duration::ZERO,
        Outcome::failure(&noisy),
    );
    c.record_error(&noisy);
    c.record_session_end();

    let requests = collector.requests();
    assert_eq!(collector.records().len(), 4);
    for r in &requests {
        let body = String::from_utf8_lossy(&r.body);
        for secret in SECRETS {
            assert!(!body.contains(secret), "{secret:?} leaked in {body}");
        }
        assert!(
            !body.to_lowercase().contains("alice"),
            "login name leaked: {body}"
        );
    }
    let records = collector.records();
    let error = records[0]["properties"]["error"].as_str().unwrap();
    assert!(error.contains("~/projects/secret.txt"), "{error}");
    assert!(
        error.contains("<email>") && error.contains("<redacted>"),
        "{error}"
    );
    assert!(error.chars().count() <= 256);
}

#[test]
fn notice_holds_the_first_run_and_the_second_run_sends() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    // First run: notice shown, records wait in the outbox.
    let first = builder(&collector.url(), dir.path(), Env::empty()).build();
    let mut out = Vec::new();
    assert_eq!(
        first.first_run_notice_to(HIDE, &mut out),
        NoticeOutcome::Shown
    );
    let text = String::from_utf8(out).unwrap();
    for needle in [
        "TELEMETRY_ENABLED=false",
        "DO_NOT_TRACK=1",
        "testapp telemetry disable",
        "NOT collected",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from notice:\n{text}"
        );
    }
    first.track_command("first", Vec::<String>::new());
    first.track_command("first-again", Vec::<String>::new());
    assert!(
        collector.requests().is_empty(),
        "nothing leaves during the first run"
    );
    assert_eq!(first.queued_records(), 2);
    assert!(dir.path().join(NOTICE_FILE).exists());

    // Second run: no notice; the backlog leaves at a flush point, then the new record.
    let second = builder(&collector.url(), dir.path(), Env::empty()).build();
    let mut out = Vec::new();
    assert_eq!(
        second.first_run_notice_to(HIDE, &mut out),
        NoticeOutcome::AlreadyShown
    );
    assert!(out.is_empty());
    second.flush();
    second.track_command("second", Vec::<String>::new());
    let actions: Vec<_> = collector
        .records()
        .iter()
        .map(|r| r["properties"]["action"].clone())
        .collect();
    assert_eq!(actions, ["first", "first-again", "second"]);
    assert!(!dir.path().join(OUTBOX_FILE).exists());
}

#[test]
fn opting_out_after_the_first_run_deletes_the_held_records() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let first = builder(&collector.url(), dir.path(), Env::empty()).build();
    assert_eq!(
        first.first_run_notice_to(HIDE, &mut Vec::new()),
        NoticeOutcome::Shown
    );
    first.track_command("first", Vec::<String>::new());
    assert_eq!(first.queued_records(), 1);
    first.persist_choice(false).unwrap();
    assert!(!dir.path().join(OUTBOX_FILE).exists());
    let second = builder(&collector.url(), dir.path(), Env::empty()).build();
    assert!(!second.is_enabled());
    assert_eq!(second.consent().source, ConsentSource::Persisted);
    second.track_command("second", Vec::<String>::new());
    assert!(collector.requests().is_empty());
}

#[test]
fn hidden_notice_means_no_hold() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = builder(&collector.url(), dir.path(), Env::from_pairs([(HIDE, "1")])).build();
    assert_eq!(
        c.first_run_notice_to(HIDE, &mut Vec::new()),
        NoticeOutcome::Skipped
    );
    c.track_command("now", Vec::<String>::new());
    assert_eq!(collector.records().len(), 1);
    assert!(!dir.path().join(NOTICE_FILE).exists());
}

#[test]
fn ci_turns_telemetry_off_unless_explicitly_enabled() {
    let collector = Collector::start();
    for ci in ["true", "1", "yes", "anything"] {
        let dir = tempfile::tempdir().unwrap();
        let c = builder(&collector.url(), dir.path(), Env::from_pairs([("CI", ci)])).build();
        assert!(!c.is_enabled(), "CI={ci}");
        assert_eq!(c.consent().source, ConsentSource::Ci);
        assert_eq!(
            c.first_run_notice_to(HIDE, &mut Vec::new()),
            NoticeOutcome::Skipped
        );
        c.track_command("x", Vec::<String>::new());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no file in CI"
        );
    }
    assert!(collector.requests().is_empty());
    for ci in ["", "0", "false"] {
        let dir = tempfile::tempdir().unwrap();
        let c = builder(&collector.url(), dir.path(), Env::from_pairs([("CI", ci)])).build();
        assert!(c.is_enabled(), "CI={ci:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let c = builder(
        &collector.url(),
        dir.path(),
        Env::from_pairs([("CI", "true"), ("TELEMETRY_ENABLED", "true")]),
    )
    .build();
    assert!(c.is_enabled());
    assert_eq!(
        c.first_run_notice_to(HIDE, &mut Vec::new()),
        NoticeOutcome::Skipped,
        "no notice in CI"
    );
    c.track_command("x", Vec::<String>::new());
    assert_eq!(collector.records().len(), 1);
}

#[test]
fn status_reports_consent_source_id_endpoint_and_backlog_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = telemetry_test_collector::dead_endpoint();
    let c = builder(&endpoint, dir.path(), Env::empty())
        .api_key("s3cr3t-key-value")
        .build();
    let s = c.status();
    assert!(s.enabled);
    assert_eq!(s.source, ConsentSource::Default);
    assert_eq!(s.anonymous_id, None, "asking for status creates no id");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "asking for status creates no file"
    );
    c.track_command("x", Vec::<String>::new());
    c.track_command("y", Vec::<String>::new());
    let s = c.status();
    let id = fs::read_to_string(dir.path().join(USER_UUID_FILE)).unwrap();
    assert_eq!(s.anonymous_id.as_deref(), Some(id.trim()));
    assert_eq!(s.queued_records, 2);
    assert_eq!(s.endpoint.as_deref(), Some(endpoint.as_str()));
    let text = s.to_string();
    for needle in [
        "enabled",
        "default",
        id.trim(),
        &endpoint,
        "Queued records: 2",
        &dir.path().display().to_string(),
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(!text.contains("s3cr3t"), "the key never shows");

    let off = builder(
        &endpoint,
        dir.path(),
        Env::from_pairs([("DO_NOT_TRACK", "1")]),
    )
    .build();
    let s = off.status();
    assert_eq!((s.enabled, s.source), (false, ConsentSource::DoNotTrack));
    assert!(s.to_string().contains("DO_NOT_TRACK"));
}

#[test]
fn enable_disable_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = telemetry_test_collector::dead_endpoint();
    let c = builder(&endpoint, dir.path(), Env::empty()).build();
    c.track_command("x", Vec::<String>::new());
    let id = c.existing_user_uuid().unwrap();
    assert_eq!(c.queued_records(), 1);
    c.reset().unwrap();
    let new_id = c.existing_user_uuid().unwrap();
    assert_ne!(id, new_id, "reset makes a new id");
    assert_eq!(c.queued_records(), 0, "reset empties the outbox");

    c.persist_choice(false).unwrap();
    let c2 = builder(&endpoint, dir.path(), Env::empty()).build();
    assert_eq!(
        (c2.is_enabled(), c2.consent().source),
        (false, ConsentSource::Persisted)
    );
    let c3 = builder(
        &endpoint,
        dir.path(),
        Env::from_pairs([("TELEMETRY_ENABLED", "1")]),
    )
    .build();
    assert!(
        c3.is_enabled(),
        "the environment overrides a persisted choice"
    );
    c2.persist_choice(true).unwrap();
    let c4 = builder(&endpoint, dir.path(), Env::empty()).build();
    assert_eq!(
        (c4.is_enabled(), c4.consent().source),
        (true, ConsentSource::Persisted)
    );

    let nowhere = Client::builder().env(Env::empty()).build();
    assert!(
        nowhere.persist_choice(false).is_err(),
        "no config dir is an error, not a panic"
    );
}

#[test]
fn records_are_capped() {
    let (_, records) = telemetry_runtime::testing::capture(|| {
        let c = telemetry_runtime::current();
        let big = "word ".repeat(400);
        c.track(&CommandEvent::new(
            big.clone(),
            (0..100).map(|i| format!("{i} {big}")).collect(),
            Outcome::failure(&big),
            Duration::ZERO,
        ));
    });
    let props = &records[0]["properties"];
    assert!(props["args"].as_array().unwrap().len() <= 32);
    assert!(props["error"].as_str().unwrap().chars().count() <= 256);
    assert!(serde_json::to_vec(&records[0]).unwrap().len() <= MAX_RECORD_BYTES);
    assert!(props["event_id"].is_string() && props["user_uuid"].is_string());
}
