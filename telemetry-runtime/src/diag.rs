//! Debug-mode output: every record and every delivery decision, on stderr by default.

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
}

impl std::fmt::Debug for DiagOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "Off",
            Self::Stderr => "Stderr",
            Self::Writer(_) => "Writer",
        })
    }
}

impl DiagOut {
    /// Writes one block of text (a newline is added). Errors are ignored: diagnostics must
    /// never fail the program.
    pub(crate) fn line(&self, text: &str) {
        match self {
            Self::Off => {}
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
