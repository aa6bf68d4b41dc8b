//! Bytes on the wire: one reused ureq agent that POSTs a JSON body and reads the answer to the
//! end (so the keep-alive connection is reused).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Duration as WireDuration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport as Wire,
};

use crate::config::Env;
use crate::limits::MAX_RETRY_AFTER;

/// The collector's answer to one POST, read to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The response body, cut at [`MAX_ANSWER_BYTES`].
    pub(crate) body: Vec<u8>,
    /// A valid `Retry-After` (delta-seconds or HTTP-date), as the time to wait from now.
    pub(crate) retry_after: Option<Duration>,
    /// The answer's `Content-Type`, when it is readable text.
    pub(crate) content_type: Option<String>,
}

/// The most of an answer's body that is kept; a collector's answer is small.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// A configured HTTP transport for one endpoint.
pub(crate) struct Transport {
    agent: ureq::Agent,
    endpoint: String,
    user_agent: String,
    /// Extra request headers: the API key, `OTEL_EXPORTER_OTLP_HEADERS`. Secrets: never
    /// printed (see the `Debug` impl).
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Transport")
            .field("endpoint", &crate::config::redact_endpoint(&self.endpoint))
            .field("user_agent", &self.user_agent)
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(
        endpoint: String,
        user_agent: String,
        headers: Vec<(String, String)>,
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
            .proxy(proxy_for(&endpoint, env));
        let config = with_tls(config).build();
        Self {
            agent: ureq::Agent::with_parts(
                config,
                WholeRequests::default(),
                OnceResolver::default(),
            ),
            endpoint,
            user_agent,
            headers,
        }
    }

    /// The endpoint URL.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// POSTs `body` and reads the whole answer, all within `timeout` (connecting, sending,
    /// the answer's head and its body: a body that trickles in fails at `timeout`). `Err`: no
    /// complete answer (refused, DNS, timeout, I/O error), with the reason.
    /// `content_encoding` (`gzip`) is sent as `Content-Encoding` when the body is compressed.
    pub(crate) fn post(
        &self,
        body: &[u8],
        content_type: &str,
        content_encoding: Option<&str>,
        timeout: Duration,
    ) -> Result<Reply, String> {
        let mut req = self
            .agent
            .post(&self.endpoint)
            .header("Content-Type", content_type)
            .header("User-Agent", &self.user_agent);
        if let Some(encoding) = content_encoding {
            req = req.header("Content-Encoding", encoding);
        }
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let req = req.config().timeout_global(Some(timeout)).build();
        let mut resp = req.send(body).map_err(|e| peer_text(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Read to the end, so the connection can be reused; a larger answer is cut off, and
        // anything else that stops the read (the timeout above) means no answer.
        let body = match resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
        {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(_)) => Vec::new(),
            Err(e) => return Err(format!("reading the answer: {}", peer_text(&e))),
        };
        Ok(Reply {
            status,
            body,
            retry_after,
            content_type,
        })
    }
}

/// An error's text, which may quote what the peer sent, on one line without control
/// characters.
fn peer_text(e: &ureq::Error) -> String {
    crate::diag::printable(&e.to_string(), false).into_owned()
}

type AgentConfig = ureq::config::ConfigBuilder<ureq::typestate::AgentScope>;

/// Which certificates HTTPS trusts: the webpki roots compiled in (feature `tls`), or the
/// platform's verifier and trust store (feature `tls-platform-verifier`), so a corporate CA
/// installed on the machine works.
#[cfg(feature = "tls")]
fn with_tls(config: AgentConfig) -> AgentConfig {
    let tls = ureq::tls::TlsConfig::builder();
    #[cfg(feature = "tls-platform-verifier")]
    let tls = tls.root_certs(ureq::tls::RootCerts::PlatformVerifier);
    config.tls_config(tls.build())
}

/// Without TLS, only plain `http://` endpoints work.
#[cfg(not(feature = "tls"))]
fn with_tls(config: AgentConfig) -> AgentConfig {
    config
}

/// Parses a `Retry-After` value: delta-seconds (`120`) or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), as the time to wait from `now` (zero for a date that
/// passed), at most [`MAX_RETRY_AFTER`]. Anything else is `None`. Never panics, whatever the
/// value (no unchecked time arithmetic).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(parse_imf_fixdate(value)?))?;
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Seconds since the Unix epoch of an IMF-fixdate (RFC 9110, section 5.6.7).
fn parse_imf_fixdate(s: &str) -> Option<u64> {
    let (day_name, rest) = s.split_once(", ")?;
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    if !days.contains(&day_name) {
        return None;
    }
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| *m == month)? as u64 + 1;
    let num = |t: &str, len: usize| -> Option<u64> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let (day, year) = (num(day, 2)?, num(year, 4)?);
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, sec] = hms[..] else { return None };
    let (h, m, sec) = (num(h, 2)?, num(m, 2)?, num(sec, 2)?);
    if !(1..=31).contains(&day) || year < 1970 || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for years from 1970.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3_600 + m * 60 + sec)
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

