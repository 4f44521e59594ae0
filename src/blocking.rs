//! The blocking facade: `block_*` twins of the async API, for plain threads.
//
// Every function here is a short delegation: build the async twin's future,
// hand it to the blocking engine (`block_on`), map a passed deadline to the
// twin's timeout error. How a thread blocks, and where it must not, is the
// engine's business (`crate::block_on`).

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::time::Duration;

use futures::StreamExt;

use crate::actor::{ActorPool, PoolMap};
use crate::block_on::{block_in_mode, block_on, context, deadline_after, Mode};
use crate::error::Error;
use crate::gather::{self, AsCompleted, WaitOutput, WaitRefs, WaitSet};
use crate::object_ref::ObjectRef;

impl<T: Clone> ObjectRef<T> {
    /// Blocks the current thread until the task finishes and returns a clone of
    /// its value: Ray's `ray.get(ref)`.
    ///
    /// For plain threads and sync programs; in async code use
    /// [`get`](ObjectRef::get). Calling it right after each submit, in a loop,
    /// runs the tasks one at a time: submit everything first, then use
    /// [`block_get_all`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let r = rt.spawn_blocking(|| 2 + 2);
    /// assert_eq!(r.block_get()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`get`](ObjectRef::get), and [`Error::BlockingInAsyncContext`] on a
    /// thread that must not block.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread. On a plain thread or a blocking-pool thread it
    /// parks; on a multi-thread tokio worker it steps out of the scheduler with
    /// `block_in_place` first; on a current-thread runtime's thread or in a
    /// `LocalSet` it returns [`Error::BlockingInAsyncContext`] instead. Inside a
    /// blocking task it lends the task's CPU back while it waits.
    #[track_caller]
    pub fn block_get(&self) -> Result<T, Error> {
        let location = Location::caller();
        let observer = self.slot.context().map(|c| c.observer());
        let get = self.get_as("block_get", location);
        block_on(get, None, location, "block_get", observer)?.expect("no deadline")
    }

    /// Like [`block_get`](ObjectRef::block_get), but gives up after `timeout` with
    /// [`Error::GetTimeout`]; the task keeps running and the ref stays valid. A zero
    /// timeout never waits. Works on any thread, without a tokio timer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = taskref::Runtime::new()?;
    /// let slow = rt.spawn(std::future::pending::<()>());
    /// let err = slow.block_get_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert!(err.is_get_timeout());
    /// assert_eq!(rt.put(1).block_get_timeout(Duration::ZERO)?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`block_get`](ObjectRef::block_get), plus [`Error::GetTimeout`].
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Blocking
    ///
    /// As [`block_get`](ObjectRef::block_get), for at most `timeout`.
    #[track_caller]
    pub fn block_get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        let location = Location::caller();
        let observer = self.slot.context().map(|c| c.observer());
        let get = self.get_as("block_get_timeout", location);
        let deadline = Some(deadline_after(timeout));
        match block_on(get, deadline, location, "block_get_timeout", observer)? {
            Some(outcome) => outcome,
            None => Err(Error::GetTimeout {
                task: self.task().clone(),
                timeout,
            }),
        }
    }
}

/// Blocks until every ref is ready and returns the values in the same order as
/// provided: [`get_all`](crate::get_all) for plain threads.
///
/// Fails fast on the first error, as `get_all` does.
///
/// # Examples
///
/// ```
/// let rt = taskref::Runtime::new()?;
/// let f = rt.remote_blocking(|i: u64| i * 2);
/// let refs: Vec<_> = (0..4).map(|i| f.remote(i)).collect();
/// assert_eq!(taskref::block_get_all(refs)?, [0, 2, 4, 6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Those of [`get_all`](crate::get_all), and [`Error::BlockingInAsyncContext`].
///
/// # Panics
///
/// Never.
///
/// # Blocking
///
/// As [`ObjectRef::block_get`].
#[track_caller]
pub fn block_get_all<T, I>(refs: I) -> Result<Vec<T>, Error>
where
    T: Clone,
    I: IntoIterator<Item = ObjectRef<T>>,
{
    let location = Location::caller();
    let get_all = gather::get_all_as(refs, "block_get_all", location);
    let context = get_all.context();
    let observer = context.as_ref().map(|c| c.observer());
    block_on(get_all, None, location, "block_get_all", observer)?.expect("no deadline")
}

