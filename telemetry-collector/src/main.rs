//! The `telemetry-collector` binary: `serve` and `report`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use telemetry_collector::{Config, DEFAULT_MAX_BODY, serve, summary, text};

/// A small receiver for cli-telemetry records: SQLite storage and a report page.
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
        /// The SQLite database file (created if missing).
        #[arg(long, env = "TELEMETRY_COLLECTOR_DB")]
        db: PathBuf,
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
    },
    /// Print the summary of a database.
    Report {
        /// The SQLite database file.
        #[arg(long, env = "TELEMETRY_COLLECTOR_DB")]
        db: PathBuf,
        /// The window, in days (today included).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
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
        } => {
            let config = Config {
                db,
                listen,
                api_keys: api_keys.into_iter().filter(|k| !k.is_empty()).collect(),
                admin_token,
                max_body,
                retain_days,
            };
            run_server(config)
        }
        Command::Report { db, days, format } => report(&db, days, format),
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
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        eprintln!("listening on http://{addr}");
        serve(config, listener, shutdown_signal()).await?;
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

fn report(db: &std::path::Path, days: u32, format: Format) -> Result<(), String> {
    let s = summary::summarize_file(db, days)?;
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
