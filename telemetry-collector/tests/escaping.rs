//! Small things a hostile client could use: names that pass for others (bidirectional and
//! zero-width characters), answers a browser could sniff, and an empty id.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

#[test]
fn bidi_and_zero_width_characters_in_names_are_shown_escaped() {
    let h = Harness::start();
    let spoof = "invoice\u{202e}gnp.exe";
    let hidden = "read\u{200b}_file";
    let isolate = "fail\u{2066}ed\u{feff}";
    h.track(&[
        tool("b1", "u", spoof, None, 1),
        tool("b2", "u", hidden, None, 1),
        command("b3", "u", "run", Some(isolate), 1),
    ]);
    let (status, page) = h.get("/?days=1", &[]);
    assert_eq!(status, 200);
    for raw in ['\u{202e}', '\u{200b}', '\u{2066}', '\u{feff}'] {
        assert!(!page.contains(raw), "{raw:?} shown raw");
    }
    assert!(page.contains("invoice\\u202egnp.exe"), "{page}");
    assert!(page.contains("read\\u200b_file"));
    assert!(page.contains("fail\\u2066ed\\ufeff"));
    let out = Command::new(env!("CARGO_BIN_EXE_telemetry-collector"))
        .args(["report", "--days", "1", "--db"])
        .arg(h.db())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("invoice\\u202egnp.exe") && !text.contains('\u{202e}'),
        "{text}"
    );
    assert!(text.contains("fail\\u2066ed\\ufeff"), "{text}");
    // The data itself is kept as sent: the JSON API returns it unchanged.
    assert_eq!(entry(&h.summary(1), "tools", spoof)["calls"], 1);
}

/// The `X-Content-Type-Options` header of an answer.
fn nosniff(resp: &ureq::http::Response<ureq::Body>) -> Option<String> {
    resp.headers()
        .get("x-content-type-options")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[test]
fn every_answer_says_nosniff() {
    let h = Harness::start_with(|c| {
        c.api_keys = vec!["ingest-key".into()];
        c.admin_token = Some("nosniff-admin-token".into());
        c.max_body = 2000;
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let body = json!({"records": [command("n1", "u", "run", None, 1)]}).to_string();
    let track = || agent.post(&h.url("/events/v1/track"));
    let admin = "Bearer nosniff-admin-token";
    let answers = vec![
        (
            "summary",
            agent
                .get(&h.url("/api/summary"))
                .header("Authorization", admin)
                .call(),
        ),
        (
            "page",
            agent.get(&h.url("/")).header("Authorization", admin).call(),
        ),
        ("401 page", agent.get(&h.url("/")).call()),
        ("401 api", agent.get(&h.url("/api/summary")).call()),
        ("healthz", agent.get(&h.url("/healthz")).call()),
        ("404", agent.get(&h.url("/nope")).call()),
        ("405", agent.get(&h.url("/events/v1/track")).call()),
        (
            "200 ingest",
            track()
                .header("Content-Type", JSON)
                .header("x-api-key", "ingest-key")
                .send(&body),
        ),
        (
            "400",
            track()
                .header("Content-Type", JSON)
                .header("x-api-key", "ingest-key")
                .send("{"),
        ),
        (
            "401 ingest",
            track().header("Content-Type", JSON).send(&body),
        ),
        (
            "413",
            track()
                .header("Content-Type", JSON)
                .header("x-api-key", "ingest-key")
                .send("x".repeat(3000)),
        ),
        (
            "415",
            track()
                .header("Content-Type", "text/plain")
                .header("x-api-key", "ingest-key")
                .send(&body),
        ),
        (
            "login",
            agent
                .post(&h.url("/login"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send("token=nosniff-admin-token"),
        ),
        ("logout", agent.post(&h.url("/logout")).send_empty()),
    ];
    for (what, resp) in answers {
        let resp = resp.unwrap();
        assert_eq!(
            nosniff(&resp).as_deref(),
            Some("nosniff"),
            "{what} ({})",
            resp.status()
        );
    }
}

#[test]
fn an_empty_log_record_uid_or_event_id_is_reported_as_empty() {
    let h = Harness::start();
    let records = vec![log_record(
        "cli_telemetry.command",
        true,
        vec![
            attr("log.record.uid", s("")),
            attr("cli_telemetry.action", s("run")),
        ],
    )];
    let (status, answer) = h.otlp(&otlp_request(records));
    assert_eq!(status, 200);
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("log.record.uid") && message.contains("empty"),
        "{message}"
    );
    assert!(!message.contains("not a string"), "{message}");
    let mut rec = command("x", "u", "run", None, 1);
    rec["properties"]["event_id"] = json!("");
    let (_, answer) = h.track(&[rec]);
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("event_id") && error.contains("empty"),
        "{error}"
    );
    assert_eq!(h.summary(1)["records"], 0);
}
