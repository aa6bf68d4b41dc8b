//! One function turns an [`Env`] snapshot and the application's choices into [`Settings`].
//!
//! Invariants: [`Settings::resolve`] is a pure function of its inputs (the persisted choice
//! is an input it calls at most once, and only when consent needs it); every garbage value
//! gives exactly one warning and keeps the default; an API key travels only with an endpoint
//! from the same place: a key set in code goes only to the endpoint set in code, and an
//! endpoint from the environment gets only a key from the environment, at the same prefix
//! level (`CAGENT_TELEMETRY_ENDPOINT` takes only `CAGENT_TELEMETRY_API_KEY`, never
//! `TELEMETRY_API_KEY`); an endpoint that is not an `http(s)://` URL is never used (one
//! warning naming where it came from; nothing is sent, and [`Settings::endpoint_problem`]
//! says why).

use std::time::Duration;

use super::Exporter;
use super::consent::{Consent, Flag, parse_flag, resolve_consent};
use super::env::{Env, Value};
use super::otel_consent::resolve_otel_consent;
use super::parse_tags;
use super::platform::os_language;
use super::vars::{Found, Lookup, Var};

/// Default time a process may spend sending before records wait in the outbox.
pub const DEFAULT_SEND_BUDGET: Duration = Duration::from_millis(100);
/// Largest accepted `TELEMETRY_SEND_BUDGET_MS`.
const MAX_SEND_BUDGET_MS: u64 = 60_000;

/// What decided a setting that was not set in the environment.
const BY_APPLICATION: &str = "application";
const BY_DEFAULT: &str = "default";

/// The application's choices, from the [`ClientBuilder`](crate::ClientBuilder). No `Debug`:
/// it holds the API key.
#[derive(Clone, Default)]
pub(crate) struct Choices {
    pub(crate) enabled: Option<bool>,
    pub(crate) debug: bool,
    pub(crate) verbose: bool,
    pub(crate) endpoint: Option<String>,
    pub(crate) api_key: Option<String>,
    /// Already normalised (see `vars::normalise_prefix`).
    pub(crate) env_prefix: Option<String>,
    pub(crate) send_budget: Option<Duration>,
    pub(crate) exporter: Option<Exporter>,
    /// The builder's `otel(..)`: the operator's stream, when the environment does not decide.
    pub(crate) otel: Option<bool>,
}

/// Every setting of a client, resolved. No `Debug`: it holds the API key.
#[derive(Clone)]
pub(crate) struct Settings {
    /// The usage stream's consent.
    pub(crate) consent: Consent,
    /// The operator's OpenTelemetry stream's consent (its own rules, see `otel_consent`).
    pub(crate) otel: Consent,
    pub(crate) debug: bool,
    pub(crate) verbose: bool,
    /// Where records go; `None`: nowhere.
    pub(crate) endpoint: Option<String>,
    /// Why nothing is sent although an endpoint was given: where it came from and what is
    /// wrong with it (then `endpoint` is `None`).
    pub(crate) endpoint_problem: Option<String>,
    /// The key sent with records, scoped to the endpoint's origin.
    pub(crate) api_key: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    /// `None`: nobody chose one, [`DEFAULT_SEND_BUDGET`] applies.
    pub(crate) send_budget: Option<Duration>,
    pub(crate) exporter: Exporter,
    pub(crate) os_language: String,
    /// For the status report: each setting's name and what decided it (a variable name,
    /// `application` or `default`).
    pub(crate) decided_by: Vec<(&'static str, String)>,
    /// One line per garbage value (consent's own warnings are in `consent`).
    pub(crate) warnings: Vec<String>,
}

impl Settings {
    /// Resolves every setting. `persisted` reads the persisted consent choice; it is called
    /// only when neither the environment nor the application decided consent.
    pub(crate) fn resolve(
        env: &Env,
        choices: &Choices,
        persisted: &dyn Fn() -> Option<bool>,
    ) -> Self {
        let lookup = Lookup {
            env,
            prefix: choices.env_prefix.as_deref(),
        };
        let mut r = Resolver {
            lookup,
            warnings: Vec::new(),
            decided_by: Vec::new(),
            endpoint_problem: None,
        };
        let debug = r.flag("debug", Var::Debug, choices.debug);
        let verbose = r.flag("verbose", Var::Verbose, choices.verbose);
        let (endpoint, api_key) = r.endpoint_and_key(choices);
        let tags = r.tags();
        let send_budget = r.send_budget(choices.send_budget);
        let exporter = r.exporter(choices.exporter);
        Self {
            consent: resolve_consent(lookup, choices.enabled, persisted),
            otel: resolve_otel_consent(lookup, choices.otel),
            debug,
            verbose,
            endpoint,
            endpoint_problem: r.endpoint_problem.take(),
            api_key,
            tags,
            send_budget,
            exporter,
            os_language: os_language(env),
            decided_by: r.decided_by,
            warnings: r.warnings,
        }
    }
}

/// Reads one setting after another, collecting warnings and what decided each.
struct Resolver<'e> {
    lookup: Lookup<'e>,
    warnings: Vec<String>,
    decided_by: Vec<(&'static str, String)>,
    endpoint_problem: Option<String>,
}

impl<'e> Resolver<'e> {
    fn decided(&mut self, setting: &'static str, by: impl Into<String>) {
        self.decided_by.push((setting, by.into()));
    }

