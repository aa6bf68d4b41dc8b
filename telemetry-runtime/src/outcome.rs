//! Success or failure of a tracked call, and how a returned value is classified.

use std::fmt::Display;

/// The outcome of a tracked call.
///
/// ```
/// use telemetry_runtime::Outcome;
/// let ok = Outcome::Success;
/// let err = Outcome::failure("file not found");
/// assert!(ok.is_success());
/// assert_eq!(err.error(), Some("file not found"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed; the text is the error's `Display` (scrubbed before it is recorded).
    Failure(String),
}

impl Outcome {
    /// A failure with the given error text.
    pub fn failure(error: impl Display) -> Self {
        Self::Failure(error.to_string())
    }

    /// Whether this is a success.
    #[must_use]
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }

    /// The error text of a failure.
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Success => None,
            Self::Failure(e) => Some(e),
        }
    }

    /// Classifies a `Result`: `Ok` is a success, `Err` a failure with the error's `Display`.
    ///
    /// ```
    /// use telemetry_runtime::Outcome;
    /// let r: Result<u8, String> = Err("boom".into());
    /// assert_eq!(Outcome::of_result(&r), Outcome::failure("boom"));
    /// ```
    pub fn of_result<T, E: Display>(r: &Result<T, E>) -> Self {
        match r {
            Ok(_) => Self::Success,
            Err(e) => Self::failure(e),
        }
    }
}

/// Classifies a returned value as success or failure.
///
/// The tracking macros use it for any return type that implements it; `Result<T, E>` with
/// `E: Display` is classified without it (through any alias), and every other type counts as a
/// success. Implement it for your own types, such as an exit code:
///
/// ```
/// use telemetry_runtime::{Outcome, TrackOutcome};
/// struct ExitCode(i32);
/// impl TrackOutcome for ExitCode {
///     fn track_outcome(&self) -> Outcome {
///         if self.0 == 0 { Outcome::Success } else { Outcome::failure(format!("exit code {}", self.0)) }
///     }
/// }
/// assert!(!ExitCode(2).track_outcome().is_success());
/// ```
pub trait TrackOutcome {
    /// The outcome this value stands for.
    fn track_outcome(&self) -> Outcome;
}
