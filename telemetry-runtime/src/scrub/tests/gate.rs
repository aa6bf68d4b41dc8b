//! The fast gate: whenever a rule would change a text, the gate lets the rules run.

use super::*;

#[test]
fn fast_path_agrees_with_the_rules() {
    // Strings the fast path returns untouched must be ones no rule changes. Force the
    // slow path by comparing with a scrubber whose answer must be the same.
    let scrubber = bob();
    for input in [
        "read_file",
        "root",
        "call",
        "550E8400-E29B-41D4-A716-446655440000",
        "3f2a9c1",
    ] {
        let scan = Scan::of(input);
        assert!(!scan.may_need_rules(), "{input} should take the fast path");
        assert_eq!(scrubber.scrub(input), input);
    }
    for input in [
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "0123456789abcdef0123456789abcdef",
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-1234567890",
    ] {
        let scan = Scan::of(input);
        assert!(scan.may_need_rules(), "{input} must not take the fast path");
        assert_ne!(scrubber.scrub(input), input);
    }
}

/// Fragments that trigger (or nearly trigger) every rule, for generated inputs; the rules'
/// own words and prefixes are added from their tables by [`fragments`].
const FRAGMENTS: &[&str] = &[
    "bob",
    "Bob",
    "bobcat",
    "/home/bob",
    "/home/bobby",
    "\\Users\\bob",
    "@",
    ":",
    "=",
    "://",
    " ",
    "\t",
    "\"",
    "'",
    "&",
    "/",
    "-",
    "_",
    "+",
    ".",
    "<",
    ">",
    "token",
    "Password",
    "api_key",
    "authorization",
    "Bearer",
    "bearer ",
    "https://",
    "u:p@",
    "example.com",
    "sk-",
    "ghp_",
    "github_pat_",
    "xoxb-",
    "AKIA",
    "AIza",
    "eyJ",
    "glpat-",
    "hf_",
    "npm_",
    "0123456789abcdef",
    "ABCDEFGHIJKLMNOP",
    "abcdefghij",
    "K7MDENG",
    "x86_64",
    "v1.2.3",
    "550e8400-e29b-41d4-a716-446655440000",
    "é",
    "日本",
    "🎉",
    "==",
    "--",
    "=>",
    "\n",
    "compass",
    "passes",
    "-file",
    "\"hunter2",
    "Pwd",
    "cookie",
    "Set-Cookie",
    ";",
    "-u",
    " -u ",
    "--user",
    "--user=",
    "-user-agent",
    "admin:hunter2",
    "-p",
    " -p",
    "-phunter2",
    "|",
    "sig",
    "&sig=",
];

/// [`FRAGMENTS`], every secret word (lower and upper case, each separator spelled all three
/// ways), every key-shape prefix and every password program.
fn fragments() -> Vec<String> {
    let words = rules::SECRET_WORDS.iter().flat_map(|w| {
        ["_", "-", ""].into_iter().flat_map(|sep| {
            let word = w.word.replace('_', sep);
            [word.to_ascii_uppercase(), word]
        })
    });
    let prefixes = rules::KEY_SHAPES
        .iter()
        .flat_map(|s| s.prefixes.iter().map(|p| (*p).to_owned()));
    let programs = rules::PASSWORD_P_PROGRAMS
        .iter()
        .flat_map(|p| [p.name.to_owned(), format!("/usr/bin/{} ", p.name)]);
    FRAGMENTS
        .iter()
        .map(|f| (*f).to_owned())
        .chain(words)
        .chain(prefixes)
        .chain(programs)
        .collect()
}

#[test]
fn gating_never_skips_a_rule_that_would_apply() {
    let scrubber = bob();
    let everything = Scan {
        too_long: true,
        at: true,
        url: true,
        authorization: true,
        secret_key: true,
        secret_flag: true,
        bearer: true,
        cookie: true,
        user_flag: true,
        program_password: true,
        separator: true,
        shape: true,
        long_run: true,
        user: true,
    };
    // A small deterministic generator (no dependency, same cases on every run).
    let mut state: u64 = 0x5eed;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    let fragments = fragments();
    for _ in 0..30_000 {
        let mut text = String::new();
        for _ in 0..1 + next(10) {
            text.push_str(&fragments[next(fragments.len())]);
        }
        let mut scan = Scan::of(&text);
        scan.user = scrubber.users.iter().any(|u| contains_ascii_ci(&text, u));
        let gated = scrubber.apply_rules(&text, scan);
        let full = scrubber.apply_rules(&text, everything);
        assert_eq!(gated, full, "input {text:?} scan {scan:?}");
        if !scan.may_need_rules() {
            assert_eq!(full, text, "fast path taken for {text:?}");
        }
    }
}

#[test]
fn every_shape_prefix_holds_a_letter_that_is_no_hex_digit() {
    // What lets a whole UUID skip the rules.
    for shape in rules::KEY_SHAPES {
        for prefix in shape.prefixes {
            assert!(
                prefix
                    .bytes()
                    .any(|b| b.is_ascii_alphabetic() && !b.is_ascii_hexdigit()),
                "{prefix}"
            );
        }
    }
}
