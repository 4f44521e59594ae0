//! `wait`: Ray's `ray.wait`.

use std::borrow::Cow;
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
use crate::observe::{AllOf, Waiting, MAX_WAIT_IDS};
use crate::timer::LazyTimeout;

/// What [`wait`] returns: the ready refs and the rest, both in input order.
pub type WaitOutput<T> = (Vec<ObjectRef<T>>, Vec<ObjectRef<T>>);

/// Waits until `num_returns` of `refs` are ready, or `timeout` passes: Ray's
/// `ray.wait(refs, num_returns=..., timeout=...)`.
///
/// Returns `(ready, not_ready)`: `ready` holds at most `num_returns` refs that
/// have finished (with a value or an error), the first ones in input order;
/// `not_ready` holds all the others; both keep input order. On timeout,
/// `ready` holds whatever was ready by then. `timeout: None` waits as long as
/// it takes; a zero timeout never waits. `num_returns == 0` returns at once
/// with every ref in `not_ready`. The tasks keep running either way.
///
/// `refs` is a slice (`&refs`, `&refs[..]`, `&[a, b]`: the lists returned are
/// clones) or a `Vec` by value (`wait(rest, 1, None)`: the refs are moved into
/// the lists, nothing is cloned). The by-value form is Ray's drain loop as Ray
/// users write it:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), taskref::Error> {
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let mut rest: Vec<_> = (0..5).map(|i| rt.spawn(async move { i })).collect();
/// let mut seen = Vec::new();
/// while !rest.is_empty() {
///     let (ready, not_ready) = taskref::wait(rest, 1, None).await?;
///     seen.push(ready[0].get().await?);
///     rest = not_ready;
/// }
/// seen.sort();
/// assert_eq!(seen, [0, 1, 2, 3, 4]);
/// # Ok(()) }
/// ```
///
/// A call that finds `num_returns` ready refs stops looking and returns at
/// once, without registering a waker; one that must wait registers on the
/// pending refs only. Each call still costs O(`refs.len()`) to split the list
/// (by slice, a clone of every ref), so draining n refs with it is O(n²) in
/// the worst case, as in Ray; [`as_completed`](crate::as_completed) and
/// [`WaitSet`](crate::WaitSet) drain in O(n).
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
/// The duplicate check is O(`refs.len()`); a call on more than 64 refs that
/// finds `num_returns` ready refs at once skips it, so that the drain loop stays cheap (a call that
/// must wait always checks). A by-value call that fails gives its refs back
/// in no list: keep a clone if you need them after an error.
///
/// # Panics
///
/// Never.
///
/// # Cancel safety
///
/// By slice, this function is cancel safe: dropping the future loses nothing.
/// By value, the refs were moved into the future: dropping it drops them (the
/// tasks keep running, but their values are out of reach), so keep clones, or
/// use the slice form, where a wait may be dropped (`select!`, a timeout
/// around it).
#[track_caller]
pub fn wait<'a, T: 'a, R>(refs: R, num_returns: usize, timeout: Option<Duration>) -> Wait<'a, T>
where
    R: WaitRefs<'a, T>,
{
    Wait::new(refs.into_refs(), num_returns, timeout, Location::caller())
}

/// The refs [`wait`] and [`block_wait`](crate::block_wait) accept: a
/// reference to anything that is a slice of refs (`&refs`, `&refs[..]`,
/// `&[a, b]`, `&mut refs`, a boxed slice), whose lists come back as clones, or a
/// `Vec<ObjectRef<T>>` by value, whose refs are moved into the lists.
///
/// Implemented by the crate for exactly those types (sealed); you never
/// implement it.
pub trait WaitRefs<'a, T: 'a>: sealed::Sealed<T> {
    /// The refs, borrowed or owned.
    #[doc(hidden)]
    fn into_refs(self) -> Cow<'a, [ObjectRef<T>]>;
}

mod sealed {
    /// Names the refs' type, so a reference to any slice-like holder of refs
    /// can be sealed in without naming its element type twice.
    pub trait Sealed<T> {}
}

impl<'a, T: 'a, S: AsRef<[ObjectRef<T>]> + ?Sized> sealed::Sealed<T> for &'a S {}

impl<'a, T: 'a, S: AsRef<[ObjectRef<T>]> + ?Sized> WaitRefs<'a, T> for &'a S {
    fn into_refs(self) -> Cow<'a, [ObjectRef<T>]> {
        Cow::Borrowed(self.as_ref())
    }
}

impl<'a, T: 'a, S: AsRef<[ObjectRef<T>]> + ?Sized> sealed::Sealed<T> for &'a mut S {}

impl<'a, T: 'a, S: AsRef<[ObjectRef<T>]> + ?Sized> WaitRefs<'a, T> for &'a mut S {
    fn into_refs(self) -> Cow<'a, [ObjectRef<T>]> {
        Cow::Borrowed((*self).as_ref())
    }
}

impl<T> sealed::Sealed<T> for Vec<ObjectRef<T>> {}

impl<'a, T: 'a> WaitRefs<'a, T> for Vec<ObjectRef<T>> {
    fn into_refs(self) -> Cow<'a, [ObjectRef<T>]> {
        Cow::Owned(self)
    }
}

/// Lists of at most this many refs are always checked for duplicates; longer
/// ones only when the call has to wait (see [`wait`]'s errors).
const DUPLICATE_CHECK_LIMIT: usize = 64;

