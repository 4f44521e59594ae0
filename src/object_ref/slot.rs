//! The cell behind every `ObjectRef`: where a task's outcome lands and waiters wait.
//
// # State machine
//
//     Pending(waiters) ──complete(Ok(v))──▶ Ready(v)
//            │
//            └─────────complete(Err(e))──▶ Failed(e)
//
// A slot moves out of `Pending` exactly once. Whoever calls `complete` first wins:
// the task's own completion, a cancel, or the runtime's shutdown; later calls
// return `false` and drop what they carried. `Ready` and `Failed` are final.
//
// # Who touches it
//
// - The task (through `task::Completer`) completes it once.
// - `cancel` and shutdown may complete it first, with an error.
// - Any number of readers poll it. Each waiting future owns a *key* into the
//   waiter list, so the future, not the handle, holds per-waiter state: cloning an
//   `ObjectRef` is one refcount increment and can never confuse two waiters. A
//   future that is dropped while pending removes its waker (no growth when callers
//   time out in a loop).
//
// Everything is behind one `std::sync::Mutex`; the `done` flag is a lock-free
// hint for `is_ready` and for the fast path of readers. It is set under the lock
// and only ever goes from false to true, so a reader that sees `true` and then
// takes the lock always finds a final state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::task::AbortHandle;

use crate::error::{Error, TaskInfo};
use crate::runtime::Shared;

/// Where a pending slot keeps its waiters: a slab of wakers with a free list, so
/// registration and removal are O(1) and keys stay stable.
///
/// Most refs have exactly one waiter (the task that gathers them), so the first
/// one is stored inline (key 0) and the slab is only allocated for a second one.
/// That saves an allocation per task, and one that the completing worker thread
/// would otherwise free: cross-thread frees contend on the allocator.
#[derive(Default)]
struct Waiters {
    first: Option<Waker>,
    more: Option<Box<Overflow>>,
}

/// Waiters beyond the first: key `k >= 1` lives at `wakers[k - 1]`.
#[derive(Default)]
struct Overflow {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Waiters {
    fn insert(&mut self, waker: Waker) -> usize {
        if self.first.is_none() {
            self.first = Some(waker);
            return 0;
        }
        let more = self.more.get_or_insert_with(Box::default);
        match more.free.pop() {
            Some(key) => {
                more.wakers[key - 1] = Some(waker);
                key
            }
            None => {
                more.wakers.push(Some(waker));
                more.wakers.len()
            }
        }
    }

    fn entry(&mut self, key: usize) -> &mut Option<Waker> {
        match key {
            0 => &mut self.first,
            k => {
                &mut self
                    .more
                    .as_mut()
                    .expect("keys above 0 live in the overflow")
                    .wakers[k - 1]
            }
        }
    }

    fn update(&mut self, key: usize, waker: &Waker) {
        match self.entry(key) {
            Some(old) if old.will_wake(waker) => {}
            entry => *entry = Some(waker.clone()),
        }
    }

    fn remove(&mut self, key: usize) {
        if self.entry(key).take().is_some() && key > 0 {
            if let Some(more) = &mut self.more {
                more.free.push(key);
            }
        }
    }

    fn wake_all(self) {
        if let Some(waker) = self.first {
            waker.wake();
        }
        if let Some(more) = self.more {
            for waker in more.wakers.into_iter().flatten() {
                waker.wake();
            }
        }
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        usize::from(self.first.is_some())
            + self
                .more
                .as_ref()
                .map_or(0, |m| m.wakers.iter().filter(|w| w.is_some()).count())
    }
}

/// What a pending slot holds besides its waiters.
#[derive(Default)]
struct Pending {
    waiters: Waiters,
    /// The tokio task that will complete the slot, so cancel and shutdown can
    /// abort it. Kept only while pending: a handle keeps the tokio task's memory
    /// alive, and a finished task's refs may live long.
    abort: Option<AbortHandle>,
}

/// A slot's state just before it completed: its waiters, to be woken outside
/// the lock, and its task's abort handle.
#[must_use = "waiters must be woken"]
pub(crate) struct PendingWake(Pending);

impl PendingWake {
    /// Wakes the waiters (the task completed the slot itself).
    pub(crate) fn wake_all(self) {
        self.0.waiters.wake_all();
    }

