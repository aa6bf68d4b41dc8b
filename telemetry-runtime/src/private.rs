//! Support for the code the tracking macros generate. Not a public API: no stability promise.

use std::time::Instant;

use crate::client::{Client, SessionGuard};
use crate::current::{current, maybe_enabled};
use crate::event::{AgentName, CommandEvent, SessionId};
use crate::outcome::{Outcome, TrackOutcome};

/// The fast path: one relaxed atomic load.
#[inline(always)]
#[must_use]
pub fn enabled() -> bool {
    maybe_enabled()
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
    },
}

/// Times one tracked call and records it when finished, or when dropped during a panic.
pub struct Tracker {
    client: Client,
    start: Instant,
    kind: Option<Kind>,
}

impl Tracker {
    fn start(kind: Kind) -> Option<Self> {
        let client = current();
        if !client.is_enabled() {
            return None;
        }
        Some(Self {
            client,
            start: Instant::now(),
            kind: Some(kind),
        })
    }

    /// Starts tracking a command, if the current client is enabled.
    #[must_use]
    pub fn command(name: &'static str, args: Vec<String>) -> Option<Self> {
        Self::start(Kind::Command { name, args })
    }

    /// Starts tracking a tool call, if the current client is enabled.
    #[must_use]
    pub fn tool(
        name: &'static str,
        session: Option<SessionId>,
        agent: Option<AgentName>,
    ) -> Option<Self> {
        Self::start(Kind::Tool {
            name,
            session,
            agent,
        })
    }

    /// Records the call with its outcome.
    pub fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: Outcome) {
        let Some(kind) = self.kind.take() else { return };
        let duration = self.start.elapsed();
        match kind {
            Kind::Command { name, args } => {
                self.client
                    .track(&CommandEvent::new(name, args, outcome, duration));
            }
            Kind::Tool {
                name,
                session,
                agent,
            } => {
                self.client
                    .record_tool_call(name, session, agent, duration, outcome);
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
            self.record(Outcome::Failure(why.to_owned()));
        }
    }
}

/// Starts a session on the current client, if enabled.
#[must_use]
pub fn session(agent: impl Into<AgentName>, id: Option<SessionId>) -> Option<SessionGuard> {
    let client = current();
    if !client.is_enabled() {
        return None;
    }
    Some(client.start_session(agent, id.unwrap_or_else(SessionId::random)))
}

/// Holds a reference to the returned value for classification by autoref specialization:
/// `(&&&Probe(&value)).telemetry_outcome()` picks the most specific impl below.
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// `Result<T, E>` with `E: Display`, through any alias.
pub trait ViaResult {
    /// The outcome.
    fn telemetry_outcome(&self) -> Outcome;
}
impl<T, E: std::fmt::Display> ViaResult for &&Probe<'_, Result<T, E>> {
    fn telemetry_outcome(&self) -> Outcome {
        Outcome::of_result(self.0)
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

/// Everything else is a success.
pub trait ViaDefault {
    /// The outcome.
    fn telemetry_outcome(&self) -> Outcome;
}
impl<T: ?Sized> ViaDefault for Probe<'_, T> {
    fn telemetry_outcome(&self) -> Outcome {
        Outcome::Success
    }
}

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
        assert_eq!((&&&Probe(&r)).telemetry_outcome(), Outcome::failure("disk"));
        let ok: Result<u8, String> = Ok(1);
        assert_eq!((&&&Probe(&ok)).telemetry_outcome(), Outcome::Success);
        assert_eq!(
            (&&&Probe(&Code(3))).telemetry_outcome(),
            Outcome::failure("3")
        );
        assert_eq!((&&&Probe(&5_u32)).telemetry_outcome(), Outcome::Success);
    }
}
