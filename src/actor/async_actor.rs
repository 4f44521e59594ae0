//! Async actors: methods that are futures over `Arc<S>`, interleaving at their
//! await points, at most `max_concurrency` at once (Ray's async actors).
//
// A dispatcher task drains the mailbox in order: for each call it waits for a
// concurrency permit, then spawns the call with the permit, so calls *start*
// in submission order and up to `max_concurrency` run at once. The dispatcher
// holds the actor's resources for its life and owns the first `Arc` of the
// state; running calls hold clones, so the state is dropped once, after the
// last handle and the last running call are gone.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use futures::future::{select, Either};
use futures::FutureExt;
use tokio::sync::{mpsc, Semaphore};

use super::{actor_died, new_call_with_deadline, Core, Death};
use crate::context::RuntimeContext;
use crate::resources::Permit;
use crate::task::{Erased, UserError};
use crate::ObjectRef;

/// A call of an async actor: given the state (or the cause of death), it
/// returns the future that runs the method and completes its ref.
pub(super) type AsyncCall<S> =
    Box<dyn FnOnce(Result<Arc<S>, String>) -> futures::future::BoxFuture<'static, ()> + Send>;

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
}

impl<S> Clone for AsyncActorHandle<S> {
    fn clone(&self) -> Self {
        AsyncActorHandle {
            inner: Arc::clone(&self.inner),
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

/// The dispatcher: given the state (or why it could not be built) and the
/// actor's resources, starts calls in order.
pub(super) async fn dispatch<S: Send + Sync + 'static>(
    context: &RuntimeContext,
    state: Result<Arc<S>, String>,
    resources: Permit,
    mut inbox: mpsc::UnboundedReceiver<AsyncCall<S>>,
    death: Arc<Death>,
    max_concurrency: usize,
) {
    let state = match state {
        Ok(state) => Some(state),
        Err(cause) => {
            death.set(cause);
            None
        }
    };
    let permits = Arc::new(Semaphore::new(max_concurrency.max(1)));
    // A constructor that panicked leaves no state: the actor is dead from
    // the start and skips straight to failing its calls.
    while let Some(state) = state.as_ref() {
        let Some(call) = inbox.recv().await else {
            break;
        };
        if let Some(cause) = death.cause() {
            call(Err(cause)).await; // fails the ref at once
            break;
        }
        // Waiting for a slot (every slot taken by running calls) ends on a
        // kill too: the call has not started, so it fails, and the actor
        // ends now rather than when a running call ends.
        let slot = pin!(Arc::clone(&permits).acquire_owned());
        let died = pin!(death.died());
        let permit = match select(slot, died).await {
            Either::Left((Ok(permit), _)) => permit,
            Either::Left((Err(_), _)) => unreachable!("the semaphore is never closed"),
            Either::Right((cause, _)) => {
                call(Err(cause)).await;
                break;
            }
        };
        // Start the call here, so calls start in submission order; what is
        // left of it runs as a task of its own. (Its next poll, in that task,
        // registers that task's waker.)
        let mut running = call(Ok(Arc::clone(state)));
        let first = std::future::poll_fn(|cx| Poll::Ready(running.as_mut().poll(cx))).await;
        if first.is_pending() {
            drop(context.spawn(async move {
                running.await;
                drop(permit);
            }));
        }
    }
    // Every handle is gone, or the actor died: drop this reference to the
    // state (running calls hold theirs), give the actor's resources back,
    // fail what is queued and refuse the rest.
    drop(state);
    drop(resources);
    fail_queued(inbox, &death).await;
}

/// Fails every call still queued, and refuses later ones, with the cause of
/// death (or "it stopped" if every handle is gone).
pub(super) async fn fail_queued<S>(
    mut inbox: mpsc::UnboundedReceiver<AsyncCall<S>>,
    death: &Death,
) {
    inbox.close();
    let cause = death.cause().unwrap_or_else(|| "it stopped".to_owned());
    while let Some(call) = inbox.recv().await {
        call(Err(cause.clone())).await;
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
        let (object, call) =
            new_call_with_deadline::<R>(&self.inner.runtime, &self.inner.label, location);
        let Some((completer, deadline)) = call else {
            return object;
        };
        let counted = match self.inner.admit_call(completer.info()) {
            Ok(counted) => counted,
            Err(refused) => {
                completer.complete(Err(refused));
                return object;
            }
        };
        let actor = self.inner.name_arc();
        let call: AsyncCall<S> = Box::new(move |state| {
            async move {
                // Its place under the actor's bound: given back before the
                // call's outcome is stored (a waiter woken then finds the
                // room), and in any case when the call is dropped.
                let mut counted = counted;
                let mut give_back = move || drop(counted.take());
                let state = match state {
                    Ok(state) => state,
                    Err(cause) => {
                        give_back();
                        let err = actor_died(completer.info(), &actor, cause);
                        return completer.complete(Err(err));
                    }
                };
                if completer.is_decided() {
                    return;
                }
                completer
                    .run_async::<_, _, _, Erased>(method, state, deadline, give_back)
                    .await;
            }
            .boxed()
        });
        if let Err(mpsc::error::SendError(call)) = self.inner.mailbox.send(call) {
            // The dispatcher is gone: the actor died or the runtime shut down.
            // Failing a call never waits, so the failure is delivered here.
            let cause = self.inner.death.cause();
            call(Err(
                cause.unwrap_or_else(|| "its dispatcher stopped".to_owned())
            ))
            .now_or_never();
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
        self.inner.kill(Box::new(|_| async {}.boxed()));
    }
}
