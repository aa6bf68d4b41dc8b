//! The fast gate: one pass over a text's bytes that tells which rules can possibly apply, so
//! that plain strings (`read_file`, a version number) never reach a regex.
//!
//! Invariant: whenever a rule would change a text, the flag of that rule is set (the gate may
//! say "maybe" where the rule changes nothing, never "no" where it would). The words and
//! prefixes looked for are those of [`super::rules`], the very tables the regexes are built
//! from.

use super::rules::{
    AUTHORIZATION_HEADER, BEARER, COOKIE_HEADER, FLAG_DASHES, KEY_SHAPES, KeyShape,
    PASSWORD_P_FLAG, PASSWORD_P_PROGRAMS, SECRET_WORDS, SecretWord, USER_FLAGS,
};
use super::runs::{RunStats, RunVerdict};
use crate::limits::MAX_STRING_CHARS;

/// What one pass over the bytes found: which rules can possibly apply.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Scan {
    /// More than [`MAX_STRING_CHARS`] characters.
    pub(super) too_long: bool,
    /// An `@` (e-mail; with `url`, URL credentials).
    pub(super) at: bool,
    /// A `://`.
    pub(super) url: bool,
    /// A `:` or `=` right after `authorization` (a quote and spaces between allowed).
    pub(super) authorization: bool,
    /// A `:` or `=` right after a key ending in a secret word.
    pub(super) secret_key: bool,
    /// Whitespace right after a `--` flag ending in a secret word.
    pub(super) secret_flag: bool,
    /// Whitespace right after `bearer`.
    pub(super) bearer: bool,
    /// A `:` or `=` right after `cookie` (a quote and spaces between allowed).
    pub(super) cookie: bool,
    /// `-u` or `--user` starting the text or right after a space or tab.
    pub(super) user_flag: bool,
    /// `-p` right after a space or tab, with a password program's name before it.
    pub(super) program_password: bool,
    /// A `/` or `\` (home directory).
    pub(super) separator: bool,
    /// A run that may hold a known key shape.
    pub(super) shape: bool,
    /// A run the long-run rules would change.
    pub(super) long_run: bool,
    /// A login name occurs (filled in by the scrubber, which knows the names).
    pub(super) user: bool,
}

impl Scan {
    /// Scans `text`. Runs on every recorded string: one loop, and a closer look only at the
    /// few bytes that can end a key (`:`, `=`, whitespace) or a run.
    pub(super) fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut scan = Scan {
            too_long: text.len() > MAX_STRING_CHARS && text.chars().count() > MAX_STRING_CHARS,
            user_flag: starts_with_user_flag(bytes),
            ..Scan::default()
        };
        // The current run of `[A-Za-z0-9_-]` (key shapes) starts at `shape_start`; the current
        // run of `[A-Za-z0-9+/_-]` (long runs) at `long_start`.
        let mut shape_start = 0;
        let (mut long_start, mut long) = (0, RunStats::default());
        for (i, &b) in bytes.iter().enumerate() {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                long.push(b);
                continue;
            }
            scan.shape |= may_hold_shape(&bytes[shape_start..i]);
            shape_start = i + 1;
            if b == b'/' || b == b'+' {
                scan.separator |= b == b'/';
                long.push(b);
                continue;
            }
            scan.long_run |= long.verdict(&bytes[long_start..i]) != RunVerdict::Keep;
            (long_start, long) = (i + 1, RunStats::default());
            scan.look_at(bytes, i);
        }
        let (shape_start, long_start) = (shape_start.min(bytes.len()), long_start.min(bytes.len()));
        scan.shape |= may_hold_shape(&bytes[shape_start..]);
        scan.long_run |= long.verdict(&bytes[long_start..]) != RunVerdict::Keep;
        scan
    }

    /// Notes what the byte at `i` (no run character) can start or end.
    fn look_at(&mut self, bytes: &[u8], i: usize) {
        match bytes[i] {
            b'@' => self.at = true,
            b'\\' => self.separator = true,
            b':' | b'=' => {
                self.url |= bytes[i] == b':' && bytes[i + 1..].starts_with(b"//");
                let key = key_before(&bytes[..i]);
                self.authorization |= ends_with_ci(key, AUTHORIZATION_HEADER.as_bytes());
                self.cookie |= ends_with_ci(key, COOKIE_HEADER.as_bytes());
                self.secret_key |= ends_with_secret_word(key);
            }
            b'\t' | b' ' => {
                let before = &bytes[..i];
                self.bearer |= ends_with_ci(before, BEARER.as_bytes());
                // Flags are rare: looked for first, the words only after one.
                self.secret_flag |= is_flag(before) && ends_with_secret_word(before);
                let after = &bytes[i + 1..];
                if after.first() == Some(&b'-') {
                    self.user_flag |= starts_with_user_flag(after);
                    self.program_password |= after.starts_with(PASSWORD_P_FLAG.as_bytes())
                        && names_a_password_program(before);
                }
            }
            _ => {}
        }
    }

    /// Whether any rule can apply (the cap aside).
    pub(super) fn may_need_rules(&self) -> bool {
        let Scan {
            too_long: _,
            at,
            url: _, // URL credentials need `@` too
            authorization,
            secret_key,
            secret_flag,
            bearer,
            cookie,
            user_flag,
            program_password,
            separator,
            shape,
            long_run,
            user,
        } = *self;
        at || authorization
            || secret_key
            || secret_flag
            || bearer
            || cookie
            || user_flag
            || program_password
            || separator
            || shape
            || long_run
            || user
    }
}

