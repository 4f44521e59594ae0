//! The blocking engine: drives a future to completion on the calling thread,
//! for every `block_*` call.
//
// A future is driven by `park::park_on`, after one decision about the calling
// thread, taken by `context`:
//
// - no tokio runtime, a blocking-pool thread, a taskref blocking task: park the
//   thread;
// - a multi-thread runtime's worker (or its `block_on`): step out of the
//   scheduler with `block_in_place`, so the worker's other tasks move elsewhere;
// - a current-thread runtime's own thread or a `LocalSet`: blocking would stop
//   every task that thread drives, possibly the very one being waited on, so
//   refuse with `Error::BlockingInAsyncContext`.
//
// A taskref blocking task that parks lends its CPU back for the duration (see
// `resources`), so nested gets cannot starve the pool.
//
// Timeouts here are deadlines for `park_timeout`: they work on any thread and
// never need a tokio timer.

use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::noop_waker_ref;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::error::Error;
use crate::observe::Observer;
use crate::park::park_on;
use crate::resources;

/// How the calling thread blocks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Park this thread directly.
    Park,
    /// Park inside `block_in_place`.
    InPlace,
}

/// Decides how this thread may block (see the module comment), or refuses
/// with `BlockingInAsyncContext` naming `location`.
pub(crate) fn context(location: &'static Location<'static>) -> Result<Mode, Error> {
    if resources::in_blocking_task() {
        return Ok(Mode::Park);
    }
    let Ok(handle) = Handle::try_current() else {
        return Ok(Mode::Park);
    };
    match handle.runtime_flavor() {
        RuntimeFlavor::MultiThread => Ok(Mode::InPlace),
        // A current-thread runtime's blocking pool, or a thread that merely
        // entered the handle, may block; the runtime's own thread may not. Tokio
        // has no query for the difference, but `block_in_place` makes exactly
        // that check (and panics on the runtime's own thread).
        _ => match crate::quiet::probe(|| tokio::task::block_in_place(|| ())) {
            Some(()) => Ok(Mode::Park),
            None => Err(Error::BlockingInAsyncContext { location }),
        },
    }
}

/// Drives `future` to completion on this thread; `Ok(None)` if `deadline` passes
/// first.
pub(crate) fn block_on<F: Future>(
    future: F,
    deadline: Option<Instant>,
    location: &'static Location<'static>,
    call: &'static str,
    observer: Option<&Observer>,
) -> Result<Option<F::Output>, Error> {
    let mode = context(location)?;
    // On a tokio worker (inside a task) blocking works, but stalls the worker.
    if matches!(mode, Mode::InPlace) && tokio::task::try_id().is_some() {
        if let Some(observer) = observer {
            observer.detector.blocking_in_async(location, call)?;
        }
    }
    Ok(block_in_mode(mode, future, deadline))
}

/// Drives `future` in `mode` (decided earlier for this thread); `None` if
/// `deadline` passes first.
pub(crate) fn block_in_mode<F: Future>(
    mode: Mode,
    future: F,
    deadline: Option<Instant>,
) -> Option<F::Output> {
    let mut future = pin!(future);
    match mode {
        Mode::Park => park_on(future, deadline, resources::lend_cpu),
        Mode::InPlace => {
            // `block_in_place` hands the worker's queue to another thread: only
            // worth it if we really have to wait.
            let mut cx = Context::from_waker(noop_waker_ref());
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return Some(output);
            }
            tokio::task::block_in_place(|| park_on(future, deadline, resources::lend_cpu))
        }
    }
}

/// The moment `timeout` from now.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    // A timeout too large to represent is as good as none.
    Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(60 * 60 * 24 * 365 * 100))
}
