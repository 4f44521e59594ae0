//! `ActorPool`: Ray's `ray.util.ActorPool`, a set of actors kept busy with a
//! stream of items.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesUnordered, Stream, StreamExt};
use futures::FutureExt;

use super::{ActorHandle, AsyncActorHandle};
use crate::error::Error;
use crate::gather::Readiness;
use crate::ObjectRef;

/// A set of actors that share work: each item goes to an idle actor, so every
/// actor stays busy while items remain (Ray's `ray.util.ActorPool`).
///
/// `A` is the actors' handle type ([`ActorHandle`] or
/// [`AsyncActorHandle`]); `R`, the type of the results of
/// [`submit`](ActorPool::submit).
///
/// Two ways to use it, as in Ray: `map` / `map_unordered` (and their
/// `block_*` twins) over an iterator of items, for actors with `&mut S`
/// methods; and the stateful interface for both kinds of actor: `submit`
/// one item at a time, take results with `get_next` (submission order) or
/// `get_next_unordered` (completion order), check `has_next` / `has_free`,
/// and grow or shrink the pool with `push` / `pop_idle`.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let pool = taskref::ActorPool::new((0..3).map(|_| rt.actor(0u64)));
/// let doubled: Vec<u64> = pool
///     .map(1..=6u64, |seen: &mut u64, x| { *seen += 1; x * 2 })
///     .map(|(_, v)| v.unwrap())
///     .collect()
///     .await;
/// assert_eq!(doubled, [2, 4, 6, 8, 10, 12], "`map` keeps input order");
/// # }
/// ```
///
/// Ray's stateful interface, over async actors:
///
/// ```
/// use std::sync::Arc;
/// let rt = taskref::Runtime::new()?;
/// let models = (0..2).map(|i| rt.actor_builder().spawn_async(move || i * 100)).collect::<Result<Vec<_>, _>>()?;
/// let mut pool = taskref::ActorPool::new(models);
/// for x in 1..=5u64 {
///     pool.submit(|model, x| model.call(move |base: Arc<u64>| async move { *base + x }), x);
/// }
/// let mut got = Vec::new();
/// while pool.has_next() {
///     got.push(pool.block_get_next().unwrap()?);
/// }
/// assert_eq!(got.len(), 5);
/// assert_eq!(got[0] % 100, 1, "submission order");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ActorPool<A, R = ()> {
    /// Every actor in the pool, busy or idle.
    actors: Vec<A>,
    /// The actors free for `submit`, longest idle first.
    idle: VecDeque<A>,
    /// Submitted items running on an actor: which actor, by index.
    running: HashMap<usize, A>,
    in_flight: FuturesUnordered<Readiness<R>>,
    /// Submitted items waiting for a free actor, in submission order.
    queued: VecDeque<(usize, Submission<A, R>)>,
    /// Finished results not taken yet, by index.
    done: BTreeMap<usize, Result<R, Error>>,
    /// Results taken out of submission order (by `get_next_unordered`)
    /// that `get_next` must step over.
    taken: BTreeSet<usize>,
    /// The next submission's index, and the next `get_next` returns.
    submitted: usize,
    next_out: usize,
}

/// One submitted item: calls its actor and returns the call's ref.
type Submission<A, R> = Box<dyn FnOnce(&A) -> ObjectRef<R> + Send>;

/// The handle types an [`ActorPool`] holds: [`ActorHandle`] and
/// [`AsyncActorHandle`] (sealed).
pub trait PoolActor: Clone + Send + Sync + 'static + sealed::Sealed {
    /// Whether two handles reach the same actor.
    #[doc(hidden)]
    fn same_actor(&self, other: &Self) -> bool;
}

impl<S: Send + 'static> PoolActor for ActorHandle<S> {
    fn same_actor(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<S: Send + Sync + 'static> PoolActor for AsyncActorHandle<S> {
    fn same_actor(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.inner, &other.inner)
    }
}

mod sealed {
    pub trait Sealed {}
    impl<S> Sealed for super::ActorHandle<S> {}
    impl<S> Sealed for super::AsyncActorHandle<S> {}
}

impl<A: Clone, R> Clone for ActorPool<A, R> {
    /// A pool of the same actors, with none of this one's submissions.
    fn clone(&self) -> Self {
        ActorPool::from_actors(self.actors.clone())
    }
}

impl<A, R> fmt::Debug for ActorPool<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorPool")
            .field("actors", &self.actors.len())
            .field("idle", &self.idle.len())
            .field("running", &self.running.len())
            .field("queued", &self.queued.len())
            .finish_non_exhaustive()
    }
}

