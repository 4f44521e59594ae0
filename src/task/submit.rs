//! Submitting a task: the one path every task kind takes, from `f.remote(x)` or
//! `rt.spawn(..)` to user code running on an executor.
//
// # Submit, resolve arguments, run
//
// 1. **Submit** (`submit`): give the task an id and a slot, check its resource
//    request and the runtime's state (an infeasible or invalid request, or a
//    shut-down runtime, fails the ref at once), and register it for shutdown and
//    cancel by id.
// 2. **Resolve arguments**: ready arguments (values, finished refs) are taken at
//    once; otherwise the task waits for them on the async workers. A failed
//    argument fails the task without running it.
// 3. **Run** on the task kind's executor: `Async` polls the call's future on
//    the tokio workers, `Blocking` runs the closure on the blocking pool, once
//    the task's resources are free, with retries and a timeout when asked.
//
// The kind of a task picks its executor and how its output becomes the ref's
// value (`Finish`: as it is, or `Ok(v)` / `Err(e)` for fallible tasks). This is
// the boundary the second executor (a Ray cluster, `on_cluster.rs`) sits
// behind: `submit` is the one place that chooses, per runtime (through
// `RuntimeContext`) and per function (a `#[taskref::remote]` one), between
// the in-process executors below and the cluster.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;

use super::async_run::run_async;
use super::blocking_run::{once_job, Attempting};
use super::finish::{Fallible, Finish, Plain};
use super::guarded::Guarded;
use super::on_cluster;
use super::{Admitted, Completer, Policy, Retry, TaskOptions};
use crate::args::{IntoArgs, PendingArgs};
use crate::context::RuntimeContext;
use crate::distributed::Distributable;
use crate::error::Error;
use crate::identity::{ObjectId, TaskInfo};
use crate::object_ref::slot::Slot;
use crate::object_ref::ObjectRef;
use crate::observe::{Outcome, Stamp};
use crate::resources::Request;
use crate::store::Registered;

/// Marker for remote functions that return a future and run on the async workers.
#[derive(Debug, Clone, Copy)]
pub enum AsyncTask {}

/// Marker for remote functions that run to completion on the blocking pool.
#[derive(Debug, Clone, Copy)]
pub enum BlockingTask {}

/// Marker for fallible async remote functions ([`Runtime::try_remote`](crate::Runtime::try_remote)).
#[derive(Debug, Clone, Copy)]
pub enum TryAsyncTask {}

/// Marker for fallible blocking remote functions
/// ([`Runtime::try_remote_blocking`](crate::Runtime::try_remote_blocking)).
#[derive(Debug, Clone, Copy)]
pub enum TryBlockingTask {}

/// How a kind of task runs a call whose function returns `Out`: on which
/// executor, and what value its ref holds. Implemented by the four markers
/// ([`AsyncTask`], [`BlockingTask`], [`TryAsyncTask`], [`TryBlockingTask`]) and
/// sealed: you never implement or name it.
pub trait TaskKind<Out>: sealed::Sealed + Send + 'static {
    /// The value a call's ref holds: the future's output for async functions,
    /// the returned value for blocking ones, the `Ok` type for fallible ones.
    type Value: Send + 'static;

    /// Submits one call.
    #[doc(hidden)]
    fn submit<L, X, C>(submission: Submission<'_, L, X, C>) -> ObjectRef<Self::Value>
    where
        L: Send + 'static,
        X: IntoArgs<L>,
        C: FnOnce(L) -> Out + Send + 'static;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::AsyncTask {}
    impl Sealed for super::BlockingTask {}
    impl Sealed for super::TryAsyncTask {}
    impl Sealed for super::TryBlockingTask {}
}

/// One call to submit: the runtime, options, call site, arguments and the call.
// `pub` but unreachable: it appears in `TaskKind`'s hidden method, which must
// be public for `RemoteFn::remote` to name `TaskKind` in its bounds.
#[allow(unreachable_pub, missing_debug_implementations)]
pub struct Submission<'a, L, X, C> {
    pub(crate) context: &'a Arc<RuntimeContext>,
    pub(crate) options: &'a TaskOptions,
    pub(crate) location: &'static Location<'static>,
    pub(crate) args: X,
    pub(crate) call: C,
    /// Set where `max_retries` is: how to clone the call and its arguments.
    pub(crate) retry: Option<Retry<C, L>>,
    /// The function's registration, if it is distributable
    /// (`#[taskref::remote]`) and the runtime runs on a Ray cluster.
    pub(crate) distributable: Option<&'static Distributable>,
}

impl<Fut> TaskKind<Fut> for AsyncTask
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Value = Fut::Output;

    fn submit<L, X, C>(submission: Submission<'_, L, X, C>) -> ObjectRef<Fut::Output>
    where
        L: Send + 'static,
        X: IntoArgs<L>,
        C: FnOnce(L) -> Fut + Send + 'static,
    {
        submit::<L, X, C, Fut, Async<Fut>, Plain>(submission)
    }
}

