//! Who may do what: ingest keys (`x-api-key` / `Authorization: Bearer`) and the admin token
//! (Bearer, or the session cookie the login form sets) for the report.
//!
//! The two never mix: an ingest key ships inside public binaries, so it never opens the report.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use sha2::{Digest, Sha256};

/// The name of the report's session cookie.
pub const COOKIE_NAME: &str = "tc_session";

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether an ingest request may store records: always when no key is configured.
///
/// ```
/// use axum::http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("x-api-key", "k1".parse().unwrap());
/// assert!(telemetry_collector::auth::ingest_allowed(&["k1".into()], &h));
/// assert!(!telemetry_collector::auth::ingest_allowed(&["k2".into()], &h));
/// ```
pub fn ingest_allowed(keys: &[String], headers: &HeaderMap) -> bool {
    if keys.is_empty() {
        return true;
    }
    let offered = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| bearer(headers));
    offered.is_some_and(|o| keys.iter().any(|k| same(k.as_bytes(), o.as_bytes())))
}

/// The cookie value for an admin token: a hash, so the token itself is never stored in it.
pub fn session_value(admin_token: &str) -> String {
    let digest = Sha256::digest(format!("telemetry-collector session\0{admin_token}"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a request may read the report: always when no admin token is configured.
pub fn admin_allowed(admin_token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(token) = admin_token else {
        return true;
    };
    if bearer(headers).is_some_and(|b| same(b.as_bytes(), token.as_bytes())) {
        return true;
    }
    let expected = session_value(token);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE_NAME && same(value.as_bytes(), expected.as_bytes()))
}

/// Whether `token` is the admin token (the login form).
pub fn is_admin_token(admin_token: &str, token: &str) -> bool {
    same(admin_token.as_bytes(), token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_and_cookie_open_the_report_but_nothing_else_does() {
        let t = Some("admin-secret");
        assert!(admin_allowed(
            t,
            &headers(&[("authorization", "Bearer admin-secret")])
        ));
        let cookie = format!("a=b; {COOKIE_NAME}={}", session_value("admin-secret"));
        assert!(admin_allowed(t, &headers(&[("cookie", &cookie)])));
        assert!(!admin_allowed(
            t,
            &headers(&[("authorization", "Bearer admin-secreT")])
        ));
        assert!(!admin_allowed(
            t,
            &headers(&[("x-api-key", "admin-secret")])
        ));
        assert!(!admin_allowed(
            t,
            &headers(&[("cookie", "tc_session=admin-secret")])
        ));
        assert!(admin_allowed(None, &HeaderMap::new()));
    }

    #[test]
    fn ingest_accepts_either_header() {
        let keys = ["k".to_owned()];
        assert!(ingest_allowed(
            &keys,
            &headers(&[("authorization", "bearer k")])
        ));
        assert!(!ingest_allowed(&keys, &HeaderMap::new()));
        assert!(ingest_allowed(&[], &HeaderMap::new()));
    }
}
