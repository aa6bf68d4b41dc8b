//! A small, real HTTP/1.1 collector for the telemetry tests, the example's end-to-end tests and
//! the benchmarks. Dev-only: never published, never a dependency of a library.
//!
//! The collector listens on `127.0.0.1` (never on any other address) on a port the system
//! picks, serves each TCP connection on its own thread with correct keep-alive, records every
//! request it reads and answers according to a script ([`Reply`]), `200` once the script is
//! exhausted. Dropping the [`Collector`] stops it and closes every connection it holds.
//!
//! ```
//! use std::io::{Read, Write};
//! use telemetry_test_collector::Collector;
//!
//! let collector = Collector::start();
//! let mut stream = std::net::TcpStream::connect(collector.addr()).unwrap();
//! let body = br#"{"records":[{"event":"command"}]}"#;
//! write!(
//!     stream,
//!     "POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
//!     body.len()
//! )
//! .unwrap();
//! stream.write_all(body).unwrap();
//! let mut answer = String::new();
//! stream.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert_eq!(collector.requests().len(), 1);
//! assert_eq!(collector.records()[0]["event"], "command");
//! ```

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The path of [`Collector::url`] (the collector accepts any path and records it).
pub const RECORDS_PATH: &str = "/v1/records";

/// How often blocked reads and stalled connections look at the shutdown flag.
const POLL: Duration = Duration::from_millis(20);
/// Longest request head (request line and headers) accepted; longer gets `431`.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body accepted; larger gets `413`.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// A client that does not read its answers cannot block a connection thread for longer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How the collector answers one request, in the order given to [`Collector::with_script`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Answer with this status (use `200..=599`) and a small JSON body; the connection stays
    /// open unless the client asked for `Connection: close`.
    Status(u16),
    /// Read the request, then never answer: the connection stays open, silent, until the
    /// collector is dropped.
    Stall,
    /// Read the request, then close the connection without answering.
    Close,
    /// Answer with this status and a `Retry-After: <seconds>` header.
    RetryAfterSecs(u16, u64),
    /// Answer with this status and a `Retry-After` header holding this time as an HTTP-date
    /// (`Sun, 06 Nov 1994 08:49:37 GMT`, whole seconds).
    RetryAfterDate(u16, SystemTime),
    /// Answer with this status (a 3xx) and a `Location` header pointing at this URL.
    Redirect(u16, &'static str),
    /// Answer with this status and a body of [`TRICKLE_BYTES`] bytes sent one byte every
    /// [`TRICKLE_INTERVAL`] (a slow or hostile collector).
    Trickle(u16),
    /// Answer with this status, these extra header lines as given (each `Name: value\r\n`,
    /// e.g. a hostile `Retry-After`) and this body instead of the small JSON one (none for
    /// `1xx`, `204` and `304`): a collector that says anything.
    Raw(u16, &'static str, &'static str),
    /// Answer with this status, this `Content-Type` and this body (e.g. an OTLP partial
    /// success in protobuf).
    Body(u16, &'static str, &'static [u8]),
}

/// Length of the body of a [`Reply::Trickle`] answer.
pub const TRICKLE_BYTES: usize = 100;
/// Time between two bytes of a [`Reply::Trickle`] answer.
pub const TRICKLE_INTERVAL: Duration = Duration::from_millis(100);

/// One request the collector read completely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target, e.g. `/v1/records`.
    pub path: String,
    /// Headers in the order received, names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body: `Content-Length` bytes, or the decoded chunks of a chunked body.
    pub body: Vec<u8>,
    /// The status the collector answered with; `None` for [`Reply::Stall`] and
    /// [`Reply::Close`].
    pub answered: Option<u16>,
}

