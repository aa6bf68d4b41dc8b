//! The HTTP/1.1 server loop under the connection limits: at most `--max-connections` open
//! connections (more are answered 503 and closed), and a watchdog per connection that closes
//! it when a request head takes longer than `--header-timeout` (counted from the connection's
//! start or from the head's first byte) or when nothing is under way and no byte has moved
//! for `--idle-timeout`. While a request is being handled the watchdog waits: its body has
//! `--body-timeout` (in the routes) and the handlers are bounded.
//!
//! Stopping: the listener closes, idle connections close, requests in flight finish.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tower_service::Service;

use crate::limits::{Limits, REFUSALS};
use crate::shed::{Shed, ShedLog};

/// Serves `app` on `listener` until `stop` completes, then finishes what is in flight.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    max_connections: usize,
    shed: Arc<ShedLog>,
    stop: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS));
    let refusal = refusal_answer(max_connections);
    let graceful = GracefulShutdown::new();
    let http = hyper::server::conn::http1::Builder::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    shed.note(Shed::Accept, &e.to_string());
                    // Out of descriptors: let connections close before trying again.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            shed.note(Shed::Connection, &peer.ip().to_string());
            refuse(stream, &refusals, Arc::clone(&refusal));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: Arc::clone(&activity),
        });
        // Each request carries the peer's address and marks the connection busy until
        // it is answered.
        let (app, watched) = (app.clone(), Arc::clone(&activity));
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let busy = Busy::begin(&watched);
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move {
                let answer = app.call(req).await;
                drop(busy);
                answer
            }
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        let (shed, limits) = (Arc::clone(&shed), limits.clone());
        tokio::spawn(async move {
            let _permit = permit;
            tokio::select! {
                _ = conn => {}
                closed = watchdog(&activity, &limits) => {
                    if closed == Closed::HeaderTimeout {
                        shed.note(Shed::HeaderTimeout, &peer.ip().to_string());
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The answer to a connection over `--max-connections`.
fn refusal_answer(max: usize) -> Arc<[u8]> {
    let body = format!("too many open connections (--max-connections {max}); retry later\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         x-content-type-options: nosniff\r\nretry-after: 1\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into()
}

/// Answers 503 and closes, reading what the client sent meanwhile so the close does not
/// reset the connection before the answer is read; at most [`REFUSALS`] at once, 1 s each.
fn refuse(mut stream: TcpStream, refusals: &Arc<Semaphore>, answer: Arc<[u8]>) {
    let Ok(slot) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _slot = slot;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(&answer).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            let mut read = 0;
            while read < 64 * 1024 {
                match stream.read(&mut sink).await? {
                    0 => break,
                    n => read += n,
                }
            }
            Ok::<_, io::Error>(())
        })
        .await;
    });
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    HeaderTimeout,
    Idle,
}

/// Waits until the connection breaks `--header-timeout` or `--idle-timeout`.
async fn watchdog(a: &Activity, limits: &Limits) -> Closed {
    let header = millis(limits.header_timeout);
    let idle = millis(limits.idle_timeout);
    loop {
        let now = a.now();
        let wait = if a.busy.load(Ordering::Acquire) > 0 {
            header.min(idle)
        } else {
            match a.head.load(Ordering::Acquire) {
                0 => match (a.last.load(Ordering::Acquire) + idle).checked_sub(now) {
                    Some(left) if left > 0 => left,
                    _ => return Closed::Idle,
                },
                start => match (start + header).checked_sub(now) {
                    Some(left) if left > 0 => left,
                    _ => return Closed::HeaderTimeout,
                },
            }
        };
        // A request that starts or ends moves the deadline: wake up then too.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait)) => {}
            () = a.changed.notified() => {}
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2).max(1)
}

/// What a connection is doing, in milliseconds since it was accepted (plus one, so 0 can
/// mean "none"). Invariant: `head` is non-zero only while no request is being handled and
/// a request head has started (or, on a fresh connection, is awaited).
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// The last time a byte was read or written.
    last: AtomicU64,
    /// When the request head now being read started; 0 when none is.
    head: AtomicU64,
    /// Requests being handled.
    busy: AtomicUsize,
    /// Signalled when a request head starts or a request has been handled.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last: AtomicU64::new(1),
            // A fresh connection owes its first request head within --header-timeout.
            head: AtomicU64::new(1),
            busy: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX / 4) + 1
    }

    fn read(&self) {
        let now = self.now();
        self.last.store(now, Ordering::Release);
        if self.busy.load(Ordering::Acquire) == 0
            && self
                .head
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.last.store(self.now(), Ordering::Release);
    }
}

/// Marks a request as being handled, from its head until its answer.
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(a: &Arc<Activity>) -> Self {
        a.busy.fetch_add(1, Ordering::AcqRel);
        a.head.store(0, Ordering::Release);
        Self(Arc::clone(a))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// A TCP stream that reports its reads and writes to its [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