impl<A: Clone, R> ActorPool<A, R> {
    /// A pool of `actors`. An empty pool is allowed, as in Ray, to be
    /// filled with [`push`](ActorPool::push): until an actor is pushed, an
    /// item submitted fails with [`Error::InvalidArgument`] when it is gotten,
    /// and `map` yields that error for each item (nothing waits forever, and
    /// nothing is dropped silently).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let mut pool = taskref::ActorPool::new(Vec::<taskref::ActorHandle<u8>>::new());
    /// pool.submit(|a, ()| a.call(|n: &mut u8| *n), ());
    /// assert!(pool.block_get_next().unwrap().unwrap_err().is_invalid_argument());
    /// pool.push(rt.actor(7u8));
    /// pool.submit(|a, ()| a.call(|n: &mut u8| *n), ());
    /// assert_eq!(pool.block_get_next().unwrap()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(actors: impl IntoIterator<Item = A>) -> Self {
        let actors: Vec<A> = actors.into_iter().collect();
        ActorPool::from_actors(actors)
    }

    fn from_actors(actors: Vec<A>) -> Self {
        ActorPool {
            idle: actors.iter().cloned().collect(),
            actors,
            running: HashMap::new(),
            in_flight: FuturesUnordered::new(),
            queued: VecDeque::new(),
            done: BTreeMap::new(),
            taken: BTreeSet::new(),
            submitted: 0,
            next_out: 0,
        }
    }
}

