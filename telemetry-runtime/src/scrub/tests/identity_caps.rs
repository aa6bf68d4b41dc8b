//! Home directory and login-name replacement, the length cap and the scan limit.

use super::*;
use crate::limits::MAX_STRING_CHARS;

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

#[test]
fn keys_the_scrubber_would_change_are_dropped() {
    let scrubber = bob();
    let mut pairs: Vec<(String, u8)> = [
        "team",
        "build.id",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "sk-proj-Abc123Def456Ghi789Jkl012",
        "AKIAIOSFODNN7EXAMPLE",
        "bob@example.com",
        "/home/bob/x",
        "bob",
        "password",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), 0))
    .collect();
    assert_eq!(scrubber.drop_unclean_keys(&mut pairs), 6);
    let kept: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kept, ["team", "build.id", "password"]);
}
