//! Actors: a worker with state whose method calls return `ObjectRef`s at once
//! and run one at a time, in the order they were submitted.
//
// An actor is a mailbox drained on one blocking-pool thread. It holds its
// resources for its whole life (as Ray's actors do): if they are not free at
// once, a tokio task waits for them in the pool's first-come queue. Then the
// thread builds the state from its constructor and runs each call's closure
// over `&mut S`. Each call is a task of the runtime (its own slot, stats,
// timeline record), so everything that works on refs works on a call's ref.
// The mailbox is a tokio unbounded channel, so `call` never waits.
//
// Death: a panicking constructor or `kill()` marks the actor dead; the loop
// ends at once, dropping the state and giving the resources back, and every
// call not yet started, and every later call, fails with `Error::ActorDied`.
// "At once" covers every place the actor can wait: for its resources (it
// leaves the queue and never starts), for a call's argument (the call fails
// without running; `Death::died` wakes the wait) and, for an async actor, for
// a free concurrency slot. Only a method already running is let finish. A
// method that panics only fails its own call. When every handle is gone the
// channel closes, the loop ends and the state is dropped, once.
//
// An actor that cannot start at all (its runtime is shut down) is a dead
// handle from `Runtime::actor` (whose calls fail at once), and an `Err` from
// the builder's `spawn`: a user's mistake or a shutdown is a value, never a
// panic.

mod async_actor;
mod life;
mod pending;
mod pool;
mod queued_call;
mod registry;

mod on_cluster;

pub use async_actor::AsyncActorHandle;
pub use pool::{ActorPool, PoolActor};

pub use pool::PoolMap;
pub(crate) use registry::Registry;

use life::Life;
use pending::{PendingCall, PendingCalls};
use queued_call::QueuedCall;
use registry::{Named, Registration};

use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use futures::future::{select, Either};
use tokio::sync::{mpsc, Notify};

use crate::args::Arg;
use crate::context::RuntimeContext;
use crate::error::Error;
use crate::identity::Label;
use crate::identity::TaskInfo;
use crate::resources::{BlockingTaskScope, Permit, Request};
use crate::runtime::Runtime;
use crate::task::{Completer, TaskOptions, UserError};
use crate::waits::ActorSeat;
use crate::{ObjectId, ObjectRef};

/// What the mailbox loop is handed: a call to run on the state, or, if the
/// actor is dead, to fail with the cause; and how many restarts it may wait
/// through and still run (see `life`).
struct Call<S> {
    retries: u32,
    run: RunCall<S>,
    /// Not a call: where a kill that asked for a restart happened (see
    /// `life`).
    restart_marker: bool,
}

/// A call's work: run on the state, or fail with the cause of death; told
/// which actor it runs on.
type RunCall<S> = Box<dyn FnOnce(Result<&mut S, &str>, Host<'_>) + Send>;

/// The actor a call runs on, lent to the call by whoever runs it (the actor's
/// thread, or the caller when the actor is gone) rather than captured by it:
/// a call's closure then holds no reference counts of its own, and is small
/// enough for the allocator's fast path.
#[derive(Clone, Copy)]
struct Host<'a> {
    name: &'a str,
    death: &'a Death,
}

impl<S> Call<S> {
    /// A message that only wakes the actor's thread (after a kill).
    fn wake() -> Call<S> {
        Call {
            retries: 0,
            run: Box::new(|_, _| {}),
            restart_marker: false,
        }
    }

    /// The mark of a kill that asked for a restart.
    fn restart_marker() -> Call<S> {
        Call {
            restart_marker: true,
            ..Call::wake()
        }
    }
}

/// Why an actor is dead, once it is, and a way to wait for it.
#[derive(Default)]
struct Death {
    /// Set once, with `cause`: a check that costs no lock on every call.
    dead: AtomicBool,
    cause: Mutex<Option<String>>,
    /// Wakes whoever waits in [`died`](Death::died): a call waiting for its
    /// argument, an actor waiting for its resources or a concurrency slot.
    notify: Notify,
    /// For a named actor: its runtime and name, told of the death.
    registered: OnceLock<(Weak<RuntimeContext>, Registration)>,
}

impl Death {
    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    fn cause(&self) -> Option<String> {
        if !self.is_dead() {
            return None;
        }
        self.cause.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, cause: String) {
        let cause = {
            let mut death = self.cause.lock().unwrap_or_else(|p| p.into_inner());
            let cause = death.get_or_insert(cause).clone();
            self.dead.store(true, Ordering::Release);
            cause
        };
        self.notify.notify_waiters();
        if let Some((context, registration)) = self.registered.get() {
            if let Some(context) = context.upgrade() {
                context.actors().died(registration, &cause);
            }
        }
    }

    /// Resolves with the cause once the actor is dead.
    async fn died(&self) -> String {
        loop {
            // Registered before the check, so a death between the check and
            // the wait still wakes it (`notify_waiters` wakes only the
            // registered).
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            if let Some(cause) = self.cause() {
                return cause;
            }
            notified.await;
        }
    }
}

// Defined here rather than in `runtime.rs`: the runtime handle sits above
// actors and does not import them.
impl Runtime {
    /// Starts an actor holding `state`: Ray's `Actor.remote()`. Its method calls
    /// ([`ActorHandle::call`]) run one at a time, in submission order, on the
    /// actor's own thread. See [`actor_builder`](Runtime::actor_builder) for
    /// names, resources and restarts.
    ///
    /// Each actor occupies one blocking-pool thread for its life (tokio allows
    /// 512 by default).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let counter = rt.actor(0u32);
    /// let _ = counter.call(|n: &mut u32| *n += 1);
    /// assert_eq!(counter.call(|n: &mut u32| *n).block_get()?, 1);
    ///
    /// rt.shutdown();
    /// let late = rt.actor(0u32); // a handle all the same, as Ray's `Actor.remote()`
    /// assert!(late.is_dead());
    /// assert!(late.call(|n: &mut u32| *n).block_get().unwrap_err().is_shutdown());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// This returns a handle at once and never fails itself, as Ray's
    /// `Actor.remote()`; the handle's calls carry the errors. If the actor
    /// cannot start because the runtime is shut down, the handle is dead from
    /// the start ([`ActorHandle::is_dead`]) and every call fails at once with
    /// [`Error::Shutdown`] naming the call. Use
    /// [`actor_builder().spawn`](ActorBuilder::spawn) to get the shutdown as
    /// an `Err` instead.
    ///
    /// # Panics
    ///
    /// Never.
    #[track_caller]
    pub fn actor<S: Send + 'static>(&self, state: S) -> ActorHandle<S> {
        ActorHandle::new(self, state)
    }

    /// A builder for an actor with a name, resources held for its life, or a
    /// constructor run again if it panics.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().resource("gpu", 1.0).build()?;
    /// let model = rt.actor_builder().name("model").resource("gpu", 1.0).spawn(|| vec![0.5f32; 4])?;
    /// assert_eq!(model.call(|w: &mut Vec<f32>| w.len()).block_get()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn actor_builder(&self) -> ActorBuilder {
        ActorBuilder::new(self.clone())
    }

    /// The live actor named `name` ([`ActorBuilder::name`]) whose state is
    /// an `S`: Ray's `ray.get_actor`. Any thread can look it up; the handle
    /// it returns is one more handle to the same actor.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let _log = rt.actor_builder().name("log").spawn(Vec::<String>::new)?;
    /// let worker = {
    ///     let rt = rt.clone();
    ///     std::thread::spawn(move || {
    ///         let log = rt.get_actor::<Vec<String>>("log")?;
    ///         log.call(|l: &mut Vec<String>| l.push("from a thread".into())).block_get()
    ///     })
    /// };
    /// worker.join().unwrap()?;
    /// assert!(rt.get_actor::<Vec<String>>("nope").unwrap_err().is_actor_not_found());
    /// assert!(rt.get_actor::<u8>("log").unwrap_err().is_invalid_argument(), "wrong type");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ActorNotFound`] if no live actor has the name: none ever
    /// had it, or the one that had it died (the reason says how: "it died:
    /// it was killed") or stopped; [`Error::InvalidArgument`] if the actor
    /// holds another type than `S`, or is an async actor (use
    /// [`get_async_actor`](Runtime::get_async_actor)).
    #[track_caller]
    pub fn get_actor<S: Send + 'static>(&self, name: &str) -> Result<ActorHandle<S>, Error> {
        let handle = std::any::type_name::<ActorHandle<S>>();
        let actors = self.context().actors();
        let inner = actors.get::<Core<Call<S>>>(name, handle, Location::caller())?;
        Ok(ActorHandle {
            retries: inner.call_retries,
            inner,
        })
    }

    /// [`get_actor`](Runtime::get_actor) for an async actor
    /// ([`ActorBuilder::spawn_async`]).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// let rt = taskref::Runtime::new()?;
    /// let _hits = rt.actor_builder().name("hits").spawn_async(|| AtomicU32::new(0))?;
    /// let hits = rt.get_async_actor::<AtomicU32>("hits")?;
    /// let n = hits.call(|h: Arc<AtomicU32>| async move { h.fetch_add(1, Ordering::SeqCst) + 1 });
    /// assert_eq!(n.block_get()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`get_actor`](Runtime::get_actor).
    #[track_caller]
    pub fn get_async_actor<S: Send + Sync + 'static>(
        &self,
        name: &str,
    ) -> Result<AsyncActorHandle<S>, Error> {
        let handle = std::any::type_name::<AsyncActorHandle<S>>();
        let actors = self.context().actors();
        let inner =
            actors.get::<Core<async_actor::AsyncCall<S>>>(name, handle, Location::caller())?;
        Ok(AsyncActorHandle {
            retries: inner.call_retries,
            group: 0,
            inner,
        })
    }

    /// The names of the runtime's live named actors, sorted: Ray's
    /// `ray.util.list_named_actors()`.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let b = rt.actor_builder().name("b").spawn(|| ())?;
    /// let a = rt.actor_builder().name("a").spawn(|| ())?;
    /// b.kill(); // dead: forgotten
    /// assert_eq!(rt.actor_names(), ["a"]);
    /// drop(a); // stopped: forgotten
    /// assert!(rt.actor_names().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn actor_names(&self) -> Vec<String> {
        self.context().actors().names()
    }
}

