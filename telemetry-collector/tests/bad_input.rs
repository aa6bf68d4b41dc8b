//! Every kind of bad input gets its status and a one-line reason, stores nothing it should not,
//! and the server keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::json;

/// Sends raw bytes on a fresh connection and returns the status line and the body.
fn raw(h: &Harness, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(h.server.as_ref().unwrap().addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server may answer and close before all of the request is written.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if complete(&answer) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Whether a response with a Content-Length is complete.
fn complete(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let len = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
    });
    len.is_some_and(|n| body.len() >= n)
}

fn one_line(text: &str) {
    assert_eq!(text.trim_end().lines().count(), 1, "{text:?}");
    assert!(!text.trim().is_empty());
}

#[test]
fn malformed_json_is_400_with_one_line_and_stores_nothing() {
    let h = Harness::start();
    let valid = command("m1", "u", "run", None, 1).to_string();
    for body in [
        format!("{{\"records\": [{valid}, "),
        format!("{{\"records\": [{valid}]}} trailing"),
        "\u{0}".to_owned(),
        String::new(),
    ] {
        for path in ["/events/v1/track", "/v1/logs"] {
            let (status, text) = h.post(path, JSON, &body, &[]);
            assert_eq!(status, 400, "{path} {body:?}: {text}");
            one_line(&text);
        }
    }
    for shape in ["[]", "{}", "{\"records\": 3}", "\"records\""] {
        let (status, text) = h.post("/events/v1/track", JSON, shape, &[]);
        assert_eq!(status, 400, "{shape}: {text}");
        one_line(&text);
    }
    assert_eq!(
        h.post("/v1/logs", JSON, "{\"resourceLogs\": {}}", &[]).0,
        400
    );
    assert_eq!(h.summary(7)["records"], 0);
    assert_eq!(
        h.track(&[command("m2", "u", "run", None, 1)]).0,
        200,
        "still serving"
    );
}

#[test]
fn wrong_content_type_is_415() {
    let h = Harness::start();
    let body = json!({"records": [command("c1", "u", "run", None, 1)]}).to_string();
    for ctype in [
        "text/plain",
        "application/x-protobuf",
        "application/x-www-form-urlencoded",
    ] {
        let (status, text) = h.post("/events/v1/track", ctype, &body, &[]);
        assert_eq!(status, 415, "{ctype}");
        one_line(&text);
        if ctype != "application/x-protobuf" {
            assert_eq!(h.post("/v1/logs", ctype, "{}", &[]).0, 415);
        }
    }
    let gz = h.post(
        "/events/v1/track",
        JSON,
        &body,
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(gz.0, 415);
    assert_eq!(
        h.post(
            "/events/v1/track",
            "application/json; charset=utf-8",
            &body,
            &[]
        )
        .0,
        200
    );
    assert_eq!(h.summary(7)["records"], 1);
}

#[test]
fn an_oversized_body_is_413_without_being_read() {
    let h = Harness::start_with(|c| c.max_body = 4096);
    // Declares 100 MB and sends none of it: the answer must come anyway.
    let head = "POST /events/v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n";
    let (status, text) = raw(&h, head.as_bytes());
    assert_eq!(status, 413, "{text}");
    one_line(&text);

    // Chunked, no length declared: cut off once past the limit.
    let chunk = "x".repeat(3000);
    let mut req = String::from(
        "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for _ in 0..3 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    assert_eq!(raw(&h, req.as_bytes()).0, 413);

    // Under the limit is fine, and the server still serves.
    assert_eq!(h.track(&[command("b1", "u", "run", None, 1)]).0, 200);
    assert_eq!(h.summary(7)["records"], 1);
}

#[test]
fn the_default_limit_is_one_mib() {
    let h = Harness::start();
    // Headers only: a client still writing a refused body may see the connection reset.
    let head = format!(
        "POST /events/v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        (1 << 20) + 1
    );
    assert_eq!(raw(&h, head.as_bytes()).0, 413);
    let fits = format!(
        "{{\"records\": [], \"pad\": \"{}\"}}",
        "x".repeat((1 << 20) - 100)
    );
    assert_eq!(h.post("/events/v1/track", JSON, &fits, &[]).0, 200);
}

#[test]
fn records_missing_required_fields_are_skipped_and_counted() {
    let h = Harness::start();
    let good = command("r1", "u", "run", None, 1);
    let batch = json!({"records": [
        good, {"properties": {"event_id": "r2"}}, {"event": "command"},
        {"event": "command", "properties": {"event_id": 5}}, 17, null
    ]});
    let (status, text) = h.post("/events/v1/track", JSON, &batch.to_string(), &[]);
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(1), Some(5)),
        "{answer}"
    );
    assert!(
        answer["error"].as_str().unwrap().contains("event"),
        "{answer}"
    );
    assert_eq!(h.summary(7)["records"], 1);
}

#[test]
fn long_strings_are_capped_and_odd_types_do_not_break_anything() {
    let h = Harness::start();
    let huge = "e".repeat(50_000);
    let mut rec = command("l1", "u", "run", Some(&huge), 1);
    rec["properties"]["is_success"] = json!("no");
    rec["properties"]["user_uuid"] = json!({"nested": [1, 2]});
    let weird = tool("l2", "u", &huge, None, 7);
    // Numbers of the wrong type are rejected and counted, never half-stored.
    let mut slow = command("l3", "u", "run", None, 1);
    slow["properties"]["duration_ms"] = json!("fast");
    let (status, answer) = h.track(&[rec, weird, slow]);
    assert_eq!(status, 200);
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{answer}"
    );
    assert!(
        answer["error"].as_str().unwrap().contains("duration_ms"),
        "{answer}"
    );
    let s = h.summary(7);
    let tool = &s["tools"][0];
    assert_eq!(
        tool["name"].as_str().unwrap().chars().count(),
        telemetry_collector::record::MAX_STRING_CHARS
    );
    let conn = telemetry_collector::store::sqlite::open_read(&h.db()).unwrap();
    let err: String = conn
        .query_row("SELECT error FROM events WHERE event_id = 'l1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(err.len(), telemetry_collector::record::MAX_STRING_CHARS);
    assert_eq!(h.get("/healthz", &[]).0, 200);
}

#[test]
fn unknown_routes_and_methods_do_not_store_anything() {
    let h = Harness::start();
    assert_eq!(h.get("/events/v1/track", &[]).0, 405);
    assert_eq!(h.post("/nope", JSON, "{}", &[]).0, 404);
    assert_eq!(h.summary(7)["records"], 0);
}
