//! Honest, anonymous usage telemetry for Rust command-line tools, one attribute per function.
//!
//! This facade re-exports the runtime ([`Client`], events, [`testing`]) and the tracking
//! attribute macros [`track_command`], [`track_tool`] and [`track_session`].
//!
//! ```
//! use cli_telemetry::{track_command, track_session, track_tool};
//!
//! #[track_command(name = "run", args = ["--fast"])]
//! fn run() -> Result<(), std::io::Error> {
//!     agent_loop("sess-1")
//! }
//!
//! #[track_session(agent = "root", id = session_id)]
//! fn agent_loop(session_id: &str) -> Result<(), std::io::Error> {
//!     read_file("Cargo.toml").map(drop)
//! }
//!
//! #[track_tool]
//! fn read_file(path: &str) -> std::io::Result<usize> {
//!     Ok(path.len()) // a real tool would read the file
//! }
//!
//! let (result, records) = cli_telemetry::testing::capture(run);
//! assert!(result.is_ok());
//! let events: Vec<_> = records.iter().map(|r| r["event"].as_str().unwrap()).collect();
//! assert_eq!(events, ["session", "tool", "session", "command"]);
//! assert_eq!(records[1]["properties"]["tool_name"], "read_file");
//! assert_eq!(records[1]["properties"]["session_id"], "sess-1");
//! assert_eq!(records[3]["properties"]["action"], "run");
//! ```
//!
//! # What the macros do
//!
//! Each macro wraps the function's body and leaves its signature, attributes, visibility and
//! documentation as they are. When telemetry is off (no enabled client), the wrapped call costs
//! one relaxed atomic load and a branch; no clock is read and no argument expression is
//! evaluated. When it is on, the macro resolves the current client ([`current`]), times the
//! body, and records an event when the function returns, however it returns: normally, early
//! with `return` or `?`, or by panicking (the panic is recorded as a failure whose error says
//! `panicked`, then unwinds unchanged; no `UnwindSafe` bound is added).
//!
//! Argument values and returned values are never recorded unless an attribute argument
//! names them (`args = ..`).
//!
//! Every macro accepts `crate = path` to name this crate when it is renamed or re-exported,
//! e.g. `#[track_tool(crate = ::my_app::telemetry)]`.
//!
//! # Success or failure
//!
//! The returned value decides success, by its type rather than the spelling of its type,
//! in this order:
//!
//! 1. `Result<T, E>`, through any alias (`io::Result<T>`, `anyhow::Result<T>`, your own):
//!    `Err` is a failure, with the error's `Display` text as `error` (scrubbed and capped like
//!    every recorded string), or the error's type name when `E` has no `Display`;
//! 2. a type implementing [`TrackOutcome`] classifies itself. This crate implements it for
//!    [`std::process::ExitCode`] (anything but `SUCCESS` fails, `exit code N`),
//!    [`std::process::ExitStatus`] and [`std::process::Output`] (by `success()`, the status's
//!    `Display` as error), `Result`, and `Option`;
//! 3. anything else is a success. **`Option` is always a success**: `None` is an answer
//!    ("nothing found"), not an error; return a `Result`, or use `outcome = ..`, to count it.
//!
//! A return type that is a **type parameter** of the function (`fn f<T>(..) -> T`) is
//! classified where the function is written, where `T` could be anything: the compiler
//! picks rule 3 for it. The runtime still recognises a `Result` behind `T` (by its type's
//! name and its discriminant, which need no bound) and records an `Err` as a failure, but it
//! cannot read the error, so `error` names the error's type (`Err(alloc::string::String)`),
//! and no other type is seen through `T`. To get the error's text, or an `ExitCode`'s, bound
//! the parameter, `T: TrackOutcome`, or say how to classify with `outcome = ..`:
//!
//! ```
//! use cli_telemetry::{Outcome, TrackOutcome, track_tool};
//!
//! #[track_tool]
//! fn retried<T>(call: impl Fn() -> T) -> T {
//!     call()
//! }
//!
//! #[track_tool]
//! fn retried_bounded<T: TrackOutcome>(call: impl Fn() -> T) -> T {
//!     call()
//! }
//!
//! /// An empty answer counts as a failure of this tool.
//! #[track_tool(outcome = |hits: &Vec<String>| if hits.is_empty() {
//!     Outcome::failure("no match")
//! } else {
//!     Outcome::Success
//! })]
//! fn search(query: &str) -> Vec<String> {
//!     Vec::new()
//! }
//!
//! let (_, records) = cli_telemetry::testing::capture(|| {
//!     let _ = retried(|| Err::<(), String>("offline".into()));
//!     let _ = retried_bounded(|| Err::<(), String>("offline".into()));
//!     search("needle")
//! });
//! assert_eq!(records[0]["properties"]["error"], "Err(alloc::string::String)");
//! assert_eq!(records[1]["properties"]["error"], "offline");
//! assert_eq!(records[2]["properties"]["error"], "no match");
//! ```
//!
//! `outcome = <expr>`, accepted by every macro, is a function or closure taking a reference
//! to the returned value and giving an [`Outcome`]; it replaces the rules above. It is
//! evaluated only when telemetry is on, and cannot use the function's parameters (the body
//! owns them).
//!
//! # Async functions and futures
//!
//! `async fn`s are timed across their awaits; the future stays `Send` when the body's future
//! is. A function returning `impl Future`, or a boxed future, is timed until its future
//! completes, not until it is created, and its outcome is the future's output. A boxed
//! future is recognised as `Pin<Box<dyn Future<..>>>` (what `#[async_trait]` writes) and as
//! `futures`' aliases `BoxFuture` and `LocalBoxFuture` (by the last segment of the path);
//! for an alias of your own, say so with the `future` flag, and the macro boxes its wrapper
//! the same way:
//!
//! ```
//! use std::{future::Future, pin::Pin};
//! use cli_telemetry::track_tool;
//!
//! type Job = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
//!
//! #[track_tool(future)]
//! fn job() -> Job {
//!     Box::pin(async { Err("queue closed".to_owned()) })
//! }
//! # fn block_on<F: Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//!
//! let (_, records) = cli_telemetry::testing::capture(|| block_on(job()));
//! assert_eq!(records[0]["properties"]["error"], "queue closed");
//! ```
//!
//! Without the flag such a function would be timed as a sync one: recorded as a success
//! when the future is created. A tracked future that is dropped before completing records a
//! failure (`cancelled`, or `panicked` when dropped during a panic).
//!
//! # Stacked attributes
//!
//! Attributes can be stacked. They expand from the top down, so the lower attribute wraps the
//! upper one: with `#[track_command]` above `#[track_session(..)]`, the command is recorded
//! inside the session, before it ends.

