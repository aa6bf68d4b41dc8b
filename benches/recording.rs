//! Benchmark 2: what one event costs when telemetry is on, without the network.
//!
//! `#[telemetry::track_tool]` into a capturing client (`telemetry::testing::capture_client`),
//! which keeps each record's JSON text in memory: byte for byte what the HTTP sink would send.
//! One iteration records N events in a row (N = 1 000, 10 000, 100 000) and, every 100 events,
//! takes and frees the records kept so far, as a sink would after sending them. Everything is
//! timed: the tracked call (timing, outcome, event, scrubbing, system properties, event id,
//! size cap, JSON text) and the hand-over. The client keeps recording across all iterations, so
//! the later and longer runs come after millions of events.
//! Bars: at most 1 µs per event (median), and the same per-event cost whatever N.
//! See BENCHMARKS.md.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{MyErr, Samples, arithmetic};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use telemetry::{Client, testing};

#[telemetry::track_tool]
fn tracked(x: u64) -> Result<u64, MyErr> {
    arithmetic(x)
}

const SAMPLES: usize = 20;
const RUNS: [u64; 3] = [1_000, 10_000, 100_000];
/// Records are taken from the capturing client every this many events.
const HAND_OVER: u64 = 100;

fn main() {
    let (client, records) = testing::capture_client(Client::builder().app("bench", "1.0.0"));

    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    let samples: [Samples; RUNS.len()] = Default::default();
    let mut group = c.benchmark_group("enabled_recording");
    group.sampling_mode(SamplingMode::Flat);
    for (&n, s) in RUNS.iter().zip(&samples) {
        group.throughput(Throughput::Elements(n));
        group.bench_function(BenchmarkId::new("events_per_run", n), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                telemetry::with_client(&client, || {
                    for _ in 0..iters {
                        for i in 0..n {
                            black_box(tracked(black_box(i))).ok();
                            if i % HAND_OVER == HAND_OVER - 1 {
                                drop(black_box(records.take_json()));
                            }
                        }
                    }
                });
                let elapsed = start.elapsed();
                s.keep(elapsed, iters * n);
                elapsed
            });
        });
    }
    group.finish();
    c.final_summary();

    if !common::measuring() {
        return;
    }
    println!("\nsummary (medians of this run; {}):", common::machine());
    let medians: Vec<Option<f64>> = samples.iter().map(|s| s.median(SAMPLES)).collect();
    for (n, m) in RUNS.iter().zip(&medians) {
        if let Some(m) = m {
            println!("  runs of {n:>7} events: {m:7.1} ns/event");
        }
    }
    let known: Vec<f64> = medians.iter().flatten().copied().collect();
    if let (Some(worst), Some(best)) = (
        known.iter().copied().reduce(f64::max),
        known.iter().copied().reduce(f64::min),
    ) {
        println!(
            "  bar: at most 1000 ns/event: worst median {worst:.1} ns -> {}",
            common::verdict(worst <= 1000.0)
        );
        let spread = worst / best;
        println!(
            "  bar: flat per-event cost: slowest / fastest run length = {spread:.2}x (flat: at most 1.25x) -> {}",
            common::verdict(spread <= 1.25)
        );
    }
}
