//! Slow and greedy clients over real sockets: a request head that trickles in, an idle
//! keep-alive, a body that never finishes, more connections or bodies than the caps. Each
//! is cut off by its limit, answered as the README says, counted in `/healthz` and logged,
//! and real requests keep being served.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const HEAD: &str =
    "POST /events/v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";

fn addr(h: &Harness) -> SocketAddr {
    h.server.as_ref().unwrap().addr()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

/// Whether the server closed the connection (a read sees end of file or a reset).
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Writes one byte every `every` until the server closes the connection; returns how long
/// that took, or `None` if it was still open after `limit`.
fn trickle(s: &mut TcpStream, bytes: &[u8], every: Duration, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut next = bytes.iter().cycle();
    while start.elapsed() < limit {
        if s.write_all(&[*next.next().unwrap()]).is_err() || closed(s) {
            return Some(start.elapsed());
        }
        std::thread::sleep(every);
    }
    None
}

/// Reads a whole answer (head and a body with Content-Length): status, head, body.
fn answer(s: &mut TcpStream, limit: Duration) -> (u16, String, String) {
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            if len.is_some_and(|n| body.len() >= n) {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return (status, head.to_owned(), body.to_owned());
            }
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (0, text, String::new())
}

fn shed(h: &Harness) -> Value {
    let (_, text) = h.get("/healthz", &[]);
    serde_json::from_str::<Value>(&text).unwrap()["shed"].clone()
}

fn small_limits(c: &mut telemetry_collector::Config) {
    c.limits.header_timeout = Duration::from_millis(800);
    c.limits.idle_timeout = Duration::from_millis(800);
    c.limits.body_timeout = Duration::from_millis(800);
}

#[test]
fn a_request_head_that_trickles_in_is_cut_off_at_the_header_timeout() {
    let h = Harness::start_with(small_limits);
    let mut slow = connect(addr(&h));
    let took = trickle(
        &mut slow,
        HEAD.as_bytes(),
        Duration::from_millis(100),
        Duration::from_secs(10),
    );
    let took = took.expect("a trickling head stayed open for 10 s");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    // A connection that sends nothing at all is closed as well.
    let mut silent = connect(addr(&h));
    let start = Instant::now();
    while !closed(&mut silent) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a silent connection stayed open"
        );
    }
    assert!(shed(&h)["header_timeouts"].as_u64().unwrap() >= 2);
    assert_eq!(h.track(&[command("after", "u", "run", None, 1)]).0, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let h = Harness::start_with(|c| {
        small_limits(c);
        c.limits.header_timeout = Duration::from_secs(30);
    });
    let mut s = connect(addr(&h));
    let body = json!({"records": [command("k1", "u", "run", None, 1)]}).to_string();
    let request = format!("{HEAD}Content-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(request.as_bytes()).unwrap();
    assert_eq!(answer(&mut s, Duration::from_secs(5)).0, 200);
    // Still usable right away (keep-alive) ...
    s.write_all(request.as_bytes()).unwrap();
    assert_eq!(answer(&mut s, Duration::from_secs(5)).0, 200);
    // ... and closed once idle for longer than --idle-timeout, although the header timeout
    // is 30 s.
    let start = Instant::now();
    while !closed(&mut s) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "an idle connection stayed open"
        );
    }
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_body_that_never_finishes_gets_408_at_the_body_timeout() {
    let h = Harness::start_with(small_limits);
    let mut s = connect(addr(&h));
    s.write_all(format!("{HEAD}Content-Length: 1000\r\n\r\n{{\"records\": [").as_bytes())
        .unwrap();
    let start = Instant::now();
    let (status, head, body) = answer(&mut s, Duration::from_secs(5));
    assert_eq!(status, 408, "{head}{body}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(body.contains("--body-timeout"), "{body}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(shed(&h)["body_timeouts"].as_u64().unwrap() >= 1);
}

#[test]
fn connections_over_the_cap_get_503_and_real_requests_still_get_through() {
    let h = Harness::start_with(|c| {
        small_limits(c);
        c.limits.max_connections = 8;
    });
    // Twenty clients trickle request heads, forever if they could.
    let (stop, stopped) = mpsc::channel::<()>();
    let target = addr(&h);
    let attackers = std::thread::spawn(move || {
        let mut socks: Vec<TcpStream> = (0..20).map(|_| connect(target)).collect();
        while stopped.try_recv().is_err() {
            for s in &mut socks {
                let _ = s.write_all(b"X");
            }
            // Reconnect the ones the server closed, to keep pressing.
            for s in &mut socks {
                if closed(s) {
                    *s = connect(target);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // A real client: every answer comes quickly (a 503 while the slots are taken), and its
    // batch is stored within a few header timeouts.
    let body = json!({"records": [command("real", "u", "run", None, 1)]}).to_string();
    let start = Instant::now();
    let mut statuses = Vec::new();
    loop {
        let mut s = connect(target);
        let request = format!("{HEAD}Content-Length: {}\r\n\r\n{body}", body.len());
        let _ = s.write_all(request.as_bytes());
        let t = Instant::now();
        let (status, head, text) = answer(&mut s, Duration::from_secs(5));
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "an answer took {:?}",
            t.elapsed()
        );
        if status == 503 {
            assert!(
                head.to_ascii_lowercase().contains("retry-after: 1"),
                "{head}"
            );
            assert!(text.contains("--max-connections"), "{text}");
        }
        statuses.push(status);
        if status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "never served: {statuses:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.send(()).unwrap();
    attackers.join().unwrap();
    let shed = shed(&h);
    assert!(shed["connections"].as_u64().unwrap() > 0, "{shed}");
    assert!(shed["header_timeouts"].as_u64().unwrap() > 0, "{shed}");
    assert_eq!(h.summary(1)["records"], 1);
}

#[test]
fn bodies_over_the_concurrent_cap_get_503() {
    let h = Harness::start_with(|c| {
        c.limits.max_concurrent_bodies = 2;
        c.limits.body_timeout = Duration::from_secs(20);
    });
    // Two bodies that are slow to arrive hold both slots.
    let mut slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(addr(&h));
            s.write_all(format!("{HEAD}Content-Length: 100\r\n\r\n{{").as_bytes())
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = connect(addr(&h));
    let body = json!({"records": []}).to_string();
    third
        .write_all(format!("{HEAD}Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes())
        .unwrap();
    let (status, head, text) = answer(&mut third, Duration::from_secs(5));
    assert_eq!(status, 503, "{head}{text}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert!(text.contains("--max-concurrent-bodies"), "{text}");
    assert!(shed(&h)["bodies"].as_u64().unwrap() >= 1);
    // Once a slot is free, bodies are read again.
    for s in &mut slow {
        let _ = s.write_all(format!("\"records\": []}}{}", " ".repeat(86)).as_bytes());
        assert_eq!(answer(s, Duration::from_secs(5)).0, 200);
    }
    assert_eq!(h.track(&[command("b", "u", "run", None, 1)]).0, 200);
}

/// `serve` as a process: the child, its address, and its stderr lines as they come.
fn spawn(
    args: &[&str],
    db: &std::path::Path,
    shell_prefix: Option<&str>,
) -> (Child, String, mpsc::Receiver<String>) {
    let bin = env!("CARGO_BIN_EXE_telemetry-collector");
    let mut cmd = match shell_prefix {
        Some(prefix) => {
            let mut c = Command::new("sh");
            let mut line = format!(
                "{prefix}; exec '{bin}' serve --listen 127.0.0.1:0 --db '{}'",
                db.display()
            );
            for a in args {
                line.push_str(&format!(" '{a}'"));
            }
            c.args(["-c", &line]);
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.args(["serve", "--listen", "127.0.0.1:0", "--db"])
                .arg(db)
                .args(args);
            c
        }
    };
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TELEMETRY_COLLECTOR_") {
            cmd.env_remove(key);
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
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, addr, rx)
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn post(addr: &str, body: &str) -> Option<u16> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    agent
        .post(&format!("http://{addr}/events/v1/track"))
        .header("Content-Type", JSON)
        .send(body)
        .ok()
        .map(|r| r.status().as_u16())
}

#[test]
fn under_ulimit_128_150_trickling_sockets_do_not_starve_real_requests_and_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, lines) = spawn(
        &["--header-timeout", "1"],
        &dir.path().join("u.db"),
        Some("ulimit -n 128"),
    );
    let _kill = Kill(child);
    let target: SocketAddr = addr.parse().unwrap();
    // 150 sockets sending a byte every 5 s, as in the issue (faster here: every 0.5 s).
    let mut socks: Vec<TcpStream> = (0..150)
        .filter_map(|_| TcpStream::connect(target).ok())
        .collect();
    let start = Instant::now();
    let mut served = 0;
    for n in 0..10 {
        for s in &mut socks {
            let _ = s.write_all(b"G");
        }
        let body = json!({"records": [command(&format!("u{n}"), "u", "run", None, 1)]}).to_string();
        // Every real request is answered; shed ones get 503 and are retried like a client would.
        let mut tries = 0;
        loop {
            let t = Instant::now();
            let status = post(&addr, &body);
            assert!(
                t.elapsed() < Duration::from_secs(4),
                "a request hung for {:?}",
                t.elapsed()
            );
            tries += 1;
            match status {
                Some(200) => {
                    served += 1;
                    break;
                }
                _ if tries < 20 => std::thread::sleep(Duration::from_millis(100)),
                other => panic!("request {n} never served: {other:?}"),
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(served, 10);
    assert!(start.elapsed() < Duration::from_secs(60));
    // Shedding was logged, naming the flag.
    let logged: Vec<String> = lines.try_iter().collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("shed") && l.contains("--max-connections")),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|l| l.contains("shed") && l.contains("--header-timeout")),
        "{logged:?}"
    );
}
