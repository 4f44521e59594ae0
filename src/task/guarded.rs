//! `Guarded`: the future every async task runs in, hand-written so that a
//! pending task costs little more than the user's future itself.
//
// Written as `async` blocks, the same logic nested three generators, each
// keeping its own copy of the captured closure next to the future it builds:
// 392 bytes around an 80-byte user future. Here the closure and the future it
// returns share one enum, so the wrapper adds only the completer and a tag.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::Completer;
use crate::error::Error;

pin_project! {
    #[project = StageProj]
    enum Stage<C, L, Fut> {
        /// Not polled yet: the function and its (resolved) arguments.
        Start { call: Option<(C, L)> },
        /// Running the user's future.
        Running { #[pin] future: Fut },
    }
}

pin_project! {
    /// Calls `call(args)` when first polled, runs the future it returns, and
    /// completes the slot with its output, or with `TaskPanicked` if building
    /// or polling it panics. Skips the call if cancel or shutdown decided the
    /// outcome first.
    pub(crate) struct Guarded<C, L, Fut>
    where
        Fut: Future,
        Fut::Output: Send,
        Fut::Output: 'static,
    {
        completer: Option<Completer<Fut::Output>>,
        #[pin]
        stage: Stage<C, L, Fut>,
    }
}

impl<C, L, Fut> Guarded<C, L, Fut>
where
    C: FnOnce(L) -> Fut,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    pub(crate) fn new(completer: Completer<Fut::Output>, call: C, args: L) -> Self {
        Guarded {
            completer: Some(completer),
            stage: Stage::Start {
                call: Some((call, args)),
            },
        }
    }
}

impl<C, L, Fut> Future for Guarded<C, L, Fut>
where
    C: FnOnce(L) -> Fut,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(completer) = this.completer.as_ref() else {
            return Poll::Ready(());
        };
        if let StageProj::Start { call } = this.stage.as_mut().project() {
            if completer.is_decided() {
                this.completer.take();
                return Poll::Ready(());
            }
            let (call, args) = call.take().expect("started once");
            match catch_unwind(AssertUnwindSafe(move || call(args))) {
                Ok(future) => this.stage.set(Stage::Running { future }),
                Err(payload) => {
                    let err = Error::panicked(completer.info().clone(), payload);
                    this.completer.take().expect("checked").complete(Err(err));
                    return Poll::Ready(());
                }
            }
        }
        let StageProj::Running { future } = this.stage.project() else {
            unreachable!("started above")
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(Error::panicked(completer.info().clone(), payload)),
        };
        this.completer.take().expect("checked").complete(outcome);
        Poll::Ready(())
    }
}
