//! The PostgreSQL store with several replicas on one real database (a server started by the
//! test): exactly-once across replicas, rollups that never double-count under concurrent
//! writers, the names bound kept between replicas, retention run by one at a time.

#[path = "common/pg.rs"]
mod pg;

use pg::Postgres;
use serde_json::{Value, json};
use telemetry_collector::record::{Row, to_row};
use telemetry_collector::store::postgres::schema::RETENTION_LOCK;
use telemetry_collector::store::postgres::{PgStore, PgUrl};
use telemetry_collector::store::{Counts, now_ms};

const DAY_MS: i64 = 86_400_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Record `n` of a realistic mix, dated `days_ago` days back.
fn record(n: u64, days_ago: i64) -> Value {
    let ts = now_ms() - days_ago * DAY_MS;
    let os = ["linux", "darwin"][(n % 2) as usize];
    let mut p = json!({"event_id": format!("rec-{n}-{days_ago}"), "user_uuid": format!("u{}", n % 37),
        "version": format!("1.{}", n % 3), "os": os,
        "session_id": format!("s{}", n / 10), "agent_name": "root"});
    let event = match n % 4 {
        0 => {
            p["tool_name"] = json!(format!("tool{}", n % 7));
            p["duration_ms"] = json!(n % 1500);
            p["is_success"] = json!(!n.is_multiple_of(9));
            if n.is_multiple_of(9) {
                p["error"] = json!(format!("boom {}", n % 3));
            }
            "tool"
        }
        1 => {
            p["model_name"] = json!(format!("m{}", n % 2));
            p["input_tokens"] = json!(n * 1000);
            p["output_tokens"] = json!(n);
            p["cost"] = json!((n % 8) as f64 * 0.125);
            "token"
        }
        2 => {
            p["action"] = json!(format!("cmd{}", n % 3));
            p["duration_ms"] = json!(n % 4000);
            p["is_success"] = json!(true);
            "command"
        }
        _ => {
            p["action"] = json!(if n % 8 == 3 { "start" } else { "end" });
            p["tool_calls"] = json!(n % 5);
            p["error_count"] = json!(n % 2);
            p["is_success"] = json!(n.is_multiple_of(2));
            "session"
        }
    };
    json!({"event": event, "event_timestamp": ts, "source": "test", "properties": p})
}

fn rows(range: impl Iterator<Item = u64>, days_ago: i64) -> Vec<Row> {
    range
        .map(|n| to_row(record(n, days_ago), now_ms()).unwrap())
        .collect()
}

/// Sends `rows` in batches of 100 from `tasks` concurrent tasks; the summed counts.
async fn send(store: &PgStore, rows: Vec<Row>, tasks: usize) -> Counts {
    let batches: Vec<Vec<Row>> = rows.chunks(100).map(<[Row]>::to_vec).collect();
    let per = batches.len().div_ceil(tasks.max(1));
    let mut sends = Vec::new();
    let mut it = batches.into_iter();
    for _ in 0..tasks {
        let mine: Vec<Vec<Row>> = it.by_ref().take(per).collect();
        sends.push(async move {
            let mut total = Counts::default();
            for b in mine {
                let c = store.insert(b).await.unwrap();
                total.accepted += c.accepted;
                total.duplicates += c.duplicates;
            }
            total
        });
    }
    let mut total = Counts::default();
    for c in join_all(sends).await {
        total.accepted += c.accepted;
        total.duplicates += c.duplicates;
    }
    total
}

/// Runs the futures concurrently; their outputs in order.
async fn join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut fs: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = fs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, slot) in fs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none()
                && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *slot = Some(v);
            }
        }
        if out.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// What the rollups and `events` hold, for comparing with what was sent.
fn totals(pg: &Postgres, db: &str) -> String {
    pg.psql(
        db,
        "SELECT (SELECT COUNT(*) FROM events), (SELECT SUM(calls) FROM daily),
                (SELECT SUM(count) FROM daily_durations), (SELECT SUM(count) FROM daily_errors),
                (SELECT SUM(input_tokens) FROM daily), (SELECT SUM(cost) FROM daily),
                (SELECT SUM(ends) FROM daily), (SELECT SUM(tool_calls) FROM daily),
                (SELECT COUNT(*) FROM daily_installs), (SELECT COUNT(*) FROM daily_sessions)",
    )
}

/// The same numbers computed from `events` alone.
fn expected(pg: &Postgres, db: &str) -> String {
    pg.psql(
        db,
        "SELECT COUNT(*), COUNT(*), COUNT(duration_ms), COUNT(error),
                SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(cost, 0)),
                COUNT(*) FILTER (WHERE action = 'end'),
                SUM(tool_calls) FILTER (WHERE action = 'end'),
                (SELECT COUNT(*) FROM (SELECT DISTINCT day, user_id, version, os FROM events) i),
                (SELECT COUNT(*) FROM (SELECT DISTINCT day, session_id FROM events
                  WHERE kind = 'session') s)
         FROM events",
    )
}

