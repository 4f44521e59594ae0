//! Async actors: methods that are futures over `Arc<S>`, interleaving at their
//! await points, at most `max_concurrency` at once (Ray's async actors), and
//! concurrency groups with limits of their own.
//
// A dispatcher task drains the mailbox in order into one queue per
// concurrency group (the default group is group 0), and starts the head of
// each queue whenever its group has a free slot, so calls *start* in
// submission order within a group and a busy group holds up only its own
// calls. A running call gives its slot back when it ends and wakes the
// dispatcher. The dispatcher holds the actor's resources for its life and
// owns the first `Arc` of the state; running calls hold clones, so each
// instance's state is dropped once, after the last call that uses it.
//
// A restart (`kill_and_restart`) is a request, then a marker in the
// mailbox. The dispatcher checks for a request before it starts calls: it
// then moves the calls ahead of the marker into their groups' queues, drops
// its `Arc` of the state (calls running go on with theirs) and builds a new
// one. Every call queued in a group then was queued at the death, and runs
// on the new instance only with a retry left (see `life`). A marker whose
// request came after the check restarts when the dispatcher reaches it.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use std::collections::VecDeque;

use futures::FutureExt;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use super::life::Life;
use super::{actor_died, fail_call, Core, Death};
use crate::context::RuntimeContext;
use crate::resources::Permit;
use crate::task::{Erased, UserError};
use crate::ObjectRef;

/// A call of an async actor: given the state (or the cause of death), it
/// returns the future that runs the method and completes its ref; with its
/// group, and how many restarts it may wait through (see `life`).
pub(super) struct AsyncCall<S> {
    group: usize,
    retries: u32,
    run: RunAsyncCall<S>,
    /// Not a call: where a kill that asked for a restart happened.
    restart_marker: bool,
}

/// Given the state, or the cause of death and the actor's name (lent by the
/// dispatcher, so that a call's closure holds no count of its own).
type RunAsyncCall<S> = Box<
    dyn FnOnce(Result<Arc<S>, (String, &str)>) -> futures::future::BoxFuture<'static, ()> + Send,
>;

impl<S> AsyncCall<S> {
    /// A message that only wakes the dispatcher (after a kill).
    fn wake() -> AsyncCall<S> {
        AsyncCall {
            group: 0,
            retries: 0,
            run: Box::new(|_| async {}.boxed()),
            restart_marker: false,
        }
    }

    /// The mark of a kill that asked for a restart.
    fn restart_marker() -> AsyncCall<S> {
        AsyncCall {
            restart_marker: true,
            ..AsyncCall::wake()
        }
    }

    /// Fails the call of the actor `name` with `cause` (failing never
    /// waits).
    fn fail(self, cause: String, name: &str) {
        (self.run)(Err((cause, name))).now_or_never();
    }
}

/// A handle to an async actor, made by
/// [`ActorBuilder::spawn_async`](crate::ActorBuilder::spawn_async). Cheap to
/// clone, `Send + Sync`.
///
/// Its methods are async closures over `Arc<S>`: they start in submission
/// order and interleave at their `.await`s, at most `max_concurrency` at once,
/// as Ray's async actors do. The state is shared, not exclusive: use interior
/// mutability (atomics, `Mutex`) where calls change it. That is the trade-off:
/// a plain [`ActorHandle`](crate::ActorHandle) gives each call `&mut S` and
/// runs them one at a time; an async actor overlaps waiting calls.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// # let rt = taskref::Runtime::builder().worker_threads(2).build().unwrap();
/// let fetcher = rt.actor_builder().max_concurrency(10).spawn_async(|| AtomicU64::new(0)).unwrap();
/// let started = std::time::Instant::now();
/// let refs: Vec<_> = (0..10)
///     .map(|_| fetcher.call(|hits: Arc<AtomicU64>| async move {
///         tokio::time::sleep(Duration::from_millis(50)).await; // waits overlap
///         hits.fetch_add(1, Ordering::SeqCst) + 1
///     }))
///     .collect();
/// taskref::block_get_all(refs).unwrap();
/// assert!(started.elapsed() < Duration::from_millis(400), "ten 50 ms calls overlapped");
/// ```
pub struct AsyncActorHandle<S> {
    pub(super) inner: Arc<Core<AsyncCall<S>>>,
    /// The concurrency group its calls run in (0: the default group).
    pub(super) group: usize,
    /// How many restarts its calls may wait through (`max_retries`).
    pub(super) retries: u32,
}