impl Request {
    /// The value of the first header called `name` (any case).
    ///
    /// ```
    /// use telemetry_test_collector::Request;
    /// let req = Request {
    ///     method: "POST".into(),
    ///     path: "/".into(),
    ///     headers: vec![("content-type".into(), "application/json".into())],
    ///     body: Vec::new(),
    ///     answered: Some(200),
    /// };
    /// assert_eq!(req.header("Content-Type"), Some("application/json"));
    /// assert_eq!(req.header("x-api-key"), None);
    /// ```
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    ///
    /// When the body is not valid JSON, with a message showing the body; use
    /// [`try_json`](Self::try_json) to handle that case.
    #[must_use]
    pub fn json(&self) -> Value {
        match self.try_json() {
            Ok(v) => v,
            Err(e) => panic!(
                "request body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            ),
        }
    }

    /// The body parsed as JSON, or the parse error.
    ///
    /// # Errors
    ///
    /// When the body is not valid JSON.
    pub fn try_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The elements of the body's `records` array; empty when the body is not JSON or has no
    /// such array.
    #[must_use]
    pub fn records(&self) -> Vec<Value> {
        match self.try_json() {
            Ok(Value::Object(mut body)) => match body.remove("records") {
                Some(Value::Array(records)) => records,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Whether the collector answered this request with a `2xx` status.
    #[must_use]
    pub fn is_accepted(&self) -> bool {
        self.answered.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What the connection threads share with the [`Collector`] handle.
struct Shared {
    state: Mutex<State>,
    /// Signalled when a request or connection is recorded, and on shutdown.
    changed: Condvar,
    shutdown: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

struct State {
    script: VecDeque<Reply>,
    stall_everything: bool,
    /// Paths answered always the same way, outside the script.
    path_replies: Vec<(String, Reply)>,
    /// Waited before each answer.
    delay: Duration,
    requests: Vec<Request>,
    connections: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

/// A running collector on `127.0.0.1`. Stops when dropped.
///
/// ```
/// use std::time::Duration;
/// use telemetry_test_collector::{Collector, Reply};
///
/// let collector = Collector::with_script(vec![Reply::Status(503), Reply::Close]);
/// assert!(collector.url().starts_with("http://127.0.0.1:"));
/// assert!(collector.url().ends_with("/v1/records"));
/// assert!(!collector.wait_for_requests(1, Duration::from_millis(10)));
/// assert_eq!(collector.connections(), 0);
/// ```
pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// Starts a collector that answers every request with `200`.
    ///
    /// # Panics
    ///
    /// When no port can be bound on 127.0.0.1 or no thread can be started.
    #[must_use]
    pub fn start() -> Self {
        Self::spawn(VecDeque::new(), false)
    }

    /// Starts a collector that answers the first requests as `script` says, one reply per
    /// request in arrival order, and `200` once the script is exhausted.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[must_use]
    pub fn with_script(script: Vec<Reply>) -> Self {
        Self::spawn(script.into(), false)
    }

    /// Starts a collector that accepts connections and reads requests (they show in
    /// [`requests`](Self::requests)) but never answers anything until it is dropped.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[must_use]
    pub fn stalling() -> Self {
        Self::spawn(VecDeque::new(), true)
    }

    fn spawn(script: VecDeque<Reply>, stall_everything: bool) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("test collector: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("test collector: no local address: {e}"));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script,
                stall_everything,
                path_replies: Vec::new(),
                delay: Duration::ZERO,
                requests: Vec::new(),
                connections: 0,
            }),
            changed: Condvar::new(),
            shutdown: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("test-collector-accept".into())
                .spawn(move || accept_loop(&listener, &shared))
                .unwrap_or_else(|e| panic!("test collector: cannot start a thread: {e}"))
        };
        Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The socket address the collector listens on (always 127.0.0.1).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a path.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The endpoint to give a telemetry client: `http://127.0.0.1:PORT/v1/records`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}{RECORDS_PATH}", self.addr)
    }

    /// Waits `delay` before each answer from now on, as a distant collector does (each
    /// connection waits on its own, so concurrent requests overlap). The request is recorded
    /// when it is read, before the wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use telemetry_test_collector::Collector;
    /// let collector = Collector::start();
    /// collector.set_delay(Duration::from_millis(50));
    /// assert_eq!(collector.delay(), Duration::from_millis(50));
    /// ```
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// The wait before each answer (zero unless [`set_delay`](Self::set_delay) was called).
    #[must_use]
    pub fn delay(&self) -> Duration {
        self.shared.lock().delay
    }

    /// Answers every request to `path` (the request target without its query) with `reply`
    /// from now on, outside the script: a receiver that takes some signals and refuses
    /// others.
    ///
    /// ```
    /// use telemetry_test_collector::{Collector, Reply};
    /// let collector = Collector::start();
    /// collector.answer_path("/v1/logs", Reply::Status(404));
    /// ```
    pub fn answer_path(&self, path: &str, reply: Reply) {
        let mut state = self.shared.lock();
        state.path_replies.retain(|(p, _)| p != path);
        state.path_replies.push((path.to_owned(), reply));
    }

    /// Appends replies to the script (they are used after the ones not yet used).
    pub fn push_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().script.extend(replies);
    }

    /// Every request read so far, in arrival order, whatever it was answered.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// The `records` arrays of every request answered with `2xx`, flattened in arrival order.
    #[must_use]
    pub fn records(&self) -> Vec<Value> {
        let state = self.shared.lock();
        state
            .requests
            .iter()
            .filter(|r| r.is_accepted())
            .flat_map(Request::records)
            .collect()
    }

    /// How many TCP connections the collector accepted.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Waits until at least `n` requests were read; `false` when `timeout` passed first.
    #[must_use]
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.requests.len() >= n)
    }