/// Blocks until every ref is ready and returns every outcome in input order:
/// [`get_all_settled`](crate::get_all_settled) for plain threads.
///
/// ```
/// let rt = taskref::Runtime::new()?;
/// let outcomes = taskref::block_get_all_settled([rt.put(1), rt.spawn(async { panic!() })])?;
/// assert!(outcomes[0].is_ok() && outcomes[1].is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Only [`Error::BlockingInAsyncContext`]; each task's error is in its slot.
///
/// # Panics
///
/// Never.
///
/// # Blocking
///
/// As [`ObjectRef::block_get`].
#[track_caller]
pub fn block_get_all_settled<T, I>(refs: I) -> Result<Vec<Result<T, Error>>, Error>
where
    T: Clone,
    I: IntoIterator<Item = ObjectRef<T>>,
{
    let location = Location::caller();
    let settled = gather::get_all_settled_as(refs, "block_get_all_settled", location);
    let context = settled.context();
    let observer = context.as_ref().map(|c| c.observer());
    let call = "block_get_all_settled";
    Ok(block_on(settled, None, location, call, observer)?.expect("no deadline"))
}

/// Blocks until `num_returns` refs are ready or `timeout` passes: Ray's
/// `ray.wait` for plain threads. Same semantics as [`wait`](crate::wait): the
/// refs by slice (the lists are clones) or by value (they are moved).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let rt = taskref::Runtime::new()?;
/// let refs = vec![rt.spawn(std::future::pending::<u8>()), rt.put(1)];
/// let (ready, rest) = taskref::block_wait(&refs, 2, Some(Duration::from_millis(10)))?;
/// assert_eq!((ready.len(), rest.len()), (1, 1), "timed out with one ready");
///
/// // Ray's drain loop, by value: nothing is cloned.
/// let mut rest: Vec<_> = (0..4).map(|i| rt.spawn(async move { i })).collect();
/// let mut total = 0;
/// while !rest.is_empty() {
///     let (ready, not_ready) = taskref::block_wait(rest, 1, None)?;
///     total += ready[0].block_get()?;
///     rest = not_ready;
/// }
/// assert_eq!(total, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Those of [`wait`](crate::wait) (except `NoTimer`: the timeout needs no tokio
/// timer here), and [`Error::BlockingInAsyncContext`].
///
/// # Panics
///
/// Never.
///
/// # Blocking
///
/// As [`ObjectRef::block_get`], for at most `timeout`.
#[track_caller]
pub fn block_wait<'a, T: 'a, R>(
    refs: R,
    num_returns: usize,
    timeout: Option<Duration>,
) -> Result<WaitOutput<T>, Error>
where
    R: WaitRefs<'a, T>,
{
    let location = Location::caller();
    let refs = refs.into_refs();
    let context = refs.iter().find_map(|r| r.slot.context()).cloned();
    let observer = context.as_deref().map(|c| c.observer());
    let mut wait = gather::Wait::new(refs, num_returns, None, location).named("block_wait");
    match block_on(
        &mut wait,
        timeout.map(deadline_after),
        location,
        "block_wait",
        observer,
    )? {
        Some(result) => result,
        None => Ok(wait.partition()),
    }
}

/// An iterator over `(index, outcome)` in completion order:
/// [`as_completed`](crate::as_completed) for plain threads.
///
/// The calling thread is checked once, here: the iterator then blocks in
/// `next()` until the next task finishes. It stays on this thread (it is not
/// `Send`), so that check stays true. O(1) amortised per item.
///
/// # Examples
///
/// ```
/// let rt = taskref::Runtime::new()?;
/// let refs = vec![rt.spawn(async { 1 }), rt.put(2)];
/// let mut seen: Vec<u8> = taskref::block_as_completed(refs)?
///     .map(|(_, outcome)| outcome.unwrap())
///     .collect();
/// seen.sort();
/// assert_eq!(seen, [1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::BlockingInAsyncContext`] on a thread that must not block.
///
/// # Panics
///
/// Never.
///
/// # Blocking
///
/// Each `next()` blocks as [`ObjectRef::block_get`] does.
#[track_caller]
pub fn block_as_completed<T, I>(refs: I) -> Result<BlockAsCompleted<T>, Error>
where
    T: Clone,
    I: IntoIterator<Item = ObjectRef<T>>,
{
    let location = Location::caller();
    let mode = context(location)?;
    Ok(BlockAsCompleted {
        stream: gather::as_completed_as(refs, "block_as_completed", location),
        mode,
        _not_send: PhantomData,
    })
}

