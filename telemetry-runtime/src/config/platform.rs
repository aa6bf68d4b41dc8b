//! The platform values every record carries, in docker/cagent's spelling.

use super::env::Env;

/// The operating system's name as Go's `runtime.GOOS` spells it (what docker/cagent sends):
/// `darwin` for macOS, `linux`, `windows`, `freebsd`, ...
///
/// ```
/// let os = telemetry_runtime::config::go_os();
/// assert_ne!(os, "macos");
/// # #[cfg(target_os = "linux")] assert_eq!(os, "linux");
/// ```
#[must_use]
pub fn go_os() -> &'static str {
    go_os_name(std::env::consts::OS)
}

/// Maps a Rust `std::env::consts::OS` value to Go's `GOOS` name. Names Go spells the same way
/// pass through.
fn go_os_name(rust_os: &'static str) -> &'static str {
    match rust_os {
        "macos" => "darwin",
        // Rust and Go agree on linux, windows, android, ios, freebsd, netbsd, openbsd,
        // dragonfly, solaris, illumos, aix.
        other => other,
    }
}

/// Longest `os_language` value kept (in characters).
const MAX_LANGUAGE_CHARS: usize = 64;

/// `os_language` as docker/cagent sends it: the `LANG` variable as it is (e.g.
/// `de_DE.UTF-8`), `en-US` when it is unset or empty. Capped at 64 characters.
pub(crate) fn os_language(env: &Env) -> String {
    env.non_empty("LANG")
        .unwrap_or("en-US")
        .chars()
        .take(MAX_LANGUAGE_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names() {
        assert_eq!(go_os_name("macos"), "darwin");
        for same in ["linux", "windows", "freebsd", "android", "ios"] {
            assert_eq!(go_os_name(same), same);
        }
    }

    #[test]
    fn language_is_lang_as_cagent_sends_it() {
        let lang = |v: &str| os_language(&Env::from_pairs([("LANG", v)]));
        assert_eq!(lang("de_DE.UTF-8"), "de_DE.UTF-8");
        assert_eq!(lang("C"), "C");
        assert_eq!(lang(""), "en-US");
        assert_eq!(os_language(&Env::empty()), "en-US");
        assert_eq!(lang(&"x".repeat(500)).len(), MAX_LANGUAGE_CHARS);
    }
}
