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
/// success. This crate implements it for `Result`, `Option` (always a success),
/// [`std::process::ExitCode`], [`std::process::ExitStatus`] and [`std::process::Output`].
/// Implement it for your own types, such as an exit code of your own:
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

/// `Ok` is a success, `Err` a failure with the error's `Display`. The macros classify a
/// `Result` without this impl; it lets generic code require `T: TrackOutcome` of a type
/// parameter that may be a `Result`.
///
/// ```
/// use telemetry_runtime::TrackOutcome;
/// let r: Result<(), String> = Err("boom".into());
/// assert_eq!(r.track_outcome().error(), Some("boom"));
/// ```
impl<T, E: Display> TrackOutcome for Result<T, E> {
    fn track_outcome(&self) -> Outcome {
        Outcome::of_result(self)
    }
}

/// Always a success: `None` is an answer ("nothing found"), not an error. Return a `Result`,
/// or give the attribute `outcome = ..`, to count it as a failure.
///
/// ```
/// use telemetry_runtime::TrackOutcome;
/// assert!(None::<u8>.track_outcome().is_success());
/// ```
impl<T> TrackOutcome for Option<T> {
    fn track_outcome(&self) -> Outcome {
        Outcome::Success
    }
}

/// `ExitCode::SUCCESS` is a success; any other code a failure whose error is `exit code N`
/// (`N` found among the codes `ExitCode::from(u8)` makes, else `exit code is not SUCCESS`).
///
/// ```
/// use std::process::ExitCode;
/// use telemetry_runtime::TrackOutcome;
/// assert!(ExitCode::SUCCESS.track_outcome().is_success());
/// assert_eq!(ExitCode::from(3).track_outcome().error(), Some("exit code 3"));
/// ```
impl TrackOutcome for std::process::ExitCode {
    fn track_outcome(&self) -> Outcome {
        if *self == Self::SUCCESS {
            return Outcome::Success;
        }
        // `ExitCode` has no getter; it does have `PartialEq` and `From<u8>`.
        match (1..=u8::MAX).find(|&n| *self == Self::from(n)) {
            Some(n) => Outcome::Failure(format!("exit code {n}")),
            None => Outcome::Failure("exit code is not SUCCESS".to_owned()),
        }
    }
}

/// `success()` is a success; anything else a failure whose error is the status's `Display`
/// (`exit status: 1`, or the signal that ended the process).
///
/// ```
/// use telemetry_runtime::TrackOutcome;
/// # #[cfg(unix)] {
/// let status = std::process::Command::new("false").status().unwrap();
/// assert_eq!(status.track_outcome().error(), Some("exit status: 1"));
/// # }
/// ```
impl TrackOutcome for std::process::ExitStatus {
    fn track_outcome(&self) -> Outcome {
        if self.success() {
            Outcome::Success
        } else {
            Outcome::failure(self)
        }
    }
}

/// A child's whole output: classified by its exit status, as [`std::process::ExitStatus`].
///
/// ```
/// use telemetry_runtime::TrackOutcome;
/// # #[cfg(unix)] {
/// let out = std::process::Command::new("true").output().unwrap();
/// assert!(out.track_outcome().is_success());
/// # }
/// ```
impl TrackOutcome for std::process::Output {
    fn track_outcome(&self) -> Outcome {
        self.status.track_outcome()
    }
}
