//! `ObjectRef<T>`, the handle to a value that a task will produce, and the
//! futures that wait on one.

pub(crate) mod slot;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::Error;
use crate::identity::{ObjectId, TaskInfo};
use crate::observe::{Observer, Waiting};
use slot::Slot;

/// A handle to the value a task produces, or will produce: Ray's `ObjectRef`.
///
/// Dropping an `ObjectRef` does not cancel its task (as in Ray): the task runs to
/// the end, and its value is freed once the task is done and the last ref to it is
/// gone. Cancel explicitly with [`cancel`](ObjectRef::cancel).
///
/// A ref is one `Arc`: cloning it is one reference-count increment, and it is
/// `Send + Sync` when `T: Send`. Every clone reads the same outcome; each read
/// returns a clone of the value (wrap large values in `Arc` to share them
/// cheaply). Awaiting a ref by value (`r.await`) moves the value out instead of
/// cloning it when that ref is the last one.
///
/// Refs can be passed to other remote functions in place of the values they stand
/// for; the runtime starts the consumer once the value exists, without a round
/// trip through the caller. See the crate docs for the three ways to lose
/// parallelism with refs and how to avoid them.
///
/// Values cross threads, so they must be `Send`; a task cannot produce an `Rc`,
/// and a `RemoteFn` cannot capture one:
///
/// ```compile_fail
/// let rt = taskref::Runtime::new().unwrap();
/// let r = rt.spawn(async { std::rc::Rc::new(1) }); // error: `Rc` is not `Send`
/// ```
///
/// ```compile_fail
/// let rt = taskref::Runtime::new().unwrap();
/// let local = std::rc::Rc::new(5);
/// let f = rt.remote(move |x: u8| { let _ = &local; async move { x } }); // error: not `Send`
/// ```
///
/// # Examples
///
/// ```
/// use taskref::Runtime;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = Runtime::new()?;
/// let square = rt.remote(|x: u64| async move { x * x });
/// let r = square.remote(7);
/// let plus_one = rt.remote(|x: u64| async move { x + 1 });
/// let s = plus_one.remote(r.clone()); // a ref where a value is expected
/// assert_eq!(s.block_get()?, 50);
/// assert_eq!(r.block_get()?, 49);
/// # Ok(()) }
/// ```
pub struct ObjectRef<T> {
    pub(crate) slot: Arc<Slot<T>>,
}

impl<T> Clone for ObjectRef<T> {
    fn clone(&self) -> Self {
        ObjectRef {
            slot: Arc::clone(&self.slot),
        }
    }
}

impl<T> ObjectRef<T> {
    pub(crate) fn from_slot(slot: Arc<Slot<T>>) -> Self {
        ObjectRef { slot }
    }

