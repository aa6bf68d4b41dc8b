//! [`Env`]: a snapshot of environment variables, the only input configuration reads.
//!
//! Invariants: a snapshot never changes after it is taken; values that are not valid Unicode
//! are kept (as bytes) so that "set to something" stays observable for `DO_NOT_TRACK` and the
//! CI variables; [`Env::get`] only ever returns Unicode text.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;

/// A snapshot of environment variables, read once.
///
/// ```
/// use telemetry_runtime::Env;
/// let env = Env::from_pairs([("TELEMETRY_ENABLED", "false")]);
/// assert_eq!(env.get("TELEMETRY_ENABLED"), Some("false"));
/// assert_eq!(env.get("HOME"), None);
/// ```
///
/// Its `Debug` output lists the variable names only: values may hold keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, OsString>);

/// The value of a variable as configuration sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Valid Unicode text.
    Text(&'a str),
    /// Set, but not valid Unicode.
    Unreadable,
}

impl Env {
    /// The current process environment. Variables whose *name* is not valid Unicode are
    /// skipped (no setting has such a name); values that are not are kept.
    #[must_use]
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
                .collect(),
        )
    }

    /// An empty environment.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// An environment made of the given pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), OsString::from(v.into())))
                .collect(),
        )
    }

    /// Sets a variable, builder style.
    #[must_use]
    pub fn with(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.with_os(key, OsString::from(value.into()))
    }

    /// Sets a variable to any value, including bytes that are not valid Unicode.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use std::os::unix::ffi::OsStringExt;
    /// use telemetry_runtime::Env;
    /// let env = Env::empty().with_os("DO_NOT_TRACK", std::ffi::OsString::from_vec(vec![0xff]));
    /// assert_eq!(env.get("DO_NOT_TRACK"), None); // not text...
    /// assert!(env.is_set("DO_NOT_TRACK")); // ...but set
    /// assert!(env.is_truthy("DO_NOT_TRACK"));
    /// # }
    /// ```
    #[must_use]
    pub fn with_os(mut self, key: impl Into<String>, value: impl Into<OsString>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// The value of a variable, when it is set to valid Unicode.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str())
    }

    /// The value of a variable, `None` when unset, not Unicode, or empty after trimming.
    #[must_use]
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Whether the variable is set at all (to any bytes, even empty).
    #[must_use]
    pub fn is_set(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Whether the variable is set to anything but empty, `0` or `false` (any case, spaces
    /// trimmed): the rule of `DO_NOT_TRACK`, `CI` and banner-hiding variables. A value that is
    /// not valid Unicode counts as set.
    ///
    /// ```
    /// use telemetry_runtime::Env;
    /// let env = Env::from_pairs([("A", "1"), ("B", " FALSE "), ("C", "")]);
    /// assert!(env.is_truthy("A"));
    /// assert!(!env.is_truthy("B") && !env.is_truthy("C") && !env.is_truthy("D"));
    /// ```
    #[must_use]
    pub fn is_truthy(&self, key: &str) -> bool {
        match self.value(key) {
            None => false,
            Some(Value::Unreadable) => true,
            Some(Value::Text(v)) => truthy_text(v),
        }
    }

    /// The value of a variable, text or not.
    pub(crate) fn value(&self, key: &str) -> Option<Value<'_>> {
        let v = self.0.get(key)?;
        Some(v.to_str().map_or(Value::Unreadable, Value::Text))
    }
}

/// Anything but empty, `0` or `false` (any case), spaces trimmed.
pub(crate) fn truthy_text(value: &str) -> bool {
    let v = value.trim();
    !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn bytes(b: &[u8]) -> OsString {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(b.to_vec())
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_values_are_kept_and_count_as_set() {
        let env = Env::empty().with_os("X", bytes(b"\xff\xfe"));
        assert_eq!(env.get("X"), None);
        assert_eq!(env.non_empty("X"), None);
        assert_eq!(env.value("X"), Some(Value::Unreadable));
        assert!(env.is_set("X") && env.is_truthy("X"));
        assert!(!env.is_set("Y") && !env.is_truthy("Y"));
    }

    #[test]
    fn debug_lists_names_only() {
        let env = Env::from_pairs([("TELEMETRY_API_KEY", "sekrit")]);
        let text = format!("{env:?}");
        assert!(
            text.contains("TELEMETRY_API_KEY") && !text.contains("sekrit"),
            "{text}"
        );
    }

    #[test]
    fn truthiness() {
        for v in ["1", "true", "yes", "anything", " 2 "] {
            assert!(truthy_text(v), "{v:?}");
        }
        for v in ["", " ", "0", " 0 ", "false", "FALSE", "False"] {
            assert!(!truthy_text(v), "{v:?}");
        }
    }
}
