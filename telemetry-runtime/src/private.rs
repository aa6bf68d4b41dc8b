//! Support for the code the tracking macros generate. Not a public API: no stability promise.

use std::future::Future;
use std::time::Instant;

use crate::client::{self, Client, RecordTrace, SessionGuard, SessionKey};
use crate::current::{current, maybe_enabled};
use crate::event::{AgentName, CommandEvent, SessionId};
use crate::outcome::{Outcome, TrackOutcome};
use crate::trace::{self, SpanStart};

/// The fast path: one relaxed atomic load.
#[inline(always)]
#[must_use]
pub fn enabled() -> bool {
    maybe_enabled()
}

/// The current client when it is enabled: where a tracked call starts. When telemetry is off
/// this is one relaxed atomic load and a branch; the attribute's argument expressions are
/// evaluated only after it returned `Some`.
#[inline]
#[must_use]
pub fn start() -> Option<Start> {
    if enabled() { start_slow() } else { None }
}

// Cold: the branch to it is laid out as the unlikely one, so a tracked function's disabled
// path runs straight through.
#[cold]
#[inline(never)]
fn start_slow() -> Option<Start> {
    let client = current();
    client.is_recording().then_some(Start(client))
}

/// An enabled current client, about to track one call.
pub struct Start(Client);

impl Start {
    /// Starts timing a command.
    #[must_use]
    pub fn command(self, name: &'static str, args: Vec<String>) -> Tracker {
        Tracker::start(self.0, Kind::Command { name, args })
    }

    /// Starts timing a tool call.
    #[must_use]
    pub fn tool(
        self,
        name: &'static str,
        session: Option<SessionId>,
        agent: Option<AgentName>,
    ) -> Tracker {
        Tracker::start(
            self.0,
            Kind::Tool {
                name,
                session,
                agent,
                call_id: None,
            },
        )
    }

    /// Starts a session (a random id unless one is given), current where the function's
    /// body runs; it nests inside a running one. Its start record is queued (this may run in
    /// the poll of a tracked future) and leaves at the session's end, a flush point.
    #[must_use]
    pub fn session(self, agent: AgentName, id: Option<SessionId>) -> Session {
        let id = id.unwrap_or_else(SessionId::random);
        Session(Some(crate::delivery::queue_only(|| {
            self.0.start_scoped_session(agent, id)
        })))
    }
}

/// Calls the wrapped body of a sync function. The `FnOnce` bound fixes the closure's kind, so a
/// body may return references borrowed from `&mut` parameters; the explicit `R` gives the body
/// the function's return type for inference (`?`, `.collect()`, `.into()`).
#[inline(always)]
pub fn once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Gives the wrapped body of a sync function its kind and type without calling it: `FnOnce`
/// (so a body may move captured values and return references borrowed from `&mut`
/// parameters) returning the function's return type (for inference of `?`, `.collect()`,
/// `.into()`), as [`once`] does for the bodies it calls at once.
#[inline(always)]
pub fn body<R, F: FnOnce() -> R>(f: F) -> F {
    f
}

/// What the guard of a tracked call does when the call returns ([`Tracker`], [`Session`]).
///
/// Delivery: [`run`] (sync code) calls this trait, which may send within the send budget; the
/// inherent `finish` methods are what async code calls, and they only queue (the poll of a
/// tracked future never waits on the network).
pub trait Finish {
    /// Records the call with its outcome.
    fn finish(self, outcome: Outcome);

    /// Records the call with its outcome from async code: queued, never sent from here.
    fn finish_queued(self, outcome: Outcome)
    where
        Self: Sized,
    {
        crate::delivery::queue_only(|| self.finish(outcome));
    }

    /// What the call's body runs inside: its span (the current span while the body runs)
    /// and, for a session, the session.
    fn frame(&self) -> SpanFrame {
        SpanFrame::default()
    }

    /// For a command: marks it running on this thread until the scope is dropped, which is a
    /// flush point when it was the outermost one.
    fn command_scope(&self) -> Option<CommandScope> {
        None
    }
}