    /// Waits until [`records`](Self::records) holds at least `n` records; `false` when
    /// `timeout` passed first.
    #[must_use]
    pub fn wait_for_records(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| {
            s.requests
                .iter()
                .filter(|r| r.is_accepted())
                .map(|r| r.records().len())
                .sum::<usize>()
                >= n
        })
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if done(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = match self.shared.changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // Wake the accept loop, blocked in `accept`, with a connection to itself.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(acceptor) = self.acceptor.take() {
            // Without a wake-up the acceptor may never return: leave it rather than hang.
            if woke {
                let _ = acceptor.join();
            }
        }
        let workers = std::mem::take(
            &mut *self
                .shared
                .workers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // Every worker sees the flag within `POLL` (or its write times out), so this ends.
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// A loopback URL (`http://127.0.0.1:PORT/v1/records`) with nothing listening: connecting to
/// it is refused. The port is one the system just handed out and released, so another
/// program taking it in between is very unlikely.
///
/// ```
/// let url = telemetry_test_collector::dead_endpoint();
/// let addr = url.trim_start_matches("http://").trim_end_matches("/v1/records");
/// assert!(std::net::TcpStream::connect(addr).is_err());
/// ```
///
/// # Panics
///
/// When no port can be bound on 127.0.0.1.
#[must_use]
pub fn dead_endpoint() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("test collector: cannot bind 127.0.0.1:0: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("test collector: no local address: {e}"))
        .port();
    drop(listener);
    format!("http://127.0.0.1:{port}{RECORDS_PATH}")
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.is_shutdown() {
            break;
        }
        let Ok(stream) = stream else {
            // Transient (e.g. out of file descriptors): back off, keep serving.
            thread::sleep(POLL);
            continue;
        };
        shared.lock().connections += 1;
        shared.changed.notify_all();
        let worker = {
            let shared = Arc::clone(shared);
            thread::Builder::new()
                .name("test-collector-conn".into())
                .spawn(move || serve_connection(stream, &shared))
        };
        // A thread that cannot start drops its stream: the client sees the connection close.
        if let Ok(worker) = worker {
            let mut workers = shared
                .workers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            workers.retain(|w| !w.is_finished());
            workers.push(worker);
        }
    }
}

/// Why a request could not be read.
enum ReadError {
    /// The client closed, the connection failed, or the collector is shutting down.
    Closed,
    /// The bytes are not an acceptable HTTP/1.x request: answer with this status and close.
    Bad(u16),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        Self::Closed
    }
}

