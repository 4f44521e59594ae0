//! Remote functions: `rt.remote(f)` / `rt.remote_blocking(f)` and their options.

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use crate::args::IntoArgs;
use crate::object_ref::ObjectRef;
use crate::runtime::Runtime;
use crate::task::{
    AsyncTask, BlockingTask, Retry, Submission, TaskKind, TaskOptions, TryAsyncTask,
    TryBlockingTask,
};

/// A function usable as a remote function, called with its parameters as a tuple
/// `L`: implemented for every `Fn` of zero to six parameters that is
/// `Send + Sync + 'static`.
///
/// Implemented by the crate; you never implement or name it. Annotate the
/// closure's parameters (`|x: u64| ...`) so the compiler can tell its arity.
pub trait Func<L>: Send + Sync + 'static {
    /// What one call returns (a future for [`Runtime::remote`], the value for
    /// [`Runtime::remote_blocking`]).
    type Output;

    /// Calls the function.
    #[doc(hidden)]
    fn call(&self, args: L) -> Self::Output;
}

macro_rules! impl_func {
    ($($param:ident $idx:tt),*) => {
        impl<Fun, Out, $($param),*> Func<($($param,)*)> for Fun
        where
            Fun: Fn($($param),*) -> Out + Send + Sync + 'static,
        {
            type Output = Out;

            #[allow(clippy::unused_unit, unused_variables)] // the zero-parameter case
            fn call(&self, args: ($($param,)*)) -> Out {
                (self)($(args.$idx),*)
            }
        }
    };
}

impl_func!();
impl_func!(A0 0);
impl_func!(A0 0, A1 1);
impl_func!(A0 0, A1 1, A2 2);
impl_func!(A0 0, A1 1, A2 2, A3 3);
impl_func!(A0 0, A1 1, A2 2, A3 3, A4 4);
impl_func!(A0 0, A1 1, A2 2, A3 3, A4 4, A5 5);

// Defined here rather than in `runtime.rs`: the runtime handle sits above
// remote functions and does not import them.
impl Runtime {
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
        AsyncTask: TaskKind<F::Output>,
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
        BlockingTask: TaskKind<F::Output>,
    {
        RemoteFn::new(self.clone(), f, TaskOptions::default())
    }

    /// Registers a streaming function: each `.remote(args)` call runs it as
    /// a task on the tokio workers and returns a [`RefStream`](crate::RefStream)
    /// at once, which hands out one ref per item of the [`Stream`](futures::Stream)
    /// the function returns, as soon as the item exists (Ray's generator
    /// tasks, `num_returns="streaming"`). Options as for
    /// [`remote`](Runtime::remote), plus
    /// [`backpressure`](crate::StreamFn::backpressure).
    ///
    /// ```
    /// use futures::StreamExt;
    /// let rt = taskref::Runtime::new()?;
    /// let ticks = rt.remote_stream(|n: u64| {
    ///     futures::stream::iter(0..n).then(|i| async move {
    ///         tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    ///         i * 10
    ///     })
    /// });
    /// let refs: Vec<_> = ticks.remote(3).block_iter().collect();
    /// assert_eq!(taskref::block_get_all(refs)?, [0, 10, 20]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remote_stream<F, L>(&self, f: F) -> crate::StreamFn<F, L, AsyncTask>
    where
        F: Func<L>,
        F::Output: futures::Stream + Send + 'static,
    {
        crate::StreamFn::new(RemoteFn::new(self.clone(), f, TaskOptions::default()))
    }

    /// Registers a blocking streaming function: one that returns an
    /// iterator, driven on the blocking pool (holding 1 CPU by default), each
    /// item handed out as a ref as soon as the iterator yields it. The
    /// blocking twin of [`remote_stream`](Runtime::remote_stream).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let lines = rt.remote_stream_blocking(|text: String| {
    ///     text.lines().map(str::to_uppercase).collect::<Vec<_>>()
    /// });
    /// let refs: Vec<_> = lines.remote("a\nb".to_owned()).block_iter().collect();
    /// assert_eq!(taskref::block_get_all(refs)?, ["A", "B"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remote_stream_blocking<F, L>(&self, f: F) -> crate::StreamFn<F, L, BlockingTask>
    where
        F: Func<L>,
        F::Output: IntoIterator,
    {
        crate::StreamFn::new(RemoteFn::new(self.clone(), f, TaskOptions::default()))
    }

