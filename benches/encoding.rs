//! Benchmark 6: what encoding a record for the wire costs at send time, per exporter.
//!
//! A batch of 100 canonical records (the outbox's form, `MAX_BATCH` records: commands with
//! arguments, successful and failed tool calls, token usage, session start and end, with
//! tags) made by a real capturing client, encoded into one request body:
//!
//! - `cagent`: the body `{"records":[...]}`, records copied as they are.
//! - `otlp`: an `ExportLogsServiceRequest` in OTLP's JSON mapping, each record parsed and
//!   written as a `LogRecord` (`TELEMETRY_EXPORTER=otlp`).
//! - `serde_value`: a reference, not an exporter: each record parsed into a
//!   `serde_json::Value` and written back, the cost of any encoder that re-reads records
//!   through a generic JSON tree.
//!
//! Criterion times are per batch (its throughput line gives records per second). The goal,
//! OTLP at most 1.5× the cagent encoding per record, is judged on paired rounds taken after
//! criterion's (`common::paired`: the encoders run in turn, round after round, the ratio
//! taken round by round), printed in the `summary` block. See BENCHMARKS.md.

mod common;

use std::hint::black_box;
use std::time::Duration;

use cli_telemetry::event::CommandEvent;
use cli_telemetry::{__BenchEncoder, Client, Env, Outcome, testing};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// One session's worth of records, repeated up to 100.
fn batch() -> Vec<String> {
    let env = Env::from_pairs([("TELEMETRY_TAGS", "team=infra,env=ci")]);
    let (client, records) =
        testing::capture_client(Client::builder().app("cagent", "1.2.3").env(env));
    let mut lines = Vec::new();
    while lines.len() < 100 {
        client.track_command("run", ["--model", "gpt-x", "--verbose"]);
        let session = client.start_session("coder", "sess-1");
        let ms = Duration::from_millis(12);
        for tool in ["read_file", "write_file", "shell", "search"] {
            client.record_tool_call(tool, None, None, ms, Outcome::Success);
        }
        client.record_tool_call("fetch", None, None, ms, Outcome::failure("timed out"));
        client.record_token_usage("gpt-x", 1200, 340, 0.0125);
        session.finish(&Outcome::Success);
        let fail = Outcome::failure("exit status 2");
        client.track(&CommandEvent::new("test", vec![], fail, ms));
        lines.extend(records.take_json());
    }
    lines.truncate(100);
    lines
}

fn serde_value(records: &[String]) -> Vec<u8> {
    let mut body = b"{\"records\":[".to_vec();
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let v: serde_json::Value = serde_json::from_str(r).unwrap_or_default();
        serde_json::to_writer(&mut body, &v).unwrap_or_default();
    }
    body.extend_from_slice(b"]}");
    body
}

fn encoding(c: &mut Criterion) {
    let records = batch();
    let cagent = __BenchEncoder::cagent();
    let otlp = __BenchEncoder::otlp("cagent", "1.2.3");
    let mut group = c.benchmark_group("encode_100_records");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("cagent", |b| b.iter(|| cagent.encode(black_box(&records))));
    group.bench_function("otlp", |b| b.iter(|| otlp.encode(black_box(&records))));
    group.bench_function("serde_value", |b| {
        b.iter(|| serde_value(black_box(&records)))
    });
    group.finish();
    if common::measuring() {
        summary(&records, &cagent, &otlp);
    }
}

/// Paired rounds: ns per record of each encoder, and the OTLP/cagent ratio round by round.
fn summary(records: &[String], cagent: &__BenchEncoder, otlp: &__BenchEncoder) {
    const ROUNDS: usize = 31;
    const BATCHES: u64 = 200;
    let per_record = |n: u64| n * records.len() as u64;
    let mut run_cagent = |n: u64| {
        for _ in 0..n {
            black_box(cagent.encode(black_box(records)));
        }
    };
    let mut run_otlp = |n: u64| {
        for _ in 0..n {
            black_box(otlp.encode(black_box(records)));
        }
    };
    let mut run_serde = |n: u64| {
        for _ in 0..n {
            black_box(serde_value(black_box(records)));
        }
    };
    let t = common::paired(
        ROUNDS,
        BATCHES,
        &mut [&mut run_cagent, &mut run_otlp, &mut run_serde],
    );
    let per = |v: &Vec<f64>| {
        v.iter()
            .map(|ns| ns / (per_record(1) as f64))
            .collect::<Vec<_>>()
    };
    let (c, o, s) = (per(&t[0]), per(&t[1]), per(&t[2]));
    let ratio = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a / b).collect::<Vec<_>>();
    let med = |v: Vec<f64>| common::median_of(v).unwrap_or(f64::NAN);
    let otlp_over_cagent = med(ratio(&o, &c));
    let bytes = |body: Vec<u8>| body.len() / records.len();
    println!(
        "\nsummary (medians of {ROUNDS} paired rounds; {}):",
        common::machine()
    );
    println!(
        "  cagent      {:>9.1} ns/record, {} bytes/record",
        med(c.clone()),
        bytes(cagent.encode(records))
    );
    println!(
        "  otlp        {:>9.1} ns/record, {} bytes/record",
        med(o.clone()),
        bytes(otlp.encode(records))
    );
    println!(
        "  serde_value {:>9.1} ns/record (reference)",
        med(s.clone())
    );
    println!(
        "  otlp / cagent {otlp_over_cagent:.1}x (goal <= 1.5x: {}); otlp / serde_value {:.2}x",
        common::verdict(otlp_over_cagent <= 1.5),
        med(ratio(&o, &s))
    );
}

criterion_group!(benches, encoding);
criterion_main!(benches);
