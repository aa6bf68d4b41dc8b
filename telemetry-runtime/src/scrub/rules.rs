//! The rules' literals, written once as data, and the patterns built from them.
//!
//! Every rule that looks for words or prefixes takes them from the tables here: the regexes
//! are built from them, and so is the fast gate in [`super::scanners`]. The gate must never
//! skip a rule that could match; the generated gate test holds it to running every rule.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::REDACTED;
use super::runs::{MIN_SECRET_RUN, redact_long_run};

/// A word that, ending a key, makes the value after it a secret (`GITHUB_TOKEN=…`).
#[derive(Clone, Copy, Debug)]
pub(super) struct SecretWord {
    /// ASCII lowercase letters, matched in any ASCII case; a `_` stands for `_`, `-` or
    /// nothing (`api_key` also matches `api-key` and `APIKEY`).
    pub(super) word: &'static str,
    /// The word must not follow a letter or digit: `pass` ends `user_pass` and `--pass`, but
    /// `compass` and `bypass` are no keys. Short words need this; long ones end keys such as
    /// `mypassword` or `xtoken` too.
    pub(super) standalone: bool,
}

/// What a `_` in a [`SecretWord`] stands for, as a regex.
const OPTIONAL_SEPARATOR: &str = "[_-]?";

const fn word(word: &'static str) -> SecretWord {
    SecretWord {
        word,
        standalone: false,
    }
}

const fn standalone(word: &'static str) -> SecretWord {
    SecretWord {
        word,
        standalone: true,
    }
}

/// Keys whose value the secret-assignment rule redacts, as the key ends.
pub(super) const SECRET_WORDS: &[SecretWord] = &[
    word("api_key"),
    word("access_key"),
    word("private_key"),
    word("token"),
    word("passwd"),
    word("password"),
    word("passphrase"),
    word("secret"),
    word("credential"),
    word("credentials"),
    // Rails.
    word("secret_key_base"),
    standalone("pass"),
    standalone("pwd"),
    // An Azure shared access signature (`…&sig=…`), however short.
    standalone("sig"),
];

/// The header whose value the authorization rule redacts (also as `proxy-authorization`).
pub(super) const AUTHORIZATION_HEADER: &str = "authorization";
/// Scheme words kept before an authorization value (`Bearer <redacted>`).
const AUTHORIZATION_SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "digest",
    "token",
    "negotiate",
    "bot",
    "apikey",
];
/// The word before a lone bearer token.
pub(super) const BEARER: &str = "bearer";
/// The header whose cookie values the cookie rule redacts (also as `set-cookie`).
pub(super) const COOKIE_HEADER: &str = "cookie";
/// Flags whose value, `user:password`, holds a password after its first `:` (curl's
/// `-u admin:hunter2`, `--user admin:hunter2`, `--user=admin:hunter2`).
pub(super) const USER_FLAGS: [&str; 2] = ["-u", "--user"];
/// The short flag whose value is a password for the programs of [`PASSWORD_P_PROGRAMS`].
pub(super) const PASSWORD_P_FLAG: &str = "-p";

/// A program whose `-p` flag takes a password.
#[derive(Clone, Copy, Debug)]
pub(super) struct PasswordProgram {
    /// The program's name, case-sensitive, standing as a word (a path before it is fine).
    pub(super) name: &'static str,
    /// Whether the password may follow `-p` as the next word (`sshpass -p hunter2`); else
    /// only attached (`mysql -phunter2`: mysql's `-p db` prompts and names a database).
    pub(super) detached: bool,
}

const fn attached(name: &'static str) -> PasswordProgram {
    PasswordProgram {
        name,
        detached: false,
    }
}

/// Programs whose `-p` takes a password, anywhere after them on the same command line.
pub(super) const PASSWORD_P_PROGRAMS: &[PasswordProgram] = &[
    attached("mysql"),
    attached("mysqldump"),
    attached("mysqladmin"),
    attached("mysqlimport"),
    attached("mysqlshow"),
    attached("mysqlcheck"),
    attached("mysqlslap"),
    attached("mariadb"),
    attached("mariadb-dump"),
    attached("mariadb-admin"),
    PasswordProgram {
        name: "sshpass",
        detached: true,
    },
];
/// What starts a command-line flag whose value, after whitespace, is a secret
/// (`--password hunter2`).
pub(super) const FLAG_DASHES: &str = "--";

