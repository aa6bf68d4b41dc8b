//! Whether an endpoint can be sent to: an absolute `http://` or `https://` URL with a host.
//!
//! Invariant: an endpoint with a problem is never used (nothing is sent, nothing is queued
//! for it); whoever read it warns once, naming where it came from, and the status report says
//! why nothing is sent.

/// What is wrong with `url` as an endpoint, in words, or `None` when records can be sent
/// to it.
///
/// ```
/// use telemetry_runtime::config::endpoint_problem;
/// assert_eq!(endpoint_problem("http://127.0.0.1:4318/v1/logs"), None);
/// assert!(endpoint_problem("127.0.0.1:4318/v1/logs").unwrap().contains("no scheme"));
/// assert!(endpoint_problem("ftp://host/x").unwrap().contains("ftp"));
/// assert!(endpoint_problem("http://host/a b").unwrap().contains("space"));
/// ```
#[must_use]
pub fn endpoint_problem(url: &str) -> Option<String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains a space or a control character".to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("it has no scheme (expected `http://` or `https://`)".to_owned());
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" => {}
        "https" if cfg!(feature = "tls") => {}
        "https" => {
            return Some("`https://` needs the `tls` feature of cli-telemetry".to_owned());
        }
        _ => {
            return Some(format!(
                "its scheme is not `http` or `https` (`{}`)",
                scheme.escape_debug()
            ));
        }
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') {
        return Some("it has no host".to_owned());
    }
    let uri = match ureq::http::Uri::try_from(url) {
        Ok(uri) => uri,
        Err(e) => return Some(format!("it is not a valid URL ({e})")),
    };
    if uri.host().is_none_or(str::is_empty) {
        return Some("it has no host".to_owned());
    }
    // `http` reads a port it cannot parse as none at all: look at the text.
    let port = match host.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").map(|(_, p)| p),
        None => host.rsplit_once(':').map(|(_, p)| p),
    };
    port.filter(|p| p.parse::<u16>().map_or(true, |n| n == 0))
        .map(|_| "its port is not a number from 1 to 65535".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_with_a_host_are_endpoints() {
        for good in [
            "http://127.0.0.1:4318/v1/logs",
            "HTTP://localhost/x",
            "http://[::1]:8080/events/v1/track",
            "http://user:pass@collector.example/v1?key=a",
            "http://c.example",
        ] {
            assert_eq!(endpoint_problem(good), None, "{good}");
        }
        #[cfg(feature = "tls")]
        assert_eq!(endpoint_problem("https://c.example/v1"), None);
        for (bad, why) in [
            ("127.0.0.1:4318/x", "no scheme"),
            ("localhost:4318/x", "no scheme"),
            ("c.example/v1", "no scheme"),
            ("ftp://h/x", "`ftp`"),
            ("file:///etc/passwd", "`file`"),
            ("http://h/a b", "space"),
            (" http://h/x", "space"),
            ("http://h/x\n", "space"),
            ("http:///x", "no host"),
            ("http://", "no host"),
            ("http://user@/x", "no host"),
            ("http://:80/x", "no host"),
            ("http://h:99999/x", "port"),
            ("http://h:0/x", "port"),
            ("http://h:port/x", "port"),
            ("http://h<>/x", "URL"),
        ] {
            let problem = endpoint_problem(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(problem.contains(why), "{bad:?}: {problem}");
        }
    }
}