impl<S> Clone for AsyncActorHandle<S> {
    fn clone(&self) -> Self {
        AsyncActorHandle {
            inner: Arc::clone(&self.inner),
            group: self.group,
            retries: self.retries,
        }
    }
}

impl<S> fmt::Debug for AsyncActorHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncActorHandle")
            .field("name", &self.inner.name())
            .field("dead", &self.inner.death.cause())
            .finish()
    }
}

/// An async actor's dispatcher: what it needs besides its mailbox.
pub(super) struct Dispatcher<'a> {
    pub(super) context: &'a RuntimeContext,
    pub(super) life: &'a Life,
    pub(super) name: &'a str,
    pub(super) death: Arc<Death>,
    /// Each concurrency group's limit (the default group's first).
    pub(super) limits: Vec<usize>,
}

/// One concurrency group: its free slots, and its calls waiting for one
/// (with the restarts each waited through).
struct Group<S> {
    slots: Arc<Semaphore>,
    queue: VecDeque<(AsyncCall<S>, u32)>,
}

impl Dispatcher<'_> {
    /// Builds the state with `build` (again at each restart), then starts
    /// calls until every handle is gone or the actor dies; `resources` are
    /// held all along.
    pub(super) async fn run<S: Send + Sync + 'static>(
        self,
        build: impl Fn() -> Result<Arc<S>, String>,
        resources: Permit,
        mut inbox: mpsc::UnboundedReceiver<AsyncCall<S>>,
    ) {
        let death = &self.death;
        let mut state = build().map_err(|cause| death.set(cause)).ok();
        let mut groups: Vec<Group<S>> = self
            .limits
            .iter()
            .map(|&limit| Group {
                slots: Arc::new(Semaphore::new(limit.max(1))),
                queue: VecDeque::new(),
            })
            .collect();
        // Rung by a call that gives its slot back.
        let freed = Arc::new(Notify::new());
        // A constructor that panicked leaves no state: the actor is dead
        // from the start and skips straight to failing its calls.
        // Set once every handle is gone: the calls queued still run, then
        // the actor stops.
        let mut closed = false;
        while let Some(current) = state.as_ref() {
            // A kill (or a death while a restart built the state) stops
            // every call not started.
            if death.is_dead() {
                break;
            }
            // A kill that asked for a restart: the instance dies here, before
            // another call starts. The calls sent before the kill (up to its
            // marker in the mailbox) were queued at the death, wherever they
            // are now.
            if self.life.take_restart_request() {
                if !closed {
                    closed = take_up_to_marker(&mut inbox, &mut groups).await;
                }
                drop(state.take()); // the old instance goes before the new is built
                state = self.restart(&build, &mut groups);
                continue;
            }
            for group in &mut groups {
                self.start_heads(group, current, &freed);
            }
            if closed && groups.iter().all(|group| group.queue.is_empty()) {
                break;
            }
            let mailbox = (!closed).then_some(&mut inbox);
            let call = match next_event(death, mailbox, &freed).await {
                Event::Died => break,
                Event::Freed => continue,
                Event::Mail(None) => {
                    closed = true;
                    continue;
                }
                Event::Mail(Some(call)) => call,
            };
            if call.restart_marker {
                // Its request came after the check above: every call ahead
                // of it is in a group's queue already.
                if self.life.take_restart_request() {
                    drop(state.take());
                    state = self.restart(&build, &mut groups);
                }
                continue;
            }
            queue(&mut groups, call);
        }
        // Every handle is gone, or the actor died: drop this reference to
        // the state (running calls hold theirs), give the actor's resources
        // back, fail what is queued and refuse the rest.
        drop(state);
        drop(resources);
        let cause = death.cause().unwrap_or_else(|| "it stopped".to_owned());
        for group in groups {
            for (call, _) in group.queue {
                call.fail(cause.clone(), self.name);
            }
        }
        fail_queued(inbox, death, self.name).await;
    }

    /// Restarts the actor: a new instance from `build` if the budget allows,
    /// every queued call having waited through one more restart; `None` (and
    /// the actor dead) if not.
    fn restart<S>(
        &self,
        build: &impl Fn() -> Result<Arc<S>, String>,
        groups: &mut [Group<S>],
    ) -> Option<Arc<S>> {
        match self.life.spend_for_kill(self.name).and_then(|()| build()) {
            Ok(fresh) => {
                for group in groups {
                    for (_, waited) in &mut group.queue {
                        *waited += 1;
                    }
                }
                Some(fresh)
            }
            Err(cause) => {
                self.death.set(cause);
                None
            }
        }
    }

    /// Starts the calls at the head of `group`'s queue while it has free
    /// slots. A call is polled once here, so calls start in order; what is
    /// left of it runs as a task of its own, holding its slot.
    fn start_heads<S: Send + Sync + 'static>(
        &self,
        group: &mut Group<S>,
        state: &Arc<S>,
        freed: &Arc<Notify>,
    ) {
        while !group.queue.is_empty() {
            let Ok(slot) = Arc::clone(&group.slots).try_acquire_owned() else {
                return;
            };
            let Some((call, waited)) = group.queue.pop_front() else {
                return;
            };
            if waited > call.retries {
                call.fail(super::life::RESTARTED_WHILE_QUEUED.to_owned(), self.name);
                continue;
            }
            let mut running = (call.run)(Ok(Arc::clone(state)));
            if running.as_mut().now_or_never().is_none() {
                let freed = Arc::clone(freed);
                drop(self.context.spawn(async move {
                    running.await;
                    give_back(slot, &freed);
                }));
            }
        }
    }
}

