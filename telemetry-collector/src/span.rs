//! One stored span: what `/v1/traces` keeps of an OTLP span (its ids, parent, name, kind,
//! times, status and the GenAI attributes the session view uses), checked and capped.
//!
//! Invariants: ids are never all zero; `end_ns >= start_ns`; every number is within the
//! bounds records have (`limits.rs`); every string is capped at
//! [`MAX_STRING_CHARS`](crate::record::MAX_STRING_CHARS) characters.

use serde::Serialize;

pub use crate::record::{cap, no_nul};

/// A span ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRow {
    /// The trace's 16-byte id.
    pub trace_id: [u8; 16],
    /// The span's 8-byte id; `(trace_id, span_id)` is stored once.
    pub span_id: [u8; 8],
    /// The parent's id (`None` for a root).
    pub parent_id: Option<[u8; 8]>,
    /// The span's name.
    pub name: String,
    /// OTLP `SpanKind` (0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5
    /// consumer).
    pub otel_kind: i32,
    /// What it is in a session (from `gen_ai.operation.name`).
    pub kind: Kind,
    /// Start, nanoseconds since the epoch.
    pub start_ns: i64,
    /// End, nanoseconds since the epoch (at least `start_ns`).
    pub end_ns: i64,
    /// False when its status is ERROR.
    pub is_success: bool,
    /// The status message, else `error.message`, else `error.type`, of a failed span.
    pub error: Option<String>,
    /// `gen_ai.conversation.id` (or `session.id`): the session it belongs to.
    pub session_id: Option<String>,
    /// `gen_ai.agent.name`.
    pub agent: Option<String>,
    /// `gen_ai.tool.name`.
    pub tool_name: Option<String>,
    /// `gen_ai.request.model` (else `gen_ai.response.model`).
    pub model: Option<String>,
    /// `gen_ai.usage.input_tokens`.
    pub input_tokens: Option<i64>,
    /// `gen_ai.usage.output_tokens`.
    pub output_tokens: Option<i64>,
    /// `cli_telemetry.cost`.
    pub cost: Option<f64>,
    /// The resource's `service.name`.
    pub service: Option<String>,
}

/// What a span is in a session.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A command, or any span that is none of the others.
    Command,
    /// The agent session itself (`invoke_agent`).
    Session,
    /// A tool call (`execute_tool`).
    Tool,
    /// A model turn (`chat`).
    Chat,
}

impl Kind {
    /// `command`, `session`, `tool` or `chat`, as stored and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Session => "session",
            Self::Tool => "tool",
            Self::Chat => "chat",
        }
    }

    /// The value [`as_str`](Self::as_str) wrote; anything else is a command.
    pub fn parse(s: &str) -> Self {
        match s {
            "session" => Self::Session,
            "tool" => Self::Tool,
            "chat" => Self::Chat,
            _ => Self::Command,
        }
    }
}

impl SpanRow {
    /// The UTC day it started on (retention).
    pub fn day(&self) -> i64 {
        self.start_ns
            .div_euclid(1_000_000)
            .div_euclid(crate::rollup::MS_PER_DAY)
    }
}

/// Lower-case hex of `bytes`.
///
/// ```
/// assert_eq!(telemetry_collector::span::hex(&[0, 0xab]), "00ab");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// `N` bytes from `2N` hex digits (either case); `None` for anything else.
///
/// ```
/// assert_eq!(telemetry_collector::span::unhex::<2>("00AB"), Some([0, 0xab]));
/// assert_eq!(telemetry_collector::span::unhex::<2>("00a"), None);
/// ```
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}
