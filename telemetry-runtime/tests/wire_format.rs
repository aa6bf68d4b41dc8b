//! The exact wire format against a real collector on 127.0.0.1: every event type, the
//! envelope, the HTTP headers and body, and the `TELEMETRY_TAGS` pairs.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{APP, Envelope, VERSION, builder, now_ms, own_properties};
use serde_json::{Value, json};
use telemetry_runtime::event::{
    CommandEvent, SessionEndEvent, SessionStartEvent, TokenEvent, ToolEvent,
};
use telemetry_runtime::limits::{MAX_TAG_VALUE_CHARS, MAX_TAGS};
use telemetry_runtime::{AgentName, Client, Env, Outcome, SessionId};
use telemetry_test_collector::Collector;

/// Sends one event with a fresh client and returns its record's own properties, after checking
/// the envelope exactly.
fn send_one(event: &dyn telemetry_runtime::Event, kind: &str) -> Value {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path()).build();
    let not_before = now_ms();
    client.track(event);
    let not_after = now_ms();
    let requests = collector.requests();
    assert_eq!(
        requests.len(),
        1,
        "track is synchronous: sent before it returns"
    );
    let records = collector.records();
    assert_eq!(records.len(), 1);
    own_properties(
        &records[0],
        &Envelope {
            kind,
            os_language: "en-US",
            not_before,
            not_after,
            config_dir: Some(dir.path()),
        },
    )
}

#[test]
fn command_event_is_exact() {
    let ev = CommandEvent::new(
        "run",
        vec!["--fast".into(), "agent.yaml".into()],
        Outcome::Success,
        Duration::from_millis(1234),
    );
    assert_eq!(
        send_one(&ev, "command"),
        json!({
            "action": "run",
            "args": ["--fast", "agent.yaml"],
            "is_success": true,
            "duration_ms": 1234
        })
    );
}

#[test]
fn failed_command_without_args_omits_args_and_carries_error() {
    let ev = CommandEvent::new(
        "build",
        Vec::new(),
        Outcome::failure("exit status 2"),
        Duration::from_millis(7),
    );
    assert_eq!(
        send_one(&ev, "command"),
        json!({
            "action": "build",
            "is_success": false,
            "error": "exit status 2",
            "duration_ms": 7
        })
    );
}

#[test]
fn tool_event_is_exact() {
    let ev = ToolEvent {
        tool_name: "read_file".into(),
        session_id: SessionId::new("sess-1"),
        agent_name: AgentName::new("root"),
        duration: Duration::from_millis(42),
        outcome: Outcome::Success,
    };
    assert_eq!(
        send_one(&ev, "tool"),
        json!({
            "action": "call",
            "session_id": "sess-1",
            "agent_name": "root",
            "tool_name": "read_file",
            "duration_ms": 42,
            "is_success": true
        })
    );
    let failed = ToolEvent {
        outcome: Outcome::failure("permission denied"),
        ..ev
    };
    assert_eq!(
        send_one(&failed, "tool"),
        json!({
            "action": "call",
            "session_id": "sess-1",
            "agent_name": "root",
            "tool_name": "read_file",
            "duration_ms": 42,
            "is_success": false,
            "error": "permission denied"
        })
    );
}

#[test]
fn token_event_is_exact() {
    let ev = TokenEvent {
        session_id: SessionId::new("sess-2"),
        agent_name: AgentName::new("coder"),
        model_name: "openai/gpt-4o".into(),
        input_tokens: 1200,
        output_tokens: 345,
        cost: 0.5,
    };
    assert_eq!(
        send_one(&ev, "token"),
        json!({
            "action": "usage",
            "session_id": "sess-2",
            "agent_name": "coder",
            "model_name": "openai/gpt-4o",
            "input_tokens": 1200,
            "output_tokens": 345,
            "total_tokens": 1545,
            "cost": 0.5
        })
    );
}

#[test]
fn session_start_event_is_exact() {
    let ev = SessionStartEvent {
        session_id: SessionId::new("sess-3"),
        agent_name: AgentName::new("root"),
    };
    assert_eq!(
        send_one(&ev, "session"),
        json!({ "action": "start", "session_id": "sess-3", "agent_name": "root" })
    );
}

#[test]
fn session_end_event_is_exact() {
    let ev = SessionEndEvent {
        session_id: SessionId::new("sess-4"),
        agent_name: AgentName::new("root"),
        duration: Duration::from_millis(5000),
        tool_calls: 3,
        input_tokens: 10,
        output_tokens: 20,
        cost: 0.25,
        error_count: 2,
        errors: vec!["tool failed".into(), "model timeout".into()],
    };
    assert_eq!(
        send_one(&ev, "session"),
        json!({
            "action": "end",
            "session_id": "sess-4",
            "agent_name": "root",
            "duration_ms": 5000,
            "tool_calls": 3,
            "input_tokens": 10,
            "output_tokens": 20,
            "total_tokens": 30,
            "cost": 0.25,
            "error_count": 2,
            "is_success": false,
            "error": ["tool failed", "model timeout"]
        })
    );
    let clean = SessionEndEvent {
        error_count: 0,
        errors: Vec::new(),
        ..ev
    };
    let props = send_one(&clean, "session");
    assert_eq!(props["is_success"], true);
    assert_eq!(props["error"], json!([]), "error is always an array");
}