/// Future returned by [`wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Wait<'a, T> {
    /// Borrowed (the lists are clones) or owned (moved into the lists); taken
    /// when the future returns.
    refs: Cow<'a, [ObjectRef<T>]>,
    num_returns: usize,
    timeout: Option<Duration>,
    location: &'static Location<'static>,
    /// The pending refs, once the call found it must wait.
    pending: Option<FuturesUnordered<Readiness<T>>>,
    /// Ready refs found so far (a lower bound: more may be ready by now).
    ready_count: usize,
    sleep: LazyTimeout,
    /// For the timeline: which call, and since when it waited.
    call: &'static str,
    waiting: Waiting,
}

// Nothing is pinned in place: the refs live in a `Vec` or a slice.
impl<T> Unpin for Wait<'_, T> {}

impl<'a, T> Wait<'a, T> {
    pub(crate) fn new(
        refs: Cow<'a, [ObjectRef<T>]>,
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

    fn invalid(&self, message: String) -> Error {
        Error::InvalidArgument {
            message,
            location: self.location,
        }
    }

    fn check_count(&self) -> Result<(), Error> {
        if self.num_returns > self.refs.len() {
            return Err(self.invalid(format!(
                "`wait` asked for num_returns = {} but was given only {} refs",
                self.num_returns,
                self.refs.len()
            )));
        }
        Ok(())
    }

    fn check_duplicates(&self) -> Result<(), Error> {
        let mut seen: HashSet<_, BuildHasherDefault<IdHasher>> =
            HashSet::with_capacity_and_hasher(self.refs.len(), Default::default());
        match self.refs.iter().find(|r| !seen.insert(r.id())) {
            Some(dup) => Err(self.invalid(format!(
                "`wait` was given the ref {} more than once",
                dup.id()
            ))),
            None => Ok(()),
        }
    }

    /// Looks for ready refs in input order and stops at `num_returns`:
    /// whether it found them all.
    fn found_enough(&self) -> bool {
        self.refs
            .iter()
            .filter(|object| object.is_ready())
            .take(self.num_returns)
            .count()
            == self.num_returns
    }

    /// Splits the refs as they are now: up to `num_returns` ready ones, the
    /// first in input order, and the rest, both in input order. Takes the
    /// refs: owned ones are moved, borrowed ones cloned.
    pub(crate) fn partition(&mut self) -> WaitOutput<T> {
        self.finished();
        let wanted = self.num_returns;
        match std::mem::replace(&mut self.refs, Cow::Borrowed(&[])) {
            Cow::Borrowed(refs) => {
                let mut ready = Vec::with_capacity(wanted);
                let mut rest = Vec::with_capacity(refs.len().saturating_sub(wanted));
                for object in refs {
                    if ready.len() < wanted && object.is_ready() {
                        ready.push(object.clone());
                    } else {
                        rest.push(object.clone());
                    }
                }
                (ready, rest)
            }
            Cow::Owned(mut rest) => {
                // Move the first `wanted` ready refs out, keeping the order of
                // both lists: one `remove` (a memmove of the tail) each when
                // there are few, one pass when there are many.
                let mut ready = Vec::with_capacity(wanted);
                if wanted <= 4 {
                    let mut index = 0;
                    while ready.len() < wanted && index < rest.len() {
                        if rest[index].is_ready() {
                            ready.push(rest.remove(index));
                        } else {
                            index += 1;
                        }
                    }
                } else {
                    let mut kept = Vec::with_capacity(rest.len().saturating_sub(wanted));
                    for object in rest.drain(..) {
                        if ready.len() < wanted && object.is_ready() {
                            ready.push(object);
                        } else {
                            kept.push(object);
                        }
                    }
                    rest = kept;
                }
                (ready, rest)
            }
        }
    }

    fn poll_timeout(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // The first pending ref's runtime provides the timer.
        let refs = &self.refs;
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
            this.check_count()?;
            // The fast path: enough refs are ready now. No waker, no timer,
            // and for long lists no duplicate scan (the documented trade).
            if this.found_enough() {
                if this.refs.len() <= DUPLICATE_CHECK_LIMIT {
                    this.check_duplicates()?;
                }
                return Poll::Ready(Ok(this.partition()));
            }
            this.check_duplicates()?;
            if this.timeout == Some(Duration::ZERO) {
                // A poll (Ray's `timeout=0`): what is ready now, no waker, and
                // not a wait on the timeline.
                return Poll::Ready(Ok(this.partition()));
            }
            let pending = FuturesUnordered::new();
            for (index, object) in this.refs.iter().enumerate() {
                if object.is_ready() {
                    this.ready_count += 1;
                } else {
                    pending.push(Readiness::new(index, object.clone()));
                }
            }
            let context = this.refs.iter().find_map(|r| r.slot.context());
            this.waiting.start(context.map(|c| c.observer()));
            let not_ready = this.refs.iter().filter(|r| !r.is_ready());
            if this.timeout.is_none() && this.num_returns == this.refs.len() {
                // It ends only when every ref is done: a wait on all of them.
                let mut waited = AllOf::default();
                for r in not_ready {
                    waited.push(r.task(), r.slot.edge());
                }
                this.waiting
                    .note_all(this.call, this.location, waited, context)?;
            } else {
                this.waiting.note_any(
                    this.call,
                    this.location,
                    not_ready.map(|r| r.id()),
                    pending.len(),
                    context,
                );
            }
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