/// ureq's own connector chain (proxies, TCP, TLS), each connection it makes wrapped in
/// [`WholeRequest`].
#[derive(Debug, Default)]
struct WholeRequests(DefaultConnector);

impl Connector for WholeRequests {
    type Out = WholeRequest;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<WholeRequest>, ureq::Error> {
        Ok(self.0.connect(details, chained)?.map(|inner| WholeRequest {
            inner,
            held: Vec::new(),
            timeout: NextTimeout::default(),
            answered: false,
        }))
    }
}

/// A connection that sends a request in one write. ureq transmits the head of a request and
/// then its body, each with its own `write`: the collector wakes up twice per record, and on
/// loopback that alone cost the client 1.18x a raw socket (BENCHMARKS.md, benchmark 3). This
/// transport keeps what ureq transmits and hands it on when ureq next waits for input (the
/// answer), or as soon as more is kept than the inner output buffer holds (then in pieces of
/// that size, so a large body is never held whole). It sits above the whole chain, TLS
/// included: for https the head and body go out as one TLS record, the same gain.
///
/// It also spares one of the two probes ureq makes of a kept-alive socket per request (three
/// system calls each): ureq probes when the connection goes back to the pool, right after the
/// answer was read, and again when it takes the connection out for the next request. Only the
/// second one decides anything (bytes or a close that arrived in between show there too), so
/// the first is answered without touching the socket.
///
/// And it rounds the time left, which ureq hands down with every write and wait, down to
/// [`TIMEOUT_GRAIN`]. ureq's TCP transport sets the socket's timeout again whenever that value
/// changes, and with an overall timeout it changes on every call: a `setsockopt` per write and
/// per wait. Rounded, it stays the same over many requests; a timeout may fire up to one grain
/// early, never late.
#[derive(Debug)]
struct WholeRequest {
    inner: Box<dyn Wire>,
    /// Bytes transmitted by ureq and not yet written.
    held: Vec<u8>,
    /// The timeout of the latest transmit, used when the held bytes are written.
    timeout: NextTimeout,
    /// Input was awaited since the last [`Wire::is_open`]: the next one is the pool's probe
    /// on taking the connection back, not the one before reusing it.
    answered: bool,
}

/// The step the time left is rounded down to; see [`WholeRequest`].
const TIMEOUT_GRAIN: std::time::Duration = std::time::Duration::from_millis(10);

/// `timeout` with the time left rounded down to [`TIMEOUT_GRAIN`], unless that would leave
/// less than one grain.
fn coarse(mut timeout: NextTimeout) -> NextTimeout {
    if let WireDuration::Exact(left) = timeout.after
        && left >= 2 * TIMEOUT_GRAIN
    {
        let grains = left.as_nanos() / TIMEOUT_GRAIN.as_nanos();
        let grains = u32::try_from(grains).unwrap_or(u32::MAX);
        timeout.after = WireDuration::Exact(TIMEOUT_GRAIN.saturating_mul(grains));
    }
    timeout
}

impl WholeRequest {
    /// Writes the held bytes through the inner transport, in pieces that fit its output buffer.
    fn flush(&mut self) -> Result<(), ureq::Error> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let mut result = Ok(());
        for piece in held.chunks(self.inner.buffers().output().len().max(1)) {
            self.inner.buffers().output()[..piece.len()].copy_from_slice(piece);
            result = self.inner.transmit_output(piece.len(), self.timeout);
            if result.is_err() {
                break;
            }
        }
        // Keep the allocation for the next request on this connection.
        self.held = held;
        self.held.clear();
        result
    }
}

