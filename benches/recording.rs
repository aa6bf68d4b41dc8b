//! Benchmark 2: what one event costs when telemetry is on, without the network.
//!
//! `#[cli_telemetry::track_tool]` into a capturing client (`cli_telemetry::testing::capture_client`),
//! which keeps each record's JSON text in memory: byte for byte what the HTTP sink would send.
//! Every 100 events the records kept so far are taken and freed, as a sink would after
//! sending them. Everything is timed: the tracked call (timing, outcome, event, scrubbing,
//! system properties, event id, size cap, JSON text) and the hand-over.
//!
//! - `per_event`: runs of 10 000 events; the median per event.
//! - `growth`: runs of 100 000 events timed in blocks of 1 000; for each run, the median
//!   per-event time of its last 10 blocks over that of its first 10 (the same run, so a
//!   change in the machine's load cannot pass for growth). The client keeps recording across
//!   all runs: millions of events by the end.
//!
//! - `otel_per_event` and `otel_metrics_per_event` (issue 22): the same tracked call with the
//!   operator's stream on (records with their `trace` object into memory), without and with
//!   its metrics (the instruments the call is measured into); then paired rounds of both, the
//!   difference taken round by round: what the metrics add per event.
//! - `metrics_measure`: the instruments alone, one tool call measured (`__BenchMetrics`).
//!
//! Bars: at most 1 µs per event (median), no growth with the number of events recorded, and
//! at most 100 ns per event added by the metrics (paired). See BENCHMARKS.md.

mod common;

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cli_telemetry::{Client, Env, testing};
use common::{MyErr, Samples, arithmetic};
use criterion::{Criterion, SamplingMode, Throughput};

#[cli_telemetry::track_tool]
fn tracked(x: u64) -> Result<u64, MyErr> {
    arithmetic(x)
}

