//! The runtime's OTLP protobuf writer beside `prost` with the generated `opentelemetry-proto`
//! types (what issue 20 asked to measure before choosing; BENCHMARKS.md, "OTLP in protobuf").
//! It lives here because the collector already depends on both; the runtime does not.
//!
//! One batch of 100 typical records (the encoding benchmark's mix: commands with arguments,
//! tool calls succeeding and failing, token usage, a session) made by a real capturing
//! client, then per batch:
//!
//! - `runtime_writer`: the runtime's whole protobuf encoder: each canonical record read and
//!   written as a `LogRecord` (`__BenchEncoder`, what delivery runs at send time).
//! - `prost_encode`: `encode_to_vec` of the same request already built as prost's owned
//!   message tree (decoded from the runtime's body once, before timing).
//! - `prost_build_and_encode`: a clone of that tree, then `encode_to_vec`: the clone allocates
//!   the tree a prost-based exporter would have to build (every string, attribute and
//!   value) before encoding, without even reading the records; a lower bound of that
//!   exporter.
//!
//! The bench asserts that prost re-encodes the runtime's body to the same number of bytes
//! (both write each field once, with minimal lengths).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use telemetry_runtime::event::CommandEvent;
use telemetry_runtime::{
    __BenchEncoder, Client, Env, OtlpCompression, OtlpProtocol, Outcome, testing,
};

/// 100 canonical records of the encoding benchmark's mix.
fn batch() -> Vec<String> {
    let env = Env::from_pairs([("TELEMETRY_TAGS", "team=infra,env=ci")]);
    let (client, records) =
        testing::capture_client(Client::builder().app("cagent", "1.2.3").env(env));
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

fn protobuf(c: &mut Criterion) {
    let records = batch();
    let ours = __BenchEncoder::otlp_with(
        "cagent",
        "1.2.3",
        OtlpProtocol::Protobuf,
        OtlpCompression::None,
    );
    let body = ours.encode(&records);
    let tree = ExportLogsServiceRequest::decode(&body[..]).expect("the runtime's body decodes");
    assert_eq!(
        tree.encode_to_vec().len(),
        body.len(),
        "the same message, the same size"
    );
    let mut group = c.benchmark_group("protobuf_100_records");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("runtime_writer", |b| {
        b.iter(|| ours.encode(black_box(&records)))
    });
    group.bench_function("prost_encode", |b| {
        b.iter(|| black_box(&tree).encode_to_vec())
    });
    group.bench_function("prost_build_and_encode", |b| {
        b.iter(|| black_box(&tree).clone().encode_to_vec())
    });
    group.finish();
    println!(
        "protobuf body of 100 records: {} bytes ({} per record)",
        body.len(),
        body.len() / records.len()
    );
}

criterion_group!(benches, protobuf);
criterion_main!(benches);