    /// A fallible [`remote_stream`](Runtime::remote_stream): the function's
    /// stream yields `Result<T, E>`s; each `Ok` is an item, and the first
    /// `Err` ends the stream with a ref failing with
    /// [`Error::TaskFailed`](crate::Error::TaskFailed) (whose source is the
    /// error), after the items before it.
    ///
    /// ```
    /// use futures::StreamExt;
    /// let rt = taskref::Runtime::new()?;
    /// let parse = rt.try_remote_stream(|text: String| {
    ///     let words: Vec<String> = text.split(',').map(str::to_owned).collect();
    ///     futures::stream::iter(words).map(|w| w.parse::<u32>())
    /// });
    /// let refs: Vec<_> = parse.remote("1,2,x,4".to_owned()).block_iter().collect();
    /// assert_eq!(refs.len(), 3, "two numbers, then the error");
    /// assert_eq!(refs[1].block_get()?, 2);
    /// assert!(refs[2].block_get().unwrap_err().is_failed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_remote_stream<F, L>(&self, f: F) -> crate::StreamFn<F, L, TryAsyncTask>
    where
        F: Func<L>,
        F::Output: futures::Stream + Send + 'static,
    {
        crate::StreamFn::new(RemoteFn::new(self.clone(), f, TaskOptions::default()))
    }

    /// A fallible [`remote_stream_blocking`](Runtime::remote_stream_blocking):
    /// the function's iterator yields `Result<T, E>`s (see
    /// [`try_remote_stream`](Runtime::try_remote_stream)).
    pub fn try_remote_stream_blocking<F, L>(&self, f: F) -> crate::StreamFn<F, L, TryBlockingTask>
    where
        F: Func<L>,
        F::Output: IntoIterator,
    {
        crate::StreamFn::new(RemoteFn::new(self.clone(), f, TaskOptions::default()))
    }

    /// Registers a fallible async function: each call's `Ok(v)` becomes its
    /// ref's value, and `Err(e)` fails the ref with [`Error::TaskFailed`](crate::Error::TaskFailed) whose
    /// [`source`](std::error::Error::source) is `e` (`E: std::error::Error +
    /// Send + Sync + 'static`). Dependents of a failed call fail with
    /// [`Error::DependencyFailed`](crate::Error::DependencyFailed), whose chain leads back to `e`.
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
        TryAsyncTask: TaskKind<F::Output>,
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
        TryBlockingTask: TaskKind<F::Output>,
    {
        RemoteFn::new(self.clone(), f, TaskOptions::default())
    }
}

/// A function registered with a runtime: `.remote(args)` submits a call and
/// returns its [`ObjectRef`] at once. Ray's `@ray.remote`.
///
/// Made by [`Runtime::remote`] (async functions, run on the tokio workers, 0 CPUs
/// by default) and [`Runtime::remote_blocking`] (CPU-bound functions, run on the
/// blocking pool, 1 CPU by default, so at most `num_cpus` run at once), and their
/// fallible forms [`Runtime::try_remote`] and [`Runtime::try_remote_blocking`].
/// Its type parameters are an implementation detail; store it with `let` or pass
/// it as `impl Clone`.
///
/// `RemoteFn` is a cheap `Clone + Send + Sync` handle: clone it into tasks to
/// submit from them. Options (`name`, `num_cpus`, `resource`, `max_retries`,
/// `retry_on_error`, `timeout`) return a new handle, like Ray's `.options(...)`;
/// the original keeps its own.
///
/// # Examples
///
/// ```
/// use taskref::Runtime;
///
/// let rt = Runtime::builder().num_cpus(2).build().unwrap();
/// let square = rt.remote_blocking(|x: u64| x * x).name("square");
/// let refs: Vec<_> = (0..4).map(|i| square.remote(i)).collect();
/// assert_eq!(taskref::block_get_all(refs).unwrap(), [0, 1, 4, 9]);
/// ```
pub struct RemoteFn<F, L, K> {
    runtime: Runtime,
    func: Arc<F>,
    options: TaskOptions,
    /// Set by `max_retries`, where `L: Clone` is known: retries re-run the
    /// function with a clone of the arguments.
    clone_args: Option<fn(&L) -> L>,
    /// The function's registration when it is distributable and the runtime
    /// runs on a Ray cluster: its calls go there.
    distributable: Option<&'static crate::distributed::Distributable>,
    _marker: PhantomData<fn(L) -> K>,
}

