//! Endpoints as they may be shown: userinfo and query strings replaced.
//!
//! Invariant: every place that prints an endpoint (status, verbose lines, `Debug`) prints
//! [`redact_endpoint`]'s text, never the URL itself.

/// What stands in for a removed part.
const MASK: &str = "***";

/// An endpoint URL fit to print: the userinfo (`user:password@`) and the query string and
/// fragment are replaced by `***`; the scheme, host, port and path are kept.
///
/// ```
/// use telemetry_runtime::config::redact_endpoint;
/// assert_eq!(
///     redact_endpoint("https://user:pass@collector.example:8443/v1/records?key=abc#x"),
///     "https://***@collector.example:8443/v1/records?***"
/// );
/// assert_eq!(redact_endpoint("http://127.0.0.1:9/x"), "http://127.0.0.1:9/x");
/// ```
#[must_use]
pub fn redact_endpoint(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end_of_authority);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{MASK}@{host}"),
        None => authority.to_owned(),
    };
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let (path, after) = tail.split_at(path_end);
    let mut out = String::with_capacity(url.len());
    if let Some(s) = scheme {
        out.push_str(s);
        out.push_str("://");
    }
    out.push_str(&host);
    out.push_str(path);
    if !after.is_empty() {
        out.push('?');
        out.push_str(MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_survive() {
        let cases = [
            ("http://user:pass@host/x", "http://***@host/x"),
            ("http://user@host", "http://***@host"),
            ("http://host/p?token=secret", "http://host/p?***"),
            ("http://host?token=secret", "http://host?***"),
            ("http://host/p#frag", "http://host/p?***"),
            ("http://a:b@c@host:1/p@q", "http://***@host:1/p@q"),
            ("user:pass@host/x", "***@host/x"),
            ("", ""),
        ];
        for (url, want) in cases {
            assert_eq!(redact_endpoint(url), want, "{url}");
        }
    }
}
