//! Who may do what: ingest keys (`x-api-key` / `Authorization: Bearer`) and the admin token
//! (Bearer, or the session cookie the login form sets, see `login.rs`) for the report.
//!
//! The two never mix: an ingest key ships inside public binaries, so it never opens the report.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, HeaderValue};

use crate::login::Login;

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
/// use axum::http::{HeaderMap, HeaderValue};
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

/// The session ids a request's cookies offer.
pub fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// What a request may do with the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No admin token is configured, or the request showed an open session or the token.
    Open,
    /// No session and no (or a wrong) token.
    Denied,
    /// Its address failed too often: try again after this long.
    Throttled(Duration),
}

/// Whether a request from `ip` may read the report: an open session cookie always may; a
/// Bearer token is checked unless the address is throttled, and a wrong one counts as a
/// failed login.
pub fn admin_access(
    admin_token: Option<&str>,
    login: &Login,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Access {
    let Some(token) = admin_token else {
        return Access::Open;
    };
    if session_ids(headers).any(|id| login.valid(id)) {
        return Access::Open;
    }
    let Some(offered) = bearer(headers) else {
        return Access::Denied;
    };
    if let Some(wait) = login.blocked(ip) {
        return Access::Throttled(wait);
    }
    if same(offered.as_bytes(), token.as_bytes()) {
        login.succeeded(ip);
        Access::Open
    } else {
        login.failed(ip);
        Access::Denied
    }
}

/// The `Set-Cookie` value of a new session: `HttpOnly`, `SameSite=Strict`, `Max-Age` the
/// session's life, and `Secure` when asked.
///
/// ```
/// use std::time::Duration;
/// let v = telemetry_collector::auth::set_cookie("ab12", Duration::from_secs(60), true);
/// assert_eq!(v, "tc_session=ab12; HttpOnly; SameSite=Strict; Path=/; Max-Age=60; Secure");
/// ```
pub fn set_cookie(id: &str, ttl: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE_NAME}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        ttl.as_secs()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    HeaderValue::from_static(if secure {
        "tc_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
    } else {
        "tc_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    })
}

/// Whether a TLS proxy says the request came over HTTPS (`X-Forwarded-Proto: https` or
/// `Forwarded: proto=https`). Only used to add `Secure` to a cookie, so a client claiming
/// it falsely gains nothing.
pub fn forwarded_https(headers: &HeaderMap) -> bool {
    let xfp = headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([';', ',']))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(k, v)| {
            k.trim().eq_ignore_ascii_case("proto")
                && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
        });
    xfp || forwarded
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
    fn sessions_and_the_bearer_token_open_the_report_but_nothing_else_does() {
        let t = Some("admin-secret-0123456789");
        let login = Login::new(Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let access = |h: &HeaderMap| admin_access(t, &login, h, ip);
        let ok = headers(&[("authorization", "Bearer admin-secret-0123456789")]);
        assert_eq!(access(&ok), Access::Open);
        let id = login.open().unwrap();
        let cookie = format!("a=b; {COOKIE_NAME}={id}");
        assert_eq!(access(&headers(&[("cookie", &cookie)])), Access::Open);
        assert_eq!(
            access(&headers(&[("x-api-key", "admin-secret-0123456789")])),
            Access::Denied
        );
        let forged = format!("{COOKIE_NAME}=admin-secret-0123456789");
        assert_eq!(access(&headers(&[("cookie", &forged)])), Access::Denied);
        let wrong = headers(&[("authorization", "Bearer admin-secret-012345678X")]);
        for _ in 0..=crate::login::FREE_FAILURES {
            assert_eq!(access(&wrong), Access::Denied);
        }
        assert!(
            matches!(access(&ok), Access::Throttled(_)),
            "blocked after the failures"
        );
        assert_eq!(
            access(&headers(&[("cookie", &cookie)])),
            Access::Open,
            "sessions still work"
        );
        assert_eq!(
            admin_access(None, &login, &HeaderMap::new(), ip),
            Access::Open
        );
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
