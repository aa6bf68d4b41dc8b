//! Benchmarks 3 and 4: delivery over HTTP to a collector on 127.0.0.1.
//!
//! 3. Synchronous delivery: `#[cli_telemetry::track_tool]` with a client that POSTs each record to
//!    a real HTTP/1.1 collector on 127.0.0.1 (keep-alive), against a lower bound that writes
//!    the very request bytes the client sent (captured by the collector) on a raw `TcpStream`
//!    and reads the answer. Measured twice for the client: without a config dir, and with one
//!    (the outbox is checked under its file lock at every send, as in a real tool). Two more
//!    lines explain the distance: the same bytes written as ureq writes them (head, then body:
//!    two TCP sends), and ureq alone POSTing the same body (no timeouts, so no resolver thread).
//!    Bars: median at most 1.6x the raw lower bound; one TCP connection for the whole run.
//! 4. Dead endpoint: 50 tracked calls against a collector that accepts connections and never
//!    answers, with a config dir and a 200 ms overall timeout (short, to keep the run short;
//!    the default is 1.5 s). Bars: the 50 calls take at most one timeout plus 100 ms in all,
//!    and all 50 records are in `<config dir>/telemetry-outbox.jsonl`.
//!
//! See BENCHMARKS.md.

mod common;

use std::cell::RefCell;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cli_telemetry::{Client, Env};
use common::{MyErr, Samples, arithmetic};
use criterion::{Criterion, SamplingMode};
use telemetry_test_collector::Collector;

#[cli_telemetry::track_tool]
fn tracked(x: u64) -> Result<u64, MyErr> {
    arithmetic(x)
}

const SAMPLES: usize = 50;
const PAIRED_ROUNDS: usize = 10;
const PAIRED_REQUESTS: u64 = 1_000;
/// The overall request timeout of the dead-endpoint benchmark.
const DEAD_TIMEOUT: Duration = Duration::from_millis(200);
const DEAD_EVENTS: u64 = 50;
const DEAD_SAMPLES: usize = 10;

fn client(endpoint: &str, config_dir: Option<&std::path::Path>, timeout: Duration) -> Client {
    let mut builder = Client::builder()
        .app("bench", "1.0.0")
        .endpoint(endpoint)
        .env(Env::empty())
        .enabled(true)
        .timeout(timeout);
    if let Some(dir) = config_dir {
        builder = builder.config_dir(dir);
    }
    builder.build()
}

/// The request the client sent, as bytes to send again (header names as the collector saw
/// them: lower case, same length).
fn raw_request(req: &telemetry_test_collector::Request) -> Vec<u8> {
    let mut raw = format!("{} {} HTTP/1.1\r\n", req.method, req.path).into_bytes();
    for (name, value) in &req.headers {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&req.body);
    raw
}