    /// Waits for the outcome and moves it out, for the runtime's own use of
    /// a ref it holds alone (no `Clone` needed).
    pub(crate) async fn into_sole_outcome(self) -> Result<T, Error> {
        let mut key = None;
        std::future::poll_fn(|cx| self.slot.poll_ready(&mut key, cx)).await;
        // A failure is read at once (errors clone); an abandoned attempt
        // may hold the slot for as long as its closure runs.
        if let Some(Err(err)) = self.slot.try_read_quietly() {
            return Err(err);
        }
        let mut slot = self.slot;
        loop {
            match Arc::try_unwrap(slot) {
                Ok(slot) => return slot.into_outcome().expect("a finished task's outcome"),
                // The task lets go of its slot just after completing it.
                Err(shared) => {
                    slot = shared;
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    /// Awaits the value for the runtime's own use (argument resolution): not a
    /// user's wait, so neither recorded nor checked by the detector.
    pub(crate) fn into_get_internal(self) -> PlainGet<T> {
        PlainGet {
            object: Some(self),
            key: None,
        }
    }

    /// The ref's id, unique within the process.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let r = rt.put("x");
    /// assert_eq!(r.id(), r.clone().id());
    /// ```
    pub fn id(&self) -> ObjectId {
        self.slot.info().id()
    }

    /// Who the task is: id, name and submitting call site.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let r = rt.remote(|x: u8| async move { x }).name("echo").remote(1);
    /// assert_eq!(r.task().name(), Some("echo"));
    /// ```
    pub fn task(&self) -> &TaskInfo {
        self.slot.info()
    }

    /// Whether the task has finished (with a value or an error).
    ///
    /// Never waits. A `false` may be out of date as soon as it is returned; a
    /// `true` stays true.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// assert!(rt.put(5).is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.slot.is_done_or_fetch()
    }

    /// Cancels the task and every unfinished task it submitted, transitively:
    /// Ray's `ray.cancel(ref)` (whose `recursive=True` is the default).
    ///
    /// Whichever comes first wins, completion or cancel. If the task had not
    /// finished, every get of this ref returns [`Error::Cancelled`], a task that
    /// has not started never runs, a running async task is dropped at its next
    /// `.await`, and tasks that take this ref as an argument fail with
    /// [`Error::DependencyFailed`]. A running *blocking* task cannot be
    /// interrupted: it runs to the end, keeps its CPU until then, sees
    /// [`CurrentTask::is_cancelled`](crate::CurrentTask::is_cancelled), and its
    /// result is discarded.
    ///
    /// The same holds for each unfinished task below it in the task tree (a
    /// task or actor call submitted while another task of the same runtime
    /// runs is that task's child, see [`TaskInfo::parent`]); a child that
    /// finished keeps its value, and a child submitted by a cancelled task is
    /// cancelled at birth. To cancel only this task, use
    /// [`cancel_non_recursive`](ObjectRef::cancel_non_recursive).
    ///
    /// Returns `true` if this call cancelled the task, `false` if it had already
    /// finished (or been cancelled); its unfinished descendants are cancelled
    /// either way.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let r = rt.spawn(std::future::pending::<()>());
    /// assert!(r.cancel());
    /// assert!(!r.cancel());
    /// assert!(r.block_get().unwrap_err().is_cancelled());
    /// assert!(!rt.put(1).cancel(), "a finished task cannot be cancelled");
    /// ```
    pub fn cancel(&self) -> bool {
        let cancelled = self.slot.cancel();
        // Read after the cancel: a child submitted before it marked the
        // parent, and one submitted after sees its parent cancelled.
        if self.slot.has_children() {
            if let Some(context) = self.slot.context() {
                context.cancel_descendants(self.id());
            }
        }
        cancelled
    }

    /// Cancels this task only: the tasks it submitted keep running. Ray's
    /// `ray.cancel(ref, recursive=False)`; otherwise as
    /// [`cancel`](ObjectRef::cancel).
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let rt2 = rt.clone();
    /// let parent = rt.spawn(async move {
    ///     tx.send(rt2.spawn(async { 7 })).unwrap();
    ///     std::future::pending::<()>().await
    /// });
    /// let child = rx.recv().unwrap();
    /// assert!(parent.cancel_non_recursive());
    /// assert_eq!(child.block_get().unwrap(), 7, "the child ran on");
    /// ```
    pub fn cancel_non_recursive(&self) -> bool {
        self.slot.cancel()
    }

    /// Waits for the task's value and returns a clone of it.
    ///
    /// Returns at once if the value is ready. Waiting does not poll or sleep: the
    /// task wakes this future when it finishes. `r.await` is the same, except that
    /// it consumes the ref and moves the value out when it was the last ref.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), taskref::Error> {
    /// let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
    /// let r = rt.spawn(async { 6 * 7 });
    /// assert_eq!(r.get().await?, 42);
    /// assert_eq!(r.await?, 42);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::TaskPanicked`] if the task panicked;
    /// - [`Error::DependencyFailed`] if a ref it took as an argument failed;
    /// - [`Error::Cancelled`] if it was cancelled;
    /// - [`Error::Shutdown`] if its runtime shut down first.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future loses nothing, and the task
    /// keeps running.
    #[track_caller]
    pub fn get(&self) -> Get<'_, T>
    where
        T: Clone,
    {
        self.get_as("get", Location::caller())
    }

    pub(crate) fn get_as(
        &self,
        call: &'static str,
        location: &'static Location<'static>,
    ) -> Get<'_, T>
    where
        T: Clone,
    {
        Get {
            slot: &self.slot,
            key: None,
            location,
            call,
            waiting: Waiting::default(),
        }
    }

    /// Like [`get`](ObjectRef::get), but gives up after `timeout` with
    /// [`Error::GetTimeout`]. The task keeps running and the ref stays valid.
    ///
    /// A zero timeout never waits: a ready ref returns its value, a pending one
    /// `GetTimeout`. The timeout uses the timer of the runtime that runs the task,
    /// so it works from any async context.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
    /// let slow = rt.spawn(async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    /// });
    /// let err = slow.get_timeout(Duration::from_millis(10)).await.unwrap_err();
    /// assert!(err.is_get_timeout());
    /// assert!(!slow.is_ready(), "the task keeps running");
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`get`](ObjectRef::get), plus [`Error::GetTimeout`], and
    /// [`Error::NoTimer`] when the task's runtime was attached to a tokio runtime
    /// built without its timer.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe.
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> GetTimeout<'_, T>
    where
        T: Clone,
    {
        GetTimeout {
            get: self.get_as("get_timeout", Location::caller()),
            timeout,
            sleep: None,
        }
    }

    /// Returns the outcome if the task has finished, `None` if it has not. Never
    /// waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let r = rt.put(3);
    /// assert_eq!(r.try_get().unwrap().unwrap(), 3);
    /// let pending = rt.spawn(std::future::pending::<u8>());
    /// assert!(pending.try_get().is_none());
    /// ```
    pub fn try_get(&self) -> Option<Result<T, Error>>
    where
        T: Clone,
    {
        self.slot.try_read(read_cloned)
    }

    /// Takes the outcome out of this ref if the task has finished: moves the value
    /// when this is the last ref, clones it otherwise. `Err(self)` if pending.
    pub(crate) fn take_outcome(self) -> Result<Result<T, Error>, Self>
    where
        T: Clone,
    {
        if self.slot.is_remote() && !self.slot.is_done() {
            // A cluster task's slot may have no other owner while its value
            // is still on the cluster (see `task/on_cluster.rs`).
            return Err(self);
        }
        match Arc::try_unwrap(self.slot) {
            Ok(slot) => match slot.into_outcome() {
                Some(outcome) => Ok(outcome),
                // Only a finished task has given up its own handle to the slot, so
                // a sole owner always finds a final state.
                None => unreachable!("a slot with one owner is complete"),
            },
            Err(slot) => match slot.try_read(read_cloned) {
                Some(outcome) => Ok(outcome),
                None => Err(ObjectRef { slot }),
            },
        }
    }
}

/// The observer of the runtime that runs the slot's task (`None` for `put`).
fn observer_of<T>(slot: &Slot<T>) -> Option<&Observer> {
    slot.context().map(|context| context.observer())
}

pub(crate) fn read_cloned<T: Clone>(outcome: Result<&T, &Error>) -> Result<T, Error> {
    match outcome {
        Ok(value) => Ok(value.clone()),
        Err(err) => Err(err.clone()),
    }
}

impl<T> fmt::Debug for ObjectRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.slot.info();
        f.debug_struct("ObjectRef")
            .field("id", &info.id())
            .field("name", &info.name())
            .field("location", &format_args!("{}", info.location()))
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl<T: Clone> IntoFuture for ObjectRef<T> {
    type Output = Result<T, Error>;
    type IntoFuture = IntoGet<T>;

    /// Awaits the value, moving it out if this is the last ref.
    #[track_caller]
    fn into_future(self) -> IntoGet<T> {
        IntoGet {
            read: self.into_get_internal(),
            location: Location::caller(),
            waiting: Waiting::default(),
        }
    }
}

impl<'a, T: Clone> IntoFuture for &'a ObjectRef<T> {
    type Output = Result<T, Error>;
    type IntoFuture = Get<'a, T>;

    #[track_caller]
    fn into_future(self) -> Get<'a, T> {
        self.get()
    }
}

/// Future returned by [`ObjectRef::get`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Get<'a, T> {
    slot: &'a Arc<Slot<T>>,
    key: Option<usize>,
    location: &'static Location<'static>,
    /// Which API call this is, for the timeline and the detector.
    call: &'static str,
    waiting: Waiting,
}

