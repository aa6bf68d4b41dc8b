//! `cagent telemetry status|enable|disable|reset-id`, on top of the runtime's status and
//! consent API.

use std::io::{self, Write};

use cli_telemetry::Client;

/// The file in the config dir that holds the persisted choice (`enabled` or `disabled`).
pub use cli_telemetry::files::CONSENT_FILE;

/// Writes the runtime's status report: enabled or not, which source decided and why, the
/// config dir, the anonymous id if one exists, the endpoint and the outbox backlog.
///
/// # Errors
/// Writing `out` failed.
pub fn status(client: &Client, out: &mut dyn Write) -> io::Result<()> {
    write!(out, "{}", client.status())?;
    out.flush()
}

/// Persists the user's choice (disabling also deletes records waiting in the outbox).
///
/// # Errors
/// No config dir, or it cannot be written.
pub fn persist_choice(client: &Client, enabled: bool) -> io::Result<()> {
    client.persist_choice(enabled)
}

/// Deletes the anonymous id and the outbox. Returns the new id, made at once when telemetry
/// is enabled (otherwise none exists until telemetry is enabled and used).
///
/// # Errors
/// No config dir, or a file cannot be removed.
pub fn reset_id(client: &Client) -> io::Result<Option<String>> {
    client.reset()?;
    Ok(client.existing_user_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cli_telemetry::Env;
    use cli_telemetry::config::ConsentSource;

    fn client(dir: &std::path::Path, env: Env) -> Client {
        Client::builder().env(env).config_dir(dir).build()
    }

    #[test]
    fn persisted_choice_is_what_the_runtime_reads() {
        let dir = tempfile::tempdir().unwrap();
        persist_choice(&client(dir.path(), Env::empty()), false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CONSENT_FILE))
                .unwrap()
                .trim(),
            "disabled"
        );
        let c = client(dir.path(), Env::empty());
        assert_eq!(
            (c.is_enabled(), c.consent().source),
            (false, ConsentSource::Persisted)
        );
        persist_choice(&c, true).unwrap();
        let c = client(dir.path(), Env::empty());
        assert_eq!(
            (c.is_enabled(), c.consent().source),
            (true, ConsentSource::Persisted)
        );
    }

    #[test]
    fn status_lists_everything() {
        let dir = tempfile::tempdir().unwrap();
        let id = cli_telemetry::files::load_or_create_user_uuid(Some(dir.path()));
        let env = Env::from_pairs([
            ("TELEMETRY_ENABLED", "false"),
            ("TELEMETRY_ENDPOINT", "http://127.0.0.1:9/x"),
        ]);
        let mut out = Vec::new();
        status(&client(dir.path(), env), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("disabled"), "{text}");
        assert!(text.contains("TELEMETRY_ENABLED"), "{text}");
        assert!(text.contains(&id), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(text.contains("http://127.0.0.1:9/x"), "{text}");
    }

    #[test]
    fn status_redacts_endpoint_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([
            ("TELEMETRY_ENABLED", "false"),
            (
                "TELEMETRY_ENDPOINT",
                "https://me:pa55word@c.invalid/x?api_key=k1",
            ),
        ]);
        let mut out = Vec::new();
        status(&client(dir.path(), env), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("https://***@c.invalid/x?***"), "{text}");
        assert!(!text.contains("pa55word") && !text.contains("k1"), "{text}");
    }

    #[test]
    fn reset_id_replaces_the_id_only_when_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let first = cli_telemetry::files::load_or_create_user_uuid(Some(dir.path()));
        let new = reset_id(&client(dir.path(), Env::empty())).unwrap();
        assert!(new.is_some_and(|n| n != first));
        let off = Env::from_pairs([("TELEMETRY_ENABLED", "false")]);
        assert_eq!(reset_id(&client(dir.path(), off)).unwrap(), None);
        assert!(cli_telemetry::files::read_user_uuid(dir.path()).is_none());
    }
}