/// Iterator returned by [`block_as_completed`].
///
/// It stays on the thread that made it (the blocking mode was decided for that
/// thread), so it is not `Send`:
///
/// ```compile_fail
/// let rt = taskref::Runtime::new().unwrap();
/// let iter = taskref::block_as_completed([rt.put(1)]).unwrap();
/// std::thread::spawn(move || iter.count()); // error: not `Send`
/// ```
pub struct BlockAsCompleted<T> {
    stream: AsCompleted<T>,
    mode: Mode,
    /// The blocking mode was decided for the creating thread.
    _not_send: PhantomData<*const ()>,
}

impl<T> std::fmt::Debug for BlockAsCompleted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockAsCompleted")
            .field("pending", &self.stream.len())
            .field("mode", &self.mode)
            .finish()
    }
}

impl<T: Clone> Iterator for BlockAsCompleted<T> {
    type Item = (usize, Result<T, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.stream.is_empty() {
            return None;
        }
        block_in_mode(self.mode, self.stream.next(), None).expect("no deadline")
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.stream.len(), Some(self.stream.len()))
    }
}

/// Maps `submit` over `items` with at most `max_in_flight` pending, yielding
/// `(index, outcome)` in completion order: [`map_unordered`](crate::map_unordered)
/// for plain threads.
///
/// The calling thread is checked once, here; the iterator stays on it.
///
/// # Examples
///
/// ```
/// let rt = taskref::Runtime::new()?;
/// let double = rt.remote_blocking(|x: u32| 2 * x);
/// let mut results: Vec<u32> = taskref::block_map_unordered(0..10, 3, |x| double.remote(x))?
///     .map(|(_, v)| v.unwrap())
///     .collect();
/// results.sort();
/// assert_eq!(results, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::BlockingInAsyncContext`] on a thread that must not block.
///
/// # Panics
///
/// Never.
///
/// # Blocking
///
/// Each `next()` blocks as [`ObjectRef::block_get`] does.
#[track_caller]
pub fn block_map_unordered<I, T, F>(
    items: I,
    max_in_flight: usize,
    submit: F,
) -> Result<BlockMapUnordered<I::IntoIter, F, T>, Error>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> ObjectRef<T>,
    T: Clone,
{
    let mode = context(Location::caller())?;
    Ok(BlockMapUnordered {
        stream: gather::map_unordered_as(
            items,
            max_in_flight,
            submit,
            "block_map_unordered",
            Location::caller(),
        ),
        mode,
        _not_send: PhantomData,
    })
}

/// Iterator returned by [`block_map_unordered`]. Not `Send`, like
/// [`BlockAsCompleted`]:
///
/// ```compile_fail
/// let rt = taskref::Runtime::new().unwrap();
/// let f = rt.remote(|x: u8| async move { x });
/// let iter = taskref::block_map_unordered(0..3, 2, move |x| f.remote(x)).unwrap();
/// std::thread::spawn(move || iter.count()); // error: not `Send`
/// ```
pub struct BlockMapUnordered<I, F, T> {
    stream: gather::MapUnordered<I, F, T>,
    mode: Mode,
    _not_send: PhantomData<*const ()>,
}

impl<I, F, T> Iterator for BlockMapUnordered<I, F, T>
where
    I: Iterator,
    F: FnMut(I::Item) -> ObjectRef<T>,
    T: Clone,
{
    type Item = (usize, Result<T, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        if futures::stream::FusedStream::is_terminated(&self.stream) {
            return None;
        }
        block_in_mode(self.mode, self.stream.next(), None).expect("no deadline")
    }
}

