//! What an event adds to the operator's metrics (`crate::metrics`): its numbers, borrowed
//! from the event, so the instruments never see an event's type.

/// What one event adds to the instruments: its numbers, borrowed from the event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Measure<'a> {
    /// A command returned.
    Command {
        action: &'a str,
        millis: u64,
        error: Option<&'a str>,
    },
    /// A tool call returned.
    Tool {
        tool: &'a str,
        agent: &'a str,
        millis: u64,
        error: Option<&'a str>,
    },
    /// A model turn ended: its tokens and cost; its provider, duration (from its span) and
    /// error (a failed turn: its duration only) when known.
    Turn {
        model: &'a str,
        provider: Option<&'a str>,
        input: u64,
        output: u64,
        cost: f64,
        nanos: Option<u64>,
        error: Option<&'a str>,
    },
    /// A session ended.
    SessionEnd { agent: &'a str, success: bool },
}
