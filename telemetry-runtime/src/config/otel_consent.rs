//! Consent of the operator's OpenTelemetry stream (B): off unless switched on.
//!
//! Invariants: only `OTEL_SDK_DISABLED`, `TELEMETRY_OTEL` (prefixed first) and the
//! application's `otel(..)` decide, in that order; nothing of the usage stream's consent
//! (`DO_NOT_TRACK`, `TELEMETRY_ENABLED`, CI, the persisted choice, the first-run hold) is
//! read here, and nothing here is read by the usage stream's consent.

use super::consent::{Consent, ConsentSource, Flag, parse_flag};
use super::env::Value;
use super::vars::{Lookup, Var};

/// OpenTelemetry's switch for every signal of an SDK: `true` (any case) turns the operator's
/// stream off, whatever else says.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// Resolves whether the operator's stream is on. Precedence, first match wins:
/// `OTEL_SDK_DISABLED=true` > `TELEMETRY_OTEL` (`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`,
/// prefixed first) > the application's `otel(..)` > off.
pub(crate) fn resolve_otel_consent(lookup: Lookup<'_>, app: Option<bool>) -> Consent {
    let mut warnings = Vec::new();
    let decided = |enabled: bool, source, by: &str, reason: String| Consent {
        enabled,
        source,
        decided_by: by.to_owned(),
        reason,
        warnings: Vec::new(),
    };
    if let Some(found) = lookup.env.value(OTEL_SDK_DISABLED) {
        match found {
            Value::Text(t) if t.trim().eq_ignore_ascii_case("true") => {
                return decided(
                    false,
                    ConsentSource::EnvironmentVariable,
                    OTEL_SDK_DISABLED,
                    "OTEL_SDK_DISABLED=true turns the OpenTelemetry stream off".into(),
                );
            }
            Value::Text(t) if t.trim().is_empty() || t.trim().eq_ignore_ascii_case("false") => {}
            other => warnings.push(format!(
                "telemetry: ignoring {OTEL_SDK_DISABLED}{}: expected true or false",
                shown(other)
            )),
        }
    }
    let mut consent = match lookup.find(Var::Otel) {
        Some(found) => {
            let flag = match found.value {
                Value::Text(t) => parse_flag(Some(t)),
                Value::Unreadable => Flag::Invalid,
            };
            match flag {
                Flag::On | Flag::Off => {
                    let on = flag == Flag::On;
                    let word = if on { "on" } else { "off" };
                    let reason = format!("{} turns the OpenTelemetry stream {word}", found.name);
                    decided(on, ConsentSource::EnvironmentVariable, &found.name, reason)
                }
                _ => {
                    warnings.push(format!(
                        "telemetry: ignoring {}{}: expected true/false, 1/0, yes/no or on/off",
                        found.name,
                        shown(found.value)
                    ));
                    from_app(app)
                }
            }
        }
        None => from_app(app),
    };
    consent.warnings = warnings;
    consent
}

/// The application's choice, else off.
fn from_app(app: Option<bool>) -> Consent {
    let (enabled, source, by, reason) = match app {
        Some(true) => (
            true,
            ConsentSource::Application,
            "application",
            "the application turned the OpenTelemetry stream on",
        ),
        Some(false) => (
            false,
            ConsentSource::Application,
            "application",
            "the application turned the OpenTelemetry stream off",
        ),
        None => (
            false,
            ConsentSource::Default,
            "default",
            "off unless TELEMETRY_OTEL=1 turns it on",
        ),
    };
    Consent {
        enabled,
        source,
        decided_by: by.to_owned(),
        reason: reason.to_owned(),
        warnings: Vec::new(),
    }
}

fn shown(value: Value<'_>) -> String {
    match value {
        Value::Text(t) => format!("={t:?}"),
        Value::Unreadable => " (not valid UTF-8)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn resolve(pairs: &[(&str, &str)], prefix: Option<&str>, app: Option<bool>) -> Consent {
        let env = Env::from_pairs(pairs.iter().copied());
        resolve_otel_consent(Lookup { env: &env, prefix }, app)
    }

    #[test]
    fn off_unless_switched_on_and_the_environment_wins() {
        let c = resolve(&[], None, None);
        assert_eq!((c.enabled, c.source), (false, ConsentSource::Default));
        assert!(resolve(&[], None, Some(true)).enabled);
        for on in ["1", "true", "on", "YES", " On "] {
            let c = resolve(&[("TELEMETRY_OTEL", on)], None, Some(false));
            assert!(c.enabled, "{on}");
            assert_eq!(c.decided_by, "TELEMETRY_OTEL");
        }
        let c = resolve(&[("TELEMETRY_OTEL", "0")], None, Some(true));
        assert!(!c.enabled);
        let c = resolve(
            &[("TELEMETRY_OTEL", "0"), ("CAGENT_TELEMETRY_OTEL", "1")],
            Some("CAGENT"),
            None,
        );
        assert_eq!(
            (c.enabled, c.decided_by.as_str()),
            (true, "CAGENT_TELEMETRY_OTEL")
        );
    }

    #[test]
    fn otel_sdk_disabled_turns_everything_off() {
        let c = resolve(
            &[("OTEL_SDK_DISABLED", "TRUE"), ("TELEMETRY_OTEL", "1")],
            None,
            Some(true),
        );
        assert_eq!(
            (c.enabled, c.decided_by.as_str()),
            (false, "OTEL_SDK_DISABLED")
        );
        for not_true in ["false", "", " "] {
            let c = resolve(
                &[("OTEL_SDK_DISABLED", not_true), ("TELEMETRY_OTEL", "1")],
                None,
                None,
            );
            assert!(c.enabled && c.warnings.is_empty(), "{not_true:?}");
        }
        let c = resolve(
            &[("OTEL_SDK_DISABLED", "yes"), ("TELEMETRY_OTEL", "1")],
            None,
            None,
        );
        assert!(c.enabled, "only `true` disables (the OpenTelemetry rule)");
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn garbage_warns_once_and_falls_back_to_the_application() {
        let c = resolve(&[("TELEMETRY_OTEL", "perhaps")], None, Some(true));
        assert_eq!(
            (c.enabled, c.source, c.warnings.len()),
            (true, ConsentSource::Application, 1)
        );
        assert!(c.warnings[0].contains("TELEMETRY_OTEL"));
    }

    #[test]
    fn the_usage_streams_opt_outs_are_not_read() {
        let c = resolve(
            &[
                ("DO_NOT_TRACK", "1"),
                ("TELEMETRY_ENABLED", "false"),
                ("CI", "true"),
                ("TELEMETRY_OTEL", "1"),
            ],
            None,
            None,
        );
        assert!(c.enabled);
    }
}
