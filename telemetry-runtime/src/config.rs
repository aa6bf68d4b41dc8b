//! Configuration and consent, resolved once per client from an explicit environment snapshot.
//!
//! The process environment is only one possible input: [`Env`] is a plain map, so tests never
//! depend on the variables of the machine they run on.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A snapshot of environment variables, read once.
///
/// ```
/// use telemetry_runtime::Env;
/// let env = Env::from_pairs([("TELEMETRY_ENABLED", "false")]);
/// assert_eq!(env.get("TELEMETRY_ENABLED"), Some("false"));
/// assert_eq!(env.get("HOME"), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The current process environment (variables that are not valid Unicode are skipped).
    #[must_use]
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
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
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Sets a variable, builder style.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// The value of a variable.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The value of a variable, `None` when unset or empty after trimming.
    #[must_use]
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }
}

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
    let v = v.trim().to_ascii_lowercase();
    match v.as_str() {
        "true" | "1" | "yes" | "on" => Flag::On,
        "false" | "0" | "no" | "off" => Flag::Off,
        _ => Flag::Invalid,
    }
}

/// `DO_NOT_TRACK`, `CI`: set to anything but empty, `0` or `false` means "yes".
pub(crate) fn truthy_presence(value: Option<&str>) -> bool {
    match value.map(str::trim) {
        None | Some("") | Some("0") => false,
        Some(v) => !v.eq_ignore_ascii_case("false"),
    }
}

/// Which input decided whether telemetry is enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentSource {
    /// `DO_NOT_TRACK` was set.
    DoNotTrack,
    /// `TELEMETRY_ENABLED` was set to a valid value.
    EnvironmentVariable,
    /// The application's code (the builder's `enabled(false)`).
    Application,
    /// `CI` was set and `TELEMETRY_ENABLED` did not turn telemetry on.
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
            Self::EnvironmentVariable => "environment variable TELEMETRY_ENABLED",
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
/// use telemetry_runtime::{Client, ConsentSource, Env};
/// let client = Client::builder()
///     .env(Env::from_pairs([("DO_NOT_TRACK", "1")]))
///     .build();
/// let consent = client.consent();
/// assert!(!consent.enabled);
/// assert_eq!(consent.source, ConsentSource::DoNotTrack);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    /// Whether records are built and delivered.
    pub enabled: bool,
    /// The input that decided.
    pub source: ConsentSource,
    /// A human-readable explanation.
    pub reason: String,
    /// Warnings found while resolving (e.g. an unrecognised `TELEMETRY_ENABLED` value).
    pub warnings: Vec<String>,
}

/// The persisted choice file inside the config dir.
pub(crate) const CONSENT_FILE: &str = "telemetry-consent";

/// Reads the persisted choice: `Some(true)` for "enabled", `Some(false)` for "disabled".
/// A missing or unreadable file, or any other content, means no choice.
pub(crate) fn read_persisted(config_dir: Option<&Path>) -> Option<bool> {
    let text = std::fs::read_to_string(config_dir?.join(CONSENT_FILE)).ok()?;
    match text.trim() {
        "enabled" => Some(true),
        "disabled" => Some(false),
        _ => None,
    }
}

/// Resolves consent. Precedence, first match wins:
/// `DO_NOT_TRACK` > `TELEMETRY_ENABLED=false` > application `enabled(false)` >
/// `TELEMETRY_ENABLED=true` > `CI` > persisted choice > default (enabled).
pub(crate) fn resolve_consent(
    env: &Env,
    app_enabled: Option<bool>,
    persisted: Option<bool>,
) -> Consent {
    let mut warnings = Vec::new();
    let decide = |enabled, source, reason: String, warnings| Consent {
        enabled,
        source,
        reason,
        warnings,
    };
    if truthy_presence(env.get("DO_NOT_TRACK")) {
        return decide(
            false,
            ConsentSource::DoNotTrack,
            "DO_NOT_TRACK is set".into(),
            warnings,
        );
    }
    let flag = parse_flag(env.get("TELEMETRY_ENABLED"));
    if flag == Flag::Invalid {
        warnings.push(format!(
            "telemetry: ignoring TELEMETRY_ENABLED={:?}: expected true/false, 1/0, yes/no or on/off",
            env.get("TELEMETRY_ENABLED").unwrap_or_default()
        ));
    }
    if flag == Flag::Off {
        return decide(
            false,
            ConsentSource::EnvironmentVariable,
            "TELEMETRY_ENABLED turns telemetry off".into(),
            warnings,
        );
    }
    if app_enabled == Some(false) {
        return decide(
            false,
            ConsentSource::Application,
            "the application disabled telemetry".into(),
            warnings,
        );
    }
    if flag == Flag::On {
        return decide(
            true,
            ConsentSource::EnvironmentVariable,
            "TELEMETRY_ENABLED turns telemetry on".into(),
            warnings,
        );
    }
    if truthy_presence(env.get("CI")) {
        return decide(
            false,
            ConsentSource::Ci,
            "running in CI (CI is set); TELEMETRY_ENABLED=true turns it on".into(),
            warnings,
        );
    }
    match persisted {
        Some(true) => decide(
            true,
            ConsentSource::Persisted,
            "enabled by a persisted choice".into(),
            warnings,
        ),
        Some(false) => decide(
            false,
            ConsentSource::Persisted,
            "disabled by a persisted choice".into(),
            warnings,
        ),
        None => decide(
            true,
            ConsentSource::Default,
            "enabled by default".into(),
            warnings,
        ),
    }
}

