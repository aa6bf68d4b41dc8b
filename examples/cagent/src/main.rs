//! `cagent`: a small agent runner in the shape of docker/cagent, instrumented with the
//! `telemetry` crate. It is both the library's demo and its end-to-end test subject.
//!
//! The model provider is an offline stand-in (`scripted/...`, see [`model`]): no network
//! access or API key is needed, and the tools do real work on the local filesystem.

#![forbid(unsafe_code)]

mod agent;
mod model;
mod runner;
mod telemetry_cmd;
mod tools;

use std::fmt;
use std::io::{self, BufRead, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cli_telemetry::{Client, Env};

/// Run AI agents defined in YAML files (an example of the `telemetry` crate).
#[derive(Debug, Parser)]
#[command(name = "cagent", version, about, long_about = None)]
struct Cli {
    /// Telemetry debug mode: print each record on stderr, send nothing.
    #[arg(short, long, global = true)]
    debug: bool,

    /// Directory for the anonymous id and the persisted telemetry choice
    /// [default: the platform config dir + `cagent`, e.g. ~/.config/cagent]
    #[arg(long, global = true, value_name = "DIR")]
    config_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an agent; reads the prompt from stdin when --prompt is absent (line by line when
    /// stdin is a terminal).
    Run(RunArgs),
    /// Run an agent non-interactively: the prompt comes from --prompt or all of stdin.
    Exec(RunArgs),
    /// Print the version.
    Version,
    /// Show or change the telemetry settings (no action: show the status).
    Telemetry {
        #[command(subcommand)]
        action: Option<TelemetryAction>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The agent file (YAML).
    agent_file: PathBuf,
    /// The prompt; one model turn per line.
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum TelemetryAction {
    /// Show whether telemetry is enabled, why, and where records go.
    Status,
    /// Turn telemetry on (persisted in the config dir).
    Enable,
    /// Turn telemetry off (persisted in the config dir).
    Disable,
    /// Delete the anonymous id; a new one is made when next needed.
    ResetId,
}

/// A command failure.
///
/// Its `Display` is deliberately terse and generic: it is the error text the command record
/// carries, and must hold no paths, prompts or file contents. The full explanation for the
/// user is in `detail`, which `main` prints.
#[derive(Debug)]
struct CliError {
    summary: &'static str,
    detail: String,
}

impl CliError {
    fn new(summary: &'static str, detail: impl Into<String>) -> Self {
        Self {
            summary,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.summary)
    }
}

impl From<agent::AgentFileError> for CliError {
    fn from(e: agent::AgentFileError) -> Self {
        Self::new(e.kind.summary(), e.to_string())
    }
}

/// Set to `1` to hide the first-run telemetry notice.
const HIDE_BANNER_VAR: &str = "CAGENT_HIDE_TELEMETRY_BANNER";
/// docker/cagent's own name for [`HIDE_BANNER_VAR`], honoured as well.
const DOCKER_HIDE_BANNER_VAR: &str = "DOCKER_AGENT_HIDE_TELEMETRY_BANNER";
/// cagent's variables are `CAGENT_TELEMETRY_*` first, then the shared `TELEMETRY_*`.
const ENV_PREFIX: &str = "CAGENT";

/// Where the prompt comes from, per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `run`: a terminal on stdin is read line by line, each line answered at once.
    Interactive,
    /// `exec`: never interactive.
    Batch,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env::from_process();
    let config_dir = cli
        .config_dir
        .clone()
        .or_else(|| cli_telemetry::config::platform_config_dir(&env).map(|d| d.join("cagent")));

    let mut builder = Client::builder()
        .app("cagent", env!("CARGO_PKG_VERSION"))
        .env_prefix(ENV_PREFIX)
        .debug(cli.debug)
        .env(env.clone());
    if let Some(dir) = &config_dir {
        builder = builder.config_dir(dir);
    }
    if let Command::Telemetry {
        action: Some(TelemetryAction::Disable),
    } = cli.command
    {
        // Opting out is never itself reported.
        builder = builder.enabled(false);
    }
    let client = builder.build();
    // A fresh process: nothing has touched the global client yet, so this cannot fail.
    let _ = cli_telemetry::set_global(client.clone());
    // Once per config dir, when telemetry is enabled: what is collected and how to opt out.
    // Records of the process that shows it stay on this machine until a later run.
    if !env.is_truthy(DOCKER_HIDE_BANNER_VAR) {
        client.first_run_notice(HIDE_BANNER_VAR);
    }

    let result = match &cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Exec(args) => cmd_exec(args),
        Command::Version => cmd_version(),
        Command::Telemetry { action } => match action.unwrap_or(TelemetryAction::Status) {
            TelemetryAction::Status => cmd_telemetry_status(&client),
            TelemetryAction::Enable => cmd_telemetry_enable(&client),
            TelemetryAction::Disable => cmd_telemetry_disable(&client),
            TelemetryAction::ResetId => cmd_telemetry_reset_id(&client),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cagent: {}", e.detail);
            ExitCode::FAILURE
        }
    }
}

/// `cagent run`: interactive when stdin is a terminal and there is no `--prompt`.
#[cli_telemetry::track_command(name = "run")]
fn cmd_run(args: &RunArgs) -> Result<(), CliError> {
    run_agent(args, Mode::Interactive)
}

/// `cagent exec`: never interactive.
#[cli_telemetry::track_command(name = "exec")]
fn cmd_exec(args: &RunArgs) -> Result<(), CliError> {
    run_agent(args, Mode::Batch)
}

fn run_agent(args: &RunArgs, mode: Mode) -> Result<(), CliError> {
    let file = agent::load(&args.agent_file)?;
    let stdin = io::stdin();
    let interactive = mode == Mode::Interactive && args.prompt.is_none() && stdin.is_terminal();
    let prompt = match &args.prompt {
        _ if interactive => None,
        Some(p) => Some(p.clone()),
        None => {
            let mut text = String::new();
            stdin.lock().read_to_string(&mut text).map_err(|e| {
                CliError::new(
                    "cannot read the prompt",
                    format!("cannot read the prompt from stdin: {e}"),
                )
            })?;
            Some(text)
        }
    };
    if prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(CliError::new(
            "empty prompt",
            "the prompt is empty: pass --prompt TEXT or write it on stdin",
        ));
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let report = match prompt {
        Some(text) => runner::run(&file, text.lines().map(|l| Ok(l.to_owned())), &mut out),
        None => {
            let root = file.root();
            eprintln!(
                "cagent: agent `{}` ({}) is ready; type a prompt, one request per line, Ctrl-D to end",
                root.name, root.model
            );
            runner::run(&file, stdin.lock().lines(), &mut out)
        }
    };
    report
        .map(|_| ())
        .map_err(|e| CliError::new("input or output failed", format!("run failed: {e}")))
}

#[cli_telemetry::track_command(name = "version")]
fn cmd_version() -> Result<(), CliError> {
    println!("cagent {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}

#[cli_telemetry::track_command(name = "telemetry", args = ["status"])]
fn cmd_telemetry_status(client: &Client) -> Result<(), CliError> {
    telemetry_cmd::status(client, &mut io::stdout().lock()).map_err(|e| {
        CliError::new(
            "cannot write the status",
            format!("cannot write the status: {e}"),
        )
    })
}

fn config_error(summary: &'static str, what: &str, client: &Client, e: &io::Error) -> CliError {
    match client.config_dir() {
        None => CliError::new(
            "no config dir",
            "no config dir: set HOME (or XDG_CONFIG_HOME) or pass --config-dir DIR",
        ),
        Some(dir) => CliError::new(summary, format!("{what} in {}: {e}", dir.display())),
    }
}

#[cli_telemetry::track_command(name = "telemetry", args = ["enable"])]
fn cmd_telemetry_enable(client: &Client) -> Result<(), CliError> {
    persist_choice(client, true)
}

/// Annotated like every command, but `main` builds a disabled client for it: opting out is
/// never itself reported.
#[cli_telemetry::track_command(name = "telemetry", args = ["disable"])]
fn cmd_telemetry_disable(client: &Client) -> Result<(), CliError> {
    persist_choice(client, false)
}

fn persist_choice(client: &Client, enabled: bool) -> Result<(), CliError> {
    telemetry_cmd::persist_choice(client, enabled).map_err(|e| {
        config_error(
            "cannot save the choice",
            "cannot save the choice",
            client,
            &e,
        )
    })?;
    let word = if enabled { "enabled" } else { "disabled" };
    let file = client
        .config_dir()
        .map(|d| d.join(telemetry_cmd::CONSENT_FILE));
    match file {
        Some(file) => println!("Telemetry {word} (saved in {}).", file.display()),
        None => println!("Telemetry {word}."),
    }
    if enabled {
        println!(
            "DO_NOT_TRACK, CAGENT_TELEMETRY_ENABLED=false (or TELEMETRY_ENABLED=false) and CI \
             still turn it off where they are set."
        );
    } else {
        println!("Records waiting to be sent were deleted.");
    }
    Ok(())
}

#[cli_telemetry::track_command(name = "telemetry", args = ["reset-id"])]
fn cmd_telemetry_reset_id(client: &Client) -> Result<(), CliError> {
    let new_id = telemetry_cmd::reset_id(client).map_err(|e| {
        config_error(
            "cannot reset the anonymous id",
            "cannot reset the anonymous id",
            client,
            &e,
        )
    })?;
    match new_id {
        Some(id) => {
            println!("Anonymous id reset; the new id is {id}. Waiting records were deleted.")
        }
        None => println!(
            "Anonymous id deleted; a new one is made when telemetry next records something."
        ),
    }
    Ok(())
}
