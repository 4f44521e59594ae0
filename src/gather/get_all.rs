//! `get_all` and `get_all_settled`: every value of a batch, in input order.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::stream::{FuturesUnordered, StreamExt};

use crate::context::RuntimeContext;
use crate::error::Error;
use crate::gather::{Readiness, Traced};
use crate::identity::ObjectId;
use crate::object_ref::ObjectRef;
use crate::observe::AllOf;

/// Waits for every ref and returns their values in the same order as provided:
/// the batched `ray.get(refs)`.
///
/// Fails fast: the first error (in completion order) is returned at once,
/// without waiting for the other tasks, which keep running. Values are moved out
/// of refs that this call holds last, cloned otherwise. Costs O(n) for n refs.
///
/// Submit every task first, then gather once: awaiting each ref right after
/// submitting it runs the tasks one at a time (the get-in-a-loop anti-pattern).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), taskref::Error> {
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let f = rt.remote(|i: u64| async move { i * i });
/// let refs: Vec<_> = (0..5).map(|i| f.remote(i)).collect();
/// assert_eq!(taskref::get_all(refs).await?, [0, 1, 4, 9, 16]);
///
/// let failing = vec![rt.put(1), rt.spawn(async { panic!("boom") })];
/// assert!(taskref::get_all(failing).await.unwrap_err().is_panic());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The first error of any ref: [`Error::TaskPanicked`],
/// [`Error::DependencyFailed`], [`Error::Cancelled`] or [`Error::Shutdown`].
///
/// # Panics
///
/// Never.
///
/// # Cancel safety
///
/// Dropping the future loses nothing but the values gathered so far; the tasks
/// keep running and refs held elsewhere stay valid.
#[track_caller]
pub fn get_all<T, I>(refs: I) -> GetAll<T>
where
    T: Clone,
    I: IntoIterator<Item = ObjectRef<T>>,
{
    get_all_as(refs, "get_all", Location::caller())
}

pub(crate) fn get_all_as<T, I>(
    refs: I,
    call: &'static str,
    location: &'static Location<'static>,
) -> GetAll<T>
where
    T: Clone,
    I: IntoIterator<Item = ObjectRef<T>>,
{
    GetAll {
        gather: Gather::new(refs, call, location),
        values: Vec::new(),
    }
}

/// Waits for every ref and returns every outcome in the same order as provided,
/// errors included (never fails as a whole).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let refs = vec![rt.put(1), rt.spawn(async { panic!("boom") }), rt.put(3)];
/// let outcomes = taskref::get_all_settled(refs).await;
/// assert_eq!(outcomes[0].as_ref().unwrap(), &1);
/// assert!(outcomes[1].as_ref().unwrap_err().is_panic());
/// assert_eq!(outcomes[2].as_ref().unwrap(), &3);
/// # }
/// ```
///
/// # Panics
///
/// Never.
///
/// # Cancel safety
///
/// Dropping the future loses nothing; the tasks keep running.
#[track_caller]
pub fn get_all_settled<T, I>(refs: I) -> GetAllSettled<T>
where
    T: Clone,
    I: IntoIterator<Item = ObjectRef<T>>,
{
    get_all_settled_as(refs, "get_all_settled", Location::caller())
}

pub(crate) fn get_all_settled_as<T, I>(
    refs: I,
    call: &'static str,
    location: &'static Location<'static>,
) -> GetAllSettled<T>
where
    T: Clone,
    I: IntoIterator<Item = ObjectRef<T>>,
{
    GetAllSettled {
        gather: Gather::new(refs, call, location),
        outcomes: Vec::new(),
    }
}

/// The machinery both gathering futures share: takes the outcomes of the refs
/// that are ready at the first poll, then one per completion.
struct Gather<T> {
    /// The refs, until the first poll.
    refs: Option<Vec<ObjectRef<T>>>,
    pending: FuturesUnordered<Readiness<T>>,
    /// For the timeline.
    traced: Traced,
}

impl<T> Gather<T> {
    fn new(
        refs: impl IntoIterator<Item = ObjectRef<T>>,
        call: &'static str,
        location: &'static Location<'static>,
    ) -> Self {
        let refs: Vec<ObjectRef<T>> = refs.into_iter().collect();
        Gather {
            traced: Traced::new(&refs, call, location),
            refs: Some(refs),
            pending: FuturesUnordered::new(),
        }
    }

    /// Records the call's wait on the timeline.
    fn finished(&mut self) {
        self.traced.finish();
    }
}

