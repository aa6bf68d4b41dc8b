//! Scrubbing and record limits that hold for every record, not only the first: names the
//! client remembers are scrubbed like any string, and tags never push an event's own fields
//! out of a record.

use std::time::Duration;

use serde_json::Value;
use telemetry_runtime::limits::{MAX_RECORD_BYTES, MAX_STRING_CHARS, MAX_TAGS};
use telemetry_runtime::{AgentName, Client, Env, Outcome, SessionId, testing};

fn capture(env: Env) -> (Client, testing::Records) {
    testing::capture_client(Client::builder().app("testapp", "1.0.0").env(env))
}

/// The JSON text of every record taken from `records`.
fn texts(records: &testing::Records) -> Vec<String> {
    records.take_json()
}

#[test]
fn a_capped_name_is_capped_in_every_record() {
    let (client, records) = capture(Env::empty());
    let name = "é".repeat(300);
    client.record_token_usage(&name, 1, 2, 0.5);
    client.record_token_usage(&name, 1, 2, 0.5);
    client.record_tool_call(&name, None, None, Duration::ZERO, Outcome::Success);
    client.record_tool_call(&name, None, None, Duration::ZERO, Outcome::Success);
    let got: Vec<Value> = testing::take(&records);
    assert_eq!(got.len(), 4);
    for (record, key) in got
        .iter()
        .zip(["model_name", "model_name", "tool_name", "tool_name"])
    {
        let value = record["properties"][key].as_str().unwrap();
        assert_eq!(value.chars().count(), MAX_STRING_CHARS, "{key}");
        assert!(name.starts_with(value));
    }
}

#[test]
fn a_name_cut_at_the_scan_limit_never_leaks_its_tail_later() {
    let env = Env::from_pairs([("HOME", "/home/jane"), ("USER", "jane")]);
    let (client, records) = capture(env);
    let name = format!("{}password=hunter2 /home/jane/x", "ab ".repeat(1400));
    for _ in 0..3 {
        client.record_token_usage(&name, 1, 2, 0.5);
    }
    let lines = texts(&records);
    assert_eq!(lines.len(), 3);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    for line in &lines {
        for secret in ["hunter2", "/home/jane", "jane"] {
            assert!(!line.contains(secret), "{secret} leaked: {line}");
        }
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            record["properties"]["model_name"],
            first["properties"]["model_name"]
        );
    }
}

#[test]
fn secret_spellings_are_redacted_in_every_record() {
    let (client, records) = capture(Env::empty());
    let texts_in = [
        "login --password hunter2",
        "login --token hunter2",
        "config :password => \"hunter2\"",
        "pwd=hunter2",
        "pass=hunter2",
        "passwd=hunter2",
        "password=\"hunter2",
        &format!("{} password=\"hunter2 tail\"", "A".repeat(4090)),
    ];
    for text in texts_in {
        client.record_tool_call(text, None, None, Duration::ZERO, Outcome::failure(text));
        client.record_tool_call(text, None, None, Duration::ZERO, Outcome::failure(text));
    }
    let lines = texts(&records);
    assert_eq!(lines.len(), 2 * texts_in.len());
    for line in &lines {
        assert!(!line.contains("hunter2"), "leaked: {line}");
    }
    // Near misses stay as they were.
    let (client, records) = capture(Env::empty());
    for text in ["--password-file ./p", "passes=3", "compass=north"] {
        client.record_tool_call(text, None, None, Duration::ZERO, Outcome::Success);
        let record = &testing::take(&records)[0];
        assert_eq!(record["properties"]["tool_name"], text);
    }
}

/// A 256-character name that no rule changes.
fn long_name(word: &str) -> String {
    let name: String = word.chars().cycle().take(MAX_STRING_CHARS).collect();
    assert_eq!(
        Client::builder().env(Env::empty()).build().scrub(&name),
        name
    );
    name
}

/// Records one tool call with 256-character tool, agent and session names; returns the record
/// text and the names.
fn long_tool_call(tags: &str) -> (String, Client, [String; 3]) {
    let (client, records) = capture(Env::from_pairs([("TELEMETRY_TAGS", tags)]));
    let names = [
        long_name("read file "),
        long_name("agent x "),
        long_name("session "),
    ];
    client.record_tool_call(
        &names[0],
        Some(SessionId::new(names[2].clone())),
        Some(AgentName::new(names[1].clone())),
        Duration::from_millis(5),
        Outcome::Success,
    );
    let mut lines = texts(&records);
    assert_eq!(lines.len(), 1);
    (lines.remove(0), client, names)
}

fn assert_own_fields_whole(line: &str, names: &[String; 3]) {
    assert!(line.len() <= MAX_RECORD_BYTES, "{} bytes", line.len());
    let record: Value = serde_json::from_str(line).unwrap();
    let props = &record["properties"];
    assert_eq!(props["action"], "call");
    assert_eq!(props["tool_name"], names[0].as_str());
    assert_eq!(props["agent_name"], names[1].as_str());
    assert_eq!(props["session_id"], names[2].as_str());
    assert_eq!(props["is_success"], true);
}

#[test]
fn tag_keys_of_control_characters_are_rejected() {
    // Twenty distinct 62-character keys of control characters (none of them whitespace, which
    // trimming would remove): each would escape to 6 bytes of JSON per character.
    let controls = (0x01..0x09).chain(0x0E..0x1A).map(char::from);
    let tags: Vec<String> = controls
        .take(MAX_TAGS)
        .map(|c| format!("{}=v", c.to_string().repeat(62)))
        .collect();
    let (line, client, names) = long_tool_call(&tags.join(","));
    assert!(client.tags().is_empty(), "{:?}", client.tags());
    assert_own_fields_whole(&line, &names);
}

#[test]
fn tags_are_cut_before_the_events_own_fields() {
    // Valid keys whose values escape to 6 bytes a character: twenty of them are about 15 KB.
    let value = "\u{1}".repeat(128);
    let tags: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}={value}")).collect();
    let (line, client, names) = long_tool_call(&tags.join(","));
    assert_eq!(client.tags().len(), MAX_TAGS);
    assert_own_fields_whole(&line, &names);
    let record: Value = serde_json::from_str(&line).unwrap();
    let props = record["properties"].as_object().unwrap();
    let kept: Vec<&String> = props
        .keys()
        .filter(|k| k.starts_with('t') && k[1..].parse::<usize>().is_ok())
        .collect();
    assert!(!kept.is_empty() && kept.len() < MAX_TAGS, "{kept:?}");
    for k in kept {
        assert_eq!(props[k], value.as_str(), "a kept tag is whole");
    }
}

/// A secret given as the argument after a bare flag (`--password hunter2` as two arguments)
/// is redacted: the flag rule cannot see across two strings, the client pairs them.
#[test]
fn a_secret_after_a_bare_flag_argument_is_redacted() {
    let (_, records) = telemetry_runtime::testing::capture(|| {
        telemetry_runtime::current().track_command(
            "login",
            [
                "--password",
                "hunter2",
                "--token",
                "tok-123",
                "--password-file",
                "./p",
            ],
        );
    });
    let args = records[0]["properties"]["args"].to_string();
    assert!(!args.contains("hunter2"), "{args}");
    assert!(!args.contains("tok-123"), "{args}");
    assert!(args.contains("./p"), "a near miss keeps its value: {args}");
    assert!(args.contains("--password"), "{args}");
}
