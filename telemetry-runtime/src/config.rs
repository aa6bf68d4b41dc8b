//! Configuration and consent, resolved once per client from an explicit environment snapshot:
//! the variables read, their defaults, CI detection, and the notice text.
//!
//! The process environment is only one possible input: [`Env`] is a plain map, so tests never
//! depend on the variables of the machine they run on. One internal function turns a snapshot
//! and the application's choices into settings, and one table names every variable it reads.

pub(crate) mod ci;
mod consent;
mod endpoint;
mod env;
mod exporter;
mod notice_text;
mod otel_consent;
mod platform;
mod proxy;
mod redact;
mod settings;
mod vars;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ci::CI_VARIABLES;
pub use consent::{Consent, ConsentSource};
pub use endpoint::endpoint_problem;
pub use env::Env;
pub use exporter::{Exporter, OtlpCompression, OtlpProtocol};
pub use notice_text::notice_text;
pub use otel_consent::OTEL_SDK_DISABLED;
pub use platform::go_os;
pub(crate) use proxy::proxy_url;
pub use redact::redact_endpoint;
pub use settings::DEFAULT_SEND_BUDGET;
pub(crate) use settings::{Choices, Settings};
pub use vars::DO_NOT_TRACK;
pub(crate) use vars::normalise_prefix;

/// `DO_NOT_TRACK`, `CI`: set to anything but empty, `0` or `false` means "yes".
pub(crate) fn truthy_presence(value: Option<&str>) -> bool {
    value.is_some_and(env::truthy_text)
}

pub(crate) use crate::files::CONSENT_FILE;

/// Reads the persisted choice: `Some(true)` for "enabled", `Some(false)` for "disabled".
/// A missing or unreadable file, one that is not a regular file (a link, a FIFO), one larger
/// than 64 bytes, or any other content, means no choice.
pub(crate) fn read_persisted(config_dir: Option<&Path>) -> Option<bool> {
    let bytes = crate::files::read_capped(&config_dir?.join(CONSENT_FILE), 64).ok()??;
    match std::str::from_utf8(&bytes).ok()?.trim() {
        "enabled" => Some(true),
        "disabled" => Some(false),
        _ => None,
    }
}

pub use crate::files::DEBUG_USER_UUID;
use crate::limits::{MAX_TAG_VALUE_CHARS, MAX_TAGS};
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
/// use telemetry_runtime::config::parse_tags;
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
pub use crate::limits::MAX_TIMEOUT;
/// Default header carrying the API key.
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

#[cfg(test)]
mod tests {
    use super::*;

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