const SAMPLES: usize = 20;
const RUN: u64 = 10_000;
const BLOCK: u64 = 1_000;
const BLOCKS: u64 = 100;
/// Records are taken from the capturing client every this many events.
const HAND_OVER: u64 = 100;
/// Paired rounds of `RUN` events, the operator's stream without and with its metrics.
const PAIRED_ROUNDS: usize = 30;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn main() {
    let (client, records) = testing::capture_client(Client::builder().app("bench", "1.0.0"));
    let record = |n: u64| {
        for i in 0..n {
            black_box(tracked(black_box(i))).ok();
            if i % HAND_OVER == HAND_OVER - 1 {
                drop(black_box(records.take_json()));
            }
        }
    };

    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    let per_event = Samples::default();
    // Last-blocks over first-blocks, one ratio per run of the growth benchmark.
    let growth: RefCell<Vec<f64>> = RefCell::default();
    let mut group = c.benchmark_group("enabled_recording");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(RUN));
    group.bench_function("per_event", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            cli_telemetry::with_client(&client, || {
                for _ in 0..iters {
                    record(RUN);
                }
            });
            let elapsed = start.elapsed();
            per_event.keep(elapsed, iters * RUN);
            elapsed
        });
    });
    group.throughput(Throughput::Elements(BLOCK * BLOCKS));
    group.bench_function("growth", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            cli_telemetry::with_client(&client, || {
                for _ in 0..iters {
                    let mut blocks = Vec::with_capacity(BLOCKS as usize);
                    for _ in 0..BLOCKS {
                        let start = Instant::now();
                        record(BLOCK);
                        let elapsed = start.elapsed();
                        total += elapsed;
                        blocks.push(elapsed.as_secs_f64());
                    }
                    let first = median(blocks[..10].to_vec());
                    let last = median(blocks[blocks.len() - 10..].to_vec());
                    growth.borrow_mut().push(last / first);
                }
            });
            total
        });
    });
    group.finish();

    // The operator's stream, without and with its metrics: the same run.
    let otel = |metrics: bool| {
        let records = testing::Records::default();
        let mut b = Client::builder()
            .app("bench", "1.0.0")
            .env(Env::from_pairs([("TELEMETRY_OTEL", "1")]))
            .enabled(false)
            .otel_sink(records.clone());
        if metrics {
            b = b.otel_metrics_sink(testing::Records::default());
        }
        (b.build(), records)
    };
    let (plain, plain_records) = otel(false);
    let (measured, measured_records) = otel(true);
    let run_in = |client: &Client, records: &testing::Records, n: u64| {
        cli_telemetry::with_client(client, || {
            for i in 0..n {
                black_box(tracked(black_box(i))).ok();
                if i % HAND_OVER == HAND_OVER - 1 {
                    drop(black_box(records.take_json()));
                }
            }
        });
    };
    let (otel_samples, metrics_samples) = (Samples::default(), Samples::default());
    let mut group = c.benchmark_group("otel_recording");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(RUN));
    group.bench_function("otel_per_event", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                run_in(&plain, &plain_records, RUN);
            }
            let elapsed = start.elapsed();
            otel_samples.keep(elapsed, iters * RUN);
            elapsed
        });
    });
    group.bench_function("otel_metrics_per_event", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                run_in(&measured, &measured_records, RUN);
            }
            let elapsed = start.elapsed();
            metrics_samples.keep(elapsed, iters * RUN);
            elapsed
        });
    });
    group.finish();
    let bench_metrics = cli_telemetry::__BenchMetrics::default();
    let measure_samples = Samples::default();
    c.bench_function("metrics_measure", |b| {
        b.iter_custom(|iters| {
            measure_samples.time(iters, |i| {
                bench_metrics.tool_call(black_box("read_file"), black_box(i % 50));
            })
        });
    });
    // For instruction counts (`valgrind --tool=callgrind`, BENCHMARKS.md): only runs of the
    // operator's stream without (`otel`) or with (`otel_metrics`) its metrics, then stop.
    if let Ok(only) = std::env::var("RECORDING_ONLY") {
        let runs = std::env::var("RECORDING_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        for _ in 0..runs {
            match only.as_str() {
                "otel" => run_in(&plain, &plain_records, RUN),
                _ => run_in(&measured, &measured_records, RUN),
            }
        }
        return;
    }
    let rounds = if common::measuring() {
        PAIRED_ROUNDS
    } else {
        1
    };
    let paired = common::paired(
        rounds,
        RUN,
        &mut [&mut |n| run_in(&plain, &plain_records, n), &mut |n| {
            run_in(&measured, &measured_records, n)
        }],
    );
    c.final_summary();

    if !common::measuring() {
        return;
    }
    println!("\nsummary (medians of this run; {}):", common::machine());
    if let Some(m) = per_event.median(SAMPLES) {
        println!("  per event, runs of {RUN} events: {m:.1} ns");
        println!(
            "  bar: at most 1000 ns/event -> {}",
            common::verdict(m <= 1000.0)
        );
    }
    let ratios = growth.into_inner();
    if !ratios.is_empty() {
        let g = median(ratios.clone());
        println!(
            "  growth: last 10 / first 10 blocks of {BLOCK} events in runs of {} events: \
             {g:.2}x (median of {} runs)",
            BLOCK * BLOCKS,
            ratios.len()
        );
        println!(
            "  bar: flat per-event cost (at most 1.10x) -> {}",
            common::verdict(g <= 1.10)
        );
    }
    for (what, samples) in [
        ("operator's stream, records only", &otel_samples),
        ("operator's stream with metrics", &metrics_samples),
    ] {
        if let Some(m) = samples.median(SAMPLES) {
            println!("  {what}, per event (criterion): {m:.1} ns");
        }
    }
    if let Some(m) = measure_samples.median(SAMPLES) {
        println!("  the instruments alone, one tool call measured: {m:.1} ns");
    }
    let diffs: Vec<f64> = paired[1]
        .iter()
        .zip(&paired[0])
        .map(|(m, p)| m - p)
        .collect();
    if let (Some(d), Some(p), Some(m)) = (
        common::median_of(diffs),
        common::median_of(paired[0].clone()),
        common::median_of(paired[1].clone()),
    ) {
        println!(
            "  metrics added per event (paired, {PAIRED_ROUNDS} rounds of {RUN}): {d:+.1} ns \
             ({p:.1} -> {m:.1} ns)"
        );
        println!(
            "  bar: at most 100 ns/event -> {}",
            common::verdict(d <= 100.0)
        );
    }
}
