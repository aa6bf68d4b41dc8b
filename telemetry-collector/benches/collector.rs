//! Collector benchmarks (method and figures in BENCHMARKS.md).
//!
//! 1. `ingest/batch_100`: cagent batches of 100 fresh records POSTed to a real server on
//!    127.0.0.1 over keep-alive connections from 2 client threads (one ureq agent each);
//!    throughput in records/s, and the p99 batch latency printed after the group.
//! 2. `summary/1m_records`: the report summary (30-day window) over 1,000,000 stored records
//!    of a realistic mix, read from the SQLite file; the file's size is printed.
//! 3. `ingest_pg_1_replica`, `ingest_pg_2_replicas`: the same ingest into PostgreSQL (a
//!    server the run starts with PostgreSQL's durable defaults), through one server, then
//!    two servers on one database (one client thread each); PostgreSQL's CPU is printed.
//! 4. `summary_pg/1m_records`: the same 1,000,000 records in PostgreSQL; bytes per record.
//!
//! Without PostgreSQL's binaries, 3 and 4 print why they skipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../tests/common/pg.rs"]
mod pg;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pg::Postgres;
use serde_json::json;
use telemetry_collector::record::to_row;
use telemetry_collector::store::postgres::read::totals;
use telemetry_collector::store::postgres::{PgStore, PgUrl};
use telemetry_collector::store::sqlite::Writer;
use telemetry_collector::store::sqlite::read::summarize_file;
use telemetry_collector::store::{Db, now_ms, summarize};
use telemetry_collector::summary::{Window, build};
use telemetry_collector::{BackgroundServer, Config};

const BATCH: u64 = 100;
/// Client threads (`COLLECTOR_BENCH_CLIENTS`, default 2), each over one keep-alive
/// connection and waiting for each answer before sending the next batch.
fn clients() -> u64 {
    std::env::var("COLLECTOR_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2)
}

/// One batch of fresh records (ids from a shared counter), as cagent sends it.
fn batch_body(next: &AtomicU64, now: i64) -> String {
    let start = next.fetch_add(BATCH, Ordering::Relaxed);
    let mut body = String::from("{\"records\":[");
    for n in start..start + BATCH {
        if n > start {
            body.push(',');
        }
        body.push_str(&format!(
            "{{\"event\":\"tool\",\"event_timestamp\":{now},\"source\":\"cagent\",\"properties\":{{\
             \"action\":\"call\",\"session_id\":\"sess-{s}\",\"agent_name\":\"root\",\"tool_name\":\"tool_{t}\",\
             \"duration_ms\":{d},\"is_success\":true,\"user_uuid\":\"5b0c1c8e-1d7e-4a51-9a36-{u:012}\",\
             \"version\":\"1.4.0\",\"os\":\"linux\",\"os_language\":\"en-US\",\"event_id\":\"{id}\"}}}}",
            s = n / 50,
            t = n % 20,
            d = n % 900,
            u = n % 5000,
            id = event_id(n)
        ));
    }
    body.push_str("]}");
    body
}

/// `bench-N`, or with `COLLECTOR_BENCH_UUID_IDS=1` a random-looking v4 UUID (what real
/// clients send; its index inserts land on random pages).
fn event_id(n: u64) -> String {
    static UUIDS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*UUIDS.get_or_init(|| std::env::var_os("COLLECTOR_BENCH_UUID_IDS").is_some()) {
        return format!("bench-{n}");
    }
    // splitmix64: a fixed, well-mixed sequence.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = (mix(n), mix(n ^ 0xdead_beef));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let server = BackgroundServer::start(Config::new(dir.path().join("bench.db"))).unwrap();
    run_ingest(c, "ingest", &[server.url("/events/v1/track")]);
    drop(server);
}

/// Criterion group `name`: batches POSTed by [`clients`] threads, thread `i` to
/// `urls[i % urls.len()]`; then the per-wall-second, CPU and latency figures.
fn run_ingest(c: &mut Criterion, name: &str, urls: &[String]) {
    let next = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let n_clients = clients();
    let agents: Vec<ureq::Agent> = (0..n_clients)
        .map(|_| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into()
        })
        .collect();
    let cpu_before = process_cpu_seconds();
    let (writer_before, pg_before) = (writer_cpu(), postgres_cpu());
    let wall_before = Instant::now();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("batch_100", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for (i, agent) in agents.iter().enumerate() {
                    let (next, latencies, url) = (&next, &latencies, &urls[i % urls.len()]);
                    let share = iters / n_clients + u64::from((i as u64) < iters % n_clients);
                    let client = std::thread::Builder::new().name("bench-client".into());
                    client
                        .spawn_scoped(scope, move || {
                            let mut mine = Vec::with_capacity(share as usize);
                            for _ in 0..share {
                                let body = batch_body(next, now_ms());
                                let t = Instant::now();
                                let mut resp = agent
                                    .post(url)
                                    .header("Content-Type", "application/json")
                                    .send(&body)
                                    .unwrap();
                                let _ = resp.body_mut().read_to_string();
                                assert_eq!(resp.status(), 200);
                                mine.push(t.elapsed());
                            }
                            latencies.lock().unwrap().extend(mine);
                        })
                        .unwrap();
                }
            });
            start.elapsed()
        });
    });
    group.finish();
    let cpu_after = process_cpu_seconds();
    let writer_used = writer_cpu() - writer_before;
    let pg_used = postgres_cpu() - pg_before;
    let (cpu, server_cpu) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let wall = wall_before.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    if l.is_empty() {
        return; // filtered out
    }
    let records = l.len() as f64 * BATCH as f64;
    eprintln!(
        "{name}/batch_100: {records} records; {:.0} records per wall second with {:.2} cores \
         busy on average in this process; {:.0} records per CPU second of the server's threads \
         ({:.0} per CPU second of server and clients together)",
        records / wall,
        cpu / wall,
        records / server_cpu,
        records / cpu
    );
    if writer_used > 0.0 {
        eprintln!(
            "{name}/batch_100: {:.0} records per CPU second of the writer thread alone",
            records / writer_used
        );
    }
    if pg_used > 0.0 {
        eprintln!(
            "{name}/batch_100: PostgreSQL's processes used {:.2} cores on average ({:.0} \
             records per CPU second of PostgreSQL; {:.0} per CPU second of everything)",
            pg_used / wall,
            records / pg_used,
            records / (cpu + pg_used)
        );
    }
    l.sort();
    let pick = |p: usize| l[(p * l.len()).div_ceil(100).max(1) - 1];
    eprintln!(
        "{name}/batch_100 latency over {} batches: p50 {:?}, p99 {:?}, max {:?}",
        l.len(),
        pick(50),
        pick(99),
        l[l.len() - 1]
    );
}

