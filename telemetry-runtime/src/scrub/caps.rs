//! The limits: the length cap on every scrubbed string, and the scan limit on long texts.

use std::borrow::Cow;

use super::{EMAIL, REDACTED, USER};
use crate::limits::MAX_STRING_CHARS;

/// Texts longer than this (in bytes) are scrubbed only up to the first whitespace at or after
/// it: the cap keeps far fewer characters anyway, and the regexes then never scan megabytes.
pub(super) const SCAN_LIMIT_BYTES: usize = 4096;

/// Keeps at most [`MAX_STRING_CHARS`] characters. A placeholder the cut would leave half
/// (`… <reda`) is dropped whole.
pub(super) fn cap(text: Cow<'_, str>) -> Cow<'_, str> {
    let Some((mut end, _)) = text.char_indices().nth(MAX_STRING_CHARS) else {
        return text;
    };
    if let Some(open) = text[..end].rfind('<') {
        let partial = &text[open..end];
        if [REDACTED, EMAIL, USER]
            .iter()
            .any(|p| p.starts_with(partial) && text[open..].starts_with(p))
        {
            end = open;
        }
    }
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(&s[..end]),
        Cow::Owned(mut s) => {
            s.truncate(end);
            Cow::Owned(s)
        }
    }
}

/// The text up to the first ASCII whitespace at or after `limit` bytes (all of it if there is
/// none). No secret is half-seen: every rule's match holds no whitespace, except a quoted
/// secret value, which the secret rule redacts to the end of the text when its quote is left
/// open (and names with whitespace, for which the scrubber does not cut).
pub(super) fn cut_at_whitespace(text: &str, limit: usize) -> &str {
    let cut = text
        .as_bytes()
        .get(limit..)
        .and_then(|tail| tail.iter().position(u8::is_ascii_whitespace));
    // Cut before an ASCII byte: always a char boundary (`get` keeps it panic-free anyway).
    cut.and_then(|offset| text.get(..limit + offset))
        .unwrap_or(text)
}
