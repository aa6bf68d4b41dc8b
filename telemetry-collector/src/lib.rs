//! `telemetry-collector`: a small receiver for cli-telemetry records that one machine can run.
//!
//! It takes cagent-format batches on `POST /events/v1/track` and OTLP/JSON logs on
//! `POST /v1/logs`, stores each record once in SQLite (WAL, one transaction per batch), and
//! shows a report at `GET /` (HTML with inline SVG charts) and `GET /api/summary` (JSON).
//! See the crate README for the API, durability and security.
//!
//! ```
//! use telemetry_collector::{BackgroundServer, Config};
//! let dir = tempfile::tempdir().unwrap();
//! let server = BackgroundServer::start(Config::new(dir.path().join("t.db"))).unwrap();
//! assert!(server.url("/healthz").starts_with("http://127.0.0.1:"));
//! server.stop();
//! ```

pub mod auth;
pub mod dedupe;
pub mod html;
pub mod otlp;
pub mod postgres;
pub mod record;
pub mod rollup;
pub mod server;
pub mod store;
pub mod summary;
pub mod text;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

/// The default `--max-body`: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// How the server runs (the `serve` flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// The SQLite file (created if missing).
    pub db: PathBuf,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Keys that may ingest; empty means anyone may.
    pub api_keys: Vec<String>,
    /// The token that opens the report; `None` only on loopback addresses.
    pub admin_token: Option<String>,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// Delete records older than this many days (at start, then hourly).
    pub retain_days: Option<u32>,
}

impl Config {
    /// Defaults around a database path: `127.0.0.1:0`, no keys, 1 MiB bodies, keep forever.
    ///
    /// ```
    /// let c = telemetry_collector::Config::new("t.db".into());
    /// assert_eq!(c.max_body, telemetry_collector::DEFAULT_MAX_BODY);
    /// ```
    pub fn new(db: PathBuf) -> Self {
        Self {
            db,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_keys: Vec::new(),
            admin_token: None,
            max_body: DEFAULT_MAX_BODY,
            retain_days: None,
        }
    }

    /// Refuses settings that would expose the report or mix up keys, with a one-line reason.
    ///
    /// ```
    /// let mut c = telemetry_collector::Config::new("t.db".into());
    /// c.listen = "0.0.0.0:8787".parse().unwrap();
    /// assert!(c.check().is_err());
    /// c.admin_token = Some("a-long-random-token".into());
    /// assert!(c.check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), String> {
        match &self.admin_token {
            None if !self.listen.ip().is_loopback() => Err(format!(
                "refusing to listen on {} without --admin-token: the report would be open to the network",
                self.listen
            )),
            Some(t) if t.is_empty() => Err("--admin-token is empty".into()),
            Some(t) if self.api_keys.contains(t) => Err(
                "--admin-token must differ from every --api-key (ingest keys are public)".into(),
            ),
            _ if self.api_keys.iter().any(String::is_empty) => Err("an --api-key is empty".into()),
            _ => Ok(()),
        }
    }
}

/// Serves on `listener` until `shutdown` completes, then finishes the requests in flight
/// (every acknowledged batch is committed before its answer) and stops the writer.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    config.check()?;
    let writer = store::Writer::start(&config.db)?;
    let retain_days = config.retain_days;
    let state = Arc::new(server::AppState { config, writer });
    if let Some(days) = retain_days {
        state.writer.retain(days).await?;
    }
    let retention = retain_days.map(|days| {
        let st = Arc::clone(&state);
        tokio::spawn(async move {
            let hour = Duration::from_secs(3600);
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
            loop {
                every.tick().await;
                if let Err(e) = st.writer.retain(days).await {
                    eprintln!("retention: {e}");
                }
            }
        })
    });
    let app = server::router(Arc::clone(&state));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(task) = retention {
        task.abort();
        let _ = task.await;
    }
    // Joining the writer thread blocks: do it off the async workers.
    let _ = tokio::task::spawn_blocking(move || drop(state)).await;
    served.map_err(|e| format!("server error: {e}"))
}

/// A server on its own thread and runtime, for tests, benchmarks and embedding in sync code.
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl BackgroundServer {
    /// Binds `config.listen` and starts serving (retention, if any, runs before the first request).
    pub fn start(config: Config) -> Result<Self, String> {
        config.check()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let listener = runtime
            .block_on(TcpListener::bind(config.listen))
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("telemetry-collector".into())
            .spawn(move || {
                runtime.block_on(serve(config, listener, async move {
                    let _ = stopped.await;
                }))
            })
            .map_err(|e| format!("cannot start the server thread: {e}"))?;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts down gracefully and waits; returns the server's result.
    pub fn stop(mut self) -> Result<(), String> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("the server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