impl<T: Clone> Future for Get<'_, T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let slot = this.slot;
        let poll = slot.poll_read(&mut this.key, cx, read_cloned);
        let (observer, info) = (observer_of(slot), slot.info());
        let pending = poll.is_pending();
        let started = this.waiting.start_get(
            slot.context(),
            info,
            this.location,
            this.call,
            pending,
            || slot.edge(),
            this.call == "get_timeout" || this.call == "block_get_timeout",
        );
        if let Err(denied) = started {
            return Poll::Ready(Err(denied));
        }
        if !pending {
            let (call, location) = (this.call, this.location);
            let fanned_out = slot.fanned_out();
            this.waiting
                .finish_get(observer, call, location, info.id(), fanned_out);
        }
        poll
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.slot.remove_waiter(key);
        }
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("task", self.slot.info())
            .finish_non_exhaustive()
    }
}

/// Future returned by awaiting an [`ObjectRef`] by value (`r.await`).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct IntoGet<T> {
    read: PlainGet<T>,
    /// The caller's `.await`.
    location: &'static Location<'static>,
    waiting: Waiting,
}

impl<T: Clone> Future for IntoGet<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let object = this
            .read
            .object
            .take()
            .expect("`IntoGet` polled after completion");
        let slot = &object.slot;
        let pending = slot.poll_read(&mut this.read.key, cx, |_| ()).is_pending();
        let (observer, info, location) = (observer_of(slot), slot.info(), this.location);
        let started = this.waiting.start_get(
            slot.context(),
            info,
            location,
            "await",
            pending,
            || slot.edge(),
            false,
        );
        if let Err(denied) = started {
            this.read.object = Some(object);
            return Poll::Ready(Err(denied));
        }
        if !pending {
            let fanned_out = slot.fanned_out();
            this.waiting
                .finish_get(observer, "await", location, info.id(), fanned_out);
        }
        if pending {
            this.read.object = Some(object);
            return Poll::Pending;
        }
        Poll::Ready(PlainGet::outcome(object))
    }
}

