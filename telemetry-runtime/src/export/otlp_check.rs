//! Test support: runs `scripts/check_otlp.py`, the strict check of OTLP/HTTP JSON bodies
//! against the OpenTelemetry project's own definitions (the Python `opentelemetry-proto`
//! package), on bodies written to a temporary directory.
//!
//! Shared by the crate's unit tests and the integration tests (`tests/otlp_checker.rs`
//! includes this file), so it uses nothing but `std` and `tempfile`.
//!
//! When `python3` or the package is missing the check cannot run: with `CI` set that fails
//! the test; otherwise a loud `SKIP` line is printed and [`check_bodies`] returns `None`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The checker script, `scripts/check_otlp.py` of the workspace root: the nearest one above
/// the including crate's manifest dir (so any workspace member may include this file).
pub(crate) fn script() -> PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("scripts/check_otlp.py"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| manifest.join("../scripts/check_otlp.py"))
}

/// What the checker said about a set of bodies.
#[derive(Debug)]
pub(crate) struct CheckResult {
    /// Whether every body passed.
    pub(crate) passed: bool,
    /// Its standard output (the summary line when passed).
    pub(crate) stdout: String,
    /// Its standard error (one `FAIL:` line per failure).
    pub(crate) stderr: String,
}

/// Runs the checker on `bodies` (one request body each) with extra `args`. `None` when the
/// check cannot run on this machine and `CI` is not set.
///
/// # Panics
///
/// When the check cannot run and `CI` is set, or the temporary files cannot be written.
pub(crate) fn check_bodies(bodies: &[Vec<u8>], args: &[&str]) -> Option<CheckResult> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let path = dir.path().join(format!("body-{i}.json"));
        std::fs::write(&path, body).expect("write body");
        paths.push(path);
    }
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .args(&paths)
        .output();
    let unavailable = match &out {
        Err(e) => Some(format!("python3 cannot run: {e}")),
        Ok(o) if o.status.code() == Some(3) => {
            Some(String::from_utf8_lossy(&o.stderr).trim().to_owned())
        }
        Ok(_) => None,
    };
    if let Some(why) = unavailable {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(!ci, "the strict OTLP check must run in CI: {why}");
        eprintln!("\n!!!!!!!! SKIP: strict OTLP check not run: {why} !!!!!!!!\n");
        return None;
    }
    let out = out.expect("checked above");
    let result = CheckResult {
        passed: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "the checker failed to run: {result:?}"
    );
    Some(result)
}
