//! Retention on a database several replicas share: any replica may run it, one at a time
//! does the work. The one that takes the session advisory lock [`RETENTION_LOCK`] deletes
//! the rollups of the days before the cutoff (one transaction), then their records in
//! chunks (short transactions, so ingest never waits long on them); the others skip. The
//! lock goes with the session, so a replica killed mid-way frees it.

use deadpool_postgres::Pool;

use super::schema::{DAY_TABLES, RETENTION_LOCK, describe};
use crate::rollup::day_of;
use crate::store::now_ms;

/// Records deleted per transaction.
const CHUNK: i64 = 10_000;

/// Deletes the records of days before `today - days`: `Some(records deleted)`, or `None`
/// when another replica is running retention right now.
pub async fn retain(pool: &Pool, days: u32) -> Result<Option<u64>, String> {
    let err = |e: tokio_postgres::Error| format!("retention: {}", describe(&e));
    let mut client = pool
        .get()
        .await
        .map_err(|e| format!("retention: cannot reach PostgreSQL: {e}"))?;
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&RETENTION_LOCK])
        .await
        .map_err(err)?
        .get(0);
    if !locked {
        return Ok(None);
    }
    let cutoff = super::ingest::pg_day(day_of(now_ms()) - i64::from(days));
    let result = delete_before(&mut client, cutoff).await.map_err(err);
    // Unlocked before the connection goes back to the pool (a broken one frees it anyway).
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&RETENTION_LOCK])
        .await;
    result.map(Some)
}

async fn delete_before(
    client: &mut deadpool_postgres::Client,
    cutoff: i32,
) -> Result<u64, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    for table in DAY_TABLES {
        tx.execute(&format!("DELETE FROM {table} WHERE day < $1"), &[&cutoff])
            .await?;
    }
    tx.commit().await?;
    super::sessions::delete_spans(client, cutoff).await?;
    let chunk = client
        .prepare_cached(
            "DELETE FROM events WHERE event_id IN
             (SELECT event_id FROM events WHERE day < $1 LIMIT $2)",
        )
        .await?;
    let mut total = 0;
    loop {
        let gone = client.execute(&chunk, &[&cutoff, &CHUNK]).await?;
        total += gone;
        if gone == 0 {
            return Ok(total);
        }
    }
}