#![forbid(unsafe_code)]

// The runtime's root, item by item: a glob would also show what the runtime keeps
// undocumented (tests/module_graph.rs checks that both roots list the same items).
pub use telemetry_runtime::{
    AgentName, Client, ClientBuilder, Env, Event, FlushGuard, ModelTurn, NoticeOutcome, Outcome,
    SessionGuard, SessionId, SignalStatus, Sink, Status, TrackOutcome, WithClient, config, current,
    event, files, global, limits, scrub, set_global, testing, with_client, with_client_future,
};
// Earlier root paths of items now in modules (see CHANGELOG), and benchmark support: they
// compile, undocumented.
#[doc(hidden)]
pub use telemetry_runtime::{
    __BenchEncoder, __BenchMetrics, Consent, ConsentSource, Exporter, MAX_BODY_BYTES,
    OtlpCompression, OtlpProtocol, Scrubber, platform_config_dir,
};

/// Records a `command` event each time the function returns.
///
/// The event's properties: `action` = the function's name, or `name = "..."`; `args` = the
/// strings of `args = <expr>` when given (omitted otherwise, and when empty); `is_success` and
/// `error` from the returned value; `duration_ms`.
///
/// Arguments, all optional:
/// - `name = "run"`: the `action` to report instead of the function's name;
/// - `args = <expr>`: the command-line arguments to report, anything iterable over strings
///   (`Vec<String>`, `&[&str]`, `[&str; N]`, ...). The expression may use the function's
///   parameters; it is evaluated before the body, and only when telemetry is on. Report only
///   what you would show anyone: nothing is recorded that you do not name here;
/// - `outcome = <fn(&R) -> Outcome>`: classifies the returned value instead of its type
///   (see [the crate's docs](crate#success-or-failure));
/// - `future`: the function returns a boxed future under a name of its own (see
///   [the crate's docs](crate#async-functions-and-futures));
/// - `crate = path`: where this crate is (default `::cli_telemetry`).
///
/// ```
/// use cli_telemetry::track_command;
///
/// /// Builds the project.
/// #[track_command(name = "build", args = flags)]
/// pub fn build_cmd(flags: &[&str]) -> std::io::Result<u32> {
///     if flags.contains(&"--broken") {
///         return Err(std::io::Error::other("cannot build"));
///     }
///     Ok(0)
/// }
///
/// let (result, records) = cli_telemetry::testing::capture(|| build_cmd(&["--release"]));
/// assert_eq!(result.unwrap(), 0);
/// let props = &records[0]["properties"];
/// assert_eq!(props["action"], "build");
/// assert_eq!(props["args"][0], "--release");
/// assert_eq!(props["is_success"], true);
///
/// let (result, records) = cli_telemetry::testing::capture(|| build_cmd(&["--broken"]));
/// assert!(result.is_err());
/// assert_eq!(records[0]["properties"]["error"], "cannot build");
/// ```
#[doc(inline)]
pub use telemetry_macros::track_command;

