//! Debug mode (`.debug(true)` or `TELEMETRY_DEBUG=1`): every record is printed as pretty JSON,
//! exactly as it would be sent, and nothing reaches the collector.

mod common;

use std::time::Duration;

use common::{DebugBuffer, Envelope, builder, now_ms, own_properties};
use serde_json::{Value, json};
use telemetry_runtime::config::DEBUG_USER_UUID;
use telemetry_runtime::event::ToolEvent;
use telemetry_runtime::files::load_or_create_user_uuid;
use telemetry_runtime::{AgentName, Client, Env, Outcome, SessionId};
use telemetry_test_collector::Collector;

/// Splits debug output into the JSON documents it holds, checking that each one is printed
/// exactly as `serde_json::to_string_pretty` prints it, followed by a newline.
fn documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    while let Some(doc) = stream.next() {
        let doc = doc.unwrap_or_else(|e| panic!("debug output is not JSON ({e}): {text}"));
        let end = stream.byte_offset();
        let printed = text[start..end].trim_start_matches('\n');
        assert_eq!(printed, serde_json::to_string_pretty(&doc).unwrap());
        docs.push(doc);
        start = end;
    }
    assert_eq!(&text[start..], "\n", "each record ends with a newline");
    docs
}

fn tool_event() -> ToolEvent {
    ToolEvent {
        tool_name: "read_file".into(),
        session_id: SessionId::new("sess-d"),
        agent_name: AgentName::new("root"),
        duration: Duration::from_millis(9),
        outcome: Outcome::failure("not found"),
    }
}

#[test]
fn debug_prints_the_exact_record_and_sends_nothing() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let out = DebugBuffer::default();
    let client = builder(&collector.url(), dir.path())
        .debug(true)
        .debug_output(out.writer())
        .build();
    assert!(client.is_debug());
    let not_before = now_ms();
    client.track(&tool_event());
    let not_after = now_ms();
    let docs = documents(&out.text());
    assert_eq!(docs.len(), 1, "{}", out.text());
    let props = own_properties(
        &docs[0],
        &Envelope {
            kind: "tool",
            os_language: "en-US",
            not_before,
            not_after,
            config_dir: None,
        },
    );
    // Debug mode creates no file: no id existed, so the record shows the marked stand-in.
    assert_eq!(docs[0]["properties"]["user_uuid"], DEBUG_USER_UUID);
    assert!(common::files_in(dir.path()).is_empty());
    assert_eq!(
        props,
        json!({
            "action": "call",
            "session_id": "sess-d",
            "agent_name": "root",
            "tool_name": "read_file",
            "duration_ms": 9,
            "is_success": false,
            "error": "not found"
        })
    );
    assert!(!collector.wait_for_requests(1, Duration::from_millis(100)));
    assert_eq!(collector.connections(), 0);
}

#[test]
fn debug_record_is_the_record_that_would_be_sent() {
    // The same event through a sending client and a debug client differs only in the
    // per-record values (event_id, event_timestamp).
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    builder(&collector.url(), dir.path())
        .env(Env::from_pairs([("TELEMETRY_TAGS", "team=core")]))
        .build()
        .track(&tool_event());
    let out = DebugBuffer::default();
    builder(&collector.url(), dir.path())
        .env(Env::from_pairs([
            ("TELEMETRY_TAGS", "team=core"),
            ("TELEMETRY_DEBUG", "1"),
        ]))
        .debug_output(out.writer())
        .build()
        .track(&tool_event());
    let mut sent = collector.records();
    assert_eq!(sent.len(), 1, "only the non-debug client sent");
    let mut printed = documents(&out.text());
    for r in sent.iter_mut().chain(printed.iter_mut()) {
        r["event_timestamp"] = json!(0);
        r["properties"]["event_id"] = json!("");
    }
    assert_eq!(printed, sent);
}

#[test]
fn telemetry_debug_env_prints_every_record_and_sends_nothing() {
    for value in ["1", "true"] {
        let collector = Collector::start();
        let dir = tempfile::tempdir().unwrap();
        let out = DebugBuffer::default();
        // The endpoint from the environment is not used either.
        let client = Client::builder()
            .app(common::APP, common::VERSION)
            .config_dir(dir.path())
            .env(Env::from_pairs([
                ("TELEMETRY_DEBUG", value),
                ("TELEMETRY_ENDPOINT", collector.url().as_str()),
            ]))
            .debug_output(out.writer())
            .build();
        assert!(client.is_debug(), "TELEMETRY_DEBUG={value}");
        client.track_command("run", ["--x"]);
        client.record_session_start("root", "sess-e");
        client.record_tool_call("t", None, None, Duration::ZERO, Outcome::Success);
        client.record_token_usage("m", 1, 2, 0.0);
        client.record_session_end();
        let docs = documents(&out.text());
        let kinds: Vec<&str> = docs.iter().map(|d| d["event"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["command", "session", "tool", "token", "session"]);
        assert_eq!(docs[4]["properties"]["action"], "end");
        assert_eq!(docs[4]["properties"]["tool_calls"], 1);
        assert!(collector.requests().is_empty());
        assert_eq!(collector.connections(), 0);
    }
}

#[test]
fn debug_output_off_by_default() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let out = DebugBuffer::default();
    let client = builder(&collector.url(), dir.path())
        .debug_output(out.writer())
        .build();
    assert!(!client.is_debug());
    client.track(&tool_event());
    assert_eq!(out.text(), "");
    assert_eq!(collector.records().len(), 1);
}

#[test]
fn debug_shows_the_existing_id_and_never_creates_one() {
    let dir = tempfile::tempdir().unwrap();
    let debug_client = |out: &DebugBuffer| {
        Client::builder()
            .app(common::APP, common::VERSION)
            .config_dir(dir.path())
            .env(Env::empty())
            .debug(true)
            .debug_output(out.writer())
            .build()
    };
    let out = DebugBuffer::default();
    debug_client(&out).track_command("run", ["x"]);
    assert_eq!(
        documents(&out.text())[0]["properties"]["user_uuid"],
        DEBUG_USER_UUID
    );
    assert!(
        common::files_in(dir.path()).is_empty(),
        "no user-uuid in debug mode"
    );
    let id = load_or_create_user_uuid(Some(dir.path()));
    let out = DebugBuffer::default();
    debug_client(&out).track_command("run", ["x"]);
    assert_eq!(
        documents(&out.text())[0]["properties"]["user_uuid"],
        id.as_str()
    );
}
