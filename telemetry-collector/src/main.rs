//! The `telemetry-collector` binary: `serve` and `report`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use telemetry_collector::limits::{self, Limits};
use telemetry_collector::store::{self, Db};
use telemetry_collector::{Config, DEFAULT_MAX_BODY, Ready, html, summary, text, waterfall};

/// A small receiver for cli-telemetry records: SQLite or PostgreSQL storage and a report page.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive records over HTTP and serve the report.
    Serve {
        /// The SQLite database file (created if missing), or a PostgreSQL URL
        /// (postgres://USER@HOST:PORT/DB; the password from the URL or PGPASSWORD).
        #[arg(long, env = "TELEMETRY_COLLECTOR_DB", hide_env_values = true, value_parser = db_arg)]
        db: Db,
        /// The address to listen on; port 0 picks a free one.
        #[arg(
            long,
            env = "TELEMETRY_COLLECTOR_LISTEN",
            default_value = "127.0.0.1:8787"
        )]
        listen: SocketAddr,
        /// A key ingest requests must carry (x-api-key or Authorization: Bearer); repeatable.
        #[arg(
            long = "api-key",
            env = "TELEMETRY_COLLECTOR_API_KEYS",
            value_delimiter = ','
        )]
        api_keys: Vec<String>,
        /// The token that opens the report (required on non-loopback addresses).
        #[arg(long, env = "TELEMETRY_COLLECTOR_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// The largest request body accepted, in bytes.
        #[arg(long, env = "TELEMETRY_COLLECTOR_MAX_BODY", default_value_t = DEFAULT_MAX_BODY)]
        max_body: usize,
        /// Delete records older than this many days (at start, then hourly).
        #[arg(long, env = "TELEMETRY_COLLECTOR_RETAIN_DAYS")]
        retain_days: Option<u32>,
        #[command(flatten)]
        limits: LimitFlags,
        /// Always mark the session cookie `Secure` (behind a TLS proxy). The variable takes
        /// 1/0, true/false, yes/no, on/off.
        #[arg(long, env = "TELEMETRY_COLLECTOR_SECURE_COOKIES",
              action = clap::ArgAction::SetTrue,
              value_parser = clap::builder::BoolishValueParser::new())]
        secure_cookies: bool,
        /// How long a login opens the report, in seconds.
        #[arg(long, env = "TELEMETRY_COLLECTOR_SESSION_TTL", value_parser = seconds,
              default_value = "86400")]
        session_ttl: Duration,
    },
    /// Print the summary of a database.
    Report {
        /// The SQLite database file, or a PostgreSQL URL.
        #[arg(long, env = "TELEMETRY_COLLECTOR_DB", hide_env_values = true, value_parser = db_arg)]
        db: Db,
        /// The window, in days (today included).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Entries per list (top N); the rest is summed up in one line.
        #[arg(long, default_value_t = summary::DEFAULT_TOP,
              value_parser = clap::value_parser!(u16).range(1..=summary::MAX_TOP as i64).map(usize::from))]
        top: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print this session's waterfall instead of the summary (text: indented spans with
        /// their durations; json: as `/api/sessions/{id}`).
        #[arg(long, value_name = "ID")]
        session: Option<String>,
    },
}

/// The bounds of `limits.rs`, as flags.
#[derive(Args)]
struct LimitFlags {
    /// Seconds a connection has to send a whole request head (from its first byte).
    #[arg(long, env = "TELEMETRY_COLLECTOR_HEADER_TIMEOUT", value_parser = seconds,
          default_value = "10")]
    header_timeout: Duration,
    /// Seconds a request body has to arrive whole (else 408).
    #[arg(long, env = "TELEMETRY_COLLECTOR_BODY_TIMEOUT", value_parser = seconds,
          default_value = "30")]
    body_timeout: Duration,
    /// Seconds a keep-alive connection may sit idle before it is closed.
    #[arg(long, env = "TELEMETRY_COLLECTOR_IDLE_TIMEOUT", value_parser = seconds,
          default_value = "30")]
    idle_timeout: Duration,
    /// Open connections at most (lowered to fit the open-file limit); more get 503.
    #[arg(long, env = "TELEMETRY_COLLECTOR_MAX_CONNECTIONS",
          default_value_t = limits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Ingest bodies read at once; more get 503 after waiting 1 s.
    #[arg(long, env = "TELEMETRY_COLLECTOR_MAX_CONCURRENT_BODIES",
          default_value_t = limits::DEFAULT_MAX_CONCURRENT_BODIES)]
    max_concurrent_bodies: usize,
    /// Distinct names kept per UTC day and dimension; later ones are counted as "(other)".
    #[arg(long, env = "TELEMETRY_COLLECTOR_MAX_NAMES_PER_DAY",
          default_value_t = limits::DEFAULT_MAX_NAMES_PER_DAY)]
    max_names_per_day: usize,
}

impl From<LimitFlags> for Limits {
    fn from(f: LimitFlags) -> Self {
        Limits {
            header_timeout: f.header_timeout,
            body_timeout: f.body_timeout,
            idle_timeout: f.idle_timeout,
            max_connections: f.max_connections,
            max_concurrent_bodies: f.max_concurrent_bodies,
            max_names_per_day: f.max_names_per_day,
        }
    }
}

/// `--db`: a PostgreSQL URL (an invalid one is refused without printing its password),
/// else a SQLite path.
fn db_arg(text: &str) -> Result<Db, String> {
    Db::parse(text)
}

/// Seconds, whole or decimal (`0.5`), more than 0 and at most a day.
fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0 * 365.0) {
        return Err(format!("`{text}` must be more than 0 and at most a year"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Serve {
            db,
            listen,
            api_keys,
            admin_token,
            max_body,
            retain_days,
            limits,
            secure_cookies,
            session_ttl,
        } => {
            let config = Config {
                db,
                listen,
                api_keys: api_keys.into_iter().filter(|k| !k.is_empty()).collect(),
                admin_token,
                max_body,
                retain_days,
                limits: limits.into(),
                secure_cookies,
                session_ttl,
            };
            run_server(config)
        }
        Command::Report {
            db,
            days,
            top,
            format,
            session,
        } => match session {
            Some(id) => report_session(&db, &id, format),
            None => report(&db, days, top, format),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("telemetry-collector: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(config: Config) -> Result<(), String> {
    config.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async move {
        let listen = config.listen;
        let ready = Ready::open(config).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // Only now: the database is open and writable, and the port is bound.
        eprintln!("listening on http://{addr}");
        ready.serve(listener, shutdown_signal()).await?;
        eprintln!("stopped");
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn report(db: &Db, days: u32, top: usize, format: Format) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let s = runtime.block_on(store::summarize(db, days, top))?;
    match format {
        Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?
            );
        }
        Format::Text => print!("{}", text::render(&s)),
    }
    Ok(())
}

/// `report --session ID`: one session's waterfall, or its JSON.
fn report_session(db: &Db, id: &str, format: Format) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let Some(d) = runtime.block_on(store::session(db, id))? else {
        return Err(format!(
            "no session `{}` in {db}: no span or record carries this id",
            html::visible(id)
        ));
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&d).map_err(|e| e.to_string())?
        ),
        Format::Text => print!("{}", waterfall::text::render(&d)),
    }
    Ok(())
}
