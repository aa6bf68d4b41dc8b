//! Libraries instrument, the application decides: a program that installs no client records
//! nothing, writes nothing and sends nothing, even with `TELEMETRY_ENDPOINT` set; one that
//! installs `Client::from_env()` sends as before.
//!
//! The probe is this test binary run again as a child process (`probe` below, which does
//! nothing unless `CLI_TELEMETRY_PROBE` is set), with a cleared environment, `HOME` and
//! `XDG_CONFIG_HOME` in a temporary dir, and `TELEMETRY_ENDPOINT` at a loopback collector.

use std::path::Path;
use std::process::Command;

use telemetry_test_collector::Collector;

/// What a library crate writes: the attributes, nothing else.
mod some_library {
    #[cli_telemetry::track_tool]
    pub fn lookup(key: &str) -> Result<u32, String> {
        key.parse().map_err(|_| format!("not a number: {key}"))
    }

    #[cli_telemetry::track_command]
    pub fn build() -> Result<(), String> {
        lookup("12").map(|_| ())
    }
}

const PROBE_VAR: &str = "CLI_TELEMETRY_PROBE";

/// The child's body: with `from-env`, the application installs its client first.
#[test]
fn probe() {
    let Some(mode) = std::env::var_os(PROBE_VAR) else {
        return;
    };
    if mode == "from-env" {
        let installed = cli_telemetry::set_global(cli_telemetry::Client::from_env());
        assert!(installed.is_ok());
    }
    let _ = some_library::build();
    let _ = some_library::lookup("x");
    cli_telemetry::current().flush();
}

/// Runs the probe in `mode` and returns the files it left under its home.
fn run_probe(mode: &str, collector: &Collector) -> Vec<String> {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let out = cmd
        .env(PROBE_VAR, mode)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("APPDATA", home.path().join("AppData"))
        .env("TELEMETRY_ENDPOINT", collector.url())
        .env("TELEMETRY_ENABLED", "true")
        .args(["probe", "--exact", "--test-threads=1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    files_under(home.path())
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
fn a_program_that_installs_no_client_records_nothing() {
    let collector = Collector::start();
    let files = run_probe("no-client", &collector);
    assert_eq!(collector.connections(), 0, "no request");
    assert!(files.is_empty(), "no file: {files:?}");
}

#[test]
fn an_application_that_installs_from_env_still_sends() {
    let collector = Collector::start();
    let files = run_probe("from-env", &collector);
    let kinds: Vec<String> = collector
        .records()
        .iter()
        .map(|r| r["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["tool", "command", "tool"]);
    assert!(files.iter().any(|f| f.ends_with("user-uuid")), "{files:?}");
}