/// A well-known key shape: one of `prefixes`, then at least `min_body` characters of `body`,
/// then `tail`. Every byte of a match up to `tail` is one of `[A-Za-z0-9_-]` (the gate relies
/// on it; `every_shape_stays_in_the_gate_class` checks it).
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyShape {
    /// Case-sensitive.
    pub(super) prefixes: &'static [&'static str],
    /// A regex character class.
    body: &'static str,
    pub(super) min_body: usize,
    /// Exactly `min_body` characters of `body`, not at least.
    exact: bool,
    /// A regex after the body.
    tail: &'static str,
}

const fn shape(prefixes: &'static [&'static str], body: &'static str, min_body: usize) -> KeyShape {
    KeyShape {
        prefixes,
        body,
        min_body,
        exact: false,
        tail: "",
    }
}

/// The well-known key shapes, each starting the text or after a character that is not a
/// letter or digit.
pub(super) const KEY_SHAPES: &[KeyShape] = &[
    // OpenAI, Anthropic (`sk-proj-…`, `sk-ant-…`).
    shape(&["sk-"], "[A-Za-z0-9_-]", 20),
    // Stripe.
    shape(
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        "[A-Za-z0-9]",
        10,
    ),
    // GitHub.
    shape(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], "[A-Za-z0-9]", 16),
    shape(&["github_pat_"], "[A-Za-z0-9_]", 16),
    // GitLab.
    shape(&["glpat-"], "[A-Za-z0-9_-]", 20),
    // Slack.
    shape(
        &["xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"],
        "[A-Za-z0-9-]",
        10,
    ),
    // AWS access key ids.
    KeyShape {
        exact: true,
        ..shape(&["AKIA", "ASIA"], "[A-Z0-9]", 16)
    },
    // Google API keys (35 after the prefix; 30 or more accepted).
    shape(&["AIza"], "[A-Za-z0-9_-]", 30),
    // npm.
    KeyShape {
        exact: true,
        ..shape(&["npm_"], "[A-Za-z0-9]", 36)
    },
    // Hugging Face.
    shape(&["hf_"], "[A-Za-z0-9]", 30),
    // JWTs: header, payload, signature.
    KeyShape {
        tail: r"\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
        ..shape(&["eyJ"], "[A-Za-z0-9_-]", 10)
    },
];

/// Compiles one of the patterns below. They are built from the constant tables above, and
/// `all_patterns_compile` (a unit test) forces every one, so this cannot fail at run time.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("scrubber pattern is valid")
}

/// `a|b|c` of the escaped literals.
fn alternation<'a>(literals: impl IntoIterator<Item = &'a str>) -> String {
    literals
        .into_iter()
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join("|")
}

// The patterns are ASCII-only, and the regex crate is built without its Unicode tables:
// `\s` is spelled out as an explicit ASCII class, case-insensitivity as `(?i-u:…)` and word
// boundaries as `(?-u:\b)`.

/// `scheme://user:pass@` → group 1 is `scheme://`.
pub(super) static URL_CREDENTIALS: LazyLock<Regex> =
    LazyLock::new(|| compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\t\n\x0B\x0C\r ]*@"));

/// `Authorization: Bearer …`: group 1 the header name, 2 the separator, 3 the scheme word.
pub(super) static AUTHORIZATION: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r#"((?i-u:(?:proxy-)?{header}))(["']?[\t ]*[:=][\t ]*["']?)((?i-u:{schemes})[\t ]+)?[^\t\n\x0B\x0C\r "',;]+"#,
        header = regex::escape(AUTHORIZATION_HEADER),
        schemes = alternation(AUTHORIZATION_SCHEMES.iter().copied()),
    ))
});

/// A lone `Bearer <token>`: group 1 the character before, group 2 `Bearer `.
pub(super) static BEARER_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(^|[^A-Za-z0-9_])((?i-u:{})[\t ]+)[A-Za-z0-9._~+/-]{{8,}}=*",
        regex::escape(BEARER)
    ))
});

