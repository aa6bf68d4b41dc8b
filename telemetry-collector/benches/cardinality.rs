//! The summary and the report page when clients send made-up names by the hundred thousand
//! (method and figures in BENCHMARKS.md).
//!
//! Each database holds 100,000 distinct names in every dimension: command actions, error
//! texts, versions and OSes (on command records), tool names, model names and agent names
//! (on tool, token and session records), one install per name: 400,000 records, written
//! through the collector's own writer with the default `--max-names-per-day` (1000).
//!
//! - `summary/100k_names_1_day`: all of them today (the attack of issue 19: 18 s from one
//!   connection);
//! - `summary/100k_names_30_days`: spread over the last 30 days.
//!
//! Criterion times `summarize_file` (what `GET /api/summary` and `/` run) with a 30-day
//! window and the default `top`; after each group the bench prints the JSON and page sizes,
//! the rollup rows and the file size.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use telemetry_collector::record::to_row;
use telemetry_collector::store::now_ms;
use telemetry_collector::store::sqlite::read::{summarize_file, totals};
use telemetry_collector::store::sqlite::{Writer, open_read};
use telemetry_collector::summary::{DEFAULT_TOP, Window, build};

const NAMES: u64 = 100_000;
const DAY: i64 = 86_400_000;

/// Fills `path` with `NAMES` names per dimension over `days` days (today first), from
/// `installs` installs (each with its own session).
fn fill(path: &Path, days: i64, installs: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let writer = Writer::start(path).unwrap();
    let now = now_ms();
    let mut rows = Vec::with_capacity(10_000);
    for n in 0..NAMES {
        let ts = now - (n as i64 % days) * DAY;
        let user = format!("user-{}", n % installs);
        let common = |p: &mut serde_json::Value, kind: &str| {
            p["user_uuid"] = json!(user);
            p["event_id"] = json!(format!("{kind}-{n}"));
            p["session_id"] = json!(format!("s-{}", n % installs));
        };
        let mut records = Vec::with_capacity(4);
        let mut p = json!({"action": format!("cmd-{n}"), "duration_ms": n % 5000,
            "is_success": false, "error": format!("error text {n}"),
            "version": format!("1.{n}.0"), "os": format!("os-{n}")});
        common(&mut p, "command");
        records.push(("command", p));
        let mut p = json!({"action": "call", "tool_name": format!("tool-{n}"),
            "duration_ms": n % 977, "is_success": true, "agent_name": "root"});
        common(&mut p, "tool");
        records.push(("tool", p));
        let mut p = json!({"action": "usage", "model_name": format!("model-{n}"),
            "input_tokens": 100, "output_tokens": 10, "cost": 0.001});
        common(&mut p, "token");
        records.push(("token", p));
        let mut p = json!({"action": "end", "agent_name": format!("agent-{n}"),
            "tool_calls": 1, "error_count": 0, "is_success": true});
        common(&mut p, "session");
        records.push(("session", p));
        for (event, p) in records {
            let rec = json!({"event": event, "event_timestamp": ts, "source": "bench",
                "properties": p});
            rows.push(to_row(rec, now).unwrap());
        }
        if rows.len() >= 10_000 {
            runtime
                .block_on(writer.insert(std::mem::take(&mut rows)))
                .unwrap();
        }
    }
    runtime.block_on(writer.insert(rows)).unwrap();
    writer.stop();
}

/// User plus system CPU seconds of the calling thread (Linux; 0 elsewhere).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

fn count(path: &Path, sql: &str) -> i64 {
    open_read(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn bench(c: &mut Criterion, id: &str, days: i64, installs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{id}.db"));
    let t = Instant::now();
    fill(&path, days, installs);
    eprintln!("{id}: filled {} records in {:?}", 4 * NAMES, t.elapsed());
    let s = summarize_file(&path, 30, DEFAULT_TOP).unwrap();
    assert_eq!(s.records, 4 * NAMES);
    let mut group = c.benchmark_group("summary");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(id, |b| {
        b.iter(|| summarize_file(&path, 30, DEFAULT_TOP).unwrap())
    });
    group.finish();
    // CPU time of the summary on one thread (`summarize`), which the load of other processes
    // on this shared machine does not inflate the way it inflates wall time.
    let conn = open_read(&path).unwrap();
    let cpu0 = thread_cpu_seconds();
    for _ in 0..5 {
        let w = Window::new(30, DEFAULT_TOP);
        build(totals(&conn, &w).unwrap(), &w);
    }
    eprintln!(
        "{id}: {:.1} ms CPU per summary on one thread (mean of 5)",
        (thread_cpu_seconds() - cpu0) * 1000.0 / 5.0
    );
    let json = serde_json::to_string(&s).unwrap();
    let page = telemetry_collector::html::report_page(&s, true);
    eprintln!(
        "{id}: /api/summary {} bytes, page {} bytes; {} tools listed, {} more",
        json.len(),
        page.len(),
        s.tools.len(),
        s.more.tools.entries
    );
    eprintln!(
        "{id}: rollup rows: daily {}, daily_errors {}, daily_installs {}; file {:.1} MiB",
        count(&path, "SELECT COUNT(*) FROM daily"),
        count(&path, "SELECT COUNT(*) FROM daily_errors"),
        count(&path, "SELECT COUNT(*) FROM daily_installs"),
        std::fs::metadata(&path).unwrap().len() as f64 / 1_048_576.0
    );
}

fn one_day(c: &mut Criterion) {
    bench(c, "100k_names_1_day", 1, 1000);
}

fn thirty_days(c: &mut Criterion) {
    bench(c, "100k_names_30_days", 30, 1000);
}

fn every_name_a_new_install(c: &mut Criterion) {
    bench(c, "100k_names_and_installs_1_day", 1, NAMES);
}

criterion_group!(benches, one_day, thirty_days, every_name_a_new_install);
criterion_main!(benches);
