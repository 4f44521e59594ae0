//! Streaming returns: tasks that hand back their results one at a time, each
//! as its own ref (Ray's generator tasks, `num_returns="streaming"`).
//
// A streaming task is an ordinary task (its own ref, options, retries,
// timeout, cancel, place in the task tree and the snapshot) whose call drives
// the user's stream or iterator and sends each item into a channel. The
// caller's `RefStream` takes items out of the channel and makes each one a
// ready `ObjectRef` as it hands it out, on the caller's thread (so the
// allocation and its free stay there). A bounded channel is the
// backpressure: with `backpressure(n)` the producer waits while n items it
// produced are not yet taken.
//
// The stream ends when the channel closes (the task's call, which holds the
// sender, is gone); if the task failed (a panic, an `Err`, a timeout, a
// cancel), one more ref carries its error. A retry runs the call again from
// the start and skips the items already delivered, as Ray does: the items of
// a retried stream must come out the same each time.

mod channel;
mod split;

use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};

pub use split::Split;

use self::channel::{ItemRx, ItemTx};
use crate::args::IntoArgs;
use crate::identity::{ObjectId, TaskInfo};
use crate::object_ref::slot::Slot;
use crate::object_ref::ObjectRef;
use crate::remote::{Func, RemoteFn};
use crate::task::{AsyncTask, BlockingTask, Submission, TaskKind, TryAsyncTask, TryBlockingTask};

/// The producer's side: sends items, skipping those a failed attempt
/// delivered already.
pub(crate) struct Producer<T> {
    tx: ItemTx<T>,
    /// Items delivered so far, over every attempt.
    delivered: Arc<AtomicU64>,
    /// The attempt whose turn it is to send (a blocking attempt that timed
    /// out runs on beside its retry, and must not send any more). Taken
    /// around each send, so a new attempt reads `delivered` exactly.
    turn: Arc<std::sync::Mutex<u64>>,
}

impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        Producer {
            tx: self.tx.clone(),
            delivered: Arc::clone(&self.delivered),
            turn: Arc::clone(&self.turn),
        }
    }
}

/// The items a producer handed back, for its runtime's stats and timeline
/// (a mark on the task's bar per item), recorded in batches.
struct Marks {
    /// The producing task and its runtime (read once, from the thread).
    task: Option<(ObjectId, Arc<crate::context::RuntimeContext>)>,
    batch: Vec<(u64, std::time::Instant)>,
    unrecorded: u64,
}

impl Marks {
    const BATCH: usize = 64;
    const AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_millis(10);
    /// How many items of a stream get a mark on the timeline.
    const MARKED: u64 = 1000;

    /// For the task running on this thread.
    fn of_current_task() -> Marks {
        let task = crate::task::current_slot().and_then(|slot| {
            let context = slot.context()?.clone();
            Some((slot.info().id(), context))
        });
        Marks {
            task,
            batch: Vec::new(),
            unrecorded: 0,
        }
    }

    /// The `number`th item was handed back.
    fn note(&mut self, number: u64) {
        let Some((_, context)) = &self.task else {
            return;
        };
        self.unrecorded += 1;
        // The first items of a stream are marked on the timeline (more would
        // only blacken its bar, at a clock read each); the rest are counted.
        if context.observer().recorder.is_none() || number > Self::MARKED {
            if self.unrecorded as usize >= Self::BATCH || self.batch.is_empty() {
                self.flush();
            }
            return;
        }
        let now = std::time::Instant::now();
        self.batch.push((number, now));
        // In batches, and at least every few milliseconds for a slow stream
        // (a token a second shows up in the stats within that second).
        let first = self.batch.first().map_or(now, |&(_, at)| at);
        if self.unrecorded as usize >= Self::BATCH || now - first >= Self::AT_LEAST_EVERY {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some((task, context)) = &self.task else {
            return;
        };
        let observer = context.observer();
        observer
            .counters
            .items(std::mem::take(&mut self.unrecorded));
        // Past a stream's marked items there is nothing to record: no lock.
        if let (Some(recorder), false) = (&observer.recorder, self.batch.is_empty()) {
            let batch = self.batch.drain(..).map(|(n, at)| (*task, n, at));
            recorder.record_items(batch);
        }
    }
}

impl Drop for Marks {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Why a producer stops early: every consumer is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamClosed;

impl fmt::Display for StreamClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the stream's consumer is gone")
    }
}

