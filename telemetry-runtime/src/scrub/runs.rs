//! The long-run rules: runs of base64 or hex characters that look random are secrets.
//!
//! A run is a maximal stretch of `[A-Za-z0-9+/_-]`; its *pieces* are the stretches between
//! the separators `+ / _ -`. [`RunStats`] gathers what the verdict needs byte by byte, so the
//! fast gate judges runs in its one pass with the very function the rule uses.

use super::REDACTED;

/// Shortest run of base64/hex characters treated as a secret.
pub(super) const MIN_SECRET_RUN: usize = 32;

/// Whether `byte` is a separator inside base64 runs.
fn is_run_separator(byte: u8) -> bool {
    matches!(byte, b'+' | b'/' | b'_' | b'-')
}

/// Whether a separator-free piece of a run is a secret by itself: 32+ characters that mix
/// digits and letters, or hold 32+ hex digits, or are letters of one case only (no word is
/// that long), or mix cases the way random text does (lower case letters, and at least three
/// places where two capitals meet: `CamelCaseNames` have capitals only at word starts). No
/// word or name looks like any of these.
fn is_secret_piece(piece: &[u8]) -> bool {
    piece.len() >= MIN_SECRET_RUN
        && ((piece.iter().any(u8::is_ascii_digit) && piece.iter().any(u8::is_ascii_alphabetic))
            || piece.iter().all(u8::is_ascii_lowercase)
            || piece.iter().all(u8::is_ascii_uppercase)
            || longest(piece, u8::is_ascii_hexdigit) >= MIN_SECRET_RUN
            || (piece.iter().any(u8::is_ascii_lowercase)
                && piece
                    .windows(2)
                    .filter(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase())
                    .count()
                    >= 3))
}

/// Whether a piece reads like a word or a number (`cache`, `Projects2024`, `PIP`, `2024`)
/// rather than a slice of random text. Pieces shorter than 6 characters always do: in random
/// text they are too short to matter.
fn is_wordish(piece: &[u8]) -> bool {
    if piece.len() < 6 {
        return true;
    }
    let digits = piece
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let letters = &piece[..piece.len() - digits];
    match letters {
        [] => true,
        [first, rest @ ..] => {
            rest.iter().all(u8::is_ascii_lowercase) && first.is_ascii_alphabetic()
                || letters.iter().all(u8::is_ascii_uppercase)
        }
    }
}

/// What the long-run rules do with one maximal run of `[A-Za-z0-9+/_-]` (`=` padding
/// removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RunVerdict {
    /// Not a secret: a path, an identifier, a UUID, a word.
    Keep,
    /// One secret: replaced whole.
    Whole,
    /// Words with secret pieces (`/var/cache/<hash>/x`): only those pieces are replaced.
    Pieces,
}

/// Judges a run. With a secret piece in it, the run is a path or name around a secret when
/// every other piece reads like a word, and one secret otherwise. Without one, the run is one
/// secret when it mixes digits and letters and has fewer than one separator per ten
/// characters (a random base64 string has one per 32 on average; paths, identifiers and
/// UUIDs have one every few characters).
fn judge_run(run: &[u8]) -> RunVerdict {
    let mut stats = RunStats::default();
    run.iter().for_each(|&b| stats.push(b));
    stats.verdict(run)
}

/// What [`judge_run`] needs to know about a run, gathered byte by byte (so the fast path's
/// single pass can gather it too).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RunStats {
    len: usize,
    separators: usize,
    piece: usize,
    longest_piece: usize,
    digit: bool,
    letter: bool,
}

impl RunStats {
    /// Adds one byte of `[A-Za-z0-9+/_-]`.
    pub(super) fn push(&mut self, b: u8) {
        self.len += 1;
        if is_run_separator(b) {
            self.separators += 1;
            self.piece = 0;
        } else {
            self.piece += 1;
            self.longest_piece = self.longest_piece.max(self.piece);
            self.digit |= b.is_ascii_digit();
            self.letter |= b.is_ascii_alphabetic();
        }
    }

    /// The verdict on `run`, the bytes these statistics were gathered from.
    pub(super) fn verdict(&self, run: &[u8]) -> RunVerdict {
        if self.len < MIN_SECRET_RUN {
            return RunVerdict::Keep;
        }
        // Only a piece of 32+ characters can be a secret piece: rarely worth splitting for.
        if self.longest_piece >= MIN_SECRET_RUN {
            let mut pieces = run.split(|b| is_run_separator(*b));
            if pieces.clone().any(is_secret_piece) {
                return if pieces.all(|p| is_secret_piece(p) || is_wordish(p)) {
                    RunVerdict::Pieces
                } else {
                    RunVerdict::Whole
                };
            }
        }
        if self.separators * 10 < self.len && self.digit && self.letter {
            RunVerdict::Whole
        } else {
            RunVerdict::Keep
        }
    }
}

/// The replacement for one long-run match (`=` padding included), as [`judge_run`] decides.
pub(super) fn redact_long_run(run: &str) -> String {
    let body = run.trim_end_matches('=');
    match judge_run(body.as_bytes()) {
        RunVerdict::Keep => run.to_owned(),
        RunVerdict::Whole => REDACTED.to_owned(),
        RunVerdict::Pieces => {
            // The run is ASCII (the pattern's class is): every byte offset is a char boundary.
            let mut out = String::with_capacity(run.len());
            let mut piece_start = 0;
            for (i, b) in body.bytes().enumerate() {
                if is_run_separator(b) {
                    push_piece(&mut out, &body[piece_start..i]);
                    out.push(char::from(b));
                    piece_start = i + 1;
                }
            }
            // Padding belongs to the last piece: it goes with it.
            if !push_piece(&mut out, &body[piece_start..]) {
                out.push_str(&run[body.len()..]);
            }
            out
        }
    }
}

/// Appends one separator-free piece of a long run, redacted when it is a secret (then
/// returns `true`).
fn push_piece(out: &mut String, piece: &str) -> bool {
    let secret = is_secret_piece(piece.as_bytes());
    out.push_str(if secret { REDACTED } else { piece });
    secret
}

/// The length of the longest run of bytes satisfying `pred`.
fn longest(bytes: &[u8], pred: impl Fn(&u8) -> bool) -> usize {
    let (mut best, mut current) = (0, 0);
    for b in bytes {
        current = if pred(b) { current + 1 } else { 0 };
        best = best.max(current);
    }
    best
}
