//! PostgreSQL storage, for several stateless collectors on one database: the URL
//! ([`url`]), TLS ([`tls`]), the schema and its migrations ([`schema`]).

pub mod schema;
pub mod tls;
pub mod url;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

pub use url::PgUrl;

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