/// User plus system CPU seconds of one /proc stat file, and the thread's name.
fn cpu_of(stat: &str) -> (String, f64) {
    let name = stat
        .split_once('(')
        .and_then(|(_, r)| r.rsplit_once(')'))
        .map_or("", |(n, _)| n);
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name; 100 ticks/s.
    (name.to_owned(), (ticks(11) + ticks(12)) / 100.0)
}

/// CPU seconds of the whole process, and of the server's threads alone (tokio workers, the
/// writer, the checkpointer; the client threads are unnamed).
fn process_cpu_seconds() -> (f64, f64) {
    let total = cpu_of(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default()).1;
    let mut server = 0.0;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let (name, cpu) =
            cpu_of(&std::fs::read_to_string(task.path().join("stat")).unwrap_or_default());
        // Thread names as /proc shows them (15 bytes): the runtime's workers
        // (`tokio-rt-worker`; `tokio-runtime-w` in older tokio), the server's thread,
        // SQLite's writer and checkpointer; the clients are `bench-client`.
        let server_thread = [
            "tokio-r",
            "telemetry-coll",
            "collector-writ",
            "collector-chec",
        ];
        if server_thread.iter().any(|p| name.starts_with(p)) {
            server += cpu;
        }
        if name.starts_with("collector-writ") {
            WRITER_CPU.store(cpu.to_bits(), Ordering::Relaxed);
        }
    }
    (total, server)
}

/// CPU seconds of every `postgres` process on the machine (the benchmark's own server: the
/// harness starts the only one).
fn postgres_cpu() -> f64 {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .map(|stat| cpu_of(&stat))
        .filter(|(name, _)| name == "postgres")
        .map(|(_, cpu)| cpu)
        .sum()
}

/// The writer thread's CPU seconds at the last `process_cpu_seconds` call.
static WRITER_CPU: AtomicU64 = AtomicU64::new(0);

fn writer_cpu() -> f64 {
    f64::from_bits(WRITER_CPU.load(Ordering::Relaxed))
}

/// 1,000,000 records over 30 days: 55% tool, 30% token, 10% command, 5% session;
/// 2,000 installs (each on one of 5 versions and 3 OSes), 20 tools, 8 commands, 4 models, 5% failures.
fn fill(path: &std::path::Path, total: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let writer = Writer::start(path).unwrap();
    fill_rows(total, |rows| {
        runtime.block_on(writer.insert(rows)).unwrap();
    });
    writer.stop();
}

