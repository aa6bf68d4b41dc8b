//! The one scrubber every string passes before it leaves the machine.

use crate::config::Env;

/// Longest string kept, in characters.
pub const MAX_STRING_CHARS: usize = 256;

/// Removes personal data and secrets from strings (placeholder: caps length only).
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    _private: (),
}

impl Scrubber {
    /// A scrubber for the user described by `env`.
    #[must_use]
    pub fn from_env(_env: &Env) -> Self {
        Self { _private: () }
    }

    /// Scrubs one string.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        text.chars().take(MAX_STRING_CHARS).collect()
    }
}
