//! Command lines given as lists of arguments (`["curl", "-u", "admin:hunter2"]`): a secret
//! may sit in the argument after a flag or a header name, which the rules cannot see in one
//! string alone.
//!
//! Invariant: every argument is scrubbed as the tail of `<previous argument> <argument>`
//! (with the password program in front when `-p` is involved), by the very same rules; the
//! tail is used only when the text in front came back unchanged, else the argument is
//! scrubbed alone.

use std::borrow::Cow;

use super::rules::{PASSWORD_P_FLAG, PASSWORD_P_PROGRAMS, PasswordProgram};
use super::{REDACTED, Scrubber, cap};

/// Scrubs the arguments of one command line, in order.
pub(crate) struct ArgScrubber<'s> {
    scrubber: &'s Scrubber,
    /// The previous argument, as given.
    prev: String,
    /// The last program whose `-p` takes a password, on this command line so far.
    program: Option<PasswordProgram>,
}

impl<'s> ArgScrubber<'s> {
    pub(crate) fn new(scrubber: &'s Scrubber) -> Self {
        Self {
            scrubber,
            prev: String::new(),
            program: None,
        }
    }

    /// Scrubs the next argument.
    pub(crate) fn next<'a>(&mut self, arg: &'a str) -> Cow<'a, str> {
        let out = self.scrub(arg);
        if matches!(arg, ";" | "|" | "&" | "&&" | "||") {
            self.program = None;
        } else if let Some(p) = password_program(arg) {
            self.program = Some(p);
        }
        self.prev.clear();
        self.prev.push_str(arg);
        out
    }

    fn scrub<'a>(&self, arg: &'a str) -> Cow<'a, str> {
        if self.prev.is_empty() || arg.is_empty() {
            return self.scrubber.scrub(arg);
        }
        // A bare secret flag: the whole argument is the secret, whatever it looks like.
        if self.scrubber.is_secret_flag(&self.prev) {
            return Cow::Borrowed(REDACTED);
        }
        let p_flag = arg.starts_with(PASSWORD_P_FLAG) || self.prev == PASSWORD_P_FLAG;
        let context = match self.program {
            Some(p) if p_flag => format!("{} {} ", p.name, self.prev),
            _ => format!("{} ", self.prev),
        };
        let joined = format!("{context}{arg}");
        match self
            .scrubber
            .scrub_uncapped(&joined)
            .strip_prefix(context.as_str())
        {
            Some(rest) if rest != arg => cap(Cow::Owned(rest.to_owned())),
            _ => self.scrubber.scrub(arg),
        }
    }
}

/// The password program an argument names (`mysql`, `/usr/bin/sshpass`), if any.
fn password_program(arg: &str) -> Option<PasswordProgram> {
    let base = arg.rsplit(['/', '\\']).next().unwrap_or(arg);
    PASSWORD_P_PROGRAMS.iter().copied().find(|p| p.name == base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub_all(args: &[&str]) -> Vec<String> {
        let scrubber = Scrubber::with_identity(Some("/home/bob"), Some("bob"));
        let mut s = ArgScrubber::new(&scrubber);
        args.iter().map(|a| s.next(a).into_owned()).collect()
    }

    #[test]
    fn secrets_after_flags_go() {
        for (args, want) in [
            (
                &["curl", "-u", "admin:hunter2", "https://x.test/"][..],
                &["curl", "-u", "admin:<redacted>", "https://x.test/"][..],
            ),
            (
                &["curl", "--user", "admin:hunter2"],
                &["curl", "--user", "admin:<redacted>"],
            ),
            (
                &["mysql", "-uroot", "-phunter2", "app"],
                &["mysql", "-uroot", "-p<redacted>", "app"],
            ),
            (
                &["/usr/bin/sshpass", "-p", "hunter2", "ssh", "h"],
                &["/usr/bin/sshpass", "-p", "<redacted>", "ssh", "h"],
            ),
            (
                &["login", "--password", "hunter2", "bob"],
                &["login", "--password", "<redacted>", "<user>"],
            ),
            (
                &["-H", "Cookie:", "session=hunter2"],
                &["-H", "Cookie:", "session=<redacted>"],
            ),
            (
                &["secret_key_base:", "hunter2"],
                &["secret_key_base:", "<redacted>"],
            ),
        ] {
            assert_eq!(scrub_all(args), want, "{args:?}");
        }
    }

    #[test]
    fn near_misses_stay() {
        for args in [
            &["mysql", "-u", "root", "-p", "app"][..],
            &["mkdir", "-p", "build"],
            &["mysql", "-u", "root", ";", "ls", "-pX"],
            &["curl", "-u", "admin"],
            &["curl", "--user-agent", "curl:8"],
            &["user", "guide"],
        ] {
            assert_eq!(scrub_all(args), args, "{args:?}");
        }
    }
}
