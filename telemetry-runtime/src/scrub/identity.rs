//! The identity rules: the home directory becomes `~`, the login name `<user>`.
//!
//! Both compare a byte-for-byte normalised copy of the text (only ASCII bytes changed, into
//! ASCII bytes), so offsets found in the copy are offsets and char boundaries of the text.

use std::borrow::Cow;

use super::{HOME, USER};

/// Normalises a home directory for matching: ASCII-lowercased, `\` as `/`, trailing
/// separators trimmed. `None` for values that are no usable home (`/`, `C:\`, relative, or
/// shorter than 3 characters).
pub(super) fn normalise_home(home: &str) -> Option<String> {
    let normal = home
        .trim()
        .to_ascii_lowercase()
        .replace('\\', "/")
        .trim_end_matches('/')
        .to_owned();
    (normal.chars().count() >= 3 && normal.contains('/')).then_some(normal)
}

/// Whether `c` continues a path segment or a name (so a match next to it is only part of a
/// longer name).
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Replaces the home directory `home` (normalised) where it stands as a whole path prefix.
pub(super) fn replace_home<'a>(text: &'a str, home: &str) -> Cow<'a, str> {
    let normal: Vec<u8> = text
        .bytes()
        .map(|b| match b {
            b'\\' => b'/',
            b => b.to_ascii_lowercase(),
        })
        .collect();
    replace_matches(text, &normal, home.as_bytes(), HOME, |before, after| {
        let starts_segment = !before.chars().next_back().is_some_and(is_name_char);
        let mut rest = after.chars();
        let ends_segment = match rest.next() {
            None => true,
            // `/home/bob.old` is another directory; `/home/bob.` ends a sentence.
            Some('.') => !rest.next().is_some_and(is_name_char),
            Some(c) => !is_name_char(c),
        };
        starts_segment && ends_segment
    })
}

/// Replaces the login name `user` (lowercased) where it stands as a word or path segment.
pub(super) fn replace_user<'a>(text: &'a str, user: &str) -> Cow<'a, str> {
    let normal = text.to_ascii_lowercase();
    replace_matches(
        text,
        normal.as_bytes(),
        user.as_bytes(),
        USER,
        |before, after| {
            let prev = before.chars().next_back();
            let next = after.chars().next();
            // A placeholder such as `<user>` or `<email>` is never a login name.
            let placeholder = prev == Some('<') && next == Some('>');
            !prev.is_some_and(char::is_alphanumeric)
                && !next.is_some_and(char::is_alphanumeric)
                && !placeholder
        },
    )
}

/// Replaces each occurrence of `needle` in `normal` (a byte-for-byte normalised copy of
/// `text`: only ASCII bytes changed, into ASCII bytes, so offsets and char boundaries agree)
/// that `accept(text before, text after)` approves.
fn replace_matches<'a>(
    text: &'a str,
    normal: &[u8],
    needle: &[u8],
    replacement: &str,
    accept: impl Fn(&str, &str) -> bool,
) -> Cow<'a, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(offset) = find(&normal[from..], needle) {
        let start = from + offset;
        let end = start + needle.len();
        // `needle` is valid UTF-8 and so is `normal`, so both ends are char boundaries; `get`
        // keeps this panic-free regardless.
        let (Some(before), Some(after)) = (text.get(..start), text.get(end..)) else {
            from = start + 1;
            continue;
        };
        if accept(before, after) {
            out.push_str(&text[copied..start]);
            out.push_str(replacement);
            copied = end;
            from = end;
        } else {
            from = start + 1;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether `needle` (ASCII-lowercased) occurs in `text`, ignoring ASCII case.
pub(super) fn contains_ascii_ci(text: &str, needle: &str) -> bool {
    let (text, needle) = (text.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return false;
    };
    let Some(last_start) = text.len().checked_sub(needle.len()) else {
        return false;
    };
    // Runs on every string: a plain loop that only looks further at the first byte's match.
    let first_upper = first.to_ascii_uppercase();
    let mut i = 0;
    while i <= last_start {
        let b = text[i];
        if (b == first || b == first_upper)
            && text[i + 1..i + needle.len()].eq_ignore_ascii_case(rest)
        {
            return true;
        }
        i += 1;
    }
    false
}
