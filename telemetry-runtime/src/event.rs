//! Typed events. One Rust type per event; [`Event::properties`] produces exactly the wire
//! properties a collector written for cagent's Go telemetry expects.

mod measure;

pub(crate) use measure::Measure;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::outcome::Outcome;

/// Identifier of an agent session.
///
/// A distinct type from [`AgentName`] so the two cannot be swapped by accident.
///
/// ```
/// use telemetry_runtime::SessionId;
/// let id = SessionId::new("sess-1");
/// assert_eq!(id.as_str(), "sess-1");
/// let fresh = SessionId::random();
/// assert_eq!(fresh.as_str().len(), 36);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// Wraps an existing session id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// A fresh random (v4 UUID) session id.
    #[must_use]
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Name of an agent.
///
/// A distinct type from [`SessionId`] so the two cannot be swapped by accident.
///
/// ```
/// use telemetry_runtime::AgentName;
/// let agent: AgentName = "root".into();
/// assert_eq!(agent.as_str(), "root");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentName(String);

impl AgentName {
    /// Wraps an agent name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_conversions {
    ($ty:ident) => {
        impl From<&str> for $ty {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
        impl From<String> for $ty {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
        impl From<&String> for $ty {
            fn from(s: &String) -> Self {
                Self(s.clone())
            }
        }
        impl From<&$ty> for $ty {
            fn from(s: &$ty) -> Self {
                s.clone()
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
string_newtype_conversions!(SessionId);
string_newtype_conversions!(AgentName);

/// The `event` field of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A CLI command ran.
    Command,
    /// An agent tool was called.
    Tool,
    /// A model turn used tokens.
    Token,
    /// A session started or ended.
    Session,
}

impl EventKind {
    /// The wire name: `command`, `tool`, `token` or `session`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Tool => "tool",
            Self::Token => "token",
            Self::Session => "session",
        }
    }
}

/// An event that can be recorded with [`Client::track`](crate::Client::track).
///
/// Implemented by the five built-in event types. Applications may implement it for their own
/// events; the runtime adds the envelope and system properties.
///
/// ```
/// use telemetry_runtime::{Event, Outcome};
/// use telemetry_runtime::event::{EventKind, CommandEvent};
/// let ev = CommandEvent::new("run", vec!["--fast".into()], Outcome::Success, std::time::Duration::from_millis(12));
/// assert_eq!(ev.kind(), EventKind::Command);
/// assert_eq!(ev.properties()["duration_ms"], 12);
/// ```
pub trait Event {
    /// Which kind of record this is.
    fn kind(&self) -> EventKind;
    /// The event's own properties (without the system keys the client adds).
    fn properties(&self) -> Map<String, Value>;
    /// The built-in events' fast path (no map, no owned strings). Not for applications.
    #[doc(hidden)]
    fn __builtin(&self) -> Option<Builtin<'_>> {
        None
    }
}

/// A built-in event, for the client's fast path. Opaque.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Builtin<'a>(pub(crate) &'a dyn BuiltinEvent);

impl fmt::Debug for Builtin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Builtin")
    }
}

/// One property of a built-in event, borrowed from it, before scrubbing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Field<'a> {
    Str(&'a str),
    /// A constant `action`: the client scrubs it once, not at every record.
    Action(Action),
    /// A name that comes back in record after record (tool, agent, model): the client
    /// remembers how it scrubs.
    Name(&'a str),
    /// A count: written at most [`MAX_COUNT`](crate::limits::MAX_COUNT).
    U64(u64),
    Bool(bool),
    /// A JSON number, or `0` when not finite (as [`finite`] does).
    F64(f64),
    List(&'a [String]),
}

/// The constant `action` of the tool, token and session events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Call,
    Usage,
    Start,
    End,
}

impl Action {
    /// Every action, in the order of their discriminants.
    pub(crate) const ALL: [Action; 4] = [Self::Call, Self::Usage, Self::Start, Self::End];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Usage => "usage",
            Self::Start => "start",
            Self::End => "end",
        }
    }
}

/// The built-in events, described once: their properties as borrowed fields, sorted by key,
/// with no map and no owned strings. [`Event::properties`] of a built-in event is derived from
/// these fields, so the fast path and the map can never disagree.
pub(crate) trait BuiltinEvent {
    fn kind(&self) -> EventKind;
    fn fields<'a>(&'a self, out: &mut dyn FnMut(&'static str, Field<'a>));
    /// When the event is a span of the operator's stream (a command, a tool call, a model
    /// turn, a session's end), how long it lasted, ending when it is recorded.
    fn span_duration(&self) -> Option<Duration> {
        None
    }
    /// What the event adds to the operator's metrics (the same numbers its record holds).
    fn measure(&self) -> Option<Measure<'_>> {
        None
    }
}

