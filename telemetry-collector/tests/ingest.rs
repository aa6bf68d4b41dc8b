//! Ingest over real HTTP into a real SQLite file: both formats, exactly-once, API keys.

mod common;

use common::*;
use serde_json::{Value, json};

fn mixed_batch() -> Vec<Value> {
    vec![
        session_start("e1", "u1", "s1"),
        tool("e2", "u1", "read_file", None, 10),
        tool("e3", "u1", "read_file", Some("not found"), 30),
        token("e4", "u1", "gpt-x", 100, 20, 0.25),
        session_end("e5", "u1", "s1", &["not found"]),
        command("e6", "u1", "run", None, 1000),
        command("e7", "u2", "run", Some("exit status 2"), 3000),
        command("e8", "u2", "version", None, 5),
    ]
}

#[test]
fn cagent_batch_is_stored_and_summarized() {
    let h = Harness::start();
    let (status, answer) = h.track(&mixed_batch());
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"accepted": 8, "duplicates": 0, "rejected": 0})
    );

    let s = h.summary(7);
    assert_eq!(
        (s["records"].as_u64(), s["installs"].as_u64()),
        (Some(8), Some(2))
    );
    let run = entry(&s, "commands", "run");
    assert_eq!(
        (run["calls"].as_u64(), run["failures"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (run["p50_ms"].as_i64(), run["p95_ms"].as_i64()),
        (Some(1000), Some(3000))
    );
    let read = entry(&s, "tools", "read_file");
    assert_eq!(
        (read["calls"].as_u64(), read["failures"].as_u64()),
        (Some(2), Some(1))
    );
    let model = entry(&s, "models", "gpt-x");
    assert_eq!(model["input_tokens"], 100);
    assert_eq!(model["output_tokens"], 20);
    assert_eq!(model["cost"], 0.25);
    assert_eq!(s["sessions"]["count"], 1);
    assert_eq!(s["sessions"]["ended"], 1);
    assert_eq!(s["sessions"]["failed"], 1);
    assert_eq!(s["sessions"]["tool_calls"], 2);
    assert_eq!(s["sessions"]["errors"], 1);
    let errors = s["errors"].as_array().unwrap();
    assert!(
        errors.contains(&json!({"text": "not found", "count": 1})),
        "{errors:?}"
    );
    assert!(
        errors.contains(&json!({"text": "exit status 2", "count": 1})),
        "{errors:?}"
    );
    assert_eq!(s["versions"], json!([{"name": "1.2.3", "installs": 2}]));
    assert_eq!(s["os"], json!([{"name": "linux", "installs": 2}]));
    let today = s["installs_per_day"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(today["count"], 2);
    assert_eq!(
        s["commands_per_day"].as_array().unwrap().last().unwrap()["count"],
        3
    );
}

#[test]
fn a_replayed_batch_stores_nothing_new_and_still_answers_200() {
    let h = Harness::start();
    assert_eq!(h.track(&mixed_batch()).1["accepted"], 8);
    let (status, answer) = h.track(&mixed_batch());
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"accepted": 0, "duplicates": 8, "rejected": 0})
    );
    // A duplicate inside one batch counts once too.
    let rec = command("e9", "u3", "run", None, 1);
    assert_eq!(
        h.track(&[rec.clone(), rec]).1,
        json!({"accepted": 1, "duplicates": 1, "rejected": 0})
    );
    assert_eq!(h.summary(7)["records"], 9);
}

#[test]
fn records_without_event_id_get_a_deterministic_id_and_dedupe() {
    let h = Harness::start();
    let mut rec = command("x", "u1", "run", None, 5);
    rec["properties"]
        .as_object_mut()
        .unwrap()
        .remove("event_id");
    let mut other = rec.clone();
    other["properties"]["duration_ms"] = json!(6);
    assert_eq!(h.track(&[rec.clone(), other]).1["accepted"], 2);
    assert_eq!(h.track(&[rec]).1["duplicates"], 1);
    assert_eq!(h.summary(7)["records"], 2);
}