impl<A: PoolActor, R: Clone + Send + 'static> ActorPool<A, R> {
    /// Submits `value` to the pool: `call(actor, value)` runs on the
    /// longest-idle actor now, or once one is free (Ray's `submit`). `call`
    /// makes one call on the actor it is given and returns its ref.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let mut pool = taskref::ActorPool::new([rt.actor(10u64)]);
    /// pool.submit(|a, x| a.call(move |base: &mut u64| *base + x), 1);
    /// pool.submit(|a, x| a.call(move |base: &mut u64| *base + x), 2); // queued
    /// assert!(!pool.has_free());
    /// assert_eq!(pool.block_get_next().unwrap()?, 11);
    /// assert_eq!(pool.block_get_next().unwrap()?, 12);
    /// assert!(!pool.has_next());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit<V, F>(&mut self, call: F, value: V)
    where
        V: Send + 'static,
        F: FnOnce(&A, V) -> ObjectRef<R> + Send + 'static,
    {
        let index = self.submitted;
        self.submitted += 1;
        let submission: Submission<A, R> = Box::new(move |actor| call(actor, value));
        match self.idle.pop_front() {
            Some(actor) => self.start(index, submission, actor),
            None => self.queued.push_back((index, submission)),
        }
    }

    fn start(&mut self, index: usize, submission: Submission<A, R>, actor: A) {
        let r = submission(&actor);
        self.running.insert(index, actor);
        self.in_flight.push(Readiness::new(index, r));
    }

    /// Whether a submitted result has not been taken yet (Ray's
    /// `has_next`).
    pub fn has_next(&self) -> bool {
        !(self.running.is_empty() && self.queued.is_empty() && self.done.is_empty())
    }

    /// Whether an actor is idle: the next `submit` starts at once (Ray's
    /// `has_free`).
    pub fn has_free(&self) -> bool {
        !self.idle.is_empty()
    }

    /// Adds `actor` to the pool; it takes queued work at once (Ray's
    /// `push`). An actor already in the pool is not added twice.
    pub fn push(&mut self, actor: A) {
        if self.actors.iter().any(|a| a.same_actor(&actor)) {
            return;
        }
        self.actors.push(actor.clone());
        self.free(actor);
    }

    /// Takes an idle actor out of the pool, if one is idle (Ray's
    /// `pop_idle`).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let mut pool: taskref::ActorPool<_, u8> = taskref::ActorPool::new([rt.actor(1u8), rt.actor(2u8)]);
    /// let taken = pool.pop_idle().expect("both are idle");
    /// pool.submit(|a, ()| a.call(|n: &mut u8| *n), ());
    /// assert!(pool.pop_idle().is_none(), "the other is busy");
    /// pool.push(taken);
    /// assert!(pool.has_free());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pop_idle(&mut self) -> Option<A> {
        let actor = self.idle.pop_front()?;
        if let Some(at) = self.actors.iter().position(|a| a.same_actor(&actor)) {
            self.actors.remove(at);
        }
        Some(actor)
    }

    /// An actor finished its item: it takes the next queued one, or idles.
    fn free(&mut self, actor: A) {
        match self.queued.pop_front() {
            Some((index, submission)) => self.start(index, submission, actor),
            None => self.idle.push_back(actor),
        }
    }

    /// The next result, in submission order (Ray's `get_next`); `None` when
    /// none is left ([`has_next`](ActorPool::has_next) is false). A call
    /// that failed gives its `Err`.
    #[track_caller]
    pub fn get_next(&mut self) -> impl Future<Output = Option<Result<R, Error>>> + '_ {
        let location = Location::caller();
        std::future::poll_fn(move |cx| self.poll_next_in(cx, true, location))
    }

    /// A finished result (Ray's `get_next_unordered`): the earliest
    /// submitted of those finished, or else the next to finish; `None` when
    /// none is left.
    #[track_caller]
    pub fn get_next_unordered(&mut self) -> impl Future<Output = Option<Result<R, Error>>> + '_ {
        let location = Location::caller();
        std::future::poll_fn(move |cx| self.poll_next_in(cx, false, location))
    }

    /// [`get_next`](ActorPool::get_next) for plain threads: blocks. On a
    /// thread that must not block, `Some(Err(BlockingInAsyncContext))`.
    #[track_caller]
    pub fn block_get_next(&mut self) -> Option<Result<R, Error>> {
        self.block_next(true, None, Location::caller())
    }

    /// [`get_next_unordered`](ActorPool::get_next_unordered) for plain
    /// threads: blocks.
    #[track_caller]
    pub fn block_get_next_unordered(&mut self) -> Option<Result<R, Error>> {
        self.block_next(false, None, Location::caller())
    }

    /// [`get_next`](ActorPool::get_next), giving up after `timeout` (Ray's
    /// `get_next(timeout=...)`): then `Some(Err(GetTimeout))`, naming the
    /// call it waited on, and the result stays in the pool for a later get
    /// (Ray's default, `ignore_if_timedout=False`).
    ///
    /// The call named is the next result's; if that one has not started (every
    /// actor is busy: it starts when one frees), the earliest running call.
    /// As from [`block_get_next`](ActorPool::block_get_next), other errors
    /// come back as `Some(Err(..))` too: `BlockingInAsyncContext` from a
    /// blocking twin on a thread that must not block, `NoTimer` from an
    /// async one on a tokio runtime without its time driver.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let rt = taskref::Runtime::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let rx = std::sync::Mutex::new(rx);
    /// let mut pool = taskref::ActorPool::new([rt.actor(rx)]);
    /// pool.submit(|a, ()| a.call(|rx: &mut std::sync::Mutex<_>| rx.get_mut().unwrap().recv().is_ok()), ());
    /// let waited = pool.block_get_next_timeout(Duration::from_millis(20)).unwrap();
    /// assert!(waited.unwrap_err().is_get_timeout());
    /// tx.send(()).unwrap();
    /// assert!(pool.block_get_next().unwrap()?, "the result was kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn get_next_timeout(
        &mut self,
        timeout: Duration,
    ) -> impl Future<Output = Option<Result<R, Error>>> + '_ {
        self.next_within(true, timeout, Location::caller())
    }

    /// [`get_next_unordered`](ActorPool::get_next_unordered), giving up
    /// after `timeout` as [`get_next_timeout`](ActorPool::get_next_timeout)
    /// does (the call named is the earliest running).
    #[track_caller]
    pub fn get_next_unordered_timeout(
        &mut self,
        timeout: Duration,
    ) -> impl Future<Output = Option<Result<R, Error>>> + '_ {
        self.next_within(false, timeout, Location::caller())
    }

    /// [`get_next_timeout`](ActorPool::get_next_timeout) for plain threads:
    /// blocks for at most `timeout`.
    #[track_caller]
    pub fn block_get_next_timeout(&mut self, timeout: Duration) -> Option<Result<R, Error>> {
        self.block_next(true, Some(timeout), Location::caller())
    }

    /// [`get_next_unordered_timeout`](ActorPool::get_next_unordered_timeout)
    /// for plain threads: blocks for at most `timeout`.
    #[track_caller]
    pub fn block_get_next_unordered_timeout(
        &mut self,
        timeout: Duration,
    ) -> Option<Result<R, Error>> {
        self.block_next(false, Some(timeout), Location::caller())
    }

    /// The blocking twins: the next result, waiting at most `timeout`.
    fn block_next(
        &mut self,
        ordered: bool,
        timeout: Option<Duration>,
        location: &'static Location<'static>,
    ) -> Option<Result<R, Error>> {
        let deadline = timeout.map(crate::block_on::deadline_after);
        let next = std::future::poll_fn(|cx| self.poll_next_in(cx, ordered, location));
        let call = match (ordered, timeout.is_some()) {
            (true, false) => "ActorPool::block_get_next",
            (false, false) => "ActorPool::block_get_next_unordered",
            (true, true) => "ActorPool::block_get_next_timeout",
            (false, true) => "ActorPool::block_get_next_unordered_timeout",
        };
        match crate::block_on::block_on(next, deadline, location, call, None) {
            Ok(Some(next)) => next,
            Ok(None) => self.timed_out(ordered, timeout.unwrap_or_default(), location),
            Err(refused) => Some(Err(refused)),
        }
    }

    /// The next result as `poll_next_in` gives it, or a timeout once
    /// `timeout` has passed (the timer is started on the first wait only).
    fn next_within(
        &mut self,
        ordered: bool,
        timeout: Duration,
        location: &'static Location<'static>,
    ) -> impl Future<Output = Option<Result<R, Error>>> + '_ {
        let mut sleep: Option<Pin<Box<tokio::time::Sleep>>> = None;
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(next) = self.poll_next_in(cx, ordered, location) {
                return Poll::Ready(next);
            }
            if timeout.is_zero() {
                return Poll::Ready(self.timed_out(ordered, timeout, location));
            }
            let sleep = match &mut sleep {
                Some(sleep) => sleep,
                None => {
                    // Pending means a call is running, and its ref knows its
                    // runtime's timer.
                    let Some(context) = self.waited_on(ordered).and_then(|r| r.slot.context())
                    else {
                        // No timer to wait on (cannot happen: a running
                        // call's ref has its runtime); never a silent hang.
                        return Poll::Ready(self.timed_out(ordered, timeout, location));
                    };
                    match context.sleep(timeout, location) {
                        Ok(started) => sleep.insert(started),
                        Err(no_timer) => return Poll::Ready(Some(Err(no_timer))),
                    }
                }
            };
            match crate::timer::poll_sleep(sleep, cx) {
                Poll::Ready(()) => Poll::Ready(self.timed_out(ordered, timeout, location)),
                Poll::Pending => Poll::Pending,
            }
        })
    }

    /// The call a get waits on: the next result's call if it runs, else the
    /// earliest running call (the next result waits for an actor to come
    /// free, or, unordered, whichever finishes first).
    fn waited_on(&self, ordered: bool) -> Option<&ObjectRef<R>> {
        let running = || {
            self.in_flight
                .iter()
                .filter_map(|call| Some((call.index(), call.object()?)))
        };
        let next = match ordered {
            true => running().find(|(index, _)| *index == self.next_out),
            false => None,
        };
        next.or_else(|| running().min_by_key(|(index, _)| *index))
            .map(|(_, object)| object)
    }

    /// What a get that gave up after `timeout` returns: what it can answer
    /// now, if the result it waited for came just as the time ran out; else
    /// the timeout, naming the call it waited on.
    fn timed_out(
        &mut self,
        ordered: bool,
        timeout: Duration,
        location: &'static Location<'static>,
    ) -> Option<Result<R, Error>> {
        let now = std::future::poll_fn(|cx| self.poll_next_in(cx, ordered, location));
        if let Some(answer) = now.now_or_never() {
            return answer;
        }
        let task = self.waited_on(ordered)?.task().clone();
        Some(Err(Error::GetTimeout { task, timeout }))
    }

    fn poll_next_in(
        &mut self,
        cx: &mut Context<'_>,
        ordered: bool,
        location: &'static Location<'static>,
    ) -> Poll<Option<Result<R, Error>>> {
        loop {
            while self.taken.remove(&self.next_out) {
                self.next_out += 1;
            }
            let found = match ordered {
                true => self
                    .done
                    .remove(&self.next_out)
                    .map(|outcome| (self.next_out, outcome)),
                false => self.done.pop_first(),
            };
            if let Some((index, outcome)) = found {
                match index == self.next_out {
                    true => self.next_out += 1,
                    false => drop(self.taken.insert(index)),
                }
                return Poll::Ready(Some(outcome));
            }
            if !self.has_next() {
                return Poll::Ready(None);
            }
            if self.running.is_empty() {
                // Queued work and no actor to run it (every actor was
                // popped): each queued item fails, so a `has_next` loop ends.
                for (index, _) in std::mem::take(&mut self.queued) {
                    let err = Error::InvalidArgument {
                        message: "the ActorPool had no actor to run this item (it was made \
                                  empty, or every actor was popped): `push` one before \
                                  submitting"
                            .to_owned(),
                        location,
                    };
                    self.done.insert(index, Err(err));
                }
                continue;
            }
            match self.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some((index, object))) => {
                    if let Some(actor) = self.running.remove(&index) {
                        self.free(actor);
                    }
                    let outcome = object
                        .take_outcome()
                        .unwrap_or_else(|_| unreachable!("a ready ref has an outcome"));
                    self.done.insert(index, outcome);
                }
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: Send + 'static> ActorPool<ActorHandle<S>> {
    /// Calls `method` on each item with the first idle actor and yields
    /// `(index, outcome)` in completion order (Ray's `map_unordered`).
    #[track_caller]
    pub fn map_unordered<I, R, F>(&self, items: I, method: F) -> PoolMap<S, I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        R: Clone + Send + 'static,
        F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
    {
        PoolMap {
            actors: self.actors.clone(),
            idle: (0..self.actors.len()).collect(),
            items: items.into_iter().enumerate(),
            method,
            in_flight: FuturesUnordered::new(),
            assigned: HashMap::new(),
            ordered: false,
            next: 0,
            held: BTreeMap::new(),
            location: Location::caller(),
            _result: PhantomData,
        }
    }

    /// Like [`map_unordered`](ActorPool::map_unordered), but yields in input
    /// order (Ray's `map`). Actors still work in parallel; finished results
    /// wait for the earlier ones.
    #[track_caller]
    pub fn map<I, R, F>(&self, items: I, method: F) -> PoolMap<S, I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        R: Clone + Send + 'static,
        F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
    {
        PoolMap {
            ordered: true,
            ..self.map_unordered(items, method)
        }
    }
}

