//! The session page in a real browser (Debian's headless Chromium over the DevTools
//! Protocol): signed in, Recent sessions on the report links to the session, whose page
//! loads with no console errors (a CSP violation or a failed load would be one), draws one
//! bar per span in parent order with a table of the same spans, and is saved as a
//! screenshot (to `$SESSION_SCREENSHOT`, else the target tmp dir; `docs/session.png` is one).

mod cdp;
mod common;
mod session_run;

use std::path::PathBuf;

use cdp::*;
use common::*;
use serde_json::{Value, json};
use session_run::{TRACE, span, traces_request};

const TOKEN: &str = "browser-session-admin-token";

/// An agent run with a sub-agent: the root agent reads two files (one fails), hands a task
/// to `helper` (whose own model turn and tool call nest under `transfer_task`), answers.
fn rich_run(session: &str, t0: i64) -> Vec<Value> {
    let conv = || attr("gen_ai.conversation.id", s(session));
    let op = |o: &str| attr("gen_ai.operation.name", s(o));
    let agent = |a: &str| attr("gen_ai.agent.name", s(a));
    let chat = |id: &str, parent: &str, who: &str, (a, b): (i64, i64), (i_, o): (i64, i64)| {
        span(
            TRACE,
            id,
            Some(parent),
            "chat claude-sonnet-4",
            3,
            (t0 + a, t0 + b),
            vec![
                op("chat"),
                agent(who),
                conv(),
                attr("gen_ai.request.model", s("claude-sonnet-4")),
                attr("gen_ai.provider.name", s("anthropic")),
                attr("gen_ai.usage.input_tokens", i(i_)),
                attr("gen_ai.usage.output_tokens", i(o)),
                json!({"key": "cli_telemetry.cost", "value": {"doubleValue": 0.0042}}),
            ],
            None,
        )
    };
    let tool =
        |id: &str, parent: &str, who: &str, name: &str, (a, b): (i64, i64), err: Option<&str>| {
            span(
                TRACE,
                id,
                Some(parent),
                &format!("execute_tool {name}"),
                1,
                (t0 + a, t0 + b),
                vec![
                    op("execute_tool"),
                    attr("gen_ai.tool.name", s(name)),
                    agent(who),
                    conv(),
                ],
                err,
            )
        };
    vec![
        span(
            TRACE,
            "00000000000000a1",
            None,
            "run",
            1,
            (t0, t0 + 4200),
            vec![],
            None,
        ),
        span(
            TRACE,
            "00000000000000a2",
            Some("00000000000000a1"),
            "invoke_agent root",
            1,
            (t0 + 15, t0 + 4150),
            vec![op("invoke_agent"), agent("root"), conv()],
            None,
        ),
        chat(
            "00000000000000b1",
            "00000000000000a2",
            "root",
            (30, 820),
            (1480, 96),
        ),
        tool(
            "00000000000000b2",
            "00000000000000a2",
            "root",
            "read_file",
            (830, 870),
            None,
        ),
        chat(
            "00000000000000b3",
            "00000000000000a2",
            "root",
            (880, 1650),
            (2210, 120),
        ),
        tool(
            "00000000000000b4",
            "00000000000000a2",
            "root",
            "read_file",
            (1660, 1668),
            Some("No such file or directory (os error 2)"),
        ),
        chat(
            "00000000000000b5",
            "00000000000000a2",
            "root",
            (1680, 2300),
            (2350, 88),
        ),
        tool(
            "00000000000000b6",
            "00000000000000a2",
            "root",
            "transfer_task",
            (2310, 3500),
            None,
        ),
        chat(
            "00000000000000c1",
            "00000000000000b6",
            "helper",
            (2330, 3100),
            (640, 210),
        ),
        tool(
            "00000000000000c2",
            "00000000000000b6",
            "helper",
            "list_directory",
            (3110, 3180),
            None,
        ),
        chat(
            "00000000000000b7",
            "00000000000000a2",
            "root",
            (3510, 4120),
            (2900, 310),
        ),
    ]
}

#[test]
fn the_session_page_renders_in_headless_chromium() {
    if !chromium_or_skip("the_session_page_renders_in_headless_chromium") {
        return;
    }
    let h = Harness::start_with(|c| c.admin_token = Some(TOKEN.into()));
    let t0 = now_ms() - 120_000;
    let body = traces_request(rich_run("7f3c9a2e-run-0412", t0));
    assert_eq!(h.post("/v1/traces", JSON, &body.to_string(), &[]).0, 200);
    assert_eq!(
        h.track(&session_run::run_records(
            "older-records-session",
            t0 - 60_000
        ))
        .0,
        200
    );

    let profile = tempfile::tempdir().unwrap();
    let (_browser, ws) = launch(profile.path());
    let mut cdp = new_page(&ws);
    cdp.sign_in(&h.url("/"), TOKEN);
    cdp.open(&h.url("/"));
    // Recent sessions lists both, newest first; its first link opens the waterfall.
    let rows = cdp.eval("document.querySelectorAll('#sessions a[href^=\"/sessions/\"]').length");
    assert_eq!(rows, 2);
    cdp.eval("document.querySelector('#sessions a[href^=\"/sessions/\"]').click(); 1");
    cdp.wait_event("Page.loadEventFired");
    let page = cdp.eval(
        "JSON.stringify({path: location.pathname, title: document.title, \
         bars: [...document.querySelectorAll('svg rect.b')].length, \
         labels: [...document.querySelectorAll('svg g > text:first-of-type')].map(t => t.textContent), \
         failed: [...document.querySelectorAll('svg rect.b[fill=\"#e03131\"]')].length, \
         rows: document.querySelectorAll('table tr').length - 1, \
         tip: [...document.querySelectorAll('svg g > title')].map(t => t.textContent).find(t => t.includes('failed:')), \
         width: document.querySelector('svg').getBoundingClientRect().width})",
    );
    let page: Value = serde_json::from_str(page.as_str().unwrap()).unwrap();
    assert_eq!(page["path"], "/sessions/7f3c9a2e-run-0412", "{page}");
    assert_eq!(page["title"], "Session 7f3c9a2e-run-0412 · Telemetry");
    assert_eq!(page["bars"], 11, "one bar per span: {page}");
    assert_eq!(page["rows"], 11, "a table row per bar: {page}");
    assert_eq!(
        page["labels"],
        json!([
            "run",
            "invoke_agent root",
            "chat claude-sonnet-4",
            "read_file",
            "chat claude-sonnet-4",
            "read_file",
            "chat claude-sonnet-4",
            "transfer_task",
            "chat claude-sonnet-4",
            "list_directory",
            "chat claude-sonnet-4"
        ]),
        "parent order: {page}"
    );
    assert_eq!(page["failed"], 1);
    assert!(
        page["tip"]
            .as_str()
            .unwrap()
            .contains("No such file or directory")
    );
    assert!(page["width"].as_f64().unwrap() > 1000.0, "{page}");
    let errors = cdp.errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    let png = cdp.screenshot(2000);
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    let out = std::env::var_os("SESSION_SCREENSHOT").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("session.png"),
        PathBuf::from,
    );
    std::fs::write(&out, png).unwrap();
    eprintln!("screenshot: {}", out.display());
    let _ = cdp.call("Browser.close", json!({}));
}
