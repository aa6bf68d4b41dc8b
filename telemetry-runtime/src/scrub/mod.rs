//! The one scrubber every string passes before it leaves the machine.
//!
//! The rules are listed on [`Scrubber`]. They run as an ordered pipeline, each on the
//! previous one's output: `rules` holds their literals as data and the patterns built from
//! them, `scanners` the fast gate that decides which rules can apply at all, `runs` the
//! long-run judge, `identity` the home and login-name replacements, `caps` the length cap and
//! the scan limit, `args` command lines given as lists (a secret in the argument after a
//! flag).

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use crate::config::Env;

mod args;
mod caps;
mod identity;
mod rules;
mod runs;
mod scanners;

use caps::{SCAN_LIMIT_BYTES, cap, cut_at_whitespace};
use identity::{contains_ascii_ci, normalise_home, replace_home, replace_user};
use rules::{
    AUTHORIZATION, BEARER_TOKEN, COOKIE, EMAIL_ADDRESS, KEY_SHAPE, LONG_RUN, PROGRAM_PASSWORD,
    SECRET_ASSIGNMENT, SECRET_FLAG, URL_CREDENTIALS, USER_PASSWORD, judge_long_run,
    redact_assignment, redact_cookies,
};
use scanners::Scan;

pub(crate) use args::ArgScrubber;

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";
/// What an e-mail address is replaced with.
const EMAIL: &str = "<email>";
/// What the login name is replaced with.
const USER: &str = "<user>";
/// What the home directory is replaced with.
const HOME: &str = "~";

/// Login names shorter than this (in characters) are not replaced: they would hit too many
/// ordinary words.
const MIN_LOGIN_CHARS: usize = 3;
/// Account names that identify no person and are ordinary words; never replaced.
const IMPERSONAL_LOGINS: [&str; 1] = ["root"];

