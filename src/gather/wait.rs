//! `wait`: Ray's `ray.wait`.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

use crate::error::Error;
use crate::gather::Readiness;
use crate::object_ref::ObjectRef;
use crate::observe::{Waiting, MAX_WAIT_IDS};
use crate::timer::LazyTimeout;

/// What [`wait`] returns: the ready refs and the rest, both in input order.
pub type WaitOutput<T> = (Vec<ObjectRef<T>>, Vec<ObjectRef<T>>);

/// Waits until `num_returns` of `refs` are ready, or `timeout` passes: Ray's
/// `ray.wait(refs, num_returns=..., timeout=...)`.
///
/// Returns `(ready, not_ready)`: `ready` holds at most `num_returns` refs that
/// have finished (with a value or an error), `not_ready` holds all the others;
/// both keep input order. On timeout, `ready` holds whatever was ready by then.
/// `timeout: None` waits as long as it takes; a zero timeout never waits.
/// `num_returns == 0` returns at once with every ref in `not_ready`. The tasks
/// keep running either way, and the refs are clones of the input.
///
/// To process results in completion order, call `wait(&rest, 1, None)` in a
/// loop as in Ray; each call costs O(`refs.len()`) (it returns a new list of the
/// rest), so draining n refs that way is O(n²). [`WaitSet`](crate::WaitSet) and
/// [`as_completed`](crate::as_completed) drain in O(n).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), taskref::Error> {
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let refs = vec![rt.spawn(std::future::pending::<u8>()), rt.put(2), rt.put(3)];
/// let (ready, rest) = taskref::wait(&refs, 1, None).await?;
/// assert_eq!(ready.len(), 1);
/// assert_eq!(ready[0].id(), refs[1].id()); // the first ready one in input order
/// assert_eq!(rest.len(), 2);
/// assert_eq!(rest[0].id(), refs[0].id());
///
/// let err = taskref::wait(&refs, 4, None).await.unwrap_err();
/// assert!(matches!(err, taskref::Error::InvalidArgument { .. }));
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `num_returns > refs.len()` or the same ref is
/// in `refs` twice; [`Error::NoTimer`] if a timeout is asked of a runtime
/// attached to a tokio runtime without a timer. A failed task does not make
/// `wait` fail: its ref is simply ready.
///
/// # Panics
///
/// Never.
///
/// # Cancel safety
///
/// This function is cancel safe: dropping the future loses nothing.
#[track_caller]
pub fn wait<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
    timeout: Option<Duration>,
) -> Wait<'_, T> {
    Wait::new(refs, num_returns, timeout, Location::caller())
}

/// Future returned by [`wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Wait<'a, T> {
    refs: &'a [ObjectRef<T>],
    num_returns: usize,
    timeout: Option<Duration>,
    location: &'static Location<'static>,
    /// `None` before the first poll.
    pending: Option<FuturesUnordered<Readiness<T>>>,
    ready_count: usize,
    sleep: LazyTimeout,
    /// For the timeline: which call, and since when it waited.
    call: &'static str,
    waiting: Waiting,
}

impl<'a, T> Wait<'a, T> {
    pub(crate) fn new(
        refs: &'a [ObjectRef<T>],
        num_returns: usize,
        timeout: Option<Duration>,
        location: &'static Location<'static>,
    ) -> Self {
        Wait {
            refs,
            num_returns,
            timeout,
            location,
            pending: None,
            ready_count: 0,
            sleep: LazyTimeout::default(),
            call: "wait",
            waiting: Waiting::default(),
        }
    }

    /// Names the call for the timeline (the blocking twin).
    pub(crate) fn named(mut self, call: &'static str) -> Self {
        self.call = call;
        self
    }

    /// Records the wait, if the call had to wait.
    fn finished(&mut self) {
        if !self.waiting.is_started() {
            return;
        }
        let context = self.refs.iter().find_map(|r| r.slot.context());
        let observer = context.map(|c| c.observer());
        let ids = self.refs.iter().take(MAX_WAIT_IDS).map(ObjectRef::id);
        self.waiting
            .finish(observer, self.call, self.location, ids, self.refs.len());
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |message: String| Error::InvalidArgument {
            message,
            location: self.location,
        };
        if self.num_returns > self.refs.len() {
            return Err(invalid(format!(
                "`wait` asked for num_returns = {} but was given only {} refs",
                self.num_returns,
                self.refs.len()
            )));
        }
        let mut seen: HashSet<_, BuildHasherDefault<IdHasher>> =
            HashSet::with_capacity_and_hasher(self.refs.len(), Default::default());
        if let Some(dup) = self.refs.iter().find(|r| !seen.insert(r.id())) {
            return Err(invalid(format!(
                "`wait` was given the ref {} more than once",
                dup.id()
            )));
        }
        Ok(())
    }

    /// Splits the refs as they are now: up to `num_returns` ready ones, in input
    /// order, and the rest.
    pub(crate) fn partition(&mut self) -> WaitOutput<T> {
        self.finished();
        let mut ready = Vec::with_capacity(self.num_returns);
        let mut rest = Vec::with_capacity(self.refs.len().saturating_sub(self.num_returns));
        for object in self.refs {
            if ready.len() < self.num_returns && object.is_ready() {
                ready.push(object.clone());
            } else {
                rest.push(object.clone());
            }
        }
        (ready, rest)
    }

    fn poll_timeout(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // The first pending ref's runtime provides the timer.
        let refs = self.refs;
        let location = self.location;
        let make_sleep = |timeout| {
            let context = refs.iter().find(|r| !r.is_ready())?.slot.context()?;
            Some(context.sleep(timeout, location))
        };
        self.sleep.poll(cx, self.timeout, make_sleep)
    }
}

impl<T> Future for Wait<'_, T> {
    type Output = Result<WaitOutput<T>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.pending.is_none() {
            this.validate()?;
            let pending = FuturesUnordered::new();
            for (index, object) in this.refs.iter().enumerate() {
                if object.is_ready() {
                    this.ready_count += 1;
                } else {
                    pending.push(Readiness::new(index, object.clone()));
                }
            }
            this.waiting.start();
            this.pending = Some(pending);
        }
        let pending = this.pending.as_mut().expect("set above");
        while this.ready_count < this.num_returns {
            match pending.poll_next_unpin(cx) {
                Poll::Ready(Some(_)) => this.ready_count += 1,
                Poll::Ready(None) => break,
                Poll::Pending => {
                    return match this.poll_timeout(cx) {
                        Poll::Ready(Ok(())) => Poll::Ready(Ok(this.partition())),
                        Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
        Poll::Ready(Ok(this.partition()))
    }
}

/// Ids are distinct sequential integers: one multiplication spreads them well
/// enough, at a fraction of SipHash's cost (the duplicate check runs on every
/// `wait` call over the whole list).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl<T> fmt::Debug for Wait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("refs", &self.refs.len())
            .field("num_returns", &self.num_returns)
            .field("timeout", &self.timeout)
            .field("ready", &self.ready_count)
            .finish_non_exhaustive()
    }
}
