//! Temporary: direct runtime calls standing in for `#[track_tool]` until the macros land.

use std::fmt::Display;
use std::time::Instant;

use telemetry::{AgentName, Outcome};

/// Runs a tool body and records the call on the current client.
pub fn tool<T, E: Display>(
    name: &str,
    agent: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let client = telemetry::current();
    if !client.is_enabled() {
        return f();
    }
    let start = Instant::now();
    let result = f();
    client.record_tool_call(
        name,
        None,
        Some(AgentName::new(agent)),
        start.elapsed(),
        Outcome::of_result(&result),
    );
    result
}

/// Runs `f` as a session of `agent` on the current client; an `Err` counts as an error.
pub fn session<T, E: Display>(agent: &str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let client = telemetry::current();
    if !client.is_enabled() {
        return f();
    }
    let guard = client.start_session(agent, telemetry::SessionId::random());
    let result = f();
    guard.finish(&Outcome::of_result(&result));
    result
}

/// Runs a command handler and records the command on the current client.
pub fn command<T, E: Display>(
    name: &str,
    args: &[&str],
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let client = telemetry::current();
    if !client.is_enabled() {
        return f();
    }
    let start = Instant::now();
    let result = f();
    client.track(&telemetry::CommandEvent::new(
        name,
        args.iter().map(|a| (*a).to_owned()).collect(),
        Outcome::of_result(&result),
        start.elapsed(),
    ));
    result
}