#[test]
fn dropped_records_are_summed() {
    let h = Harness::start();
    let mut rec = command("d1", "u1", "run", None, 5);
    rec["properties"]["dropped_records"] = json!(7);
    let mut rec2 = command("d2", "u1", "run", None, 5);
    rec2["properties"]["dropped_records"] = json!(3);
    h.track(&[rec, rec2]);
    assert_eq!(h.summary(7)["dropped_records"], 10);
}

/// One fixture per event kind, built per the OTLP mapping.
fn otlp_fixtures() -> Vec<Value> {
    vec![
        log_record(
            "session.start",
            true,
            vec![
                attr("log.record.uid", s("o1")),
                attr("enduser.pseudo.id", s("ou1")),
                attr("session.id", s("os1")),
                attr("gen_ai.agent.name", s("root")),
                attr("cli_telemetry.source", s("cagent")),
            ],
        ),
        log_record(
            "cli_telemetry.tool",
            false,
            vec![
                attr("log.record.uid", s("o2")),
                attr("enduser.pseudo.id", s("ou1")),
                attr("session.id", s("os1")),
                attr("gen_ai.agent.name", s("root")),
                attr("gen_ai.tool.name", s("write_file")),
                attr("gen_ai.operation.name", s("execute_tool")),
                attr("cli_telemetry.action", s("call")),
                attr("cli_telemetry.duration_ms", i(40)),
                attr("cli_telemetry.is_success", json!({"boolValue": false})),
                attr("error.message", s("permission denied")),
                attr("error.type", s("_OTHER")),
            ],
        ),
        log_record(
            "cli_telemetry.token",
            true,
            vec![
                attr("log.record.uid", s("o3")),
                attr("enduser.pseudo.id", s("ou1")),
                attr("session.id", s("os1")),
                attr("gen_ai.request.model", s("claude-y")),
                attr("gen_ai.operation.name", s("chat")),
                attr("cli_telemetry.action", s("usage")),
                attr("gen_ai.usage.input_tokens", i(300)),
                attr("gen_ai.usage.output_tokens", i(40)),
                attr("cli_telemetry.total_tokens", i(340)),
                attr("cli_telemetry.cost", json!({"doubleValue": 1.5})),
            ],
        ),
        log_record(
            "session.end",
            false,
            vec![
                attr("log.record.uid", s("o4")),
                attr("enduser.pseudo.id", s("ou1")),
                attr("session.id", s("os1")),
                attr("gen_ai.agent.name", s("root")),
                attr("cli_telemetry.duration_ms", i(2000)),
                attr("cli_telemetry.tool_calls", i(1)),
                attr("cli_telemetry.error_count", i(1)),
                attr("cli_telemetry.is_success", json!({"boolValue": false})),
                attr(
                    "cli_telemetry.errors",
                    json!({"arrayValue": {"values": [s("permission denied")]}}),
                ),
                attr("error.type", s("_OTHER")),
            ],
        ),
        log_record(
            "cli_telemetry.command",
            true,
            vec![
                attr("log.record.uid", s("o5")),
                attr("enduser.pseudo.id", s("ou2")),
                attr("cli_telemetry.action", s("run")),
                attr("cli_telemetry.duration_ms", i(70)),
                attr("cli_telemetry.is_success", json!({"boolValue": true})),
                attr(
                    "cli_telemetry.args",
                    json!({"arrayValue": {"values": [s("--fast")]}}),
                ),
                attr("cli_telemetry.version", s("1.0.0")),
                attr("cli_telemetry.os", s("linux")),
                attr("cli_telemetry.team", s("blue")),
            ],
        ),
    ]
}

