//! Which proxy, if any, a request to the endpoint goes through: `HTTPS_PROXY` / `HTTP_PROXY` /
//! `ALL_PROXY` (either case), except for loopback endpoints and hosts `NO_PROXY` lists.
//!
//! `NO_PROXY` (or `no_proxy`, which curl reads first) follows curl: a comma- (or space-)
//! separated list; `*` alone matches every host; a name matches itself and its subdomains,
//! with or without a leading dot (`example.com` and `.example.com` both match
//! `api.example.com`); an IP address matches itself, a CIDR block (`10.0.0.0/8`) the addresses
//! in it; an entry with a port (`host:8080`, `[::1]:8080`) matches only that port. Names
//! compare case-insensitively; a trailing dot is ignored.

use std::net::IpAddr;

use super::env::Env;

/// The proxy URL for `endpoint`, if one applies.
pub(crate) fn proxy_url<'e>(endpoint: &str, env: &'e Env) -> Option<&'e str> {
    let https = endpoint
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    let (host, port) = host_and_port(endpoint, https)?;
    if is_loopback(&host) || no_proxy(env).is_some_and(|list| bypassed(list, &host, port)) {
        return None;
    }
    let keys: &[&str] = if https {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    keys.iter().find_map(|k| env.non_empty(k))
}

fn no_proxy(env: &Env) -> Option<&str> {
    env.non_empty("no_proxy")
        .or_else(|| env.non_empty("NO_PROXY"))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The endpoint's host (lower case, no brackets, no trailing dot) and port (explicit, or the
/// scheme's default).
fn host_and_port(endpoint: &str, https: bool) -> Option<(String, u16)> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = split_host_port(hostport);
    let port = match port {
        Some(p) => p.parse().ok()?,
        None if https => 443,
        None => 80,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some((host, port))
}

/// `host:port`, `[v6]:port`, `[v6]`, `host` or a bare IPv6 address.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(inner) = s.strip_prefix('[') {
        let (host, after) = inner.split_once(']').unwrap_or((inner, ""));
        return (host, after.strip_prefix(':'));
    }
    match s.split_once(':') {
        // More than one colon: a bare IPv6 address, no port.
        Some((_, p)) if p.contains(':') => (s, None),
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    }
}

/// Whether `list` (a `NO_PROXY` value) names `host`:`port`.
fn bypassed(list: &str, host: &str, port: u16) -> bool {
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| entry_matches(entry, host, port))
}

fn entry_matches(entry: &str, host: &str, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    let (pattern, entry_port) = if entry.contains('/') {
        (entry, None) // a CIDR block carries no port
    } else {
        split_host_port(entry)
    };
    if let Some(p) = entry_port
        && p.parse::<u16>().ok() != Some(port)
    {
        return false;
    }
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match pattern.split_once('/') {
            Some((net, bits)) => in_block(ip, net, bits),
            None => pattern.parse::<IpAddr>().is_ok_and(|p| p == ip),
        };
    }
    let name = pattern.trim_start_matches("*.").trim_start_matches('.');
    !name.is_empty()
        && (host == name
            || host
                .strip_suffix(name)
                .is_some_and(|rest| rest.ends_with('.')))
}

/// Whether `ip` lies in the CIDR block `net`/`bits`.
fn in_block(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROXY: &str = "http://proxy.example:3128";

    fn proxied(endpoint: &str, no_proxy: &str) -> bool {
        let env = Env::from_pairs([
            ("HTTP_PROXY", PROXY),
            ("HTTPS_PROXY", PROXY),
            ("NO_PROXY", no_proxy),
        ]);
        proxy_url(endpoint, &env).is_some()
    }

    #[test]
    fn without_no_proxy_the_proxy_applies_except_to_loopback() {
        assert!(proxied("http://collector.example/x", ""));
        assert!(proxied("https://u:p@collector.example:8443/x", ""));
        for lo in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://[::1]:9/",
            "http://LOCALHOST./",
        ] {
            assert!(!proxied(lo, ""), "{lo}");
        }
    }

    #[test]
    fn no_proxy_entries_match_as_curl_does() {
        let url = "http://api.collector.example:8080/v1";
        for list in [
            "*",
            "collector.example",
            ".collector.example",
            "api.collector.example",
            "*.collector.example",
            "other, collector.example",
            "COLLECTOR.EXAMPLE.",
            "collector.example:8080",
            " a b collector.example ",
        ] {
            assert!(!proxied(url, list), "{list:?} should bypass");
        }
        for list in [
            "ector.example",
            "collector.example:9090",
            "other.example",
            "*.other",
            ".",
            "api",
        ] {
            assert!(proxied(url, list), "{list:?} should not bypass");
        }
    }

    #[test]
    fn no_proxy_ip_addresses_and_blocks() {
        assert!(!proxied("http://10.1.2.3/x", "10.1.2.3"));
        assert!(!proxied("http://10.1.2.3:81/x", "10.0.0.0/8"));
        assert!(!proxied("http://10.1.2.3:81/x", "10.1.2.3:81"));
        assert!(proxied("http://10.1.2.3:81/x", "10.1.2.3:82"));
        assert!(proxied("http://11.1.2.3/x", "10.0.0.0/8"));
        assert!(!proxied("http://[fd00::1]/x", "fd00::/8"));
        assert!(!proxied("http://[fd00::1]:8/x", "[fd00::1]:8"));
        assert!(proxied("http://[fd00::1]/x", "fe00::/8"));
        assert!(proxied("http://10.1.2.3/x", "10.0.0.0/99"));
    }

    #[test]
    fn lower_case_no_proxy_is_read_first() {
        let env = Env::from_pairs([("HTTP_PROXY", PROXY), ("no_proxy", "*"), ("NO_PROXY", "x")]);
        assert_eq!(proxy_url("http://collector.example/", &env), None);
        let env = Env::from_pairs([("HTTP_PROXY", PROXY), ("NO_PROXY", "*")]);
        assert_eq!(proxy_url("http://collector.example/", &env), None);
    }
}