impl<Fut, T, E> TaskKind<Fut> for TryAsyncTask
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    type Value = T;

    fn submit<L, X, C>(submission: Submission<'_, L, X, C>) -> ObjectRef<T>
    where
        L: Send + 'static,
        X: IntoArgs<L>,
        C: FnOnce(L) -> Fut + Send + 'static,
    {
        submit::<L, X, C, Fut, Async<Fut>, Fallible>(submission)
    }
}

impl<R: Send + 'static> TaskKind<R> for BlockingTask {
    type Value = R;

    fn submit<L, X, C>(submission: Submission<'_, L, X, C>) -> ObjectRef<R>
    where
        L: Send + 'static,
        X: IntoArgs<L>,
        C: FnOnce(L) -> R + Send + 'static,
    {
        submit::<L, X, C, R, Blocking, Plain>(submission)
    }
}

impl<T, E> TaskKind<Result<T, E>> for TryBlockingTask
where
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    type Value = T;

    fn submit<L, X, C>(submission: Submission<'_, L, X, C>) -> ObjectRef<T>
    where
        L: Send + 'static,
        X: IntoArgs<L>,
        C: FnOnce(L) -> Result<T, E> + Send + 'static,
    {
        submit::<L, X, C, Result<T, E>, Blocking, Fallible>(submission)
    }
}

/// Where a task's call runs, and how.
trait Executor<Out> {
    /// What the task produces when done: the future's output, or the closure's.
    type Raw: Send + 'static;

    /// CPUs a task asks for unless told otherwise: 0 for async tasks, 1 for
    /// blocking ones.
    const DEFAULT_CPUS: f64;

    /// Runs the call on arguments that are ready now. Returns the tokio task
    /// that completes the slot, if there is one to keep yet.
    fn run_now<L, C, K>(
        admitted: Admitted<K::Value>,
        call: C,
        args: L,
        retry: Option<Retry<C, L>>,
        policy: Policy,
    ) -> Option<tokio::task::JoinHandle<()>>
    where
        L: Send + 'static,
        C: FnOnce(L) -> Out + Send + 'static,
        K: Finish<Self::Raw>;

    /// Runs the call once `resolving` yields its arguments. Returns the tokio
    /// task that waits for them.
    fn run_after<L, C, K>(
        admitted: Admitted<K::Value>,
        resolving: impl Future<Output = Result<L, Error>> + Send + 'static,
        call: C,
        retry: Option<Retry<C, L>>,
        policy: Policy,
    ) -> tokio::task::JoinHandle<()>
    where
        L: Send + 'static,
        C: FnOnce(L) -> Out + Send + 'static,
        K: Finish<Self::Raw>;
}

/// The async workers.
struct Async<Fut>(PhantomData<Fut>);

impl<Fut> Executor<Fut> for Async<Fut>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Raw = Fut::Output;
    const DEFAULT_CPUS: f64 = 0.0;

    fn run_now<L, C, K>(
        admitted: Admitted<K::Value>,
        call: C,
        args: L,
        retry: Option<Retry<C, L>>,
        policy: Policy,
    ) -> Option<tokio::task::JoinHandle<()>>
    where
        L: Send + 'static,
        C: FnOnce(L) -> Fut + Send + 'static,
        K: Finish<Fut::Output>,
    {
        let Admitted {
            completer, request, ..
        } = admitted;
        let context = Arc::clone(completer.context());
        if request == Request::default() && policy.is_trivial() {
            // The common case, kept lean (it sets the memory cost of a pending
            // task): nothing to wait for, nothing to acquire, one attempt.
            return Some(context.spawn(Guarded::<C, L, Fut, K>::new(completer, call, args)));
        }
        let resolved = std::future::ready(Ok(args));
        let run = run_async::<C, L, Fut, K>(completer, resolved, call, retry, request, policy);
        Some(context.spawn(run))
    }

    fn run_after<L, C, K>(
        admitted: Admitted<K::Value>,
        resolving: impl Future<Output = Result<L, Error>> + Send + 'static,
        call: C,
        retry: Option<Retry<C, L>>,
        policy: Policy,
    ) -> tokio::task::JoinHandle<()>
    where
        L: Send + 'static,
        C: FnOnce(L) -> Fut + Send + 'static,
        K: Finish<Fut::Output>,
    {
        let Admitted {
            completer, request, ..
        } = admitted;
        let context = Arc::clone(completer.context());
        context.spawn(run_async::<C, L, Fut, K>(
            completer, resolving, call, retry, request, policy,
        ))
    }
}

/// The blocking pool, bounded by the task's resources.
struct Blocking;