impl<F, L, K> Clone for RemoteFn<F, L, K> {
    fn clone(&self) -> Self {
        RemoteFn {
            runtime: self.runtime.clone(),
            func: Arc::clone(&self.func),
            options: self.options.clone(),
            clone_args: self.clone_args,
            distributable: self.distributable,
            _marker: PhantomData,
        }
    }
}

impl<F, L, K> fmt::Debug for RemoteFn<F, L, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteFn")
            .field("function", &std::any::type_name::<F>())
            .field("kind", &std::any::type_name::<K>())
            .field("options", &self.options)
            .finish()
    }
}

impl<F: 'static, L, K> RemoteFn<F, L, K> {
    pub(crate) fn new(runtime: Runtime, func: F, options: TaskOptions) -> Self {
        let distributable = match runtime.context().cluster() {
            Some(_) => crate::distributed::of::<F>(),
            None => None,
        };
        RemoteFn {
            runtime,
            func: Arc::new(func),
            options,
            clone_args: None,
            distributable,
            _marker: PhantomData,
        }
    }
}

impl<F, L, K> RemoteFn<F, L, K> {
    /// Names the tasks this function submits; errors and debug output show the
    /// name (the default is the submitting call site).
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let f = rt.remote(|x: u8| async move { x }).name("echo");
    /// assert_eq!(f.remote(1).task().name(), Some("echo"));
    /// ```
    #[must_use = "options return a new `RemoteFn`; use the returned value"]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = Some(crate::identity::Label::task(name));
        self
    }

    /// How many CPUs each call holds while it runs (fractions allowed, 1/10,000
    /// precision): at most the runtime's `num_cpus` worth run at once. Defaults to
    /// 1 for blocking functions and 0 (unbounded) for async ones.
    ///
    /// A request larger than the runtime's capacity fails each call's ref with
    /// [`Error::Infeasible`](crate::Error::Infeasible); a negative or NaN request
    /// with [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().num_cpus(2).build().unwrap();
    /// let half = rt.remote_blocking(|x: u8| x).num_cpus(0.5); // four at once
    /// assert_eq!(half.remote(3).block_get().unwrap(), 3);
    /// let greedy = rt.remote_blocking(|x: u8| x).num_cpus(3.0);
    /// assert!(matches!(
    ///     greedy.remote(3).block_get(),
    ///     Err(taskref::Error::Infeasible { .. })
    /// ));
    /// ```
    #[must_use = "options return a new `RemoteFn`; use the returned value"]
    pub fn num_cpus(mut self, cpus: f64) -> Self {
        self.options.num_cpus = Some(cpus);
        self
    }

    /// Re-runs a call up to `retries` more times if it panics or times out
    /// (and, with [`retry_on_error`](RemoteFn::retry_on_error), if it returns
    /// `Err`), as Ray's `max_retries`. Each attempt runs the function anew on a
    /// clone of the arguments, so they must be `Clone`, and takes its resources
    /// anew. After the last attempt the ref holds that attempt's error, and
    /// [`Error::attempts`](crate::Error::attempts) says how many ran.
    ///
    /// On a Ray cluster it is also Ray's `max_retries` for worker deaths.
    /// Unset, a task there is not retried for panics (as in-process) but its
    /// worker's death is retried 3 times, Ray's default: a machine failure
    /// has no in-process twin, and Ray's users count on that default.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let tries = Arc::new(AtomicU32::new(0));
    /// let seen = tries.clone();
    /// let flaky = rt
    ///     .remote(move |x: u32| {
    ///         let attempt = seen.fetch_add(1, Ordering::SeqCst) + 1;
    ///         async move {
    ///             assert!(attempt > 2, "attempt {attempt} fails");
    ///             x * 10
    ///         }
    ///     })
    ///     .max_retries(3);
    /// assert_eq!(flaky.remote(4).block_get().unwrap(), 40);
    /// assert_eq!(tries.load(Ordering::SeqCst), 3);
    /// ```
    #[must_use = "options return a new `RemoteFn`; use the returned value"]
    pub fn max_retries(mut self, retries: u32) -> Self
    where
        L: Clone,
    {
        self.options.policy.max_retries = retries;
        self.options.policy.retries_chosen = true;
        self.clone_args = Some(<L as Clone>::clone);
        self
    }

    /// Whether a call that returns `Err` is retried too (Ray's
    /// `retry_exceptions`); by default only panics and timeouts are. Only
    /// fallible functions ([`Runtime::try_remote`],
    /// [`Runtime::try_remote_blocking`]) return `Err`.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let always = rt
    ///     .try_remote(|_: ()| async { "x".parse::<u8>() })
    ///     .max_retries(2)
    ///     .retry_on_error(true);
    /// assert_eq!(always.remote(()).block_get().unwrap_err().attempts(), 3);
    /// ```
    #[must_use = "options return a new `RemoteFn`; use the returned value"]
    pub fn retry_on_error(mut self, retry: bool) -> Self {
        self.options.policy.retry_on_error = retry;
        self
    }

    /// Stops each attempt that runs longer than `timeout` (counted from when it
    /// starts running): the ref fails with
    /// [`Error::TaskTimedOut`](crate::Error::TaskTimedOut), or the call is
    /// retried while retries remain. An async attempt is dropped at its current
    /// `.await`. A blocking closure cannot be interrupted: its result is
    /// discarded, it keeps its resources until it returns, and
    /// [`current_task`](crate::current_task)`().is_cancelled()` turns true inside
    /// it so it can stop early.
    ///
    /// Unlike [`ObjectRef::get_timeout`], which only stops waiting, this stops
    /// the task.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let slow = rt
    ///     .remote(|_: ()| async { tokio::time::sleep(Duration::from_secs(60)).await })
    ///     .timeout(Duration::from_millis(10));
    /// assert!(slow.remote(()).block_get().unwrap_err().is_task_timeout());
    /// ```
    #[must_use = "options return a new `RemoteFn`; use the returned value"]
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.options.policy.timeout = Some(timeout);
        self
    }
}