    fn warn(&mut self, found: &Found<'_>, expected: &str) {
        let shown = match found.value {
            Value::Text(t) => format!("={t:?}"),
            Value::Unreadable => " (not valid UTF-8)".to_owned(),
        };
        self.warnings.push(format!(
            "telemetry: ignoring {}{shown}: expected {expected}",
            found.name
        ));
    }

    /// The variable's trimmed text when it is set to something usable; warns when it is
    /// not Unicode. An empty value counts as unset.
    fn text(&mut self, var: Var) -> Option<(String, &'e str)> {
        let found = self.lookup.find(var)?;
        match found.value {
            Value::Unreadable => {
                self.warn(&found, "text");
                None
            }
            Value::Text(t) => Some(t.trim())
                .filter(|t| !t.is_empty())
                .map(|t| (found.name, t)),
        }
    }

    /// Debug or verbose: on when the application or the variable turns it on.
    fn flag(&mut self, setting: &'static str, var: Var, app: bool) -> bool {
        let found = self.lookup.find(var);
        let flag = match &found {
            None => Flag::Unset,
            Some(f) => match f.value {
                Value::Text(t) => parse_flag(Some(t)),
                Value::Unreadable => Flag::Invalid,
            },
        };
        if let (Flag::Invalid, Some(f)) = (flag, &found) {
            self.warn(f, "true/false, 1/0, yes/no or on/off");
        }
        match (app, flag, found) {
            (true, _, _) => self.decided(setting, BY_APPLICATION),
            (false, Flag::On | Flag::Off, Some(f)) => self.decided(setting, f.name),
            _ => self.decided(setting, BY_DEFAULT),
        }
        app || flag == Flag::On
    }

    /// The endpoint and the key that may go to it (see the module's invariants).
    fn endpoint_and_key(&mut self, choices: &Choices) -> (Option<String>, Option<String>) {
        if let Some((name, url)) = self.text(Var::Endpoint) {
            let prefixed = self.lookup.is_prefixed(Var::Endpoint, &name);
            if !self.usable_endpoint(&name, url) {
                return (None, None);
            }
            self.decided("endpoint", name);
            let key = self.text_at(Var::ApiKey, prefixed).map(|(name, key)| {
                self.decided("api key", name);
                key.to_owned()
            });
            return (Some(url.to_owned()), key);
        }
        let from_code = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let Some(url) = from_code(&choices.endpoint) else {
            return (None, None);
        };
        if !self.usable_endpoint(BY_APPLICATION, &url) {
            return (None, None);
        }
        self.decided("endpoint", BY_APPLICATION);
        let key = from_code(&choices.api_key);
        if key.is_some() {
            self.decided("api key", BY_APPLICATION);
        }
        (Some(url), key)
    }

