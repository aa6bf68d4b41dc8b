//! `telemetry-collector`: a small receiver for cli-telemetry records that one machine can run.
//!
//! It takes cagent-format batches on `POST /events/v1/track` and OTLP/JSON logs on
//! `POST /v1/logs`, stores each record once in SQLite (WAL, one transaction per batch) or,
//! for several replicas behind a load balancer, in PostgreSQL (`store`), and shows a report
//! at `GET /` (HTML with inline SVG charts) and `GET /api/summary` (JSON). See the crate
//! README for the API, durability and security.
//!
//! ```
//! use telemetry_collector::{BackgroundServer, Config};
//! let dir = tempfile::tempdir().unwrap();
//! let server = BackgroundServer::start(Config::new(dir.path().join("t.db"))).unwrap();
//! assert!(server.url("/healthz").starts_with("http://127.0.0.1:"));
//! server.stop();
//! ```

pub mod auth;
pub mod cardinality;
pub mod health;
pub mod html;
pub mod limits;
pub mod listen;
pub mod login;
pub mod otlp;
pub mod record;
pub mod rollup;
pub mod server;
pub mod sessions;
pub mod shed;
pub mod span;
pub mod store;
pub mod summary;
pub mod text;
pub mod validate;
pub mod waterfall;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::limits::Limits;
use crate::shed::ShedLog;

/// The default `--max-body`: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// The shortest `--admin-token` accepted, in characters.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// How the server runs (the `serve` flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// The database: a SQLite file (created if missing) or a PostgreSQL URL.
    pub db: store::Db,
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
    /// Connection, header, body, idle and cardinality bounds (see `limits.rs`).
    pub limits: Limits,
    /// `--secure-cookies`: the session cookie is always `Secure` (behind a TLS proxy that
    /// does not send `X-Forwarded-Proto`).
    pub secure_cookies: bool,
    /// `--session-ttl`: how long a login opens the report.
    pub session_ttl: Duration,
}

impl Config {
    /// Defaults around a database (a SQLite path or a PostgreSQL URL): `127.0.0.1:0`, no
    /// keys, 1 MiB bodies, keep forever.
    ///
    /// ```
    /// let c = telemetry_collector::Config::new("t.db");
    /// assert_eq!(c.max_body, telemetry_collector::DEFAULT_MAX_BODY);
    /// ```
    pub fn new(db: impl Into<store::Db>) -> Self {
        Self {
            db: db.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_keys: Vec::new(),
            admin_token: None,
            max_body: DEFAULT_MAX_BODY,
            retain_days: None,
            limits: Limits::default(),
            secure_cookies: false,
            session_ttl: login::DEFAULT_SESSION_TTL,
        }
    }

    /// Refuses settings that would expose the report or mix up keys, with a one-line reason.
    ///
    /// ```
    /// let mut c = telemetry_collector::Config::new("t.db");
    /// c.listen = "0.0.0.0:8787".parse().unwrap();
    /// assert!(c.check().is_err());
    /// c.admin_token = Some("short".into());
    /// assert!(c.check().unwrap_err().contains("16"));
    /// c.admin_token = Some("a-long-random-token".into());
    /// assert!(c.check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), String> {
        self.limits.check()?;
        if self.session_ttl.is_zero() {
            return Err("--session-ttl must be at least 1".into());
        }
        match &self.admin_token {
            None if !self.listen.ip().is_loopback() => Err(format!(
                "refusing to listen on {} without --admin-token: the report would be open to the network",
                self.listen
            )),
            Some(t) if t.chars().count() < MIN_ADMIN_TOKEN_CHARS => Err(format!(
                "--admin-token must be at least {MIN_ADMIN_TOKEN_CHARS} characters (it has {}); \
                 use a long random one, e.g. from `openssl rand -hex 24`",
                t.chars().count()
            )),
            Some(t) if self.api_keys.contains(t) => Err(
                "--admin-token must differ from every --api-key (ingest keys are public)".into(),
            ),
            _ if self.api_keys.iter().any(String::is_empty) => Err("an --api-key is empty".into()),
            _ => Ok(()),
        }
    }
}

/// A server whose database is locked, open, migrated and writable, and whose start-up
/// retention ran: it answers correctly from its first request. Print "listening" only once
/// this exists.
pub struct Ready {
    state: Arc<server::AppState>,
    max_connections: usize,
}

impl Ready {
    /// Checks the settings, takes the database's lock (a second server on the same file is
    /// refused), opens it for writing and runs retention once.
    pub async fn open(config: Config) -> Result<Self, String> {
        config.check()?;
        let store = store::Store::open(&config.db, config.limits.max_names_per_day).await?;
        if let Some(days) = config.retain_days {
            store.retain(days).await?;
        }
        let max_connections = config.limits.fitted_connections();
        let shed = Arc::new(ShedLog::new(&config.limits, max_connections));
        let state = Arc::new(server::AppState::new(config, store, shed));
        Ok(Self {
            state,
            max_connections,
        })
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the requests in flight
    /// (every acknowledged batch is committed before its answer) and stops the writer. Ends
    /// with an error if the writer stopped for good (a supervisor should restart the server).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let Self {
            state,
            max_connections,
        } = self;
        let limits = &state.config.limits;
        if max_connections < limits.max_connections {
            eprintln!(
                "telemetry-collector: --max-connections {} lowered to {max_connections} to fit \
                 the open-file limit (ulimit -n)",
                limits.max_connections
            );
        }
        let retention = state.config.retain_days.map(|days| {
            let st = Arc::clone(&state);
            tokio::spawn(async move {
                let hour = Duration::from_secs(3600);
                let mut every = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
                loop {
                    every.tick().await;
                    if let Err(e) = st.store.retain(days).await {
                        eprintln!("retention: {e}");
                    }
                }
            })
        });
        let health = Arc::clone(state.store.health());
        let watch = Arc::clone(&health);
        let stop = async move {
            tokio::select! {
                () = shutdown => {}
                _ = watch.writer_dead() => {}
            }
        };
        let app = server::router(Arc::clone(&state));
        let shed = Arc::clone(&state.shed);
        listen::run(listener, app, limits, max_connections, shed, stop).await;
        if let Some(task) = retention {
            task.abort();
            let _ = task.await;
        }
        // Nothing else holds the state once the server and retention ended.
        match Arc::try_unwrap(state) {
            Ok(state) => state.store.stop().await,
            Err(state) => {
                let _ = tokio::task::spawn_blocking(move || drop(state)).await;
            }
        }
        // The writer thread has ended now, so a failure of it is recorded.
        match health.stopped() {
            Some(why) => Err(format!("the writer stopped: {why}")),
            None => Ok(()),
        }
    }
}

/// [`Ready::open`] then [`Ready::serve`].
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    Ready::open(config).await?.serve(listener, shutdown).await
}

/// A server on its own thread and runtime, for tests, benchmarks and embedding in sync code.
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl BackgroundServer {
    /// Opens the database (see [`Ready::open`]), binds `config.listen` and starts serving;
    /// returns once it answers.
    pub fn start(config: Config) -> Result<Self, String> {
        config.check()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let listen = config.listen;
        let ready = runtime.block_on(Ready::open(config))?;
        let listener = runtime
            .block_on(TcpListener::bind(listen))
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("telemetry-collector".into())
            .spawn(move || {
                runtime.block_on(ready.serve(listener, async move {
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
