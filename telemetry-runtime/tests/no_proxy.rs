//! `NO_PROXY` against a real loopback "proxy": a listener on 127.0.0.1 that records every
//! connection made to it and closes it. The endpoint's host is `collector.invalid`, a name
//! that never resolves: a request either goes through the proxy (the listener sees it) or
//! fails at name resolution without touching any network.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use telemetry_runtime::{Client, Env};

/// A listener that counts connections and closes each at once.
struct Proxy {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Proxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { url, connections }
    }

    /// Sends one record with `no_proxy` as `NO_PROXY` (unset when `None`) and returns how many
    /// connections the proxy saw.
    fn connections_for(&self, endpoint: &str, no_proxy: Option<(&str, &str)>) -> usize {
        let before = self.connections.load(Ordering::SeqCst);
        let mut env = Env::from_pairs([
            ("HTTP_PROXY", self.url.as_str()),
            ("TELEMETRY_ENDPOINT", endpoint),
        ]);
        if let Some((var, value)) = no_proxy {
            env = env.with(var, value);
        }
        let client = Client::builder()
            .env(env)
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(3))
            .build();
        client.track_command("run", ["x"]);
        self.connections.load(Ordering::SeqCst) - before
    }
}

const ENDPOINT: &str = "http://collector.invalid:4318/v1/records";

#[test]
fn without_no_proxy_the_request_goes_through_the_proxy() {
    let proxy = Proxy::start();
    assert_eq!(proxy.connections_for(ENDPOINT, None), 1);
    assert_eq!(
        proxy.connections_for(ENDPOINT, Some(("NO_PROXY", "other.example"))),
        1
    );
    assert_eq!(
        proxy.connections_for(ENDPOINT, Some(("NO_PROXY", "collector.invalid:80"))),
        1
    );
}

#[test]
fn no_proxy_star_host_suffix_and_port_bypass_the_proxy() {
    let proxy = Proxy::start();
    for (var, list) in [
        ("NO_PROXY", "*"),
        ("no_proxy", "*"),
        ("NO_PROXY", "collector.invalid"),
        ("NO_PROXY", ".invalid"),
        ("NO_PROXY", "example.com, invalid"),
        ("NO_PROXY", "collector.invalid:4318"),
    ] {
        assert_eq!(
            proxy.connections_for(ENDPOINT, Some((var, list))),
            0,
            "{var}={list}"
        );
    }
}