/// The rows of [`fill`], handed over 10,000 at a time.
fn fill_rows(total: u64, mut store: impl FnMut(Vec<telemetry_collector::record::Row>)) {
    let now = now_ms();
    let mut rows = Vec::with_capacity(10_000);
    for n in 0..total {
        let ts = now - (n % 30) as i64 * 86_400_000 - (n % 1000) as i64;
        let failed = n % 20 == 0;
        // An install runs one version on one OS.
        let user = n % 2000;
        let os = ["linux", "darwin", "windows"][(user % 3) as usize];
        let mut p = json!({"user_uuid": format!("user-{user}"), "version": format!("1.{}.0", user % 5),
            "os": os, "os_language": "en-US",
            "event_id": format!("fill-{n}"), "session_id": format!("s-{}", n / 40), "agent_name": "root"});
        let event = match n % 20 {
            0..=10 => {
                p["action"] = json!("call");
                p["tool_name"] = json!(format!("tool_{}", n % 20));
                p["duration_ms"] = json!(n % 977);
                p["is_success"] = json!(!failed);
                "tool"
            }
            11..=16 => {
                p["action"] = json!("usage");
                p["model_name"] = json!(format!("model-{}", n % 4));
                p["input_tokens"] = json!(n % 3000);
                p["output_tokens"] = json!(n % 700);
                p["cost"] = json!(0.001);
                "token"
            }
            17 | 18 => {
                p["action"] = json!(format!("cmd{}", n % 8));
                p["duration_ms"] = json!(n % 5000);
                p["is_success"] = json!(n % 7 != 0);
                if n % 7 == 0 {
                    p["error"] = json!(format!("error text {}", n % 30));
                }
                "command"
            }
            _ => {
                p["action"] = json!(if n % 2 == 0 { "start" } else { "end" });
                p["tool_calls"] = json!(3);
                p["error_count"] = json!(0);
                "session"
            }
        };
        let rec =
            json!({"event": event, "event_timestamp": ts, "source": "bench", "properties": p});
        rows.push(to_row(rec, now).unwrap());
        if rows.len() == 10_000 {
            store(std::mem::take(&mut rows));
        }
    }
    store(rows);
}

fn summary(c: &mut Criterion) {
    if !wanted("summary/1m_records") {
        return;
    }
    // COLLECTOR_BENCH_DB keeps the filled file between runs (filled only when missing).
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::var_os("COLLECTOR_BENCH_DB")
        .map_or_else(|| dir.path().join("million.db"), std::path::PathBuf::from);
    if !path.exists() {
        let t = Instant::now();
        fill(&path, 1_000_000);
        eprintln!("filled 1,000,000 records in {:?}", t.elapsed());
    }
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "database file after a checkpoint: {:.1} MiB",
        size as f64 / 1048576.0
    );
    let s = summarize_file(&path, 30, 25).unwrap();
    assert_eq!(s.records, 1_000_000);
    let mut group = c.benchmark_group("summary");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("1m_records", |b| {
        b.iter(|| summarize_file(&path, 30, 25).unwrap())
    });
    group.finish();
    let (cpu0, wall0) = (process_cpu_seconds().0, Instant::now());
    for _ in 0..5 {
        summarize_file(&path, 30, 25).unwrap();
    }
    eprintln!(
        "summary/1m_records: {:.3} s wall and {:.3} CPU seconds per summary (mean of 5)",
        wall0.elapsed().as_secs_f64() / 5.0,
        (process_cpu_seconds().0 - cpu0) / 5.0
    );
}

/// Whether criterion's filter (the first argument that is not a flag, a substring of the
/// benchmark's id) selects `id`, so a filtered run (`-- ingest`) skips the fills of the
/// groups it would not measure (minutes of filling 1,000,000 records).
fn wanted(id: &str) -> bool {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--bench" || a == "--test" || a == "--list" || a == "--exact" {
            continue;
        }
        if a.starts_with('-') {
            // Criterion's flags that take a value.
            if !a.contains('=') && a != "--verbose" && a != "--quiet" && a != "--noplot" {
                args.next();
            }
            continue;
        }
        return id.contains(a.as_str());
    }
    true
}

/// The run's PostgreSQL server: PostgreSQL's durable defaults, plus the server options in
/// `COLLECTOR_BENCH_PG_SERVER_OPTIONS` (e.g. `-c shared_preload_libraries=pg_stat_statements`
/// to profile the statements; split at spaces).
fn start_server(name: &str) -> Option<Postgres> {
    let extra = std::env::var("COLLECTOR_BENCH_PG_SERVER_OPTIONS").unwrap_or_default();
    let extra: Vec<&str> = extra.split_whitespace().collect();
    Postgres::start_with(name, &extra)
}