/// Removes personal data and secrets from strings before they are recorded.
///
/// In short: home directory → `~`, login name → `<user>`, e-mail addresses → `<email>`, URL
/// credentials removed, secrets → `<redacted>`, and at most [`MAX_STRING_CHARS`](crate::limits::MAX_STRING_CHARS) characters
/// kept.
///
/// [`Scrubber::scrub`] applies these rules in this order, each to the previous one's output
/// (so a password inside a URL is gone before the e-mail rule could take `pass@host` for an
/// address, and known key shapes go before the generic long-run rule):
///
/// 1. **URL credentials**: `scheme://user:pass@host` becomes `scheme://host` (the whole
///    user-info part before the last `@` of the authority is removed, with or without a
///    password).
/// 2. **Authorization headers**: the value of `Authorization: Bearer …` / `Basic …` (also `=`
///    and JSON-ish quotes, any case) becomes `<redacted>`, and so does a token of 8 or more
///    characters after a lone `Bearer`.
/// 3. **Secret assignments**: the value after a key ending in `api_key`, `apikey`, `api-key`,
///    `access_key`, `private_key` (also with `-` or nothing for `_`), `token`, `password`,
///    `passwd`, `passphrase`, `secret`, `secret_key_base` (Rails) or `credential(s)` (so also
///    `access_token`, `client_secret`, `GITHUB_TOKEN`, `--password`), or in `pass`, `pwd` or
///    `sig` (an Azure signature) standing as a word or after `_ . -` (`user_pass`, `&sig=`,
///    but not `compass`), any case, becomes `<redacted>`. The key is followed by `=`, `:` or
///    `=>` (optional quotes and spaces around); then, in a second pass, the same keys as
///    flags starting with `--` and followed by whitespace (`--password hunter2`, but not
///    `--password-file ./p`). A quoted value is redacted up to its closing quote, or to the
///    end of the text when the quote is never closed (`password="hunter2`); an unquoted one
///    up to whitespace, a quote or `&`.
/// 4. **Cookies**: after `Cookie` or `Set-Cookie` and `:` or `=` (any case, optional quotes and
///    spaces), every value of the `;`-separated list becomes `<redacted>`
///    (`Cookie: session=<redacted>; theme=<redacted>`); names and attributes without a value
///    (`HttpOnly`) stay. `cookie jar` is no header and stays.
/// 5. **Passwords on command lines**: the password of `-u user:password` (also `-uuser:pw`),
///    `--user user:password` and `--user=user:password`, the flag starting the text or after
///    a space (curl); and after `mysql`, `mysqldump`, `mysqladmin`, `mariadb` (and their
///    other tools) the value attached to `-p` (`-phunter2`; `-p db` prompts and names a
///    database, so it stays), after `sshpass` the value of `-p`, attached or not, anywhere
///    later on the same command line (no `;`, `|`, `&` or line break between). `mysql -u
///    root`, `user guide` and `--user-agent curl` stay.
/// 6. **Well-known key shapes** become `<redacted>`: `sk-…` (OpenAI, Anthropic:
///    `sk-proj-…`, `sk-ant-…`), `sk_live_…`/`rk_test_…` (Stripe), `ghp_`/`gho_`/`ghu_`/
///    `ghs_`/`ghr_…` and `github_pat_…` (GitHub), `glpat-…` (GitLab), `xox[abprs]-…` (Slack),
///    `AKIA`/`ASIA` + 16 (AWS), `AIza` + 35 (Google; 30 or more accepted), `npm_` + 36,
///    `hf_…` (Hugging Face) and JWTs `eyJ….….…`. Each must start the text or follow a
///    character that is not a letter or digit (`task-…` is no `sk-` key).
/// 7. **E-mail addresses** become `<email>`.
/// 8. **Home directory** (from `HOME`, `USERPROFILE` and the OS) becomes `~`, where it stands as
///    a whole path prefix: `/home/bob/x` → `~/x`, but `/home/bobby` and `/mnt/home/bob` are not
///    the home. Compared case-insensitively (ASCII) and with `/` and `\` interchangeable, so
///    `C:\Users\Bob\x` and `c:/users/bob/x` both match a home of `C:\Users\Bob`.
/// 9. **Login name** (from `USER`, `USERNAME`, `LOGNAME`; at least 3 characters; `root` is not
///    a person and is left alone) becomes `<user>` where it stands as a word or path segment:
///    not preceded or followed by a letter or digit (`bob's`, `/srv/bob/`, `bob-laptop`,
///    `bob_backup` match; `bobcat`, `kebob`, `bob2` do not). ASCII-case-insensitive.
/// 10. **Long random runs**: runs of 32 or more hex digits, and runs of 32 or more characters
///     of the base64 alphabets (`A-Z a-z 0-9 + / _ -`, trailing `=` padding included) that
///     look random, become `<redacted>`. Within a base64 run, a *secret piece* is a stretch
///     between separators (`+ / _ -`) of 32+ characters that holds 32+ hex digits, mixes
///     digits and letters, or mixes cases as random text does (capitals side by side in at
///     least three places, unlike `CamelCaseNames`). A run with a secret piece goes whole,
///     unless every other piece of 6 or more characters reads like a word (`cache`,
///     `Projects2024`): then only the secret pieces go (`/var/cache/pip/<redacted>/wheel`).
///     A run without one goes whole when it mixes digits and letters and has fewer than one
///     separator per ten characters (an AWS secret key
///     `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`); runs with more separators are paths,
///     identifiers or UUIDs (`/usr/lib/x86_64-linux-gnu/…`,
///     `550e8400-e29b-41d4-a716-446655440000`) and stay.
/// 11. **Length cap**: at most [`MAX_STRING_CHARS`](crate::limits::MAX_STRING_CHARS) characters are kept, cut on a character
///     boundary; a placeholder the cut would halve is dropped whole.
///
/// A string that is exactly a UUID (`8-4-4-4-12` hex digits) is left as it is. A text longer
/// than 4 KiB is scrubbed up to its first whitespace after 4 KiB and the rest dropped (the
/// cap keeps far less anyway), unless the home or login name holds whitespace; a quoted
/// secret the cut leaves unclosed is redacted to the cut.
///
/// Near misses stay unchanged: version numbers (`v0.10.0-beta.1`), git short hashes, hex runs
/// shorter than 32 characters, UUIDs, ordinary words and paths outside the home directory.
///
/// ```
/// use telemetry_runtime::Env;
/// use telemetry_runtime::scrub::Scrubber;
///
/// let env = Env::from_pairs([("HOME", "/home/alice"), ("USER", "alice")]);
/// let scrubber = Scrubber::from_env(&env);
/// assert_eq!(
///     scrubber.scrub("cannot open /home/alice/notes.txt (alice@example.com)"),
///     "cannot open ~/notes.txt (<email>)"
/// );
/// assert_eq!(
///     scrubber.scrub("GET https://alice:hunter2@example.com/?token=abc123 failed for alice"),
///     "GET https://example.com/?token=<redacted> failed for <user>"
/// );
/// // Near misses are left alone, and nothing is allocated for them.
/// assert!(matches!(scrubber.scrub("read_file"), std::borrow::Cow::Borrowed("read_file")));
/// let plain = "v0.10.0-beta.1 at 3f2a9c1 by alicebot";
/// assert_eq!(scrubber.scrub(plain), plain);
/// ```
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Home directories, normalised by [`normalise_home`], longest first.
    homes: Vec<String>,
    /// Login names, ASCII-lowercased.
    users: Vec<String>,
    /// Whether a home or a login name holds whitespace (which rules out the scan limit: such a
    /// name could be split where the text is cut).
    identity_has_whitespace: bool,
}