#[test]
fn otlp_logs_map_back_to_the_same_rows() {
    let h = Harness::start();
    let mut fixtures = otlp_fixtures();
    let ms = now_ms() - 5000;
    fixtures[4]["timeUnixNano"] = json!(format!("{}", ms * 1_000_000 + 999_999));
    let (status, answer) = h.otlp(&otlp_request(fixtures));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("partialSuccess").is_none(), "{answer}");

    let s = h.summary(7);
    assert_eq!(
        (s["records"].as_u64(), s["installs"].as_u64()),
        (Some(5), Some(2))
    );
    let tool = entry(&s, "tools", "write_file");
    assert_eq!(
        (
            tool["calls"].as_u64(),
            tool["failures"].as_u64(),
            tool["p50_ms"].as_i64()
        ),
        (Some(1), Some(1), Some(40))
    );
    let model = entry(&s, "models", "claude-y");
    assert_eq!(
        (
            model["input_tokens"].as_i64(),
            model["output_tokens"].as_i64()
        ),
        (Some(300), Some(40))
    );
    assert_eq!(model["cost"], 1.5);
    assert_eq!(s["sessions"]["count"], 1);
    assert_eq!(s["sessions"]["failed"], 1);
    assert_eq!(s["sessions"]["errors"], 1);
    assert_eq!(entry(&s, "commands", "run")["p95_ms"], 70);
    assert_eq!(
        s["errors"],
        json!([{"text": "permission denied", "count": 1}])
    );
    // Record-level version and OS win; the resource fills them in otherwise.
    let versions = s["versions"].as_array().unwrap();
    assert!(
        versions.contains(&json!({"name": "1.0.0", "installs": 1})),
        "{versions:?}"
    );
    assert!(
        versions.contains(&json!({"name": "9.9.9", "installs": 1})),
        "{versions:?}"
    );
    assert!(
        s["os"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "darwin", "installs": 1}))
    );

    // The stored record is the canonical one, unknown attributes kept.
    let rec = stored(&h, "o5");
    assert_eq!(rec["event"], "command");
    assert_eq!(rec["source"], "cagent");
    assert_eq!(rec["event_timestamp"], ms);
    assert_eq!(rec["properties"]["team"], "blue");
    assert_eq!(rec["properties"]["args"], json!(["--fast"]));
    assert_eq!(rec["properties"]["user_uuid"], "ou2");
    assert!(rec["properties"].get("error.type").is_none());
}

/// The stored JSON of one record, read from the file the server committed to.
fn stored(h: &Harness, id: &str) -> Value {
    let conn = telemetry_collector::store::sqlite::open_read(&h.db()).unwrap();
    let json: String = conn
        .query_row("SELECT json FROM events WHERE event_id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

#[test]
fn otlp_replay_is_deduplicated() {
    let h = Harness::start();
    let body = otlp_request(otlp_fixtures());
    assert_eq!(h.otlp(&body).0, 200);
    let (status, answer) = h.otlp(&body);
    assert_eq!((status, answer), (200, json!({})));
    assert_eq!(h.summary(7)["records"], 5);
}

#[test]
fn otlp_records_without_uid_are_partial_success() {
    let h = Harness::start();
    let mut records = otlp_fixtures();
    records.push(log_record(
        "cli_telemetry.command",
        true,
        vec![attr("cli_telemetry.action", s("x"))],
    ));
    records.push(json!({"attributes": [attr("log.record.uid", s("no-name"))]}));
    let (status, answer) = h.otlp(&otlp_request(records));
    assert_eq!(status, 200);
    assert_eq!(
        answer["partialSuccess"]["rejectedLogRecords"], "2",
        "{answer}"
    );
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("log.record.uid"), "{message}");
    assert_eq!(h.summary(7)["records"], 5);
}

#[test]
fn api_keys_guard_ingest_in_both_header_styles() {
    let h = Harness::start_with(|c| c.api_keys = vec!["key-a".into(), "key-b".into()]);
    let body = json!({"records": [command("k1", "u", "run", None, 1)]}).to_string();
    let (status, text) = h.post("/events/v1/track", JSON, &body, &[]);
    assert_eq!(status, 401, "{text}");
    assert_eq!(text.lines().count(), 1);
    assert_eq!(
        h.post("/events/v1/track", JSON, &body, &[("x-api-key", "wrong")])
            .0,
        401
    );
    assert_eq!(h.post("/v1/logs", JSON, "{}", &[]).0, 401);
    assert_eq!(h.summary(7)["records"], 0, "nothing stored without a key");
    assert_eq!(
        h.post("/events/v1/track", JSON, &body, &[("x-api-key", "key-a")])
            .0,
        200
    );
    let (status, text) = h.post(
        "/events/v1/track",
        JSON,
        &body,
        &[("Authorization", "Bearer key-b")],
    );
    assert_eq!(
        (status, text.contains("\"duplicates\":1")),
        (200, true),
        "{text}"
    );
    assert_eq!(h.summary(7)["records"], 1);
}
