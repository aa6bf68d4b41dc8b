//! Debian's headless Chromium driven over the Chrome DevTools Protocol (a WebSocket), for
//! the browser tests of the report and session pages.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A CDP connection to one page session; events seen while waiting are kept.
pub struct Cdp {
    pub ws: WebSocket<MaybeTlsStream<TcpStream>>,
    pub next_id: u64,
    pub session: Option<String>,
    pub events: Vec<Value>,
    pub deadline: Instant,
}

impl Cdp {
    pub fn read(&mut self) -> Value {
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

    pub fn call(&mut self, method: &str, params: Value) -> Value {
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

    pub fn wait_event(&mut self, method: &str) {
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

    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Console errors, uncaught exceptions and browser log errors seen so far.
    pub fn errors(&self) -> Vec<Value> {
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

pub struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn launch(profile: &Path) -> (Browser, String) {
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

pub fn connect(ws_url: &str) -> Cdp {
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

/// Whether the browser is there; without it a test fails on CI (`.ci/run` installs it)
/// and is skipped loudly elsewhere.
pub fn chromium_or_skip(test: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} is missing on CI (.ci/run installs it)"
    );
    eprintln!("\n!!!!!!!! SKIPPED {test}: {CHROMIUM} not installed !!!!!!!!\n");
    false
}

/// A new page (1280 × 900) with the page, runtime and log events on.
pub fn new_page(ws: &str) -> Cdp {
    let mut cdp = connect(ws);
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
    cdp
}

impl Cdp {
    /// Loads `url` and waits for its load event.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_event("Page.loadEventFired");
    }

    /// Signs in through the login form `url` shows (as a person would); the login page's
    /// own 401, logged as a failed load, is forgotten.
    pub fn sign_in(&mut self, url: &str, token: &str) {
        self.open(url);
        self.eval(&format!(
            "document.querySelector('input[name=token]').value = '{token}'; \
             document.querySelector('form').submit(); 1"
        ));
        self.wait_event("Page.loadEventFired");
        self.events.clear();
    }

    /// A PNG of the whole page, at most `max_height` pixels tall.
    pub fn screenshot(&mut self, max_height: u64) -> Vec<u8> {
        use base64::Engine as _;
        let height = self
            .eval("document.documentElement.scrollHeight")
            .as_u64()
            .unwrap_or(900)
            .clamp(600, max_height);
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}