impl<T: Clone> Gather<T> {
    /// Stores each finished ref's outcome into `slots[index]` through `store`,
    /// until every ref has finished (`Ready(Ok)`) or `store` stops with an error
    /// (`Ready(Err)`, fail fast).
    fn poll_into<U>(
        &mut self,
        cx: &mut Context<'_>,
        slots: &mut Vec<Option<U>>,
        store: impl Fn(Result<T, Error>) -> Result<U, Error>,
    ) -> Poll<Result<(), Error>> {
        if let Some(refs) = self.refs.take() {
            slots.resize_with(refs.len(), || None);
            // The tasks still running, if the caller is a task: what it
            // waits on (the wait-for graph's edges).
            let in_task = crate::task::in_a_task();
            let mut waited = AllOf::default();
            for (index, object) in refs.into_iter().enumerate() {
                match object.take_outcome() {
                    Ok(outcome) => slots[index] = Some(store(outcome)?),
                    Err(object) => {
                        if in_task {
                            waited.push(object.task(), object.slot.edge());
                        }
                        self.pending.push(Readiness::new(index, object));
                    }
                }
            }
            if !self.pending.is_empty() {
                // Only a call that has to wait is a wait on the timeline.
                let mut started = self.traced.start_all(waited);
                while let Err(refused) = started {
                    let rest = self.settle_refused(&refused, slots, &store)?;
                    if self.pending.is_empty() {
                        break;
                    }
                    started = self.traced.start_all(rest);
                }
            }
        }
        while let Poll::Ready(next) = self.pending.poll_next_unpin(cx) {
            let Some((index, object)) = next else {
                return Poll::Ready(Ok(()));
            };
            let outcome = object
                .take_outcome()
                .unwrap_or_else(|_| unreachable!("a ready ref has an outcome"));
            slots[index] = Some(store(outcome)?);
        }
        Poll::Pending
    }

    /// The wait was refused (a cycle, under `Deny`): the refs in the cycle
    /// end with the refusal through `store` (which stops a fail-fast
    /// gather; a settled one goes on), and the rest stay pending. Returns
    /// the rest's edges, to note the wait on them anew.
    fn settle_refused<U>(
        &mut self,
        refused: &Error,
        slots: &mut [Option<U>],
        store: &impl Fn(Result<T, Error>) -> Result<U, Error>,
    ) -> Result<AllOf, Error> {
        let cycle: Vec<ObjectId> = refused
            .deadlock_cycle()
            .unwrap_or_default()
            .iter()
            .map(|step| step.task.id())
            .collect();
        let in_cycle = |r: &Readiness<T>| r.object().is_some_and(|o| cycle.contains(&o.id()));
        // The cycle may pass through another wait of the same task: then
        // every ref ends with the refusal.
        let any = self.pending.iter().any(in_cycle);
        let mut rest = AllOf::default();
        for readiness in std::mem::take(&mut self.pending) {
            match readiness.object() {
                Some(object) if any && !in_cycle(&readiness) => {
                    rest.push(object.task(), object.slot.edge());
                    self.pending.push(readiness);
                }
                _ => slots[readiness.index()] = Some(store(Err(refused.clone()))?),
            }
        }
        Ok(rest)
    }
}

/// Future returned by [`get_all`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct GetAll<T> {
    gather: Gather<T>,
    values: Vec<Option<T>>,
}

impl<T: Clone> Future for GetAll<T> {
    type Output = Result<Vec<T>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let done = ready!(this
            .gather
            .poll_into(cx, &mut this.values, |outcome| outcome));
        this.gather.finished();
        Poll::Ready(done.map(|()| collect_all(&mut this.values)))
    }
}

impl<T> GetAll<T> {
    pub(crate) fn context(&self) -> Option<Arc<RuntimeContext>> {
        self.gather.traced.context().cloned()
    }
}

impl<T> GetAllSettled<T> {
    pub(crate) fn context(&self) -> Option<Arc<RuntimeContext>> {
        self.gather.traced.context().cloned()
    }
}

// Nothing is ever pinned in place: values live in a `Vec`.
impl<T> Unpin for GetAll<T> {}

/// Future returned by [`get_all_settled`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct GetAllSettled<T> {
    gather: Gather<T>,
    outcomes: Vec<Option<Result<T, Error>>>,
}

impl<T: Clone> Future for GetAllSettled<T> {
    type Output = Vec<Result<T, Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let done = ready!(this.gather.poll_into(cx, &mut this.outcomes, Ok));
        this.gather.finished();
        debug_assert!(done.is_ok(), "settling never stops early");
        Poll::Ready(collect_all(&mut this.outcomes))
    }
}

fn collect_all<U>(slots: &mut Vec<Option<U>>) -> Vec<U> {
    std::mem::take(slots)
        .into_iter()
        .map(|slot| slot.expect("every ref has finished"))
        .collect()
}

impl<T> Unpin for GetAllSettled<T> {}

impl<T> fmt::Debug for GetAll<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAll")
            .field("pending", &self.gather.pending.len())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for GetAllSettled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAllSettled")
            .field("pending", &self.gather.pending.len())
            .finish_non_exhaustive()
    }
}
