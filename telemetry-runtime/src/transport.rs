//! Bytes on the wire: one reused ureq agent that POSTs a JSON body and reads the answer to the
//! end (so the keep-alive connection is reused).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::Env;

/// What a POST came back with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PostResult {
    /// The collector answered with this status.
    Status(u16),
    /// No answer: connection refused, DNS, timeout, I/O error.
    Failed(String),
}

/// A configured HTTP transport for one endpoint.
#[derive(Debug)]
pub(crate) struct Transport {
    agent: ureq::Agent,
    endpoint: String,
    user_agent: String,
    api_key: Option<(String, String)>,
}

impl Transport {
    pub(crate) fn new(
        endpoint: String,
        user_agent: String,
        api_key: Option<(String, String)>,
        connect_timeout: Duration,
        timeout: Duration,
        env: &Env,
    ) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(user_agent.as_str())
            .max_redirects(0)
            .proxy(proxy_for(&endpoint, env))
            .build();
        Self {
            agent: ureq::Agent::with_parts(
                config,
                DefaultConnector::default(),
                OnceResolver::default(),
            ),
            endpoint,
            user_agent,
            api_key,
        }
    }

    /// The endpoint URL.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// POSTs `body` (already serialized JSON) and reads the whole answer.
    pub(crate) fn post(&self, body: &[u8]) -> PostResult {
        let mut req = self
            .agent
            .post(&self.endpoint)
            .header("Content-Type", "application/json")
            .header("User-Agent", &self.user_agent);
        if let Some((name, value)) = &self.api_key {
            req = req.header(name.as_str(), value.as_str());
        }
        match req.send(body) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                // Drain the body so the connection goes back to the pool. The answer of a
                // collector is small; a huge one is cut off rather than read forever.
                let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
                PostResult::Status(status)
            }
            Err(e) => PostResult::Failed(e.to_string()),
        }
    }
}

/// Resolves each host (the endpoint's, a proxy's) once per transport, with ureq's resolver and
/// its timeout; later requests reuse the addresses. ureq resolves the host before it looks for
/// a kept-alive connection, and with a timeout its resolver starts a thread per lookup: that
/// thread was most of the cost of a record sent over a reused connection (see BENCHMARKS.md).
/// A process lives too short for DNS changes to matter, and a dead address ends its network
/// attempts anyway (the per-process budget).
#[derive(Debug, Default)]
struct OnceResolver {
    known: Mutex<Vec<(String, ResolvedSocketAddrs)>>,
}

impl Resolver for OnceResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map_or("", |a| a.as_str())
        );
        let known = || self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, addrs)) = known().iter().find(|(k, _)| *k == key) {
            return Ok(addrs.clone());
        }
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        let mut known = known();
        if known.len() < 4 {
            known.push((key, addrs.clone()));
        }
        Ok(addrs)
    }
}

/// A proxy from the environment snapshot, never for loopback endpoints.
fn proxy_for(endpoint: &str, env: &Env) -> Option<ureq::Proxy> {
    let host = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]") {
        return None;
    }
    let https = endpoint.starts_with("https://");
    let keys: &[&str] = if https {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    keys.iter()
        .find_map(|k| env.non_empty(k))
        .and_then(|p| ureq::Proxy::new(p).ok())
}
