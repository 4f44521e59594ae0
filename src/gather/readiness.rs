//! A future that resolves when one ref of a batch is ready, yielding its index and
//! the ref: the unit that `FuturesUnordered` schedules for the gathering
//! functions, so each completion costs O(1).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::ObjectRef;

pub(crate) struct Readiness<T> {
    object: Option<ObjectRef<T>>,
    index: usize,
    key: Option<usize>,
}

impl<T> Readiness<T> {
    pub(crate) fn new(index: usize, object: ObjectRef<T>) -> Self {
        Readiness {
            object: Some(object),
            index,
            key: None,
        }
    }
}

impl<T> Readiness<T> {
    /// The ref's place in its batch.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The ref this future waits on, until it is ready.
    pub(crate) fn object(&self) -> Option<&ObjectRef<T>> {
        self.object.as_ref()
    }
}

impl<T> Future for Readiness<T> {
    type Output = (usize, ObjectRef<T>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let object = this
            .object
            .as_ref()
            .expect("`Readiness` polled after completion");
        match object.slot.poll_ready(&mut this.key, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready((this.index, this.object.take().expect("checked"))),
        }
    }
}

impl<T> Drop for Readiness<T> {
    fn drop(&mut self) {
        if let (Some(object), Some(key)) = (&self.object, self.key) {
            object.slot.remove_waiter(key);
        }
    }
}

impl<T> fmt::Debug for Readiness<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("index", &self.index)
            .field("object", &self.object)
            .finish()
    }
}