impl Finish for Tracker {
    fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    fn frame(&self) -> SpanFrame {
        SpanFrame {
            span: self.span.as_ref().map(SpanStart::frame),
            session: None,
        }
    }

    fn command_scope(&self) -> Option<CommandScope> {
        matches!(self.kind, Some(Kind::Command { .. })).then(|| CommandScope::enter(&self.client))
    }
}

impl Finish for Session {
    fn finish(mut self, outcome: Outcome) {
        if let Some(guard) = self.0.take() {
            guard.finish(&outcome);
        }
    }

    fn frame(&self) -> SpanFrame {
        SpanFrame {
            span: None,
            session: self.0.as_ref().and_then(SessionGuard::key),
        }
    }
}

thread_local! {
    /// Sync tracked commands running on this thread.
    static COMMAND_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A sync tracked command running on this thread; dropped when it returned (or unwound),
/// after its own record: the outermost one is a flush point.
pub struct CommandScope(Client);

impl CommandScope {
    fn enter(client: &Client) -> Self {
        COMMAND_DEPTH.with(|d| d.set(d.get().saturating_add(1)));
        Self(client.clone())
    }
}

impl Drop for CommandScope {
    fn drop(&mut self) {
        let depth = COMMAND_DEPTH.with(|d| {
            d.set(d.get().saturating_sub(1));
            d.get()
        });
        if depth == 0 {
            self.0.last_flush_point();
        }
    }
}

/// Runs the body of a tracked sync function when telemetry is on, then records the outcome
/// `classify` finds in the returned value (a panic in the body is recorded by the guard's
/// drop). Out of line and cold on purpose: with everything telemetry does once enabled in
/// here, a tracked function is, when telemetry is off, one relaxed load, a branch and its
/// body, small enough to be inlined wherever the bare function would be.
#[inline(never)]
#[cold]
pub fn run<G: Finish, R>(
    guard: G,
    body: impl FnOnce() -> R,
    classify: impl FnOnce(&R) -> Outcome,
) -> R {
    let _scope = guard.command_scope();
    // Declared after the scope: on unwind the guard records first, then the scope flushes.
    let guard = guard;
    let ret = within(guard.frame(), body);
    guard.finish(classify(&ret));
    ret
}

/// What a tracked call's body runs inside: the call's span, and for `#[track_session]` its
/// session (current in that scope only, so nested and concurrent sessions each see their
/// own). Opaque, `Copy`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanFrame {
    span: Option<trace::Frame>,
    session: Option<SessionKey>,
}

/// The span (and session) of a tracked call's guard, if any.
#[inline]
#[must_use]
pub fn frame_of<G: Finish>(guard: &Option<G>) -> SpanFrame {
    guard.as_ref().map_or(SpanFrame::default(), Finish::frame)
}

/// Runs `f` with the call's span as the current span, and its session in scope.
#[inline]
pub fn within<R>(frame: SpanFrame, f: impl FnOnce() -> R) -> R {
    trace::within(frame.span, || client::within_session(frame.session, f))
}

/// Calls the wrapped body of a function returning a future (see [`once`]) with the call's span
/// current (and session in scope), so what the body does before returning its future hangs
/// off that span.
#[inline]
pub fn once_in<R, F: FnOnce() -> R>(frame: SpanFrame, f: F) -> R {
    within(frame, f)
}

/// Awaits `future` with the call's span current (and session in scope) during each of its
/// polls.
pub async fn in_span<F: Future>(frame: SpanFrame, future: F) -> F::Output {
    trace::in_span(frame.span, client::in_session(frame.session, future)).await
}

/// Gives the wrapped body of an `async fn` (an `async move` block) the function's return type,
/// so `?` and `return` in it infer as they do in the original function. Each poll of the body
/// runs queue-only (records made in it wait for the next flush point instead of the network),
/// with the call's span current: spans nest across `.await`, whichever thread polls.
pub async fn typed<R, F: Future<Output = R>>(frame: SpanFrame, f: F) -> R {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(move |cx| {
        within(frame, || {
            if enabled() {
                crate::delivery::queue_only(|| f.as_mut().poll(cx))
            } else {
                f.as_mut().poll(cx)
            }
        })
    })
    .await
}