/// The JSON value of one field, before scrubbing.
fn field_value(f: Field<'_>) -> Value {
    match f {
        Field::Str(s) | Field::Name(s) => Value::from(s),
        Field::Action(a) => Value::from(a.as_str()),
        Field::U64(n) => Value::from(crate::limits::clamp_count(n)),
        Field::Bool(b) => Value::Bool(b),
        Field::F64(x) => finite(x),
        Field::List(items) => Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect()),
    }
}

/// [`Event`] for the built-in events, from their fields.
macro_rules! builtin_events {
    ($($ty:ty),*) => {$(
        impl Event for $ty {
            fn kind(&self) -> EventKind {
                BuiltinEvent::kind(self)
            }
            fn properties(&self) -> Map<String, Value> {
                let mut m = Map::new();
                self.fields(&mut |k, f| {
                    m.insert(k.to_owned(), field_value(f));
                });
                m
            }
            fn __builtin(&self) -> Option<Builtin<'_>> {
                Some(Builtin(self))
            }
        }
    )*};
}
builtin_events!(
    CommandEvent,
    ToolEvent,
    TokenEvent,
    SessionStartEvent,
    SessionEndEvent
);

/// A tool call, borrowed: what [`ToolEvent`] records, without owning its strings (the
/// client records calls from this).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ToolCall<'a> {
    pub(crate) tool_name: &'a str,
    pub(crate) session_id: &'a str,
    pub(crate) agent_name: &'a str,
    pub(crate) duration: Duration,
    pub(crate) outcome: &'a Outcome,
}

impl<'a> ToolCall<'a> {
    fn measure(&self) -> Measure<'a> {
        Measure::Tool {
            tool: self.tool_name,
            agent: self.agent_name,
            millis: millis(self.duration),
            error: self.outcome.error(),
        }
    }

    fn emit(self, out: &mut dyn FnMut(&'static str, Field<'a>)) {
        out("action", Field::Action(Action::Call));
        out("agent_name", Field::Name(self.agent_name));
        out("duration_ms", Field::U64(millis(self.duration)));
        if let Some(e) = self.outcome.error() {
            out("error", Field::Str(e));
        }
        out("is_success", Field::Bool(self.outcome.is_success()));
        out("session_id", Field::Str(self.session_id));
        out("tool_name", Field::Name(self.tool_name));
    }
}

impl BuiltinEvent for ToolCall<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Tool
    }
    fn measure(&self) -> Option<Measure<'_>> {
        Some(ToolCall::measure(self))
    }
    fn fields<'a>(&'a self, out: &mut dyn FnMut(&'static str, Field<'a>)) {
        self.emit(out);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A command ran: `action`, `args` (omitted when empty), `is_success`, `error` (omitted when
/// none), `duration_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandEvent {
    /// The command's name, e.g. `run`.
    pub action: String,
    /// Command-line arguments the application chose to report.
    pub args: Vec<String>,
    /// Success or failure with its error text.
    pub outcome: Outcome,
    /// How long the command took.
    pub duration: Duration,
}

impl CommandEvent {
    /// Builds a command event.
    pub fn new(
        action: impl Into<String>,
        args: Vec<String>,
        outcome: Outcome,
        duration: Duration,
    ) -> Self {
        Self {
            action: action.into(),
            args,
            outcome,
            duration,
        }
    }
}

/// A tool call: `action` = `call`, `session_id`, `agent_name`, `tool_name`, `duration_ms`,
/// `is_success`, `error` (omitted when none).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolEvent {
    /// The tool's name.
    pub tool_name: String,
    /// Session the call belongs to (empty when none).
    pub session_id: SessionId,
    /// Agent that called the tool (empty when none).
    pub agent_name: AgentName,
    /// How long the call took.
    pub duration: Duration,
    /// Success or failure with its error text.
    pub outcome: Outcome,
}

/// Token usage of one model turn: `action` = `usage`, `session_id`, `agent_name`,
/// `model_name`, `input_tokens`, `output_tokens`, `total_tokens`, `cost`.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenEvent {
    /// Session the turn belongs to.
    pub session_id: SessionId,
    /// Agent that ran the turn.
    pub agent_name: AgentName,
    /// Model used, e.g. `openai/gpt-4o`.
    pub model_name: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost of the turn in the application's currency unit.
    pub cost: f64,
}

pub(crate) fn finite(x: f64) -> Value {
    // JSON has no NaN or infinity: report 0 rather than fail the whole record.
    serde_json::Number::from_f64(x).map_or(Value::from(0), Value::Number)
}

