//! Sessions end to end against a real server over a SQLite file: a run sent as spans
//! (`/v1/traces`, in the shapes the runtime sends: a command's root span, `invoke_agent`,
//! `execute_tool`, `chat`) and the same run sent as cagent records give the same session in
//! Recent sessions and the same waterfall; replays are stored once; pages, filters, the
//! admin token, retention and `report --session`.

mod common;
mod session_run;

use common::*;
use serde_json::{Value, json};
use session_run::*;

const ADMIN: &str = "sessions-admin-token";

fn harness() -> Harness {
    Harness::start_with(|c| c.admin_token = Some(ADMIN.into()))
}

fn admin_get(h: &Harness, path: &str) -> (u16, String) {
    h.get(path, &[("Authorization", &format!("Bearer {ADMIN}"))])
}

fn api(h: &Harness, path: &str) -> Value {
    let (status, text) = admin_get(h, path);
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn post_traces(h: &Harness, body: &Value) -> (u16, Value) {
    let (status, text) = h.post("/v1/traces", JSON, &body.to_string(), &[]);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn find<'a>(page: &'a Value, id: &str) -> &'a Value {
    page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {page:#}"))
}

#[test]
fn a_run_sent_as_spans_and_as_records_makes_the_same_session() {
    let h = harness();
    let t0 = now_ms() - 60_000;
    assert_eq!(
        post_traces(&h, &traces_request(run_spans("sess-traces", TRACE, t0))),
        (200, json!({}))
    );
    assert_eq!(h.track(&run_records("sess-records", t0 + 5_000)).0, 200);

    let page = api(&h, "/api/sessions");
    assert_eq!(page["next"], Value::Null);
    assert_eq!(page["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(page["sessions"][0]["id"], "sess-records", "newest first");
    let (t, r) = (find(&page, "sess-traces"), find(&page, "sess-records"));
    assert_eq!(
        (&t["source"], &r["source"]),
        (&json!("traces"), &json!("records"))
    );
    for key in [
        "agent",
        "duration_ms",
        "tool_calls",
        "failed_tool_calls",
        "input_tokens",
        "output_tokens",
        "is_success",
    ] {
        assert_eq!(t[key], r[key], "{key}: {t} vs {r}");
    }
    assert_eq!(
        (&t["tool_calls"], &t["failed_tool_calls"], &t["is_success"]),
        (&json!(3), &json!(1), &json!(false))
    );
    assert_eq!(
        (&t["input_tokens"], &t["output_tokens"]),
        (&json!(225), &json!(34))
    );
    assert_eq!(t["start"], t0 + 10);
    assert_eq!(t["duration_ms"], 980);
    assert!((t["cost"].as_f64().unwrap() - 0.004).abs() < 1e-9);
    assert_eq!(
        t.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "agent",
            "cost",
            "duration_ms",
            "failed_tool_calls",
            "id",
            "input_tokens",
            "is_success",
            "output_tokens",
            "source",
            "start",
            "tool_calls"
        ]
    );

    // One session's spans, in start order, with the ids, parents and GenAI fields.
    let d = api(&h, "/api/sessions/sess-traces");
    let spans = d["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 9, "run, invoke_agent, 3 tools, 4 turns");
    // Exactly the issue's keys: the list's totals plus "spans", and twelve per span.
    let mut detail_keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    detail_keys.retain(|k| *k != "spans");
    assert_eq!(
        detail_keys,
        t.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    for key in [
        "id",
        "tool_calls",
        "failed_tool_calls",
        "is_success",
        "source",
    ] {
        assert_eq!(d[key], t[key], "{key}");
    }
    for span in spans {
        assert_eq!(
            span.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "duration_ms",
                "error",
                "input_tokens",
                "is_success",
                "kind",
                "model",
                "name",
                "output_tokens",
                "parent_id",
                "span_id",
                "start",
                "tool_name"
            ],
            "{span}"
        );
        assert_eq!(span["span_id"].as_str().unwrap().len(), 16, "{span}");
    }
    let kinds: Vec<&str> = spans.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "command", "session", "chat", "tool", "chat", "tool", "chat", "tool", "chat"
        ]
    );
    assert_eq!(spans[1]["parent_id"], spans[0]["span_id"]);
    assert_eq!(spans[0]["parent_id"], Value::Null);
    let failed = &spans[5];
    assert_eq!(
        (
            &failed["tool_name"],
            &failed["is_success"],
            &failed["error"]
        ),
        (&json!("read_file"), &json!(false), &json!("not found"))
    );
    assert_eq!(
        (&spans[2]["model"], &spans[2]["input_tokens"]),
        (&json!("scripted/small"), &json!(40))
    );
    assert_eq!(d["tool_calls"], 3);
    let starts: Vec<i64> = spans.iter().map(|s| s["start"].as_i64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");

    // The records' session: synthetic spans, the same shape minus the command.
    let dr = api(&h, "/api/sessions/sess-records");
    let rspans = dr["spans"].as_array().unwrap();
    assert_eq!(rspans.len(), 8, "{dr:#}");
    assert_eq!(rspans[0]["kind"], "session");
    assert!(
        rspans[1..]
            .iter()
            .all(|s| s["parent_id"] == rspans[0]["span_id"])
    );
    assert_eq!(rspans[4]["error"], "not found");

    // The page: one bar per span, in parent order.
    for (id, names) in [
        ("sess-traces", vec!["run", "invoke_agent root"]),
        ("sess-records", vec!["invoke_agent root"]),
    ] {
        let (status, html) = admin_get(&h, &format!("/sessions/{id}"));
        assert_eq!(status, 200, "{html}");
        let n = if id == "sess-traces" { 9 } else { 8 };
        assert_eq!(html.matches("<rect class=b").count(), n, "{id}");
        let labels: Vec<&str> = html
            .split("</title><text ")
            .skip(1)
            .map(|t| t.split('>').nth(1).unwrap().split('<').next().unwrap())
            .collect();
        let mut expected = names;
        for step in RUN {
            expected.push(match step {
                Step::Tool(tool, _) => tool,
                Step::Chat(..) => "chat scripted/small",
            });
        }
        assert_eq!(labels, expected, "{id}");
        assert!(html.contains("failed: not found</title>"));
    }
}

#[test]
fn replayed_spans_are_stored_once() {
    let h = harness();
    let body = traces_request(run_spans("s1", TRACE, now_ms() - 5_000));
    for _ in 0..3 {
        assert_eq!(post_traces(&h, &body), (200, json!({})));
    }
    let page = api(&h, "/api/sessions");
    assert_eq!(page["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &page["sessions"][0]["tool_calls"],
            &page["sessions"][0]["input_tokens"]
        ),
        (&json!(3), &json!(225))
    );
    assert_eq!(
        api(&h, "/api/sessions/s1")["spans"]
            .as_array()
            .unwrap()
            .len(),
        9
    );
    // Half of them again in one request with new ones: only the new ones count.
    let mut spans = run_spans("s1", TRACE, now_ms() - 5_000);
    spans.truncate(5);
    let mut extra = spans[3].clone();
    extra["spanId"] = json!("00000000000000ff");
    spans.push(extra);
    assert_eq!(post_traces(&h, &traces_request(spans)), (200, json!({})));
    assert_eq!(api(&h, "/api/sessions")["sessions"][0]["tool_calls"], 4);
    let conn = rusqlite::Connection::open(h.db()).unwrap();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 10);
}

#[test]
fn bad_spans_are_skipped_and_counted_and_the_rest_stored() {
    let h = harness();
    let mut spans = run_spans("s1", TRACE, now_ms() - 5_000);
    let mut bad = spans[2].clone();
    bad["spanId"] = json!("xyz");
    let mut late = spans[3].clone();
    late["spanId"] = json!("00000000000000fe");
    late["startTimeUnixNano"] = json!(((now_ms() + 2 * 86_400_000) * 1_000_000).to_string());
    spans.extend([bad, late]);
    let (status, answer) = post_traces(&h, &traces_request(spans));
    assert_eq!(status, 200);
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "2", "{answer}");
    assert!(
        answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("spanId")
    );
    assert_eq!(
        api(&h, "/api/sessions/s1")["spans"]
            .as_array()
            .unwrap()
            .len(),
        9
    );
    assert_eq!(post_traces(&h, &json!({"resourceLogs": []})).0, 400);
    assert_eq!(h.post("/v1/traces", JSON, "{", &[]).0, 400);
    assert_eq!(h.post("/v1/traces", "text/plain", "{}", &[]).0, 415);
}