/// At most this many `TELEMETRY_TAGS` pairs are kept.
pub const MAX_TAGS: usize = 20;
/// Tag values longer than this many characters are cut.
pub const MAX_TAG_VALUE_CHARS: usize = 128;
/// Tag keys longer than this many bytes are invalid.
const MAX_TAG_KEY_BYTES: usize = 64;

/// Whether `key` is a valid tag key: 1 to [`MAX_TAG_KEY_BYTES`] bytes of ASCII letters,
/// digits, `_`, `.` and `-`. Keys are JSON object keys of every record: nothing to escape, and
/// their size is bounded.
fn is_tag_key(key: &str) -> bool {
    (1..=MAX_TAG_KEY_BYTES).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Parses `TELEMETRY_TAGS` (`k=v,k2=v2`): pairs are trimmed; pairs without `=`, or whose key
/// is not 1 to 64 ASCII letters, digits, `_`, `.` or `-`, are skipped; at most [`MAX_TAGS`]
/// pairs are kept (the first ones); values are capped at [`MAX_TAG_VALUE_CHARS`] characters.
/// A later duplicate key replaces an earlier one.
///
/// ```
/// use telemetry_runtime::parse_tags;
/// let tags = parse_tags(" team = infra, broken, =x, bad key=1, env=ci ");
/// assert_eq!(tags, vec![("team".to_string(), "infra".to_string()), ("env".to_string(), "ci".to_string())]);
/// ```
#[must_use]
pub fn parse_tags(raw: &str) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = Vec::new();
    for pair in raw.split(',') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if !is_tag_key(k) {
            continue;
        }
        let v: String = v.chars().take(MAX_TAG_VALUE_CHARS).collect();
        if let Some(existing) = tags.iter_mut().find(|(ek, _)| ek == k) {
            existing.1 = v;
        } else if tags.len() < MAX_TAGS {
            tags.push((k.to_owned(), v));
        }
    }
    tags
}

