//! Consent against a real collector on 127.0.0.1: every opt-out spelling of
//! `TELEMETRY_ENABLED` and `DO_NOT_TRACK` gives zero requests and zero files; a garbage value
//! keeps the default.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{builder, files_in};
use telemetry_runtime::event::{CommandEvent, TokenEvent, ToolEvent};
use telemetry_runtime::{Client, ConsentSource, Env, Outcome, SessionId};
use telemetry_test_collector::Collector;

/// Everything a client can be asked to record.
fn exercise(client: &Client) {
    client.track_command("run", ["--fast"]);
    client.track(&CommandEvent::new(
        "build",
        Vec::new(),
        Outcome::failure("boom"),
        Duration::from_millis(5),
    ));
    client.record_session_start("root", "sess-1");
    client.record_tool_call(
        "read_file",
        None,
        None,
        Duration::from_millis(1),
        Outcome::Success,
    );
    client.record_tool_call(
        "write_file",
        Some(SessionId::new("sess-1")),
        Some("root".into()),
        Duration::from_millis(1),
        Outcome::failure("denied"),
    );
    client.record_token_usage("model", 10, 20, 0.5);
    client.record_error("oops");
    client.record_session_end();
    {
        let _guard = client.start_session("root", SessionId::random());
        client.track(&ToolEvent {
            tool_name: "shell".into(),
            session_id: SessionId::new("s"),
            agent_name: "a".into(),
            duration: Duration::ZERO,
            outcome: Outcome::Success,
        });
        client.track(&TokenEvent {
            session_id: SessionId::new("s"),
            agent_name: "a".into(),
            model_name: "m".into(),
            input_tokens: 1,
            output_tokens: 1,
            cost: 0.0,
        });
    }
}

/// Builds a client from `env` (and `enabled(true)` from the application, which must not beat
/// the user's opt-out), exercises it, and asserts nothing was sent and no file was created.
fn assert_silent(env: Env, label: &str) {
    let collector = Collector::start();
    let root = tempfile::tempdir().unwrap();
    // A config dir that does not exist yet must not be created either.
    let dir = root.path().join("config");
    let client = builder(&collector.url(), &dir)
        .enabled(true)
        .env(env)
        .build();
    assert!(!client.is_enabled(), "{label}: {:?}", client.consent());
    exercise(&client);
    assert!(
        !collector.wait_for_requests(1, Duration::from_millis(20)),
        "{label}: no request"
    );
    assert_eq!(collector.connections(), 0, "{label}: not even a connection");
    assert!(!dir.exists(), "{label}: config dir created");
    assert!(files_in(root.path()).is_empty(), "{label}");
    assert_eq!(client.queued_records(), 0, "{label}");
}

/// Like [`assert_silent`] with an existing, empty config dir.
fn assert_silent_in_existing_dir(env: Env, label: &str) {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path()).env(env).build();
    assert!(!client.is_enabled(), "{label}");
    exercise(&client);
    assert!(collector.requests().is_empty(), "{label}");
    assert_eq!(files_in(dir.path()), Vec::<String>::new(), "{label}");
}

/// Builds a client from `env`, exercises it, and returns how many records arrived.
fn records_sent(env: Env, dir: &Path) -> (Client, usize) {
    let collector = Collector::start();
    let client = builder(&collector.url(), dir).env(env).build();
    exercise(&client);
    let n = collector.records().len();
    (client, n)
}

const OPT_OUT: [&str; 16] = [
    "false", "FALSE", "False", "fAlSe", " false ", "0", " 0", "no", "NO", "No", "off", "OFF",
    "Off", "  off", "\toff\n", "nO",
];

#[test]
fn every_opt_out_spelling_sends_nothing_and_writes_nothing() {
    for value in OPT_OUT {
        let env = Env::from_pairs([("TELEMETRY_ENABLED", value)]);
        assert_silent(env.clone(), &format!("TELEMETRY_ENABLED={value:?}"));
        assert_silent_in_existing_dir(env, &format!("TELEMETRY_ENABLED={value:?}"));
    }
}

#[test]
fn opt_out_reports_its_source() {
    let client = Client::builder()
        .env(Env::from_pairs([("TELEMETRY_ENABLED", " OFF ")]))
        .build();
    assert!(!client.is_enabled());
    assert_eq!(client.consent().source, ConsentSource::EnvironmentVariable);
    assert!(client.consent().warnings.is_empty());
}

