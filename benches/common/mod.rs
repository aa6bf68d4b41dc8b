//! What the benchmarks share: the function under test, and the samples each benchmark keeps so
//! that medians and ratios are computed from the same run and printed next to their bar.

// Each benchmark binary uses a part of these helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, Instant};

/// The error of the function under test.
#[derive(Debug)]
pub struct MyErr(pub u64);

impl fmt::Display for MyErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input {} is not allowed", self.0)
    }
}

impl std::error::Error for MyErr {}

/// The work every variant does: a few nanoseconds of arithmetic, `Err` for one input in eight.
#[inline(always)]
pub fn arithmetic(x: u64) -> Result<u64, MyErr> {
    let y = (x ^ (x >> 7))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17);
    if x % 8 == 7 { Err(MyErr(x)) } else { Ok(y) }
}

/// Whether criterion measures (`cargo bench`) rather than runs each benchmark once
/// (`cargo test --benches`, `cargo bench -- --test`): criterion's own rule.
pub fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// The per-iteration times of one benchmark, as criterion's samples saw them.
///
/// Every routine is run with `iter_custom`: the closure times its own loop and hands the time
/// to criterion, and keeps a copy here. Criterion calls the routine first to warm up, then once
/// per sample, so the last `sample_size` entries are exactly the measured samples.
#[derive(Default)]
pub struct Samples {
    ns_per_iter: RefCell<Vec<f64>>,
}

impl Samples {
    /// Times `iters` runs of `f` (nothing else), keeps the time per run, returns the total.
    pub fn time(&self, iters: u64, mut f: impl FnMut(u64)) -> Duration {
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        let elapsed = start.elapsed();
        self.keep(elapsed, iters);
        elapsed
    }

    /// Keeps a sample measured by the caller: `elapsed` for `iters` iterations.
    pub fn keep(&self, elapsed: Duration, iters: u64) {
        self.ns_per_iter
            .borrow_mut()
            .push(elapsed.as_secs_f64() * 1e9 / iters.max(1) as f64);
    }

    /// Median time per iteration (ns) over the last `n` samples; `None` if none was taken.
    pub fn median(&self, n: usize) -> Option<f64> {
        let all = self.ns_per_iter.borrow();
        let mut last: Vec<f64> = all[all.len().saturating_sub(n)..].to_vec();
        if last.is_empty() {
            return None;
        }
        last.sort_by(f64::total_cmp);
        let mid = last.len() / 2;
        Some(if last.len().is_multiple_of(2) {
            (last[mid - 1] + last[mid]) / 2.0
        } else {
            last[mid]
        })
    }
}

/// `PASS` or `MISS`, for the summary lines.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// The machine, for the summary: logical cores and CPU model.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {cpu}")
}

/// The median of `values` (`None` when empty).
pub fn median_of(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Paired rounds: `rounds` times, runs every routine in turn (each is called with `n` and runs
/// `n` iterations itself, so its loop is compiled for it alone) and keeps its time per
/// iteration (ns). Interleaving the routines makes a change of the machine's load hit them
/// alike, where criterion measures one benchmark after the other. Returns one vector per
/// routine, round by round.
pub fn paired(rounds: usize, n: u64, routines: &mut [&mut dyn FnMut(u64)]) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::with_capacity(rounds); routines.len()];
    for _ in 0..rounds {
        for (r, times) in routines.iter_mut().zip(out.iter_mut()) {
            let start = Instant::now();
            r(n);
            times.push(start.elapsed().as_secs_f64() * 1e9 / n.max(1) as f64);
        }
    }
    out
}