impl std::error::Error for StreamClosed {}

impl<T: Send + 'static> Producer<T> {
    /// Drives `items` to its end (or until the consumer is gone): an
    /// attempt of an async streaming task. Returns how many items the task
    /// has delivered in all.
    pub(crate) async fn drive<S: Stream<Item = T>>(self, items: S) -> u64 {
        let items = items.map(Ok::<T, std::convert::Infallible>);
        match self.try_drive(items).await {
            Ok(delivered) => delivered,
            Err(never) => match never {},
        }
    }

    /// [`drive`](Producer::drive) for a stream of `Result`s: the first `Err`
    /// ends it, and is the attempt's outcome (the stream's last ref fails
    /// with it).
    pub(crate) async fn try_drive<S, E>(self, items: S) -> Result<u64, E>
    where
        S: Stream<Item = Result<T, E>>,
    {
        let mut items = std::pin::pin!(items);
        let mut marks = Marks::of_current_task();
        // Items an earlier attempt delivered: made again, not sent again.
        let skip = self.delivered.load(Ordering::Acquire);
        for _ in 0..skip {
            match items.next().await {
                None => return Ok(skip),
                Some(item) => drop(item?),
            }
        }
        loop {
            // Room first, then the item: with backpressure, the stream is
            // never asked for more than its bound ahead of the consumer.
            let Ok(room) = self.tx.room().await else {
                break;
            };
            let Some(item) = items.next().await else {
                break;
            };
            if room.send(item?).is_err() {
                break;
            }
            marks.note(self.delivered.fetch_add(1, Ordering::AcqRel) + 1);
        }
        Ok(self.delivered.load(Ordering::Acquire))
    }

    /// The blocking form of [`drive`](Producer::drive), for an iterator.
    pub(crate) fn drive_blocking<I: IntoIterator<Item = T>>(self, items: I) -> u64 {
        let items = items.into_iter().map(Ok::<T, std::convert::Infallible>);
        match self.try_drive_blocking(items) {
            Ok(delivered) => delivered,
            Err(never) => match never {},
        }
    }

    /// The blocking form of [`try_drive`](Producer::try_drive).
    pub(crate) fn try_drive_blocking<I, E>(self, items: I) -> Result<u64, E>
    where
        I: IntoIterator<Item = Result<T, E>>,
    {
        let mut items = items.into_iter();
        let mut marks = Marks::of_current_task();
        // Blocking code cannot be stopped from outside: it checks whether
        // its task was cancelled or this attempt abandoned, at each item.
        let me = crate::task::current_task();
        let stopped = || me.as_ref().is_some_and(crate::CurrentTask::is_cancelled);
        let (mine, skip) = {
            let mut turn = self.turn();
            *turn += 1;
            (*turn, self.delivered.load(Ordering::Acquire))
        };
        for _ in 0..skip {
            match items.next() {
                None => return Ok(skip),
                Some(item) => drop(item?),
            }
        }
        while !stopped() {
            let Ok(room) = self.tx.room_blocking() else {
                break;
            };
            let Some(item) = items.next() else {
                break;
            };
            let item = item?;
            let turn = self.turn();
            if *turn != mine || stopped() || room.send(item).is_err() {
                break;
            }
            marks.note(self.delivered.fetch_add(1, Ordering::AcqRel) + 1);
        }
        Ok(self.delivered.load(Ordering::Acquire))
    }

    fn turn(&self) -> std::sync::MutexGuard<'_, u64> {
        self.turn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends an item a sync actor method pushed (a call runs once: nothing
    /// to skip); returns its number.
    fn push_blocking(&self, item: T) -> Result<u64, StreamClosed> {
        self.tx.room_blocking()?.send(item)?;
        Ok(self.delivered.fetch_add(1, Ordering::AcqRel) + 1)
    }
}

