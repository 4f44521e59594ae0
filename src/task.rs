//! The one place where user code runs: argument resolution, CPU acquisition,
//! panic capture and completion of the task's slot.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use futures::FutureExt;

mod async_run;
mod attempt;
mod blocking_run;
mod current;
mod finish;
mod guarded;

pub(crate) use attempt::{Policy, Retry};
pub use current::{current_task, CurrentTask};
pub(crate) use finish::{Fallible, Finish, Plain};

use async_run::run_async;
use blocking_run::{once_job, Attempting};
use guarded::Guarded;

use crate::args::IntoArgs;
use crate::error::{Error, TaskInfo};
use crate::object_ref::slot::{self, ErasedSlot, Slot};
use crate::observe::{self, Outcome, Stamp};
use crate::resources::Request;
use crate::runtime::Shared;
use crate::{ObjectId, ObjectRef};

/// Per-function options: Ray's `.options(...)`.
#[derive(Clone, Default)]
pub(crate) struct TaskOptions {
    pub(crate) name: Option<Arc<str>>,
    /// `None`: the default of the task's kind (0 for async, 1 for blocking).
    pub(crate) num_cpus: Option<f64>,
    /// Named resources and amounts, at most one entry per name.
    pub(crate) resources: Vec<(Arc<str>, f64)>,
    /// Retries and timeout.
    pub(crate) policy: Policy,
    /// A method call of the actor named `name`.
    pub(crate) actor_call: bool,
}

impl fmt::Debug for TaskOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskOptions")
            .field("name", &self.name)
            .field("num_cpus", &self.num_cpus)
            .field("resources", &self.resources)
            .field("policy", &self.policy)
            .finish()
    }
}

/// The task's side of its slot. Completing it stores the outcome; dropping it
/// unfinished (the future was dropped by a runtime shutdown or an abort) fails
/// the slot, so no ref waits forever.
pub(crate) struct Completer<T: Send + 'static> {
    slot: Arc<Slot<T>>,
    armed: bool,
    submitted_at: Stamp,
    /// When the task first started running, and on which thread.
    started: Option<(Stamp, u32)>,
}

impl<T: Send + 'static> Completer<T> {
    pub(crate) fn info(&self) -> &TaskInfo {
        self.slot.info()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        self.slot.runtime().expect("a task's slot has a runtime")
    }

    /// Whether someone else (cancel, shutdown) already decided the outcome, in
    /// which case the task should not start.
    pub(crate) fn is_decided(&self) -> bool {
        self.slot.is_done()
    }

    /// Resolves once someone else (cancel, shutdown) decided the outcome: for
    /// a task that waits for something outside a tokio task (an actor call
    /// waiting for its argument on the actor's thread), so a cancel ends the
    /// wait instead of being noticed only when the wait ends.
    pub(crate) fn decided(&self) -> Decided<'_, T> {
        Decided {
            slot: &self.slot,
            key: None,
        }
    }

    /// The error for this task when an argument's task failed. During shutdown
    /// the upstream failure is the shutdown itself, and this task reports the
    /// same (the store is closed before any slot is failed).
    pub(crate) fn upstream_failed(&self, upstream: &Error) -> Error {
        if self.shared().store.is_closed() {
            Error::Shutdown {
                task: self.info().clone(),
            }
        } else {
            Error::dependency_failed(self.info().clone(), upstream)
        }
    }

    /// The task as `current_task()` sees it.
    pub(crate) fn running(
        &self,
        abandoned: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> current::Running {
        let slot: Arc<dyn ErasedSlot> = self.slot.clone();
        current::Running { slot, abandoned }
    }

    /// The task starts running (only its first start counts).
    pub(crate) fn start(&mut self) {
        if self.started.is_none() {
            let worker = u32::try_from(observe::worker_index()).unwrap_or(u32::MAX);
            self.started = Some((Stamp::now(), worker));
            self.shared().observer.counters.started();
            tracing::debug!(task.id = self.info().id().as_u64(), "task started");
        }
    }

    /// The `tracing` span the task runs in (no parent, as tokio's task spans),
    /// boxed, and `None` while no subscriber wants it: a pending task carries
    /// 8 bytes for it instead of 40.
    pub(crate) fn span(&self) -> Option<Box<tracing::Span>> {
        let info = self.info();
        let span = tracing::debug_span!(
            parent: None,
            "task",
            task.id = info.id().as_u64(),
            task.name = info.name(),
            loc.file = info.location().file(),
            loc.line = info.location().line(),
        );
        (!span.is_disabled()).then(|| Box::new(span))
    }

    /// Records how the task ended (counters, timeline, events).
    fn ended(&self) {
        let outcome = self.slot.outcome_kind().unwrap_or(Outcome::Shutdown);
        let info = self.info();
        self.shared()
            .observer
            .task_ended(info, self.submitted_at, self.started, outcome);
        match outcome {
            Outcome::Ok => tracing::debug!(task.id = info.id().as_u64(), "task finished"),
            _ => {
                if let Some(Err(err)) = self.slot.try_read_quietly() {
                    tracing::warn!(task.id = info.id().as_u64(), error = %err, "task failed");
                }
            }
        }
    }

    pub(crate) fn complete(mut self, outcome: Result<T, Error>) {
        self.armed = false;
        let wake = match self.slot.complete_deferred(outcome) {
            Ok(wake) => Some(wake),
            Err(rejected) => {
                // Cancelled or shut down first: the result is discarded.
                slot::drop_quietly(rejected);
                None
            }
        };
        self.ended();
        // Let go of the slot before waking anyone: a reader that holds the last
        // ref then moves the value out instead of cloning it. If every ref is
        // gone already, this drops the value: quietly, see `drop_quietly`.
        slot::drop_quietly(self);
        if let Some(wake) = wake {
            wake.wake_all();
        }
    }
}

