//! PostgreSQL storage, for several stateless collectors on one database: the URL
//! ([`url`]), TLS ([`tls`]), the schema and its migrations ([`schema`]), the writer that
//! groups concurrent batches into one statement ([`writer`], [`ingest`]), the bound on
//! names per day kept across replicas ([`names`]), retention run by one replica at a time
//! ([`retention`]).

pub mod ingest;
pub mod names;
pub mod retention;
pub mod schema;
pub mod tls;
pub mod url;
pub mod writer;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

pub use url::PgUrl;

use crate::record::Row;
use crate::store::Counts;

/// Connections one replica opens at most: the writer's, retention's, and the summaries'.
pub const POOL_SIZE: usize = 8;

/// One replica's handle on the database: a pool and the writer task.
pub struct PgStore {
    url: PgUrl,
    pool: Pool,
    writer: writer::Writer,
}

impl PgStore {
    /// Connects, migrates the schema (once, whatever other replicas start at the same time)
    /// and starts the writer on the current tokio runtime.
    pub async fn open(url: &PgUrl, max_names_per_day: usize) -> Result<Self, String> {
        let pool = pool(url, POOL_SIZE)?;
        let mut client = pool.get().await.map_err(|e| connect_error(url, &e))?;
        schema::migrate(&mut client)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        drop(client);
        let writer = writer::Writer::start(pool.clone(), max_names_per_day);
        Ok(Self {
            url: url.clone(),
            pool,
            writer,
        })
    }

    /// The database, as it may be shown (no password).
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// The pool (the summary's and health's connections).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Stores a batch; returns once it is committed.
    pub async fn insert(&self, rows: Vec<Row>) -> Result<Counts, String> {
        self.writer.insert(rows).await
    }

    /// Retention: `None` when another replica is running it.
    pub async fn retain(&self, days: u32) -> Result<Option<u64>, String> {
        retention::retain(&self.pool, days).await
    }

    /// Lets the queued batches commit, then closes the connections.
    pub async fn stop(self) {
        self.writer.stop().await;
        self.pool.close();
    }
}

/// A pool of at most `size` connections to `url`. Nothing connects until first used.
pub fn pool(url: &PgUrl, size: usize) -> Result<Pool, String> {
    let manager = Manager::from_config(
        url.to_config(),
        tls::connector(url)?,
        ManagerConfig {
            // A connection that died (a restarted server) is replaced before it is handed out.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(url.connect_timeout))
        .wait_timeout(Some(url.connect_timeout * 3))
        .build()
        .map_err(|e| format!("cannot set up a connection pool for {url}: {e}"))
}

/// Connects to `url` (through a one-connection pool) and brings its schema up to date.
pub async fn open(url: &PgUrl) -> Result<Pool, String> {
    let pool = pool(url, 1)?;
    let mut client = pool.get().await.map_err(|e| connect_error(url, &e))?;
    schema::migrate(&mut client)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    drop(client);
    Ok(pool)
}

/// Why a connection could not be had, naming the database without its password.
pub fn connect_error(url: &PgUrl, e: &deadpool_postgres::PoolError) -> String {
    let why = match e {
        deadpool_postgres::PoolError::Backend(pg) => schema::describe(pg),
        other => other.to_string(),
    };
    format!("cannot connect to {url}: {why}")
}