/// How a sync actor method streams: it sends each item as soon as it has
/// it ([`ActorHandle::call_stream`](crate::ActorHandle::call_stream)).
///
/// `send` waits while the stream's backpressure bound is reached (lending
/// the actor's CPU meanwhile), and fails with [`StreamClosed`] once the
/// caller dropped the stream: the method should then stop.
pub struct ItemSender<T> {
    producer: Producer<T>,
    marks: std::cell::RefCell<Marks>,
    /// The call the method runs as: cancelled, it sends no more.
    call: Option<crate::CurrentTask>,
}

impl<T: Send + 'static> ItemSender<T> {
    /// Sends the next item.
    ///
    /// # Errors
    ///
    /// [`StreamClosed`] if the caller dropped (or cancelled) the stream.
    pub fn send(&self, item: T) -> Result<(), StreamClosed> {
        if self
            .call
            .as_ref()
            .is_some_and(crate::CurrentTask::is_cancelled)
        {
            return Err(StreamClosed);
        }
        let number = self.producer.push_blocking(item)?;
        self.marks.borrow_mut().note(number);
        Ok(())
    }

    /// How many items were delivered.
    pub(crate) fn delivered(&self) -> u64 {
        self.producer.delivered.load(Ordering::Acquire)
    }
}

impl<T> fmt::Debug for ItemSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemSender")
            .field("sent", &self.producer.delivered.load(Ordering::Acquire))
            .finish()
    }
}

/// A channel for one stream: the producer's side and the consumer's.
pub(crate) fn channel<T>(backpressure: Option<usize>) -> (Producer<T>, ItemRx<T>) {
    let (tx, rx) = channel::pair(backpressure);
    let producer = Producer {
        tx,
        delivered: Arc::new(AtomicU64::new(0)),
        turn: Arc::default(),
    };
    (producer, rx)
}

/// An `ItemSender` over `producer`, for a sync actor method.
pub(crate) fn sender<T>(producer: Producer<T>) -> ItemSender<T> {
    ItemSender {
        producer,
        marks: std::cell::RefCell::new(Marks::of_current_task()),
        call: crate::task::current_task(),
    }
}

/// The results of a streaming task, one ref per item, each ready as soon as
/// its item exists: Ray's `ObjectRefGenerator`. A [`Stream`] of
/// [`ObjectRef`]s; [`block_iter`](RefStream::block_iter) is its blocking
/// twin.
///
/// Each item's ref is an ordinary ref: awaitable, passable to other tasks,
/// usable with [`get_all`](crate::get_all), [`wait`](crate::wait) and
/// [`as_completed`](crate::as_completed). If the task fails (panics, returns
/// `Err`, times out, is cancelled), the stream ends with one more ref that
/// fails with that error, after the items produced before it.
///
/// Dropping the stream cancels the task (an async producer stops at its next
/// `.await`, a blocking one when it sends its next item); refs already taken
/// keep their values.
///
/// ```
/// use futures::StreamExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), taskref::Error> {
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let countdown = rt.remote_stream(|from: u32| futures::stream::iter((0..from).rev()));
/// let mut refs = countdown.remote(3);
/// let mut seen = Vec::new();
/// while let Some(item) = refs.next().await {
///     seen.push(item.await?);
/// }
/// assert_eq!(seen, [2, 1, 0]);
/// # Ok(()) }
/// ```
pub struct RefStream<T> {
    /// The producing task: its value is how many items it delivered.
    task: ObjectRef<u64>,
    items: ItemRx<T>,
    /// Who each item is: the producing task's name and call site.
    item_info: TaskInfo,
    /// Waiting for the task's outcome (its waker key), and the waker it
    /// holds.
    key: Option<usize>,
    registered: Option<std::task::Waker>,
    ended: bool,
}

impl<T: Send + 'static> RefStream<T> {
    pub(crate) fn new(task: ObjectRef<u64>, items: ItemRx<T>) -> RefStream<T> {
        let info = task.task();
        let item_info = TaskInfo::new(info.id(), info.name_label().cloned(), info.location());
        RefStream {
            task,
            items,
            item_info,
            key: None,
            registered: None,
            ended: false,
        }
    }

    /// The ref of an item, ready now.
    fn item(&self, value: T) -> ObjectRef<T> {
        let info = self.item_info.renumbered(ObjectId::next());
        ObjectRef::from_slot(Arc::new(Slot::ready(info, value)))
    }
}

