//! Benchmark 1: what a tracked function costs when telemetry is off.
//!
//! The same function four times: bare, `#[telemetry::track_tool]` with the global client
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

#[telemetry::track_tool]
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
        telemetry::set_global(telemetry::Client::disabled()).is_ok(),
        "the global client was already set"
    );
    assert!(!telemetry::__private::enabled());

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
    for (name, m) in names.iter().zip(&medians) {
        if let Some(m) = m {
            println!(
                "  {name:<24} {m:7.3} ns/call  {:+7.3} ns over bare",
                m - base
            );
        }
    }
    if let Some(t) = medians[1] {
        let over = t - base;
        println!(
            "  bar: track_tool disabled at most 0.5 ns over bare: {over:+.3} ns -> {}",
            common::verdict(over <= 0.5)
        );
    }
}