#[test]
fn do_not_track_sends_nothing_and_writes_nothing_whatever_else_says() {
    for value in ["1", "true", "TRUE", "yes", "anything", " 1 ", "2"] {
        let label = format!("DO_NOT_TRACK={value:?}");
        assert_silent(Env::from_pairs([("DO_NOT_TRACK", value)]), &label);
        assert_silent(
            Env::from_pairs([("DO_NOT_TRACK", value), ("TELEMETRY_ENABLED", "true")]),
            &label,
        );
        assert_silent_in_existing_dir(
            Env::from_pairs([("DO_NOT_TRACK", value), ("TELEMETRY_ENABLED", "1")]),
            &label,
        );
        let client = Client::builder()
            .env(Env::from_pairs([("DO_NOT_TRACK", value)]))
            .build();
        assert_eq!(
            client.consent().source,
            ConsentSource::DoNotTrack,
            "{label}"
        );
    }
}

#[test]
fn empty_zero_or_false_do_not_track_does_not_opt_out() {
    for value in ["", "0", "false", "FALSE", " 0 "] {
        let dir = tempfile::tempdir().unwrap();
        let (client, n) = records_sent(Env::from_pairs([("DO_NOT_TRACK", value)]), dir.path());
        assert!(client.is_enabled(), "DO_NOT_TRACK={value:?}");
        assert!(n > 0, "DO_NOT_TRACK={value:?}");
    }
}

#[test]
fn application_opt_out_sends_nothing_and_writes_nothing() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path())
        .enabled(false)
        .env(Env::from_pairs([("TELEMETRY_ENABLED", "true")]))
        .build();
    assert!(!client.is_enabled());
    exercise(&client);
    assert!(collector.requests().is_empty());
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn enabling_spellings_send() {
    for value in ["true", "TRUE", " True ", "1", "yes", "YES", "on", "On"] {
        let dir = tempfile::tempdir().unwrap();
        let (client, n) = records_sent(Env::from_pairs([("TELEMETRY_ENABLED", value)]), dir.path());
        assert!(client.is_enabled(), "TELEMETRY_ENABLED={value:?}");
        assert!(n > 0, "TELEMETRY_ENABLED={value:?}");
    }
}

#[test]
fn garbage_telemetry_enabled_keeps_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, expected) = records_sent(Env::empty(), dir.path());
    assert!(reference.is_enabled());
    assert_eq!(reference.consent().source, ConsentSource::Default);
    for value in ["maybe", "2", "enable", "y e s", "", "  ", "falsey", "nein"] {
        let dir = tempfile::tempdir().unwrap();
        let (client, n) = records_sent(Env::from_pairs([("TELEMETRY_ENABLED", value)]), dir.path());
        let consent = client.consent();
        assert!(client.is_enabled(), "TELEMETRY_ENABLED={value:?}");
        assert_eq!(consent.source, ConsentSource::Default, "{value:?}");
        assert_eq!(consent.warnings.len(), 1, "one warning: {consent:?}");
        assert!(consent.warnings[0].contains("TELEMETRY_ENABLED"));
        assert!(!consent.warnings[0].contains('\n'), "one line");
        assert_eq!(n, expected, "TELEMETRY_ENABLED={value:?}");
    }
    // A garbage value does not undo an opt-out from elsewhere.
    assert_silent(
        Env::from_pairs([("TELEMETRY_ENABLED", "maybe"), ("DO_NOT_TRACK", "1")]),
        "garbage + DO_NOT_TRACK",
    );
}

/// When the environment or the application already decided, the persisted choice is not read
/// at all: a consent file that would block any reader (a FIFO with no writer) is never opened.
#[cfg(unix)]
#[test]
fn deciding_opt_outs_never_read_the_consent_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("telemetry-consent");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let cases: [(Env, Option<bool>); 4] = [
        (Env::from_pairs([("DO_NOT_TRACK", "1")]), None),
        (Env::from_pairs([("TELEMETRY_ENABLED", "false")]), None),
        (Env::from_pairs([("TELEMETRY_ENABLED", "true")]), None),
        (Env::empty(), Some(false)),
    ];
    for (env, app) in cases {
        let label = format!("{env:?} {app:?}");
        let path = dir.path().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut b = Client::builder().config_dir(path).env(env);
            if let Some(on) = app {
                b = b.enabled(on);
            }
            let _ = tx.send(b.build().consent().source);
        });
        let source = rx.recv_timeout(Duration::from_secs(20));
        assert!(
            source.is_ok_and(|s| s != ConsentSource::Persisted),
            "{label}: the consent file was read"
        );
    }
}