    /// Aborts the task, then wakes the waiters (someone else decided the outcome).
    fn abort_and_wake_all(self) {
        if let Some(abort) = &self.0.abort {
            abort.abort();
        }
        self.wake_all();
    }
}

enum State<T> {
    /// The task has not produced its outcome yet.
    Pending(Pending),
    /// The task returned this value. Readers clone it (or move it out when they
    /// hold the last handle).
    Ready(T),
    /// The task failed, was cancelled, or its runtime shut down. Boxed: errors
    /// are rare and large, and every pending slot would pay for their size.
    Failed(Box<Error>),
}

/// The shared cell of one task's outcome.
pub(crate) struct Slot<T> {
    state: Mutex<State<T>>,
    /// Set (under the lock) when `state` leaves `Pending`.
    done: AtomicBool,
    info: TaskInfo,
    /// The runtime that runs the task (`None` for `put`): its timer serves
    /// `get_timeout`, its registry serves `cancel`.
    runtime: Option<Arc<Shared>>,
}

impl<T> Slot<T> {
    pub(crate) fn pending(info: TaskInfo, runtime: Option<Arc<Shared>>) -> Self {
        Slot {
            state: Mutex::new(State::Pending(Pending::default())),
            done: AtomicBool::new(false),
            info,
            runtime,
        }
    }

    pub(crate) fn ready(info: TaskInfo, value: T) -> Self {
        Slot {
            state: Mutex::new(State::Ready(value)),
            done: AtomicBool::new(true),
            info,
            runtime: None,
        }
    }

    pub(crate) fn info(&self) -> &TaskInfo {
        &self.info
    }

    pub(crate) fn runtime(&self) -> Option<&Arc<Shared>> {
        self.runtime.as_ref()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while the lock is held can only come from a waker's `clone`;
        // the state itself is always consistent, so poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the slot to its final state. Returns `false` (and drops `outcome`)
    /// if another party completed it first.
    pub(crate) fn complete(&self, outcome: Result<T, Error>) -> bool {
        match self.complete_deferred(outcome) {
            Some(wake) => {
                wake.wake_all();
                true
            }
            None => false,
        }
    }

    /// Like `complete`, but hands back the waiters instead of waking them, so the
    /// task can first drop its own handles to the slot: a woken reader holding
    /// the last ref can then move the value out instead of cloning it.
    pub(crate) fn complete_deferred(&self, outcome: Result<T, Error>) -> Option<PendingWake> {
        let mut state = self.lock();
        if !matches!(*state, State::Pending(_)) {
            drop(state);
            return None;
        }
        let new_state = match outcome {
            Ok(value) => State::Ready(value),
            Err(err) => State::Failed(Box::new(err)),
        };
        let State::Pending(pending) = std::mem::replace(&mut *state, new_state) else {
            unreachable!("checked above")
        };
        self.done.store(true, Ordering::Release);
        drop(state);
        Some(PendingWake(pending))
    }

    /// Remembers the tokio task that runs this slot's task while it is pending;
    /// aborts it at once if the slot was cancelled or shut down meanwhile.
    pub(crate) fn set_abort(&self, abort: AbortHandle) {
        let mut state = self.lock();
        match &mut *state {
            State::Pending(pending) => pending.abort = Some(abort),
            State::Failed(_) => {
                drop(state);
                abort.abort();
            }
            State::Ready(_) => {}
        }
    }

    /// Reads the outcome if it is final, with `read`; otherwise registers (or
    /// refreshes) the caller's waker under `key`.
    pub(crate) fn poll_read<R>(
        &self,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
        read: impl FnOnce(Result<&T, &Error>) -> R,
    ) -> Poll<R> {
        let mut state = self.lock();
        match &mut *state {
            State::Pending(Pending { waiters, .. }) => {
                match *key {
                    Some(k) => waiters.update(k, cx.waker()),
                    None => *key = Some(waiters.insert(cx.waker().clone())),
                }
                Poll::Pending
            }
            State::Ready(value) => {
                *key = None;
                Poll::Ready(read(Ok(value)))
            }
            State::Failed(err) => {
                *key = None;
                Poll::Ready(read(Err(&**err)))
            }
        }
    }

    /// Reads the outcome if it is final, without registering anything.
    pub(crate) fn try_read<R>(&self, read: impl FnOnce(Result<&T, &Error>) -> R) -> Option<R> {
        match &*self.lock() {
            State::Pending(_) => None,
            State::Ready(value) => Some(read(Ok(value))),
            State::Failed(err) => Some(read(Err(&**err))),
        }
    }

    /// Takes the outcome out of a slot that nobody else can read any more.
    pub(crate) fn into_outcome(self) -> Option<Result<T, Error>> {
        match self
            .state
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
        {
            State::Pending(_) => None,
            State::Ready(value) => Some(Ok(value)),
            State::Failed(err) => Some(Err(*err)),
        }
    }

    /// Fails a pending slot with the error `make` builds from the task's
    /// identity, and aborts its task. Returns `false` if the slot was already
    /// complete.
    pub(crate) fn fail(&self, make: fn(TaskInfo) -> Error) -> bool {
        if self.is_done() {
            return false;
        }
        match self.complete_deferred(Err(make(self.info.clone()))) {
            Some(wake) => {
                wake.abort_and_wake_all();
                true
            }
            None => false,
        }
    }

    /// Forgets a waiter whose future was dropped before the slot completed.
    pub(crate) fn remove_waiter(&self, key: usize) {
        if let State::Pending(pending) = &mut *self.lock() {
            pending.waiters.remove(key);
        }
    }

    #[cfg(test)]
    fn waiter_count(&self) -> usize {
        match &*self.lock() {
            State::Pending(p) => p.waiters.count(),
            _ => 0,
        }
    }
}

/// The type-erased view of a slot that the runtime's registry keeps, so shutdown
/// and cancel can fail a pending task without knowing its value type.
pub(crate) trait ErasedSlot: Send + Sync {
    /// Fails the slot with the error `make` builds from the task's identity.
    /// Returns `false` if the slot was already complete.
    fn fail_with(&self, make: fn(TaskInfo) -> Error) -> bool;

