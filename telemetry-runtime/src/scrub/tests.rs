//! The scrubber's rules against a table of cases, and the fast gate against running every
//! rule.

use super::*;

/// The scrubber most tests use: Linux home `/home/bob`, login `bob`.
fn bob() -> Scrubber {
    Scrubber::with_identity(Some("/home/bob"), Some("bob"))
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

/// Input → expected output, for [`bob`].
const TABLE: &[(&str, &str)] = &[
    // Empty and plain strings, near misses: unchanged.
    ("", ""),
    ("read_file", "read_file"),
    ("root", "root"),
    ("call", "call"),
    (
        "550e8400-e29b-41d4-a716-446655440000",
        "550e8400-e29b-41d4-a716-446655440000",
    ),
    ("1.2.3", "1.2.3"),
    ("v0.10.0-beta.1", "v0.10.0-beta.1"),
    (
        "upgrade from 1.75.0 to 1.89.0",
        "upgrade from 1.75.0 to 1.89.0",
    ),
    ("commit 3f2a9c1", "commit 3f2a9c1"),
    ("fixed in 3f2a9c1d8e7b", "fixed in 3f2a9c1d8e7b"),
    // 31 hex digits: one short of a secret.
    (
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcde",
    ),
    (
        "the quick brown fox jumps over the lazy dog",
        "the quick brown fox jumps over the lazy dog",
    ),
    ("bobcat and kebob", "bobcat and kebob"),
    ("bob2 is not bob", "bob2 is not <user>"),
    ("/usr/local/bin/cagent", "/usr/local/bin/cagent"),
    (
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    ),
    ("/home/bobby/notes", "/home/bobby/notes"),
    (
        "Pneumonoultramicroscopicsilicovolcanoconiosis",
        "Pneumonoultramicroscopicsilicovolcanoconiosis",
    ),
    (
        "ThisIsAVeryLongCamelCaseIdentifierName",
        "ThisIsAVeryLongCamelCaseIdentifierName",
    ),
    ("key abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "key <redacted>"),
    (
        "my_really_long_function_name_without_digits",
        "my_really_long_function_name_without_digits",
    ),
    (
        "Release-Candidate-2-For-Windows-x64-Installer",
        "Release-Candidate-2-For-Windows-x64-Installer",
    ),
    ("max_tokens: 4096", "max_tokens: 4096"),
    ("token count exceeded", "token count exceeded"),
    ("日本語のテキスト", "日本語のテキスト"),
    ("Grüße, José! 🎉", "Grüße, José! 🎉"),
    // Home directory and login name.
    ("/home/bob", "~"),
    (
        "open /home/bob/.config/cagent/config.yaml: denied",
        "open ~/.config/cagent/config.yaml: denied",
    ),
    ("cd /home/bob && make", "cd ~ && make"),
    ("'/home/bob/My Documents/x.txt'", "'~/My Documents/x.txt'"),
    ("/mnt/home/bob/data", "/mnt/home/<user>/data"),
    ("/srv/bob/data", "/srv/<user>/data"),
    ("hello bob, bob's file", "hello <user>, <user>'s file"),
    ("Bob", "<user>"),
    ("bob-laptop.local", "<user>-laptop.local"),
    // E-mail addresses.
    (
        "contact jane.doe+tag@example.co.uk now",
        "contact <email> now",
    ),
    ("bob@example.com", "<email>"),
    ("git@github.com:org/repo.git", "<email>:org/repo.git"),
    (
        "@decorator and user@localhost",
        "@decorator and user@localhost",
    ),
    // URL credentials.
    (
        "https://alice:s3cr3t@example.com/path",
        "https://example.com/path",
    ),
    (
        "postgres://admin:p@ss@db.internal:5432/app",
        "postgres://db.internal:5432/app",
    ),
    (
        "https://ghp_token@github.com/org/repo",
        "https://github.com/org/repo",
    ),
    ("https://example.com/a@b", "https://example.com/a@b"),
    // Secret assignments.
    ("api_key=abc123", "api_key=<redacted>"),
    ("APIKEY=abc123&user=x", "APIKEY=<redacted>&user=x"),
    (
        "?access_token=xyz&page=2",
        "?access_token=<redacted>&page=2",
    ),
    ("Password: hunter2", "Password: <redacted>"),
    ("passwd=letmein", "passwd=<redacted>"),
    ("secret = 'a b c'", "secret = '<redacted>'"),
    (
        r#"{"client_secret": "s p a c e", "id": 1}"#,
        r#"{"client_secret": "<redacted>", "id": 1}"#,
    ),
    ("GITHUB_TOKEN=whatever", "GITHUB_TOKEN=<redacted>"),
    ("--password=hunter2", "--password=<redacted>"),
    ("x-api-key: abc", "x-api-key: <redacted>"),
    ("pwd=hunter2", "pwd=<redacted>"),
    ("pass=hunter2", "pass=<redacted>"),
    ("DB_PASS=hunter2", "DB_PASS=<redacted>"),
    ("passwd = letmein", "passwd = <redacted>"),
    (":password => \"x\"", ":password => \"<redacted>\""),
    ("'password' => 'x y'", "'password' => '<redacted>'"),
    ("--password hunter2", "--password <redacted>"),
    (
        "run --token abc123 --verbose",
        "run --token <redacted> --verbose",
    ),
    ("--Password \"two words\"", "--Password \"<redacted>\""),
    ("--api-key\tabc", "--api-key\t<redacted>"),
    // Unclosed quotes: redacted to the end.
    ("password=\"hunter2", "password=\"<redacted>"),
    ("secret='hunter2 tail", "secret='<redacted>"),
    ("--password \"hunter2 tail", "--password \"<redacted>"),
    ("password=\"\"", "password=\"\""),
    // Near misses of the secret keys.
    ("--password-file ./p", "--password-file ./p"),
    ("passes=3", "passes=3"),
    ("compass=north", "compass=north"),
    ("bypass=1", "bypass=1"),
    ("the password is wrong", "the password is wrong"),
    ("tests pass", "tests pass"),
    ("-- password x", "-- password x"),
    ("--token", "--token"),
    // Authorization headers.
    (
        "Authorization: Bearer abc.def.ghi",
        "Authorization: Bearer <redacted>",
    ),
    (
        "authorization: basic dXNlcjpwYXNz",
        "authorization: basic <redacted>",
    ),
    (
        r#""Authorization": "Token abcdef""#,
        r#""Authorization": "Token <redacted>""#,
    ),
    (
        "sent bearer 0123abcdXYZ to server",
        "sent bearer <redacted> to server",
    ),
    ("bearer token expired", "bearer token expired"),
    // Well-known key shapes.
    ("key sk-proj-Abc123Def456Ghi789Jkl012", "key <redacted>"),
    (
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
        "<redacted>",
    ),
    (
        "task-abcdefghijklmnopqrstuvwxyz",
        "task-abcdefghijklmnopqrstuvwxyz",
    ),
    (
        "use ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "use <redacted>",
    ),
    ("gho_16C7e42F292c6912E7710c838347Ae178B4a", "<redacted>"),
    (
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "<redacted>",
    ),
    ("slack xoxb-1234567890-abcdefghij", "slack <redacted>"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "aws <redacted> here"),
    ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "<redacted>"),
    (JWT, "<redacted>"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "<redacted>"),
    // Long random runs.
    ("sha 0123456789abcdef0123456789abcdef", "sha <redacted>"),
    (
        "commit da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "commit <redacted>",
    ),
    (
        "aws_secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret <redacted>",
    ),
    (
        "blob QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY3ODk=",
        "blob <redacted>",
    ),
    (
        "/var/cache/pip/0123456789abcdef0123456789abcdef/wheel",
        "/var/cache/pip/<redacted>/wheel",
    ),
    (
        "/tmp/cache-0123456789abcdef0123456789abcdef01/x",
        "/tmp/cache-<redacted>/x",
    ),
    // Random pieces around a secret piece: all of it goes.
    ("AbC9xYz1/0123456789abcdef0123456789abcdef", "<redacted>"),
    (
        "a-b-c-d-e-f-AbCdEf123456789GhIjKlMnOpQrStUvWx12",
        "a-b-c-d-e-f-<redacted>",
    ),
    // Several rules together, and ordering.
    (
        "user bob (bob@corp.com) at /home/bob/src failed: token=abc",
        "user <user> (<email>) at ~/src failed: token=<redacted>",
    ),
    ("password=/home/bob/secret.txt", "password=<redacted>"),
];

#[test]
fn scrub_table() {
    assert!(TABLE.len() >= 40, "a table of at least 40 cases");
    let scrubber = bob();
    let mut failures = Vec::new();
    for (input, expected) in TABLE {
        let got = scrubber.scrub(input);
        if got != *expected {
            failures.push(format!("{input:?}\n   got {got:?}\n  want {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unchanged_input_is_borrowed() {
    let scrubber = bob();
    for input in [
        "",
        "read_file",
        "550e8400-e29b-41d4-a716-446655440000",
        "bobcat",
        "1.2.3",
        "a b",
    ] {
        assert!(
            matches!(scrubber.scrub(input), Cow::Borrowed(s) if s == input),
            "{input}"
        );
    }
}

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
];

/// [`FRAGMENTS`], every secret word (lower and upper case, each separator spelled all three
/// ways) and every key-shape prefix.
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
    FRAGMENTS
        .iter()
        .map(|f| (*f).to_owned())
        .chain(words)
        .chain(prefixes)
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
fn windows_paths_and_username() {
    let scrubber = Scrubber::from_env(&Env::from_pairs([
        ("USERPROFILE", r"C:\Users\bob"),
        ("USERNAME", "bob"),
    ]));
    assert_eq!(
        scrubber.scrub(r"C:\Users\bob\AppData\Local\x.log"),
        r"~\AppData\Local\x.log"
    );
    assert_eq!(scrubber.scrub(r"c:\users\BOB\Desktop"), r"~\Desktop");
    assert_eq!(scrubber.scrub("C:/Users/bob/Desktop"), "~/Desktop");
    assert_eq!(
        scrubber.scrub(r"D:\Users\bob\Desktop"),
        r"D:\Users\<user>\Desktop"
    );
    assert_eq!(scrubber.scrub(r"C:\Users\bobcat\x"), r"C:\Users\bobcat\x");

    // Only the user name known: it still goes.
    let scrubber = Scrubber::with_identity(None, Some("bob"));
    assert_eq!(
        scrubber.scrub(r"C:\Users\bob\src\main.rs"),
        r"C:\Users\<user>\src\main.rs"
    );
}

#[test]
fn from_env_reads_the_snapshot() {
    let scrubber = Scrubber::from_env(&Env::from_pairs([
        ("HOME", "/Users/Carol/"),
        ("USER", "carol"),
    ]));
    assert_eq!(scrubber.scrub("/Users/Carol/Library/x"), "~/Library/x");
    assert_eq!(scrubber.scrub("/Users/Carol"), "~");
    assert_eq!(scrubber.scrub("by carol"), "by <user>");
    assert_eq!(scrubber.scrub("carolina"), "carolina");

    let scrubber = Scrubber::from_env(&Env::from_pairs([("LOGNAME", "dave")]));
    assert_eq!(scrubber.scrub("dave's"), "<user>'s");
}

#[test]
fn short_or_impersonal_names_and_bad_homes_are_ignored() {
    let scrubber = Scrubber::with_identity(Some("/"), Some("al"));
    assert_eq!(scrubber.scrub("al /x / al"), "al /x / al");
    let scrubber = Scrubber::with_identity(Some(r"C:\"), Some("root"));
    assert_eq!(scrubber.scrub(r"C:\x root cause"), r"C:\x root cause");
    let scrubber = Scrubber::with_identity(Some("/root"), Some("  "));
    assert_eq!(scrubber.scrub("/root/.cargo root"), "~/.cargo root");
    let scrubber = Scrubber::with_identity(Some("relative"), None);
    assert_eq!(scrubber.scrub("relative/x"), "relative/x");
}

#[test]
fn nothing_private_survives_in_a_realistic_error() {
    let scrubber = Scrubber::from_env(&Env::from_pairs([
        ("HOME", "/home/alice"),
        ("USER", "alice"),
    ]));
    let secrets = [
        "/home/alice",
        "alice",
        "alice.smith@example.org",
        "hunter2",
        "sk-proj-T3BlbkFJabcdefghijklmnop0123456789",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "AKIAIOSFODNN7EXAMPLE",
        "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
        "xoxp-1234567890-0987654321-abcdefABCDEF",
        JWT,
    ];
    let text = format!(
        "alice: cannot read /home/alice/project/.env (owner alice.smith@example.org); \
         fetch https://alice:hunter2@registry.example.com/v2/ failed; keys: {} {} {} {} {} {}",
        secrets[4], secrets[5], secrets[6], secrets[7], secrets[8], secrets[9],
    );
    let out = scrubber.scrub(&text);
    for secret in secrets {
        assert!(!out.contains(secret), "{secret} survived in {out}");
    }
    assert!(
        out.starts_with("<user>: cannot read ~/project/.env (owner <email>); "),
        "{out}"
    );
    // Each argument on its own, as a command's args are recorded.
    for arg in [
        "--api-key=sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "--token",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "--out=/home/alice/out.json",
    ] {
        let out = scrubber.scrub(arg);
        assert!(
            !out.contains("sk-ant") && !out.contains("ghp_") && !out.contains("alice"),
            "{arg} -> {out}"
        );
    }
}

#[test]
fn a_whole_uuid_is_left_alone() {
    let scrubber = Scrubber::with_identity(None, Some("cafe"));
    let id = "0f1e2d3c-cafe-4b5a-8697-a8b9cadbecfd";
    assert!(matches!(scrubber.scrub(id), Cow::Borrowed(s) if s == id));
    assert!(matches!(
        scrubber.scrub(&id.to_uppercase()),
        Cow::Borrowed(_)
    ));
    assert_eq!(scrubber.scrub("cafe au lait"), "<user> au lait");
    // Inside a longer text the rules apply as everywhere else.
    assert_eq!(
        scrubber.scrub(&format!("session {id}")),
        "session 0f1e2d3c-<user>-4b5a-8697-a8b9cadbecfd"
    );
}

#[test]
fn placeholders_are_not_user_names() {
    let scrubber = Scrubber::with_identity(None, Some("email"));
    assert_eq!(scrubber.scrub("a@b.com email"), "<email> <user>");
    let scrubber = Scrubber::with_identity(None, Some("redacted"));
    assert_eq!(scrubber.scrub("token=x"), "token=<redacted>");
}

#[test]
fn non_ascii_names() {
    let scrubber = Scrubber::with_identity(Some("/home/jürgen"), Some("jürgen"));
    assert_eq!(
        scrubber.scrub("/home/jürgen/x von Jürgen"),
        "~/x von <user>"
    );
    assert_eq!(scrubber.scrub("jürgens"), "jürgens");
    assert_eq!(scrubber.scrub("éjürgen"), "éjürgen");
}

#[test]
fn cap_counts_characters_and_never_splits_one() {
    let scrubber = bob();
    let long = "é".repeat(300);
    let capped = scrubber.scrub(&long);
    assert_eq!(capped.chars().count(), MAX_STRING_CHARS);
    assert!(matches!(capped, Cow::Borrowed(_)));
    let mixed = "a🎉".repeat(200);
    assert_eq!(scrubber.scrub(&mixed).chars().count(), MAX_STRING_CHARS);
    let exact = "x ".repeat(MAX_STRING_CHARS / 2);
    assert_eq!(scrubber.scrub(&exact), exact);
    // A 32+ run of one letter case is no word: redacted.
    assert_eq!(scrubber.scrub(&"x".repeat(MAX_STRING_CHARS)), "<redacted>");
    assert_eq!(scrubber.scrub(&"Q".repeat(40)), "<redacted>");
    assert_eq!(
        scrubber.scrub("AbstractSingletonProxyFactoryBean"),
        "AbstractSingletonProxyFactoryBean"
    );
    // Capped after scrubbing: the secret is gone, not cut in half.
    let late = format!("{} token=abcdef0123456789", "w ".repeat(119));
    assert_eq!(
        scrubber.scrub(&late),
        format!("{} token=<redacted>", "w ".repeat(119))
    );
    // A placeholder the cap would cut in half is dropped whole.
    let half = format!("{} token=abcdef0123456789", "w ".repeat(121));
    assert_eq!(
        scrubber.scrub(&half),
        format!("{} token=", "w ".repeat(121))
    );
}

#[test]
fn ten_kilobytes() {
    let scrubber = bob();
    let words = "lorem ipsum dolor ".repeat(600);
    assert!(words.len() > 10_000);
    let out = scrubber.scrub(&words);
    assert_eq!(out.chars().count(), MAX_STRING_CHARS);
    assert!(words.starts_with(&*out));

    // Secrets early in a long text are found; the rest is cut.
    let text = format!("password=hunter2 {} /home/bob/x", "filler ".repeat(2000));
    let out = scrubber.scrub(&text);
    assert!(out.starts_with("password=<redacted> filler"));
    assert!(!out.contains("hunter2"));

    // One 10 KB token with no whitespace is scanned whole.
    let token = "ab1".repeat(3500);
    assert_eq!(scrubber.scrub(&token), REDACTED);
    let multibyte = "ü".repeat(6000);
    assert_eq!(scrubber.scrub(&multibyte).chars().count(), MAX_STRING_CHARS);
}

#[test]
fn a_quote_the_scan_limit_leaves_open_is_redacted_to_the_cut() {
    let scrubber = bob();
    // The first whitespace at or after 4096 bytes is inside the quotes.
    let text = format!("{} password=\"hunter2 tail\"", "A".repeat(4090));
    let out = scrubber.scrub(&text);
    assert!(!out.contains("hunter2"), "{out}");
    assert_eq!(out, "<redacted> password=\"<redacted>");
    let text = format!("{} secret='hunter2 and more", "ab1".repeat(1360));
    assert_eq!(scrubber.scrub(&text), "<redacted> secret='<redacted>");
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

#[test]
fn scan_limit_does_not_split_a_name_with_spaces() {
    let scrubber = Scrubber::with_identity(Some("/home/bob smith"), Some("bob smith"));
    // 4089 bytes of one random run, a space, then the home at byte 4090: the first
    // whitespace after the scan limit (4096) is the one inside the home.
    let text = format!("{} /home/bob smith/x", "ab1".repeat(1363));
    assert_eq!(text.find(" smith"), Some(4099));
    assert_eq!(scrubber.scrub(&text), "<redacted> ~/x");
    // Without spaces in the names, the same text is cut at that space, safely.
    let scrubber = Scrubber::with_identity(Some("/home/bob"), Some("bob"));
    assert_eq!(scrubber.scrub(&text), "<redacted> ~");
}

#[test]
fn in_place() {
    let scrubber = bob();
    let mut s = String::from("see /home/bob/x");
    scrubber.scrub_in_place(&mut s);
    assert_eq!(s, "see ~/x");
    let mut s = String::from("plain");
    let ptr = s.as_ptr();
    scrubber.scrub_in_place(&mut s);
    assert_eq!((s.as_str(), s.as_ptr()), ("plain", ptr));
}

#[test]
fn free_function_scrubs() {
    assert_eq!(scrub("password=hunter2"), "password=<redacted>");
    assert_eq!(scrub("read_file"), "read_file");
    assert_eq!(scrub(JWT), REDACTED);
}

#[test]
fn debug_shows_no_names() {
    let shown = format!("{:?}", bob());
    assert!(!shown.contains("bob"), "{shown}");
}
