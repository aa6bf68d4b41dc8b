//! Benchmark 6: what encoding a record for the wire costs at send time, per exporter.
//!
//! A batch of 100 canonical records (the outbox's form, `MAX_BATCH` records: commands with
//! arguments, successful and failed tool calls, token usage, session start and end, with
//! tags) made by a real capturing client, encoded into one request body:
//!
//! - `cagent`: the body `{"records":[...]}`, records copied as they are.
//! - `otlp`: an `ExportLogsServiceRequest` in OTLP's JSON mapping, each record read and
//!   written as a `LogRecord` (`TELEMETRY_EXPORTER=otlp`, `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`).
//! - `otlp_protobuf`: the same request in protobuf (`http/protobuf`, the default protocol).
//! - `otlp_protobuf_gzip`: the same, gzip-compressed (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`).
//! - `serde_value`: a reference, not an exporter: each record parsed into a
//!   `serde_json::Value` and written back, the cost of any encoder that re-reads records
//!   through a generic JSON tree.
//! - `made_and_cagent` / `made_and_otlp`: the whole cost of a record in each format: the
//!   100 records made through the client's public calls (`track_command`, `start_session`,
//!   `record_tool_call`, ...; a capturing client, so no disk or network), then encoded.
//!
//! Criterion times are per batch (its throughput line gives records per second). The
//! ratios are judged on paired rounds taken after criterion's (`common::paired`: the
//! routines run in turn, round after round, each ratio taken round by round), printed in the
//! `summary` block: OTLP/cagent for the encoders alone and for made-and-encoded records (the
//! issue's goal, at most 1.5x). Instruction counts per routine: run the binary in `--test`
//! mode under callgrind, toggling on the `routine_*` functions (BENCHMARKS.md).

mod common;

use std::hint::black_box;
use std::time::Duration;

use cli_telemetry::event::CommandEvent;
use cli_telemetry::testing::Records;
use cli_telemetry::{__BenchEncoder, Client, Env, OtlpCompression, OtlpProtocol, Outcome, testing};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A capturing client: records are made by the real client and kept in memory.
fn capturing_client() -> (Client, Records) {
    let env = Env::from_pairs([("TELEMETRY_TAGS", "team=infra,env=ci")]);
    testing::capture_client(Client::builder().app("cagent", "1.2.3").env(env))
}

