//! Debug-mode output: every record and every delivery decision, on stderr by default.
//!
//! Invariant: nothing reaches the terminal with a control character but a newline: text a
//! peer sent (a collector's message, an error) could otherwise move the cursor, set the
//! window title or clear the screen. [`printable`] strips them; [`DiagOut::line`] applies it
//! to everything it writes.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where debug-mode output goes. Stderr unless a test or the application chose a buffer.
#[derive(Clone, Default)]
pub(crate) enum DiagOut {
    /// Nothing is printed (debug mode off).
    #[default]
    Off,
    /// Standard error.
    Stderr,
    /// An application-provided writer.
    Writer(Arc<Mutex<dyn Write + Send>>),
    /// Another output, each `telemetry: ` line saying whose it is (`telemetry (otel traces):`).
    Labelled(Arc<DiagOut>, &'static str),
}

impl std::fmt::Debug for DiagOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "Off",
            Self::Stderr => "Stderr",
            Self::Writer(_) => "Writer",
            Self::Labelled(..) => "Labelled",
        })
    }
}

impl DiagOut {
    /// This output, each `telemetry: ` line labelled with `label` (nothing when off).
    pub(crate) fn labelled(&self, label: &'static str) -> Self {
        match self {
            Self::Off => Self::Off,
            other => Self::Labelled(Arc::new(other.clone()), label),
        }
    }

    /// Writes one block of text (a newline is added), stripped of control characters other
    /// than newlines ([`printable`]). Errors are ignored: diagnostics must never fail the
    /// program.
    pub(crate) fn line(&self, text: &str) {
        if matches!(self, Self::Off) {
            return;
        }
        if let Self::Labelled(out, label) = self {
            match text.strip_prefix("telemetry: ") {
                Some(rest) => out.line(&format!("telemetry ({label}): {rest}")),
                None => out.line(text),
            }
            return;
        }
        let text = printable(text, true);
        match self {
            Self::Off | Self::Labelled(..) => {}
            Self::Stderr => {
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "{text}");
            }
            Self::Writer(w) => {
                if let Ok(mut w) = w.lock() {
                    let _ = writeln!(w, "{text}");
                }
            }
        }
    }
}

/// Whether `c` may move the cursor, change the terminal or reorder what is shown: C0 and C1
/// control characters, DEL, and Unicode's bidirectional formatting characters.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` safe for a terminal: control characters removed (escape sequences lose their
/// `ESC` and `BEL` and print as plain text). With `newlines`, `\n` stays (a block of several
/// lines); else `\n`, `\r` and `\t` become a space (text a peer sent, shown on one line).
pub(crate) fn printable(text: &str, newlines: bool) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' if newlines => out.push('\n'),
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let hostile = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{9b}31m\u{7f}ok\u{202e}txt.exe\r\nnext\tcol";
        assert_eq!(
            printable(hostile, false),
            "]0;PWNED[2J31moktxt.exe  next col"
        );
        assert_eq!(printable("a\nb\u{1b}", true), "a\nb");
        assert!(matches!(printable("plain text", false), Cow::Borrowed(_)));
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        DiagOut::Writer(buf.clone()).line("x\u{1b}[2Jy\nz\u{7}");
        assert_eq!(buf.lock().unwrap().as_slice(), b"x[2Jy\nz\n");
    }
}