/// Puts `call` at the back of its group's queue.
fn queue<S>(groups: &mut [Group<S>], call: AsyncCall<S>) {
    let group = call.group.min(groups.len() - 1);
    groups[group].queue.push_back((call, 0));
}

/// Moves the calls ahead of the next restart marker from the mailbox to
/// their groups' queues, and takes the marker. `true` if the mailbox closed
/// (every handle gone) before a marker came.
async fn take_up_to_marker<S>(
    inbox: &mut mpsc::UnboundedReceiver<AsyncCall<S>>,
    groups: &mut [Group<S>],
) -> bool {
    loop {
        match inbox.recv().await {
            Some(call) if call.restart_marker => return false,
            Some(call) => queue(groups, call),
            None => return true,
        }
    }
}

/// What the dispatcher waits for.
enum Event<S> {
    Died,
    /// A call, or `None` once every handle is gone.
    Mail(Option<AsyncCall<S>>),
    /// A running call gave its slot back.
    Freed,
}

/// The next event, a death first; mail only while the mailbox is open
/// (`inbox` is `None` once every handle is gone).
async fn next_event<S>(
    death: &Death,
    mut inbox: Option<&mut mpsc::UnboundedReceiver<AsyncCall<S>>>,
    freed: &Notify,
) -> Event<S> {
    let mut died = pin!(death.died());
    let mut slot_freed = pin!(freed.notified());
    std::future::poll_fn(|cx| {
        if died.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Died);
        }
        if let Some(inbox) = inbox.as_deref_mut() {
            if let Poll::Ready(call) = inbox.poll_recv(cx) {
                return Poll::Ready(Event::Mail(call));
            }
        }
        slot_freed.as_mut().poll(cx).map(|()| Event::Freed)
    })
    .await
}

/// A call gives its slot back and wakes the dispatcher, which may start the
/// next call of its group.
fn give_back(slot: OwnedSemaphorePermit, freed: &Notify) {
    drop(slot);
    freed.notify_one();
}

/// Fails every call still queued, and refuses later ones, with the cause of
/// death (or "it stopped" if every handle is gone).
pub(super) async fn fail_queued<S>(
    mut inbox: mpsc::UnboundedReceiver<AsyncCall<S>>,
    death: &Death,
    name: &str,
) {
    inbox.close();
    let cause = death.cause().unwrap_or_else(|| "it stopped".to_owned());
    while let Some(call) = inbox.recv().await {
        call.fail(cause.clone(), name);
    }
}