#[test]
fn two_replicas_store_every_record_once_and_count_it_once() {
    let Some(pg) = Postgres::start("two_replicas_store_every_record_once_and_count_it_once") else {
        return;
    };
    let url = PgUrl::parse(&pg.create_db("replicas")).unwrap();
    runtime().block_on(async {
        let (a, b) = (
            PgStore::open(&url, 1000).await.unwrap(),
            PgStore::open(&url, 1000).await.unwrap(),
        );
        let first = rows(0..5_000, 0);
        let second = rows(5_000..10_000, 1);
        let (ca, cb) = tokio::join!(send(&a, first.clone(), 4), send(&b, second.clone(), 4));
        assert_eq!(
            (ca.accepted + cb.accepted, ca.duplicates + cb.duplicates),
            (10_000, 0)
        );
        // Everything again, each half to the other replica, at the same time.
        let (ca, cb) = tokio::join!(send(&a, second, 4), send(&b, first, 4));
        assert_eq!(
            (ca.accepted + cb.accepted, ca.duplicates + cb.duplicates),
            (0, 10_000)
        );
        a.stop().await;
        b.stop().await;
    });
    let got = totals(&pg, "replicas");
    assert!(got.starts_with("10000|10000|"), "{got}");
    assert_eq!(got, expected(&pg, "replicas"));
}

#[test]
fn concurrent_writers_of_the_same_records_never_double_count() {
    let Some(pg) = Postgres::start("concurrent_writers_of_the_same_records_never_double_count")
    else {
        return;
    };
    let url = PgUrl::parse(&pg.create_db("overlap")).unwrap();
    runtime().block_on(async {
        let (a, b) = (
            PgStore::open(&url, 1000).await.unwrap(),
            PgStore::open(&url, 1000).await.unwrap(),
        );
        let forward = rows(0..3_000, 0);
        let mut backward = forward.clone();
        backward.reverse();
        let (ca, cb) = tokio::join!(send(&a, forward, 3), send(&b, backward, 3));
        assert_eq!(ca.accepted + cb.accepted, 3_000);
        assert_eq!(ca.duplicates + cb.duplicates, 3_000);
        a.stop().await;
        b.stop().await;
    });
    let got = totals(&pg, "overlap");
    assert!(got.starts_with("3000|3000|"), "{got}");
    assert_eq!(got, expected(&pg, "overlap"));
}

#[test]
fn the_names_bound_holds_across_replicas() {
    let Some(pg) = Postgres::start("the_names_bound_holds_across_replicas") else {
        return;
    };
    let url = PgUrl::parse(&pg.create_db("names")).unwrap();
    let tool = |n: u64, name: String| {
        let rec = json!({"event": "tool", "event_timestamp": now_ms(), "properties": {
            "event_id": format!("t{n}"), "tool_name": name, "duration_ms": 5, "is_success": true}});
        to_row(rec, now_ms()).unwrap()
    };
    runtime().block_on(async {
        let (a, b) = (
            PgStore::open(&url, 5).await.unwrap(),
            PgStore::open(&url, 5).await.unwrap(),
        );
        // Names the replicas know, then each sends 40 new names, 4 per batch, concurrently.
        let mut sa = Vec::new();
        let mut sb = Vec::new();
        for n in 0..40 {
            sa.push(vec![tool(n, format!("a{n}"))]);
            sb.push(vec![tool(1000 + n, format!("b{n}"))]);
        }
        let run = async |store: &PgStore, batches: Vec<Vec<Row>>| {
            for batch in batches {
                store.insert(batch).await.unwrap();
            }
        };
        tokio::join!(run(&a, sa), run(&b, sb));
        a.stop().await;
        b.stop().await;
    });
    let names = pg.psql(
        "names",
        "SELECT COUNT(*) FILTER (WHERE name <> '(other)'), SUM(calls), SUM(calls) FILTER (WHERE name = '(other)')
         FROM daily WHERE kind = 'tool'",
    );
    assert_eq!(names, "5|80|75");
}

#[test]
fn retention_runs_on_one_replica_at_a_time() {
    let Some(pg) = Postgres::start("retention_runs_on_one_replica_at_a_time") else {
        return;
    };
    let url = PgUrl::parse(&pg.create_db("retention")).unwrap();
    runtime().block_on(async {
        let (a, b) = (
            PgStore::open(&url, 1000).await.unwrap(),
            PgStore::open(&url, 1000).await.unwrap(),
        );
        a.insert(rows(0..300, 40)).await.unwrap();
        b.insert(rows(0..200, 0)).await.unwrap();
        // Another session holds the lock: both replicas skip.
        let holder = a.pool().get().await.unwrap();
        holder
            .execute("SELECT pg_advisory_lock($1)", &[&RETENTION_LOCK])
            .await
            .unwrap();
        assert_eq!(b.retain(30).await, Ok(None));
        assert_eq!(a.retain(30).await, Ok(None));
        holder
            .execute("SELECT pg_advisory_unlock($1)", &[&RETENTION_LOCK])
            .await
            .unwrap();
        drop(holder);
        // Both at once: one does the work, the other skips or finds nothing left.
        let (ra, rb) = tokio::join!(a.retain(30), b.retain(30));
        let done: u64 = [ra.unwrap(), rb.unwrap()].into_iter().flatten().sum();
        assert_eq!(done, 300);
        assert_eq!(a.retain(30).await, Ok(Some(0)));
        a.stop().await;
        b.stop().await;
    });
    let left = pg.psql(
        "retention",
        "SELECT (SELECT COUNT(*) FROM events), (SELECT SUM(calls) FROM daily),
                (SELECT COUNT(*) FROM daily_installs WHERE day < (SELECT MIN(day) FROM events))",
    );
    assert_eq!(left, "200|200|0");
}
