//! Consent: whether telemetry is on, resolved by a precedence table.
//!
//! Invariants: the first rule of [`RULES`] that decides wins; every rule but the persisted
//! choice is a pure function of the environment snapshot and the application's choice, and the
//! persisted choice (a file) is read only when every rule before it passed.

use std::fmt;

use super::ci;
use super::env::Value;
use super::vars::{DO_NOT_TRACK, Lookup, Var};

/// A parsed boolean setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flag {
    Unset,
    On,
    Off,
    Invalid,
}

/// Parses `true/1/yes/on` and `false/0/no/off` in any case, spaces trimmed.
pub(crate) fn parse_flag(value: Option<&str>) -> Flag {
    let Some(v) = value else { return Flag::Unset };
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Flag::On,
        "false" | "0" | "no" | "off" => Flag::Off,
        _ => Flag::Invalid,
    }
}

/// Which input decided whether telemetry is enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentSource {
    /// `DO_NOT_TRACK` was set.
    DoNotTrack,
    /// `TELEMETRY_ENABLED` (or its prefixed form) was set to a valid value.
    EnvironmentVariable,
    /// The application's code (the builder's `enabled(false)`).
    Application,
    /// A CI variable (`CI`, `GITHUB_ACTIONS`, ...) was set and `TELEMETRY_ENABLED` did not
    /// turn telemetry on.
    Ci,
    /// A choice persisted in the config dir (`telemetry enable` / `telemetry disable`).
    Persisted,
    /// Nothing said otherwise.
    Default,
}

impl fmt::Display for ConsentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DoNotTrack => "DO_NOT_TRACK",
            Self::EnvironmentVariable => "environment variable",
            Self::Application => "application",
            Self::Ci => "CI",
            Self::Persisted => "persisted choice",
            Self::Default => "default",
        })
    }
}

/// Whether telemetry is enabled, which source decided, and why.
///
/// ```
/// use telemetry_runtime::config::ConsentSource;
/// use telemetry_runtime::{Client, Env};
/// let client = Client::builder()
///     .env(Env::from_pairs([("DO_NOT_TRACK", "1")]))
///     .build();
/// let consent = client.consent();
/// assert!(!consent.enabled);
/// assert_eq!(consent.source, ConsentSource::DoNotTrack);
/// assert_eq!(consent.decided_by, "DO_NOT_TRACK");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    /// Whether records are built and delivered.
    pub enabled: bool,
    /// The input that decided.
    pub source: ConsentSource,
    /// The variable or input that decided, by name: `DO_NOT_TRACK`,
    /// `CAGENT_TELEMETRY_ENABLED`, `GITHUB_ACTIONS`, `application`, `persisted choice`,
    /// `default`.
    pub decided_by: String,
    /// A human-readable explanation.
    pub reason: String,
    /// Warnings found while resolving (e.g. an unrecognised `TELEMETRY_ENABLED` value).
    pub warnings: Vec<String>,
}

/// What the rules look at. `persisted` reads a file: only the rule that needs it calls it.
struct Inputs<'a> {
    do_not_track: bool,
    /// The `TELEMETRY_ENABLED` variable that was read (prefixed first) and its meaning.
    enabled_var: Option<(String, Flag)>,
    app: Option<bool>,
    ci: Option<&'static str>,
    persisted: &'a dyn Fn() -> Option<bool>,
}