/// One session's worth of records (10), repeated up to 100, made through `client`.
fn make_batch(client: &Client, records: &Records) -> Vec<String> {
    let mut lines = Vec::with_capacity(100);
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

// Each routine checks the start of its body: a cheap check that also keeps the compiler from
// merging routines with identical code, which would mix their instruction counts.

/// (a) The cagent encoder alone.
#[inline(never)]
fn routine_cagent(enc: &__BenchEncoder, records: &[String]) -> Vec<u8> {
    let body = enc.encode(records);
    assert!(body.starts_with(CAGENT_START));
    body
}

/// (b) The OTLP encoder alone.
#[inline(never)]
fn routine_otlp(enc: &__BenchEncoder, records: &[String]) -> Vec<u8> {
    let body = enc.encode(records);
    assert!(body.starts_with(OTLP_START));
    body
}

/// (b) The OTLP encoder alone, in protobuf.
#[inline(never)]
fn routine_otlp_protobuf(enc: &__BenchEncoder, records: &[String]) -> Vec<u8> {
    let body = enc.encode(records);
    assert!(body.starts_with(PROTOBUF_START));
    body
}

/// (b) The OTLP encoder alone, in protobuf, gzip-compressed.
#[inline(never)]
fn routine_otlp_protobuf_gzip(enc: &__BenchEncoder, records: &[String]) -> Vec<u8> {
    let body = enc.encode(records);
    assert!(body.starts_with(GZIP_START));
    body
}

/// (c) 100 records made through the client, then encoded by `enc` (cagent).
#[inline(never)]
fn routine_made_cagent(enc: &__BenchEncoder, client: &Client, records: &Records) -> Vec<u8> {
    let body = enc.encode(&make_batch(client, records));
    assert!(body.starts_with(CAGENT_START));
    body
}

/// (c) 100 records made through the client, then encoded by `enc` (OTLP).
#[inline(never)]
fn routine_made_otlp(enc: &__BenchEncoder, client: &Client, records: &Records) -> Vec<u8> {
    let body = enc.encode(&make_batch(client, records));
    assert!(body.starts_with(OTLP_START));
    body
}

const CAGENT_START: &[u8] = b"{\"records\":[";
const OTLP_START: &[u8] = b"{\"resourceLogs\":[";
/// Field 1 (`resource_logs`), length-delimited.
const PROTOBUF_START: &[u8] = b"\x0a";
const GZIP_START: &[u8] = b"\x1f\x8b";

/// The encoders measured.
struct Encoders {
    cagent: __BenchEncoder,
    otlp: __BenchEncoder,
    protobuf: __BenchEncoder,
    protobuf_gzip: __BenchEncoder,
    json_gzip: __BenchEncoder,
}

impl Encoders {
    fn new() -> Self {
        let otlp = |p, c| __BenchEncoder::otlp_with("cagent", "1.2.3", p, c);
        Self {
            cagent: __BenchEncoder::cagent(),
            otlp: __BenchEncoder::otlp("cagent", "1.2.3"),
            protobuf: otlp(OtlpProtocol::Protobuf, OtlpCompression::None),
            protobuf_gzip: otlp(OtlpProtocol::Protobuf, OtlpCompression::Gzip),
            json_gzip: otlp(OtlpProtocol::Json, OtlpCompression::Gzip),
        }
    }
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
    let (client, captured) = capturing_client();
    let records = make_batch(&client, &captured);
    let encoders = Encoders::new();
    let (cagent, otlp) = (&encoders.cagent, &encoders.otlp);
    let mut group = c.benchmark_group("encode_100_records");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("cagent", |b| {
        b.iter(|| routine_cagent(cagent, black_box(&records)))
    });
    group.bench_function("otlp", |b| {
        b.iter(|| routine_otlp(otlp, black_box(&records)))
    });
    group.bench_function("otlp_protobuf", |b| {
        b.iter(|| routine_otlp_protobuf(&encoders.protobuf, black_box(&records)))
    });
    group.bench_function("otlp_protobuf_gzip", |b| {
        b.iter(|| routine_otlp_protobuf_gzip(&encoders.protobuf_gzip, black_box(&records)))
    });
    group.bench_function("serde_value", |b| {
        b.iter(|| serde_value(black_box(&records)))
    });
    group.bench_function("made_and_cagent", |b| {
        b.iter(|| routine_made_cagent(cagent, &client, &captured))
    });
    group.bench_function("made_and_otlp", |b| {
        b.iter(|| routine_made_otlp(otlp, &client, &captured))
    });
    group.finish();
    if common::measuring() {
        let made = Made {
            client: &client,
            records: &captured,
        };
        summary(&records, &encoders, &made);
    }
}

/// What the made-and-encoded routines make records with.
struct Made<'a> {
    client: &'a Client,
    records: &'a Records,
}

