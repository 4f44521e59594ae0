//! `Runtime`: the handle through which tasks are submitted.

mod builder;

pub use builder::Builder;

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;

use crate::actor::{ActorBuilder, ActorHandle};
use crate::error::{Error, TaskInfo};
use crate::object_ref::slot::Slot;
use crate::observe::{Observer, Stats, Timeline};
use crate::remote::{AsyncTask, BlockingTask, Func, RemoteFn, TryAsyncTask, TryBlockingTask};
use crate::resources::Resources;
use crate::store::{self, Store};
use crate::task::{Plain, TaskOptions};
use crate::timer::Timer;
use crate::{ObjectId, ObjectRef};

/// A taskref runtime: submits tasks, hands back [`ObjectRef`]s, and bounds how
/// many blocking tasks run at once.
///
/// Either *owned* ([`Runtime::new`], [`Runtime::builder`]): it owns a
/// multi-thread tokio runtime sized to the machine; or *attached*
/// ([`Runtime::from_handle`]): it runs its tasks on a tokio runtime that the
/// application already has.
///
/// `Runtime` is a cheap `Clone + Send + Sync` handle (one `Arc`). Tasks may
/// capture it to submit more tasks. Dropping the last handle of an owned runtime
/// shuts it down (see [`shutdown`](Runtime::shutdown)); handles captured by
/// tasks keep it alive. Dropping the last handle of an attached runtime leaves
/// its tasks running on the application's tokio runtime.
///
/// # Examples
///
/// ```
/// use taskref::Runtime;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = Runtime::new()?;
/// let f = rt.remote(|i: u64| async move { i * 10 });
/// let refs: Vec<_> = (0..5).map(|i| f.remote(i)).collect(); // submit everything
/// assert_eq!(taskref::block_get_all(refs)?, [0, 10, 20, 30, 40]); // then gather
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// The tokio runtime of an owned taskref runtime; `None` when attached, or
    /// once shut down.
    owned: Mutex<Option<tokio::runtime::Runtime>>,
}

/// What tasks and refs need of their runtime. Tasks hold this, never `Inner`, so
/// that a pending task does not keep an owned runtime alive by itself.
pub(crate) struct Shared {
    pub(crate) handle: Handle,
    pub(crate) store: Store,
    pub(crate) resources: Resources,
    pub(crate) observer: Observer,
    num_cpus: usize,
    timer: Timer,
}

impl Runtime {
    /// Creates an owned runtime with the defaults: a multi-thread tokio runtime
    /// with one worker per core, and `num_cpus` equal to the available
    /// parallelism.
    ///
    /// # Errors
    ///
    /// If the tokio runtime cannot be built (the OS refused a thread).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// assert_eq!(rt.put(1).block_get()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> std::io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder to configure an owned runtime (`num_cpus`, `worker_threads`) or
    /// attach a configured one to a tokio handle.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().num_cpus(4).worker_threads(2).build()?;
    /// assert_eq!(rt.num_cpus(), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Attaches a runtime to an existing tokio runtime, to run inside an
    /// application that already has one (`num_cpus` is the available
    /// parallelism; use [`Builder::attach`] to choose).
    ///
    /// Tasks run on that tokio runtime: async tasks on its workers, blocking ones
    /// on its blocking pool. [`shutdown`](Runtime::shutdown) aborts taskref's
    /// tasks but never the application's runtime. If that runtime shuts down
    /// first, pending refs fail with [`Error::Shutdown`].
    ///
    /// # Examples
    ///
    /// ```
    /// #[tokio::main]
    /// async fn main() -> Result<(), taskref::Error> {
    ///     let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
    ///     let r = rt.spawn(async { "hello" });
    ///     assert_eq!(r.await?, "hello");
    ///     Ok(())
    /// }
    /// ```
    pub fn from_handle(handle: Handle) -> Runtime {
        Runtime::assemble(handle, None, &builder::Config::default())
    }

    fn assemble(
        handle: Handle,
        owned: Option<tokio::runtime::Runtime>,
        config: &builder::Config,
    ) -> Runtime {
        let num_cpus = config.num_cpus;
        let custom = &config.resources;
        let timer = match owned {
            Some(_) => Timer::owned(handle.clone()),
            None => Timer::attached(handle.clone()),
        };
        let resources = Resources::new(num_cpus, custom, handle.clone());
        let shared = Arc::new(Shared {
            handle,
            store: Store::default(),
            resources,
            observer: Observer::new(config.timeline_capacity, config.anti_patterns),
            num_cpus,
            timer,
        });
        Runtime {
            inner: Arc::new(Inner {
                shared,
                owned: Mutex::new(owned),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The runtime's CPU capacity: how many blocking tasks of 1 CPU run at once.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().num_cpus(3).build()?;
    /// assert_eq!(rt.num_cpus(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn num_cpus(&self) -> usize {
        self.inner.shared.num_cpus
    }

    /// The total capacity of a named resource declared with
    /// [`Builder::resource`], or `None` if the runtime has no such resource.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().resource("gpu", 1.5).build()?;
    /// assert_eq!(rt.resource_capacity("gpu"), Some(1.5));
    /// assert_eq!(rt.resource_capacity("db"), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn resource_capacity(&self, name: &str) -> Option<f64> {
        self.inner.shared.resources.capacity_of(name)
    }

    /// A snapshot of the runtime's counters over the current window; see
    /// [`Stats`] and [`reset_stats`](Runtime::reset_stats).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// rt.spawn(async {}).block_get()?;
    /// assert_eq!(rt.stats().finished, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.inner.shared.observer.counters.snapshot()
    }

    /// Starts a new stats window: counts, busy time and the parallelism's wall
    /// clock start from now (the peak restarts from the tasks running now).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// rt.spawn(async {}).block_get()?;
    /// rt.reset_stats();
    /// assert_eq!(rt.stats().submitted, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset_stats(&self) {
        self.inner.shared.observer.counters.reset();
    }

