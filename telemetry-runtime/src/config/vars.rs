//! The names of every variable configuration reads, in one place, and the prefix rule.
//!
//! Invariant: with a prefix `P`, each setting is read from `P_TELEMETRY_<NAME>` first and from
//! `TELEMETRY_<NAME>` only when the prefixed one is unset; `DO_NOT_TRACK` and the CI
//! variables are never prefixed.

use super::env::{Env, Value};

/// `DO_NOT_TRACK`: any value but empty, `0` or `false` turns telemetry off for every tool.
pub const DO_NOT_TRACK: &str = "DO_NOT_TRACK";

/// A per-tool setting, read as `<PREFIX>_TELEMETRY_<NAME>` or `TELEMETRY_<NAME>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Var {
    /// `TELEMETRY_ENABLED`
    Enabled,
    /// `TELEMETRY_ENDPOINT`
    Endpoint,
    /// `TELEMETRY_API_KEY`
    ApiKey,
    /// `TELEMETRY_DEBUG`
    Debug,
    /// `TELEMETRY_VERBOSE`
    Verbose,
    /// `TELEMETRY_TAGS`
    Tags,
    /// `TELEMETRY_SEND_BUDGET_MS`
    SendBudgetMs,
    /// `TELEMETRY_EXPORTER`
    Exporter,
    /// `TELEMETRY_OTEL`: the switch of the operator's OpenTelemetry stream.
    Otel,
}

impl Var {
    /// The unprefixed name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Enabled => "TELEMETRY_ENABLED",
            Self::Endpoint => "TELEMETRY_ENDPOINT",
            Self::ApiKey => "TELEMETRY_API_KEY",
            Self::Debug => "TELEMETRY_DEBUG",
            Self::Verbose => "TELEMETRY_VERBOSE",
            Self::Tags => "TELEMETRY_TAGS",
            Self::SendBudgetMs => "TELEMETRY_SEND_BUDGET_MS",
            Self::Exporter => "TELEMETRY_EXPORTER",
            Self::Otel => "TELEMETRY_OTEL",
        }
    }
}

/// Normalises an application's prefix: ASCII upper case, every other character than a letter
/// or digit becomes `_`, trailing `_` removed. `None` when nothing is left.
///
/// `my-tool` gives `MY_TOOL`, so the variables are `MY_TOOL_TELEMETRY_ENABLED` and so on.
pub(crate) fn normalise_prefix(prefix: &str) -> Option<String> {
    let p: String = prefix
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let p = p.trim_end_matches('_');
    (!p.is_empty()).then(|| p.to_owned())
}

/// A variable that was found: its full name and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found<'e> {
    /// The name that was read, e.g. `CAGENT_TELEMETRY_ENDPOINT`.
    pub(crate) name: String,
    /// Its value.
    pub(crate) value: Value<'e>,
}

impl Found<'_> {
    /// The value as trimmed text; `None` when empty or not Unicode.
    pub(crate) fn text(&self) -> Option<&str> {
        match self.value {
            Value::Text(t) => Some(t.trim()).filter(|t| !t.is_empty()),
            Value::Unreadable => None,
        }
    }
}

/// Reads settings from an [`Env`] under an optional prefix.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lookup<'e> {
    pub(crate) env: &'e Env,
    pub(crate) prefix: Option<&'e str>,
}

impl<'e> Lookup<'e> {
    /// The variable at one level only: the prefixed name (`prefixed`, when there is a prefix)
    /// or the unprefixed one; used where two settings must come from the same level (an
    /// endpoint and its key).
    pub(crate) fn find_at(&self, var: Var, prefixed: bool) -> Option<Found<'e>> {
        let name = match (prefixed, self.prefix) {
            (true, Some(p)) => format!("{p}_{}", var.name()),
            (true, None) => return None,
            (false, _) => var.name().to_owned(),
        };
        let value = self.env.value(&name)?;
        Some(Found { name, value })
    }

    /// Whether `name` is `var`'s prefixed name.
    pub(crate) fn is_prefixed(&self, var: Var, name: &str) -> bool {
        self.prefix.is_some_and(|p| {
            name.strip_prefix(p).and_then(|r| r.strip_prefix('_')) == Some(var.name())
        })
    }

    /// The prefixed variable if it is set (to anything), else the unprefixed one if set.
    pub(crate) fn find(&self, var: Var) -> Option<Found<'e>> {
        let prefixed = self.prefix.map(|p| format!("{p}_{}", var.name()));
        prefixed
            .into_iter()
            .chain(std::iter::once(var.name().to_owned()))
            .find_map(|name| {
                let value = self.env.value(&name)?;
                Some(Found { name, value })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(normalise_prefix("cagent").as_deref(), Some("CAGENT"));
        assert_eq!(normalise_prefix(" my-tool_ ").as_deref(), Some("MY_TOOL"));
        assert_eq!(normalise_prefix("__"), None);
        assert_eq!(normalise_prefix(""), None);
    }

    #[test]
    fn prefixed_variable_wins_and_unprefixed_is_the_fallback() {
        let env = Env::from_pairs([
            ("TELEMETRY_ENDPOINT", "http://a"),
            ("TOOL_TELEMETRY_ENDPOINT", "http://b"),
            ("TELEMETRY_TAGS", "x=1"),
        ]);
        let with = Lookup {
            env: &env,
            prefix: Some("TOOL"),
        };
        let without = Lookup {
            env: &env,
            prefix: None,
        };
        let found = with.find(Var::Endpoint).unwrap();
        assert_eq!(
            (found.name.as_str(), found.text()),
            ("TOOL_TELEMETRY_ENDPOINT", Some("http://b"))
        );
        assert_eq!(with.find(Var::Tags).unwrap().name, "TELEMETRY_TAGS");
        assert_eq!(
            without.find(Var::Endpoint).unwrap().text(),
            Some("http://a")
        );
        assert_eq!(with.find(Var::ApiKey), None);
        // One level only.
        assert_eq!(with.find_at(Var::Tags, true), None);
        assert_eq!(
            with.find_at(Var::Tags, false).unwrap().name,
            "TELEMETRY_TAGS"
        );
        assert_eq!(without.find_at(Var::Endpoint, true), None);
        assert!(with.is_prefixed(Var::Endpoint, &found.name));
        assert!(!with.is_prefixed(Var::Tags, "TELEMETRY_TAGS"));
        let same = Lookup {
            env: &env,
            prefix: Some("TELEMETRY"),
        };
        assert!(!same.is_prefixed(Var::Endpoint, "TELEMETRY_ENDPOINT"));
        assert!(same.is_prefixed(Var::Endpoint, "TELEMETRY_TELEMETRY_ENDPOINT"));
    }
}
