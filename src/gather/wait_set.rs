//! `WaitSet`: Ray's `wait` drain loop at O(1) amortised per item.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::context::RuntimeContext;
use crate::error::Error;
use crate::gather::Completions;
use crate::object_ref::ObjectRef;
use crate::observe::{Waiting, MAX_WAIT_IDS};
use crate::timer::LazyTimeout;

/// A set of pending refs to drain with repeated waits: the linear form of Ray's
/// `ready, refs = ray.wait(refs, num_returns=1)` loop.
///
/// [`wait`](crate::wait) takes a slice and returns the refs that are not ready as
/// a new `Vec`, as `ray.wait` does, so a drain loop over n refs rebuilds that list
/// n times: O(n²) in all (Ray's loop is quadratic too). A `WaitSet` keeps the
/// pending refs itself and hands out the ready ones as they complete, so draining
/// n refs costs O(n).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), taskref::Error> {
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let refs: Vec<_> = (0..10u64).map(|i| rt.spawn(async move { i })).collect();
/// let mut pending = taskref::WaitSet::new(refs);
/// let mut sum = 0;
/// while !pending.is_empty() {
///     for r in pending.wait(1, None).await? {
///         sum += r.await?;
///     }
/// }
/// assert_eq!(sum, 45);
/// # Ok(()) }
/// ```
pub struct WaitSet<T> {
    pending: Completions<T>,
    /// The index of the next ref pushed.
    next_index: usize,
}

impl<T> WaitSet<T> {
    /// A set holding `refs`.
    pub fn new(refs: impl IntoIterator<Item = ObjectRef<T>>) -> Self {
        let refs = refs.into_iter();
        let mut set = WaitSet {
            // Sized up front, as `as_completed` is: no regrowing of the queue.
            pending: Completions::with_capacity(refs.size_hint().0),
            next_index: 0,
        };
        refs.for_each(|object| set.push(object));
        set
    }

    /// How many refs the set still holds.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether every ref has been handed out.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds a ref to the set.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let mut set = taskref::WaitSet::new(Vec::new());
    /// set.push(rt.put(1));
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn push(&mut self, object: ObjectRef<T>) {
        self.pending.push(self.next_index, object);
        self.next_index += 1;
    }

    /// Waits until `num_returns` refs of the set are ready, or `timeout` passes,
    /// and removes and returns the ready ones (at most `num_returns`): refs that
    /// were ready when added first, in the order they were added, then the
    /// others as they complete. On timeout it returns what was ready by then,
    /// possibly nothing. O(1) amortised per returned ref.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `num_returns` exceeds [`len`](WaitSet::len);
    /// [`Error::NoTimer`] if a timeout is asked of a runtime attached to a tokio
    /// runtime without a timer.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: refs collected by a dropped future go back
    /// into the set.
    #[track_caller]
    pub fn wait(&mut self, num_returns: usize, timeout: Option<Duration>) -> WaitSetWait<'_, T> {
        WaitSetWait {
            set: self,
            num_returns,
            timeout,
            location: Location::caller(),
            ready: Vec::new(),
            sleep: LazyTimeout::default(),
            call: "WaitSet::wait",
            waiting: Waiting::default(),
        }
    }

    /// The wait behind [`block_wait`](WaitSet::block_wait): no timer, the
    /// blocking engine keeps the deadline.
    pub(crate) fn wait_at(
        &mut self,
        num_returns: usize,
        location: &'static Location<'static>,
    ) -> WaitSetWait<'_, T> {
        WaitSetWait {
            set: self,
            num_returns,
            timeout: None,
            location,
            ready: Vec::new(),
            sleep: LazyTimeout::default(),
            call: "WaitSet::wait",
            waiting: Waiting::default(),
        }
    }

    /// The runtime of the first pending ref, if any.
    pub(crate) fn context(&self) -> Option<Arc<RuntimeContext>> {
        self.pending
            .refs()
            .find_map(|object| object.slot.context().cloned())
    }
}