/// A rule's decision: enabled, source, decided by, reason.
type Decision = (bool, ConsentSource, String, String);
type Rule = fn(&Inputs<'_>) -> Option<Decision>;

/// The precedence table, first match wins.
const RULES: [Rule; 7] = [
    // DO_NOT_TRACK: the user's universal opt-out beats everything.
    |i| {
        i.do_not_track.then(|| {
            let by = DO_NOT_TRACK.to_owned();
            (
                false,
                ConsentSource::DoNotTrack,
                by,
                "DO_NOT_TRACK is set".into(),
            )
        })
    },
    // TELEMETRY_ENABLED=false: the user's opt-out for this tool.
    |i| env_flag(i, Flag::Off),
    // enabled(false): the application's opt-out.
    |i| {
        (i.app == Some(false)).then(|| {
            let reason = "the application disabled telemetry".into();
            (
                false,
                ConsentSource::Application,
                "application".into(),
                reason,
            )
        })
    },
    // TELEMETRY_ENABLED=true: the user's opt-in, which also beats CI.
    |i| env_flag(i, Flag::On),
    |i| {
        i.ci.map(|var| {
            let reason =
                format!("running in CI ({var} is set); TELEMETRY_ENABLED=true turns it on");
            (false, ConsentSource::Ci, var.to_owned(), reason)
        })
    },
    |i| {
        (i.persisted)().map(|on| {
            let word = if on { "enabled" } else { "disabled" };
            let by = "persisted choice".to_owned();
            (
                on,
                ConsentSource::Persisted,
                by,
                format!("{word} by a persisted choice"),
            )
        })
    },
    |_| {
        Some((
            true,
            ConsentSource::Default,
            "default".into(),
            "enabled by default".into(),
        ))
    },
];

/// The `TELEMETRY_ENABLED` rule for one value of the flag.
fn env_flag(i: &Inputs<'_>, wanted: Flag) -> Option<Decision> {
    let (name, flag) = i.enabled_var.as_ref()?;
    (*flag == wanted).then(|| {
        let on = wanted == Flag::On;
        let reason = format!("{name} turns telemetry {}", if on { "on" } else { "off" });
        (on, ConsentSource::EnvironmentVariable, name.clone(), reason)
    })
}

/// Resolves consent from the environment (through `lookup`, so the prefix applies), the
/// application's choice and, only when nothing before it decided, the persisted choice.
/// Precedence, first match wins: `DO_NOT_TRACK` > `TELEMETRY_ENABLED=false` > application
/// `enabled(false)` > `TELEMETRY_ENABLED=true` > CI > persisted choice > default (enabled).
pub(crate) fn resolve_consent(
    lookup: Lookup<'_>,
    app_enabled: Option<bool>,
    persisted: &dyn Fn() -> Option<bool>,
) -> Consent {
    let mut warnings = Vec::new();
    let enabled_var = lookup.find(Var::Enabled).map(|found| {
        let flag = match found.value {
            Value::Text(t) => parse_flag(Some(t)),
            Value::Unreadable => Flag::Invalid,
        };
        if flag == Flag::Invalid {
            let shown = match found.value {
                Value::Text(t) => format!("={t:?}"),
                Value::Unreadable => " (not valid UTF-8)".to_owned(),
            };
            warnings.push(format!(
                "telemetry: ignoring {}{shown}: expected true/false, 1/0, yes/no or on/off",
                found.name
            ));
        }
        (found.name, flag)
    });
    let inputs = Inputs {
        do_not_track: lookup.env.is_truthy(DO_NOT_TRACK),
        enabled_var,
        app: app_enabled,
        ci: ci::detect(lookup.env),
        persisted,
    };
    let (enabled, source, decided_by, reason) =
        RULES.iter().find_map(|rule| rule(&inputs)).unwrap_or((
            true,
            ConsentSource::Default,
            "default".into(),
            String::new(),
        ));
    Consent {
        enabled,
        source,
        decided_by,
        reason,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::config::Env;

    fn resolve(env: &Env, app: Option<bool>, persisted: Option<bool>) -> Consent {
        resolve_consent(Lookup { env, prefix: None }, app, &|| persisted)
    }

    #[test]
    fn flags_parse_every_spelling() {
        for v in ["false", "FALSE", " False ", "0", "no", "NO", "off", " Off"] {
            assert_eq!(parse_flag(Some(v)), Flag::Off, "{v}");
        }
        for v in ["true", "TRUE", "1", "yes", "on", " On "] {
            assert_eq!(parse_flag(Some(v)), Flag::On, "{v}");
        }
        for v in ["", "maybe", "2", "nope"] {
            assert_eq!(parse_flag(Some(v)), Flag::Invalid, "{v}");
        }
        assert_eq!(parse_flag(None), Flag::Unset);
    }

    #[test]
    fn precedence() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        let case = |e: &[(&str, &str)], app, persisted| {
            let c = resolve(&env(e), app, persisted);
            (c.enabled, c.source)
        };
        use ConsentSource as S;
        let dnt_and_on = [("DO_NOT_TRACK", "1"), ("TELEMETRY_ENABLED", "true")];
        assert_eq!(
            case(&dnt_and_on, Some(true), Some(true)),
            (false, S::DoNotTrack)
        );
        for dnt in ["", "0", "false", "FALSE"] {
            assert_eq!(
                case(&[("DO_NOT_TRACK", dnt)], None, None),
                (true, S::Default)
            );
        }
        let off = [("TELEMETRY_ENABLED", "off")];
        assert_eq!(
            case(&off, Some(true), Some(true)),
            (false, S::EnvironmentVariable)
        );
        let on = [("TELEMETRY_ENABLED", "on")];
        assert_eq!(case(&on, Some(false), None), (false, S::Application));
        assert_eq!(case(&[("CI", "true")], None, Some(true)), (false, S::Ci));
        let ci_on = [("CI", "true"), ("TELEMETRY_ENABLED", "1")];
        assert_eq!(case(&ci_on, None, None), (true, S::EnvironmentVariable));
        assert_eq!(
            case(&[("CI", "0")], None, Some(false)),
            (false, S::Persisted)
        );
        let on = [("TELEMETRY_ENABLED", "true")];
        assert_eq!(case(&on, None, Some(false)), (true, S::EnvironmentVariable));
        let c = resolve(&env(&[("TELEMETRY_ENABLED", "perhaps")]), None, None);
        assert_eq!(
            (c.enabled, c.source, c.warnings.len()),
            (true, S::Default, 1)
        );
    }

    #[test]
    fn the_persisted_choice_is_read_only_when_nothing_before_it_decided() {
        let reads = Cell::new(0);
        let persisted = || {
            reads.set(reads.get() + 1);
            Some(true)
        };
        let deciding = [
            (Env::from_pairs([("DO_NOT_TRACK", "1")]), None),
            (Env::from_pairs([("TELEMETRY_ENABLED", "false")]), None),
            (Env::from_pairs([("TELEMETRY_ENABLED", "true")]), None),
            (Env::from_pairs([("GITLAB_CI", "true")]), None),
            (Env::empty(), Some(false)),
        ];
        for (env, app) in &deciding {
            let c = resolve_consent(Lookup { env, prefix: None }, *app, &persisted);
            assert_ne!(c.source, ConsentSource::Persisted, "{env:?}");
        }
        assert_eq!(
            reads.get(),
            0,
            "no rule before the persisted choice read it"
        );
        let c = resolve_consent(
            Lookup {
                env: &Env::empty(),
                prefix: None,
            },
            None,
            &persisted,
        );
        assert_eq!((c.source, reads.get()), (ConsentSource::Persisted, 1));
    }

    #[test]
    fn the_prefixed_variable_decides_and_is_named() {
        let env = Env::from_pairs([
            ("TELEMETRY_ENABLED", "false"),
            ("TOOL_TELEMETRY_ENABLED", "true"),
        ]);
        let c = resolve_consent(
            Lookup {
                env: &env,
                prefix: Some("TOOL"),
            },
            None,
            &|| None,
        );
        assert_eq!(
            (c.enabled, c.decided_by.as_str()),
            (true, "TOOL_TELEMETRY_ENABLED")
        );
        let c = resolve_consent(
            Lookup {
                env: &env,
                prefix: None,
            },
            None,
            &|| None,
        );
        assert_eq!(
            (c.enabled, c.decided_by.as_str()),
            (false, "TELEMETRY_ENABLED")
        );
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_bytes_opt_out_of_do_not_track_and_ci_and_warn_for_enabled() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || std::ffi::OsString::from_vec(vec![0xff]);
        for var in ["DO_NOT_TRACK", "CI", "GITHUB_ACTIONS"] {
            let env = Env::empty().with_os(var, bad());
            let c = resolve(&env, None, None);
            assert!(!c.enabled, "{var}: {c:?}");
            assert_eq!(c.decided_by, var);
        }
        let env = Env::empty().with_os("TELEMETRY_ENABLED", bad());
        let c = resolve(&env, None, None);
        assert_eq!(
            (c.enabled, c.source, c.warnings.len()),
            (true, ConsentSource::Default, 1)
        );
        assert!(
            c.warnings[0].contains("not valid UTF-8"),
            "{:?}",
            c.warnings
        );
    }
}