#[test]
fn direct_api_produces_the_same_records() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path())
        .env(Env::from_pairs([("LANG", "de_DE.UTF-8")]))
        .build();
    let not_before = now_ms();
    client.track_command("run", ["--debug"]);
    client.record_session_start("root", "sess-5");
    client.record_tool_call(
        "shell",
        None,
        None,
        Duration::from_millis(3),
        Outcome::Success,
    );
    client.record_tool_call(
        "write_file",
        None,
        None,
        Duration::from_millis(4),
        Outcome::failure("disk full"),
    );
    client.record_token_usage("anthropic/claude", 100, 50, 0.125);
    client.record_error("model refused");
    client.record_session_end();
    let not_after = now_ms();

    let records = collector.records();
    assert_eq!(collector.requests().len(), 6, "one POST per record");
    let kinds = ["command", "session", "tool", "tool", "token", "session"];
    let props: Vec<Value> = records
        .iter()
        .zip(kinds)
        .map(|(r, kind)| {
            own_properties(
                r,
                &Envelope {
                    kind,
                    os_language: "de_DE.UTF-8",
                    not_before,
                    not_after,
                    config_dir: Some(dir.path()),
                },
            )
        })
        .collect();
    assert_eq!(records.len(), kinds.len());
    assert_eq!(
        props[0],
        json!({"action": "run", "args": ["--debug"], "is_success": true, "duration_ms": 0})
    );
    assert_eq!(
        props[1],
        json!({"action": "start", "session_id": "sess-5", "agent_name": "root"})
    );
    assert_eq!(
        props[2],
        json!({"action": "call", "session_id": "sess-5", "agent_name": "root",
               "tool_name": "shell", "duration_ms": 3, "is_success": true})
    );
    assert_eq!(
        props[3],
        json!({"action": "call", "session_id": "sess-5", "agent_name": "root",
               "tool_name": "write_file", "duration_ms": 4, "is_success": false,
               "error": "disk full"})
    );
    assert_eq!(
        props[4],
        json!({"action": "usage", "session_id": "sess-5", "agent_name": "root",
               "model_name": "anthropic/claude", "input_tokens": 100, "output_tokens": 50,
               "total_tokens": 150, "cost": 0.125})
    );
    let mut end = props[5].clone();
    assert!(end["duration_ms"].is_u64());
    end["duration_ms"] = json!(0);
    assert_eq!(
        end,
        json!({"action": "end", "session_id": "sess-5", "agent_name": "root",
               "duration_ms": 0, "tool_calls": 2, "input_tokens": 100, "output_tokens": 50,
               "total_tokens": 150, "cost": 0.125, "error_count": 2, "is_success": false,
               "error": ["disk full", "model refused"]})
    );

    let ids: HashSet<&str> = records
        .iter()
        .map(|r| r["properties"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), records.len(), "a fresh event_id per record");
    let users: HashSet<&str> = records
        .iter()
        .map(|r| r["properties"]["user_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 1, "one user id per config dir");
}

#[test]
fn headers_and_compact_body() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path())
        .api_key("secret-key")
        .build();
    client.track_command("run", Vec::<String>::new());
    let requests = collector.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/records");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.header("user-agent"),
        Some(format!("{APP}/{VERSION}").as_str())
    );
    assert_eq!(req.header("x-api-key"), Some("secret-key"));
    assert_eq!(
        req.headers
            .iter()
            .filter(|(n, _)| n == "user-agent" || n == "x-api-key")
            .count(),
        2,
        "no duplicated headers: {:?}",
        req.headers
    );
    assert_eq!(
        req.header("content-length"),
        Some(req.body.len().to_string().as_str())
    );
    assert_eq!(req.header("transfer-encoding"), None);

    let body = req.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["records"]);
    assert_eq!(body["records"].as_array().unwrap().len(), 1);
    assert_eq!(
        req.body,
        serde_json::to_vec(&body).unwrap(),
        "compact JSON, not pretty-printed"
    );
    assert!(!req.body.contains(&b'\n'));
}

#[test]
fn no_api_key_means_no_key_header() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    builder(&collector.url(), dir.path())
        .build()
        .track_command("run", Vec::<String>::new());
    let req = &collector.requests()[0];
    assert_eq!(req.header("x-api-key"), None);
    assert_eq!(req.header("content-type"), Some("application/json"));
}

#[test]
fn api_key_in_a_configured_header() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    builder(&collector.url(), dir.path())
        .api_key("k-123")
        .api_key_header("X-Collector-Token")
        .build()
        .track_command("run", Vec::<String>::new());
    let req = &collector.requests()[0];
    assert_eq!(req.header("x-collector-token"), Some("k-123"));
    assert_eq!(req.header("x-api-key"), None);
}

