//! `Runtime`: the handle through which tasks are submitted.

mod builder;

pub use builder::Builder;

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;

use crate::cluster::Cluster;
use crate::context::RuntimeContext;
use crate::identity::{ObjectId, TaskInfo};
use crate::object_ref::slot::Slot;
use crate::object_ref::ObjectRef;
use crate::observe::{Observer, Stats, Timeline};
use crate::resources::Resources;
use crate::task::{AsyncTask, BlockingTask, Submission, TaskKind, TaskOptions};

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
    /// What tasks, refs and waits hold of the runtime. They never hold `Inner`,
    /// so that a pending task does not keep an owned runtime alive by itself.
    context: Arc<RuntimeContext>,
    /// The tokio runtime of an owned taskref runtime; `None` when attached, or
    /// once shut down.
    owned: Mutex<Option<tokio::runtime::Runtime>>,
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
    /// first, pending refs fail with [`Error::Shutdown`](crate::Error::Shutdown).
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
        let resources = Resources::new(config.num_cpus, &config.resources, handle.clone());
        let observer = Observer::new(
            config.timeline_capacity,
            config.anti_patterns,
            config.num_cpus,
        );
        let mut context = RuntimeContext::new(
            handle,
            owned.is_some(),
            config.num_cpus,
            resources,
            observer,
        );
        if let Some(cluster) = &config.cluster {
            context = context.with_cluster(Arc::clone(cluster));
        }
        Runtime {
            inner: Arc::new(Inner {
                context: Arc::new(context),
                owned: Mutex::new(owned),
            }),
        }
    }

    /// What the layers below need of this runtime.
    pub(crate) fn context(&self) -> &Arc<RuntimeContext> {
        &self.inner.context
    }

    /// The runtime's CPU capacity: how many blocking tasks of 1 CPU run at once.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().num_cpus(3).build()?;
    /// assert_eq!(rt.num_cpus(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn num_cpus(&self) -> usize {
        self.inner.context.num_cpus()
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
        self.inner.context.resources().capacity_of(name)
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
        self.inner.context.observer().counters.snapshot()
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
        self.inner.context.observer().counters.reset();
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
            .context
            .observer()
            .recorder
            .as_ref()
            .map(|r| r.snapshot())
            .unwrap_or_default()
    }

    /// Forgets the timeline recorded so far (to picture one phase of a program).
    pub fn clear_timeline(&self) {
        if let Some(recorder) = &self.inner.context.observer().recorder {
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
        self.inner.context.handle()
    }

    /// Runs a future to completion as a task and returns its ref at once.
    ///
    /// The future runs on the tokio workers. A panic inside it fails the ref with
    /// [`Error::TaskPanicked`](crate::Error::TaskPanicked); the runtime and other tasks are unaffected.
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
        AsyncTask::submit(Submission {
            context: self.context(),
            options: &TaskOptions::default(),
            location: Location::caller(),
            args: (),
            call: move |()| future,
            retry: None,
            distributable: None,
        })
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
        BlockingTask::submit(Submission {
            context: self.context(),
            options: &TaskOptions::default(),
            location: Location::caller(),
            args: (),
            call: move |()| f(),
            retry: None,
            distributable: None,
        })
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

    /// Cancels the task behind `id`, if it is one of this runtime's and has not
    /// finished, and every unfinished task below it in the task tree; see
    /// [`ObjectRef::cancel`]. Returns whether the task itself was cancelled.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let r = rt.spawn(std::future::pending::<()>());
    /// assert!(rt.cancel(r.id()));
    /// assert!(r.block_get().unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self, id: ObjectId) -> bool {
        let cancelled = self.inner.context.cancel(id);
        self.inner.context.cancel_descendants(id);
        cancelled
    }

    /// What each line of code that waits cost: per call site of a get or
    /// wait (single gets, `get_all`, `wait`, `as_completed`,
    /// `map_unordered` and their blocking twins), how many of its calls had
    /// to wait, how long callers were blocked there, and how much CPU
    /// capacity stood idle meanwhile ([`WaitCost`](crate::WaitCost)),
    /// costliest first. A get in a loop tops this list; a gathered wait,
    /// during which every CPU was busy, costs nearly nothing.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().num_cpus(2).build()?;
    /// let f = rt.remote(|x: u64| async move { x });
    /// taskref::block_get_all((0..10).map(|i| f.remote(i)))?;
    /// for cost in rt.wait_costs() {
    ///     println!("{cost}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_costs(&self) -> Vec<crate::WaitCost> {
        self.inner.context.observer().wait_costs()
    }

    /// A snapshot of every unfinished task of this runtime: id, name, call
    /// site, parent, age and state (waiting for its arguments, for resources,
    /// running, blocked in a get or wait on which refs and at which line,
    /// queued in an actor's mailbox). Print it to see a hung program the way
    /// a thread dump shows threads: its `Display` is the task tree.
    ///
    /// Costs nothing until called; a call reads each unfinished task once,
    /// taking short locks one at a time, so it works from async code, from
    /// blocking code, and while the runtime is busy. Tasks submitted or
    /// finished while it runs may or may not be in it.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// let rt = taskref::Runtime::new()?;
    /// let release = Arc::new(AtomicBool::new(false));
    /// let (inner, flag) = (rt.clone(), Arc::clone(&release));
    /// let parent = rt.remote_blocking(move |_: ()| {
    ///     let flag = Arc::clone(&flag);
    ///     let child = inner.spawn_blocking(move || {
    ///         while !flag.load(Ordering::SeqCst) {
    ///             std::thread::sleep(Duration::from_millis(1));
    ///         }
    ///     });
    ///     child.block_get().is_ok()
    /// }).name("parent").remote(());
    /// // Wait until the parent is blocked on its child.
    /// let started = std::time::Instant::now();
    /// while !matches!(rt.tasks().get(parent.id()).map(|t| &t.state),
    ///                 Some(taskref::TaskState::Blocked { .. })) {
    ///     assert!(started.elapsed() < Duration::from_secs(10), "never blocked");
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// let dump = rt.tasks().to_string();
    /// assert!(dump.contains("`parent`") && dump.contains("blocked in `block_get`"), "{dump}");
    /// release.store(true, Ordering::SeqCst);
    /// assert!(parent.block_get()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tasks(&self) -> crate::Tasks {
        crate::Tasks::of(self.inner.context.unfinished())
    }

    /// Shuts the runtime down: every pending ref fails with [`Error::Shutdown`](crate::Error::Shutdown)
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

    /// The Ray cluster this runtime runs its distributable functions on, if
    /// it was built with [`Builder::ray`](crate::Builder::ray).
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().worker_threads(1).build()?;
    /// assert!(rt.cluster().is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cluster(&self) -> Option<Cluster> {
        self.inner.context.cluster().map(|connection| Cluster {
            connection: Arc::clone(connection),
        })
    }

    /// Whether [`shutdown`](Runtime::shutdown) has been called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.context.is_closed()
    }
}

impl Inner {
    fn shutdown(&self) {
        self.context.close();
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

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let context = &self.inner.context;
        let owned = self
            .inner
            .owned
            .lock()
            .map(|owned| owned.is_some())
            .unwrap_or(false);
        f.debug_struct("Runtime")
            .field("owned", &owned)
            .field("num_cpus", &context.num_cpus())
            .field("shutdown", &context.is_closed())
            .finish()
    }
}