/// A key ending in one of [`SECRET_WORDS`] (with any `[A-Za-z0-9_.-]` before it).
fn secret_key_pattern() -> String {
    let of = |standalone: bool| {
        SECRET_WORDS
            .iter()
            .filter(|w| w.standalone == standalone)
            .map(|w| {
                let parts: Vec<String> = w.word.split('_').map(regex::escape).collect();
                parts.join(OPTIONAL_SEPARATOR)
            })
            .collect::<Vec<_>>()
            .join("|")
    };
    format!(
        r"(?:[A-Za-z0-9_.-]*(?i-u:{})|(?:[A-Za-z0-9_.-]*[_.-]|(?-u:\b))(?i-u:{}))",
        of(false),
        of(true)
    )
}

/// A secret value: quoted up to its closing quote, or to the end of the text when the quote
/// is never closed, or unquoted up to whitespace, a quote or `&`.
const SECRET_VALUE: &str = r#"("[^"]+"|'[^']+'|"[^"]*$|'[^']*$|[^\t\n\x0B\x0C\r "'&]+)"#;

/// `password=…`, `"api_key": "…"`, `:password => "…"`: group 1 is the key and separator,
/// group 2 the value.
pub(super) static SECRET_ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r#"({}["']?[\t ]*(?:=>|[:=])[\t ]*){SECRET_VALUE}"#,
        secret_key_pattern()
    ))
});

/// `--password hunter2`: group 1 is the flag and the whitespace after it, group 2 the value.
pub(super) static SECRET_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"({}{}[\t ]+){SECRET_VALUE}",
        regex::escape(FLAG_DASHES),
        secret_key_pattern()
    ))
});

/// `Cookie: a=1; b=2` and `Set-Cookie: sid=…; Path=/`: group 1 is the header name and
/// separator, group 2 the cookie list (pairs separated by `;`), redacted by
/// [`redact_cookies`].
pub(super) static COOKIE: LazyLock<Regex> = LazyLock::new(|| {
    const PAIR: &str = r#"[^\t\n\x0B\x0C\r "',;]+"#;
    compile(&format!(
        r#"((?i-u:{header})["']?[\t ]*[:=][\t ]*["']?)({PAIR}(?:;[\t ]*{PAIR})*)"#,
        header = regex::escape(COOKIE_HEADER),
    ))
});

/// The replacement for one [`COOKIE`] match: every value goes (`session=<redacted>`), names
/// and attributes without a value stay (`HttpOnly`); a first item without `=` is a value.
pub(super) fn redact_cookies(c: &Captures<'_>) -> String {
    let mut out = String::with_capacity(c[0].len() + REDACTED.len());
    out.push_str(&c[1]);
    for (i, item) in c[2].split(';').enumerate() {
        if i > 0 {
            out.push(';');
        }
        let name_end = item.find('=').map(|eq| eq + 1);
        match name_end {
            Some(end) => {
                out.push_str(&item[..end]);
                if end < item.len() {
                    out.push_str(REDACTED);
                }
            }
            None if i == 0 => out.push_str(REDACTED),
            None => out.push_str(item),
        }
    }
    out
}

/// `-u admin:hunter2`, `--user admin:hunter2`, `--user=admin:hunter2` (a flag at the start or
/// after a space or tab): group 1 is everything up to the `:` after the user, group 2 the
/// password.
pub(super) static USER_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r#"((?:^|[\t ])(?:{short}[\t ]*|{long}(?:[\t ]+|=))["']?[^\t\n\x0B\x0C\r "':]+:)[^\t\n\x0B\x0C\r "']+"#,
        short = regex::escape(USER_FLAGS[0]),
        long = regex::escape(USER_FLAGS[1]),
    ))
});

/// `mysql -uroot -phunter2`, `sshpass -p hunter2`: one of [`PASSWORD_P_PROGRAMS`], then
/// arguments on the same command line (no `;`, `|`, `&` or line break), then `-p` and the
/// password. Group 1 is everything before the password, group 2 the password.
pub(super) static PROGRAM_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    let names = |detached: bool| {
        alternation(
            PASSWORD_P_PROGRAMS
                .iter()
                .filter(|p| p.detached == detached)
                .map(|p| p.name),
        )
    };
    let args = r"(?:[\t ]+[^\t\n\x0B\x0C\r ;|&]+)*?[\t ]+";
    let flag = regex::escape(PASSWORD_P_FLAG);
    compile(&format!(
        r"((?-u:\b)(?:(?:{attached}){args}{flag}|(?:{detached}){args}{flag}[\t ]*)){SECRET_VALUE}",
        attached = names(false),
        detached = names(true),
    ))
});