    /// Whether `url`, from the variable `by` or the application, can be sent to; if not, one
    /// warning naming where it came from (the URL redacted) and the problem kept for the
    /// status report.
    fn usable_endpoint(&mut self, by: &str, url: &str) -> bool {
        let Some(problem) = super::endpoint_problem(url) else {
            return true;
        };
        let redacted = super::redact_endpoint(url);
        let shown = if by == BY_APPLICATION {
            format!("the endpoint set in code ({redacted:?})")
        } else {
            format!("{by}={redacted:?}")
        };
        self.decided("endpoint", by.to_owned());
        self.warnings.push(format!(
            "telemetry: ignoring {shown}: {problem}; nothing is sent"
        ));
        self.endpoint_problem = Some(format!("{shown} cannot be used: {problem}"));
        false
    }

    /// [`text`](Self::text) of the variable at one prefix level only.
    fn text_at(&mut self, var: Var, prefixed: bool) -> Option<(String, &'e str)> {
        let found = self.lookup.find_at(var, prefixed)?;
        match found.value {
            Value::Unreadable => {
                self.warn(&found, "text");
                None
            }
            Value::Text(t) => Some(t.trim())
                .filter(|t| !t.is_empty())
                .map(|t| (found.name, t)),
        }
    }

    fn tags(&mut self) -> Vec<(String, String)> {
        let Some((name, raw)) = self.text(Var::Tags) else {
            return Vec::new();
        };
        self.decided("tags", name);
        parse_tags(raw)
    }

    /// `TELEMETRY_SEND_BUDGET_MS` (whole milliseconds, 0 to 60000) over the application's.
    fn send_budget(&mut self, app: Option<Duration>) -> Option<Duration> {
        if let Some(found) = self.lookup.find(Var::SendBudgetMs) {
            let ms = found.text().and_then(|t| t.parse::<u64>().ok());
            match ms.filter(|ms| *ms <= MAX_SEND_BUDGET_MS) {
                Some(ms) => {
                    self.decided("send budget", found.name);
                    return Some(Duration::from_millis(ms));
                }
                None => self.warn(&found, "whole milliseconds from 0 to 60000"),
            }
        }
        self.decided(
            "send budget",
            if app.is_some() {
                BY_APPLICATION
            } else {
                BY_DEFAULT
            },
        );
        app
    }

