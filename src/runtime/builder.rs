//! `Builder`: configures and builds a `Runtime`.

use std::io;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use super::Runtime;
use crate::cluster;
use crate::observe::AntiPatterns;
use crate::resources;

pub(super) fn default_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Configures a [`Runtime`]: its CPU capacity and, for an owned runtime, its
/// tokio worker threads.
///
/// # Examples
///
/// ```
/// let rt = taskref::Runtime::builder()
///     .num_cpus(2)        // at most two 1-CPU blocking tasks at once
///     .worker_threads(2)  // tokio workers for async tasks
///     .build()?;
/// assert_eq!(rt.num_cpus(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build` or `attach` is called"]
pub struct Builder {
    num_cpus: Option<usize>,
    worker_threads: Option<usize>,
    resources: Vec<(String, f64)>,
    timeline_capacity: Option<usize>,
    anti_patterns: AntiPatterns,
    /// Set by `ray`: build a runtime on that cluster.
    ray: Option<cluster::Config>,
    /// `ray_python` and `ray_connect_timeout`, applied if `ray` is set.
    ray_python: Option<String>,
    ray_connect_timeout: Option<Duration>,
}

/// The settings a runtime is assembled from.
pub(crate) struct Config {
    pub(crate) num_cpus: usize,
    pub(crate) resources: Vec<(String, f64)>,
    pub(crate) timeline_capacity: usize,
    pub(crate) anti_patterns: AntiPatterns,
    /// The connection to the Ray cluster, for a runtime built with `ray`.
    pub(crate) cluster: Option<Arc<cluster::Connection>>,
}

impl Default for Config {
    fn default() -> Self {
        Builder::new().config()
    }
}

/// Tasks (and waits) the timeline keeps by default.
const DEFAULT_TIMELINE: usize = 100_000;

