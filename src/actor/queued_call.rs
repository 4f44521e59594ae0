//! A sync actor's call on its way to the actor's thread: what it carries, and
//! how the actor's thread runs it.
//!
//! Its size matters. The caller boxes it and the actor's thread frees it, and
//! glibc's allocator frees a block of up to 120 bytes (128 with its header)
//! from another thread without taking the arena lock the caller allocates
//! under; past that size,
//! the two threads fight for that lock on every call, and gathered calls cost
//! twice as much (measured by `cargo bench --bench actors`). So it holds no
//! reference counts of its own (the actor's name and death record are lent by
//! whoever runs it, see [`Host`]), and a test keeps an ordinary call small.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use super::pending::PendingCall;
use super::{actor_died, fail_call, Death, Host};
use crate::args::PendingArgs;
use crate::error::Error;
use crate::park::park_on;
use crate::task::{Completer, Erased, UserError};
use crate::ObjectId;

/// One method call, queued: its ref's completer, the deadline it inherits,
/// its place under the actor's bound on pending calls, its argument's refs
/// that were not ready when it was made, its argument, and the method.
pub(super) struct QueuedCall<R: Send + 'static, Fut, F> {
    pub(super) completer: Completer<R>,
    pub(super) deadline: Option<(Instant, ObjectId)>,
    pub(super) place: Option<PendingCall>,
    pub(super) pending: Option<Box<PendingArgs>>,
    pub(super) resolving: Fut,
    pub(super) method: F,
}

impl<R: Send + 'static, Fut, F> QueuedCall<R, Fut, F> {
    /// Runs the call on `state` on the actor's thread, or fails it with the
    /// cause of the actor's death.
    pub(super) fn run<S, A>(self, state: Result<&mut S, &str>, host: Host<'_>)
    where
        Fut: Future<Output = Result<A, Error>>,
        F: FnOnce(&mut S, A) -> Result<R, UserError>,
    {
        let QueuedCall {
            completer,
            deadline,
            place,
            pending,
            resolving,
            method,
        } = self;
        let state = match state {
            Ok(state) => state,
            Err(cause) => {
                let err = actor_died(completer.info(), host.name, cause.to_owned());
                return fail_call(completer, place, err);
            }
        };
        if completer.is_decided() {
            return; // cancelled while queued
        }
        // At the head of the mailbox, the call holds the actor while it waits
        // for its argument: the calls behind it wait on it.
        let mut noted = pending.and_then(|pending| completer.waits_for(*pending));
        if let Some(waiting) = noted.take() {
            let detector = &completer.context().observer().detector;
            match crate::waits::check(detector, waiting, true) {
                Ok(waiting) => noted = Some(waiting),
                Err(deadlock) => return fail_call(completer, place, deadlock),
            }
        }
        let awaited = wait_for_args(resolving, host.death, &completer);
        drop(noted);
        let args = match awaited {
            Awaited::Args(Ok(args)) => args,
            Awaited::Args(Err(upstream)) => {
                let err = completer.upstream_failed(&upstream);
                return fail_call(completer, place, err);
            }
            Awaited::Died(cause) => {
                let err = actor_died(completer.info(), host.name, cause);
                return fail_call(completer, place, err);
            }
            Awaited::Decided => return,
        };
        // The argument may have come just as the call was cancelled or the
        // actor killed: neither may run the method.
        if completer.is_decided() {
            return;
        }
        if let Some(cause) = host.death.cause() {
            let err = actor_died(completer.info(), host.name, cause);
            return fail_call(completer, place, err);
        }
        let method = move |args| method(state, args);
        // Its place under the actor's bound: given back before the call's
        // outcome is stored (a waiter woken then finds the room), and in any
        // case when the call is dropped.
        let give_back = move || drop(place);
        completer.run_blocking::<_, _, _, Erased>(method, args, deadline, give_back);
    }
}

/// How a call's wait for its argument ended.
enum Awaited<A> {
    /// The argument is here, or its task failed.
    Args(Result<A, Error>),
    /// The actor died meanwhile (a kill): the call has not started, so it
    /// fails with `ActorDied` like every other call not yet started.
    Died(String),
    /// The call was cancelled (or shut down) meanwhile.
    Decided,
}

/// Waits on the actor's thread for a call's argument, or until the actor dies
/// or the call is cancelled, whichever comes first. Without this, a call
/// waiting for an argument that never comes would hold a killed actor (its
/// state, its resources, the calls behind it) until it came.
fn wait_for_args<A, R: Send + 'static>(
    resolving: impl Future<Output = Result<A, Error>>,
    death: &Death,
    completer: &Completer<R>,
) -> Awaited<A> {
    let mut resolving = pin!(resolving);
    let mut died = pin!(death.died());
    let mut decided = pin!(completer.decided());
    let waiting = std::future::poll_fn(|cx| {
        // The argument first: a value, or a ref that is ready, returns here
        // without registering anything anywhere (the common case).
        if let Poll::Ready(args) = resolving.as_mut().poll(cx) {
            return Poll::Ready(Awaited::Args(args));
        }
        if let Poll::Ready(cause) = died.as_mut().poll(cx) {
            return Poll::Ready(Awaited::Died(cause));
        }
        if decided.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Awaited::Decided);
        }
        Poll::Pending
    });
    park_on(waiting, None, || ()).unwrap_or_else(|| unreachable!("no deadline"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Arg;

    /// The size of what `call_with(arg, method)` queues, without making one.
    fn queued_size<S, A, X, R, F>(arg: X, method: F) -> usize
    where
        X: Arg<A>,
        R: Send + 'static,
        F: FnOnce(&mut S, A) -> Result<R, UserError>,
    {
        fn size<R: Send + 'static, Fut, F>(_: &Fut, _: &F) -> usize {
            std::mem::size_of::<QueuedCall<R, Fut, F>>()
        }
        size::<R, _, _>(&arg.resolve(), &method)
    }

    /// glibc's fast bins take blocks of up to 120 bytes (128 with the
    /// allocator's header): see the module's docs for why it matters.
    const FREED_WITHOUT_A_LOCK: usize = 120;

    // The reasoning is glibc's on 64-bit targets; elsewhere the size is what
    // it is.
    #[cfg(all(target_env = "gnu", target_pointer_width = "64"))]
    #[test]
    fn an_ordinary_call_is_small_enough_to_be_freed_across_threads_without_a_lock() {
        let rt = crate::Runtime::builder().worker_threads(1).build().unwrap();
        let (x, y) = (5u64, 6u64);
        let weights = rt.put(7u64);
        let sizes = [
            ("no argument", queued_size((), |n: &mut u64, ()| Ok(*n))),
            (
                "a method capturing two words",
                queued_size((), move |n: &mut u64, ()| Ok(*n + x + y)),
            ),
            (
                "a value argument",
                queued_size(7u64, |n: &mut u64, x: u64| Ok(*n + x)),
            ),
            (
                "a ref argument",
                queued_size(rt.put(7u64), |n: &mut u64, x: u64| Ok(*n + x)),
            ),
            (
                "a borrowed ref argument",
                queued_size(&weights, |n: &mut u64, x: u64| Ok(*n + x)),
            ),
        ];
        for (call, size) in sizes {
            assert!(
                size <= FREED_WITHOUT_A_LOCK,
                "a call with {call} queues {size} bytes, over {FREED_WITHOUT_A_LOCK}"
            );
        }
    }
}