/// Ingest into PostgreSQL (a server started for the run with PostgreSQL's durable defaults):
/// one replica, then two replicas on one database with one client thread each.
fn ingest_postgres(c: &mut Criterion) {
    if !wanted("ingest_pg_1_replica/batch_100") && !wanted("ingest_pg_2_replicas/batch_100") {
        return;
    }
    let Some(pg) = start_server("ingest_postgres") else {
        return;
    };
    // COLLECTOR_BENCH_PG_OPTIONS: session settings for the collector's connections, e.g.
    // `-c synchronous_commit=off` (URL-encoded into the `options` parameter).
    let options = std::env::var("COLLECTOR_BENCH_PG_OPTIONS").map_or(String::new(), |o| {
        format!("&options={}", o.replace(' ', "%20").replace('=', "%3D"))
    });
    let one = BackgroundServer::start(Config::new((pg.create_db("ingest1") + &options).as_str()))
        .unwrap();
    run_ingest(c, "ingest_pg_1_replica", &[one.url("/events/v1/track")]);
    drop(one);
    let url = pg.create_db("ingest2") + &options;
    let (a, b) = (
        BackgroundServer::start(Config::new(url.as_str())).unwrap(),
        BackgroundServer::start(Config::new(url.as_str())).unwrap(),
    );
    let urls = [a.url("/events/v1/track"), b.url("/events/v1/track")];
    run_ingest(c, "ingest_pg_2_replicas", &urls);
}

/// The summary over the same 1,000,000 records in PostgreSQL, and its bytes per record.
fn summary_postgres(c: &mut Criterion) {
    if !wanted("summary_pg/1m_records") {
        return;
    }
    let Some(pg) = start_server("summary_postgres") else {
        return;
    };
    let url = pg.create_db("million");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg_url = PgUrl::parse(&url).unwrap();
    let t = Instant::now();
    let store = runtime.block_on(PgStore::open(&pg_url, 1000)).unwrap();
    fill_rows(1_000_000, |rows| {
        runtime.block_on(store.insert(rows)).unwrap();
    });
    runtime.block_on(store.stop());
    eprintln!(
        "filled 1,000,000 records into PostgreSQL in {:?}",
        t.elapsed()
    );
    pg.psql("million", "VACUUM ANALYZE");
    let sizes = pg.psql(
        "million",
        "SELECT pg_database_size(current_database()), pg_total_relation_size('events'),
         (SELECT SUM(pg_total_relation_size(c)) FROM unnest(ARRAY['daily', 'daily_durations',
          'daily_errors', 'daily_installs', 'daily_sessions']) AS c)",
    );
    let sizes: Vec<f64> = sizes.split('|').map(|v| v.parse().unwrap()).collect();
    eprintln!(
        "PostgreSQL: database {:.1} MiB ({:.0} bytes per record), events with its indexes \
         {:.1} MiB ({:.0} bytes per record), rollups {:.2} MiB",
        sizes[0] / 1048576.0,
        sizes[0] / 1e6,
        sizes[1] / 1048576.0,
        sizes[1] / 1e6,
        sizes[2] / 1048576.0
    );
    let db = Db::Postgres(pg_url);
    let s = runtime.block_on(summarize(&db, 30, 25)).unwrap();
    assert_eq!(s.records, 1_000_000);
    // What `GET /api/summary` runs: a replica's warm pool; and what `report` runs: connect,
    // check the schema, read, close.
    let pool = telemetry_collector::store::postgres::pool(
        match &db {
            Db::Postgres(u) => u,
            Db::Sqlite(_) => unreachable!(),
        },
        8,
    )
    .unwrap();
    let pooled = || {
        let w = Window::new(30, 25);
        let t = runtime.block_on(totals(&pool, &w)).unwrap();
        build(t, &w)
    };
    assert_eq!(pooled(), s);
    let mut group = c.benchmark_group("summary_pg");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("1m_records", |b| b.iter(pooled));
    group.bench_function("1m_records_report", |b| {
        b.iter(|| runtime.block_on(summarize(&db, 30, 25)).unwrap())
    });
    group.finish();
    let (pg0, wall0) = (postgres_cpu(), Instant::now());
    for _ in 0..5 {
        pooled();
    }
    eprintln!(
        "summary_pg/1m_records (pooled): {:.3} s wall and {:.3} CPU seconds of PostgreSQL per \
         summary (mean of 5)",
        wall0.elapsed().as_secs_f64() / 5.0,
        (postgres_cpu() - pg0) / 5.0
    );
}

criterion_group!(benches, ingest, ingest_postgres, summary, summary_postgres);
criterion_main!(benches);