/// One server-side connection: the stream and the bytes read but not yet used (pipelining).
struct Conn<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    shared: &'a Shared,
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        shared,
    };
    loop {
        let (mut request, keep_alive) = match conn.read_request() {
            Ok(r) => r,
            Err(ReadError::Closed) => return,
            Err(ReadError::Bad(status)) => {
                let _ = write_response(&mut conn.stream, status, false, "", None);
                conn.lingering_close();
                return;
            }
        };
        let reply = {
            let mut state = shared.lock();
            let by_path = state
                .path_replies
                .iter()
                .find(|(p, _)| request.path == *p || request.path.starts_with(&format!("{p}?")))
                .map(|(_, r)| *r);
            let reply = if state.stall_everything {
                Reply::Stall
            } else if let Some(reply) = by_path {
                reply
            } else {
                state.script.pop_front().unwrap_or(Reply::Status(200))
            };
            request.answered = match reply {
                Reply::Status(s)
                | Reply::RetryAfterSecs(s, _)
                | Reply::RetryAfterDate(s, _)
                | Reply::Redirect(s, _)
                | Reply::Trickle(s)
                | Reply::Raw(s, _, _)
                | Reply::Body(s, _, _) => Some(s),
                Reply::Stall | Reply::Close => None,
            };
            state.requests.push(request);
            (reply, state.delay)
        };
        let (reply, delay) = reply;
        shared.changed.notify_all();
        if !wait(shared, delay) {
            return;
        }
        let extra = match reply {
            Reply::RetryAfterSecs(_, secs) => format!("Retry-After: {secs}\r\n"),
            Reply::RetryAfterDate(_, at) => format!("Retry-After: {}\r\n", http_date(at)),
            Reply::Redirect(_, to) => format!("Location: {to}\r\n"),
            Reply::Raw(_, headers, _) => headers.to_owned(),
            _ => String::new(),
        };
        let body = match reply {
            Reply::Raw(_, _, body) => Some(body),
            _ => None,
        };
        match reply {
            Reply::Status(status)
            | Reply::RetryAfterSecs(status, _)
            | Reply::RetryAfterDate(status, _)
            | Reply::Redirect(status, _)
            | Reply::Raw(status, _, _) => {
                if write_response(&mut conn.stream, status, keep_alive, &extra, body).is_err()
                    || !keep_alive
                {
                    let _ = conn.stream.shutdown(Shutdown::Both);
                    return;
                }
            }
            Reply::Body(status, content_type, body) => {
                let head = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
                    reason(status),
                    body.len(),
                    if keep_alive {
                        ""
                    } else {
                        "Connection: close\r\n"
                    }
                );
                let written = conn
                    .stream
                    .write_all(&[head.as_bytes(), body].concat())
                    .and_then(|()| conn.stream.flush());
                if written.is_err() || !keep_alive {
                    let _ = conn.stream.shutdown(Shutdown::Both);
                    return;
                }
            }
            Reply::Trickle(status) => {
                trickle(&mut conn.stream, shared, status);
                let _ = conn.stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::Stall => {
                let mut state = shared.lock();
                while !shared.is_shutdown() {
                    state = match shared.changed.wait_timeout(state, POLL) {
                        Ok((guard, _)) => guard,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                }
                return;
            }
            Reply::Close => {
                let _ = conn.stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

impl Conn<'_> {
    /// Reads more bytes into `buf`.
    fn fill(&mut self) -> Result<(), ReadError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.shared.is_shutdown() {
                return Err(ReadError::Closed);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes the bytes up to `delimiter` (excluded, the delimiter consumed), reading as
    /// needed; more than `limit` bytes without a delimiter is a bad request.
    fn take_until(
        &mut self,
        delimiter: &[u8],
        limit: usize,
        too_long: u16,
    ) -> Result<Vec<u8>, ReadError> {
        let mut searched: usize = 0;
        loop {
            let start = searched.saturating_sub(delimiter.len() - 1);
            if let Some(pos) = find(&self.buf[start..], delimiter) {
                let end = start + pos;
                let taken = self.buf[..end].to_vec();
                self.buf.drain(..end + delimiter.len());
                return Ok(taken);
            }
            searched = self.buf.len();
            if searched > limit {
                return Err(ReadError::Bad(too_long));
            }
            self.fill()?;
        }
    }

    /// Closes after an error answer without losing it: closing a socket with unread input
    /// makes the kernel send a reset, which can destroy the answer before the client reads
    /// it. So stop writing, then discard what the client still sends, for a short while.
    fn lingering_close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut sink = [0u8; 16 * 1024];
        while Instant::now() < deadline && !self.shared.is_shutdown() {
            match self.stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
    }

    /// Takes exactly `n` bytes, reading as needed.
    fn take_exact(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads one complete request; also says whether the connection stays open after it.
    fn read_request(&mut self) -> Result<(Request, bool), ReadError> {
        let head = self.take_until(b"\r\n\r\n", MAX_HEAD_BYTES, 431)?;
        let head = String::from_utf8(head).map_err(|_| ReadError::Bad(400))?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (Some(method), Some(path), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ReadError::Bad(400));
        };
        if method.is_empty() || path.is_empty() || !version.starts_with("HTTP/1.") {
            return Err(ReadError::Bad(400));
        }
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(ReadError::Bad(400));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(ReadError::Bad(400));
            }
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut request = Request {
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            body: Vec::new(),
            answered: None,
        };
        let connection = request
            .header("connection")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let has_token = |t: &str| connection.split(',').any(|c| c.trim() == t);
        let keep_alive = if version == "HTTP/1.0" {
            has_token("keep-alive")
        } else {
            !has_token("close")
        };
        if request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let chunked = request
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().trim_end().ends_with("chunked"));
        request.body = if chunked {
            self.read_chunked()?
        } else if let Some(length) = request.header("content-length") {
            let length: usize = length.parse().map_err(|_| ReadError::Bad(400))?;
            if length > MAX_BODY_BYTES {
                return Err(ReadError::Bad(413));
            }
            self.take_exact(length)?
        } else {
            Vec::new()
        };
        Ok((request, keep_alive))
    }

    /// Decodes a chunked body (chunk extensions and trailers are read and ignored).
    fn read_chunked(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = self.take_until(b"\r\n", 1024, 400)?;
            let line = String::from_utf8(line).map_err(|_| ReadError::Bad(400))?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| ReadError::Bad(400))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.take_until(b"\r\n", MAX_HEAD_BYTES, 431)?.is_empty() {}
                return Ok(body);
            }
            if body.len().saturating_add(size) > MAX_BODY_BYTES {
                return Err(ReadError::Bad(413));
            }
            body.extend(self.take_exact(size)?);
            if self.take_exact(2)? != b"\r\n" {
                return Err(ReadError::Bad(400));
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Sleeps `delay` in steps of [`POLL`]; `false` when the collector shut down meanwhile.
fn wait(shared: &Shared, delay: Duration) -> bool {
    let deadline = Instant::now() + delay;
    loop {
        if shared.is_shutdown() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(POLL));
    }
}

/// Answers with a body sent one byte at a time, until it is complete, the client goes away,
/// or the collector shuts down.
fn trickle(stream: &mut TcpStream, shared: &Shared, status: u16) {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: \
         {TRICKLE_BYTES}\r\n\r\n",
        reason(status)
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    for _ in 0..TRICKLE_BYTES {
        if !wait(shared, TRICKLE_INTERVAL) || stream.write_all(b" ").is_err() {
            return;
        }
    }
}

/// `at` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), whole seconds.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(telemetry_test_collector::http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
#[must_use]
pub fn http_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3_600, secs % 3_600 / 60, secs % 60);
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        months[(month - 1) as usize]
    )
}

/// Writes a complete answer: status line, headers (`extra` added as they are) and a small JSON
/// body (none for the statuses that must not have one).
fn write_response(
    stream: &mut TcpStream,
    status: u16,
    keep_alive: bool,
    extra: &str,
    body: Option<&str>,
) -> io::Result<()> {
    let body = match body {
        Some(b) => b.to_owned(),
        None if (200..300).contains(&status) => r#"{"status":"ok"}"#.to_owned(),
        None => format!(r#"{{"status":"error","code":{status}}}"#),
    };
    let bodiless = status < 200 || status == 204 || status == 304;
    let mut answer = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if !bodiless {
        answer.push_str("Content-Type: application/json\r\n");
        answer.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if !keep_alive {
        answer.push_str("Connection: close\r\n");
    }
    answer.push_str(extra);
    answer.push_str("\r\n");
    if !bodiless {
        answer.push_str(&body);
    }
    stream.write_all(answer.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests;
