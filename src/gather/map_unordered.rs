//! `map_unordered`: submit lazily, at most `max_in_flight` pending, results in
//! completion order.

use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{FusedStream, FuturesUnordered, Stream, StreamExt};

use crate::error::Error;
use crate::gather::{Readiness, Traced};
use crate::ObjectRef;

/// Maps `submit` over `items`, keeping at most `max_in_flight` tasks pending,
/// and yields `(index, outcome)` in completion order: Ray's
/// `ray.util.map_unordered` and its "limit pending tasks" pattern.
///
/// `submit` is called lazily, from the stream's poll: a new item is submitted
/// whenever fewer than `max_in_flight` are pending, so a long (or endless)
/// iterator never floods the runtime. `index` is the item's position in
/// `items`. A `max_in_flight` of 0 is treated as 1. O(1) amortised per item.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures::StreamExt;
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let square = rt.remote(|x: u64| async move { x * x });
/// let mut total = 0;
/// let mut results = taskref::map_unordered(1..=100, 8, |x| square.remote(x));
/// while let Some((_index, value)) = results.next().await {
///     total += value.unwrap();
/// }
/// assert_eq!(total, 338_350);
/// # }
/// ```
///
/// # Panics
///
/// A panic in `submit` propagates to the caller that polls the stream; tasks
/// already submitted keep running.
///
/// # Cancel safety
///
/// [`StreamExt::next`] on this stream is cancel safe.
#[track_caller]
pub fn map_unordered<I, T, F>(
    items: I,
    max_in_flight: usize,
    submit: F,
) -> MapUnordered<I::IntoIter, F, T>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> ObjectRef<T>,
    T: Clone,
{
    map_unordered_as(
        items,
        max_in_flight,
        submit,
        "map_unordered",
        Location::caller(),
    )
}

/// [`map_unordered`] recorded as `call` at `location` (the blocking twin's).
pub(crate) fn map_unordered_as<I, T, F>(
    items: I,
    max_in_flight: usize,
    submit: F,
    call: &'static str,
    location: &'static Location<'static>,
) -> MapUnordered<I::IntoIter, F, T>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> ObjectRef<T>,
{
    MapUnordered {
        items: items.into_iter().enumerate(),
        submit,
        max_in_flight: max_in_flight.max(1),
        pending: FuturesUnordered::new(),
        exhausted: false,
        traced: Traced::empty(call, location),
    }
}

/// Stream returned by [`map_unordered`].
///
/// The timeline records it as one wait of the caller (as an
/// [`as_completed`](crate::as_completed) stream), from the first time it has
/// to wait until its last item, or until it is dropped.
#[must_use = "streams do nothing unless polled"]
pub struct MapUnordered<I, F, T> {
    items: std::iter::Enumerate<I>,
    submit: F,
    max_in_flight: usize,
    pending: FuturesUnordered<Readiness<T>>,
    exhausted: bool,
    traced: Traced,
}

impl<I, F, T> MapUnordered<I, F, T> {
    /// How many submitted tasks have not been yielded yet.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

// Nothing is pinned in place: the iterator and closure are only moved by value.
impl<I, F, T> Unpin for MapUnordered<I, F, T> {}

impl<I, F, T> Stream for MapUnordered<I, F, T>
where
    I: Iterator,
    F: FnMut(I::Item) -> ObjectRef<T>,
    T: Clone,
{
    type Item = (usize, Result<T, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while !this.exhausted && this.pending.len() < this.max_in_flight {
            match this.items.next() {
                Some((index, item)) => {
                    let object = (this.submit)(item);
                    this.traced.add(&object);
                    this.pending.push(Readiness::new(index, object));
                }
                None => this.exhausted = true,
            }
        }
        match this.pending.poll_next_unpin(cx) {
            Poll::Ready(Some((index, object))) => {
                let outcome = object
                    .take_outcome()
                    .unwrap_or_else(|_| unreachable!("a ready ref has an outcome"));
                Poll::Ready(Some((index, outcome)))
            }
            // Nothing pending after the refill above means no items are left.
            Poll::Ready(None) => {
                this.traced.finish();
                Poll::Ready(None)
            }
            Poll::Pending => {
                // The stream's wait starts when it first has to wait.
                this.traced.start();
                Poll::Pending
            }
        }
    }
}

impl<I, F, T> Drop for MapUnordered<I, F, T> {
    fn drop(&mut self) {
        // Dropped once the caller has what it needs: that wait counts too.
        self.traced.finish();
    }
}

impl<I, F, T> FusedStream for MapUnordered<I, F, T>
where
    I: Iterator,
    F: FnMut(I::Item) -> ObjectRef<T>,
    T: Clone,
{
    fn is_terminated(&self) -> bool {
        self.exhausted && self.pending.is_empty()
    }
}

impl<I, F, T> fmt::Debug for MapUnordered<I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnordered")
            .field("in_flight", &self.pending.len())
            .field("max_in_flight", &self.max_in_flight)
            .field("exhausted", &self.exhausted)
            .finish_non_exhaustive()
    }
}