/// What both kinds of actor handle share: the runtime, the mailbox of calls
/// `M`, the actor's name and its death record.
struct Core<M> {
    runtime: Runtime,
    mailbox: mpsc::UnboundedSender<M>,
    /// The label of its calls: the actor's name, and which of its calls
    /// block (the wait-for graph's mailbox edges); every call's `TaskInfo`
    /// holds it.
    label: Arc<Label>,
    death: Arc<Death>,
    /// Set for an actor on a Ray cluster: its calls go there, not to the
    /// mailbox (see `actor/on_cluster.rs`).
    remote: Option<on_cluster::RemoteActor>,
    /// Its bound on pending calls (`max_pending_calls`), if it has one.
    pending: Option<Arc<PendingCalls>>,
    /// Its restarts.
    life: Arc<Life>,
    /// Retries its calls have unless a handle says otherwise
    /// (`max_task_retries`).
    call_retries: u32,
    /// Its name in the runtime's registry, for a named actor.
    registration: Option<Registration>,
    /// The names of an async actor's concurrency groups: group `i + 1`
    /// (0 is the default group).
    groups: Vec<Arc<str>>,
    /// Its calls' options, made once: a call's submission then touches the
    /// label's count once (in its `TaskInfo`), not three times.
    call_options: TaskOptions,
}

impl<M: Send + 'static> Named for Core<M> {
    fn mortal(&self) -> Arc<dyn registry::Mortal> {
        self.death.clone()
    }
}

impl registry::Mortal for Death {
    fn death_cause(&self) -> Option<String> {
        self.cause()
    }
}

impl<M> Drop for Core<M> {
    fn drop(&mut self) {
        // The last handle is gone: the actor stops, and its name is free.
        if let Some(registration) = &self.registration {
            self.runtime.context().actors().stopped(registration);
        }
    }
}

impl<M> Core<M> {
    /// A core with no actor behind it here (an actor on a cluster, or one
    /// that never started): a mailbox nobody reads (every send fails, and
    /// the call fails with the cause), no bounds, no restarts, no name.
    fn bare(runtime: &Runtime, label: Arc<Label>, death: Arc<Death>) -> Core<M> {
        let (mailbox, _) = mpsc::unbounded_channel();
        Core {
            runtime: runtime.clone(),
            mailbox,
            call_options: call_options(&label),
            label,
            death,
            remote: None,
            pending: None,
            life: Arc::new(Life::new(0)),
            call_retries: 0,
            registration: None,
            groups: Vec::new(),
        }
    }

    /// Makes the ref of one call at `location`, and what runs it with its
    /// place under the actor's bound (`max_pending_calls`), unless it failed
    /// already (the runtime is shut down, or the bound refused it).
    fn new_call<R: Send + 'static>(
        &self,
        location: &'static Location<'static>,
    ) -> (ObjectRef<R>, Option<AdmittedCall<R>>) {
        let (object, call) = new_call_with(&self.runtime, &self.call_options, location);
        let Some((completer, deadline)) = call else {
            return (object, None);
        };
        match self.admit_call() {
            Ok(counted) => {
                if let Some(place) = &counted {
                    // Decided without the call (a cancel while it is queued),
                    // the ref gives the place back at once.
                    place.watch(&object);
                }
                (object, Some(((completer, deadline), counted)))
            }
            Err(refuse) => {
                let err = refuse(completer.info());
                completer.complete(Err(err));
                (object, None)
            }
        }
    }

    /// The actor's name.
    fn name(&self) -> &str {
        self.label.name()
    }

    /// Kills the actor, and wakes its thread or dispatcher with `wake` if it
    /// waits for mail, so it stops now (if it is gone already, nothing is to
    /// be woken).
    fn kill(&self, wake: M) {
        self.death.set("it was killed".to_owned());
        let _ = self.mailbox.send(wake);
    }

    /// Kills the actor's instance and asks for a new one, if restarts are
    /// left (the actor's loop decides, before its next call, and dies if
    /// none is); `marker` marks the moment in the mailbox.
    fn kill_and_restart(&self, marker: M) {
        self.life.ask_restart();
        let _ = self.mailbox.send(marker);
    }

    /// A place for one more call under the actor's bound (`Ok(None)` when
    /// the actor has no bound), or what makes the error refusing the call
    /// (given its task).
    fn admit_call(&self) -> Result<Option<PendingCall>, impl FnOnce(&TaskInfo) -> Error + '_> {
        let Some(bound) = &self.pending else {
            return Ok(None);
        };
        match bound.admit() {
            Some(place) => Ok(Some(place)),
            None => Err(|task: &TaskInfo| Error::PendingCallsLimitExceeded {
                task: task.clone(),
                actor: self.name().to_owned(),
                limit: bound.limit(),
            }),
        }
    }
}