/// Converts a `session = ..` or `id = ..` expression.
#[inline]
pub fn session_id(id: impl Into<SessionId>) -> SessionId {
    id.into()
}

/// Converts a `call_id = ..` expression (any text: it is scrubbed like every string).
#[inline]
pub fn call_id(id: impl std::fmt::Display) -> String {
    id.to_string()
}

/// Converts an `agent = ..` expression.
#[inline]
pub fn agent_name(agent: impl Into<AgentName>) -> AgentName {
    agent.into()
}

/// Converts an `args = ..` expression into owned strings.
pub fn args<I>(items: I) -> Vec<String>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

enum Kind {
    Command {
        name: &'static str,
        args: Vec<String>,
    },
    Tool {
        name: &'static str,
        session: Option<SessionId>,
        agent: Option<AgentName>,
        /// The model's id of this call (`call_id = ..`).
        call_id: Option<String>,
    },
}

/// Times one tracked call and records it when finished, or when dropped during a panic.
pub struct Tracker {
    client: Client,
    start: Instant,
    kind: Option<Kind>,
    /// The call's span, when the operator's stream is on.
    span: Option<SpanStart>,
}

impl Tracker {
    fn start(client: Client, kind: Kind) -> Self {
        let start = Instant::now();
        let span = client.open_span(start);
        Self {
            client,
            start,
            kind: Some(kind),
            span,
        }
    }

    /// Gives a tool call the model's id of it (`gen_ai.tool.call.id` of its span).
    #[must_use]
    pub fn call_id(mut self, id: String) -> Self {
        if let Some(Kind::Tool { call_id, .. }) = &mut self.kind {
            *call_id = Some(id);
        }
        self
    }

    /// Records the call with its outcome, from async code: the record is queued, never sent
    /// from here (sync code goes through [`Finish`]).
    pub fn finish(mut self, outcome: Outcome) {
        crate::delivery::queue_only(|| self.record(outcome));
    }

    fn record(&mut self, outcome: Outcome) {
        let Some(kind) = self.kind.take() else { return };
        let end = Instant::now();
        let duration = end.saturating_duration_since(self.start);
        let span = self.span.map(|s| s.ended(end));
        match kind {
            Kind::Command { name, args } => {
                let event = CommandEvent::new(name, args, outcome, duration);
                self.client
                    .track_builtin_in(&event, RecordTrace::Ends(span, &[]));
            }
            Kind::Tool {
                name,
                session,
                agent,
                call_id,
            } => {
                let call = crate::client::ToolCallInfo {
                    name,
                    session,
                    agent,
                    call_id,
                };
                self.client.tool_call(call, duration, outcome, span);
            }
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if self.kind.is_some() {
            let why = if std::thread::panicking() {
                "panicked"
            } else {
                "cancelled"
            };
            // A cancelled future or a panic: queued, never waiting on the network here.
            crate::delivery::queue_only(|| self.record(Outcome::Failure(why.to_owned())));
        }
    }
}

/// A session started by `#[track_session]`; ends it when finished or dropped.
pub struct Session(Option<SessionGuard>);

impl Session {
    /// Ends the session, counting `outcome`'s error if it failed, from async code: its records
    /// are queued and the session end is no flush point (sync code goes through [`Finish`]).
    pub fn finish(mut self, outcome: Outcome) {
        if let Some(guard) = self.0.take() {
            crate::delivery::queue_only(|| guard.finish(&outcome));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A cancelled future or a panic: queued, never waiting on the network here.
        if let Some(guard) = self.0.take() {
            crate::delivery::queue_only(|| drop(guard));
        }
    }
}

/// Holds a reference to the returned value for classification by autoref specialization:
/// `(&&&&Probe(&value)).telemetry_outcome()` picks the most specific impl below.
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// `Result<T, E>` with `E: Display`, through any alias: `Err` fails with the error's text.
pub trait ViaResult {
    /// The outcome.
    fn telemetry_outcome(&self) -> Outcome;
}
impl<T, E: std::fmt::Display> ViaResult for &&&Probe<'_, Result<T, E>> {
    fn telemetry_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::Success,
            Err(e) => error_outcome(e),
        }
    }
}