/// Paired rounds: ns per record of each routine, and the OTLP/cagent ratios round by round.
fn summary(records: &[String], encoders: &Encoders, made: &Made<'_>) {
    const ROUNDS: usize = 31;
    let (cagent, otlp) = (&encoders.cagent, &encoders.otlp);
    let (protobuf, protobuf_gzip) = (&encoders.protobuf, &encoders.protobuf_gzip);
    const BATCHES: u64 = 100;
    let mut run_cagent = |n: u64| {
        for _ in 0..n {
            black_box(routine_cagent(cagent, black_box(records)));
        }
    };
    let mut run_otlp = |n: u64| {
        for _ in 0..n {
            black_box(routine_otlp(otlp, black_box(records)));
        }
    };
    let mut run_protobuf = |n: u64| {
        for _ in 0..n {
            black_box(routine_otlp_protobuf(protobuf, black_box(records)));
        }
    };
    let mut run_protobuf_gzip = |n: u64| {
        for _ in 0..n {
            black_box(routine_otlp_protobuf_gzip(
                protobuf_gzip,
                black_box(records),
            ));
        }
    };
    let mut run_serde = |n: u64| {
        for _ in 0..n {
            black_box(serde_value(black_box(records)));
        }
    };
    let mut run_made_cagent = |n: u64| {
        for _ in 0..n {
            black_box(routine_made_cagent(cagent, made.client, made.records));
        }
    };
    let mut run_made_otlp = |n: u64| {
        for _ in 0..n {
            black_box(routine_made_otlp(otlp, made.client, made.records));
        }
    };
    let t = common::paired(
        ROUNDS,
        BATCHES,
        &mut [
            &mut run_cagent,
            &mut run_otlp,
            &mut run_serde,
            &mut run_made_cagent,
            &mut run_made_otlp,
            &mut run_protobuf,
            &mut run_protobuf_gzip,
        ],
    );
    let per_record = |v: &Vec<f64>| {
        v.iter()
            .map(|ns| ns / records.len() as f64)
            .collect::<Vec<_>>()
    };
    let [c, o, s, mc, mo, p, pg] = [0, 1, 2, 3, 4, 5, 6].map(|i| per_record(&t[i]));
    let ratio = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a / b).collect::<Vec<_>>();
    let med = |v: &[f64]| common::median_of(v.to_vec()).unwrap_or(f64::NAN);
    let bytes = |body: Vec<u8>| body.len() / records.len();
    println!(
        "\nsummary (medians of {ROUNDS} paired rounds of {BATCHES} batches; {}):",
        common::machine()
    );
    println!(
        "  (a) cagent encoder     {:>8.1} ns/record, {} bytes/record",
        med(&c),
        bytes(cagent.encode(records))
    );
    println!(
        "  (b) otlp encoder       {:>8.1} ns/record, {} bytes/record",
        med(&o),
        bytes(otlp.encode(records))
    );
    println!(
        "      serde_value        {:>8.1} ns/record (reference)",
        med(&s)
    );
    println!(
        "  (b) otlp protobuf      {:>8.1} ns/record, {} bytes/record",
        med(&p),
        bytes(protobuf.encode(records))
    );
    println!(
        "  (b) otlp protobuf+gzip {:>8.1} ns/record, {} bytes/record",
        med(&pg),
        bytes(protobuf_gzip.encode(records))
    );
    println!(
        "      gzip on the wire: cagent {} (not sent so), otlp json {}, otlp protobuf {} bytes/record",
        bytes(__BenchEncoder::gzip(&cagent.encode(records))),
        bytes(encoders.json_gzip.encode(records)),
        bytes(protobuf_gzip.encode(records))
    );
    println!(
        "  protobuf / json encoder {:.2}x; protobuf / cagent {:.1}x",
        med(&ratio(&p, &o)),
        med(&ratio(&p, &c))
    );
    println!("  (c) made + cagent      {:>8.1} ns/record", med(&mc));
    println!("  (c) made + otlp        {:>8.1} ns/record", med(&mo));
    let encoders = med(&ratio(&o, &c));
    let whole = med(&ratio(&mo, &mc));
    println!(
        "  encoders alone: otlp / cagent {encoders:.1}x (<= 1.5x: {}); otlp / serde_value {:.2}x",
        common::verdict(encoders <= 1.5),
        med(&ratio(&o, &s))
    );
    println!(
        "  made and encoded: otlp / cagent {whole:.2}x (goal <= 1.5x: {})",
        common::verdict(whole <= 1.5)
    );
}

criterion_group!(benches, encoding);
criterion_main!(benches);