impl fmt::Debug for Scrubber {
    /// Shows how many names are known, never the names themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("homes", &self.homes.len())
            .field("users", &self.users.len())
            .finish()
    }
}

impl Scrubber {
    /// A scrubber for the user described by `env`.
    ///
    /// Home directories come from `HOME` and `USERPROFILE` in `env`, plus the OS's view
    /// ([`std::env::home_dir`], which on Unix falls back to the password database). The
    /// snapshot is preferred for everything else: login names come from `USER`, `USERNAME`
    /// and `LOGNAME` in `env` only, because the standard library offers no safe way to ask
    /// the OS for the login name. Empty or too short values are ignored (see the rules on
    /// [`Scrubber`]).
    ///
    /// Note that the OS's home directory is always included, so a test that scrubs the
    /// machine's real home path sees it replaced whatever `env` says.
    #[must_use]
    pub fn from_env(env: &Env) -> Self {
        let mut homes: Vec<String> = ["HOME", "USERPROFILE"]
            .iter()
            .filter_map(|key| env.non_empty(key))
            .map(str::to_owned)
            .collect();
        // `home_dir` is no longer deprecated (since Rust 1.87, below this crate's MSRV): it is
        // the std way to ask the OS, safe code on every platform.
        let os_home = std::env::home_dir();
        if let Some(home) = os_home.as_deref().and_then(|p| p.to_str()) {
            homes.push(home.to_owned());
        }
        let users = ["USER", "USERNAME", "LOGNAME"]
            .iter()
            .filter_map(|key| env.non_empty(key));
        Self::with_identities(homes.iter().map(String::as_str), users)
    }

    /// A scrubber for the given home directory and login name, and nothing from the
    /// environment or the OS: deterministic, for tests.
    ///
    /// ```
    /// use telemetry_runtime::scrub::Scrubber;
    /// let scrubber = Scrubber::with_identity(Some(r"C:\Users\bob"), Some("bob"));
    /// assert_eq!(scrubber.scrub(r"C:\Users\bob\src\main.rs"), r"~\src\main.rs");
    /// assert_eq!(scrubber.scrub(r"D:\share\bob\x"), r"D:\share\<user>\x");
    /// assert_eq!(scrubber.scrub("bobcat"), "bobcat");
    /// ```
    #[must_use]
    pub fn with_identity(home: Option<&str>, user: Option<&str>) -> Self {
        Self::with_identities(home, user)
    }