/// The replacement for one [`SECRET_ASSIGNMENT`] or [`SECRET_FLAG`] match: the key kept, the
/// value redacted inside its quotes (an unclosed quote stays unclosed).
pub(super) fn redact_assignment(c: &Captures<'_>) -> String {
    let (key, value) = (&c[1], c[2].as_bytes());
    let quote = match value.first() {
        Some(&q @ (b'"' | b'\'')) => Some(char::from(q)),
        _ => None,
    };
    let closed = quote.is_some() && value.len() > 1 && value.last() == value.first();
    let mut out = String::with_capacity(key.len() + REDACTED.len() + 2);
    out.push_str(key);
    out.extend(quote);
    out.push_str(REDACTED);
    if closed {
        out.extend(quote);
    }
    out
}

/// The [`KEY_SHAPES`] as one pattern: group 1 the character before (not a letter or digit).
pub(super) static KEY_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    let shapes: Vec<String> = KEY_SHAPES
        .iter()
        .map(|s| {
            let count = if s.exact { "" } else { "," };
            format!(
                "(?:{}){}{{{}{count}}}{}",
                alternation(s.prefixes.iter().copied()),
                s.body,
                s.min_body,
                s.tail
            )
        })
        .collect();
    compile(&format!("(^|[^A-Za-z0-9])(?:{})", shapes.join("|")))
});

/// E-mail addresses.
pub(super) static EMAIL_ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"));

/// Candidate long runs of base64 (standard or URL-safe) characters; judged by
/// [`redact_long_run`].
pub(super) static LONG_RUN: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!("[A-Za-z0-9+/_-]{{{MIN_SECRET_RUN},}}=*")));

/// The replacement for one [`LONG_RUN`] match.
pub(super) fn judge_long_run(c: &Captures<'_>) -> String {
    redact_long_run(&c[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_patterns_compile() {
        for re in [
            &URL_CREDENTIALS,
            &AUTHORIZATION,
            &BEARER_TOKEN,
            &SECRET_ASSIGNMENT,
            &SECRET_FLAG,
            &COOKIE,
            &USER_PASSWORD,
            &PROGRAM_PASSWORD,
            &KEY_SHAPE,
            &EMAIL_ADDRESS,
            &LONG_RUN,
        ] {
            LazyLock::force(re);
        }
    }

    #[test]
    fn every_shape_stays_in_the_gate_class() {
        let class = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        for s in KEY_SHAPES {
            for p in s.prefixes {
                assert!(p.bytes().all(class), "{p}");
                // The body repeated: a match of the shape, in the class.
                let body: &str = match s.body {
                    "[A-Z0-9]" => "A",
                    _ => "a",
                };
                let m = format!("{p}{}", body.repeat(s.min_body));
                let tail = if s.tail.is_empty() { "" } else { ".ab.c" };
                assert!(KEY_SHAPE.is_match(&format!("{m}{tail}")), "{m}");
                let short = &m[..m.len() - 1];
                assert!(!KEY_SHAPE.is_match(&format!("{short}{tail}")), "{short}");
            }
            let inner = s.body.trim_start_matches('[').trim_end_matches(']');
            let rest = ["A-Z", "a-z", "0-9"]
                .iter()
                .fold(inner.to_owned(), |acc, r| acc.replace(r, ""));
            assert!(rest.bytes().all(|b| b == b'_' || b == b'-'), "{}", s.body);
        }
    }

    #[test]
    fn secret_words_are_lowercase_ascii() {
        for w in SECRET_WORDS {
            let bytes = w.word.as_bytes();
            assert!(
                bytes.iter().all(|&b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                w.word
            );
            // A `_` stands between letters: a greedy match of it from the end is exact.
            assert!(!bytes.starts_with(b"_") && !bytes.ends_with(b"_") && !w.word.contains("__"));
        }
    }

    #[test]
    fn a_separator_in_a_word_is_optional() {
        for key in [
            "api_key=x",
            "API-KEY=x",
            "apikey=x",
            "x-api-key: x",
            "client_secret=x",
        ] {
            assert!(SECRET_ASSIGNMENT.is_match(key), "{key}");
        }
        for key in ["api--key=x", "api.key=x", "api key=x"] {
            assert!(!SECRET_ASSIGNMENT.is_match(key), "{key}");
        }
    }
}