/// `Outcome::failure` of an error, out of line and generic over the error's type alone: one
/// copy per error type, not one inlined into every tracked function (compile time, code size).
#[inline(never)]
fn error_outcome<E: std::fmt::Display>(e: &E) -> Outcome {
    Outcome::failure(e)
}

/// Any other `Result<T, E>`: `Err` still fails; without `Display` the error's type is named.
pub trait ViaAnyResult {
    /// The outcome.
    fn telemetry_outcome(&self) -> Outcome;
}
impl<T, E> ViaAnyResult for &&Probe<'_, Result<T, E>> {
    fn telemetry_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure(format!("Err({})", std::any::type_name::<E>())),
        }
    }
}

/// Types implementing [`TrackOutcome`].
pub trait ViaTrait {
    /// The outcome.
    fn telemetry_outcome(&self) -> Outcome;
}
impl<T: TrackOutcome + ?Sized> ViaTrait for &Probe<'_, T> {
    fn telemetry_outcome(&self) -> Outcome {
        self.0.track_outcome()
    }
}

/// Everything else: a success, unless the value is a `Result` the compiler could not show the
/// ladder above, because the function's return type is a type parameter (see the `opaque` module).
pub trait ViaDefault {
    /// The outcome.
    fn telemetry_outcome(&self) -> Outcome;
}
impl<T> ViaDefault for Probe<'_, T> {
    fn telemetry_outcome(&self) -> Outcome {
        opaque::outcome(self.0)
    }
}

/// Classifies a returned value with the attribute's `outcome = <fn>`.
#[inline]
pub fn outcome_with<R: ?Sized, F: FnOnce(&R) -> Outcome>(classify: F, ret: &R) -> Outcome {
    classify(ret)
}

mod boxed;
mod opaque;

pub use boxed::BoxedFuture;

#[cfg(test)]
mod tests {
    use super::*;

    struct Code(i32);
    impl TrackOutcome for Code {
        fn track_outcome(&self) -> Outcome {
            if self.0 == 0 {
                Outcome::Success
            } else {
                Outcome::failure(self.0)
            }
        }
    }
    type MyResult<T> = std::io::Result<T>;

    #[test]
    #[allow(clippy::needless_borrow)] // the extra borrows are the point of autoref specialization
    fn autoref_classification() {
        let r: MyResult<()> = Err(std::io::Error::other("disk"));
        assert_eq!(
            (&&&&Probe(&r)).telemetry_outcome(),
            Outcome::failure("disk")
        );
        let ok: Result<u8, String> = Ok(1);
        assert_eq!((&&&&Probe(&ok)).telemetry_outcome(), Outcome::Success);
        let unit_err: Result<u8, ()> = Err(());
        assert_eq!(
            (&&&&Probe(&unit_err)).telemetry_outcome(),
            Outcome::failure("Err(())")
        );
        assert_eq!(
            (&&&&Probe(&Code(3))).telemetry_outcome(),
            Outcome::failure("3")
        );
        assert_eq!((&&&&Probe(&5_u32)).telemetry_outcome(), Outcome::Success);
        assert_eq!(
            (&&&&Probe(&std::process::ExitCode::from(2))).telemetry_outcome(),
            Outcome::failure("exit code 2")
        );
    }

    /// What the ladder resolves to inside a function generic over its return type.
    #[allow(clippy::needless_borrow)]
    fn through_type_parameter<T>(value: &T) -> Outcome {
        (&&&&Probe(value)).telemetry_outcome()
    }

    #[test]
    fn a_result_behind_a_type_parameter_still_fails() {
        let err: Result<(), String> = Err("hidden".into());
        assert_eq!(
            through_type_parameter(&err),
            Outcome::failure("Err(alloc::string::String)")
        );
        let ok: Result<u8, String> = Ok(1);
        assert_eq!(through_type_parameter(&ok), Outcome::Success);
        assert_eq!(through_type_parameter(&None::<u8>), Outcome::Success);
        assert_eq!(through_type_parameter(&7_u8), Outcome::Success);
    }
}
