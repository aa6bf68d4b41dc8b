//! The report page in a real browser: Debian's headless Chromium, driven over the Chrome
//! DevTools Protocol, signs in through the login form, loads `/` with no console errors
//! (a CSP violation or a failed load would be one), finds the charts' SVG, and saves a
//! screenshot (to `$REPORT_SCREENSHOT`, else the target tmp dir).
//!
//! Without /usr/bin/chromium: fails when `CI` is set, otherwise prints a loud skip line.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "browser-test-admin-token";

/// A CDP connection to one page session; events seen while waiting are kept.
struct Cdp {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
    events: Vec<Value>,
    deadline: Instant,
}

impl Cdp {
    fn read(&mut self) -> Value {
        loop {
            assert!(
                Instant::now() < self.deadline,
                "the browser stopped answering"
            );
            match self.ws.read() {
                Ok(Message::Text(t)) => return serde_json::from_str(&t).unwrap(),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("CDP connection: {e}"),
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let mut msg = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let m = self.read();
            if m["id"] == self.next_id {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
            self.events.push(m);
        }
    }

    fn wait_event(&mut self, method: &str) {
        if let Some(pos) = self.events.iter().position(|e| e["method"] == method) {
            self.events.remove(pos);
            return;
        }
        loop {
            let m = self.read();
            if m["method"] == method {
                return;
            }
            self.events.push(m);
        }
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Console errors, uncaught exceptions and browser log errors seen so far.
    fn errors(&self) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| {
                (e["method"] == "Runtime.consoleAPICalled" && e["params"]["type"] == "error")
                    || e["method"] == "Runtime.exceptionThrown"
                    || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
            })
            .cloned()
            .collect()
    }
}

struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn launch(profile: &Path) -> (Browser, String) {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stderr = child.stderr.take().unwrap();
    let browser = Browser(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("ws://") {
                let _ = tx.send(line[at..].trim().to_owned());
            }
        }
    });
    let ws = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("chromium prints its DevTools address");
    assert!(ws.starts_with("ws://127.0.0.1:"), "{ws}");
    (browser, ws)
}

fn connect(ws_url: &str) -> Cdp {
    let (ws, _) = tungstenite::connect(ws_url).expect("CDP connects");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    }
    Cdp {
        ws,
        next_id: 0,
        session: None,
        events: Vec::new(),
        deadline: Instant::now() + Duration::from_secs(120),
    }
}

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
