//! The current span: scoped to a thread, and carried across `.await` by the futures of tracked
//! async functions (each poll runs inside their span's scope), like the current client.
//!
//! Invariants: a scope pushes one frame and, when it ends (return, panic, a future's poll
//! ending), cuts the stack back to what it was, so frames never leak to code that runs later
//! on the same thread (another task's poll); a frame is plain data (ids and a start instant).

use std::cell::RefCell;
use std::future::Future;
use std::time::Instant;

use super::SpanContext;

/// An open span as children see it: its context and when it started (the newer of two open
/// spans is the inner one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) cx: SpanContext,
    pub(crate) started: Instant,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// The innermost open span of this thread (or of the future being polled on it).
pub(crate) fn innermost() -> Option<Frame> {
    FRAMES.with(|f| f.borrow().last().copied())
}

/// Runs `f` with `frame` (when given) as the innermost open span of this thread.
pub(crate) fn within<R>(frame: Option<Frame>, f: impl FnOnce() -> R) -> R {
    let Some(frame) = frame else { return f() };
    let _scope = Scope::enter(frame);
    f()
}

/// A frame pushed on this thread until dropped.
#[derive(Debug)]
struct Scope {
    depth: usize,
    /// Scopes are tied to their thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Scope {
    fn enter(frame: Frame) -> Self {
        let depth = FRAMES.with(|f| {
            let mut f = f.borrow_mut();
            f.push(frame);
            f.len() - 1
        });
        Self {
            depth,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        FRAMES.with(|f| f.borrow_mut().truncate(self.depth));
    }
}

/// Awaits `future`, each of its polls running with `frame` (when given) as the innermost open
/// span: the span of a tracked async function stays current across its `.await` points,
/// whichever thread polls it, and never leaks to what else runs on that thread.
pub(crate) async fn in_span<F: Future>(frame: Option<Frame>, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| within(frame, || future.as_mut().poll(cx))).await
}