/// A handle to an actor: Ray's actor handle. Cheap to clone, `Send + Sync`;
/// every clone sends to the same actor.
///
/// [`call`](ActorHandle::call) submits a method call — a closure over `&mut S`
/// — and returns its [`ObjectRef`] at once. Calls run one at a time, in the
/// order they were submitted (across all clones of the handle), so the state
/// is never touched by two calls at once.
///
/// Dropping every handle stops the actor once its queued calls have run, and
/// drops its state exactly once. [`kill`](ActorHandle::kill) stops it at once,
/// giving its resources back.
///
/// # Examples
///
/// ```
/// let rt = taskref::Runtime::new()?;
/// let counter = rt.actor(0u64);
/// let refs: Vec<_> = (1..=10).map(|i| counter.call(move |n: &mut u64| { *n += i; *n })).collect();
/// let totals = taskref::block_get_all(refs)?;
/// assert_eq!(totals.last(), Some(&55), "calls ran in submission order");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ActorHandle<S> {
    inner: Arc<Core<Call<S>>>,
    /// How many restarts the calls made through this handle may wait
    /// through (`max_retries`).
    retries: u32,
}

impl<S> Clone for ActorHandle<S> {
    fn clone(&self) -> Self {
        ActorHandle {
            inner: Arc::clone(&self.inner),
            retries: self.retries,
        }
    }
}

impl<S> fmt::Debug for ActorHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorHandle")
            .field("name", &self.inner.name())
            .field("dead", &self.inner.death.cause())
            .finish()
    }
}

/// Configures and starts an actor; made by [`Runtime::actor_builder`].
///
/// (`ActorBuilder::default()` makes a builder with no runtime: its `spawn`
/// returns [`Error::InvalidArgument`].)
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `spawn` is called"]
pub struct ActorBuilder {
    runtime: Option<Runtime>,
    name: Option<String>,
    num_cpus: f64,
    resources: Vec<(Arc<str>, f64)>,
    max_restarts: u32,
    max_concurrency: usize,
    get_if_exists: bool,
    max_pending_calls: Option<usize>,
    max_task_retries: u32,
    concurrency_groups: Vec<(Arc<str>, usize)>,
}

impl ActorBuilder {
    pub(crate) fn new(runtime: Runtime) -> ActorBuilder {
        ActorBuilder {
            runtime: Some(runtime),
            ..ActorBuilder::default()
        }
    }

