//! Attribute macros of the [`cli-telemetry`](https://docs.rs/cli-telemetry) crate:
//! `#[track_command]`, `#[track_tool]` and `#[track_session]`.
//!
//! Use them through the facade (`use cli_telemetry::track_command;`), which documents them
//! with examples; the code they generate calls `::cli_telemetry::__private`.
//!
//! One expansion (`expand`): `item` reads the function without parsing its body, `attr`
//! parses and validates the arguments, `shape` classifies what the function returns,
//! `generate` writes the new body; `error` combines the errors found on the way. No I/O and
//! no environment reads happen at expansion time.

#![forbid(unsafe_code)]

mod attr;
mod error;
mod expand;
mod generate;
mod item;
mod shape;

use proc_macro::TokenStream;

use crate::attr::Kind;

/// Records a `command` event each time the function returns: `action` (the function's name, or
/// `name = ".."`), `args` (only with `args = <expr>`), `is_success`, `error`, `duration_ms`.
///
/// Arguments: `name = "str"`, `args = <expr>` (evaluated before the body when telemetry is on;
/// anything iterable over strings), `outcome = <fn(&R) -> Outcome>` (classifies the returned
/// value instead of its type), `future` (the function returns a boxed future under a name of
/// its own), `crate = path` (default `::cli_telemetry`).
/// See the `cli-telemetry` crate for examples.
#[proc_macro_attribute]
pub fn track_command(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Command, args.into(), item.into()).into()
}

/// Records a `tool` event each time the function returns: `tool_name` (the function's name, or
/// `name = ".."`), `session_id` and `agent_name` (from the current session, or from
/// `session = <expr>` / `agent = <expr>`), `duration_ms`, `is_success`, `error`.
///
/// Arguments: `name = "str"`, `session = <expr>` (`Into<SessionId>`), `agent = <expr>`
/// (`Into<AgentName>`), `outcome = <fn(&R) -> Outcome>`, `future`, `crate = path` (default
/// `::cli_telemetry`). See the `cli-telemetry` crate for examples.
#[proc_macro_attribute]
pub fn track_tool(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Tool, args.into(), item.into()).into()
}

/// Runs the function inside a session: records the session's start before the body and its
/// end (with its aggregates) after, however the body leaves; an `Err` or a panic counts as an
/// error of the session.
///
/// Arguments: `agent = <expr>` (required, `Into<AgentName>`), `id = <expr>` (`Into<SessionId>`,
/// default a random id), `outcome = <fn(&R) -> Outcome>`, `future`, `crate = path` (default
/// `::cli_telemetry`). See the `cli-telemetry` crate for examples.
#[proc_macro_attribute]
pub fn track_session(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Session, args.into(), item.into()).into()
}
