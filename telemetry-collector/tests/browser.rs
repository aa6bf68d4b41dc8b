//! The report page in a real browser: Debian's headless Chromium, driven over the Chrome
//! DevTools Protocol, signs in through the login form, loads `/` with no console errors
//! (a CSP violation or a failed load would be one), finds the charts' SVG, and saves a
//! screenshot (to `$REPORT_SCREENSHOT`, else the target tmp dir).
//!
//! Without /usr/bin/chromium: fails when `CI` is set, otherwise prints a loud skip line.

mod cdp;
mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use cdp::*;
use common::*;
use serde_json::{Value, json};

const TOKEN: &str = "browser-test-admin-token";

/// Two weeks of plausible traffic, so every chart and table has something to show.
fn seed(h: &Harness) {
    let day = 86_400_000;
    let mut records = Vec::new();
    for d in 0..14i64 {
        for n in 0..(5 + (d * 7) % 11) {
            let user = format!("user-{}", n % (3 + d % 5));
            let id = |k: &str| format!("{d}-{n}-{k}");
            let failed = (n + d) % 6 == 0;
            let mut batch = vec![
                command(
                    &id("c"),
                    &user,
                    ["run", "run", "new", "eval"][(n % 4) as usize],
                    failed.then_some("exit status 1"),
                    800 + n * 130,
                ),
                tool(&id("t1"), &user, "read_file", None, 5 + n),
                tool(
                    &id("t2"),
                    &user,
                    ["shell", "write_file"][(n % 2) as usize],
                    (n % 5 == 0).then_some("permission denied"),
                    40 + n * 9,
                ),
                token(
                    &id("k"),
                    &user,
                    ["gpt-4.1", "claude-sonnet-4"][(n % 2) as usize],
                    1200 + n * 10,
                    300,
                    0.012,
                ),
            ];
            for r in &mut batch {
                r["event_timestamp"] = json!(now_ms() - (13 - d) * day);
                r["properties"]["version"] = json!(["1.4.0", "1.3.2", "1.2.0"][(n % 3) as usize]);
                r["properties"]["os"] =
                    json!(["linux", "darwin", "windows"][((n + d) % 3) as usize]);
            }
            records.extend(batch);
        }
    }
    records.push(session_start("s-a", "user-1", "sess-a"));
    records.push(session_end(
        "s-b",
        "user-1",
        "sess-a",
        &["permission denied"],
    ));
    assert_eq!(h.track(&records).0, 200);
}

#[test]
fn the_report_renders_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMIUM} is missing on CI (.ci/run installs it)"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPED the_report_renders_in_headless_chromium: {CHROMIUM} not installed !!!!!!!!\n"
        );
        return;
    }
    let h = Harness::start_with(|c| c.admin_token = Some(TOKEN.into()));
    seed(&h);
    let profile = tempfile::tempdir().unwrap();
    let (_browser, ws) = launch(profile.path());
    let mut cdp = connect(&ws);
    let target = cdp.call("Target.createTarget", json!({"url": "about:blank"}));
    let attached = cdp.call(
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    cdp.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
    for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
        cdp.call(domain, json!({}));
    }
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );

    // Without the token: the login form. Sign in as a person would.
    cdp.call("Page.navigate", json!({"url": h.url("/?days=14")}));
    cdp.wait_event("Page.loadEventFired");
    assert_eq!(cdp.eval("document.querySelectorAll('svg').length"), 0);
    cdp.eval(&format!("document.querySelector('input[name=token]').value = '{TOKEN}'; document.querySelector('form').submit(); 1"));
    cdp.wait_event("Page.loadEventFired");
    // The login page's own 401 is logged as a failed load; judge the signed-in load alone.
    cdp.events.clear();
    cdp.call("Page.navigate", json!({"url": h.url("/?days=14")}));
    cdp.wait_event("Page.loadEventFired");

    let page = cdp.eval("JSON.stringify({svgs: document.querySelectorAll('svg').length, bars: document.querySelectorAll('svg rect').length, tables: document.querySelectorAll('table').length, title: document.title, height: document.documentElement.scrollHeight})");
    let page: Value = serde_json::from_str(page.as_str().unwrap()).unwrap();
    assert_eq!(page["title"], "Telemetry report", "{page}");
    assert!(page["svgs"].as_u64().unwrap() >= 2, "{page}");
    assert_eq!(page["bars"], 28, "14 days in each of two charts: {page}");
    assert!(page["tables"].as_u64().unwrap() >= 6, "{page}");
    let errors = cdp.errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    let height = page["height"].as_u64().unwrap().clamp(600, 4000);
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": false}),
    );
    let shot = cdp.call("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    let out = std::env::var_os("REPORT_SCREENSHOT").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report.png"),
        PathBuf::from,
    );
    std::fs::write(&out, png).unwrap();
    eprintln!("screenshot: {}", out.display());
    let _ = cdp.call("Browser.close", json!({}));
}
