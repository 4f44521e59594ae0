//! `Guarded`: the lean future of an async task that needs nothing but to run
//! (no arguments to wait for, no resources, no retries, no timeout). Its size
//! sets the memory cost of a pending task, so it is one `Attempt` plus the
//! completer.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::attempt::{self, Attempt};
use super::finish::Finish;
use super::Completer;

pin_project! {
    /// Runs one attempt and completes the slot with its outcome. Stops at its
    /// next poll, without running further, once cancel or shutdown decided the
    /// outcome.
    pub(crate) struct Guarded<C, L, Fut, K>
    where
        Fut: Future,
        K: Finish<Fut::Output>,
    {
        completer: Option<Completer<K::Value>>,
        #[pin]
        attempt: Attempt<C, L, Fut>,
        _finish: PhantomData<fn() -> K>,
    }
}

impl<C, L, Fut, K> Guarded<C, L, Fut, K>
where
    C: FnOnce(L) -> Fut,
    Fut: Future,
    K: Finish<Fut::Output>,
{
    pub(crate) fn new(completer: Completer<K::Value>, call: C, args: L) -> Self {
        let span = completer.span();
        Guarded {
            completer: Some(completer),
            attempt: Attempt::new(call, args, span),
            _finish: PhantomData,
        }
    }
}

impl<C, L, Fut, K> Future for Guarded<C, L, Fut, K>
where
    C: FnOnce(L) -> Fut,
    Fut: Future,
    K: Finish<Fut::Output>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let Some(completer) = this.completer.as_mut() else {
            return Poll::Ready(());
        };
        if completer.is_decided() {
            this.completer.take();
            return Poll::Ready(());
        }
        completer.start();
        let running = completer.running(None);
        let result = match this.attempt.poll_as(cx, running) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        let completer = this.completer.take().expect("checked above");
        let outcome = attempt::outcome::<K, _>(completer.info(), result, 1);
        completer.complete(outcome);
        Poll::Ready(())
    }
}
