//! `cagent telemetry status|enable|disable|reset-id`.

use std::io::{self, Write};
use std::path::Path;

use telemetry::Client;

/// The persisted choice file the runtime reads (`enabled` or `disabled`) in the config dir.
pub const CONSENT_FILE: &str = "telemetry-consent";

/// Writes the status report of `client` to `out`.
///
/// # Errors
/// Writing `out` failed.
pub fn status(client: &Client, endpoint_env: Option<&str>, out: &mut dyn Write) -> io::Result<()> {
    let consent = client.consent();
    let state = if consent.enabled {
        "enabled"
    } else {
        "disabled"
    };
    writeln!(out, "Telemetry:    {state}")?;
    writeln!(out, "Source:       {}", consent.source)?;
    writeln!(out, "Reason:       {}", consent.reason)?;
    match client.config_dir() {
        Some(dir) => {
            writeln!(out, "Config dir:   {}", dir.display())?;
            match telemetry::read_user_uuid(dir) {
                Some(id) => writeln!(out, "Anonymous id: {id}")?,
                None => writeln!(out, "Anonymous id: none yet")?,
            }
        }
        None => writeln!(out, "Config dir:   none (pass --config-dir)")?,
    }
    match (client.endpoint(), endpoint_env) {
        (Some(url), _) => writeln!(out, "Endpoint:     {url}")?,
        (None, Some(url)) if client.is_debug() => {
            writeln!(
                out,
                "Endpoint:     {url} (not used: debug mode prints records instead)"
            )?;
        }
        (None, Some(url)) => {
            writeln!(out, "Endpoint:     {url} (not used: telemetry is disabled)")?
        }
        (None, None) => writeln!(
            out,
            "Endpoint:     none (records are not sent; set TELEMETRY_ENDPOINT to send them)"
        )?,
    }
    Ok(())
}

/// Persists the user's choice in `config_dir`.
///
/// # Errors
/// The directory or the file could not be written.
pub fn persist_choice(config_dir: &Path, enabled: bool) -> io::Result<()> {
    std::fs::create_dir_all(config_dir)?;
    let value = if enabled { "enabled\n" } else { "disabled\n" };
    std::fs::write(config_dir.join(CONSENT_FILE), value)
}

/// Deletes the anonymous id; returns whether there was one.
///
/// # Errors
/// The file exists but could not be removed.
pub fn reset_id(config_dir: &Path) -> io::Result<bool> {
    match std::fs::remove_file(config_dir.join(telemetry::USER_UUID_FILE)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry::{ConsentSource, Env};

    #[test]
    fn persisted_choice_is_what_the_runtime_reads() {
        let dir = tempfile::tempdir().unwrap();
        let build = || {
            Client::builder()
                .env(Env::empty())
                .config_dir(dir.path())
                .build()
        };
        persist_choice(dir.path(), false).unwrap();
        let c = build();
        assert_eq!(
            (c.is_enabled(), c.consent().source),
            (false, ConsentSource::Persisted)
        );
        persist_choice(dir.path(), true).unwrap();
        let c = build();
        assert_eq!(
            (c.is_enabled(), c.consent().source),
            (true, ConsentSource::Persisted)
        );
    }

    #[test]
    fn status_lists_everything() {
        let dir = tempfile::tempdir().unwrap();
        let id = telemetry::load_or_create_user_uuid(Some(dir.path()));
        let client = Client::builder()
            .env(Env::from_pairs([("TELEMETRY_ENABLED", "false")]))
            .config_dir(dir.path())
            .build();
        let mut out = Vec::new();
        status(&client, Some("http://127.0.0.1:9/x"), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Telemetry:    disabled"), "{text}");
        assert!(text.contains("Source:       environment variable TELEMETRY_ENABLED"));
        assert!(text.contains(&format!("Anonymous id: {id}")));
        assert!(text.contains(&dir.path().display().to_string()));
        assert!(text.contains("http://127.0.0.1:9/x (not used"));
    }

    #[test]
    fn reset_id_removes_the_id() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!reset_id(dir.path()).unwrap());
        let first = telemetry::load_or_create_user_uuid(Some(dir.path()));
        assert!(reset_id(dir.path()).unwrap());
        assert!(telemetry::read_user_uuid(dir.path()).is_none());
        assert_ne!(telemetry::load_or_create_user_uuid(Some(dir.path())), first);
    }
}
