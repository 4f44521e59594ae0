//! `Completions`: refs handed out in completion order, the engine of
//! `as_completed` and `WaitSet`.
//
// Refs that are ready when they are added never enter the `FuturesUnordered`:
// they wait in a plain queue, in input order, and come out first. Draining
// finished work (the common case: a batch that ran while the caller did
// something else) then costs a queue pop per item, with no waker, no node
// allocation and no scheduling; only refs still pending when added pay for a
// `Readiness` future, whose completion costs O(1).

use std::collections::VecDeque;
use std::task::{Context, Poll};

use futures::stream::{FusedStream, FuturesUnordered, StreamExt};

use crate::gather::Readiness;
use crate::object_ref::ObjectRef;

/// Refs and their indices, yielded ready-first, then as they complete.
pub(crate) struct Completions<T> {
    /// Ready when added, in input order.
    ready: VecDeque<(usize, ObjectRef<T>)>,
    /// Pending when added.
    pending: FuturesUnordered<Readiness<T>>,
}

impl<T> Completions<T> {
    /// Room for `n` refs ready when added, without growing the queue.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Completions {
            ready: VecDeque::with_capacity(n),
            pending: FuturesUnordered::new(),
        }
    }

    /// Adds `object` under `index`.
    pub(crate) fn push(&mut self, index: usize, object: ObjectRef<T>) {
        if object.is_ready() {
            self.ready.push_back((index, object));
        } else {
            self.pending.push(Readiness::new(index, object));
        }
    }

    /// Gives back a ready ref that was taken but not used (a dropped wait):
    /// it comes out first again.
    pub(crate) fn put_back(&mut self, index: usize, object: ObjectRef<T>) {
        self.ready.push_front((index, object));
    }

    /// The next ready ref: those ready when added first, then the others as
    /// they complete. `Ready(None)` once every ref is out.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(usize, ObjectRef<T>)>> {
        if let Some(next) = self.ready.pop_front() {
            return Poll::Ready(Some(next));
        }
        self.pending.poll_next_unpin(cx)
    }

    /// How many refs are still in.
    pub(crate) fn len(&self) -> usize {
        self.ready.len() + self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the stream is over (for `FusedStream`).
    pub(crate) fn is_terminated(&self) -> bool {
        self.ready.is_empty() && self.pending.is_terminated()
    }

    /// Every ref still in, in no particular order.
    pub(crate) fn refs(&self) -> impl Iterator<Item = &ObjectRef<T>> {
        let ready = self.ready.iter().map(|(_, object)| object);
        ready.chain(self.pending.iter().filter_map(Readiness::object))
    }
}