    /// Whether the slot has left `Pending`.
    fn is_complete(&self) -> bool;
}

impl<T: Send> ErasedSlot for Slot<T> {
    fn fail_with(&self, make: fn(TaskInfo) -> Error) -> bool {
        self.fail(make)
    }

    fn is_complete(&self) -> bool {
        self.is_done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectId;
    use futures::task::noop_waker_ref;
    use std::panic::Location;

    fn slot() -> Slot<u32> {
        Slot::pending(
            TaskInfo::new(ObjectId::next(), None, Location::caller()),
            None,
        )
    }

    #[test]
    fn first_completion_wins() {
        let s = slot();
        assert!(!s.is_done());
        assert!(s.complete(Ok(1)));
        assert!(!s.complete(Ok(2)));
        assert!(!s.fail_with(|task| Error::Cancelled { task }));
        assert_eq!(s.try_read(|r| *r.unwrap()), Some(1));
    }

    #[test]
    fn dropped_waiters_are_removed_and_keys_reused() {
        let s = slot();
        let mut cx = Context::from_waker(noop_waker_ref());
        let (mut a, mut b) = (None, None);
        assert!(s.poll_read(&mut a, &mut cx, |_| ()).is_pending());
        assert!(s.poll_read(&mut b, &mut cx, |_| ()).is_pending());
        assert_eq!(s.waiter_count(), 2);
        s.remove_waiter(a.unwrap());
        assert_eq!(s.waiter_count(), 1);
        let mut c = None;
        assert!(s.poll_read(&mut c, &mut cx, |_| ()).is_pending());
        assert_eq!(c, a, "a freed key is reused");
        let (mut d, mut e) = (None, None);
        assert!(s.poll_read(&mut d, &mut cx, |_| ()).is_pending());
        assert!(s.poll_read(&mut e, &mut cx, |_| ()).is_pending());
        assert_eq!(s.waiter_count(), 4);
        s.remove_waiter(d.unwrap());
        let mut f = None;
        assert!(s.poll_read(&mut f, &mut cx, |_| ()).is_pending());
        assert_eq!(f, d, "a freed overflow key is reused");
        s.complete(Err(Error::Cancelled {
            task: s.info().clone(),
        }));
        assert!(s.poll_read(&mut c, &mut cx, |r| r.is_err()).is_ready());
        assert_eq!(c, None);
    }
}
