//! PostgreSQL storage, for several stateless collectors on one database: the URL
//! ([`url`]), TLS ([`tls`]), the schema and its migrations ([`schema`]), the writer that
//! groups concurrent batches into one statement ([`writer`], [`ingest`]), the bound on
//! names per day kept across replicas ([`names`]), retention run by one replica at a time
//! ([`retention`]).

pub mod ingest;
pub mod names;
pub mod read;
pub mod retention;
pub mod schema;
pub mod sessions;
pub mod tls;
pub mod url;
pub mod writer;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

pub use url::PgUrl;

use std::sync::Arc;
use std::time::Duration;

use crate::health::Health;
use crate::record::Row;
use crate::store::Counts;
use crate::summary::{Summary, Window, build};

/// Connections one replica opens at most: the writer's, retention's, and the summaries'.
pub const POOL_SIZE: usize = 8;

/// One replica's handle on the database: a pool and the writer task.
pub struct PgStore {
    url: PgUrl,
    pool: Pool,
    writer: writer::Writer,
    health: Arc<Health>,
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
        let health = Arc::new(Health::default());
        let writer = writer::Writer::start(pool.clone(), max_names_per_day, Arc::clone(&health));
        Ok(Self {
            url: url.clone(),
            pool,
            writer,
            health,
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

    /// Stores spans (each `(trace_id, span_id)` once); returns once committed.
    pub async fn insert_spans(&self, spans: Vec<crate::span::SpanRow>) -> Result<Counts, String> {
        sessions::insert_spans(&self.pool, &spans).await
    }

    /// The writer's and the database's state.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Whether the database answers (`SELECT 1` within 5 s), recorded in the health.
    pub async fn check(&self) -> Result<(), String> {
        let probe = async {
            let c = self
                .pool
                .get()
                .await
                .map_err(|e| connect_error(&self.url, &e))?;
            c.simple_query("SELECT 1")
                .await
                .map(drop)
                .map_err(|e| format!("{}: {}", self.url, schema::describe(&e)))
        };
        let state = match tokio::time::timeout(Duration::from_secs(5), probe).await {
            Ok(r) => r,
            Err(_) => Err(format!("{}: no answer within 5 s", self.url)),
        };
        self.health.set_storage(state.clone().err());
        state
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

/// The summary of the database at `url` without serving it (`report`): no migration; a
/// schema older or newer than this collector's is refused.
pub async fn summarize(url: &PgUrl, days: u32, top: usize) -> Result<Summary, String> {
    let pool = open_current(url).await?;
    let w = Window::new(days, top);
    let totals = read::totals(&pool, &w)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    pool.close();
    Ok(build(totals, &w))
}

/// A pool on the database at `url` for reading it without serving it: no migration; a
/// schema older or newer than this collector's is refused.
pub async fn open_current(url: &PgUrl) -> Result<Pool, String> {
    let pool = pool(url, 5)?;
    let client = pool.get().await.map_err(|e| connect_error(url, &e))?;
    schema::check_current(&client)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    drop(client);
    Ok(pool)
}