    /// Names the actor: errors and the timeline show it, and the runtime
    /// registers it, so [`Runtime::get_actor`] finds it from anywhere (Ray's
    /// named actors). Names are unique among a runtime's live actors: `spawn`
    /// fails with [`Error::InvalidArgument`] for a name a live actor has,
    /// unless [`get_if_exists`](ActorBuilder::get_if_exists) asks for that
    /// actor instead. The runtime forgets the actor when it dies or its last
    /// handle is dropped. An actor on a Ray cluster is registered here the
    /// same way; the name is not given to Ray, whose names every driver of
    /// a namespace shares.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let counter = rt.actor_builder().name("counter").spawn(|| 0u64)?;
    /// let from_elsewhere = rt.get_actor::<u64>("counter")?;
    /// let _ = from_elsewhere.call(|n: &mut u64| *n += 1);
    /// assert_eq!(counter.call(|n: &mut u64| *n).block_get()?, 1);
    /// assert!(rt.actor_builder().name("counter").spawn(|| 0u64).is_err(), "taken");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> ActorBuilder {
        self.name = Some(name.into());
        self
    }

    /// With a [`name`](ActorBuilder::name): if a live actor of this runtime
    /// has the name, `spawn` returns a handle to it instead of starting
    /// another (its constructor is not run), as Ray's `get_if_exists=True`.
    /// Two threads racing to create it get one actor between them.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let first = rt.actor_builder().name("cache").get_if_exists().spawn(Vec::<u8>::new)?;
    /// let second = rt.actor_builder().name("cache").get_if_exists().spawn(Vec::<u8>::new)?;
    /// let _ = first.call(|v: &mut Vec<u8>| v.push(1));
    /// assert_eq!(second.call(|v: &mut Vec<u8>| v.len()).block_get()?, 1, "one actor");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_if_exists(mut self) -> ActorBuilder {
        self.get_if_exists = true;
        self
    }

    /// Bounds the actor's pending calls (queued or running) to `calls`: a
    /// call beyond it fails at once with
    /// [`Error::PendingCallsLimitExceeded`] instead of queueing (Ray's
    /// `max_pending_calls`). Unbounded by default. To wait for room instead
    /// of failing, keep the refs of the calls in flight and
    /// [`wait`](crate::wait) for one before making the next (or submit
    /// through [`map_unordered`](crate::map_unordered) with
    /// `max_in_flight` at most the bound). The bound is the actor's, across
    /// all its handles (Ray's is per handle). A cancelled call gives its
    /// place back at once, even while it still waits in the mailbox (or, a
    /// method not being interruptible, still runs); a call running when the
    /// actor is killed keeps its place until it ends.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    /// let slow = rt.actor_builder().max_pending_calls(1).spawn(|| ())?;
    /// let g = gate.clone();
    /// let busy = slow.call(move |_: &mut ()| { g.wait(); });
    /// let refused = slow.call(|_: &mut ()| ()).block_get().unwrap_err();
    /// assert!(refused.is_pending_calls_limit_exceeded(), "{refused}");
    /// gate.wait();
    /// busy.block_get()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_pending_calls(mut self, calls: usize) -> ActorBuilder {
        self.max_pending_calls = Some(calls);
        self
    }

    /// How many restarts a call may wait through, queued, and still run on
    /// the new instance (Ray's `max_task_retries`); 0 by default: a call
    /// queued when the actor restarts fails with [`Error::ActorDied`].
    /// [`ActorHandle::max_retries`] sets it for the calls of one handle. On
    /// a Ray cluster it is Ray's actor option of that name (a handle's own
    /// `max_retries` is not mapped there).
    pub fn max_task_retries(mut self, retries: u32) -> ActorBuilder {
        self.max_task_retries = retries;
        self
    }

    /// CPUs the actor holds for its whole life (default 0), as Ray's actors.
    pub fn num_cpus(mut self, cpus: f64) -> ActorBuilder {
        self.num_cpus = cpus;
        self
    }

    /// A named resource the actor holds for its whole life.
    pub fn resource(mut self, name: impl Into<String>, amount: f64) -> ActorBuilder {
        let name: Arc<str> = Arc::from(name.into());
        self.resources.retain(|(n, _)| *n != name);
        self.resources.push((name, amount));
        self
    }

    /// How many times the actor may be restarted, its constructor run again,
    /// before a death is final (Ray's `max_restarts`): after its constructor
    /// panics, and after [`kill_and_restart`](ActorHandle::kill_and_restart)
    /// (Ray's `ray.kill(actor, no_restart=False)`). Calls queued at a
    /// restart run on the new instance only if marked safe to repeat
    /// ([`max_task_retries`](ActorBuilder::max_task_retries),
    /// [`ActorHandle::max_retries`]); the others fail with
    /// [`Error::ActorDied`]. [`ActorHandle::restarts`] counts them.
    pub fn max_restarts(mut self, restarts: u32) -> ActorBuilder {
        self.max_restarts = restarts;
        self
    }

    /// How many calls of an async actor ([`spawn_async`](ActorBuilder::spawn_async))
    /// may run at once, interleaving at their `.await`s (default 1). A plain
    /// actor ([`spawn`](ActorBuilder::spawn)) always runs one call at a time:
    /// its `spawn` refuses more with [`Error::InvalidArgument`].
    /// With [concurrency groups](ActorBuilder::concurrency_group), this is
    /// the default group's limit.
    pub fn max_concurrency(mut self, calls: usize) -> ActorBuilder {
        self.max_concurrency = calls;
        self
    }

    /// A concurrency group of an async actor (Ray's `concurrency_groups`):
    /// calls made through [`AsyncActorHandle::in_group`] run in it, at most
    /// `calls` at once, apart from the other groups: a group whose calls
    /// are all busy holds up only its own queued calls. Calls start in
    /// submission order within a group. Naming a group again changes its
    /// limit.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// let rt = taskref::Runtime::new()?;
    /// let service = rt
    ///     .actor_builder()
    ///     .concurrency_group("io", 2)
    ///     .concurrency_group("compute", 1)
    ///     .spawn_async(|| ())?;
    /// let io = service.in_group("io")?;
    /// let slow = io.call(|_: Arc<()>| async { tokio::time::sleep(Duration::from_millis(50)).await });
    /// let quick = service.in_group("compute")?.call(|_: Arc<()>| async { 1 + 1 });
    /// assert_eq!(quick.block_get()?, 2, "not held up by the io group");
    /// slow.block_get()?;
    /// assert!(service.in_group("gpu").is_err(), "no such group");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn concurrency_group(mut self, name: impl Into<String>, calls: usize) -> ActorBuilder {
        let name: Arc<str> = Arc::from(name.into());
        self.concurrency_groups.retain(|(n, _)| *n != name);
        self.concurrency_groups.push((name, calls));
        self
    }

    /// Starts an async actor ([`AsyncActorHandle`]): `make` builds its state
    /// (run again up to `max_restarts` times if it panics), shared by calls as
    /// an `Arc<S>`; its resources are held for its life.
    ///
    /// # Errors
    ///
    /// As [`spawn`](ActorBuilder::spawn).
    #[track_caller]
    pub fn spawn_async<S, F>(self, make: F) -> Result<AsyncActorHandle<S>, Error>
    where
        S: Send + Sync + 'static,
        F: Fn() -> S + Send + 'static,
    {
        let location = Location::caller();
        let (runtime, name, request) = self.admit(location)?;
        let max_concurrency = self.max_concurrency.max(1);
        // The default group first, then the named ones.
        let limits: Vec<usize> = std::iter::once(max_concurrency)
            .chain(
                self.concurrency_groups
                    .iter()
                    .map(|(_, calls)| (*calls).max(1)),
            )
            .collect();
        let seats = limits.iter().sum();
        let handle = std::any::type_name::<AsyncActorHandle<S>>();
        let inner = self.registered(&runtime, &name, location, handle, |registration| {
            let context = Arc::clone(runtime.context());
            let (mailbox, inbox) = mpsc::unbounded_channel();
            let (death, life) = self.life(&context, registration.as_ref());
            let (dispatcher_death, dispatcher_life) = (Arc::clone(&death), Arc::clone(&life));
            let actor_name = name.clone();
            let dispatcher_context = Arc::clone(&context);
            drop(context.spawn(async move {
                let death = dispatcher_death;
                let Some(permit) = admitted(&dispatcher_context, request, &death).await else {
                    return async_actor::fail_queued(inbox, &death, &actor_name).await;
                };
                let build = {
                    let (life, name) = (Arc::clone(&dispatcher_life), actor_name.clone());
                    move || life.construct(&make, &name).map(Arc::new)
                };
                let actor = async_actor::Dispatcher {
                    context: &dispatcher_context,
                    life: &dispatcher_life,
                    name: &actor_name,
                    death,
                    limits,
                };
                actor.run(build, permit, inbox).await;
            }));
            let label = ActorSeat::label(name.clone(), seats);
            let mut core = self.core(&runtime, mailbox, label, (death, life), registration);
            core.groups = self
                .concurrency_groups
                .iter()
                .map(|(n, _)| Arc::clone(n))
                .collect();
            Ok(Arc::new(core))
        })?;
        Ok(AsyncActorHandle {
            retries: inner.call_retries,
            group: 0,
            inner,
        })
    }

    /// Starts the actor: `make` builds its state on the actor's thread, once
    /// its resources are free. An actor killed before its resources are free
    /// never runs `make`.
    ///
    /// # Errors
    ///
    /// [`Error::Infeasible`] if the actor asks for more of a resource than the
    /// runtime has (an infinite amount, or one beyond the largest capacity a
    /// runtime can have, included); [`Error::InvalidArgument`] for a negative
    /// or NaN amount, or for a builder made with `ActorBuilder::default()`
    /// instead of [`Runtime::actor_builder`] (it has no runtime to run on);
    /// [`Error::Shutdown`] if the runtime is shut down.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().num_cpus(2).build()?;
    /// let greedy = rt.actor_builder().num_cpus(3.0).spawn(|| 0u8);
    /// assert!(matches!(greedy, Err(taskref::Error::Infeasible { .. })));
    /// let ok = rt.actor_builder().name("cache").num_cpus(1.0).spawn(Vec::<u8>::new)?;
    /// assert_eq!(ok.call(|v: &mut Vec<u8>| v.len()).block_get()?, 0);
    /// rt.shutdown();
    /// let late = rt.actor_builder().spawn(|| 0u8);
    /// assert!(matches!(late, Err(taskref::Error::Shutdown { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn spawn<S, F>(self, make: F) -> Result<ActorHandle<S>, Error>
    where
        S: Send + 'static,
        F: Fn() -> S + Send + 'static,
    {
        let location = Location::caller();
        self.check_one_call_at_a_time(location)?;
        let (runtime, name, request) = self.admit(location)?;
        let handle = std::any::type_name::<ActorHandle<S>>();
        let inner = self.registered(&runtime, &name, location, handle, |registration| {
            let context = Arc::clone(runtime.context());
            let (mailbox, inbox) = mpsc::unbounded_channel::<Call<S>>();
            let (death, life) = self.life(&context, registration.as_ref());
            let executor = Arc::clone(&context);
            let (actor_death, actor_life) = (Arc::clone(&death), Arc::clone(&life));
            let actor_name = name.clone();
            let start = move |permit: Permit, inbox: mpsc::UnboundedReceiver<Call<S>>| {
                drop(executor.spawn_blocking(move || {
                    let scope = BlockingTaskScope::enter(permit);
                    run_actor(make, &actor_life, inbox, &actor_death, &actor_name);
                    if let Some((job, permit)) = scope.finish().release_for_handoff() {
                        job.run_chain(permit);
                    }
                }));
            };
            match context.resources().try_acquire(&request) {
                // Free now (always so for an actor that asks for nothing):
                // straight to its thread.
                Some(permit) => start(permit, inbox),
                // The actor waits for its resources in a tokio task rather
                // than as a queued blocking job, so that a kill can end the
                // wait (and take it out of the resource queue) before the
                // actor ever runs.
                None => {
                    let starter = Arc::clone(&context);
                    let (death, name) = (Arc::clone(&death), name.clone());
                    drop(context.spawn(async move {
                        match admitted(&starter, request, &death).await {
                            Some(permit) => start(permit, inbox),
                            None => {
                                let host = Host {
                                    name: &name,
                                    death: &death,
                                };
                                fail_queued(inbox, host).await
                            }
                        }
                    }));
                }
            }
            let label = ActorSeat::label(name.clone(), 1);
            let core = self.core(&runtime, mailbox, label, (death, life), registration);
            Ok(Arc::new(core))
        })?;
        Ok(ActorHandle {
            retries: inner.call_retries,
            inner,
        })
    }

    /// A new actor's death record; a named actor's death is told to the
    /// registry.
    fn death(
        &self,
        context: &Arc<RuntimeContext>,
        registration: Option<&Registration>,
    ) -> Arc<Death> {
        let death = Arc::new(Death::default());
        if let Some(registration) = registration {
            let _ = death
                .registered
                .set((Arc::downgrade(context), registration.clone()));
        }
        death
    }

    /// A new actor's death record (see [`death`](ActorBuilder::death)) and
    /// its restart budget.
    fn life(
        &self,
        context: &Arc<RuntimeContext>,
        registration: Option<&Registration>,
    ) -> (Arc<Death>, Arc<Life>) {
        let death = self.death(context, registration);
        (death, Arc::new(Life::new(self.max_restarts)))
    }

    /// What the handles of a new actor share.
    fn core<M>(
        &self,
        runtime: &Runtime,
        mailbox: mpsc::UnboundedSender<M>,
        label: Arc<Label>,
        (death, life): (Arc<Death>, Arc<Life>),
        registration: Option<Registration>,
    ) -> Core<M> {
        Core {
            runtime: runtime.clone(),
            mailbox,
            call_options: call_options(&label),
            label,
            death,
            remote: None,
            pending: self.max_pending_calls.map(PendingCalls::new),
            life,
            call_retries: self.max_task_retries,
            registration,
            groups: Vec::new(),
        }
    }

    /// Makes the actor with `make`, taking its name in the runtime's
    /// registry if it has one (`make` is not run when `get_if_exists` finds
    /// a live actor of that name: that one is returned).
    fn registered<M: Send + 'static>(
        &self,
        runtime: &Runtime,
        name: &Arc<str>,
        location: &'static Location<'static>,
        handle: &'static str,
        make: impl FnOnce(Option<Registration>) -> Result<Arc<Core<M>>, Error>,
    ) -> Result<Arc<Core<M>>, Error> {
        if self.name.is_none() {
            if self.get_if_exists {
                return Err(Error::InvalidArgument {
                    message: "`get_if_exists` needs a `name` to look the actor up by".to_owned(),
                    location,
                });
            }
            return make(None);
        }
        let registry = runtime.context().actors();
        registry.claim(name, self.get_if_exists, handle, location, |registration| {
            make(Some(registration))
        })
    }
}