    fn with_identities<'a>(
        homes: impl IntoIterator<Item = &'a str>,
        users: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut homes: Vec<String> = homes.into_iter().filter_map(normalise_home).collect();
        homes.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        homes.dedup();
        let mut users: Vec<String> = users
            .into_iter()
            .map(|u| u.trim().to_ascii_lowercase())
            .filter(|u| {
                u.chars().count() >= MIN_LOGIN_CHARS && !IMPERSONAL_LOGINS.contains(&u.as_str())
            })
            .collect();
        users.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        users.dedup();
        let identity_has_whitespace = homes
            .iter()
            .chain(&users)
            .any(|s| s.bytes().any(|b| b.is_ascii_whitespace()));
        Self {
            homes,
            users,
            identity_has_whitespace,
        }
    }

    /// Whether `arg` is, alone, a flag whose value is a secret (`--password`, `--token`):
    /// the next command-line argument is then the secret itself, which
    /// [`scrub`](Self::scrub) cannot see across two strings.
    ///
    /// ```
    /// use telemetry_runtime::scrub::Scrubber;
    /// let s = Scrubber::with_identity(None, None);
    /// assert!(s.is_secret_flag("--password"));
    /// assert!(!s.is_secret_flag("--password-file"));
    /// assert!(!s.is_secret_flag("--verbose"));
    /// ```
    #[must_use]
    pub fn is_secret_flag(&self, arg: &str) -> bool {
        !arg.contains(char::is_whitespace)
            && SECRET_FLAG
                .find(&format!("{arg} x"))
                .is_some_and(|m| m.start() == 0)
    }
    /// Scrubs one string; borrows it back unchanged when no rule applies.
    ///
    /// A string that is exactly a UUID is returned as it is (see `is_canonical_uuid` in the
    /// source for why no rule could apply). Other short plain strings (`read_file`, a version
    /// number) take a fast path: one pass over the bytes shows that no rule can apply, and no
    /// regex runs. It is sound because every rule needs something that pass looks for:
    ///
    /// - URL credentials need `://` and `@`, e-mail addresses `@`;
    /// - authorization headers, cookies and secret assignments need a `:` or `=` right after
    ///   `authorization`, `cookie` or a secret key (any case; a quote and spaces between), a
    ///   secret flag needs a space or tab right after a `--` key ending in a secret word, and
    ///   a lone `Bearer` token needs a space or tab right after `bearer`;
    /// - a `user:password` flag needs `-u` or `--user` at the start or after a space or tab, a
    ///   program's password needs `-p` after a space or tab and the program's name before it;
    /// - the home directory holds a `/` or `\` (homes without one are not kept);
    /// - the login name must occur in the text (checked, ASCII-case-insensitively);
    /// - a key shape needs one of the shapes' prefixes (`sk-`, `ghp_`, `xoxb-`, `AKIA`,
    ///   `eyJ`, …) followed, in the same run of `[A-Za-z0-9_-]`, by at least as many
    ///   characters as the shape's body takes;
    /// - the long-run rules need a run of 32 or more base64 characters, which the pass judges
    ///   with the very function the rule uses;
    /// - the cap needs more than [`MAX_STRING_CHARS`](crate::limits::MAX_STRING_CHARS) characters.
    ///
    /// The same pass also decides which regexes the slow path needs to run at all.
    #[must_use]
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.gate(text) {
            Gate::Plain { text, too_long } if too_long => cap(Cow::Borrowed(text)),
            Gate::Plain { text, .. } => Cow::Borrowed(text),
            Gate::Rules { text, scan } => cap(self.apply_rules(text, scan)),
        }
    }

    /// [`scrub`](Self::scrub) without the length cap (the scan limit still applies).
    pub(crate) fn scrub_uncapped<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.gate(text) {
            Gate::Plain { text, .. } => Cow::Borrowed(text),
            Gate::Rules { text, scan } => self.apply_rules(text, scan),
        }
    }

    /// The scan limit, then the fast gate: whether any rule may apply to `text`.
    fn gate<'a>(&self, text: &'a str) -> Gate<'a> {
        let text = if text.len() > SCAN_LIMIT_BYTES && !self.identity_has_whitespace {
            cut_at_whitespace(text, SCAN_LIMIT_BYTES)
        } else {
            text
        };
        if is_canonical_uuid(text.as_bytes()) {
            return Gate::Plain {
                text,
                too_long: false,
            };
        }
        let mut scan = Scan::of(text);
        scan.user = self.users.iter().any(|u| contains_ascii_ci(text, u));
        if scan.may_need_rules() {
            Gate::Rules { text, scan }
        } else {
            Gate::Plain {
                text,
                too_long: scan.too_long,
            }
        }
    }

    /// Applies the rules that `scan` says may apply, in order (all but the cap).
    fn apply_rules<'a>(&self, text: &'a str, scan: Scan) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        if scan.at && scan.url {
            out = apply(out, |s| URL_CREDENTIALS.replace_all(s, "${1}"));
        }
        if scan.authorization {
            out = apply(out, |s| {
                AUTHORIZATION.replace_all(s, "${1}${2}${3}<redacted>")
            });
        }
        if scan.bearer {
            out = apply(out, |s| BEARER_TOKEN.replace_all(s, "${1}${2}<redacted>"));
        }
        if scan.secret_key {
            out = apply(out, |s| SECRET_ASSIGNMENT.replace_all(s, redact_assignment));
        }
        if scan.secret_flag {
            out = apply(out, |s| SECRET_FLAG.replace_all(s, redact_assignment));
        }
        if scan.cookie {
            out = apply(out, |s| COOKIE.replace_all(s, redact_cookies));
        }
        if scan.user_flag {
            out = apply(out, |s| USER_PASSWORD.replace_all(s, "${1}<redacted>"));
        }
        if scan.program_password {
            out = apply(out, |s| PROGRAM_PASSWORD.replace_all(s, redact_assignment));
        }
        if scan.shape {
            out = apply(out, |s| KEY_SHAPE.replace_all(s, "${1}<redacted>"));
        }
        if scan.at {
            out = apply(out, |s| EMAIL_ADDRESS.replace_all(s, EMAIL));
        }
        if scan.separator {
            for home in &self.homes {
                out = apply(out, |s| replace_home(s, home));
            }
        }
        if scan.user {
            for user in &self.users {
                out = apply(out, |s| replace_user(s, user));
            }
        }
        // The scan judged the runs of the original text. Any change since then can join runs
        // (URL user-info removed) or split them (a placeholder in the middle), and a piece of
        // a path-like run can look random on its own: then judge again, by running the rule.
        if scan.long_run || matches!(out, Cow::Owned(_)) {
            out = apply(out, |s| LONG_RUN.replace_all(s, judge_long_run));
        }
        out
    }

    /// Keeps only the pairs whose key the scrubber leaves as it is (a key is sent as given, so
    /// one that holds a token, an e-mail, a home path or the login name cannot be repaired,
    /// only dropped). Returns how many were dropped.
    pub(crate) fn drop_unclean_keys<V>(&self, pairs: &mut Vec<(String, V)>) -> usize {
        let before = pairs.len();
        pairs.retain(|(k, _)| self.leaves_unchanged(k));
        before - pairs.len()
    }

    /// Whether scrubbing `text` changes nothing.
    pub(crate) fn leaves_unchanged(&self, text: &str) -> bool {
        self.scrub(text) == text
    }

    /// Scrubs a string in place, leaving it untouched (no allocation) when no rule applies.
    ///
    /// ```
    /// use telemetry_runtime::scrub::Scrubber;
    /// let mut s = String::from("password=hunter2");
    /// Scrubber::default().scrub_in_place(&mut s);
    /// assert_eq!(s, "password=<redacted>");
    /// ```
    pub fn scrub_in_place(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.scrub(text) {
            *text = clean;
        }
    }
}