impl<F, L, K> RemoteFn<F, L, K> {
    /// The name under which [`#[taskref::remote]`](crate::remote) registered
    /// this function, or `None` for a closure or an unregistered function:
    /// only a registered function can run on a cluster's workers.
    ///
    /// ```
    /// #[taskref::remote]
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    /// let rt = taskref::Runtime::new()?;
    /// assert!(rt.remote_blocking(square).distributed_name().unwrap().ends_with("::square"));
    /// assert_eq!(rt.remote_blocking(|x: u64| x * x).distributed_name(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn distributed_name(&self) -> Option<&'static str>
    where
        F: 'static,
    {
        crate::distributed::of::<F>().map(|entry| entry.name())
    }

    /// How much of a named resource each call holds while it runs (Ray's
    /// `.options(resources={"db": 1})`); the runtime declares capacities with
    /// [`Builder::resource`](crate::Builder::resource). A call starts only when
    /// its arguments are ready *and* all its resources are free, and gives them
    /// back when it finishes. Setting a name again replaces its amount.
    ///
    /// Asking for more than the capacity, or for a resource the runtime does not
    /// have, fails each call's ref at once with
    /// [`Error::Infeasible`](crate::Error::Infeasible) naming the resource; a
    /// negative or NaN amount with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument). An amount of 0
    /// is no request.
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().resource("db", 2.0).build()?;
    /// let query = rt.remote(|q: u32| async move { q }).resource("db", 1.0);
    /// // Twenty queries, at most two at a time.
    /// let refs: Vec<_> = (0..20).map(|q| query.remote(q)).collect();
    /// assert_eq!(taskref::block_get_all(refs)?.len(), 20);
    /// let greedy = query.clone().resource("db", 3.0);
    /// assert!(matches!(greedy.remote(1).block_get(), Err(taskref::Error::Infeasible { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "options return a new `RemoteFn`; use the returned value"]
    pub fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        let name: Arc<str> = Arc::from(name.into());
        self.options
            .resources
            .retain(|(existing, _)| *existing != name);
        self.options.resources.push((name, amount));
        self
    }
}