impl ActorBuilder {
    /// Starts an actor whose state `make(args)` builds: the same program runs
    /// in-process and on a Ray cluster. `args` is `()` for a constructor
    /// without arguments, one value for one, a tuple for several; each a value
    /// or a ref, as for remote functions.
    ///
    /// In-process this is [`spawn`](ActorBuilder::spawn) with
    /// `|| make(args)` (ref arguments are awaited on the actor's thread; a
    /// restart builds the state again from the same arguments). On a runtime
    /// built with [`Builder::ray`](crate::Builder::ray), when `make` is a
    /// constructor of a state type whose `impl` block has
    /// `#[taskref::remote]`, the actor runs as a Ray actor (its state in the
    /// worker process Ray gives it; `num_cpus`, `resource` and
    /// `max_restarts` are Ray's actor options), and its calls must name the
    /// block's methods (`call(State::method)`).
    ///
    /// ```
    /// struct Counter(u64);
    ///
    /// #[taskref::remote]
    /// impl Counter {
    ///     fn new(start: u64) -> Counter {
    ///         Counter(start)
    ///     }
    ///     fn add(&mut self, x: u64) -> u64 {
    ///         self.0 += x;
    ///         self.0
    ///     }
    /// }
    ///
    /// let rt = taskref::Runtime::new()?;
    /// let counter = rt.actor_builder().spawn_with(Counter::new, 10)?;
    /// assert_eq!(counter.call_with(5, Counter::add).block_get()?, 15);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](ActorBuilder::spawn); on a cluster, also
    /// [`Error::InvalidArgument`] for a constructor argument that is a ref not
    /// ready yet, or a value that does not serialize.
    #[track_caller]
    pub fn spawn_with<L, X, S, F>(self, make: F, args: X) -> Result<ActorHandle<S>, Error>
    where
        S: Send + 'static,
        L: Send + 'static,
        X: crate::args::IntoArgs<L> + Clone + Sync + 'static,
        F: crate::remote::Func<L, Output = S>,
    {
        let location = Location::caller();
        self.check_one_call_at_a_time(location)?;
        if let Some(runtime) = &self.runtime {
            if let Some((part, connection)) = on_cluster::constructor::<F>(runtime) {
                let mut options = serde_json::json!({
                    "num_cpus": self.num_cpus,
                    "max_restarts": self.max_restarts,
                });
                if !self.resources.is_empty() {
                    let resources: serde_json::Map<String, serde_json::Value> = self
                        .resources
                        .iter()
                        .map(|(name, amount)| (name.to_string(), serde_json::json!(amount)))
                        .collect();
                    options["resources"] = serde_json::Value::Object(resources);
                }
                if self.max_task_retries > 0 {
                    options["max_task_retries"] = serde_json::json!(self.max_task_retries);
                }
                return self.spawn_on_cluster(runtime, (part, connection), args, options, location);
            }
        }
        self.spawn(move || {
            let args = futures::executor::block_on(args.clone().resolve())
                .unwrap_or_else(|err| panic!("a constructor argument failed: {err}"));
            make.call(args)
        })
    }

    /// Starts the actor on the cluster with the registered constructor
    /// `part`. Its name is registered in this runtime, as in-process, so
    /// `get_actor` finds it from anywhere in the program; it is not given to
    /// Ray, whose names are shared by every driver of a namespace (two runs
    /// of the program would collide). Ray keeps its restarts and its calls'
    /// retries; the bound on pending calls is kept here.
    fn spawn_on_cluster<L, X, S>(
        &self,
        runtime: &Runtime,
        (part, connection): (
            &'static crate::distributed::ActorPart,
            Arc<crate::cluster::Connection>,
        ),
        args: X,
        options: serde_json::Value,
        location: &'static Location<'static>,
    ) -> Result<ActorHandle<S>, Error>
    where
        S: Send + 'static,
        X: crate::args::IntoArgs<L>,
    {
        self.check_bound(location)?;
        let name: Arc<str> = Arc::from(self.name.as_deref().unwrap_or("actor"));
        let handle = std::any::type_name::<ActorHandle<S>>();
        let inner = self.registered(runtime, &name, location, handle, |registration| {
            let remote = on_cluster::start(runtime, connection, part, args, options, location)?;
            // Its calls run on the cluster: no mailbox here.
            let label = ActorSeat::label(name.clone(), usize::MAX);
            let death = self.death(runtime.context(), registration.as_ref());
            let mut core = Core::bare(runtime, label, death);
            core.remote = Some(remote);
            core.pending = self.max_pending_calls.map(PendingCalls::new);
            core.registration = registration;
            Ok(Arc::new(core))
        })?;
        Ok(ActorHandle { inner, retries: 0 })
    }

    /// Refuses what only an async actor can do, asked of a plain one (whose
    /// calls take `&mut S`, one at a time): ignoring it would be silent.
    fn check_one_call_at_a_time(&self, location: &'static Location<'static>) -> Result<(), Error> {
        if self.max_concurrency <= 1 && self.concurrency_groups.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidArgument {
            message: "`max_concurrency` above 1 and `concurrency_group` are for async actors \
                      (`spawn_async`): a plain actor's calls take `&mut S`, one at a time"
                .to_owned(),
            location,
        })
    }

    /// Refuses a bound on pending calls that would refuse every call.
    fn check_bound(&self, location: &'static Location<'static>) -> Result<(), Error> {
        match self.max_pending_calls {
            Some(0) => Err(Error::InvalidArgument {
                message: "`max_pending_calls(0)` would refuse every call: the bound must be at \
                          least 1"
                    .to_owned(),
                location,
            }),
            _ => Ok(()),
        }
    }

    /// What both kinds of actor check before they start: the name, that the
    /// resources asked for can ever fit, and that the runtime is running.
    fn admit(
        &self,
        location: &'static Location<'static>,
    ) -> Result<(Runtime, Arc<str>, Request), Error> {
        let Some(runtime) = self.runtime.clone() else {
            return Err(Error::InvalidArgument {
                message: "this ActorBuilder has no runtime (it was made with \
                          `ActorBuilder::default()`); make it with `Runtime::actor_builder`"
                    .to_owned(),
                location,
            });
        };
        self.check_bound(location)?;
        let id = ObjectId::next();
        let name: Arc<str> = match &self.name {
            Some(name) => Arc::from(name.as_str()),
            None => Arc::from(format!("actor {id}")),
        };
        let info = TaskInfo::new(id, Some(Label::task(&*name)), location);
        let context = runtime.context();
        let request =
            context
                .resources()
                .request(&info, self.num_cpus, &self.resources, location)?;
        if context.is_closed() {
            return Err(Error::Shutdown { task: info });
        }
        Ok((runtime, name, request))
    }
}