impl<T> RefStream<T> {
    /// The producing task (its id, name and call site).
    pub fn task(&self) -> &TaskInfo {
        self.task.task()
    }

    /// The producing task's ref: ready when it has produced everything,
    /// with how many items it delivered.
    pub fn task_ref(&self) -> &ObjectRef<u64> {
        &self.task
    }

    /// Cancels the producing task (and what it submitted): it produces no
    /// more items, and the stream ends with a ref failing with
    /// [`Error::Cancelled`](crate::Error::Cancelled) after the items produced before. Items already
    /// produced keep their values. Returns whether the task was still
    /// running.
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }
}

impl<T: Send + 'static> Stream for RefStream<T> {
    type Item = ObjectRef<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ObjectRef<T>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.items.poll_recv(cx) {
            Poll::Ready(Some(value)) => return Poll::Ready(Some(this.item(value))),
            // The channel closes when the task's call is gone; but a task
            // can end (cancelled, timed out, shut down) while its call lives
            // on a while (a blocking closure, a call still queued): the
            // task's outcome ends the stream too. Checked without a lock;
            // the task wakes us when it ends (registered once per waker).
            Poll::Pending if !this.task.slot.is_done() => {
                let fresh = this
                    .registered
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()));
                if !fresh {
                    let _ = this.task.slot.poll_ready(&mut this.key, cx);
                    this.registered = Some(cx.waker().clone());
                }
                if !this.task.slot.is_done() {
                    return Poll::Pending;
                }
            }
            Poll::Pending | Poll::Ready(None) => {}
        }
        let outcome = std::task::ready!(this
            .task
            .slot
            .poll_read(&mut this.key, cx, |outcome| { outcome.err().cloned() }));
        // Items sent before the task ended come first (a task that succeeds
        // has sent every item before it completes).
        if let Some(value) = this.items.try_recv() {
            return Poll::Ready(Some(this.item(value)));
        }
        this.ended = true;
        // A producer still waiting for room (a blocking one that has not
        // seen its cancel yet) is let go.
        this.items.close();
        Poll::Ready(outcome.map(|err| {
            let info = this.item_info.renumbered(ObjectId::next());
            ObjectRef::from_slot(Arc::new(Slot::failed(info, err)))
        }))
    }
}

impl<T> Drop for RefStream<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.task.slot.remove_waiter(key);
        }
        // Nobody will take more items: stop producing them. Only the
        // producer itself, not what it submitted: items may be refs of its
        // children, which the caller holds.
        if !self.task.is_ready() {
            self.task.cancel_non_recursive();
        }
    }
}

impl<T> fmt::Debug for RefStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefStream")
            .field("task", self.task.task())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> RefStream<T> {
    /// The blocking twin: an [`Iterator`] of the refs, for plain threads
    /// (each `next` blocks until the next item exists, as
    /// [`block_get`](ObjectRef::block_get) does).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let squares = rt.remote_stream_blocking(|n: u64| (1..=n).map(|i| i * i));
    /// let values: Vec<u64> = squares
    ///     .remote(4)
    ///     .block_iter()
    ///     .map(|r| r.block_get())
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(values, [1, 4, 9, 16]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn block_iter(self) -> BlockRefStream<T> {
        BlockRefStream {
            stream: self,
            location: Location::caller(),
        }
    }
}

/// The blocking twin of a [`RefStream`]: from [`RefStream::block_iter`].
pub struct BlockRefStream<T> {
    stream: RefStream<T>,
    location: &'static Location<'static>,
}

impl<T: Send + 'static> Iterator for BlockRefStream<T> {
    type Item = ObjectRef<T>;

    fn next(&mut self) -> Option<ObjectRef<T>> {
        let context = self.stream.task.slot.context().cloned();
        let observer = context.as_deref().map(|c| c.observer());
        let next = self.stream.next();
        match crate::block_on::block_on(next, None, self.location, "block_iter", observer) {
            Ok(next) => next.expect("no deadline"),
            // This thread may not block (a current-thread runtime's own
            // thread): the stream ends with that error.
            Err(err) => {
                self.stream.ended = true;
                let info = self.stream.item_info.renumbered(ObjectId::next());
                Some(ObjectRef::from_slot(Arc::new(Slot::failed(info, err))))
            }
        }
    }
}