/// Records a `tool` event each time the function returns.
///
/// The event's properties: `action` = `call`; `tool_name` = the function's name, or
/// `name = "..."`; `session_id` and `agent_name` of the current session of the current client
/// (empty when there is none), or from `session = <expr>` and `agent = <expr>`;
/// `duration_ms`; `is_success` and `error` from the returned value. A call inside the current
/// session counts in that session's `tool_calls` (and, when it fails, its errors).
///
/// Arguments, all optional:
/// - `name = "filesystem"`: the `tool_name` to report instead of the function's name;
/// - `session = <expr>`: the session id, anything `Into<SessionId>` (`&str`, `String`,
///   [`SessionId`]); may use `self` and the parameters; evaluated before the body, only when
///   telemetry is on;
/// - `agent = <expr>`: the agent's name, anything `Into<AgentName>`; same rules;
/// - `outcome = <fn(&R) -> Outcome>` and `future`: as for [`track_command`];
/// - `crate = path`: where this crate is (default `::cli_telemetry`).
///
/// ```
/// use cli_telemetry::track_tool;
///
/// struct Agent { name: String, session: String }
///
/// impl Agent {
///     #[track_tool(name = "filesystem", session = &self.session, agent = &self.name)]
///     fn read(&self, path: &str) -> Result<String, String> {
///         Err(format!("no such file: {path}"))
///     }
/// }
///
/// let agent = Agent { name: "root".into(), session: "s-1".into() };
/// let (_, records) = cli_telemetry::testing::capture(|| agent.read("notes.txt"));
/// let props = &records[0]["properties"];
/// assert_eq!(records[0]["event"], "tool");
/// assert_eq!(props["tool_name"], "filesystem");
/// assert_eq!(props["session_id"], "s-1");
/// assert_eq!(props["agent_name"], "root");
/// assert_eq!(props["is_success"], false);
/// assert_eq!(props["error"], "no such file: notes.txt");
/// ```
#[doc(inline)]
pub use telemetry_macros::track_tool;

/// Runs the function inside a session of the current client.
///
/// Before the body, the session starts (a `session` event with `action` = `start`); after it,
/// however the body leaves (return, `?`, panic), the session ends (`action` = `end`, with its
/// duration, tool calls, tokens, cost and errors). An `Err` returned by the function, or a
/// panic, counts as an error of the session. Tool calls made meanwhile by
/// [`#[track_tool]`](track_tool) functions belong to it.
///
/// Arguments:
/// - `agent = <expr>` (required): the agent's name, anything `Into<AgentName>`;
/// - `id = <expr>`: the session id, anything `Into<SessionId>` (default a random UUID);
/// - `outcome = <fn(&R) -> Outcome>` (decides whether the function's return counts as an
///   error of the session) and `future`: as for [`track_command`];
/// - `crate = path`: where this crate is (default `::cli_telemetry`).
///
/// Both expressions may use the parameters; they are evaluated before the body, only when
/// telemetry is on.
///
/// ```
/// use cli_telemetry::{track_session, track_tool};
///
/// #[track_tool]
/// fn shell(cmd: &str) -> Result<(), String> {
///     if cmd.is_empty() { Err("empty command".into()) } else { Ok(()) }
/// }
///
/// #[track_session(agent = "root")]
/// fn run_agent(cmds: &[&str]) -> Result<(), String> {
///     for cmd in cmds {
///         shell(cmd)?;
///     }
///     Ok(())
/// }
///
/// let (result, records) = cli_telemetry::testing::capture(|| run_agent(&["ls", ""]));
/// assert!(result.is_err());
/// let end = &records.last().unwrap()["properties"];
/// assert_eq!(end["action"], "end");
/// assert_eq!(end["agent_name"], "root");
/// assert_eq!(end["tool_calls"], 2);
/// // The failed tool call and the function's `Err` are both errors of the session.
/// assert_eq!(end["error_count"], 2);
/// ```
#[doc(inline)]
pub use telemetry_macros::track_session;

#[doc(hidden)]
pub mod __private {
    pub use telemetry_runtime::__private::*;
}

/// The README's code blocks, compiled and run as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