    /// `TELEMETRY_EXPORTER` (`cagent` or `otlp`) over the application's.
    fn exporter(&mut self, app: Option<Exporter>) -> Exporter {
        if let Some(found) = self.lookup.find(Var::Exporter) {
            match found.text().map(str::parse::<Exporter>) {
                Some(Ok(exporter)) => {
                    self.decided("exporter", found.name);
                    return exporter;
                }
                _ => self.warn(&found, "`cagent` or `otlp`"),
            }
        }
        self.decided(
            "exporter",
            if app.is_some() {
                BY_APPLICATION
            } else {
                BY_DEFAULT
            },
        );
        app.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(env: &Env, choices: &Choices) -> Settings {
        Settings::resolve(env, choices, &|| None)
    }

    fn by<'s>(s: &'s Settings, setting: &str) -> Option<&'s str> {
        s.decided_by
            .iter()
            .find(|(k, _)| *k == setting)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn defaults() {
        let s = resolve(&Env::empty(), &Choices::default());
        assert!(s.consent.enabled && !s.debug && !s.verbose);
        assert_eq!((s.endpoint, s.api_key, s.send_budget), (None, None, None));
        assert_eq!(s.exporter, Exporter::Cagent);
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn send_budget_and_exporter_parse_and_warn_once_on_garbage() {
        let env = Env::from_pairs([
            ("TELEMETRY_SEND_BUDGET_MS", " 250 "),
            ("TELEMETRY_EXPORTER", "OTLP"),
        ]);
        let s = resolve(&env, &Choices::default());
        assert_eq!(
            (s.send_budget, s.exporter),
            (Some(Duration::from_millis(250)), Exporter::Otlp)
        );
        assert_eq!(by(&s, "exporter"), Some("TELEMETRY_EXPORTER"));
        for garbage in ["", "-1", "1.5", "abc", "60001", "99999999999999999999999"] {
            let env = Env::from_pairs([("TELEMETRY_SEND_BUDGET_MS", garbage)]);
            let choices = Choices {
                send_budget: Some(Duration::from_millis(7)),
                ..Choices::default()
            };
            let s = resolve(&env, &choices);
            assert_eq!(s.send_budget, Some(Duration::from_millis(7)), "{garbage:?}");
            assert_eq!(s.warnings.len(), 1, "{garbage:?}: {:?}", s.warnings);
            assert!(s.warnings[0].contains("TELEMETRY_SEND_BUDGET_MS"));
        }
        for garbage in ["zipkin", "", "cagent2"] {
            let s = resolve(
                &Env::from_pairs([("TELEMETRY_EXPORTER", garbage)]),
                &Choices::default(),
            );
            assert_eq!(
                (s.exporter, s.warnings.len()),
                (Exporter::Cagent, 1),
                "{garbage:?}"
            );
            assert!(s.warnings[0].contains("TELEMETRY_EXPORTER"));
        }
    }

    #[test]
    fn keys_travel_only_with_their_endpoint() {
        let code = Choices {
            endpoint: Some("http://code".into()),
            api_key: Some("code-key".into()),
            ..Choices::default()
        };
        let s = resolve(
            &Env::from_pairs([("TELEMETRY_ENDPOINT", "http://env")]),
            &code,
        );
        assert_eq!(
            (s.endpoint.as_deref(), s.api_key),
            (Some("http://env"), None)
        );
        let env = Env::from_pairs([
            ("TELEMETRY_ENDPOINT", "http://env"),
            ("TELEMETRY_API_KEY", "env-key"),
        ]);
        let s = resolve(&env, &code);
        assert_eq!(
            (s.endpoint.as_deref(), s.api_key.as_deref()),
            (Some("http://env"), Some("env-key"))
        );
        let s = resolve(&Env::from_pairs([("TELEMETRY_API_KEY", "env-key")]), &code);
        assert_eq!(
            (s.endpoint.as_deref(), s.api_key.as_deref()),
            (Some("http://code"), Some("code-key"))
        );
        assert_eq!(by(&s, "api key"), Some("application"));
    }

    #[test]
    fn the_prefix_takes_precedence_for_every_setting() {
        let env = Env::from_pairs([
            ("TELEMETRY_ENDPOINT", "http://plain"),
            ("TELEMETRY_DEBUG", "0"),
            ("T_TELEMETRY_ENDPOINT", "http://prefixed"),
            ("T_TELEMETRY_API_KEY", "k"),
            ("T_TELEMETRY_DEBUG", "1"),
            ("T_TELEMETRY_VERBOSE", "1"),
            ("T_TELEMETRY_TAGS", "a=b"),
            ("T_TELEMETRY_SEND_BUDGET_MS", "5"),
            ("T_TELEMETRY_EXPORTER", "otlp"),
        ]);
        let s = resolve(
            &env,
            &Choices {
                env_prefix: Some("T".into()),
                ..Choices::default()
            },
        );
        assert_eq!(s.endpoint.as_deref(), Some("http://prefixed"));
        assert_eq!(s.api_key.as_deref(), Some("k"));
        assert!(s.debug && s.verbose);
        assert_eq!(s.tags, vec![("a".to_owned(), "b".to_owned())]);
        assert_eq!(
            (s.send_budget, s.exporter),
            (Some(Duration::from_millis(5)), Exporter::Otlp)
        );
        assert_eq!(by(&s, "endpoint"), Some("T_TELEMETRY_ENDPOINT"));
        let s = resolve(&env, &Choices::default());
        assert_eq!(
            (s.endpoint.as_deref(), s.debug),
            (Some("http://plain"), false)
        );
    }
}
