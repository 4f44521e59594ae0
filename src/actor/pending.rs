//! An actor's bound on pending calls (Ray's `max_pending_calls`): a call
//! beyond it is refused at once rather than queued.
//
// A call counts from its submission until it is done (run, failed, or
// cancelled): the count lives in a guard the call's closure owns, so every
// way a call can end, including being dropped unrun, gives its place back.
// The call's ref also holds a waker of the place: a cancel decides the ref
// while the call may still sit in the mailbox behind a long one, and the
// place comes back then, not when the actor reaches the call.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use crate::ObjectRef;

/// The bound, and how many calls hold a place under it.
pub(super) struct PendingCalls {
    limit: usize,
    count: AtomicUsize,
}

/// One call's place under the bound, given back when dropped, or when
/// its [`waker`](PendingCall::waker) is woken, whichever comes first.
pub(super) struct PendingCall(Option<Arc<Place>>);

struct Place {
    bound: Arc<PendingCalls>,
    given_back: AtomicBool,
}

impl Place {
    fn give_back(&self) {
        if !self.given_back.swap(true, Ordering::AcqRel) {
            self.bound.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Wake for Place {
    fn wake(self: Arc<Self>) {
        self.give_back();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.give_back();
    }
}

impl PendingCall {
    /// Gives the place back when `object` is decided, however that happens
    /// (and not before, even if this guard is dropped first: see
    /// [`give_back_when_decided`](PendingCall::give_back_when_decided)).
    pub(super) fn watch<R>(&self, object: &ObjectRef<R>) {
        let Some(place) = &self.0 else { return };
        let waker = Waker::from(Arc::clone(place));
        let _ = object
            .slot
            .poll_ready(&mut None, &mut Context::from_waker(&waker));
    }

    /// Hands the place to `object`: given back when it is decided. For a
    /// call that runs elsewhere (on a Ray cluster), whose ref is all there
    /// is to watch here.
    pub(super) fn give_back_when_decided<R>(mut self, object: &ObjectRef<R>) {
        self.watch(object);
        // The slot's waker holds the place now; this guard lets go without
        // giving it back.
        self.0 = None;
    }
}

impl PendingCalls {
    pub(super) fn new(limit: usize) -> Arc<PendingCalls> {
        Arc::new(PendingCalls {
            limit,
            count: AtomicUsize::new(0),
        })
    }

    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// A place for one more call, unless `limit` calls hold one.
    pub(super) fn admit(self: &Arc<Self>) -> Option<PendingCall> {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| {
                PendingCall(Some(Arc::new(Place {
                    bound: Arc::clone(self),
                    given_back: AtomicBool::new(false),
                })))
            })
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if let Some(place) = &self.0 {
            place.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_back_when_calls_end() {
        let bound = PendingCalls::new(2);
        let (a, b) = (bound.admit().unwrap(), bound.admit().unwrap());
        assert!(bound.admit().is_none(), "two pending: full");
        drop(a);
        let c = bound.admit().expect("a place came back");
        drop((b, c));
        assert_eq!(bound.count.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_place_is_given_back_once_by_its_waker_or_its_drop() {
        let bound = PendingCalls::new(1);
        let place = bound.admit().unwrap();
        let waker = Waker::from(Arc::clone(place.0.as_ref().unwrap()));
        waker.wake_by_ref();
        let next = bound.admit().expect("woken: the place came back");
        waker.wake();
        drop(place);
        assert!(
            bound.admit().is_none(),
            "the first place was given back once"
        );
        drop(next);
        assert_eq!(bound.count.load(Ordering::SeqCst), 0);
    }
}