/// A session started: `action` = `start`, `session_id`, `agent_name`.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionStartEvent {
    /// The new session's id.
    pub session_id: SessionId,
    /// The agent running it.
    pub agent_name: AgentName,
}

/// A session ended, with its aggregates: `action` = `end`, `session_id`, `agent_name`,
/// `duration_ms`, `tool_calls`, `input_tokens`, `output_tokens`, `total_tokens`, `cost`,
/// `error_count`, `is_success`, `error` (array of strings).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionEndEvent {
    /// The session's id.
    pub session_id: SessionId,
    /// The agent that ran it.
    pub agent_name: AgentName,
    /// Time from start to end.
    pub duration: Duration,
    /// Number of tool calls recorded in the session.
    pub tool_calls: u64,
    /// Sum of input tokens.
    pub input_tokens: u64,
    /// Sum of output tokens.
    pub output_tokens: u64,
    /// Sum of costs.
    pub cost: f64,
    /// Number of errors (failed tool calls and recorded errors).
    pub error_count: u64,
    /// The (scrubbed) error texts, most recent last, capped in number.
    pub errors: Vec<String>,
}

impl BuiltinEvent for CommandEvent {
    fn kind(&self) -> EventKind {
        EventKind::Command
    }
    fn span_duration(&self) -> Option<Duration> {
        Some(self.duration)
    }
    fn measure(&self) -> Option<Measure<'_>> {
        Some(Measure::Command {
            action: &self.action,
            millis: millis(self.duration),
            error: self.outcome.error(),
        })
    }
    fn fields<'a>(&'a self, out: &mut dyn FnMut(&'static str, Field<'a>)) {
        out("action", Field::Str(&self.action));
        if !self.args.is_empty() {
            out("args", Field::List(&self.args));
        }
        out("duration_ms", Field::U64(millis(self.duration)));
        if let Some(e) = self.outcome.error() {
            out("error", Field::Str(e));
        }
        out("is_success", Field::Bool(self.outcome.is_success()));
    }
}

impl BuiltinEvent for ToolEvent {
    fn kind(&self) -> EventKind {
        EventKind::Tool
    }
    fn span_duration(&self) -> Option<Duration> {
        Some(self.duration)
    }
    fn measure(&self) -> Option<Measure<'_>> {
        let call = ToolCall {
            tool_name: &self.tool_name,
            session_id: self.session_id.as_str(),
            agent_name: self.agent_name.as_str(),
            duration: self.duration,
            outcome: &self.outcome,
        };
        Some(call.measure())
    }
    fn fields<'a>(&'a self, out: &mut dyn FnMut(&'static str, Field<'a>)) {
        ToolCall {
            tool_name: &self.tool_name,
            session_id: self.session_id.as_str(),
            agent_name: self.agent_name.as_str(),
            duration: self.duration,
            outcome: &self.outcome,
        }
        .emit(out);
    }
}

impl BuiltinEvent for TokenEvent {
    fn kind(&self) -> EventKind {
        EventKind::Token
    }
    fn span_duration(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
    /// Provider, duration and error are not the event's: the client adds them from the turn's
    /// span.
    fn measure(&self) -> Option<Measure<'_>> {
        Some(Measure::Turn {
            model: &self.model_name,
            provider: None,
            input: self.input_tokens,
            output: self.output_tokens,
            cost: self.cost,
            nanos: None,
            error: None,
        })
    }
    fn fields<'a>(&'a self, out: &mut dyn FnMut(&'static str, Field<'a>)) {
        out("action", Field::Action(Action::Usage));
        out("agent_name", Field::Name(self.agent_name.as_str()));
        out("cost", Field::F64(self.cost));
        out("input_tokens", Field::U64(self.input_tokens));
        out("model_name", Field::Name(&self.model_name));
        out("output_tokens", Field::U64(self.output_tokens));
        out("session_id", Field::Str(self.session_id.as_str()));
        let total = self.input_tokens.saturating_add(self.output_tokens);
        out("total_tokens", Field::U64(total));
    }
}

impl BuiltinEvent for SessionStartEvent {
    fn kind(&self) -> EventKind {
        EventKind::Session
    }
    fn fields<'a>(&'a self, out: &mut dyn FnMut(&'static str, Field<'a>)) {
        out("action", Field::Action(Action::Start));
        out("agent_name", Field::Name(self.agent_name.as_str()));
        out("session_id", Field::Str(self.session_id.as_str()));
    }
}