impl<S: Send + Sync + 'static> AsyncActorHandle<S> {
    /// The actor's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether the actor is dead (killed, or its constructor panicked).
    pub fn is_dead(&self) -> bool {
        self.inner.death.cause().is_some()
    }

    /// Submits an async method call and returns its ref at once. A panicking
    /// call fails only its own ref; calls to a dead actor fail with
    /// [`Error::ActorDied`](crate::Error::ActorDied).
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the call, but loses its result"]
    pub fn call<R, F, Fut>(&self, method: F) -> ObjectRef<R>
    where
        R: Send + 'static,
        F: FnOnce(Arc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        self.submit(move |state| method(state).map(Ok))
    }

    /// A streaming method call: `method` returns a [`Stream`](futures::Stream),
    /// and the caller takes each of its items as a ref from the
    /// [`RefStream`](crate::RefStream) returned at once, as soon as it exists.
    /// Other calls interleave with it at its `.await`s, as with any call.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures::StreamExt;
    /// let rt = taskref::Runtime::new()?;
    /// let model = rt.actor_builder().spawn_async(|| vec![1u32, 2, 3])?;
    /// let tokens = model.call_stream(|weights: Arc<Vec<u32>>| {
    ///     futures::stream::iter(0..weights.len()).map(move |i| weights[i] * 10)
    /// });
    /// let refs: Vec<_> = tokens.block_iter().collect();
    /// assert_eq!(taskref::block_get_all(refs)?, [10, 20, 30]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[must_use = "dropping the stream cancels the call"]
    pub fn call_stream<T, F, St>(&self, method: F) -> crate::RefStream<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<S>) -> St + Send + 'static,
        St: futures::Stream<Item = T> + Send + 'static,
    {
        self.call_stream_with_backpressure(None, method)
    }

    /// [`call_stream`](AsyncActorHandle::call_stream) whose stream is asked
    /// for an item only while fewer than `n` are not yet taken.
    #[track_caller]
    #[must_use = "dropping the stream cancels the call"]
    pub fn call_stream_bounded<T, F, St>(&self, n: usize, method: F) -> crate::RefStream<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<S>) -> St + Send + 'static,
        St: futures::Stream<Item = T> + Send + 'static,
    {
        self.call_stream_with_backpressure(Some(n), method)
    }

    #[track_caller]
    fn call_stream_with_backpressure<T, F, St>(
        &self,
        backpressure: Option<usize>,
        method: F,
    ) -> crate::RefStream<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<S>) -> St + Send + 'static,
        St: futures::Stream<Item = T> + Send + 'static,
    {
        let (producer, stream) = crate::stream::for_actor::<T>(backpressure);
        let call = self.call(move |state| producer.drive(method(state)));
        stream(call)
    }

    /// A fallible async method call: `Err(e)` fails the call's ref with
    /// [`Error::TaskFailed`](crate::Error::TaskFailed) (with `e` as its
    /// source); the actor lives on.
    ///
    /// ```
    /// use std::sync::Arc;
    /// # let rt = taskref::Runtime::builder().worker_threads(2).build().unwrap();
    /// let a = rt.actor_builder().spawn_async(|| ()).unwrap();
    /// let r = a.try_call(|_: Arc<()>| async { Err::<u8, _>(std::io::Error::other("no")) });
    /// assert!(r.block_get().unwrap_err().is_failed());
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the call, but loses its result"]
    pub fn try_call<R, E, F, Fut>(&self, method: F) -> ObjectRef<R>
    where
        R: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: FnOnce(Arc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        self.submit(move |state| {
            method(state).map(|result| result.map_err(|e| Arc::new(e) as UserError))
        })
    }

    /// Queues one call; the future's `Err` becomes the ref's `TaskFailed`.
    #[track_caller]
    fn submit<R, F, Fut>(&self, method: F) -> ObjectRef<R>
    where
        R: Send + 'static,
        F: FnOnce(Arc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, UserError>> + Send + 'static,
    {
        let location = std::panic::Location::caller();
        let (object, call) = self.inner.new_call::<R>(location);
        let Some(((completer, deadline), counted)) = call else {
            return object;
        };
        let run: RunAsyncCall<S> = Box::new(move |state| {
            let state = match state {
                Ok(state) => state,
                Err((cause, actor)) => {
                    let err = actor_died(completer.info(), actor, cause);
                    fail_call(completer, counted, err);
                    return async {}.boxed(); // no allocation: nothing to run
                }
            };
            async move {
                if completer.is_decided() {
                    return;
                }
                // Its place under the actor's bound: given back before the
                // call's outcome is stored (a waiter woken then finds the
                // room), and in any case when the call is dropped.
                let give_back = move || drop(counted);
                completer
                    .run_async::<_, _, _, Erased>(method, state, deadline, give_back)
                    .await;
            }
            .boxed()
        });
        let call = AsyncCall {
            group: self.group,
            retries: self.retries,
            run,
            restart_marker: false,
        };
        if let Err(mpsc::error::SendError(call)) = self.inner.mailbox.send(call) {
            // The dispatcher is gone: the actor died or the runtime shut down.
            // Failing a call never waits, so the failure is delivered here.
            let cause = self.inner.death.cause();
            let cause = cause.unwrap_or_else(|| "its dispatcher stopped".to_owned());
            call.fail(cause, self.inner.name());
        }
        object
    }

    /// Kills the actor: calls not yet started (queued, or waiting for a free
    /// slot of `max_concurrency`), and later calls, fail with
    /// [`Error::ActorDied`](crate::Error::ActorDied); running calls finish.
    /// The actor's resources come back at once; the state is dropped when
    /// the last running call ends. An actor still waiting for its resources
    /// never starts (its constructor is not run).
    pub fn kill(&self) {
        self.inner.kill(AsyncCall::wake());
    }

    /// Kills the actor's instance and starts a new one, as
    /// [`ActorHandle::kill_and_restart`](crate::ActorHandle::kill_and_restart):
    /// calls running finish on the old state (they hold it), calls queued
    /// in any group run on the new instance only if they may be retried
    /// ([`max_retries`](AsyncActorHandle::max_retries)), and with no
    /// restart left this is [`kill`](AsyncActorHandle::kill).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// let rt = taskref::Runtime::new()?;
    /// let builds = Arc::new(AtomicU32::new(0));
    /// let b = builds.clone();
    /// let actor = rt.actor_builder().max_restarts(1).spawn_async(move || b.fetch_add(1, Ordering::SeqCst))?;
    /// actor.kill_and_restart();
    /// let instance = actor.call(|n: Arc<u32>| async move { *n });
    /// assert_eq!(instance.block_get()?, 1, "the second instance");
    /// assert_eq!(actor.restarts(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill_and_restart(&self) {
        self.inner.kill_and_restart(AsyncCall::restart_marker());
    }

    /// How many times the actor was restarted.
    pub fn restarts(&self) -> u32 {
        self.inner.life.restarts()
    }

    /// A handle whose calls may wait, queued, through `retries` restarts
    /// and still run on the new instance (as
    /// [`ActorHandle::max_retries`](crate::ActorHandle::max_retries)).
    pub fn max_retries(&self, retries: u32) -> AsyncActorHandle<S> {
        AsyncActorHandle {
            retries,
            ..self.clone()
        }
    }

    /// A handle whose calls run in the concurrency group `group`
    /// ([`ActorBuilder::concurrency_group`](crate::ActorBuilder::concurrency_group)),
    /// apart from the other groups' calls.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if the
    /// actor has no group of that name.
    #[track_caller]
    pub fn in_group(&self, group: &str) -> Result<AsyncActorHandle<S>, crate::Error> {
        let Some(at) = self.inner.groups.iter().position(|g| &**g == group) else {
            let known: Vec<&str> = self.inner.groups.iter().map(|g| &**g).collect();
            return Err(crate::Error::InvalidArgument {
                message: format!(
                    "actor `{}` has no concurrency group `{group}` (its groups: {known:?}); \
                     declare it with `ActorBuilder::concurrency_group`",
                    self.name()
                ),
                location: std::panic::Location::caller(),
            });
        };
        Ok(AsyncActorHandle {
            group: at + 1,
            ..self.clone()
        })
    }
}