impl<T> BlockRefStream<T> {
    /// The producing task (see [`RefStream::task`]).
    pub fn task(&self) -> &TaskInfo {
        self.stream.task()
    }

    /// Cancels the producing task (see [`RefStream::cancel`]).
    pub fn cancel(&self) -> bool {
        self.stream.cancel()
    }
}

impl<T> fmt::Debug for BlockRefStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockRefStream")
            .field("stream", &self.stream)
            .finish()
    }
}

/// A streaming remote function: [`Runtime::remote_stream`](crate::Runtime::remote_stream)
/// or [`Runtime::remote_stream_blocking`](crate::Runtime::remote_stream_blocking).
/// Its options are a remote function's, plus
/// [`backpressure`](StreamFn::backpressure).
pub struct StreamFn<F, L, K> {
    remote: RemoteFn<F, L, K>,
    backpressure: Option<usize>,
}

impl<F, L, K> Clone for StreamFn<F, L, K> {
    fn clone(&self) -> Self {
        StreamFn {
            remote: self.remote.clone(),
            backpressure: self.backpressure,
        }
    }
}

impl<F, L, K> fmt::Debug for StreamFn<F, L, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFn")
            .field("remote", &self.remote)
            .field("backpressure", &self.backpressure)
            .finish()
    }
}

impl<F, L, K> StreamFn<F, L, K> {
    pub(crate) fn new(remote: RemoteFn<F, L, K>) -> Self {
        StreamFn {
            remote,
            backpressure: None,
        }
    }

    /// The producer pauses while `n` items it produced are not yet taken
    /// from the stream (Ray's `_generator_backpressure_num_objects`): a slow
    /// consumer bounds the memory the stream holds. `0` is taken as 1.
    #[must_use = "options return a new `StreamFn`; use the returned value"]
    pub fn backpressure(mut self, n: usize) -> Self {
        self.backpressure = Some(n);
        self
    }

    /// As [`RemoteFn::name`].
    #[must_use = "options return a new `StreamFn`; use the returned value"]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.remote = self.remote.name(name);
        self
    }

    /// As [`RemoteFn::num_cpus`].
    #[must_use = "options return a new `StreamFn`; use the returned value"]
    pub fn num_cpus(mut self, cpus: f64) -> Self {
        self.remote = self.remote.num_cpus(cpus);
        self
    }

    /// As [`RemoteFn::resource`].
    #[must_use = "options return a new `StreamFn`; use the returned value"]
    pub fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        self.remote = self.remote.resource(name, amount);
        self
    }

    /// As [`RemoteFn::timeout`]: a bound on the whole stream. When it
    /// passes, the stream ends with a ref failing with
    /// [`Error::TaskTimedOut`](crate::Error::TaskTimedOut).
    #[must_use = "options return a new `StreamFn`; use the returned value"]
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.remote = self.remote.timeout(timeout);
        self
    }

    /// As [`RemoteFn::max_retries`]: a panicking (or timed-out) stream runs
    /// again from the start, and the items it delivered already are skipped
    /// (as Ray's streaming generators are retried): its items must come out
    /// the same each time.
    #[must_use = "options return a new `StreamFn`; use the returned value"]
    pub fn max_retries(mut self, retries: u32) -> Self
    where
        L: Clone,
    {
        self.remote = self.remote.max_retries(retries);
        self
    }
}

impl<F, L, S> StreamFn<F, L, AsyncTask>
where
    F: Func<L, Output = S>,
    L: Send + 'static,
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    /// Starts the task: returns its stream of refs at once.
    #[track_caller]
    #[must_use = "dropping the stream cancels the task"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> RefStream<S::Item> {
        self.start::<AsyncTask, _, _, _, _>(args, Location::caller(), Producer::drive)
    }
}