impl<T> FromIterator<ObjectRef<T>> for WaitSet<T> {
    fn from_iter<I: IntoIterator<Item = ObjectRef<T>>>(refs: I) -> Self {
        WaitSet::new(refs)
    }
}

impl<T> fmt::Debug for WaitSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitSet")
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Future returned by [`WaitSet::wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WaitSetWait<'a, T> {
    set: &'a mut WaitSet<T>,
    num_returns: usize,
    timeout: Option<Duration>,
    location: &'static Location<'static>,
    /// Ready refs collected so far, with their index in the set.
    ready: Vec<(usize, ObjectRef<T>)>,
    sleep: LazyTimeout,
    /// For the timeline: a wait that had to wait is recorded (one that found
    /// its refs ready returns at once and is not, which keeps the drain loop
    /// at O(1) per item).
    call: &'static str,
    waiting: Waiting,
}

impl<T> WaitSetWait<'_, T> {
    /// Names the call for the timeline (the blocking twin).
    pub(crate) fn named(mut self, call: &'static str) -> Self {
        self.call = call;
        self
    }

    /// The refs collected so far, removed from the set, and the wait recorded
    /// if it had to wait.
    pub(crate) fn take_ready(&mut self) -> Vec<ObjectRef<T>> {
        if self.waiting.is_started() {
            let context = self
                .ready
                .iter()
                .find_map(|(_, r)| r.slot.context().cloned());
            let context = context.or_else(|| self.set.context());
            let observer = context.as_deref().map(|c| c.observer());
            let ids = self.ready.iter().take(MAX_WAIT_IDS).map(|(_, r)| r.id());
            let count = self.ready.len();
            self.waiting
                .finish(observer, self.call, self.location, ids, count);
        }
        // By value, so the collect reuses the allocation.
        std::mem::take(&mut self.ready)
            .into_iter()
            .map(|(_, object)| object)
            .collect()
    }

    fn poll_timeout(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let pending = &self.set.pending;
        let location = self.location;
        let make_sleep = |timeout| {
            let context = pending
                .refs()
                .find_map(|object| object.slot.context().cloned())?;
            Some(context.sleep(timeout, location))
        };
        self.sleep.poll(cx, self.timeout, make_sleep)
    }
}

impl<T> Future for WaitSetWait<'_, T> {
    type Output = Result<Vec<ObjectRef<T>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let available = this.set.len() + this.ready.len();
        if this.num_returns > available {
            return Poll::Ready(Err(Error::InvalidArgument {
                message: format!(
                    "`WaitSet::wait` asked for num_returns = {} but the set holds only {available} refs",
                    this.num_returns
                ),
                location: this.location,
            }));
        }
        while this.ready.len() < this.num_returns {
            match this.set.pending.poll_next(cx) {
                Poll::Ready(Some(ready)) => this.ready.push(ready),
                Poll::Ready(None) => break,
                Poll::Pending => match this.poll_timeout(cx) {
                    Poll::Ready(Ok(())) => break,
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => {
                        if !this.waiting.is_started() {
                            let context = this.set.context();
                            this.waiting.start(context.as_ref().map(|c| c.observer()));
                            let ids = this.set.pending.refs().map(|r| r.id());
                            let count = this.set.len();
                            this.waiting.note_any(
                                this.call,
                                this.location,
                                ids,
                                count,
                                context.as_ref(),
                            );
                        }
                        return Poll::Pending;
                    }
                },
            }
        }
        Poll::Ready(Ok(this.take_ready()))
    }
}

impl<T> Drop for WaitSetWait<'_, T> {
    fn drop(&mut self) {
        // Cancel safety: what this wait collected but did not return goes back,
        // first in line and in the order it was collected.
        for (index, object) in self.ready.drain(..).rev() {
            self.set.pending.put_back(index, object);
        }
    }
}

impl<T> fmt::Debug for WaitSetWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitSetWait")
            .field("num_returns", &self.num_returns)
            .field("ready", &self.ready.len())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
