//! Functions returning a boxed future (`#[async_trait]` methods, `BoxFuture`,
//! `LocalBoxFuture`, or an alias named with `future`): the returned future is wrapped in one
//! that awaits it and records, boxed the same way.
//!
//! Everything that needs the returned type to be a future happens here, behind one trait, so a
//! function that returns something else gets one error (the trait's), not one per use.

use std::future::Future;
use std::pin::Pin;

use super::{Finish, SpanFrame, in_span};
use crate::outcome::Outcome;

/// A boxed future a tracked function may return: `Pin<Box<dyn Future<Output = T> + 'a>>`,
/// with or without `+ Send`.
#[diagnostic::on_unimplemented(
    message = "`future` is for a function returning a boxed future; `{Self}` is not one",
    label = "not a boxed future",
    note = "a boxed future is `Pin<Box<dyn Future<Output = T> + Send + 'a>>` or \
            `Pin<Box<dyn Future<Output = T> + 'a>>`, what `BoxFuture`, `LocalBoxFuture` and \
            `#[async_trait]` make"
)]
pub trait BoxedFuture<'a>: Sized {
    /// What the future resolves to.
    type Output;

    /// The future, awaited inside one boxed the same way that records the call with the
    /// outcome `classify` finds (queued: a poll never waits on the network), each poll with
    /// the call's span and session current.
    fn tracked<G, C>(self, guard: G, frame: SpanFrame, classify: C) -> Self
    where
        G: Finish + Send + 'a,
        C: FnOnce(&Self::Output) -> Outcome + Send + 'a;
}

#[diagnostic::do_not_recommend]
impl<'a, T: 'a> BoxedFuture<'a> for Pin<Box<dyn Future<Output = T> + Send + 'a>> {
    type Output = T;

    fn tracked<G, C>(self, guard: G, frame: SpanFrame, classify: C) -> Self
    where
        G: Finish + Send + 'a,
        C: FnOnce(&T) -> Outcome + Send + 'a,
    {
        Box::pin(async move {
            let ret = in_span(frame, self).await;
            guard.finish_queued(classify(&ret));
            ret
        })
    }
}

#[diagnostic::do_not_recommend]
impl<'a, T: 'a> BoxedFuture<'a> for Pin<Box<dyn Future<Output = T> + 'a>> {
    type Output = T;

    fn tracked<G, C>(self, guard: G, frame: SpanFrame, classify: C) -> Self
    where
        G: Finish + Send + 'a,
        C: FnOnce(&T) -> Outcome + Send + 'a,
    {
        Box::pin(async move {
            let ret = in_span(frame, self).await;
            guard.finish_queued(classify(&ret));
            ret
        })
    }
}
