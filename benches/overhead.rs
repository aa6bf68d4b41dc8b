//! Benchmark 1: what a tracked function costs when telemetry is off.
//!
//! The same function four times: bare, `#[cli_telemetry::track_tool]` with the global client
//! disabled, `#[tracing::instrument]` and `#[tracing::instrument(err)]` with no subscriber.
//! Bar: `#[track_tool]` at most 0.5 ns over bare. See BENCHMARKS.md.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{MyErr, Samples, arithmetic};
use criterion::Criterion;

fn bare(x: u64) -> Result<u64, MyErr> {
    arithmetic(x)
}

#[cli_telemetry::track_tool]
fn tracked(x: u64) -> Result<u64, MyErr> {
    arithmetic(x)
}

#[tracing::instrument]
fn instrumented(x: u64) -> Result<u64, MyErr> {
    arithmetic(x)
}

#[tracing::instrument(err)]
fn instrumented_err(x: u64) -> Result<u64, MyErr> {
    arithmetic(x)
}

const SAMPLES: usize = 100;
const PAIRED_ROUNDS: usize = 200;
const PAIRED_CALLS: u64 = 1_000_000;

fn bench(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    samples: &Samples,
    f: impl Fn(u64) -> Result<u64, MyErr>,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            samples.time(iters, |i| {
                black_box(f(black_box(i))).ok();
            })
        });
    });
}

fn main() {
    // Telemetry off for the whole process, before the first tracked call.
    assert!(
        cli_telemetry::set_global(cli_telemetry::Client::disabled()).is_ok(),
        "the global client was already set"
    );
    assert!(!cli_telemetry::__private::enabled());

    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let names = [
        "bare",
        "track_tool_disabled",
        "tracing_instrument",
        "tracing_instrument_err",
    ];
    let samples: [Samples; 4] = Default::default();
    let mut group = c.benchmark_group("disabled_overhead");
    // Each function is passed as its own (zero-sized) fn item, so the loop can inline it as a
    // caller's loop would; a fn pointer would measure an indirect call instead.
    bench(&mut group, names[0], &samples[0], bare);
    bench(&mut group, names[1], &samples[1], tracked);
    bench(&mut group, names[2], &samples[2], instrumented);
    bench(&mut group, names[3], &samples[3], instrumented_err);
    group.finish();
    c.final_summary();

    if !common::measuring() {
        return;
    }
    let medians: Vec<Option<f64>> = samples.iter().map(|s| s.median(SAMPLES)).collect();
    let Some(base) = medians[0] else { return };
    println!("\nsummary (medians of this run; {}):", common::machine());
    println!("  criterion, one benchmark after the other:");
    for (name, m) in names.iter().zip(&medians) {
        if let Some(m) = m {
            println!(
                "    {name:<24} {m:7.3} ns/call  {:+7.3} ns over bare",
                m - base
            );
        }
    }
    // The bar: paired rounds, each function in turn, the difference taken round by round.
    // Each loop calls its function as a function item, so it may be inlined.
    macro_rules! looped {
        ($f:expr) => {
            |n: u64| {
                for i in 0..n {
                    black_box($f(black_box(i))).ok();
                }
            }
        };
    }
    let (mut b, mut t, mut ti, mut te) = (
        looped!(bare),
        looped!(tracked),
        looped!(instrumented),
        looped!(instrumented_err),
    );
    let rounds = common::paired(
        PAIRED_ROUNDS,
        PAIRED_CALLS,
        &mut [&mut b, &mut t, &mut ti, &mut te],
    );
    println!(
        "  paired: {PAIRED_ROUNDS} rounds of {PAIRED_CALLS} calls of each in turn, median of the \
         per-round difference:"
    );
    let mut over_bare = Vec::new();
    for (name, times) in names.iter().zip(&rounds).skip(1) {
        let diffs: Vec<f64> = times.iter().zip(&rounds[0]).map(|(x, b)| x - b).collect();
        let d = common::median_of(diffs).unwrap_or(f64::NAN);
        over_bare.push(d);
        println!("    {name:<24} {d:+7.3} ns over bare");
    }
    println!(
        "  bar: track_tool disabled at most 0.5 ns over bare (paired): {:+.3} ns -> {}",
        over_bare[0],
        common::verdict(over_bare[0] <= 0.5)
    );
}