impl<T> fmt::Debug for IntoGet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoGet")
            .field("object", &self.read.object)
            .finish_non_exhaustive()
    }
}

/// A ref's value, awaited without being observed: the runtime's own reads
/// (an argument's value: not a user's wait, so neither recorded nor checked
/// by the detector), and the core of [`IntoGet`]. A word and a waiter key,
/// as it travels inside every call queued with a ref argument (see
/// `actor/queued_call.rs` for why that size matters).
pub(crate) struct PlainGet<T> {
    object: Option<ObjectRef<T>>,
    key: Option<usize>,
}

impl<T: Clone> PlainGet<T> {
    /// The outcome of `object`, whose slot is complete: moved out if it is
    /// the last ref.
    fn outcome(object: ObjectRef<T>) -> Result<T, Error> {
        match object.take_outcome() {
            Ok(outcome) => outcome,
            Err(_) => unreachable!("the slot was complete a moment ago"),
        }
    }
}

impl<T: Clone> Future for PlainGet<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let object = this
            .object
            .take()
            .expect("`PlainGet` polled after completion");
        if object
            .slot
            .poll_read(&mut this.key, cx, |_| ())
            .is_pending()
        {
            this.object = Some(object);
            return Poll::Pending;
        }
        Poll::Ready(PlainGet::outcome(object))
    }
}

impl<T> Drop for PlainGet<T> {
    fn drop(&mut self) {
        if let (Some(object), Some(key)) = (&self.object, self.key) {
            object.slot.remove_waiter(key);
        }
    }
}

/// Future returned by [`ObjectRef::get_timeout`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct GetTimeout<'a, T> {
    get: Get<'a, T>,
    timeout: Duration,
    /// Created on the first pending poll only, so a ready ref never touches the timer.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T: Clone> Future for GetTimeout<'_, T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(outcome) = Pin::new(&mut this.get).poll(cx) {
            return Poll::Ready(outcome);
        }
        let slot = this.get.slot;
        let timed_out = || Error::GetTimeout {
            task: slot.info().clone(),
            timeout: this.timeout,
        };
        if this.timeout.is_zero() {
            return Poll::Ready(Err(timed_out()));
        }
        let sleep = match &mut this.sleep {
            Some(sleep) => sleep,
            None => {
                // A pending slot always belongs to a runtime: `put` refs are ready.
                let context = slot.context().expect("a pending slot has a runtime");
                match context.sleep(this.timeout, this.get.location) {
                    Ok(sleep) => this.sleep.insert(sleep),
                    Err(err) => return Poll::Ready(Err(err)),
                }
            }
        };
        match crate::timer::poll_sleep(sleep, cx) {
            Poll::Ready(()) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for GetTimeout<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetTimeout")
            .field("task", self.get.slot.info())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
