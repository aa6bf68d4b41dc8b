//! Session view benchmarks (method and figures in BENCHMARKS.md, "The session view").
//!
//! 1. `session_page/render_10k_spans`: the session page (waterfall SVG and table) drawn from
//!    a session of 10,000 spans already in memory; the page's size is printed.
//! 2. `session_page/http_10k_spans`: `GET /sessions/{id}` of that session stored as spans in
//!    SQLite (sent to `/v1/traces` first), over HTTP on 127.0.0.1 with the admin token:
//!    reading 10,000 spans, laying them out, drawing and sending the page.
//! 3. `api_session/http_10k_spans`: `GET /api/sessions/{id}` of the same session (JSON with
//!    every span).
//! 4. `sessions_list/http_page_50`: `GET /api/sessions` among 20,000 sessions (stored from
//!    records), a page deep in the list (cursor) and the failed-only filter.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use telemetry_collector::sessions::{Kind, Source, Span, detail};
use telemetry_collector::store::now_ms;
use telemetry_collector::waterfall::page::session_page;
use telemetry_collector::{BackgroundServer, Config};

const TOKEN: &str = "bench-admin-token-0123";
const SPANS: usize = 10_000;
const TRACE: &str = "5b8efff798038103d269b633813fc60c";

/// The i-th span of the big session: a command, its session, then alternating model turns
/// and calls of three tools, every 14th failing.
fn nth(i: usize, t0: i64) -> (String, Option<String>, Kind, String, i64, i64, bool) {
    let id = format!("{:016x}", i + 1);
    match i {
        0 => (
            id,
            None,
            Kind::Command,
            "run".into(),
            t0,
            t0 + SPANS as i64 * 10 + 10,
            true,
        ),
        1 => (
            id,
            Some(format!("{:016x}", 1)),
            Kind::Session,
            "invoke_agent root".into(),
            t0 + 1,
            t0 + SPANS as i64 * 10 + 5,
            true,
        ),
        _ => {
            let n = i - 2;
            let t = t0 + n as i64 * 10 + 2;
            let parent = Some(format!("{:016x}", 2));
            if n.is_multiple_of(2) {
                (
                    id,
                    parent,
                    Kind::Chat,
                    "chat claude-sonnet-4".into(),
                    t,
                    t + 4,
                    true,
                )
            } else {
                let tool = ["read_file", "list_directory", "shell"][n / 2 % 3];
                (
                    id,
                    parent,
                    Kind::Tool,
                    format!("execute_tool {tool}"),
                    t,
                    t + 6,
                    n % 14 != 13,
                )
            }
        }
    }
}

fn in_memory() -> Vec<Span> {
    (0..SPANS)
        .map(|i| {
            let (id, parent, kind, name, a, b, ok) = nth(i, 1_700_000_000_000);
            let mut s = Span::new(id, kind, name.clone()).with_times(a * 1_000_000, b * 1_000_000);
            s.parent_id = parent;
            s.is_success = ok;
            s.error = (!ok).then(|| "not found".to_owned());
            s.tool_name = name.strip_prefix("execute_tool ").map(str::to_owned);
            if kind == Kind::Chat {
                (s.input_tokens, s.output_tokens) = (Some(1200), Some(90));
            }
            s
        })
        .collect()
}

fn as_otlp(t0: i64) -> Vec<Value> {
    (0..SPANS)
        .map(|i| {
            let (id, parent, kind, name, a, b, ok) = nth(i, t0);
            let mut attrs =
                vec![json!({"key": "gen_ai.conversation.id", "value": {"stringValue": "big"}})];
            let op = match kind {
                Kind::Session => Some("invoke_agent"),
                Kind::Tool => Some("execute_tool"),
                Kind::Chat => Some("chat"),
                Kind::Command => None,
            };
            if let Some(op) = op {
                attrs.push(json!({"key": "gen_ai.operation.name", "value": {"stringValue": op}}));
            } else {
                attrs.clear();
            }
            if kind == Kind::Chat {
                attrs.push(
                    json!({"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}}),
                );
                attrs.push(
                    json!({"key": "gen_ai.usage.output_tokens", "value": {"intValue": "90"}}),
                );
            }
            let mut s = json!({"traceId": TRACE, "spanId": id, "name": name, "kind": 1,
                "startTimeUnixNano": (a * 1_000_000).to_string(),
                "endTimeUnixNano": (b * 1_000_000).to_string(), "attributes": attrs});
            if let Some(p) = parent {
                s["parentSpanId"] = json!(p);
            }
            if !ok {
                s["status"] = json!({"code": 2, "message": "not found"});
            }
            s
        })
        .collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str) -> usize {
    let mut r = agent
        .get(url)
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.body_mut().read_to_vec().unwrap().len()
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) {
    let mut r = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status(), 200, "{text}");
}

fn render(c: &mut Criterion) {
    let d = detail("big", Source::Traces, in_memory(), 0).unwrap();
    eprintln!(
        "session_page/render_10k_spans: {} bytes",
        session_page(&d, true).len()
    );
    c.bench_function("session_page/render_10k_spans", |b| {
        b.iter(|| session_page(&d, true))
    });
}

fn http(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("sessions.db"));
    config.admin_token = Some(TOKEN.into());
    let server = BackgroundServer::start(config).unwrap();
    let agent = agent();
    let spans = as_otlp(now_ms() - 3_600_000);
    for chunk in spans.chunks(2_000) {
        let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": chunk}]}]});
        post(&agent, &server.url("/v1/traces"), &body);
    }
    let mut records = Vec::new();
    let t0 = now_ms() - 7_200_000;
    for n in 0..20_000i64 {
        let id = format!("s{n:05}");
        for (k, action, ok) in [("a", "start", true), ("b", "end", n % 7 != 0)] {
            records.push(json!({"event": "session", "event_timestamp": t0 + n * 100 + i64::from(k == "b") * 50,
                "properties": {"event_id": format!("{id}-{k}"), "action": action, "session_id": id,
                "agent_name": "root", "duration_ms": 50, "is_success": ok}}));
        }
        if records.len() >= 4_000 {
            post(
                &agent,
                &server.url("/events/v1/track"),
                &json!({ "records": records }),
            );
            records.clear();
        }
    }
    let page = server.url("/sessions/big");
    eprintln!("session_page/http_10k_spans: {} bytes", get(&agent, &page));
    let api = server.url("/api/sessions/big");
    eprintln!("api_session/http_10k_spans: {} bytes", get(&agent, &api));
    let mut group = c.benchmark_group("session_view");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("session_page/http_10k_spans", |b| {
        b.iter(|| get(&agent, &page))
    });
    group.bench_function("api_session/http_10k_spans", |b| {
        b.iter(|| get(&agent, &api))
    });
    let deep = format!(
        "/api/sessions?cursor={}.{}",
        t0 + 10_000 * 100,
        "s10000"
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    for (name, path) in [
        ("sessions_list/http_page_50", "/api/sessions".to_owned()),
        ("sessions_list/http_page_50_deep", deep),
        (
            "sessions_list/http_page_50_failed",
            "/api/sessions?failed=1".to_owned(),
        ),
    ] {
        let url = server.url(&path);
        group.bench_function(name, |b| b.iter(|| get(&agent, &url)));
    }
    group.finish();
    drop(server);
}

criterion_group!(benches, render, http);
criterion_main!(benches);