/// Future returned by [`Completer::decided`]. Dropped before the outcome is
/// decided, it takes its waker off the slot.
pub(crate) struct Decided<'a, T> {
    slot: &'a Slot<T>,
    /// Where its waker is registered in the slot's waiter list.
    key: Option<usize>,
}

impl<T> Future for Decided<'_, T> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let this = &mut *self;
        this.slot.poll_ready(&mut this.key, cx)
    }
}

impl<T> Drop for Decided<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.slot.remove_waiter(key);
        }
    }
}

impl<T: Send + 'static> Drop for Completer<T> {
    fn drop(&mut self) {
        if self.armed {
            self.slot.fail(|task| Error::Shutdown { task });
            self.ended();
        }
    }
}

/// A task that passed the submit-time checks: its completer and the resources
/// it will hold while it runs.
pub(crate) struct Admitted<T: Send + 'static> {
    pub(crate) completer: Completer<T>,
    pub(crate) request: Request,
}

impl Shared {
    /// Creates the slot of a new task, or a failed one if its CPU request is
    /// invalid or can never be met, or the runtime is shut down.
    pub(crate) fn new_task<T: Send + 'static>(
        self: &Arc<Self>,
        options: &TaskOptions,
        location: &'static Location<'static>,
        default_cpus: f64,
    ) -> (ObjectRef<T>, Option<Admitted<T>>) {
        let mut info = TaskInfo::new(ObjectId::next(), options.name.clone(), location);
        if options.actor_call {
            info = info.into_actor_call();
        }
        let submitted_at = Stamp::now();
        self.observer.submitted(&info);
        let cpus = options.num_cpus.unwrap_or(default_cpus);
        let request = self
            .resources
            .request(&info, cpus, &options.resources, location)
            .and_then(|request| match self.store.is_closed() {
                true => Err(Error::Shutdown { task: info.clone() }),
                false => Ok(request),
            });
        let slot = Arc::new(Slot::pending(info, Some(Arc::clone(self))));
        let object = ObjectRef::from_slot(Arc::clone(&slot));
        match request {
            Ok(request) => {
                let completer = Completer {
                    slot,
                    armed: true,
                    submitted_at,
                    started: None,
                };
                (object, Some(Admitted { completer, request }))
            }
            Err(err) => {
                let outcome = if err.is_shutdown() {
                    Outcome::Shutdown
                } else {
                    Outcome::Failed
                };
                self.observer
                    .task_ended(slot.info(), submitted_at, None, outcome);
                slot.complete(Err(err));
                (object, None)
            }
        }
    }

    /// Records the task behind `object` (and its tokio task, if it has one
    /// yet), for cancel and shutdown.
    pub(crate) fn register<T: Send + 'static>(
        &self,
        object: &ObjectRef<T>,
        task: Option<tokio::task::JoinHandle<()>>,
    ) {
        if let Some(task) = task {
            object.slot.set_task(task);
        }
        let slot: Arc<dyn ErasedSlot> = object.slot.clone();
        self.store.register(object.id(), &slot);
    }

    /// Submits an async task: `call(args)` runs on the tokio workers once
    /// `args` are resolved and its resources are free; `K` says how its output
    /// becomes the ref's value. `retry` (with `max_retries` in the options)
    /// makes further attempts possible.
    pub(crate) fn submit_async<L, X, C, Fut, K>(
        self: &Arc<Self>,
        options: &TaskOptions,
        location: &'static Location<'static>,
        args: X,
        call: C,
        retry: Option<Retry<C, L>>,
    ) -> ObjectRef<K::Value>
    where
        X: IntoArgs<L>,
        L: Send + 'static,
        C: FnOnce(L) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        K: Finish<Fut::Output>,
    {
        let (object, task) = self.new_task::<K::Value>(options, location, 0.0);
        let Some(Admitted { completer, request }) = task else {
            return object;
        };
        let policy = options.policy;
        let lean = request == Request::default() && policy.is_trivial() && args.is_ready();
        let join = if lean {
            // The common case, kept lean (it sets the memory cost of a pending
            // task): nothing to wait for, nothing to acquire, one attempt.
            match args.resolve().now_or_never() {
                Some(Ok(args)) => self
                    .handle
                    .spawn(Guarded::<C, L, Fut, K>::new(completer, call, args)),
                Some(Err(upstream)) => {
                    let err = completer.upstream_failed(&upstream);
                    completer.complete(Err(err));
                    return object;
                }
                None => unreachable!("ready arguments resolve at once"),
            }
        } else {
            let run =
                run_async::<C, L, Fut, K>(completer, args.resolve(), call, retry, request, policy);
            self.handle.spawn(run)
        };
        self.register(&object, Some(join));
        object
    }

    /// Submits a blocking task: `call(args)` runs on the blocking pool once
    /// `args` are resolved and its resources (1 CPU by default) are free.
    pub(crate) fn submit_blocking<L, X, C, R, K>(
        self: &Arc<Self>,
        options: &TaskOptions,
        location: &'static Location<'static>,
        args: X,
        call: C,
        retry: Option<Retry<C, L>>,
    ) -> ObjectRef<K::Value>
    where
        X: IntoArgs<L>,
        L: Send + 'static,
        C: FnOnce(L) -> R + Send + 'static,
        R: Send + 'static,
        K: Finish<R>,
    {
        let (object, task) = self.new_task::<K::Value>(options, location, 1.0);
        let Some(Admitted { completer, request }) = task else {
            return object;
        };
        let policy = options.policy;
        if !args.is_ready() {
            // Wait for the arguments in an async task, then queue for resources.
            let resolving = args.resolve();
            let join = self.handle.spawn(async move {
                match resolving.await {
                    Ok(args) => {
                        start_blocking::<C, L, R, K>(completer, call, args, retry, request, policy)
                    }
                    Err(upstream) => {
                        let err = completer.upstream_failed(&upstream);
                        completer.complete(Err(err));
                    }
                }
            });
            self.register(&object, Some(join));
            return object;
        }
        let args = match args.resolve().now_or_never() {
            Some(Ok(args)) => args,
            Some(Err(upstream)) => {
                let err = completer.upstream_failed(&upstream);
                completer.complete(Err(err));
                return object;
            }
            None => unreachable!("ready arguments resolve at once"),
        };
        if policy.is_trivial() {
            if let Some(permit) = self.resources.try_acquire(&request) {
                // Runs at once: keep its JoinHandle, so the task's memory is
                // freed by the reader.
                let job = once_job::<C, L, R, K>(completer, call, args);
                let join = self.handle.spawn_blocking(move || job.run_chain(permit));
                self.register(&object, Some(join));
                return object;
            }
        }
        self.register(&object, None);
        start_blocking::<C, L, R, K>(completer, call, args, retry, request, policy);
        object
    }
}

/// Queues a blocking task (with resolved arguments) for its resources.
fn start_blocking<C, L, R, K>(
    completer: Completer<K::Value>,
    call: C,
    args: L,
    retry: Option<Retry<C, L>>,
    request: Request,
    policy: Policy,
) where
    C: FnOnce(L) -> R + Send + 'static,
    L: Send + 'static,
    R: Send + 'static,
    K: Finish<R>,
{
    if policy.is_trivial() {
        let shared = Arc::clone(completer.shared());
        let job = once_job::<C, L, R, K>(completer, call, args);
        shared.resources.run_when_free(&shared.handle, request, job);
    } else {
        Attempting::<C, L, K, R>::start(completer, call, args, retry, request, policy);
    }
}