/// Waits for an actor's resources. `None` if the actor was killed first (its
/// place in the resource queue is given up at once) or the runtime shut down
/// meanwhile (a closed pool lets waiters through empty-handed): either way
/// the actor must not start.
async fn admitted(context: &RuntimeContext, request: Request, death: &Death) -> Option<Permit> {
    let acquire = pin!(context.resources().acquire(request));
    let died = pin!(death.died());
    match select(acquire, died).await {
        Either::Left((permit, _)) if !context.is_closed() && !death.is_dead() => Some(permit),
        Either::Left(_) | Either::Right(_) => None,
    }
}

/// Fails every call queued for a sync actor that never started (and refuses
/// later ones): it died before its resources were free, or its runtime shut
/// down meanwhile.
async fn fail_queued<S>(mut inbox: mpsc::UnboundedReceiver<Call<S>>, host: Host<'_>) {
    inbox.close();
    let cause = host
        .death
        .cause()
        .unwrap_or_else(|| "its runtime was shut down before it started".to_owned());
    while let Some(call) = inbox.recv().await {
        (call.run)(Err(&cause), host);
    }
}

/// Makes the ref of one method call of the actor `name`, and its completer
/// unless the call failed already (the runtime is shut down). The call is a
/// task named after the actor that asks for no resources: the actor holds
/// them.
#[track_caller]
fn new_call<R: Send + 'static>(
    runtime: &Runtime,
    label: &Arc<Label>,
) -> (ObjectRef<R>, Option<Completer<R>>) {
    new_call_at(runtime, label, Location::caller())
}

/// `new_call`, naming `location` as the call site.
fn new_call_at<R: Send + 'static>(
    runtime: &Runtime,
    label: &Arc<Label>,
    location: &'static Location<'static>,
) -> (ObjectRef<R>, Option<Completer<R>>) {
    let (object, call) = new_call_with_deadline(runtime, label, location);
    (object, call.map(|(completer, _)| completer))
}

/// A call that will run: its completer, and the deadline it inherits from
/// the task that made it, if that task has one (see `Policy::inherited`).
pub(crate) type RunnableCall<R> = (Completer<R>, Option<(std::time::Instant, ObjectId)>);

/// A call that will run, and its place under its actor's bound on pending
/// calls (if the actor has one).
type AdmittedCall<R> = (RunnableCall<R>, Option<PendingCall>);

/// `new_call_at`, keeping the deadline the call inherits.
fn new_call_with_deadline<R: Send + 'static>(
    runtime: &Runtime,
    label: &Arc<Label>,
    location: &'static Location<'static>,
) -> (ObjectRef<R>, Option<RunnableCall<R>>) {
    new_call_with(runtime, &call_options(label), location)
}

/// The options of an actor's calls: named after the actor, asking for no
/// resources (the actor holds them).
fn call_options(label: &Arc<Label>) -> TaskOptions {
    TaskOptions {
        name: Some(Arc::clone(label)),
        num_cpus: Some(0.0),
        ..TaskOptions::default()
    }
}

/// A call with `options`, keeping the deadline it inherits.
fn new_call_with<R: Send + 'static>(
    runtime: &Runtime,
    options: &TaskOptions,
    location: &'static Location<'static>,
) -> (ObjectRef<R>, Option<RunnableCall<R>>) {
    let context = runtime.context();
    let (object, admitted) = crate::task::new_task::<R>(context, options, location, 0.0);
    let call = admitted.map(|admitted| {
        crate::task::register(context, &object, None);
        (admitted.completer, admitted.inherited)
    });
    (object, call)
}

/// Fails a call that will not run, giving back its place under the actor's
/// bound first (a waiter woken by the failure then finds the room).
fn fail_call<R: Send + 'static>(completer: Completer<R>, place: Option<PendingCall>, err: Error) {
    drop(place);
    completer.complete(Err(err));
}

/// The error of a call that reached the actor after it died.
fn actor_died(task: &TaskInfo, actor: &str, cause: String) -> Error {
    Error::ActorDied {
        task: task.clone(),
        actor: actor.to_owned(),
        cause,
    }
}

/// The actor's life on its thread: build the state, then run calls in order
/// until every handle is gone or the actor dies; restart it when a kill asks
/// for that and the budget allows.
fn run_actor<S, F: Fn() -> S>(
    make: F,
    life: &Life,
    mut inbox: mpsc::UnboundedReceiver<Call<S>>,
    death: &Death,
    name: &str,
) {
    let host = Host { name, death };
    // Killed between getting its resources and getting its thread: it never
    // starts, as if killed while it waited.
    let mut state = if death.is_dead() {
        None
    } else {
        life.construct(&make, name)
            .map_err(|cause| death.set(cause))
            .ok()
    };
    // Calls queued at a restart, with how many restarts each waited
    // through, ahead of the mailbox.
    let mut queued: VecDeque<(Call<S>, u32)> = VecDeque::new();
    while state.is_some() {
        let (call, restarts_waited) = match queued.pop_front() {
            Some(queued) => queued,
            None => match inbox.blocking_recv() {
                Some(call) => (call, 0),
                None => break,
            },
        };
        if let Some(cause) = death.cause() {
            (call.run)(Err(&cause), host);
            break;
        }
        if life.take_restart_request() {
            // The instance dies here, between two calls. The calls up to the
            // restart's marker were queued at its death.
            let mut at_death = VecDeque::new();
            let mut marked = call.restart_marker;
            if !marked {
                at_death.push_back((call, restarts_waited));
            }
            at_death.append(&mut queued);
            while !marked {
                match inbox.blocking_recv() {
                    Some(next) if next.restart_marker => marked = true,
                    Some(next) => at_death.push_back((next, 0)),
                    None => break,
                }
            }
            state = None;
            match restart(&make, life, name) {
                Ok(fresh) => state = Some(fresh),
                Err(cause) => {
                    death.set(cause.clone());
                    for (call, _) in at_death {
                        (call.run)(Err(&cause), host);
                    }
                    break;
                }
            }
            queued = at_death
                .into_iter()
                .map(|(call, waited)| (call, waited + 1))
                .collect();
            continue;
        }
        if call.restart_marker {
            continue; // its restart was done with an earlier request
        }
        let Some(current) = state.as_mut() else {
            unreachable!("the loop runs while there is a state")
        };
        match restarts_waited > call.retries {
            true => (call.run)(Err(life::RESTARTED_WHILE_QUEUED), host),
            false => (call.run)(Ok(current), host),
        }
        // A kill during the call (or one that ended its wait for an
        // argument) ends the actor now, not at the next mail.
        if death.is_dead() {
            break;
        }
    }
    // Calls taken out of the mailbox at a restart and not run yet.
    let cause = death.cause().unwrap_or_else(|| "it stopped".to_owned());
    for (call, _) in queued {
        (call.run)(Err(&cause), host);
    }
    // Every handle is gone, or the actor died. A dead actor ends here too, so
    // its state goes and its resources come back now (as Ray's kill does),
    // not when the last handle is dropped: fail what is queued, refuse the
    // rest.
    drop(state);
    inbox.close();
    let cause = death.cause().unwrap_or_else(|| "it stopped".to_owned());
    while let Some(call) = inbox.blocking_recv() {
        (call.run)(Err(&cause), host);
    }
}

