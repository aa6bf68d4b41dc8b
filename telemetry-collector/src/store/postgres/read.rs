//! The summary's [`Totals`] read from the PostgreSQL rollups, for `summary::build`, which
//! makes the same [`crate::summary::Summary`] of them as of the SQLite store's.
//!
//! Sums stored as `NUMERIC` come out clamped to `i64::MAX`; every value summed is
//! non-negative (`validate.rs`), so that equals the SQLite store's saturating sums. The
//! reads run concurrently, each on its own pooled connection.

use std::collections::{BTreeMap, HashMap};

use deadpool_postgres::Pool;

use super::schema::describe;
use crate::rollup::Daily;
use crate::summary::{Totals, Window};

/// `LEAST(x, i64::MAX)::BIGINT`: a `NUMERIC` sum as the saturated `i64` SQLite would hold.
macro_rules! clamped {
    ($e:literal) => {
        concat!("LEAST(", $e, ", 9223372036854775807)::BIGINT")
    };
}

/// The totals of the window `w`.
pub async fn totals(pool: &Pool, w: &Window) -> Result<Totals, String> {
    let (first, today) = (day(w.first), day(w.today));
    let (daily, hist, installs, shares, errors) = tokio::join!(
        daily(pool, first, today),
        histograms(pool, first, today),
        installs(pool, first, today),
        shares(pool, first, today),
        errors_and_sessions(pool, first, today),
    );
    let mut t = daily?;
    for (kind, name, bucket, n) in hist? {
        crate::rollup::add_hist(&mut t.calls_of(&kind, &name).hist, [(bucket, n)]);
    }
    (t.installs, t.installs_per_day) = installs?;
    (t.versions, t.os) = shares?;
    let (errors, sessions) = errors?;
    for (text, n) in errors {
        t.add_error(&text, n);
    }
    t.session_count = sessions;
    Ok(t)
}

fn day(d: i64) -> i32 {
    i32::try_from(d).unwrap_or(if d < 0 { i32::MIN } else { i32::MAX })
}

async fn client(pool: &Pool) -> Result<deadpool_postgres::Client, String> {
    pool.get()
        .await
        .map_err(|e| format!("cannot reach PostgreSQL: {e}"))
}

fn err(e: tokio_postgres::Error) -> String {
    format!("cannot read the rollups: {}", describe(&e))
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

/// The window's `daily` rows.
async fn daily(pool: &Pool, first: i32, today: i32) -> Result<Totals, String> {
    let c = client(pool).await?;
    let rows = c
        .query(
            concat!(
                "SELECT day::BIGINT, kind, name, calls, failures, ",
                clamped!("input_tokens"),
                ", ",
                clamped!("output_tokens"),
                ", cost, ends, end_failures, ",
                clamped!("tool_calls"),
                ", ",
                clamped!("error_count"),
                ", ",
                clamped!("dropped"),
                " FROM daily WHERE day BETWEEN $1 AND $2"
            ),
            &[&first, &today],
        )
        .await
        .map_err(err)?;
    let mut t = Totals::default();
    for r in &rows {
        let d = Daily {
            calls: r.get(3),
            failures: r.get(4),
            input_tokens: r.get(5),
            output_tokens: r.get(6),
            cost: r.get(7),
            ends: r.get(8),
            end_failures: r.get(9),
            tool_calls: r.get(10),
            error_count: r.get(11),
            dropped: r.get(12),
            hist: BTreeMap::new(),
        };
        t.add_daily(r.get(0), r.get(1), r.get(2), &d);
    }
    Ok(t)
}

/// Merged duration histograms of commands and tools: (kind, name, bucket, count).
async fn histograms(
    pool: &Pool,
    first: i32,
    today: i32,
) -> Result<Vec<(String, String, i64, u64)>, String> {
    let c = client(pool).await?;
    let rows = c
        .query(
            concat!(
                "SELECT kind, name, bucket, ",
                clamped!("SUM(count)"),
                " FROM daily_durations WHERE day BETWEEN $1 AND $2
                 AND kind IN ('command', 'tool') GROUP BY kind, name, bucket"
            ),
            &[&first, &today],
        )
        .await
        .map_err(err)?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), count(r.get(3))))
        .collect())
}

/// Distinct installs in the window, and per day.
async fn installs(
    pool: &Pool,
    first: i32,
    today: i32,
) -> Result<(u64, BTreeMap<i64, u64>), String> {
    let c = client(pool).await?;
    let all: i64 = c
        .query_one(
            "SELECT COUNT(DISTINCT user_id) FROM daily_installs WHERE day BETWEEN $1 AND $2",
            &[&first, &today],
        )
        .await
        .map_err(err)?
        .get(0);
    let per_day = c
        .query(
            "SELECT day::BIGINT, COUNT(DISTINCT user_id) FROM daily_installs
             WHERE day BETWEEN $1 AND $2 GROUP BY day",
            &[&first, &today],
        )
        .await
        .map_err(err)?;
    let per_day = per_day
        .iter()
        .map(|r| (r.get(0), count(r.get(1))))
        .collect();
    Ok((count(all), per_day))
}

/// Distinct installs per version and per OS (absent ones, stored as "", left out).
async fn shares(
    pool: &Pool,
    first: i32,
    today: i32,
) -> Result<(HashMap<String, u64>, HashMap<String, u64>), String> {
    let c = client(pool).await?;
    let mut out = Vec::with_capacity(2);
    for sql in [
        "SELECT version, COUNT(DISTINCT user_id) FROM daily_installs
         WHERE day BETWEEN $1 AND $2 AND version <> '' GROUP BY version",
        "SELECT os, COUNT(DISTINCT user_id) FROM daily_installs
         WHERE day BETWEEN $1 AND $2 AND os <> '' GROUP BY os",
    ] {
        let rows = c.query(sql, &[&first, &today]).await.map_err(err)?;
        out.push(
            rows.iter()
                .map(|r| (r.get(0), count(r.get(1))))
                .collect::<HashMap<String, u64>>(),
        );
    }
    let os = out.pop().unwrap_or_default();
    Ok((out.pop().unwrap_or_default(), os))
}

/// Every error text with its occurrences, and the distinct sessions.
async fn errors_and_sessions(
    pool: &Pool,
    first: i32,
    today: i32,
) -> Result<(Vec<(String, i64)>, u64), String> {
    let c = client(pool).await?;
    let rows = c
        .query(
            concat!(
                "SELECT text, ",
                clamped!("SUM(count)"),
                " FROM daily_errors WHERE day BETWEEN $1 AND $2 GROUP BY text"
            ),
            &[&first, &today],
        )
        .await
        .map_err(err)?;
    let errors = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let sessions: i64 = c
        .query_one(
            "SELECT COUNT(DISTINCT session_id) FROM daily_sessions WHERE day BETWEEN $1 AND $2",
            &[&first, &today],
        )
        .await
        .map_err(err)?
        .get(0);
    Ok((errors, count(sessions)))
}