    /// A snapshot of the recent tasks and the caller's waits (empty if the
    /// timeline is off: [`Builder::timeline`]).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// rt.spawn(async { 1 }).block_get()?;
    /// assert_eq!(rt.timeline().tasks().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeline(&self) -> Timeline {
        self.inner
            .shared
            .observer
            .recorder
            .as_ref()
            .map(|r| r.snapshot())
            .unwrap_or_default()
    }

    /// Forgets the timeline recorded so far (to picture one phase of a program).
    pub fn clear_timeline(&self) {
        if let Some(recorder) = &self.inner.shared.observer.recorder {
            recorder.clear();
        }
    }

    /// The tokio runtime handle the tasks run on.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let n = rt.handle().block_on(async { 1 + 1 });
    /// assert_eq!(n, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.inner.shared.handle
    }

    /// Runs a future to completion as a task and returns its ref at once.
    ///
    /// The future runs on the tokio workers. A panic inside it fails the ref with
    /// [`Error::TaskPanicked`]; the runtime and other tasks are unaffected.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let r = rt.spawn(async { 1 + 2 });
    /// assert_eq!(r.block_get().unwrap(), 3);
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the task, but loses its result; keep the ref or use `let _ =`"]
    pub fn spawn<F>(&self, future: F) -> ObjectRef<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.shared.submit_async::<(), (), _, F, Plain>(
            &TaskOptions::default(),
            Location::caller(),
            (),
            move |()| future,
            None,
        )
    }

    /// Runs a closure on the blocking pool and returns its ref at once.
    ///
    /// It holds 1 CPU while it runs, so at most `num_cpus` such closures run at
    /// once; it never occupies an async worker.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let r = rt.spawn_blocking(|| (1..=10).sum::<u32>());
    /// assert_eq!(r.block_get().unwrap(), 55);
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the task, but loses its result; keep the ref or use `let _ =`"]
    pub fn spawn_blocking<F, R>(&self, f: F) -> ObjectRef<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.inner.shared.submit_blocking::<(), (), _, R, Plain>(
            &TaskOptions::default(),
            Location::caller(),
            (),
            move |()| f(),
            None,
        )
    }

    /// Stores a value and returns an already-ready ref to it: Ray's `ray.put`.
    ///
    /// Useful to pass one large value to many tasks: each task receives a clone
    /// (wrap the value in `Arc` to share it instead).
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let data = rt.put(vec![1.0, 2.0, 3.0]);
    /// assert!(data.is_ready());
    /// let sum = rt.remote_blocking(|v: Vec<f64>| v.iter().sum::<f64>());
    /// assert_eq!(sum.remote(&data).block_get().unwrap(), 6.0);
    /// ```
    #[track_caller]
    #[must_use = "a put value is only reachable through its ref"]
    pub fn put<T: Send + 'static>(&self, value: T) -> ObjectRef<T> {
        let info = TaskInfo::new(ObjectId::next(), None, Location::caller());
        ObjectRef::from_slot(Arc::new(Slot::ready(info, value)))
    }

    /// Registers an async function as a remote function: each `.remote(args)`
    /// call runs it as a task on the tokio workers. Ray's `@ray.remote`.
    ///
    /// Annotate the parameters (`|x: u64| async move { ... }`). Async tasks ask
    /// for 0 CPUs by default: they are not bounded by `num_cpus`.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let f = rt.remote(|i: u64| async move { i + 1 });
    /// assert_eq!(f.remote(1).block_get().unwrap(), 2);
    /// ```
    pub fn remote<F, L>(&self, f: F) -> RemoteFn<F, L, AsyncTask>
    where
        F: Func<L>,
        F::Output: Future + Send + 'static,
        <F::Output as Future>::Output: Send + 'static,
    {
        RemoteFn::new(self.clone(), f, TaskOptions::default())
    }

    /// Registers a CPU-bound function as a remote function: each call runs on the
    /// blocking pool and holds 1 CPU (by default) while it runs.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let g = rt.remote_blocking(|v: Vec<f64>| v.iter().sum::<f64>());
    /// assert_eq!(g.remote(vec![0.5, 0.5]).block_get().unwrap(), 1.0);
    /// ```
    pub fn remote_blocking<F, L>(&self, f: F) -> RemoteFn<F, L, BlockingTask>
    where
        F: Func<L>,
        F::Output: Send + 'static,
    {
        RemoteFn::new(self.clone(), f, TaskOptions::default())
    }

    /// Registers a fallible async function: each call's `Ok(v)` becomes its
    /// ref's value, and `Err(e)` fails the ref with [`Error::TaskFailed`] whose
    /// [`source`](std::error::Error::source) is `e` (`E: std::error::Error +
    /// Send + Sync + 'static`). Dependents of a failed call fail with
    /// [`Error::DependencyFailed`], whose chain leads back to `e`.
    ///
    /// ```
    /// use std::error::Error as _;
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let parse = rt.try_remote(|s: &'static str| async move { s.parse::<i32>() });
    /// assert_eq!(parse.remote("7").block_get().unwrap(), 7);
    /// let double = rt.remote(|x: i32| async move { 2 * x });
    /// let err = double.remote(parse.remote("seven")).block_get().unwrap_err();
    /// assert!(err.is_dependency_failed());
    /// let root = err.source().unwrap().source().unwrap();
    /// assert!(root.downcast_ref::<std::num::ParseIntError>().is_some());
    /// ```
    pub fn try_remote<F, L>(&self, f: F) -> RemoteFn<F, L, TryAsyncTask>
    where
        F: Func<L>,
        F::Output: Future + Send + 'static,
        <F::Output as Future>::Output: Send + 'static,
    {
        RemoteFn::new(self.clone(), f, TaskOptions::default())
    }

    /// Registers a fallible blocking function: as
    /// [`try_remote`](Runtime::try_remote), run on the blocking pool like
    /// [`remote_blocking`](Runtime::remote_blocking).
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let checked = rt.try_remote_blocking(|x: u8| x.checked_mul(2).ok_or(std::fmt::Error));
    /// assert_eq!(checked.remote(4).block_get().unwrap(), 8);
    /// assert!(checked.remote(200).block_get().unwrap_err().is_failed());
    /// ```
    pub fn try_remote_blocking<F, L>(&self, f: F) -> RemoteFn<F, L, TryBlockingTask>
    where
        F: Func<L>,
        F::Output: Send + 'static,
    {
        RemoteFn::new(self.clone(), f, TaskOptions::default())
    }

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

    /// Cancels the task behind `id`, if it is one of this runtime's and has not
    /// finished; see [`ObjectRef::cancel`]. Returns whether it was cancelled.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let r = rt.spawn(std::future::pending::<()>());
    /// assert!(rt.cancel(r.id()));
    /// assert!(r.block_get().unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self, id: ObjectId) -> bool {
        self.inner.shared.store.cancel(id)
    }

    /// Shuts the runtime down: every pending ref fails with [`Error::Shutdown`]
    /// and later submissions fail at once.
    ///
    /// Nothing waits: async tasks are dropped at their next `.await`; a blocking
    /// task that is already running cannot be interrupted, so it finishes in the
    /// background and its result is discarded. For an owned runtime the tokio
    /// runtime is shut down too; for an attached one only taskref's tasks are
    /// aborted. Safe to call from async code, from the runtime's own threads, and
    /// more than once.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let r = rt.spawn(std::future::pending::<()>());
    /// rt.shutdown();
    /// assert!(r.block_get().unwrap_err().is_shutdown());
    /// assert!(rt.spawn(async {}).block_get().unwrap_err().is_shutdown());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }

    /// Whether [`shutdown`](Runtime::shutdown) has been called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.shared.store.is_closed()
    }
}

impl Inner {
    fn shutdown(&self) {
        self.shared.shutdown();
        let owned = self
            .owned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(runtime) = owned {
            // Never blocks: safe inside async code and on the runtime's own
            // threads, where a plain drop would panic or deadlock.
            runtime.shutdown_background();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let owned = self
            .owned
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some();
        if owned {
            self.shutdown();
        }
    }
}

impl Shared {
    fn shutdown(&self) {
        self.store.close();
        self.resources.close();
    }

    pub(crate) fn cancel<T>(&self, slot: &Slot<T>) -> bool {
        slot.fail(store::cancelled)
    }

    pub(crate) fn sleep(
        &self,
        duration: Duration,
        location: &'static Location<'static>,
    ) -> Result<Pin<Box<tokio::time::Sleep>>, Error> {
        self.timer.sleep(duration, location)
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.inner.shared;
        let owned = self
            .inner
            .owned
            .lock()
            .map(|owned| owned.is_some())
            .unwrap_or(false);
        f.debug_struct("Runtime")
            .field("owned", &owned)
            .field("num_cpus", &shared.num_cpus)
            .field("shutdown", &shared.store.is_closed())
            .finish()
    }
}