/// Stream returned by [`ActorPool::map`] and [`ActorPool::map_unordered`]:
/// `(index, outcome)` of each item.
#[must_use = "streams do nothing unless polled"]
pub struct PoolMap<S, I, F, R> {
    actors: Vec<ActorHandle<S>>,
    idle: VecDeque<usize>,
    items: std::iter::Enumerate<I>,
    method: F,
    in_flight: FuturesUnordered<Readiness<R>>,
    /// Which actor works on which item.
    assigned: HashMap<usize, usize>,
    ordered: bool,
    /// The next index to yield, in input order.
    next: usize,
    /// Finished results waiting for earlier ones (input order only).
    held: BTreeMap<usize, Result<R, Error>>,
    /// Where the map was made: named by the error each item gets from a
    /// pool with no actor.
    location: &'static Location<'static>,
    _result: PhantomData<fn() -> R>,
}

impl<S, I, F, R> Unpin for PoolMap<S, I, F, R> {}

impl<S, I, F, R> Stream for PoolMap<S, I, F, R>
where
    S: Send + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    R: Clone + Send + 'static,
    F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
{
    type Item = (usize, Result<R, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.actors.is_empty() {
            // No actor will ever take an item: each fails, in input order.
            return Poll::Ready(this.items.next().map(|(index, _)| {
                let message = "the ActorPool has no actor to run this item: make it with at \
                               least one, or `push` one before mapping"
                    .to_owned();
                let location = this.location;
                (index, Err(Error::InvalidArgument { message, location }))
            }));
        }
        loop {
            if this.ordered {
                if let Some(outcome) = this.held.remove(&this.next) {
                    this.next += 1;
                    return Poll::Ready(Some((this.next - 1, outcome)));
                }
            }
            // Keep every idle actor busy.
            while let Some(&actor) = this.idle.front() {
                let Some((index, item)) = this.items.next() else {
                    break;
                };
                this.idle.pop_front();
                let method = this.method.clone();
                let r = this.actors[actor].call(move |state| method(state, item));
                this.assigned.insert(index, actor);
                this.in_flight.push(Readiness::new(index, r));
            }
            match this.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some((index, object))) => {
                    if let Some(actor) = this.assigned.remove(&index) {
                        this.idle.push_back(actor);
                    }
                    let outcome = object
                        .take_outcome()
                        .unwrap_or_else(|_| unreachable!("a ready ref has an outcome"));
                    if !this.ordered {
                        return Poll::Ready(Some((index, outcome)));
                    }
                    this.held.insert(index, outcome);
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, I, F, R> fmt::Debug for PoolMap<S, I, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolMap")
            .field("actors", &self.actors.len())
            .field("in_flight", &self.in_flight.len())
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}