impl BuiltinEvent for SessionEndEvent {
    fn kind(&self) -> EventKind {
        EventKind::Session
    }
    fn span_duration(&self) -> Option<Duration> {
        Some(self.duration)
    }
    fn measure(&self) -> Option<Measure<'_>> {
        Some(Measure::SessionEnd {
            agent: self.agent_name.as_str(),
            success: self.error_count == 0,
        })
    }
    fn fields<'a>(&'a self, out: &mut dyn FnMut(&'static str, Field<'a>)) {
        out("action", Field::Action(Action::End));
        out("agent_name", Field::Name(self.agent_name.as_str()));
        out("cost", Field::F64(self.cost));
        out("duration_ms", Field::U64(millis(self.duration)));
        out("error", Field::List(&self.errors));
        out("error_count", Field::U64(self.error_count));
        out("input_tokens", Field::U64(self.input_tokens));
        out("is_success", Field::Bool(self.error_count == 0));
        out("output_tokens", Field::U64(self.output_tokens));
        out("session_id", Field::Str(self.session_id.as_str()));
        out("tool_calls", Field::U64(self.tool_calls));
        let total = self.input_tokens.saturating_add(self.output_tokens);
        out("total_tokens", Field::U64(total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_same<E: BuiltinEvent + Event>(ev: &E) {
        assert_eq!(BuiltinEvent::kind(ev), Event::kind(ev));
        let mut fields = Vec::new();
        ev.fields(&mut |k, f| fields.push((k, f)));
        let n = fields.len();
        assert!(
            fields.windows(2).all(|w| w[0].0 < w[1].0),
            "fields come sorted by key: {fields:?}"
        );
        let from_fields: Map<String, Value> = fields
            .into_iter()
            .map(|(k, f)| (k.to_owned(), field_value(f)))
            .collect();
        assert_eq!(from_fields.len(), n, "no key twice");
        assert!(
            from_fields
                .keys()
                .all(|k| !crate::limits::SYSTEM_KEYS.contains(&k.as_str())),
            "the client adds the system keys"
        );
        assert_eq!(from_fields, ev.properties());
        assert!(Event::__builtin(ev).is_some());
    }

    #[test]
    fn properties_are_the_wire_properties() {
        let ev = CommandEvent::new(
            "run",
            vec!["--fast".into()],
            Outcome::failure("boom"),
            Duration::from_millis(12),
        );
        assert_eq!(
            Value::Object(ev.properties()),
            serde_json::json!({"action": "run", "args": ["--fast"], "duration_ms": 12,
                               "error": "boom", "is_success": false})
        );
        let end = SessionEndEvent {
            session_id: "s".into(),
            agent_name: "a".into(),
            duration: Duration::from_secs(2),
            tool_calls: 3,
            input_tokens: 4,
            output_tokens: 5,
            cost: 0.5,
            error_count: 1,
            errors: vec!["e".into()],
        };
        assert_eq!(
            Value::Object(end.properties()),
            serde_json::json!({"action": "end", "agent_name": "a", "cost": 0.5,
                "duration_ms": 2000, "error": ["e"], "error_count": 1, "input_tokens": 4,
                "is_success": false, "output_tokens": 5, "session_id": "s", "tool_calls": 3,
                "total_tokens": 9})
        );
    }

    #[test]
    fn actions_are_in_discriminant_order() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
        }
    }

    #[test]
    fn fields_are_exactly_the_properties() {
        let d = Duration::from_millis(1234);
        for outcome in [Outcome::Success, Outcome::failure("boom")] {
            for args in [vec![], vec!["--a".to_owned(), "b".to_owned()]] {
                assert_same(&CommandEvent::new("run", args, outcome.clone(), d));
            }
            assert_same(&ToolEvent {
                tool_name: "read_file".into(),
                session_id: "s".into(),
                agent_name: "a".into(),
                duration: d,
                outcome: outcome.clone(),
            });
        }
        for cost in [0.25, 0.0, 1.0, f64::NAN, f64::INFINITY, -3.5e-9] {
            assert_same(&TokenEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
                model_name: "m".into(),
                input_tokens: 3,
                output_tokens: u64::MAX,
                cost,
            });
            for errors in [vec![], vec!["e1".to_owned(), "e2".to_owned()]] {
                assert_same(&SessionEndEvent {
                    session_id: "s".into(),
                    agent_name: "a".into(),
                    duration: d,
                    tool_calls: 4,
                    input_tokens: 5,
                    output_tokens: 6,
                    cost,
                    error_count: errors.len() as u64,
                    errors,
                });
            }
        }
        assert_same(&SessionStartEvent {
            session_id: "s".into(),
            agent_name: "a".into(),
        });
    }
}
