//! An actor's bound on pending calls (Ray's `max_pending_calls`): a call
//! beyond it is refused at once rather than queued.
//
// A call counts from its submission until it is done (run, failed, or
// cancelled): the count lives in a guard the call's closure owns, so every
// way a call can end, including being dropped unrun, gives its place back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The bound, and how many calls hold a place under it.
pub(super) struct PendingCalls {
    limit: usize,
    count: AtomicUsize,
}

/// One call's place under the bound, given back when dropped.
pub(super) struct PendingCall(Arc<PendingCalls>);

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
            .map(|_| PendingCall(Arc::clone(self)))
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
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
}