impl Wire for WholeRequest {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let output = self.inner.buffers().output();
        let Some(bytes) = output.get(..amount) else {
            // Not ureq's contract; let the inner transport report it as it does.
            self.flush()?;
            return self.inner.transmit_output(amount, timeout);
        };
        self.held.extend_from_slice(bytes);
        self.timeout = coarse(timeout);
        if self.held.len() >= output.len() {
            self.flush()?;
        }
        Ok(())
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush()?;
        self.answered = true;
        self.inner.maybe_await_input(coarse(timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush()?;
        self.answered = true;
        self.inner.await_input(coarse(timeout))
    }

    fn is_open(&mut self) -> bool {
        // Bytes still held mean a request was abandoned half way: not a connection to reuse.
        if !self.held.is_empty() {
            return false;
        }
        // The probe before reuse always follows; see the type's documentation.
        std::mem::take(&mut self.answered) || self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// A proxy from the environment snapshot, never for loopback endpoints nor hosts `NO_PROXY`
/// lists (see `config::proxy_url` for the rules, curl's).
fn proxy_for(endpoint: &str, env: &Env) -> Option<ureq::Proxy> {
    crate::config::proxy_url(endpoint, env).and_then(|p| ureq::Proxy::new(p).ok())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ureq::unversioned::transport::LazyBuffers;

    use super::*;

    /// An inner transport that records each write it is asked for.
    #[derive(Debug)]
    struct Recorder {
        buffers: LazyBuffers,
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        /// What a probe of the socket finds.
        open: bool,
    }

    impl Wire for Recorder {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            let bytes = self.buffers.output()[..amount].to_vec();
            self.writes.lock().unwrap().push(bytes);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            Ok(true)
        }
        fn is_open(&mut self) -> bool {
            self.open
        }
    }

    fn whole(output_size: usize) -> (WholeRequest, Arc<Mutex<Vec<Vec<u8>>>>) {
        let writes = Arc::default();
        let inner = Recorder {
            buffers: LazyBuffers::new(64, output_size),
            writes: Arc::clone(&writes),
            open: true,
        };
        let conn = WholeRequest {
            inner: Box::new(inner),
            held: Vec::new(),
            timeout: NextTimeout::default(),
            answered: false,
        };
        (conn, writes)
    }

    /// What ureq does: write into the output buffer, then transmit that much.
    fn send(conn: &mut WholeRequest, bytes: &[u8]) {
        conn.buffers().output()[..bytes.len()].copy_from_slice(bytes);
        conn.transmit_output(bytes.len(), NextTimeout::default())
            .unwrap();
    }

    #[test]
    fn head_and_body_go_out_in_one_write_before_the_answer_is_awaited() {
        let (mut conn, writes) = whole(1024);
        send(&mut conn, b"POST / HTTP/1.1\r\ncontent-length: 2\r\n\r\n");
        send(&mut conn, b"{}");
        assert!(writes.lock().unwrap().is_empty());
        assert!(
            !conn.is_open(),
            "a half-sent request is no connection to reuse"
        );
        conn.await_input(NextTimeout::default()).unwrap();
        assert_eq!(
            *writes.lock().unwrap(),
            vec![b"POST / HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}".to_vec()]
        );
        assert!(conn.is_open());
        // The next request on the same connection starts from nothing held.
        send(&mut conn, b"GET / HTTP/1.1\r\n\r\n");
        conn.maybe_await_input(NextTimeout::default()).unwrap();
        assert_eq!(writes.lock().unwrap()[1], b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn a_large_body_is_written_in_pieces_of_the_output_buffer() {
        let (mut conn, writes) = whole(16);
        let body: Vec<u8> = (0..100u8).collect();
        for piece in body.chunks(16) {
            send(&mut conn, piece);
        }
        conn.await_input(NextTimeout::default()).unwrap();
        let writes = writes.lock().unwrap();
        assert!(writes.iter().all(|w| w.len() <= 16));
        assert_eq!(writes.concat(), body);
    }

    #[test]
    fn only_the_probe_before_reuse_touches_the_socket() {
        let inner = Recorder {
            buffers: LazyBuffers::new(64, 64),
            writes: Arc::default(),
            open: false,
        };
        let mut conn = WholeRequest {
            inner: Box::new(inner),
            held: Vec::new(),
            timeout: NextTimeout::default(),
            answered: false,
        };
        send(&mut conn, b"GET / HTTP/1.1\r\n\r\n");
        conn.await_input(NextTimeout::default()).unwrap();
        // Back to the pool right after the answer: not probed.
        assert!(conn.is_open());
        // Out of the pool for the next request: probed, and the closed socket shows.
        assert!(!conn.is_open());
        assert!(!conn.is_open());
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO),
            "a date that passed"
        );
        assert_eq!(parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        // Hostile values: capped at a day, never a panic or an overflow.
        for huge in [
            "86401",
            "99999999999999999999",
            "18446744073709551615",
            "9223372036854775808",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(
                parse_retry_after(huge, now),
                Some(MAX_RETRY_AFTER),
                "{huge:?}"
            );
        }
        assert_eq!(
            parse_retry_after(&"9".repeat(4096), SystemTime::now()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_imf_fixdate("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        for bad in [
            "",
            "-5",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn the_time_left_is_rounded_down_to_the_grain_and_never_to_nothing() {
        let left = |ms: u64| NextTimeout {
            after: WireDuration::Exact(std::time::Duration::from_micros(ms)),
            ..NextTimeout::default()
        };
        let after = |t: NextTimeout| *t.after;
        assert_eq!(
            after(coarse(left(4_999_123))),
            std::time::Duration::from_millis(4_990)
        );
        assert_eq!(
            after(coarse(left(4_991_000))),
            std::time::Duration::from_millis(4_990)
        );
        // Under two grains the time left is passed on as it is.
        assert_eq!(
            after(coarse(left(15_500))),
            std::time::Duration::from_micros(15_500)
        );
        assert_eq!(after(coarse(left(0))), std::time::Duration::ZERO);
        let never = NextTimeout::default();
        assert!(coarse(never).after.is_not_happening());
    }
}
