//! The current client: scoped to a thread (or a future) when set, else the global one.
//!
//! Invariants: like `log` and `tracing`, libraries instrument and the application decides.
//! Until the application installs a client with [`set_global`], the global client is disabled:
//! tracked calls record nothing, write nothing and send nothing, whatever the environment says.
//! [`MAYBE_ENABLED`] counts the clients that may be current and enabled.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use crate::client::Client;

static GLOBAL: OnceLock<Client> = OnceLock::new();

/// Count of clients that may be current and enabled: the global one when the application
/// installed an enabled one, plus every enabled scoped client. Zero means every tracked call
/// can skip telemetry after one relaxed load.
static MAYBE_ENABLED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SCOPED: RefCell<Vec<Client>> = const { RefCell::new(Vec::new()) };
}

fn on_global_set(client: &Client) {
    if client.is_recording() {
        MAYBE_ENABLED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The global client: the one the application installed with [`set_global`], else a
/// disabled client ([`Client::disabled`]). A library never turns telemetry on by itself: an
/// application that wants it installs its client, e.g. `set_global(Client::from_env())`.
///
/// ```
/// // No application client installed: tracked calls take the disabled path.
/// assert!(!telemetry_runtime::global().is_enabled());
/// ```
pub fn global() -> &'static Client {
    GLOBAL.get_or_init(Client::disabled)
}

/// Installs the application's client as the global one. Call it early in `main`, before any
/// tracked function runs; afterwards (or once [`global`] gave out the disabled default) it
/// fails and gives the client back.
///
/// ```
/// use telemetry_runtime::{Client, Env};
/// let client = Client::builder().app("mytool", "1.0").env(Env::empty()).build();
/// let _ = telemetry_runtime::set_global(client);
/// ```
///
/// # Errors
/// The global client was already initialised; the argument is returned.
pub fn set_global(client: Client) -> Result<(), Client> {
    let mut installed = false;
    let result = GLOBAL.get_or_init(|| {
        installed = true;
        client.clone()
    });
    if installed {
        on_global_set(result);
        Ok(())
    } else {
        Err(client)
    }
}

/// Runs `f` with `client` as the current client of this thread. Scopes nest; the previous
/// client is current again when `f` returns or panics.
///
/// ```
/// use telemetry_runtime::{Client, current, with_client};
/// let off = Client::disabled();
/// with_client(&off, || assert!(!current().is_enabled()));
/// ```
pub fn with_client<R>(client: &Client, f: impl FnOnce() -> R) -> R {
    struct Pop(bool);
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPED.with(|s| s.borrow_mut().pop());
            if self.0 {
                MAYBE_ENABLED.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    let enabled = client.is_recording();
    if enabled {
        MAYBE_ENABLED.fetch_add(1, Ordering::Relaxed);
    }
    SCOPED.with(|s| s.borrow_mut().push(client.clone()));
    let _pop = Pop(enabled);
    f()
}

/// The current client: the innermost scoped one of this thread, else the global one.
#[must_use]
pub fn current() -> Client {
    SCOPED
        .with(|s| s.borrow().last().cloned())
        .unwrap_or_else(|| global().clone())
}

/// Whether any client might be enabled. One relaxed atomic load: the fast path of every
/// tracked call when telemetry is off.
#[inline]
#[must_use]
pub fn maybe_enabled() -> bool {
    MAYBE_ENABLED.load(Ordering::Relaxed) != 0
}

/// A future that has `client` as its current client whenever it is polled.
/// Made by [`with_client_future`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithClient<F> {
    client: Client,
    future: Pin<Box<F>>,
}

/// Carries `client` across `.await` points: every poll of `future` runs inside
/// [`with_client`], so tracked async functions record to `client` whichever thread polls them.
///
/// ```
/// use telemetry_runtime::{Client, current, with_client_future};
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = Box::pin(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } }
/// # }
/// let off = Client::disabled();
/// let enabled = block_on(with_client_future(&off, async { current().is_enabled() }));
/// assert!(!enabled);
/// ```
pub fn with_client_future<F: Future>(client: &Client, future: F) -> WithClient<F> {
    WithClient {
        client: client.clone(),
        future: Box::pin(future),
    }
}

impl<F: Future> Future for WithClient<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        with_client(&this.client, || this.future.as_mut().poll(cx))
    }
}