impl<R: Send + 'static> Executor<R> for Blocking {
    type Raw = R;
    const DEFAULT_CPUS: f64 = 1.0;

    fn run_now<L, C, K>(
        admitted: Admitted<K::Value>,
        call: C,
        args: L,
        retry: Option<Retry<C, L>>,
        policy: Policy,
    ) -> Option<tokio::task::JoinHandle<()>>
    where
        L: Send + 'static,
        C: FnOnce(L) -> R + Send + 'static,
        K: Finish<R>,
    {
        let Admitted {
            completer, request, ..
        } = admitted;
        let context = Arc::clone(completer.context());
        if policy.is_trivial() {
            if let Some(permit) = context.resources().try_acquire(&request) {
                // Runs at once: keep its JoinHandle, so the task's memory is
                // freed by the reader.
                let job = once_job::<C, L, R, K>(completer, call, args);
                return Some(context.spawn_blocking(move || job.run_chain(permit)));
            }
        }
        queue_blocking::<C, L, R, K>(
            Admitted {
                completer,
                request,
                inherited: None,
                followed_since: None,
            },
            call,
            args,
            retry,
            policy,
        );
        None
    }

    fn run_after<L, C, K>(
        admitted: Admitted<K::Value>,
        resolving: impl Future<Output = Result<L, Error>> + Send + 'static,
        call: C,
        retry: Option<Retry<C, L>>,
        policy: Policy,
    ) -> tokio::task::JoinHandle<()>
    where
        L: Send + 'static,
        C: FnOnce(L) -> R + Send + 'static,
        K: Finish<R>,
    {
        // Wait for the arguments in an async task, then queue for resources
        // (never `try_acquire` here: the task was registered without a handle
        // to its blocking thread, and one cancel path is enough).
        let context = Arc::clone(admitted.completer.context());
        context.spawn(async move {
            match resolving.await {
                Ok(args) => queue_blocking::<C, L, R, K>(admitted, call, args, retry, policy),
                Err(upstream) => {
                    let completer = admitted.completer;
                    let err = completer.upstream_failed(&upstream);
                    completer.complete(Err(err));
                }
            }
        })
    }
}

/// Queues a blocking task, its arguments resolved, for its resources: one job
/// when it runs once, one job per attempt when it has retries or a timeout.
fn queue_blocking<C, L, R, K>(
    admitted: Admitted<K::Value>,
    call: C,
    args: L,
    retry: Option<Retry<C, L>>,
    policy: Policy,
) where
    L: Send + 'static,
    C: FnOnce(L) -> R + Send + 'static,
    R: Send + 'static,
    K: Finish<R>,
{
    let Admitted {
        completer, request, ..
    } = admitted;
    completer.queued_for(&request);
    if policy.is_trivial() {
        let context = Arc::clone(completer.context());
        let job = once_job::<C, L, R, K>(completer, call, args);
        context.run_when_free(request, job);
    } else {
        Attempting::<C, L, K, R>::start(completer, call, args, retry, request, policy);
    }
}