#[test]
fn environment_overrides_endpoint_and_api_key() {
    let wanted = Collector::start();
    let builders = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&builders.url(), dir.path())
        .api_key("from-builder")
        .env(Env::from_pairs([
            ("TELEMETRY_ENDPOINT", wanted.url()),
            ("TELEMETRY_API_KEY", "from-env".to_owned()),
        ]))
        .build();
    assert_eq!(client.endpoint(), Some(wanted.url().as_str()));
    client.track_command("run", Vec::<String>::new());
    assert!(builders.requests().is_empty());
    let requests = wanted.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("x-api-key"), Some("from-env"));
    // The environment endpoint alone is enough; the builder's key never goes to it (a key set
    // in code goes only to the endpoint set in code).
    let alone = Client::builder()
        .app(APP, VERSION)
        .api_key("from-builder")
        .config_dir(dir.path())
        .env(Env::from_pairs([("TELEMETRY_ENDPOINT", wanted.url())]))
        .build();
    alone.track_command("run", Vec::<String>::new());
    let requests = wanted.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("x-api-key"), None);
}

#[test]
fn no_endpoint_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .app(APP, VERSION)
        .config_dir(dir.path())
        .env(Env::empty())
        .build();
    assert_eq!(client.endpoint(), None);
    client.track_command("run", Vec::<String>::new());
}

/// Sends one tool call with `TELEMETRY_TAGS` set to `tags`; returns the record's properties.
fn properties_with_tags(tags: &str) -> serde_json::Map<String, Value> {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = builder(&collector.url(), dir.path())
        .env(Env::from_pairs([("TELEMETRY_TAGS", tags)]))
        .build();
    client.track(&ToolEvent {
        tool_name: "read_file".into(),
        session_id: SessionId::new("s"),
        agent_name: AgentName::new("a"),
        duration: Duration::ZERO,
        outcome: Outcome::Success,
    });
    let records = collector.records();
    assert_eq!(records.len(), 1, "malformed tags never stop a record");
    records[0]["properties"].as_object().unwrap().clone()
}

const TOOL_KEYS: [&str; 6] = [
    "action",
    "session_id",
    "agent_name",
    "tool_name",
    "duration_ms",
    "is_success",
];

fn tag_keys(props: &serde_json::Map<String, Value>) -> Vec<String> {
    props
        .keys()
        .filter(|k| !TOOL_KEYS.contains(&k.as_str()))
        .filter(|k| !telemetry_runtime::limits::SYSTEM_KEYS.contains(&k.as_str()))
        .cloned()
        .collect()
}

#[test]
fn tags_are_trimmed_and_malformed_pairs_skipped() {
    let props = properties_with_tags(" team = infra ,broken,, =x,=,env=ci , empty=, k=v=w ");
    assert_eq!(props["team"], "infra");
    assert_eq!(props["env"], "ci");
    assert_eq!(props["empty"], "");
    assert_eq!(props["k"], "v=w");
    let mut keys = tag_keys(&props);
    keys.sort();
    assert_eq!(keys, ["empty", "env", "k", "team"]);
}

#[test]
fn tags_never_overwrite_system_or_event_keys() {
    let props = properties_with_tags(
        "user_uuid=evil,version=9.9.9,os=plan9,os_language=xx-XX,event_id=dup,\
         action=evil,tool_name=evil,is_success=false,team=core",
    );
    common::assert_uuid_v4(&props["user_uuid"]);
    common::assert_uuid_v4(&props["event_id"]);
    assert_eq!(props["version"], VERSION);
    assert_eq!(props["os"], telemetry_runtime::config::go_os());
    assert_eq!(props["os_language"], "en-US");
    assert_eq!(props["action"], "call");
    assert_eq!(props["tool_name"], "read_file");
    assert_eq!(props["is_success"], true);
    assert_eq!(props["team"], "core");
    assert_eq!(tag_keys(&props), ["team"]);
}

#[test]
fn tags_are_capped_in_number_and_length() {
    let many: Vec<String> = (0..MAX_TAGS + 5).map(|i| format!("t{i}=v{i}")).collect();
    let props = properties_with_tags(&many.join(","));
    let keys = tag_keys(&props);
    assert_eq!(keys.len(), MAX_TAGS);
    for i in 0..MAX_TAGS {
        assert_eq!(
            props[&format!("t{i}")],
            format!("v{i}"),
            "the first ones are kept"
        );
    }
    // Words, not one long run (which the scrubber would redact as a possible secret).
    let long = "x ".repeat(MAX_TAG_VALUE_CHARS * 2);
    let props = properties_with_tags(&format!("long={long},unicode=日本語🚀"));
    assert_eq!(
        props["long"].as_str().unwrap().chars().count(),
        MAX_TAG_VALUE_CHARS
    );
    assert_eq!(props["unicode"], "日本語🚀");
}

#[test]
fn garbage_tags_add_nothing() {
    for garbage in ["", ",,,", "===", "no pairs here", " = , =v ,\t"] {
        let props = properties_with_tags(garbage);
        assert!(tag_keys(&props).is_empty(), "{garbage:?}: {props:?}");
    }
}
