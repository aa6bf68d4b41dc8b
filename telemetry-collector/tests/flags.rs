//! Every `serve` limit and login setting the crate README lists reaches the server from its
//! flag and, separately, from its `TELEMETRY_COLLECTOR_…` variable: the real binary on
//! 127.0.0.1 with small values, each then observed as a client sees it, well before its
//! default would act (so a flag that is parsed but not applied fails here).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const ADMIN: &str = "flags-admin-token-0123";

/// Each setting: its flag, its variable, the value given (defaults: 1048576, 10, 30, 30,
/// 1024, 32, 1000, off, 86400).
const SETTINGS: [(&str, &str, &str); 9] = [
    ("--max-body", "MAX_BODY", "2000"),
    ("--header-timeout", "HEADER_TIMEOUT", "1.5"),
    ("--body-timeout", "BODY_TIMEOUT", "2.5"),
    ("--idle-timeout", "IDLE_TIMEOUT", "1"),
    ("--max-connections", "MAX_CONNECTIONS", "6"),
    ("--max-concurrent-bodies", "MAX_CONCURRENT_BODIES", "1"),
    ("--max-names-per-day", "MAX_NAMES_PER_DAY", "2"),
    ("--secure-cookies", "SECURE_COOKIES", "1"),
    ("--session-ttl", "SESSION_TTL", "7"),
];

/// A `serve` process: killed when dropped.
struct Serve {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(from_env: bool) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telemetry-collector"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TELEMETRY_COLLECTOR_") {
            cmd.env_remove(key);
        }
    }
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        ADMIN,
        "--db",
    ])
    .arg(dir.path().join("flags.db"));
    for (flag, var, value) in SETTINGS {
        if from_env {
            cmd.env(format!("TELEMETRY_COLLECTOR_{var}"), value);
        } else if flag == "--secure-cookies" {
            cmd.arg(flag);
        } else {
            cmd.args([flag, value]);
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    Serve {
        child,
        addr,
        _dir: dir,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn connect(s: &Serve) -> TcpStream {
    let c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    c
}

/// Whether the server closed the connection (end of file or a reset; any answer is read).
fn closed(c: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// Everything the server sends until it closes the connection or `limit` passes.
fn read_answer(c: &mut TcpStream, limit: Duration) -> String {
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !bytes.is_empty() && String::from_utf8_lossy(&bytes).contains("\r\n\r\n") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn track(s: &Serve, body: &str) -> (u16, String) {
    let mut r = agent()
        .post(&format!("http://{}/events/v1/track", s.addr))
        .header("Content-Type", JSON)
        .send(body)
        .unwrap();
    (
        r.status().as_u16(),
        r.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn every_setting_applies(s: &Serve) {
    // --max-body 2000: a 2,100-byte body is 413.
    let big = json!({"records": [], "pad": "x".repeat(2080)}).to_string();
    assert_eq!(track(s, &big).0, 413);

    // --max-names-per-day 2: the third tool name of the day is counted under "(other)".
    let tools: Vec<Value> = ["alpha", "beta", "gamma"]
        .iter()
        .enumerate()
        .map(|(n, name)| tool(&format!("t{n}"), "u", name, None, 5))
        .collect();
    let (status, answer) = track(s, &json!({ "records": tools }).to_string());
    assert_eq!(status, 200, "{answer}");
    let text = agent()
        .get(&format!("http://{}/api/summary?days=1", s.addr))
        .header("Authorization", &format!("Bearer {ADMIN}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let summary: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = summary["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"(other)") && !names.contains(&"gamma"),
        "{names:?}"
    );

    // --secure-cookies and --session-ttl 7: the login cookie.
    let resp = agent()
        .post(&format!("http://{}/login", s.addr))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={ADMIN}"))
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("Max-Age=7") && cookie.ends_with("; Secure"),
        "{cookie}"
    );

    // --max-connections 6: with six open, more get 503 naming the flag. (Three more, not one:
    // a connection of the steps above may still count until the server sees it closed.)
    std::thread::sleep(Duration::from_millis(300));
    let held: Vec<TcpStream> = (0..6).map(|_| connect(s)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let answers: Vec<String> = (0..3)
        .map(|_| {
            let mut more = connect(s);
            more.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            more
        })
        .collect::<Vec<_>>()
        .iter_mut()
        .map(|c| read_answer(c, Duration::from_secs(5)))
        .collect();
    let refused = answers
        .iter()
        .find(|a| a.starts_with("HTTP/1.1 503"))
        .unwrap_or_else(|| panic!("none refused: {answers:#?}"));
    assert!(refused.contains("--max-connections"), "{refused}");
    assert!(
        refused.contains("x-content-type-options: nosniff"),
        "{refused}"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));

    // --header-timeout 1.5: a head trickling in is cut off after 1.5 s, not 10.
    let mut slow = connect(s);
    let start = Instant::now();
    let head = b"POST /events/v1/track HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut bytes = head.iter().chain(std::iter::repeat(&b'a'));
    while !closed(&mut slow) {
        let _ = slow.write_all(&[*bytes.next().unwrap()]);
        assert!(start.elapsed() < Duration::from_secs(8), "head still open");
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(
        start.elapsed() > Duration::from_millis(1200),
        "{:?}",
        start.elapsed()
    );

    // --idle-timeout 1: a keep-alive connection with nothing under way is closed, not after 30 s.
    let mut idle = connect(s);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let first = read_answer(&mut idle, Duration::from_secs(5));
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let start = Instant::now();
    while !closed(&mut idle) {
        assert!(start.elapsed() < Duration::from_secs(8), "idle still open");
    }
    assert!(
        start.elapsed() > Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );

    // --body-timeout 2.5 and --max-concurrent-bodies 1: a body that stops holds the only
    // slot, so another body waits 1 s and gets 503; the stalled one gets 408, not after 30 s.
    let mut stalled = connect(s);
    stalled
        .write_all(
            b"POST /events/v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .unwrap();
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let (status, text) = track(s, r#"{"records": []}"#);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("--max-concurrent-bodies"), "{text}");
    let timed_out = read_answer(&mut stalled, Duration::from_secs(10));
    assert!(timed_out.starts_with("HTTP/1.1 408"), "{timed_out}");
    assert!(
        timed_out.contains("x-content-type-options: nosniff"),
        "{timed_out}"
    );
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(9)).contains(&start.elapsed()),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        track(s, r#"{"records": []}"#).0,
        200,
        "the slot is free again"
    );
}

#[test]
fn every_limit_and_login_setting_applies_from_its_flag() {
    every_setting_applies(&serve(false));
}

#[test]
fn every_limit_and_login_setting_applies_from_its_environment_variable() {
    every_setting_applies(&serve(true));
}
