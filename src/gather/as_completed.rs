//! `as_completed`: a stream of outcomes in completion order.

use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{FusedStream, Stream};

use crate::error::Error;
use crate::gather::{Completions, Traced};
use crate::object_ref::ObjectRef;

/// Turns refs into a [`Stream`] of `(index, outcome)` in the order the tasks
/// finish, where `index` is the ref's position in the input.
///
/// Refs that are already ready come first, in input order. Each item costs O(1)
/// amortised, so draining n refs is O(n) (a `wait(&rest, 1, None)` loop rescans
/// the rest for every item). Values are moved out of refs this stream holds last.
///
/// Processing results as they complete, rather than in submission order, keeps
/// the caller busy while slow tasks are still running.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures::StreamExt;
/// use std::time::Duration;
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let sleepy = rt.remote(|ms: u64| async move {
///     tokio::time::sleep(Duration::from_millis(ms)).await;
///     ms
/// });
/// let refs = vec![sleepy.remote(60), sleepy.remote(1), sleepy.remote(30)];
/// let order: Vec<usize> = taskref::as_completed(refs)
///     .map(|(index, value)| { value.unwrap(); index })
///     .collect()
///     .await;
/// assert_eq!(order, [1, 2, 0]);
/// # }
/// ```
///
/// # Panics
///
/// Never.
///
/// # Cancel safety
///
/// [`StreamExt::next`](futures::StreamExt::next) on this stream is cancel safe: an item is removed from the
/// stream only when it is returned.
#[track_caller]
pub fn as_completed<T, I>(refs: I) -> AsCompleted<T>
where
    T: Clone,
    I: IntoIterator<Item = ObjectRef<T>>,
{
    as_completed_as(refs, "as_completed", Location::caller())
}

/// [`as_completed`] recorded as `call` at `location` (the blocking twin's name).
pub(crate) fn as_completed_as<T, I>(
    refs: I,
    call: &'static str,
    location: &'static Location<'static>,
) -> AsCompleted<T>
where
    I: IntoIterator<Item = ObjectRef<T>>,
{
    let mut traced = Traced::empty(call, location);
    let refs = refs.into_iter();
    // Sized up front: most drains are of refs that are all done, and growing
    // the queue by doubling copies it and touches fresh pages each time.
    let mut pending = Completions::with_capacity(refs.size_hint().0);
    for (index, object) in refs.enumerate() {
        traced.add(&object);
        pending.push(index, object);
    }
    AsCompleted { pending, traced }
}

/// Stream returned by [`as_completed`].
///
/// The timeline records it as one wait of the caller, from the first time it
/// has to wait until its last item (or until it is dropped); a stream whose
/// refs were all ready never waited and is not recorded.
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<T> {
    pending: Completions<T>,
    traced: Traced,
}

impl<T> AsCompleted<T> {
    /// How many refs have not been yielded yet.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether every ref has been yielded.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

impl<T: Clone> Stream for AsCompleted<T> {
    type Item = (usize, Result<T, Error>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = match self.pending.poll_next(cx) {
            Poll::Ready(next) => next,
            Poll::Pending => {
                // The stream's wait starts when it first has to wait.
                self.traced.start();
                return Poll::Pending;
            }
        };
        let Some((index, object)) = next else {
            self.traced.finish();
            return Poll::Ready(None);
        };
        let outcome = object
            .take_outcome()
            .unwrap_or_else(|_| unreachable!("a ready ref has an outcome"));
        if self.pending.is_empty() {
            // The last item: the wait ends here, not at the next poll (which
            // a caller who counted the items never makes).
            self.traced.finish();
        }
        Poll::Ready(Some((index, outcome)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}

impl<T: Clone> FusedStream for AsCompleted<T> {
    fn is_terminated(&self) -> bool {
        self.pending.is_terminated()
    }
}

impl<T> Drop for AsCompleted<T> {
    fn drop(&mut self) {
        // A stream is often dropped once the caller has what it needs: that
        // wait counts too.
        self.traced.finish();
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("pending", &self.pending.len())
            .finish()
    }
}