impl<I, F, T> std::fmt::Debug for BlockMapUnordered<I, F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockMapUnordered")
            .field("stream", &self.stream)
            .field("mode", &self.mode)
            .finish()
    }
}

impl<T: Clone> WaitSet<T> {
    /// Blocks until `num_returns` refs are ready or `timeout` passes, and removes
    /// and returns them: [`wait`](WaitSet::wait) for plain threads.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let mut set = taskref::WaitSet::new([rt.spawn(async { 1 }), rt.put(2)]);
    /// let first = set.block_wait(1, None)?;
    /// assert_eq!((first.len(), set.len()), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`wait`](WaitSet::wait) (except `NoTimer`), and
    /// [`Error::BlockingInAsyncContext`].
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Blocking
    ///
    /// As [`ObjectRef::block_get`], for at most `timeout`.
    #[track_caller]
    pub fn block_wait(
        &mut self,
        num_returns: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<ObjectRef<T>>, Error> {
        let location = Location::caller();
        let context = self.context();
        let observer = context.as_ref().map(|c| c.observer());
        let mut wait = self
            .wait_at(num_returns, location)
            .named("WaitSet::block_wait");
        let deadline = timeout.map(deadline_after);
        let call = "WaitSet::block_wait";
        match block_on(&mut wait, deadline, location, call, observer)? {
            Some(result) => result,
            None => Ok(wait.take_ready()),
        }
    }
}

impl<S: Send + 'static> ActorPool<crate::ActorHandle<S>> {
    /// [`map_unordered`](ActorPool::map_unordered) for plain threads: an
    /// iterator that blocks in `next()`.
    ///
    /// # Errors
    ///
    /// [`Error::BlockingInAsyncContext`] on a thread that must not block.
    #[track_caller]
    pub fn block_map_unordered<I, R, F>(
        &self,
        items: I,
        method: F,
    ) -> Result<BlockPoolMap<S, I::IntoIter, F, R>, Error>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        R: Clone + Send + 'static,
        F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
    {
        BlockPoolMap::on_this_thread(self.map_unordered(items, method), Location::caller())
    }

    /// [`map`](ActorPool::map) for plain threads.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let pool = taskref::ActorPool::new((0..2).map(|_| rt.actor(())));
    /// let squares: Vec<u32> = pool
    ///     .block_map(1..=4u32, |_: &mut (), x| x * x)?
    ///     .map(|(_, v)| v.unwrap())
    ///     .collect();
    /// assert_eq!(squares, [1, 4, 9, 16]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::BlockingInAsyncContext`] on a thread that must not block.
    #[track_caller]
    pub fn block_map<I, R, F>(
        &self,
        items: I,
        method: F,
    ) -> Result<BlockPoolMap<S, I::IntoIter, F, R>, Error>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        R: Clone + Send + 'static,
        F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
    {
        BlockPoolMap::on_this_thread(self.map(items, method), Location::caller())
    }
}

/// Iterator returned by [`ActorPool::block_map`] and
/// [`ActorPool::block_map_unordered`]; it stays on the thread that made it.
pub struct BlockPoolMap<S, I, F, R> {
    stream: PoolMap<S, I, F, R>,
    mode: Mode,
    _not_send: PhantomData<*const ()>,
}

impl<S, I, F, R> BlockPoolMap<S, I, F, R> {
    /// Blocks on `stream` from this thread, once the thread is found able to
    /// block.
    fn on_this_thread(
        stream: PoolMap<S, I, F, R>,
        location: &'static Location<'static>,
    ) -> Result<Self, Error> {
        Ok(BlockPoolMap {
            stream,
            mode: context(location)?,
            _not_send: PhantomData,
        })
    }
}

impl<S, I, F, R> Iterator for BlockPoolMap<S, I, F, R>
where
    S: Send + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    R: Clone + Send + 'static,
    F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
{
    type Item = (usize, Result<R, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        block_in_mode(self.mode, self.stream.next(), None).expect("no deadline")
    }
}

impl<S, I, F, R> fmt::Debug for BlockPoolMap<S, I, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockPoolMap")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}