/// A kill asked for a restart: a new instance if the budget allows, or the
/// cause of death.
fn restart<S>(make: &impl Fn() -> S, life: &Life, name: &str) -> Result<S, String> {
    life.spend_for_kill(name)?;
    life.construct(make, name)
}

impl<S: Send + 'static> ActorHandle<S> {
    /// [`Runtime::actor`]: never fails itself. If the actor cannot start (its
    /// runtime is shut down), the handle is dead from the start and each call
    /// fails at once, naming the call.
    #[track_caller]
    pub(crate) fn new(runtime: &Runtime, state: S) -> ActorHandle<S> {
        // The state exists already: the "constructor" hands it over once (no
        // restarts are asked for, so it is never asked twice).
        let state = Mutex::new(Some(state));
        let spawned = ActorBuilder::new(runtime.clone()).spawn(move || {
            state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .expect("an actor without a constructor is built once")
        });
        spawned.unwrap_or_else(|err| ActorHandle::dead(runtime, &err))
    }

    /// A handle to an actor that never started because of `err`. Its calls
    /// fail at once: with [`Error::Shutdown`] on a shut-down runtime (each
    /// call is refused as any submission is), otherwise with
    /// [`Error::ActorDied`] giving `err` as the cause.
    fn dead(runtime: &Runtime, err: &Error) -> ActorHandle<S> {
        let name: Arc<str> = Arc::from(err.task().and_then(|t| t.name()).unwrap_or("actor"));
        let cause = if err.is_shutdown() {
            "its runtime was shut down before it started".to_owned()
        } else {
            format!("it could not start: {err}")
        };
        let death = Death::default();
        death.set(cause);
        ActorHandle {
            inner: Arc::new(Core::bare(
                runtime,
                ActorSeat::label(name, 1),
                Arc::new(death),
            )),
            retries: 0,
        }
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether the actor is dead (killed, or its constructor panicked).
    pub fn is_dead(&self) -> bool {
        self.inner.death.cause().is_some()
    }

    /// Submits a method call and returns its ref at once: Ray's
    /// `actor.method.remote()`. The closure runs on the actor's thread with
    /// `&mut` access to the state, after every call submitted before it.
    ///
    /// A panicking call fails only its own ref ([`Error::TaskPanicked`]); the
    /// actor lives on. If the actor is dead, the ref fails with
    /// [`Error::ActorDied`].
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let log = rt.actor(Vec::<String>::new());
    /// let _ = log.call(|v: &mut Vec<String>| v.push("a".into()));
    /// let bad = log.call(|_: &mut Vec<String>| -> usize { panic!("oops") });
    /// let len = log.call(|v: &mut Vec<String>| v.len());
    /// assert!(bad.block_get().unwrap_err().is_panic());
    /// assert_eq!(len.block_get()?, 1, "the actor survived the panic");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the call, but loses its result"]
    pub fn call<R, F>(&self, method: F) -> ObjectRef<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut S) -> R + Send + 'static,
    {
        if let Some(remote) = &self.inner.remote {
            return self.remote_call::<(), (), R, F>(remote, (), Location::caller());
        }
        self.call_with((), move |state, ()| method(state))
    }

    /// A streaming method call: `method` sends each item through its
    /// [`ItemSender`](crate::ItemSender) as soon as it has it, and the caller
    /// takes each as a ref from the [`RefStream`](crate::RefStream) returned
    /// at once (Ray's streaming actor methods). The call holds the actor
    /// until the method returns, as any call does. A model server handing
    /// back tokens one by one:
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let model = rt.actor(vec!["hello", "streaming", "world"]);
    /// let tokens = model.call_stream(|words: &mut Vec<&'static str>, out| {
    ///     for word in words.iter() {
    ///         if out.send(word.to_string()).is_err() {
    ///             return; // the caller is gone
    ///         }
    ///     }
    /// });
    /// let text: Vec<String> = tokens.block_iter().map(|t| t.block_get()).collect::<Result<_, _>>()?;
    /// assert_eq!(text, ["hello", "streaming", "world"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[must_use = "dropping the stream stops the method at its next send"]
    pub fn call_stream<T, F>(&self, method: F) -> crate::RefStream<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut S, &crate::ItemSender<T>) + Send + 'static,
    {
        self.call_stream_with_backpressure(None, method)
    }

    /// [`call_stream`](ActorHandle::call_stream) whose method pauses (in
    /// `send`) while `n` items it sent are not yet taken from the stream.
    #[track_caller]
    #[must_use = "dropping the stream stops the method at its next send"]
    pub fn call_stream_bounded<T, F>(&self, n: usize, method: F) -> crate::RefStream<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut S, &crate::ItemSender<T>) + Send + 'static,
    {
        self.call_stream_with_backpressure(Some(n), method)
    }

    #[track_caller]
    fn call_stream_with_backpressure<T, F>(
        &self,
        backpressure: Option<usize>,
        method: F,
    ) -> crate::RefStream<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut S, &crate::ItemSender<T>) + Send + 'static,
    {
        let (producer, stream) = crate::stream::for_actor::<T>(backpressure);
        let call = self.call(move |state: &mut S| {
            let sender = crate::stream::sender(producer);
            method(state, &sender);
            sender.delivered()
        });
        stream(call)
    }

    /// A call of the registered method `F` on an actor on the cluster.
    fn remote_call<L, X, R, F: 'static>(
        &self,
        remote: &on_cluster::RemoteActor,
        args: X,
        location: &'static Location<'static>,
    ) -> ObjectRef<R>
    where
        X: crate::args::IntoArgs<L>,
        R: Send + 'static,
    {
        let inner = &self.inner;
        let death = inner.death.cause();
        // The bound is kept here, on the driver, as in-process: a call holds
        // its place until its ref is decided.
        let place = match inner.admit_call() {
            Ok(place) => place,
            Err(refuse) => {
                return on_cluster::refused(&inner.runtime, &inner.label, refuse, location)
            }
        };
        let object = on_cluster::call::<L, X, R, F>(
            &inner.runtime,
            remote,
            &inner.label,
            death,
            args,
            location,
        );
        if let Some(place) = place {
            place.give_back_when_decided(&object);
        }
        object
    }

    /// Like [`call`](ActorHandle::call), with one argument that may be a value
    /// or a ref to one, as for remote functions (pass a tuple value for
    /// several).
    ///
    /// Calls run strictly in the order they reached the actor's mailbox,
    /// whoever submitted them: a call whose ref argument is not ready yet
    /// waits for it on the actor's thread, and every call behind it waits too.
    /// Ray gives the same order for the calls of one submitter, but lets
    /// *other* submitters' calls overtake a call blocked on its argument;
    /// taskref keeps one total order, so the state always sees calls in a
    /// sequence the program can reason about. To keep a slow argument from
    /// holding the actor up, await the ref before making the call. A failed
    /// argument fails the call with [`Error::DependencyFailed`] without
    /// running it. Cancelling the waiting call, or killing the actor, ends
    /// the wait at once: the method does not run.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let total = rt.actor(0u64);
    /// let produced = rt.spawn(async { 5u64 });
    /// let r = total.call_with(produced, |t: &mut u64, x: u64| { *t += x; *t });
    /// assert_eq!(r.block_get()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the call, but loses its result"]
    pub fn call_with<A, X, R, F>(&self, arg: X, method: F) -> ObjectRef<R>
    where
        X: Arg<A>,
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(&mut S, A) -> R + Send + 'static,
    {
        if let Some(remote) = &self.inner.remote {
            return self.remote_call::<(A,), X, R, F>(remote, arg, Location::caller());
        }
        self.submit(arg, move |state, args| Ok(method(state, args)))
    }

    /// A fallible method call: `Err(e)` fails the call's ref with
    /// [`Error::TaskFailed`] (with `e` as its
    /// [`source`](std::error::Error::source)) and leaves the actor alive, as
    /// an exception in a Ray actor method does.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let account = rt.actor(10i64);
    /// let withdraw = |amount: i64| move |balance: &mut i64| {
    ///     if amount > *balance {
    ///         return Err(std::io::Error::other("insufficient funds"));
    ///     }
    ///     *balance -= amount;
    ///     Ok(*balance)
    /// };
    /// let too_much = account.try_call(withdraw(50));
    /// let fine = account.try_call(withdraw(4));
    /// assert!(too_much.block_get().unwrap_err().is_failed());
    /// assert_eq!(fine.block_get()?, 6, "the actor survived the error");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the call, but loses its result"]
    pub fn try_call<R, E, F>(&self, method: F) -> ObjectRef<R>
    where
        R: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: FnOnce(&mut S) -> Result<R, E> + Send + 'static,
    {
        self.try_call_with((), move |state, ()| method(state))
    }

    /// [`try_call`](ActorHandle::try_call) with one argument, value or ref,
    /// as [`call_with`](ActorHandle::call_with) takes it.
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the call, but loses its result"]
    pub fn try_call_with<A, X, R, E, F>(&self, arg: X, method: F) -> ObjectRef<R>
    where
        X: Arg<A>,
        A: Send + 'static,
        R: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: FnOnce(&mut S, A) -> Result<R, E> + Send + 'static,
    {
        if self.inner.remote.is_some() {
            let (object, completer) = new_call::<R>(&self.inner.runtime, &self.inner.label);
            if let Some(completer) = completer {
                let location = completer.info().location();
                completer.complete(Err(Error::InvalidArgument {
                    message: "`try_call` is not available on an actor on a Ray cluster yet: \
                              make the method return a `Result` and use `call`"
                        .to_owned(),
                    location,
                }));
            }
            return object;
        }
        self.submit(arg, move |state, args| {
            method(state, args).map_err(|e| Arc::new(e) as UserError)
        })
    }

    /// Queues one call; `method`'s `Err` becomes the ref's `TaskFailed`.
    #[track_caller]
    fn submit<A, X, R, F>(&self, arg: X, method: F) -> ObjectRef<R>
    where
        X: Arg<A>,
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(&mut S, A) -> Result<R, UserError> + Send + 'static,
    {
        let location = Location::caller();
        let (object, call) = self.inner.new_call::<R>(location);
        let Some(((completer, deadline), counted)) = call else {
            return object;
        };
        let queued = QueuedCall {
            completer,
            deadline,
            place: counted,
            pending: crate::args::PendingArgs::of_arg(&arg).boxed(),
            resolving: arg.resolve(),
            method,
        };
        let run =
            Box::new(move |state: Result<&mut S, &str>, host: Host<'_>| queued.run(state, host));
        let call = Call {
            retries: self.retries,
            run,
            restart_marker: false,
        };
        if let Err(mpsc::error::SendError(call)) = self.inner.mailbox.send(call) {
            // The actor's thread is gone: it died, or its runtime shut down.
            let cause = self.inner.death.cause();
            let host = Host {
                name: self.inner.name(),
                death: &self.inner.death,
            };
            (call.run)(Err(cause.as_deref().unwrap_or("its thread stopped")), host);
        }
        object
    }

    /// Kills the actor: the call running now finishes, every call still
    /// queued and every later call fails with [`Error::ActorDied`]; then the
    /// actor's thread ends, dropping the state and giving back the actor's
    /// resources. Ray's `ray.kill(actor)` (without restart).
    ///
    /// A call waiting for a ref argument has not started: it fails with
    /// [`Error::ActorDied`] at once, and its method never runs, even if the
    /// argument comes later. An actor still waiting for its resources never
    /// starts (its constructor is not run).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let a = rt.actor(1u8);
    /// a.kill();
    /// assert!(a.call(|x: &mut u8| *x).block_get().unwrap_err().is_actor_died());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill(&self) {
        if let Some(remote) = &self.inner.remote {
            remote.connection.actor_kill(remote.id, false);
        }
        self.inner.kill(Call::wake());
    }

    /// Kills the actor's instance and starts a new one, as Ray's
    /// `ray.kill(actor, no_restart=False)`: the call running now finishes,
    /// then the state is dropped and the constructor runs again, spending
    /// one of [`max_restarts`](ActorBuilder::max_restarts) (with none left,
    /// this is [`kill`](ActorHandle::kill)). Calls queued at that moment run
    /// on the new instance if they may be retried
    /// ([`max_retries`](ActorHandle::max_retries)); the others fail with
    /// [`Error::ActorDied`]. Later calls run on the new instance. A call at
    /// the head of the mailbox waiting for its ref argument has been taken:
    /// the restart happens after it, as after a running call.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let counter = rt.actor_builder().max_restarts(1).spawn(|| 0u64)?;
    /// counter.call(|n: &mut u64| *n += 5).block_get()?;
    /// counter.kill_and_restart();
    /// assert_eq!(counter.call(|n: &mut u64| *n).block_get()?, 0, "a fresh state");
    /// assert_eq!(counter.restarts(), 1);
    /// counter.kill_and_restart(); // no restart left: dead
    /// assert!(counter.call(|n: &mut u64| *n).block_get().unwrap_err().is_actor_died());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill_and_restart(&self) {
        if let Some(remote) = &self.inner.remote {
            return remote.connection.actor_kill(remote.id, true);
        }
        self.inner.kill_and_restart(Call::restart_marker());
    }

    /// How many times the actor was restarted (its constructor run again
    /// after a panic, or after [`kill_and_restart`](ActorHandle::kill_and_restart)):
    /// a restart counts from when it begins, before the new instance is
    /// built.
    pub fn restarts(&self) -> u32 {
        self.inner.life.restarts()
    }

    /// A handle whose calls may wait, queued, through `retries` restarts of
    /// the actor and still run on the new instance: for calls that are safe
    /// to run on a fresh state (Ray's per-call `max_task_retries`). Calls
    /// made through other handles keep theirs
    /// ([`max_task_retries`](ActorBuilder::max_task_retries), 0 by default).
    ///
    /// ```
    /// use std::sync::{Arc, Barrier};
    /// let rt = taskref::Runtime::new()?;
    /// let cache = rt.actor_builder().max_restarts(1).spawn(Vec::<u32>::new)?;
    /// let (started, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    /// let (s, r) = (started.clone(), release.clone());
    /// let running = cache.call(move |_: &mut Vec<u32>| { s.wait(); r.wait(); });
    /// started.wait(); // the first call runs
    /// let plain = cache.call(|v: &mut Vec<u32>| v.len());
    /// let safe = cache.max_retries(1).call(|v: &mut Vec<u32>| v.len());
    /// cache.kill_and_restart(); // while both calls are queued
    /// release.wait();
    /// running.block_get()?;
    /// assert!(plain.block_get().unwrap_err().is_actor_died());
    /// assert_eq!(safe.block_get()?, 0, "ran on the new instance");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_retries(&self, retries: u32) -> ActorHandle<S> {
        ActorHandle {
            inner: Arc::clone(&self.inner),
            retries,
        }
    }
}
