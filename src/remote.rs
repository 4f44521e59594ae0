//! Remote functions: `rt.remote(f)` / `rt.remote_blocking(f)` and their options.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use crate::args::IntoArgs;
use crate::runtime::Runtime;
use crate::task::{Fallible, Plain, Retry, TaskOptions};
use crate::ObjectRef;

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

/// Marker for remote functions that return a future and run on the async workers.
#[derive(Debug, Clone, Copy)]
pub enum AsyncTask {}

/// Marker for remote functions that run to completion on the blocking pool.
#[derive(Debug, Clone, Copy)]
pub enum BlockingTask {}

/// Marker for fallible async remote functions ([`Runtime::try_remote`]).
#[derive(Debug, Clone, Copy)]
pub enum TryAsyncTask {}

/// Marker for fallible blocking remote functions
/// ([`Runtime::try_remote_blocking`]).
#[derive(Debug, Clone, Copy)]
pub enum TryBlockingTask {}

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
    _marker: PhantomData<fn(L) -> K>,
}

impl<F, L, K> Clone for RemoteFn<F, L, K> {
    fn clone(&self) -> Self {
        RemoteFn {
            runtime: self.runtime.clone(),
            func: Arc::clone(&self.func),
            options: self.options.clone(),
            clone_args: self.clone_args,
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

impl<F, L, K> RemoteFn<F, L, K> {
    pub(crate) fn new(runtime: Runtime, func: F, options: TaskOptions) -> Self {
        RemoteFn {
            runtime,
            func: Arc::new(func),
            options,
            clone_args: None,
            _marker: PhantomData,
        }
    }

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
        self.options.name = Some(Arc::from(name.into()));
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

/// How to clone a call closure and its arguments for retries, if asked.
fn retry_for<C: Clone, L>(clone_args: Option<fn(&L) -> L>, _call: &C) -> Option<Retry<C, L>> {
    clone_args.map(|clone_args| Retry {
        clone_call: <C as Clone>::clone,
        clone_args,
    })
}

impl<F, L, Fut> RemoteFn<F, L, AsyncTask>
where
    F: Func<L, Output = Fut>,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
    L: Send + 'static,
{
    /// Submits one call and returns its ref at once. Ray's `f.remote(x)`.
    ///
    /// `args` is one argument (a value or a ref to one) for a one-parameter
    /// function, a tuple of them for several, `()` for none. The call starts once
    /// every ref argument is ready (and its resources are free); if one fails,
    /// the call never runs and its ref fails with
    /// [`Error::DependencyFailed`](crate::Error::DependencyFailed).
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let inc = rt.remote(|x: u64| async move { x + 1 });
    /// let two = inc.remote(inc.remote(0)); // no get in between
    /// assert_eq!(two.block_get().unwrap(), 2);
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the task, but loses its result; keep the ref or use `let _ =`"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> ObjectRef<Fut::Output> {
        let func = Arc::clone(&self.func);
        let call = move |args: L| func.call(args);
        let retry = retry_for(self.clone_args, &call);
        self.runtime.shared().submit_async::<L, X, _, Fut, Plain>(
            &self.options,
            Location::caller(),
            args,
            call,
            retry,
        )
    }
}

impl<F, L, Fut, T, E> RemoteFn<F, L, TryAsyncTask>
where
    F: Func<L, Output = Fut>,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
    L: Send + 'static,
{
    /// Submits one call of a fallible function and returns its ref at once:
    /// `Ok(v)` becomes the ref's value, `Err(e)` fails it with
    /// [`Error::TaskFailed`](crate::Error::TaskFailed), `e` as its source.
    /// Arguments work as for [`RemoteFn::remote`] on infallible functions.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let parse = rt.try_remote(|s: String| async move { s.parse::<u32>() });
    /// assert_eq!(parse.remote("42".to_string()).block_get().unwrap(), 42);
    /// let err = parse.remote("x".to_string()).block_get().unwrap_err();
    /// assert!(err.is_failed());
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the task, but loses its result; keep the ref or use `let _ =`"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> ObjectRef<T> {
        let func = Arc::clone(&self.func);
        let call = move |args: L| func.call(args);
        let retry = retry_for(self.clone_args, &call);
        self.runtime
            .shared()
            .submit_async::<L, X, _, Fut, Fallible>(
                &self.options,
                Location::caller(),
                args,
                call,
                retry,
            )
    }
}

impl<F, L, R> RemoteFn<F, L, BlockingTask>
where
    F: Func<L, Output = R>,
    R: Send + 'static,
    L: Send + 'static,
{
    /// Submits one call and returns its ref at once. Ray's `f.remote(x)`.
    ///
    /// Arguments work as for async functions: values, refs, or a tuple of them.
    /// The call runs on the blocking pool once its ref arguments are ready and its
    /// resources are free.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let sum = rt.remote_blocking(|v: Vec<u64>| v.iter().sum::<u64>());
    /// let data = rt.put(vec![1, 2, 3]);
    /// assert_eq!(sum.remote(data).block_get().unwrap(), 6);
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the task, but loses its result; keep the ref or use `let _ =`"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> ObjectRef<R> {
        let func = Arc::clone(&self.func);
        let call = move |args: L| func.call(args);
        let retry = retry_for(self.clone_args, &call);
        self.runtime.shared().submit_blocking::<L, X, _, R, Plain>(
            &self.options,
            Location::caller(),
            args,
            call,
            retry,
        )
    }
}

impl<F, L, T, E> RemoteFn<F, L, TryBlockingTask>
where
    F: Func<L, Output = Result<T, E>>,
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
    L: Send + 'static,
{
    /// Submits one call of a fallible blocking function: `Ok(v)` becomes the
    /// ref's value, `Err(e)` fails it with
    /// [`Error::TaskFailed`](crate::Error::TaskFailed), `e` as its source.
    ///
    /// ```
    /// use std::error::Error as _;
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let read = rt.try_remote_blocking(|path: String| std::fs::read_to_string(path));
    /// let err = read.remote("/no/such/file".to_string()).block_get().unwrap_err();
    /// let io = err.source().unwrap().downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    /// ```
    #[track_caller]
    #[must_use = "dropping the ref does not cancel the task, but loses its result; keep the ref or use `let _ =`"]
    pub fn remote<X: IntoArgs<L>>(&self, args: X) -> ObjectRef<T> {
        let func = Arc::clone(&self.func);
        let call = move |args: L| func.call(args);
        let retry = retry_for(self.clone_args, &call);
        self.runtime
            .shared()
            .submit_blocking::<L, X, _, Result<T, E>, Fallible>(
                &self.options,
                Location::caller(),
                args,
                call,
                retry,
            )
    }
}