#[test]
fn traces_win_over_records_of_the_same_session() {
    let h = harness();
    let t0 = now_ms() - 10_000;
    assert_eq!(h.track(&run_records("both", t0)).0, 200);
    assert_eq!(api(&h, "/api/sessions")["sessions"][0]["source"], "records");
    assert_eq!(
        post_traces(&h, &traces_request(run_spans("both", TRACE, t0))).0,
        200
    );
    let page = api(&h, "/api/sessions");
    assert_eq!(page["sessions"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["sessions"][0]["source"], "traces");
    assert_eq!(api(&h, "/api/sessions/both")["spans"][0]["kind"], "command");
}

#[test]
fn recent_sessions_are_paged_newest_first_and_filter_the_failed() {
    let h = harness();
    let t0 = now_ms() - 3_600_000;
    let mut records = Vec::new();
    for n in 0..120i64 {
        let id = format!("s{n:03}");
        let mut start = session_start(&format!("{id}-a"), "u", &id);
        start["event_timestamp"] = json!(t0 + n * 1000);
        let errors: &[&str] = if n % 3 == 0 { &["boom"] } else { &[] };
        let mut end = session_end(&format!("{id}-b"), "u", &id, errors);
        end["event_timestamp"] = json!(t0 + n * 1000 + 900);
        records.extend([start, end]);
    }
    assert_eq!(h.track(&records).0, 200);
    let mut seen = Vec::new();
    let mut path = "/api/sessions".to_owned();
    loop {
        let page = api(&h, &path);
        let list = page["sessions"].as_array().unwrap();
        assert!(list.len() <= 50);
        seen.extend(list.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(c) => path = format!("/api/sessions?cursor={c}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..120).rev().map(|n| format!("s{n:03}")).collect();
    assert_eq!(seen, expected);
    let failed = api(&h, "/api/sessions?failed=1&limit=7");
    let ids: Vec<&str> = failed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["s117", "s114", "s111", "s108", "s105", "s102", "s099"]
    );
    let next = failed["next"].as_str().unwrap();
    let more = api(&h, &format!("/api/sessions?failed=1&limit=7&cursor={next}"));
    assert_eq!(more["sessions"][0]["id"], "s096");
    assert_eq!(
        api(&h, "/api/sessions?limit=500")["sessions"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    assert_eq!(admin_get(&h, "/api/sessions?cursor=nonsense").0, 400);
    assert_eq!(admin_get(&h, "/api/sessions?limit=x").0, 400);

    // The report page: the first 50, links to each session, a link to the next page.
    let (status, html) = admin_get(&h, "/?days=7");
    assert_eq!(status, 200);
    let section = html.split("id=sessions").nth(1).unwrap();
    assert_eq!(section.matches("href=\"/sessions/").count(), 50);
    assert!(section.contains("href=\"/sessions/s119\""));
    assert!(section.contains("Older sessions"));
    // The issue's columns: time, agent, duration, tool calls, tokens, cost, outcome.
    assert!(
        section.contains(
            "<tr><th>Started (UTC)</th><th>Agent</th><th>Duration</th><th>Tool calls</th>\
             <th>Tokens</th><th>Cost</th><th>Outcome</th></tr>"
        ),
        "{section}"
    );
    let s117 = section.split("href=\"/sessions/s117\"").nth(1).unwrap();
    let row = s117.split("</tr>").next().unwrap();
    assert!(
        row.contains("<td>root</td><td>900 ms</td>") && row.ends_with("<td class=bad>failed</td>"),
        "{row}"
    );
    let (_, failed_page) = admin_get(&h, "/?days=7&failed=1");
    let section = failed_page.split("id=sessions").nth(1).unwrap();
    assert_eq!(section.matches("href=\"/sessions/").count(), 40);
    assert!(!section.contains("Older sessions"));
}

#[test]
fn sessions_need_the_admin_token() {
    let h = harness();
    assert_eq!(h.track(&run_records("s1", now_ms() - 5_000)).0, 200);
    for path in ["/api/sessions", "/api/sessions/s1"] {
        assert_eq!(h.get(path, &[]).0, 401, "{path}");
        assert_eq!(
            h.get(path, &[("Authorization", "Bearer wrong-token-wrong")])
                .0,
            401
        );
    }
    let (status, html) = h.get("/sessions/s1", &[]);
    assert_eq!(status, 401);
    assert!(html.contains("name=token") && !html.contains("<svg"));
    assert_eq!(admin_get(&h, "/sessions/s1").0, 200);
    assert_eq!(admin_get(&h, "/sessions/nope").0, 404);
    assert_eq!(admin_get(&h, "/api/sessions/nope").0, 404);
    // Wrong tokens count as failed logins here too: past 3, the address waits.
    let wrong = [("Authorization", "Bearer wrong-token-wrong")];
    let statuses: Vec<u16> = (0..5)
        .map(|_| h.get("/api/sessions/s1", &wrong).0)
        .collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[test]
fn hostile_session_ids_and_names_are_escaped_everywhere() {
    let h = harness();
    let id = "<b>evil</b>\u{202e}fdp.exe/../x?y#z";
    let mut records = run_records(id, now_ms() - 5_000);
    for r in &mut records {
        r["properties"]["agent_name"] = json!("<img src=x onerror=alert(1)>");
        if r["event"] == "tool" {
            r["properties"]["tool_name"] = json!("<script>alert(1)</script>\u{200b}");
        }
    }
    assert_eq!(h.track(&records).0, 200);
    let (_, report) = admin_get(&h, "/");
    let (_, page) = admin_get(
        &h,
        "/sessions/%3Cb%3Eevil%3C%2Fb%3E%E2%80%AEfdp.exe%2F..%2Fx%3Fy%23z",
    );
    for html in [&report, &page] {
        assert!(!html.contains("<script>alert") && !html.contains("<img src=x"));
        assert!(!html.contains('\u{202e}') && !html.contains('\u{200b}'));
    }
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\u200b"),
        "{page}"
    );
    assert!(
        report
            .contains("href=\"/sessions/%3Cb%3Eevil%3C%2Fb%3E%E2%80%AEfdp.exe%2F..%2Fx%3Fy%23z\"")
    );
}

#[test]
fn report_session_prints_the_waterfall_as_text() {
    let mut h = harness();
    let t0 = now_ms() - 5_000;
    assert_eq!(
        post_traces(&h, &traces_request(run_spans("s1", TRACE, t0))).0,
        200
    );
    h.server.take().unwrap().stop().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telemetry-collector"))
        .args(["report", "--db"])
        .arg(h.db())
        .args(["--session", "s1"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("Session s1 · agent root"), "{text}");
    assert!(text.contains("3 tool calls (1 failed)"), "{text}");
    let lines: Vec<&str> = text.lines().skip(3).collect();
    assert_eq!(lines.len(), 9, "{text}");
    assert!(lines[0].ends_with("run"), "{text}");
    assert!(lines[1].ends_with("  invoke_agent root"), "{text}");
    assert!(
        lines[5].contains("    tool read_file  FAILED: not found"),
        "{text}"
    );
    assert!(
        lines[2].contains("    chat scripted/small  [40 in / 5 out tokens]"),
        "{text}"
    );
    assert!(lines[1].contains("980 ms"), "{text}");
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_telemetry-collector"))
        .args(["report", "--db"])
        .arg(h.db())
        .args(["--session", "nope"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no session"));
}

#[test]
fn retention_deletes_old_spans_and_sessions_with_the_records() {
    let mut h = Harness::start_with(|c| {
        c.admin_token = Some(ADMIN.into());
        c.retain_days = Some(3);
    });
    let old = now_ms() - 10 * 86_400_000;
    assert_eq!(
        post_traces(&h, &traces_request(run_spans("old-t", TRACE, old))).0,
        200
    );
    assert_eq!(h.track(&run_records("old-r", old)).0, 200);
    let fresh = "0af7651916cd43dd8448eb211c80319c";
    assert_eq!(
        post_traces(
            &h,
            &traces_request(run_spans("new-t", fresh, now_ms() - 5_000))
        )
        .0,
        200
    );
    assert_eq!(
        api(&h, "/api/sessions")["sessions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    h.restart();
    let page = api(&h, "/api/sessions");
    let ids: Vec<&str> = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["new-t"]);
    assert_eq!(admin_get(&h, "/api/sessions/old-t").0, 404);
    assert_eq!(admin_get(&h, "/api/sessions/old-r").0, 404);
    let conn = rusqlite::Connection::open(h.db()).unwrap();
    let spans: i64 = conn
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(spans, 9);
}

#[test]
fn traces_in_protobuf_and_gzip_are_answered_in_kind_and_stored_once_across_encodings() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message;

    let h = harness();
    let json_body = traces_request(run_spans("s1", TRACE, now_ms() - 5_000));
    let proto = traces_protobuf(&json_body);
    let pb = [("Content-Type", "application/x-protobuf")];
    let pb_gzip = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "gzip"),
    ];
    let json_gzip = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
    ];
    let (status, ctype, body) = h.post_bytes("/v1/traces", &pb, &proto);
    assert_eq!(
        (status, ctype.as_deref()),
        (200, Some("application/x-protobuf"))
    );
    let answer = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
    assert_eq!(answer.partial_success, None);
    let session = || api(&h, "/api/sessions")["sessions"][0].clone();
    assert_eq!(
        (&session()["tool_calls"], &session()["source"]),
        (&json!(3), &json!("traces"))
    );
    // The same spans again, gzipped, and in JSON, gzipped: nothing new.
    assert_eq!(h.post_bytes("/v1/traces", &pb_gzip, &gzip(&proto)).0, 200);
    let json_bytes = json_body.to_string().into_bytes();
    let (status, _, body) = h.post_bytes("/v1/traces", &json_gzip, &gzip(&json_bytes));
    assert_eq!((status, body.as_slice()), (200, &b"{}"[..]));
    assert_eq!(session()["tool_calls"], 3);
    assert_eq!(
        api(&h, "/api/sessions/s1")["spans"]
            .as_array()
            .unwrap()
            .len(),
        9
    );
    // Skipped spans are a protobuf partial success.
    let mut bad = json_body.clone();
    bad["resourceSpans"][0]["scopeSpans"][0]["spans"][3]["startTimeUnixNano"] = json!("0");
    bad["resourceSpans"][0]["scopeSpans"][0]["spans"][3]["spanId"] = json!("00000000000000ee");
    let (status, _, body) = h.post_bytes("/v1/traces", &pb, &traces_protobuf(&bad));
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(body.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("startTimeUnixNano"),
        "{}",
        partial.error_message
    );
    // Malformed protobuf, a gzip bomb, an unknown encoding.
    assert_eq!(h.post_bytes("/v1/traces", &pb, b"\x0a\x05cut").0, 400);
    let bomb = gzip(&vec![b'{'; 4 * 1024 * 1024]);
    assert_eq!(h.post_bytes("/v1/traces", &pb_gzip, &bomb).0, 413);
    let br = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "br"),
    ];
    assert_eq!(h.post_bytes("/v1/traces", &br, b"{}").0, 415);
}

#[test]
fn traces_need_the_ingest_key_when_one_is_set() {
    let h = Harness::start_with(|c| {
        c.admin_token = Some(ADMIN.into());
        c.api_keys = vec!["ingest-key".into()];
    });
    let body = traces_request(run_spans("s1", TRACE, now_ms() - 5_000)).to_string();
    assert_eq!(h.post("/v1/traces", JSON, &body, &[]).0, 401);
    assert_eq!(
        h.post("/v1/traces", JSON, &body, &[("x-api-key", "ingest-key")])
            .0,
        200
    );
}

#[test]
fn a_ten_thousand_span_session_is_stored_whole_and_drawn_in_grouped_bars_under_a_megabyte() {
    let h = harness();
    let t0 = now_ms() - 3_600_000;
    let conv = || attr("gen_ai.conversation.id", s("big"));
    let op = |o: &str| attr("gen_ai.operation.name", s(o));
    let mut spans = vec![
        span(
            TRACE,
            "0000000000000001",
            None,
            "run",
            1,
            (t0, t0 + 200_000),
            vec![],
            None,
        ),
        span(
            TRACE,
            "0000000000000002",
            Some("0000000000000001"),
            "invoke_agent root",
            1,
            (t0 + 1, t0 + 199_000),
            vec![
                op("invoke_agent"),
                attr("gen_ai.agent.name", s("root")),
                conv(),
            ],
            None,
        ),
    ];
    // Then runs of 99 calls of one tool after each model turn; every 50th call fails.
    let mut tools = 0;
    for n in 2..10_000u32 {
        let t = t0 + 2 + i64::from(n) * 19;
        let id = format!("{:016x}", 0x1000 + n);
        let (name, attrs, error) = if n % 100 == 2 {
            let attrs = vec![
                op("chat"),
                attr("gen_ai.usage.input_tokens", i(100)),
                conv(),
            ];
            ("chat m".to_owned(), attrs, None)
        } else {
            tools += 1;
            let tool = ["read_file", "shell"][((n - 2) / 100 % 2) as usize];
            let attrs = vec![
                op("execute_tool"),
                attr("gen_ai.tool.name", s(tool)),
                conv(),
            ];
            let error = (tools % 50 == 0).then_some("boom");
            (format!("execute_tool {tool}"), attrs, error)
        };
        let parent = Some("0000000000000002");
        spans.push(span(
            TRACE,
            &id,
            parent,
            &name,
            1,
            (t, t + 15),
            attrs,
            error,
        ));
    }
    for chunk in spans.chunks(1_000) {
        assert_eq!(
            post_traces(&h, &traces_request(chunk.to_vec())),
            (200, json!({}))
        );
    }
    let row = api(&h, "/api/sessions");
    let row = find(&row, "big");
    assert_eq!(
        (&row["tool_calls"], &row["failed_tool_calls"]),
        (&json!(tools), &json!(tools / 50))
    );
    assert_eq!(
        row["input_tokens"],
        (9_998 - tools) * 100,
        "100 a model turn"
    );
    let d = api(&h, "/api/sessions/big");
    assert_eq!(d["spans"].as_array().unwrap().len(), 10_000);

    let (status, html) = admin_get(&h, "/sessions/big");
    assert_eq!(status, 200);
    assert!(html.len() <= 1_000_000, "{} bytes", html.len());
    let bars = html.matches("<rect class=b").count();
    // 2 + 100 model turns + 100 runs of one tool, each run one bar with its count.
    assert_eq!(bars, 202, "{bars} bars");
    assert_eq!(html.matches(">read_file ×99</text>").count(), 50);
    assert_eq!(html.matches(">shell ×99</text>").count(), 49);
    assert_eq!(html.matches(">shell ×97</text>").count(), 1, "the last run");
    assert!(html.contains("consecutive calls of the same tool"));
}
