//! The running sessions of a client, and which one is current where.
//!
//! Sessions nest: a `#[track_session]` inside another (a sub-agent) runs inside the outer one,
//! which goes on. A session started by `#[track_session]` belongs to the code that runs its
//! body: a thread's scope while a sync body runs, each poll of an async one (like the current
//! client and the current span, [`within`] and [`in_session`]). Sessions started with
//! [`Client::start_session`](super::Client::start_session) or
//! [`Client::record_session_start`](super::Client::record_session_start) belong to the whole
//! client.
//!
//! Invariants: the current session of code is the newest running session that belongs to it
//! (one of its scope's, or one of the whole client's), else the client's newest (so a thread a
//! session's body started still counts its tool calls there); at most one session started with
//! `record_session_start` runs (the next one replaces it); at most [`MAX_OPEN_SESSIONS`] run
//! (beyond, the oldest ends); every session leaves the set exactly once, with its end event.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use super::session::SessionState;
use crate::event::SessionId;

/// Most sessions running at once in one client; starting one more ends the oldest (a guard
/// leaked with `mem::forget` would otherwise keep its session forever).
pub(crate) const MAX_OPEN_SESSIONS: usize = 64;

/// Identifies one started session for the process's lifetime (ids given by the application
/// may repeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SessionKey(u64);

impl SessionKey {
    pub(super) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// How a session was started, which decides where it is current and what replaces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// `record_session_start`: current everywhere; the next such start ends it.
    Replaced,
    /// `start_session`: current everywhere, nests.
    Nested,
    /// `#[track_session]`: current in the scope of its body, nests.
    Scoped,
}

thread_local! {
    /// The scoped sessions of this thread (or of the future being polled on it), innermost last.
    static SCOPED: RefCell<Vec<SessionKey>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with the session `key` (when given) in this thread's scope.
pub(crate) fn within<R>(key: Option<SessionKey>, f: impl FnOnce() -> R) -> R {
    struct Cut(usize);
    impl Drop for Cut {
        fn drop(&mut self) {
            SCOPED.with(|s| s.borrow_mut().truncate(self.0));
        }
    }
    let Some(key) = key else { return f() };
    let depth = SCOPED.with(|s| {
        let mut s = s.borrow_mut();
        s.push(key);
        s.len() - 1
    });
    let _cut = Cut(depth);
    f()
}

/// Awaits `future`, each of its polls with the session `key` (when given) in scope.
pub(crate) async fn in_session<F: Future>(key: Option<SessionKey>, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| within(key, || future.as_mut().poll(cx))).await
}

fn in_scope(key: SessionKey) -> bool {
    SCOPED.with(|s| s.borrow().contains(&key))
}

/// The running sessions of a client, oldest first.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    running: Vec<SessionState>,
}

impl Sessions {
    /// Where the current session is (see the module's invariants).
    fn current_index(&self) -> Option<usize> {
        let belongs = |s: &SessionState| s.origin != Origin::Scoped || in_scope(s.key);
        self.running
            .iter()
            .rposition(belongs)
            .or_else(|| self.running.len().checked_sub(1))
    }

    pub(super) fn current(&self) -> Option<&SessionState> {
        self.current_index().map(|i| &self.running[i])
    }

    pub(super) fn current_mut(&mut self) -> Option<&mut SessionState> {
        self.current_index().map(|i| &mut self.running[i])
    }

    /// The session a call naming `id` belongs to: the current one when it has that id, else
    /// the newest running one that has it.
    pub(super) fn named_mut(&mut self, id: &SessionId) -> Option<&mut SessionState> {
        let i = self
            .current_index()
            .filter(|&i| self.running[i].id == *id)
            .or_else(|| self.running.iter().rposition(|s| s.id == *id))?;
        Some(&mut self.running[i])
    }

    pub(super) fn by_key_mut(&mut self, key: SessionKey) -> Option<&mut SessionState> {
        self.running.iter_mut().find(|s| s.key == key)
    }

    /// Takes the session `key` out, if it still runs.
    pub(super) fn take(&mut self, key: SessionKey) -> Option<SessionState> {
        let i = self.running.iter().position(|s| s.key == key)?;
        Some(self.running.remove(i))
    }

    /// Takes the current session out.
    pub(super) fn take_current(&mut self) -> Option<SessionState> {
        let i = self.current_index()?;
        Some(self.running.remove(i))
    }

    /// Takes out the session a [`Origin::Replaced`] start replaces, if one runs.
    pub(super) fn take_replaced(&mut self) -> Option<SessionState> {
        let i = self
            .running
            .iter()
            .position(|s| s.origin == Origin::Replaced)?;
        Some(self.running.remove(i))
    }

    /// Adds a started session; returns the oldest ones it pushed over [`MAX_OPEN_SESSIONS`].
    pub(super) fn push(&mut self, state: SessionState) -> Vec<SessionState> {
        self.running.push(state);
        let over = self.running.len().saturating_sub(MAX_OPEN_SESSIONS);
        self.running.drain(..over).collect()
    }
}
