//! Async timeouts on tokio's timer, without ever panicking when there is none.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::Sleep;

use crate::error::Error;

/// The timer of one runtime: tokio's, reached through its handle.
pub(crate) struct Timer {
    handle: Handle,
    /// Whether the runtime was built with its time driver. Known up front for an
    /// owned runtime; probed on first use for an attached one.
    available: OnceLock<bool>,
}

impl Timer {
    pub(crate) fn owned(handle: Handle) -> Timer {
        Timer {
            handle,
            available: OnceLock::from(true),
        }
    }

    pub(crate) fn attached(handle: Handle) -> Timer {
        Timer {
            handle,
            available: OnceLock::new(),
        }
    }

    /// A `Sleep` of `duration` on this runtime's timer, whichever context the
    /// caller is in.
    pub(crate) fn sleep(
        &self,
        duration: Duration,
        location: &'static Location<'static>,
    ) -> Result<Pin<Box<Sleep>>, Error> {
        let available = *self.available.get_or_init(|| {
            crate::quiet::probe(|| {
                let _enter = self.handle.enter();
                drop(tokio::time::sleep(Duration::ZERO));
            })
            .is_some()
        });
        if !available {
            return Err(Error::NoTimer { location });
        }
        let _enter = self.handle.enter();
        Ok(Box::pin(tokio::time::sleep(duration)))
    }
}

/// Polls a sleep. Tokio panics when a sleep is polled after its runtime shut
/// down; a waiter then stops waiting (it reports a timeout) instead of unwinding.
pub(crate) fn poll_sleep(sleep: &mut Pin<Box<Sleep>>, cx: &mut Context<'_>) -> Poll<()> {
    crate::quiet::probe(|| sleep.as_mut().poll(cx)).unwrap_or(Poll::Ready(()))
}

/// The timeout of a wait, armed only once the wait really has to wait (a wait
/// that returns at once never touches the timer).
#[derive(Default)]
pub(crate) struct LazyTimeout {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl LazyTimeout {
    /// `Ready(Ok)` once `timeout` has passed: at once for a zero timeout, or
    /// when `make_sleep` finds no runtime to time it (only refs of a runtime
    /// can be pending). `Pending` without a timeout. `Err(NoTimer)` for a
    /// runtime without a timer. `make_sleep` is called at most once, with the
    /// timeout, when the wait first has to wait.
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        timeout: Option<Duration>,
        make_sleep: impl FnOnce(Duration) -> Option<Result<Pin<Box<Sleep>>, Error>>,
    ) -> Poll<Result<(), Error>> {
        let Some(timeout) = timeout else {
            return Poll::Pending;
        };
        if timeout.is_zero() {
            return Poll::Ready(Ok(()));
        }
        let sleep = match &mut self.sleep {
            Some(sleep) => sleep,
            None => match make_sleep(timeout) {
                None => return Poll::Ready(Ok(())),
                Some(Ok(sleep)) => self.sleep.insert(sleep),
                Some(Err(err)) => return Poll::Ready(Err(err)),
            },
        };
        poll_sleep(sleep, cx).map(Ok)
    }
}