/// Scrubs a string with a [`Scrubber`] for the current process's user, built from the process
/// environment the first time it is needed (see [`Scrubber::from_env`]).
///
/// This is the public, unit-tested scrubbing function every recorded string passes (a
/// [`Client`](crate::Client) uses its own scrubber, built from the environment snapshot it
/// was given, with exactly the same rules). The rules are listed on [`Scrubber`].
///
/// ```
/// use telemetry_runtime::scrub::scrub;
/// assert_eq!(scrub("login failed: password=hunter2"), "login failed: password=<redacted>");
/// assert_eq!(scrub("write to jane.doe@example.com"), "write to <email>");
/// assert_eq!(scrub("v1.2.3 (3f2a9c1)"), "v1.2.3 (3f2a9c1)");
/// assert_eq!(scrub(&"é".repeat(1000)).chars().count(), telemetry_runtime::limits::MAX_STRING_CHARS);
/// ```
#[must_use]
pub fn scrub(text: &str) -> String {
    static PROCESS: LazyLock<Scrubber> = LazyLock::new(|| Scrubber::from_env(&Env::from_process()));
    PROCESS.scrub(text).into_owned()
}

/// What the fast gate decided about a text (cut at the scan limit).
enum Gate<'a> {
    /// No rule applies; `too_long`: the cap does.
    Plain { text: &'a str, too_long: bool },
    /// Rules may apply, those `scan` says.
    Rules { text: &'a str, scan: Scan },
}

/// Whether `bytes` is exactly a hyphenated UUID (`8-4-4-4-12` hex digits, any case).
///
/// Session ids and the like are UUIDs and pass here on every record, so they skip even the
/// scan. No rule applies to one anyway (no `@`, `:`, `=`, `/` or space; every key-shape
/// prefix holds a non-hex letter; the one run has a separator every 9 characters and no piece
/// longer than 12), except a login name that is a hex word of 4, 8 or 12 letters standing as
/// one of its groups, which says nothing about anyone there.
fn is_canonical_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Runs one rule on the current text, keeping the current value when the rule changed nothing.
fn apply<'a>(current: Cow<'a, str>, rule: impl FnOnce(&str) -> Cow<'_, str>) -> Cow<'a, str> {
    let changed = match rule(&current) {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    };
    match changed {
        Some(s) => Cow::Owned(s),
        None => current,
    }
}

#[cfg(test)]
mod tests;