impl<F, L, K> RemoteFn<F, L, K>
where
    F: Func<L>,
    L: Send + 'static,
    K: TaskKind<F::Output>,
{
    /// Submits one call and returns its ref at once. Ray's `f.remote(x)`.
    ///
    /// `args` is one argument (a value or a ref to one) for a one-parameter
    /// function, a tuple of them for several, `()` for none. The call starts once
    /// every ref argument is ready and its resources are free: on the tokio
    /// workers for async functions, on the blocking pool for blocking ones.
    ///
    /// The ref holds what the call returns; for a fallible function
    /// ([`Runtime::try_remote`], [`Runtime::try_remote_blocking`]), `Ok(v)`
    /// becomes the ref's value and `Err(e)` fails it with
    /// [`Error::TaskFailed`](crate::Error::TaskFailed), `e` as its source.
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let inc = rt.remote(|x: u64| async move { x + 1 });
    /// let two = inc.remote(inc.remote(0)); // no get in between
    /// assert_eq!(two.block_get().unwrap(), 2);
    ///
    /// let sum = rt.remote_blocking(|v: Vec<u64>| v.iter().sum::<u64>());
    /// assert_eq!(sum.remote(rt.put(vec![1, 2, 3])).block_get().unwrap(), 6);
    ///
    /// let parse = rt.try_remote(|s: String| async move { s.parse::<u32>() });
    /// assert_eq!(parse.remote("42".to_string()).block_get().unwrap(), 42);
    /// assert!(parse.remote("x".to_string()).block_get().unwrap_err().is_failed());
    /// ```
    ///
    /// # Errors
    ///
    /// Never at submit time: every failure is the ref's. An infeasible or
    /// invalid resource request, or a shut-down runtime, fails the ref at once
    /// ([`Error::Infeasible`](crate::Error::Infeasible),
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument),
    /// [`Error::Shutdown`](crate::Error::Shutdown)); a failed ref argument
    /// fails it with [`Error::DependencyFailed`](crate::Error::DependencyFailed)
    /// without running the call.
    ///
    /// # Panics
    ///
    /// Never: a panic in the call fails its ref with
    /// [`Error::TaskPanicked`](crate::Error::TaskPanicked).
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the task, but loses its result; keep the ref or use `let _ =`"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> ObjectRef<K::Value> {
        let func = Arc::clone(&self.func);
        let call = move |args: L| func.call(args);
        K::submit(Submission {
            context: self.runtime.context(),
            options: &self.options,
            location: Location::caller(),
            retry: retry_for(self.clone_args, &call),
            args,
            call,
            distributable: self.distributable,
        })
    }
}

impl<F, L, K> RemoteFn<F, L, K> {
    /// The function.
    pub(crate) fn func(&self) -> Arc<F> {
        Arc::clone(&self.func)
    }

    /// The runtime it runs on.
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Its options.
    pub(crate) fn options(&self) -> &TaskOptions {
        &self.options
    }

    /// How a submission of `call` is retried, if it has retries.
    pub(crate) fn retry_for<C: Clone>(&self, call: &C) -> Option<Retry<C, L>> {
        retry_for(self.clone_args, call)
    }
}

impl<F, L, K> RemoteFn<F, L, K>
where
    F: Func<L>,
    L: Send + 'static,
    K: TaskKind<F::Output>,
    K::Value: crate::stream::Split,
{
    /// Submits a call whose value is a tuple, handing back one ref per
    /// element (Ray's `num_returns=n`): consumers of one part wait for the
    /// task, not for each other, and each part moves to its consumer without
    /// a copy. Tuples of two to four elements. If the task fails, each
    /// element's ref fails with [`Error::DependencyFailed`](crate::Error::DependencyFailed),
    /// whose cause is the task's error.
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let stats = rt.remote(|v: Vec<u64>| async move {
    ///     let sum: u64 = v.iter().sum();
    ///     (sum, v.len())
    /// });
    /// let (sum, len) = stats.remote_split(vec![1, 2, 3]);
    /// let mean = rt.remote(|s: u64, n: usize| async move { s as f64 / n as f64 });
    /// assert_eq!(mean.remote((sum, len)).block_get()?, 2.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[must_use = "dropping the refs does not cancel the task, but loses its result"]
    pub fn remote_split<X: IntoArgs<L>>(
        &self,
        args: X,
    ) -> <K::Value as crate::stream::Split>::Refs {
        let location = Location::caller();
        let whole = self.remote(args);
        crate::stream::Split::split(whole, &self.runtime, location)
    }
}

/// How to clone a call closure and its arguments for retries, if asked.
fn retry_for<C: Clone, L>(clone_args: Option<fn(&L) -> L>, _call: &C) -> Option<Retry<C, L>> {
    clone_args.map(|clone_args| Retry {
        clone_call: <C as Clone>::clone,
        clone_args,
    })
}