/// The platform's per-user configuration directory, computed from `env` only:
/// `$XDG_CONFIG_HOME` or `$HOME/.config` on Unix, `$HOME/Library/Application Support` on macOS,
/// `%APPDATA%` on Windows. `None` when the variables needed are missing.
///
/// Hand-written rather than the `dirs` crate on purpose: `dirs` reads the process environment
/// directly, and configuration here must be a pure function of an [`Env`] snapshot.
#[must_use]
pub fn platform_config_dir(env: &Env) -> Option<PathBuf> {
    if cfg!(windows) {
        return env.non_empty("APPDATA").map(PathBuf::from);
    }
    if cfg!(target_os = "macos") {
        return env
            .non_empty("HOME")
            .map(|h| Path::new(h).join("Library/Application Support"));
    }
    env.non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env.non_empty("HOME").map(|h| Path::new(h).join(".config")))
}

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Default overall timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Default header carrying the API key.
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = resolve_consent(
            &Env::from_pairs([("DO_NOT_TRACK", "1"), ("TELEMETRY_ENABLED", "true")]),
            Some(true),
            Some(true),
        );
        assert_eq!((c.enabled, c.source), (false, ConsentSource::DoNotTrack));
        for dnt in ["", "0", "false", "FALSE"] {
            let c = resolve_consent(&Env::from_pairs([("DO_NOT_TRACK", dnt)]), None, None);
            assert_eq!(
                (c.enabled, c.source),
                (true, ConsentSource::Default),
                "{dnt:?}"
            );
        }
        let c = resolve_consent(
            &Env::from_pairs([("TELEMETRY_ENABLED", "off")]),
            Some(true),
            Some(true),
        );
        assert_eq!(
            (c.enabled, c.source),
            (false, ConsentSource::EnvironmentVariable)
        );
        let c = resolve_consent(
            &Env::from_pairs([("TELEMETRY_ENABLED", "on")]),
            Some(false),
            None,
        );
        assert_eq!((c.enabled, c.source), (false, ConsentSource::Application));
        let c = resolve_consent(&Env::from_pairs([("CI", "true")]), None, Some(true));
        assert_eq!((c.enabled, c.source), (false, ConsentSource::Ci));
        let c = resolve_consent(
            &Env::from_pairs([("CI", "true"), ("TELEMETRY_ENABLED", "1")]),
            None,
            None,
        );
        assert_eq!(
            (c.enabled, c.source),
            (true, ConsentSource::EnvironmentVariable)
        );
        let c = resolve_consent(&Env::from_pairs([("CI", "0")]), None, Some(false));
        assert_eq!((c.enabled, c.source), (false, ConsentSource::Persisted));
        let c = resolve_consent(
            &Env::from_pairs([("TELEMETRY_ENABLED", "true")]),
            None,
            Some(false),
        );
        assert_eq!(
            (c.enabled, c.source),
            (true, ConsentSource::EnvironmentVariable)
        );
        let c = resolve_consent(
            &Env::from_pairs([("TELEMETRY_ENABLED", "perhaps")]),
            None,
            None,
        );
        assert_eq!(
            (c.enabled, c.source, c.warnings.len()),
            (true, ConsentSource::Default, 1)
        );
    }

    #[test]
    fn tags_are_trimmed_capped_and_malformed_skipped() {
        assert_eq!(parse_tags(""), vec![]);
        assert_eq!(parse_tags(",,, ,=,novalue,=v"), vec![]);
        assert_eq!(parse_tags("a=1=2"), vec![("a".into(), "1=2".into())]);
        assert_eq!(parse_tags("k="), vec![("k".into(), String::new())]);
        let many: Vec<String> = (0..30).map(|i| format!("k{i}=v{i}")).collect();
        let tags = parse_tags(&many.join(","));
        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(tags[19], ("k19".into(), "v19".into()));
        let long = format!("k={}", "x".repeat(1000));
        assert_eq!(parse_tags(&long)[0].1.len(), MAX_TAG_VALUE_CHARS);
    }

    #[test]
    fn tag_keys_are_short_printable_identifiers() {
        let ok = "build.id=7,ci-runner=a,Team_2=b";
        let keys: Vec<String> = parse_tags(ok).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["build.id", "ci-runner", "Team_2"]);
        let longest = "k".repeat(MAX_TAG_KEY_BYTES);
        assert_eq!(parse_tags(&format!("{longest}=v")).len(), 1);
        for bad in [
            "k".repeat(MAX_TAG_KEY_BYTES + 1),
            "\u{1}".repeat(62),
            "a b".into(),
            "tëam".into(),
            "a\"b".into(),
            "a\\b".into(),
            "a/b".into(),
        ] {
            assert_eq!(
                parse_tags(&format!("{bad}=v,ok=1")),
                vec![("ok".into(), "1".into())],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn config_dir_from_env_only() {
        if cfg!(unix) && !cfg!(target_os = "macos") {
            let env = Env::from_pairs([("HOME", "/home/u")]);
            assert_eq!(
                platform_config_dir(&env),
                Some(PathBuf::from("/home/u/.config"))
            );
            let env = env.with("XDG_CONFIG_HOME", "/xdg");
            assert_eq!(platform_config_dir(&env), Some(PathBuf::from("/xdg")));
            let env = Env::from_pairs([("HOME", "/home/u"), ("XDG_CONFIG_HOME", "relative")]);
            assert_eq!(
                platform_config_dir(&env),
                Some(PathBuf::from("/home/u/.config"))
            );
        }
        assert_eq!(platform_config_dir(&Env::empty()), None);
    }
}