/// The text before a `:` or `=` without the spaces and the one quote the assignment rules
/// allow between key and separator.
fn key_before(before: &[u8]) -> &[u8] {
    let mut end = before.len();
    while end > 0 && matches!(before[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if end > 0 && matches!(before[end - 1], b'"' | b'\'') {
        end -= 1;
    }
    &before[..end]
}

/// Whether `text` ends with `suffix` (lowercase), ignoring ASCII case.
fn ends_with_ci(text: &[u8], suffix: &[u8]) -> bool {
    text.len() >= suffix.len() && text[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// For each byte, the [`SECRET_WORDS`] that end with it (in either case), as bits by index:
/// a key is only compared with the words that end like it.
static SECRET_WORDS_BY_LAST_BYTE: [u32; 256] = {
    assert!(SECRET_WORDS.len() <= 32, "one bit per word");
    let mut table = [0; 256];
    let mut i = 0;
    while i < SECRET_WORDS.len() {
        let word = SECRET_WORDS[i].word.as_bytes();
        let last = word[word.len() - 1];
        table[last.to_ascii_lowercase() as usize] |= 1 << i;
        table[last.to_ascii_uppercase() as usize] |= 1 << i;
        i += 1;
    }
    table
};

/// Whether `key` ends with a secret word the secret-assignment rule accepts there.
fn ends_with_secret_word(key: &[u8]) -> bool {
    let Some(&last) = key.last() else {
        return false;
    };
    let mut words = SECRET_WORDS_BY_LAST_BYTE[usize::from(last)];
    while words != 0 {
        let i = words.trailing_zeros() as usize;
        if ends_with_word(key, &SECRET_WORDS[i]) {
            return true;
        }
        words &= words - 1;
    }
    false
}

/// Whether `key` ends with `word` (a `_` in it matching `_`, `-` or nothing), standing where
/// the word must.
fn ends_with_word(key: &[u8], word: &SecretWord) -> bool {
    let mut end = key.len();
    for &w in word.word.as_bytes().iter().rev() {
        if w == b'_' {
            // Greedy is exact: the word's byte before a `_` is a letter, never a separator.
            if end > 0 && matches!(key[end - 1], b'_' | b'-') {
                end -= 1;
            }
        } else if end > 0 && key[end - 1].to_ascii_lowercase() == w {
            end -= 1;
        } else {
            return false;
        }
    }
    !(word.standalone && key[..end].last().is_some_and(u8::is_ascii_alphanumeric))
}

/// Whether the key characters (`[A-Za-z0-9_.-]`) that end `before` hold a `--`: a flag.
fn is_flag(before: &[u8]) -> bool {
    let start = before
        .iter()
        .rposition(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')))
        .map_or(0, |p| p + 1);
    before[start..]
        .windows(FLAG_DASHES.len())
        .any(|w| w == FLAG_DASHES.as_bytes())
}

/// Whether `text` starts with one of the [`USER_FLAGS`].
fn starts_with_user_flag(text: &[u8]) -> bool {
    USER_FLAGS.iter().any(|f| text.starts_with(f.as_bytes()))
}

/// Whether one of the [`PASSWORD_P_PROGRAMS`] occurs in `before` (anywhere: the rule wants it
/// as a word, on the same command line).
fn names_a_password_program(before: &[u8]) -> bool {
    PASSWORD_P_PROGRAMS
        .iter()
        .any(|p| before.windows(p.name.len()).any(|w| w == p.name.as_bytes()))
}

/// Whether a byte starts one of the [`KEY_SHAPES`]' prefixes.
static SHAPE_FIRST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < KEY_SHAPES.len() {
        let mut j = 0;
        while j < KEY_SHAPES[i].prefixes.len() {
            table[KEY_SHAPES[i].prefixes[j].as_bytes()[0] as usize] = true;
            j += 1;
        }
        i += 1;
    }
    table
};

/// The fewest bytes of `[A-Za-z0-9_-]` any key shape holds in a row.
const MIN_SHAPE_RUN: usize = {
    let mut min = usize::MAX;
    let mut i = 0;
    while i < KEY_SHAPES.len() {
        let mut j = 0;
        while j < KEY_SHAPES[i].prefixes.len() {
            let len = KEY_SHAPES[i].prefixes[j].len() + KEY_SHAPES[i].min_body;
            if len < min {
                min = len;
            }
            j += 1;
        }
        i += 1;
    }
    min
};

/// Whether a maximal run of `[A-Za-z0-9_-]` may hold a key shape: a prefix that starts the
/// run or follows a non-alphanumeric byte, with at least the shape's shortest body after it
/// inside the run (every byte of a shape up to its tail is in the run's class).
fn may_hold_shape(run: &[u8]) -> bool {
    if run.len() < MIN_SHAPE_RUN {
        return false;
    }
    (0..=run.len() - MIN_SHAPE_RUN).any(|p| {
        SHAPE_FIRST_BYTES[usize::from(run[p])]
            && (p == 0 || !run[p - 1].is_ascii_alphanumeric())
            && KEY_SHAPES.iter().any(|s| shape_at(&run[p..], s))
    })
}

fn shape_at(rest: &[u8], shape: &KeyShape) -> bool {
    shape
        .prefixes
        .iter()
        .any(|p| rest.starts_with(p.as_bytes()) && rest.len() >= p.len() + shape.min_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_the_words_and_shapes() {
        let by_d = SECRET_WORDS_BY_LAST_BYTE[usize::from(b'd')];
        assert_eq!(by_d, SECRET_WORDS_BY_LAST_BYTE[usize::from(b'D')]);
        let ending_in_d: Vec<&str> = (0..SECRET_WORDS.len())
            .filter(|i| by_d & (1 << i) != 0)
            .map(|i| SECRET_WORDS[i].word)
            .collect();
        assert_eq!(ending_in_d, ["passwd", "password", "pwd"]);
        let ending_in_y = SECRET_WORDS_BY_LAST_BYTE[usize::from(b'Y')].count_ones();
        assert_eq!(ending_in_y, 3, "api_key, access_key, private_key");
        assert_eq!(SECRET_WORDS_BY_LAST_BYTE[usize::from(b'x')], 0);
        assert!(SHAPE_FIRST_BYTES[usize::from(b'e')] && !SHAPE_FIRST_BYTES[usize::from(b'E')]);
        assert_eq!(MIN_SHAPE_RUN, "eyJ".len() + 10);
    }

    #[test]
    fn standalone_words_need_a_boundary() {
        assert!(ends_with_secret_word(b"pass"));
        assert!(ends_with_secret_word(b"user_PASS"));
        assert!(ends_with_secret_word(b"--pwd"));
        assert!(!ends_with_secret_word(b"compass"));
        assert!(!ends_with_secret_word(b"passes"));
        assert!(ends_with_secret_word(b"mypassword"));
        assert!(ends_with_secret_word(b"X-API-KEY"));
        assert!(ends_with_secret_word(b"apikey"));
        assert!(!ends_with_secret_word(b"api__key"));
        assert!(!ends_with_secret_word(b"key"));
    }

    #[test]
    fn flags() {
        assert!(is_flag(b"run --password"));
        assert!(is_flag(b"--x.token"));
        assert!(!is_flag(b"a -- password"));
        assert!(!is_flag(b"password"));
    }
}
