//! The instruments of the operator's metrics: names, units, kinds and bucket boundaries,
//! stated once.
//!
//! Semantic conventions followed: the OpenTelemetry GenAI conventions as published in
//! `open-telemetry/semantic-conventions` v1.37 to v1.41 (`gen_ai.provider.name`, not
//! `gen_ai.system`; `gen_ai.client.token.usage` and `gen_ai.client.operation.duration` with
//! their explicit bucket boundaries), and `gen_ai.execute_tool.duration`, which the GenAI
//! conventions' own repository (`open-telemetry/semantic-conventions-genai`) defines since
//! they moved there, with the boundaries of `gen_ai.client.operation.duration`. The other
//! two instruments are this crate's (`cli_telemetry.*`). All of these conventions are at
//! status "Development": a later version may rename them.

/// What an instrument aggregates into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// A histogram with explicit bucket boundaries.
    Histogram(&'static [f64]),
    /// A monotonic sum of doubles (a counter).
    SumDouble,
    /// A monotonic sum of integers (a counter).
    SumInt,
}

/// The GenAI conventions' boundaries for `gen_ai.client.token.usage`: powers of 4.
pub(crate) const TOKEN_BOUNDS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The GenAI conventions' boundaries for `gen_ai.client.operation.duration` and
/// `gen_ai.execute_tool.duration`, in seconds: 0.01 doubling to 81.92.
pub(crate) const DURATION_BOUNDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Boundaries of `cli_telemetry.command.duration` (ours, seconds): those of the GenAI
/// durations continued to 655.36 s, since a command (an agent's whole run) may take minutes.
pub(crate) const COMMAND_BOUNDS: [f64; 17] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84,
    327.68, 655.36,
];

/// The instruments, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Instrument {
    /// `gen_ai.client.token.usage`: one point per model turn and token type.
    TokenUsage,
    /// `gen_ai.client.operation.duration`: one point per model turn with a duration.
    OperationDuration,
    /// `gen_ai.execute_tool.duration`: one point per tool call.
    ToolDuration,
    /// `cli_telemetry.command.duration`: one point per command.
    CommandDuration,
    /// `cli_telemetry.cost`: the estimated cost of model turns.
    Cost,
    /// `cli_telemetry.session.count`: sessions that ended.
    SessionCount,
}

impl Instrument {
    /// Every instrument, in the order they are written.
    pub(crate) const ALL: [Self; 6] = [
        Self::TokenUsage,
        Self::OperationDuration,
        Self::ToolDuration,
        Self::CommandDuration,
        Self::Cost,
        Self::SessionCount,
    ];

    /// The metric's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::TokenUsage => "gen_ai.client.token.usage",
            Self::OperationDuration => "gen_ai.client.operation.duration",
            Self::ToolDuration => "gen_ai.execute_tool.duration",
            Self::CommandDuration => "cli_telemetry.command.duration",
            Self::Cost => "cli_telemetry.cost",
            Self::SessionCount => "cli_telemetry.session.count",
        }
    }

    /// The metric's unit (UCUM, as the conventions write them).
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Self::TokenUsage => "{token}",
            Self::OperationDuration | Self::ToolDuration | Self::CommandDuration => "s",
            Self::Cost => "{USD}",
            Self::SessionCount => "{session}",
        }
    }

    /// The metric's description.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::TokenUsage => "Number of input and output tokens used.",
            Self::OperationDuration => "GenAI operation duration.",
            Self::ToolDuration => "The duration of a single tool execution.",
            Self::CommandDuration => "The duration of a command.",
            Self::Cost => "The estimated cost of model turns.",
            Self::SessionCount => "Agent sessions that ended.",
        }
    }

    /// What the instrument aggregates into.
    pub(crate) fn kind(self) -> Kind {
        match self {
            Self::TokenUsage => Kind::Histogram(&TOKEN_BOUNDS),
            Self::OperationDuration | Self::ToolDuration => Kind::Histogram(&DURATION_BOUNDS),
            Self::CommandDuration => Kind::Histogram(&COMMAND_BOUNDS),
            Self::Cost => Kind::SumDouble,
            Self::SessionCount => Kind::SumInt,
        }
    }

    /// The instrument's index in [`ALL`](Self::ALL).
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_the_conventions_and_strictly_increase() {
        for i in Instrument::ALL {
            assert_eq!(Instrument::ALL[i.index()], i);
            if let Kind::Histogram(bounds) = i.kind() {
                assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{}", i.name());
            }
        }
        let powers_of_4: Vec<f64> = (0..14).map(|k| 4f64.powi(k)).collect();
        assert_eq!(TOKEN_BOUNDS.to_vec(), powers_of_4);
        for (k, b) in DURATION_BOUNDS.iter().enumerate() {
            assert!((b - 0.01 * 2f64.powi(k as i32)).abs() < 1e-12);
        }
        assert_eq!(DURATION_BOUNDS[..], COMMAND_BOUNDS[..14]);
        assert_eq!(*COMMAND_BOUNDS.last().unwrap(), 655.36);
    }
}
