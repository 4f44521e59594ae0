//! Driving a future to completion on the current thread by parking it: what
//! the blocking engine (`block_on.rs`) does once it decided the thread may
//! block. Works on any thread, needs no runtime, and honours a deadline (so
//! blocking timeouts never depend on a tokio timer).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::sync::{thread, thread_local, AtomicBool, Ordering, Thread};
use std::time::{Duration, Instant};

/// Wakes a parked thread. The flag keeps a wake that arrives between a poll and
/// the park from being lost (`unpark` before `park` is remembered too, but the
/// flag also filters spurious wake-ups).
struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

thread_local! {
    static WAKER: (Arc<ThreadWaker>, Waker) = {
        let inner = Arc::new(ThreadWaker {
            thread: thread::current(),
            woken: AtomicBool::new(false),
        });
        let waker = Waker::from(Arc::clone(&inner));
        (inner, waker)
    };
}

/// How long a waiting thread spins before it parks. Most of the cost of a
/// blocking get on a short task is the wake-up of a parked thread (tens of
/// microseconds); spinning this long catches short tasks without a park, and
/// bounds the CPU a long wait burns to this much per wait.
const SPIN: Duration = Duration::from_micros(50);

/// Spins until `woken` is set or [`SPIN`] (or `deadline`) passes. Returns
/// whether it was woken.
fn spin_briefly(woken: &AtomicBool, deadline: Option<Instant>) -> bool {
    if cfg!(taskref_loom) {
        // Spinning on a clock means nothing to the model checker.
        return woken.load(Ordering::Acquire);
    }
    let start = Instant::now();
    let until = match deadline {
        Some(deadline) => deadline.min(start + SPIN),
        None => start + SPIN,
    };
    loop {
        for _ in 0..64 {
            if woken.load(Ordering::Acquire) {
                return true;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= until {
            return woken.load(Ordering::Acquire);
        }
    }
}

/// Polls `future` on this thread until it is ready, parking in between. Returns
/// `None` if `deadline` passes first.
///
/// `before_first_park` runs once, just before the thread first parks (never if
/// the future is ready at once); what it returns is held until this returns. The
/// blocking facade uses it to lend a blocking task's CPU back only when it really
/// waits.
pub(crate) fn park_on<F: Future, G>(
    future: F,
    deadline: Option<Instant>,
    before_first_park: impl FnOnce() -> G,
) -> Option<F::Output> {
    // Borrowed for the whole wait, not cloned: two refcount round trips less
    // on every blocking call, most of which return at the first poll. A
    // nested wait on this thread borrows the same waker (as it always shared
    // it); see below for the wake it may consume.
    WAKER.with(|(inner, waker)| {
        let output = park_with(inner, waker, future, deadline, before_first_park);
        // A wait nested in another on this thread (a future that blocks while
        // polled) shares the flag and may have consumed a wake meant for the
        // enclosing wait: make the enclosing one poll again rather than park.
        inner.woken.store(true, Ordering::Release);
        output
    })
}

fn park_with<F: Future, G>(
    inner: &ThreadWaker,
    waker: &Waker,
    future: F,
    deadline: Option<Instant>,
    before_first_park: impl FnOnce() -> G,
) -> Option<F::Output> {
    let mut cx = Context::from_waker(waker);
    let mut future = pin!(future);
    let mut before_first_park = Some(before_first_park);
    let mut _held = None;
    loop {
        inner.woken.store(false, Ordering::Relaxed);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        if let Some(hook) = before_first_park.take() {
            _held = Some(hook());
            // Only the first wait spins: a wake-up that did not complete the
            // future means the wait is a long one.
            if spin_briefly(&inner.woken, deadline) {
                continue;
            }
        }
        while !inner.woken.load(Ordering::Acquire) {
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    park_timeout(deadline - now);
                }
            }
        }
    }
}

#[cfg(not(taskref_loom))]
fn park_timeout(timeout: Duration) {
    thread::park_timeout(timeout);
}

/// The model checker has no clock: a timed park is a park.
#[cfg(taskref_loom)]
fn park_timeout(_timeout: Duration) {
    thread::park();
}

#[cfg(all(test, not(taskref_loom)))]
mod tests {
    use super::*;

    #[test]
    fn ready_futures_return_without_parking() {
        let mut parked = false;
        assert_eq!(park_on(async { 3 }, None, || parked = true), Some(3));
        assert!(!parked);
    }

    #[test]
    fn deadline_gives_up_on_a_pending_future() {
        let deadline = Instant::now() + Duration::from_millis(20);
        let mut parked = false;
        let out = park_on(std::future::pending::<()>(), Some(deadline), || {
            parked = true
        });
        assert_eq!(out, None);
        assert!(parked);
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn a_wake_from_another_thread_completes_the_wait() {
        let (tx, rx) = futures::channel::oneshot::channel();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            tx.send(7).unwrap();
        });
        assert_eq!(park_on(rx, None, || ()), Some(Ok(7)));
        sender.join().unwrap();
    }
}
