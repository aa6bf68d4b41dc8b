//! The first-run notice: shown once per config dir, before anything leaves the machine.

use std::io::{self, Write};

use crate::client::Client;
use crate::config::{notice_text, truthy_presence};
use crate::files;

/// Marker file in the config dir: its existence means the notice was shown.
pub use crate::files::NOTICE_FILE;

/// What [`Client::first_run_notice`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// Printed now; this process's records are held in the outbox until a later run.
    Shown,
    /// Already shown by an earlier run (or a concurrent process): nothing printed.
    AlreadyShown,
    /// Not shown: telemetry is disabled, a CI service is detected (see `CI_VARIABLES`), the hiding variable is set, or there is
    /// no config dir to remember it in.
    Skipped,
}

impl Client {
    /// Shows the first-run notice on stderr, once per config dir. See
    /// [`first_run_notice_to`](Self::first_run_notice_to).
    pub fn first_run_notice(&self, hide_var: &str) -> NoticeOutcome {
        self.first_run_notice_to(hide_var, &mut io::stderr().lock())
    }

    /// Shows the first-run notice on `out`, once per config dir: what is collected, what is
    /// not, and how to opt out.
    ///
    /// Shown only when telemetry is enabled, no CI service is detected, the application's variable
    /// `hide_var` (e.g. `CAGENT_HIDE_TELEMETRY_BANNER`) is unset, empty, `0` or `false`, and a
    /// config dir is set. The marker file is created atomically (`create_new`), so two
    /// processes starting together print it once. When it is shown, nothing recorded by this
    /// process leaves the machine during this process ([`Client::hold_delivery`]): the records
    /// wait in the outbox, and a later run sends them only if telemetry is still enabled then.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env, NoticeOutcome};
    /// let dir = tempfile::tempdir().unwrap();
    /// let client = Client::builder().app("mytool", "1.0").env(Env::empty()).config_dir(dir.path()).build();
    /// let mut out = Vec::new();
    /// assert_eq!(client.first_run_notice_to("MYTOOL_HIDE_BANNER", &mut out), NoticeOutcome::Shown);
    /// assert!(String::from_utf8(out).unwrap().contains("TELEMETRY_ENABLED=false"));
    /// let mut again = Vec::new();
    /// assert_eq!(client.first_run_notice_to("MYTOOL_HIDE_BANNER", &mut again), NoticeOutcome::AlreadyShown);
    /// assert!(again.is_empty());
    /// ```
    pub fn first_run_notice_to(&self, hide_var: &str, out: &mut dyn Write) -> NoticeOutcome {
        let env = self.env();
        if !self.is_enabled()
            || crate::config::ci::detect(env).is_some()
            || truthy_presence(env.get(hide_var))
        {
            return NoticeOutcome::Skipped;
        }
        let Some(dir) = self.config_dir() else {
            return NoticeOutcome::Skipped;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return NoticeOutcome::Skipped;
        }
        // 0600, never through a planted link; anything already there (even a FIFO or a
        // link) means "shown", without opening it.
        let created = files::create_new(&dir.join(NOTICE_FILE));
        match created {
            Ok(_) => {
                self.hold_delivery();
                let _ = out.write_all(notice_text(self.app_name(), hide_var).as_bytes());
                NoticeOutcome::Shown
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => NoticeOutcome::AlreadyShown,
            // Unwritable config dir: it could never be remembered, so never shown (nor held).
            Err(_) => NoticeOutcome::Skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn client(env: Env, dir: &std::path::Path) -> Client {
        Client::builder()
            .app("tool", "1")
            .env(env)
            .config_dir(dir)
            .build()
    }

    #[test]
    fn shown_once_under_concurrency() {
        let dir = tempfile::tempdir().unwrap();
        let shown = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        let o =
                            client(Env::empty(), dir.path()).first_run_notice_to("HIDE", &mut out);
                        (o, out.len())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(
            shown
                .iter()
                .filter(|(o, _)| *o == NoticeOutcome::Shown)
                .count(),
            1
        );
        assert_eq!(shown.iter().filter(|(_, len)| *len > 0).count(), 1);
    }

    #[test]
    fn skipped_when_disabled_in_ci_or_hidden() {
        for env in [
            Env::from_pairs([("TELEMETRY_ENABLED", "false")]),
            Env::from_pairs([("DO_NOT_TRACK", "1")]),
            Env::from_pairs([("CI", "true")]),
            Env::from_pairs([("CI", "1"), ("TELEMETRY_ENABLED", "true")]),
            Env::from_pairs([("HIDE", "1")]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut out = Vec::new();
            assert_eq!(
                client(env.clone(), dir.path()).first_run_notice_to("HIDE", &mut out),
                NoticeOutcome::Skipped,
                "{env:?}"
            );
            assert!(out.is_empty());
            assert!(!dir.path().join(NOTICE_FILE).exists());
        }
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let o = client(Env::from_pairs([("HIDE", "0")]), dir.path())
            .first_run_notice_to("HIDE", &mut out);
        assert_eq!(o, NoticeOutcome::Shown);
    }
}