impl Builder {
    /// A builder with the defaults (see [`Runtime::new`]).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The runtime's CPU capacity, as in Ray: blocking tasks ask for 1 CPU by
    /// default, so at most `num_cpus` of them run at once. Defaults to the
    /// available parallelism. `0` is allowed: then every task that asks for CPU
    /// fails with [`Error::Infeasible`](crate::Error::Infeasible).
    ///
    /// At most 10^14 (100,000,000,000,000), the largest capacity of any
    /// resource: amounts are counted in 1/10,000 units in a `u64`. More (up to
    /// `usize::MAX`) makes [`build`](Builder::build) and
    /// [`attach`](Builder::attach) fail with `InvalidInput`; it is refused
    /// rather than clamped, so [`Runtime::num_cpus`] is always the capacity
    /// the runtime really has. (For "no CPU limit", 10^14 serves.)
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().num_cpus(100_000_000_000_000).build()?;
    /// assert_eq!(rt.spawn_blocking(|| 1).block_get().unwrap(), 1);
    /// let err = taskref::Runtime::builder().num_cpus(usize::MAX).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn num_cpus(mut self, num_cpus: usize) -> Builder {
        self.num_cpus = Some(num_cpus);
        self
    }

    /// Declares a named resource and its capacity, as Ray's
    /// `ray.init(resources={"db": 2})`: tasks that ask for it with
    /// [`RemoteFn::resource`](crate::RemoteFn::resource) hold their amount while
    /// they run, so at most `capacity` worth runs at once. Fractions are allowed
    /// (1/10,000 precision). Declaring a name again replaces its capacity.
    ///
    /// A capacity of 0 is accepted and makes every positive request for it
    /// infeasible; a negative, NaN or infinite capacity, one beyond 10^14 (the
    /// largest a resource can have, as for [`num_cpus`](Builder::num_cpus)),
    /// or the reserved name `"CPU"` (use [`num_cpus`](Builder::num_cpus)),
    /// makes `build` fail with `InvalidInput`.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().resource("db", 2.0).build()?;
    /// assert_eq!(rt.resource_capacity("db"), Some(2.0));
    /// assert!(taskref::Runtime::builder().resource("db", -1.0).build().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn resource(mut self, name: impl Into<String>, capacity: f64) -> Builder {
        let name = name.into();
        self.resources.retain(|(existing, _)| *existing != name);
        self.resources.push((name, capacity));
        self
    }

    /// Whether the runtime records a [`Timeline`](crate::Timeline) (on by
    /// default, keeping the newest 100,000 tasks and 100,000 waits; see
    /// [`timeline_capacity`](Builder::timeline_capacity)).
    ///
    /// The anti-pattern detector's submission-order rule looks for later
    /// tasks of a batch among the timeline's recent records: with the
    /// timeline off, that rule does not fire (the others do).
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().timeline(false).build()?;
    /// rt.spawn(async {}).block_get().unwrap();
    /// assert!(rt.timeline().tasks().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeline(mut self, enabled: bool) -> Builder {
        self.timeline_capacity = Some(if enabled { DEFAULT_TIMELINE } else { 0 });
        self
    }

    /// How many tasks (and, separately, how many waits) the timeline keeps:
    /// [`Runtime::timeline`] returns the newest `tasks` task records (newest
    /// by when the task ended) and the newest `tasks` waits; the oldest go
    /// first, so memory stays flat in a long-running service. 0 turns it off.
    ///
    /// Memory: tasks are recorded on per-thread shards (one lock for all
    /// contends), and a shard that goes quiet lets go of its old records only
    /// at the next sweep (every `tasks / 8 + 64` records), so up to about
    /// `tasks + tasks / 8 + 64` task records are held (a few more for a moment
    /// while many threads record at once); at most `tasks` waits are held. A task record is about 120 bytes, a wait
    /// record about 90 bytes plus 8 per ref it names (at most 64).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().timeline_capacity(3).build()?;
    /// let ids: Vec<_> = (0..10)
    ///     .map(|i| {
    ///         let r = rt.spawn(async move { i });
    ///         r.block_get().unwrap();
    ///         r.id()
    ///     })
    ///     .collect();
    /// # // A record is written as its task ends, a moment after the ref is ready.
    /// # while rt.timeline().tasks().last().map(|r| r.task.id()) != Some(ids[9]) {
    /// #     std::thread::yield_now();
    /// # }
    /// let kept: Vec<_> = rt.timeline().tasks().iter().map(|r| r.task.id()).collect();
    /// assert_eq!(kept, ids[7..], "the newest three");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeline_capacity(mut self, tasks: usize) -> Builder {
        self.timeline_capacity = Some(tasks);
        self
    }

    /// What the anti-pattern detector does (default [`AntiPatterns::Warn`]).
    ///
    /// ```
    /// let _rt = taskref::Runtime::builder()
    ///     .anti_patterns(taskref::AntiPatterns::Off)
    ///     .build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn anti_patterns(mut self, mode: AntiPatterns) -> Builder {
        self.anti_patterns = mode;
        self
    }

    fn config(&self) -> Config {
        Config {
            num_cpus: self.num_cpus.unwrap_or_else(default_parallelism),
            resources: self.resources.clone(),
            timeline_capacity: self.timeline_capacity.unwrap_or(DEFAULT_TIMELINE),
            anti_patterns: self.anti_patterns,
            cluster: None,
        }
    }

    /// Runs the program's distributable functions (`#[taskref::remote]`) on
    /// the Ray cluster at `address`, with Ray as the engine: the same calls
    /// (`f.remote(x)`, `get`, `get_all`, `wait`, `as_completed`, refs as
    /// arguments, options, `cancel`) then run on the cluster's workers.
    ///
    /// `address` is what `ray.init(address=...)` takes: `"auto"` (the
    /// cluster named by `RAY_ADDRESS`, or the local one), or `"host:port"` of
    /// the head's GCS. [`build`](Builder::build) starts a small bridge
    /// process with Ray's Python (`TASKREF_RAY_PYTHON`, or
    /// [`ray_python`](Builder::ray_python), or `python3`), connects it, and
    /// ships this program's own executable to the nodes through Ray's object
    /// store: the nodes need only `pip install ray`. With token
    /// authentication on (Ray's default since 2.5x), the token is taken from
    /// `RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token`.
    ///
    /// **The same program is the worker.** On the nodes, Ray starts this
    /// executable with `TASKREF_RAY_WORKER=1`; there `build()` serves calls
    /// and exits instead of returning. Build the runtime before doing
    /// anything the workers should not do.
    ///
    /// Closures (`rt.remote(|x: u64| ..)`), `rt.spawn` and actors stay in
    /// this process: only registered functions can be named on a worker.
    /// Values those tasks read from cluster refs are fetched to the driver.
    ///
    /// ```no_run
    /// #[taskref::remote]
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// let rt = taskref::Runtime::builder().ray("auto").build()?;
    /// let sq = rt.remote_blocking(square);
    /// let refs: Vec<_> = (0..10).map(|i| sq.remote(i)).collect();
    /// assert_eq!(taskref::block_get_all(refs).unwrap()[3], 9);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ray(mut self, address: impl Into<String>) -> Builder {
        self.ray = Some(cluster::Config::new(address.into()));
        self
    }

    /// The Python interpreter (with `ray` installed) that runs the bridge to
    /// the cluster; by default `TASKREF_RAY_PYTHON`, else `python3`. Only
    /// with [`ray`](Builder::ray).
    pub fn ray_python(mut self, python: impl Into<String>) -> Builder {
        self.ray_python = Some(python.into());
        self
    }

    /// How long [`build`](Builder::build) waits for the cluster to answer
    /// (default 60 s: the first connection uploads the program). Only with
    /// [`ray`](Builder::ray).
    pub fn ray_connect_timeout(mut self, timeout: Duration) -> Builder {
        self.ray_connect_timeout = Some(timeout);
        self
    }

    /// The number of tokio worker threads of an owned runtime (which run async
    /// tasks). Defaults to one per core. Must be at least 1.
    pub fn worker_threads(mut self, worker_threads: usize) -> Builder {
        self.worker_threads = Some(worker_threads);
        self
    }

    /// Builds an owned runtime.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `worker_threads` is 0, `num_cpus` is beyond 10^14 (see
    /// [`num_cpus`](Builder::num_cpus)) or a resource capacity is invalid (see
    /// [`resource`](Builder::resource)); the OS error if a thread cannot be
    /// started.
    pub fn build(self) -> io::Result<Runtime> {
        self.validate()?;
        let cluster = match &self.ray {
            Some(_) if cluster::worker::is_worker() => cluster::worker::serve_and_exit(),
            Some(ray) => {
                let mut ray = ray.clone();
                ray.python = self.ray_python.clone().or(ray.python);
                ray.connect_timeout = self.ray_connect_timeout.unwrap_or(ray.connect_timeout);
                Some(cluster::Connection::connect(&ray)?)
            }
            None => None,
        };
        let mut tokio_builder = tokio::runtime::Builder::new_multi_thread();
        tokio_builder.enable_all().thread_name("taskref-worker");
        match self.worker_threads {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "taskref: worker_threads must be at least 1",
                ))
            }
            Some(n) => {
                tokio_builder.worker_threads(n);
            }
            None => {}
        }
        let runtime = tokio_builder.build()?;
        let handle = runtime.handle().clone();
        let mut config = self.config();
        config.cluster = cluster;
        Ok(Runtime::assemble(handle, Some(runtime), &config))
    }

    fn validate(&self) -> io::Result<()> {
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        if let Some(num_cpus) = self.num_cpus {
            if resources::cpu_units(num_cpus).is_none() {
                return invalid(format!(
                    "taskref: num_cpus is {num_cpus}, more than the largest capacity a resource \
                     can have, {} (amounts are counted in 1/10,000 units)",
                    resources::MAX_CAPACITY_TEXT
                ));
            }
        }
        for (name, capacity) in &self.resources {
            if name == "CPU" {
                return invalid("taskref: `CPU` is set with `num_cpus`, not `resource`".into());
            }
            if let Err(why) = resources::check_capacity(*capacity) {
                return invalid(format!("taskref: resource `{name}` has {why}"));
            }
        }
        Ok(())
    }

    /// Builds a runtime attached to an existing tokio runtime (see
    /// [`Runtime::from_handle`]). `worker_threads` does not apply.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a `num_cpus` beyond 10^14 or an invalid resource
    /// capacity (see [`num_cpus`](Builder::num_cpus) and
    /// [`resource`](Builder::resource)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rt = taskref::Runtime::builder()
    ///     .num_cpus(1)
    ///     .attach(tokio::runtime::Handle::current())
    ///     .unwrap();
    /// assert_eq!(rt.num_cpus(), 1);
    /// # }
    /// ```
    pub fn attach(self, handle: Handle) -> io::Result<Runtime> {
        self.validate()?;
        if self.ray.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "taskref: a runtime on a Ray cluster is built with `build`, not `attach`",
            ));
        }
        Ok(Runtime::assemble(handle, None, &self.config()))
    }
}