/// Reads one HTTP answer (head and `Content-Length` body) from `stream`; `buf` keeps what was
/// read beyond it. Returns the status.
fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let mut chunk = [0_u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn outbox_lines(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join(cli_telemetry::files::OUTBOX_FILE)).map_or(0, |text| {
        text.lines().filter(|l| !l.trim().is_empty()).count()
    })
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    // 3. Synchronous delivery.
    let plain = Collector::start();
    let plain_client = client(&plain.url(), None, cli_telemetry::config::DEFAULT_TIMEOUT);
    let dir = tempfile::tempdir().expect("a temporary config dir");
    let boxed = Collector::start();
    let boxed_client = client(
        &boxed.url(),
        Some(dir.path()),
        cli_telemetry::config::DEFAULT_TIMEOUT,
    );
    // One record first: its request, exactly as sent, is the raw lower bound's request.
    cli_telemetry::with_client(&plain_client, || tracked(1)).ok();
    assert!(plain.wait_for_requests(1, Duration::from_secs(5)));
    let first = plain.requests().remove(0);
    let request = raw_request(&first);
    let (head, body) = request.split_at(request.len() - first.body.len());
    let raw_collector = Collector::start();
    let raw = TcpStream::connect(raw_collector.addr()).expect("connect to the collector");
    raw.set_nodelay(true).expect("TCP_NODELAY");
    let raw = RefCell::new((raw, Vec::new()));
    let ureq_collector = Collector::start();
    let ureq_agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let ureq_url = ureq_collector.url();
    let user_agent = first.header("user-agent").unwrap_or_default().to_owned();

    // The five routines; each runs `n` requests.
    let raw_once = |pieces: &[&[u8]]| {
        let mut guard = raw.borrow_mut();
        let (stream, buf) = &mut *guard;
        for piece in pieces {
            stream.write_all(piece).expect("write the request");
        }
        let status = read_answer(stream, buf).expect("read the answer");
        assert_eq!(status, 200);
    };
    let mut plain_r = |n: u64| {
        cli_telemetry::with_client(&plain_client, || {
            for i in 0..n {
                black_box(tracked(black_box(i))).ok();
            }
        });
    };
    let mut boxed_r = |n: u64| {
        cli_telemetry::with_client(&boxed_client, || {
            for i in 0..n {
                black_box(tracked(black_box(i))).ok();
            }
        });
    };
    let mut raw_r = |n: u64| (0..n).for_each(|_| raw_once(&[&request]));
    let mut split_r = |n: u64| (0..n).for_each(|_| raw_once(&[head, body]));
    let mut ureq_r = |n: u64| {
        for _ in 0..n {
            let mut answer = ureq_agent
                .post(&ureq_url)
                .header("Content-Type", "application/json")
                .header("User-Agent", &user_agent)
                .send(&first.body[..])
                .expect("POST");
            assert_eq!(answer.status(), 200);
            black_box(answer.body_mut().read_to_vec().ok());
        }
    };
    let timed = |s: &Samples, iters: u64, r: &mut dyn FnMut(u64)| {
        let start = Instant::now();
        r(iters);
        let elapsed = start.elapsed();
        s.keep(elapsed, iters);
        elapsed
    };

    let [raw_s, split_s, ureq_s, plain_s, boxed_s]: [Samples; 5] = Default::default();
    let mut group = c.benchmark_group("sync_delivery");
    // The client first, right after its first record: ureq drops a connection idle for 15 s.
    group.bench_function("client_post", |b| {
        b.iter_custom(|iters| timed(&plain_s, iters, &mut plain_r));
    });
    group.bench_function("client_post_with_outbox", |b| {
        b.iter_custom(|iters| timed(&boxed_s, iters, &mut boxed_r));
    });
    // Each client's connections over its own benchmark (ureq closes a connection idle for
    // 15 s, so the paired rounds below, after the other benchmarks, may open one more).
    let plain_connections = plain.connections();
    let boxed_connections = boxed.connections();
    group.bench_function("raw_tcp_lower_bound", |b| {
        b.iter_custom(|iters| timed(&raw_s, iters, &mut raw_r));
    });
    group.bench_function("raw_tcp_head_then_body", |b| {
        b.iter_custom(|iters| timed(&split_s, iters, &mut split_r));
    });
    group.bench_function("ureq_alone", |b| {
        b.iter_custom(|iters| timed(&ureq_s, iters, &mut ureq_r));
    });
    group.finish();
    // The bar: paired rounds, every routine in turn, ratios taken round by round.
    let rounds = if common::measuring() {
        common::paired(
            PAIRED_ROUNDS,
            PAIRED_REQUESTS,
            &mut [
                &mut raw_r,
                &mut split_r,
                &mut ureq_r,
                &mut plain_r,
                &mut boxed_r,
            ],
        )
    } else {
        Vec::new()
    };

    // 4. Dead endpoint.
    let dead = Collector::stalling();
    let dead_s = Samples::default();
    let mut incomplete_outboxes = 0;
    let mut group = c.benchmark_group("dead_endpoint");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(DEAD_SAMPLES);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("50_events_200ms_timeout", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("a temporary config dir");
                let client = client(&dead.url(), Some(dir.path()), DEAD_TIMEOUT);
                let start = Instant::now();
                cli_telemetry::with_client(&client, || {
                    for i in 0..DEAD_EVENTS {
                        black_box(tracked(black_box(i))).ok();
                    }
                });
                total += start.elapsed();
                if outbox_lines(dir.path()) != DEAD_EVENTS as usize {
                    incomplete_outboxes += 1;
                }
            }
            dead_s.keep(total, iters);
            total
        });
    });
    group.finish();
    c.final_summary();

    // Correctness holds in every mode (`cargo test --benches` too): keep-alive, outbox.
    println!(
        "\nconnections: client {plain_connections}, client with outbox {boxed_connections}, \
         raw {}, ureq {} (each one for its whole benchmark)",
        raw_collector.connections(),
        ureq_collector.connections()
    );
    println!(
        "dead endpoint: {incomplete_outboxes} run(s) without all {DEAD_EVENTS} records in the outbox"
    );
    assert_eq!(plain_connections, 1, "one TCP connection for the whole run");
    assert_eq!(boxed_connections, 1, "one TCP connection for the whole run");
    assert!(
        plain.connections() <= 2 && boxed.connections() <= 2,
        "at most one more connection each in the paired rounds, after an idle time"
    );
    assert_eq!(incomplete_outboxes, 0, "all records in the outbox");

    if !common::measuring() {
        return;
    }
    println!("\nsummary (medians of this run; {}):", common::machine());
    let (Some(r), Some(h), Some(u), Some(p), Some(o)) = (
        raw_s.median(SAMPLES),
        split_s.median(SAMPLES),
        ureq_s.median(SAMPLES),
        plain_s.median(SAMPLES),
        boxed_s.median(SAMPLES),
    ) else {
        return;
    };
    let ratio = |i: usize| {
        common::median_of(
            rounds[i]
                .iter()
                .zip(&rounds[0])
                .map(|(x, raw)| x / raw)
                .collect(),
        )
        .unwrap_or(f64::NAN)
    };
    println!(
        "  criterion medians (one benchmark after the other), and paired ratios to raw \
         ({PAIRED_ROUNDS} rounds of {PAIRED_REQUESTS} requests of each in turn):"
    );
    for (name, m, i) in [
        ("raw TCP lower bound", r, 0),
        ("raw TCP, head then body", h, 1),
        ("ureq alone, same body", u, 2),
        ("client POST", p, 3),
        ("client POST, with outbox", o, 4),
    ] {
        println!(
            "    {name:<26} {:8.1} µs/record  {:.2}x raw (paired)",
            m / 1e3,
            ratio(i)
        );
    }
    println!(
        "  bar: client POST at most 1.6x raw (paired): {:.2}x -> {}",
        ratio(3),
        common::verdict(ratio(3) <= 1.6)
    );
    println!(
        "  the same with an outbox (paired): {:.2}x -> {}",
        ratio(4),
        common::verdict(ratio(4) <= 1.6)
    );
    if let Some(d) = dead_s.median(DEAD_SAMPLES) {
        let limit = DEAD_TIMEOUT + Duration::from_millis(100);
        println!(
            "  dead endpoint: {DEAD_EVENTS} events in {:.1} ms (timeout {} ms)",
            d / 1e6,
            DEAD_TIMEOUT.as_millis()
        );
        println!(
            "  bar: at most timeout + 100 ms = {} ms, all {DEAD_EVENTS} in the outbox -> {}",
            limit.as_millis(),
            common::verdict(d / 1e6 <= limit.as_secs_f64() * 1e3 && incomplete_outboxes == 0)
        );
    }
}