impl<F, L, I> StreamFn<F, L, BlockingTask>
where
    F: Func<L, Output = I>,
    L: Send + 'static,
    I: IntoIterator + 'static,
    I::Item: Send + 'static,
{
    /// Starts the task: returns its stream of refs at once.
    #[track_caller]
    #[must_use = "dropping the stream cancels the task"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> RefStream<I::Item> {
        self.start::<BlockingTask, _, _, _, _>(args, Location::caller(), Producer::drive_blocking)
    }
}

impl<F, L, S, T, E> StreamFn<F, L, TryAsyncTask>
where
    F: Func<L, Output = S>,
    L: Send + 'static,
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    /// Starts the task: returns its stream of refs at once. The first `Err`
    /// the stream yields ends it: the last ref fails with
    /// [`Error::TaskFailed`](crate::Error::TaskFailed), whose source is the
    /// error (retried first if [`retry_on_error`](StreamFn::retry_on_error)).
    #[track_caller]
    #[must_use = "dropping the stream cancels the task"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> RefStream<T> {
        self.start::<TryAsyncTask, _, _, _, _>(args, Location::caller(), Producer::try_drive)
    }
}

impl<F, L, I, T, E> StreamFn<F, L, TryBlockingTask>
where
    F: Func<L, Output = I>,
    L: Send + 'static,
    I: IntoIterator<Item = Result<T, E>> + 'static,
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    /// Starts the task: returns its stream of refs at once (see the async
    /// form for what an `Err` does).
    #[track_caller]
    #[must_use = "dropping the stream cancels the task"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> RefStream<T> {
        self.start::<TryBlockingTask, _, _, _, _>(
            args,
            Location::caller(),
            Producer::try_drive_blocking,
        )
    }
}

impl<F, L, K> StreamFn<F, L, K> {
    /// As [`RemoteFn::retry_on_error`], for a fallible stream
    /// ([`Runtime::try_remote_stream`](crate::Runtime::try_remote_stream)):
    /// an `Err` item is retried like a panic, from the start, skipping the
    /// items delivered already.
    #[must_use = "options return a new `StreamFn`; use the returned value"]
    pub fn retry_on_error(mut self, retry: bool) -> Self {
        self.remote = self.remote.retry_on_error(retry);
        self
    }

    /// Submits a task of kind `Kind` whose call drives the function's
    /// items into a new stream with `drive`: the one body of every
    /// `remote` above.
    fn start<Kind, X, T, Out, D>(
        &self,
        args: X,
        location: &'static Location<'static>,
        drive: D,
    ) -> RefStream<T>
    where
        F: Func<L>,
        L: Send + 'static,
        X: IntoArgs<L>,
        T: Send + 'static,
        Kind: TaskKind<Out, Value = u64>,
        D: Fn(Producer<T>, F::Output) -> Out + Clone + Send + 'static,
    {
        let (producer, items) = channel(self.backpressure);
        let func = self.remote.func();
        let call = move |args: L| drive(producer.clone(), func.call(args));
        let task = Kind::submit(self.submission(args, call, location));
        RefStream::new(task, items)
    }

    fn submission<'a, X, C: Clone>(
        &'a self,
        args: X,
        call: C,
        location: &'static Location<'static>,
    ) -> Submission<'a, L, X, C> {
        Submission {
            context: self.remote.runtime().context(),
            options: self.remote.options(),
            location,
            retry: self.remote.retry_for(&call),
            args,
            call,
            // A stream runs in this process (it is not a distributable
            // function on a Ray cluster).
            distributable: None,
        }
    }
}

/// The producer's part of an actor's streaming method: a stream of refs for
/// the caller, and the producer for the call.
pub(crate) fn for_actor<T: Send + 'static>(
    backpressure: Option<usize>,
) -> (Producer<T>, impl FnOnce(ObjectRef<u64>) -> RefStream<T>) {
    let (producer, items) = channel(backpressure);
    (producer, move |task| RefStream::new(task, items))
}