/// Submits a call: the one path of every task (see the module doc).
fn submit<L, X, C, Out, E, K>(submission: Submission<'_, L, X, C>) -> ObjectRef<K::Value>
where
    L: Send + 'static,
    X: IntoArgs<L>,
    C: FnOnce(L) -> Out + Send + 'static,
    E: Executor<Out>,
    K: Finish<E::Raw>,
{
    let Submission {
        context,
        options,
        location,
        args,
        call,
        retry,
        distributable,
    } = submission;
    if let (Some(function), Some(cluster)) = (distributable, context.cluster()) {
        return on_cluster::submit::<L, X, E::Raw, K>(
            context,
            cluster,
            on_cluster::Target::function(function),
            options,
            location,
            args,
        );
    }
    let (object, admitted) = new_task::<K::Value>(context, options, location, E::DEFAULT_CPUS);
    let Some(admitted) = admitted else {
        return object;
    };
    let followed_since = admitted.followed_since;
    // A task submitted under a deadline (from inside a task that has one)
    // runs at most until then, unless its own timeout ends it sooner.
    let policy = Policy {
        inherited: admitted.inherited,
        ..options.policy
    };
    let join = if args.is_ready() {
        match args.resolve().now_or_never() {
            Some(Ok(args)) => E::run_now::<L, C, K>(admitted, call, args, retry, policy),
            Some(Err(upstream)) => {
                let completer = admitted.completer;
                let err = completer.upstream_failed(&upstream);
                completer.complete(Err(err));
                return object;
            }
            None => unreachable!("ready arguments resolve at once"),
        }
    } else {
        // Noted while it waits: the snapshot shows which refs it waits on.
        let noted = admitted.completer.waits_for(PendingArgs::of(&args));
        let resolving = args.resolve();
        let resolving = async move {
            let args = resolving.await;
            drop(noted);
            args
        };
        Some(E::run_after::<L, C, K>(
            admitted, resolving, call, retry, policy,
        ))
    };
    register(context, &object, join);
    if let Some(since) = followed_since {
        context.observer().submit_done(object.task(), since);
    }
    object
}

/// A new task's identity as its submission finds it, recorded with the
/// observer: the shared first step of both executors' submissions.
pub(crate) struct Identified {
    pub(crate) info: TaskInfo,
    pub(crate) submitted_at: Stamp,
    /// Submitted by a task cancelled meanwhile (a blocking task runs on after
    /// its cancel): born cancelled, never run.
    pub(crate) parent_cancelled: bool,
    /// The deadline of the task that submitted it, which it inherits.
    pub(crate) inherited: Option<(Instant, ObjectId)>,
}

/// Names a new task: a fresh id, its options' name, its call site, and its
/// parent (the task of this runtime running on this thread, if any).
pub(crate) fn identify(
    context: &Arc<RuntimeContext>,
    options: &TaskOptions,
    location: &'static Location<'static>,
) -> Identified {
    let mut info = TaskInfo::new(ObjectId::next(), options.name.clone(), location);
    let (mut parent_cancelled, mut inherited) = (false, None);
    if let Some(parent) = super::current::parent_in(Arc::as_ptr(context) as usize) {
        info = info.with_lineage(parent.lineage);
        parent_cancelled = parent.cancelled;
        inherited = parent.deadline;
    }
    let submitted_at = Stamp::now();
    context.observer().submitted(&info);
    Identified {
        info,
        submitted_at,
        parent_cancelled,
        inherited,
    }
}

/// Creates the slot of a new task, or a failed one if its resource request is
/// invalid or can never be met, or the runtime is shut down.
pub(crate) fn new_task<T: Send + 'static>(
    context: &Arc<RuntimeContext>,
    options: &TaskOptions,
    location: &'static Location<'static>,
    default_cpus: f64,
) -> (ObjectRef<T>, Option<Admitted<T>>) {
    let Identified {
        info,
        submitted_at,
        parent_cancelled,
        inherited,
    } = identify(context, options, location);
    let cpus = options.num_cpus.unwrap_or(default_cpus);
    let observer = context.observer();
    let followed = !options.unjudged && observer.follows(info.id());
    // First, so that a refused task still counts as submitted where it ends.
    let admitted = match followed {
        true => observer.follow_submission(&info).map(Some),
        false => Ok(None),
    };
    let mut followed_since = None;
    let request = admitted
        .and_then(|since| {
            followed_since = since;
            context
                .resources()
                .request(&info, cpus, &options.resources, location)
        })
        .and_then(|request| match context.is_closed() {
            true => Err(Error::Shutdown { task: info.clone() }),
            false => Ok(request),
        })
        .and_then(|request| match parent_cancelled {
            true => Err(Error::Cancelled { task: info.clone() }),
            false => Ok(request),
        });
    let slot = Arc::new(Slot::pending(info, Some(Arc::clone(context)), submitted_at));
    let object = ObjectRef::from_slot(Arc::clone(&slot));
    match request {
        Ok(request) => {
            let completer = Completer::new(slot, submitted_at, followed);
            let admitted = Admitted {
                completer,
                request,
                inherited,
                followed_since,
            };
            (object, Some(admitted))
        }
        Err(err) => {
            let follow = crate::observe::Follow::unfinished(followed);
            let outcome = match (err.is_shutdown(), err.is_cancelled()) {
                (true, _) => Outcome::Shutdown,
                (_, true) => Outcome::Cancelled,
                _ => Outcome::Failed,
            };
            context
                .observer()
                .task_ended(slot.info(), submitted_at, None, outcome, follow);
            slot.complete(Err(err));
            (object, None)
        }
    }
}

/// Records the task behind `object` (and its tokio task, if it has one yet),
/// for cancel and shutdown.
pub(crate) fn register<T: Send + 'static>(
    context: &RuntimeContext,
    object: &ObjectRef<T>,
    task: Option<tokio::task::JoinHandle<()>>,
) {
    if let Some(task) = task {
        object.slot.set_task(task);
    }
    let slot: Arc<dyn Registered> = object.slot.clone();
    context.register(object.id(), &slot);
    // Born to a parent cancelled meanwhile: the tree's cancel (which cancels
    // the parent first, then scans for its children) may have scanned before
    // this child was registered. Checked after registering, so that one of
    // the two always sees the other.
    if object.task().parent().is_some() {
        let runtime = context as *const RuntimeContext as usize;
        if super::current::current_cancelled_in(runtime) {
            // It may have run already, and submitted children of its own.
            object.slot.cancel();
            context.cancel_descendants(object.id());
        }
    }
}
