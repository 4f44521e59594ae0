//! The one place where user code runs: argument resolution, CPU acquisition,
//! panic capture and completion of the task's slot.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::sync::Arc;

use futures::FutureExt;

mod guarded;
use guarded::Guarded;

use crate::args::IntoArgs;
use crate::error::{Error, TaskInfo};
use crate::object_ref::slot::{ErasedSlot, Slot};
use crate::resources::{BlockingTaskScope, Job, Permit, Request};
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
}

impl fmt::Debug for TaskOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskOptions")
            .field("name", &self.name)
            .field("num_cpus", &self.num_cpus)
            .field("resources", &self.resources)
            .finish()
    }
}

/// The task's side of its slot. Completing it stores the outcome; dropping it
/// unfinished (the future was dropped by a runtime shutdown or an abort) fails
/// the slot, so no ref waits forever.
pub(crate) struct Completer<T: Send + 'static> {
    slot: Arc<Slot<T>>,
    armed: bool,
}

impl<T: Send + 'static> Completer<T> {
    pub(crate) fn info(&self) -> &TaskInfo {
        self.slot.info()
    }

    fn shared(&self) -> &Arc<Shared> {
        self.slot.runtime().expect("a task's slot has a runtime")
    }

    /// Whether someone else (cancel, shutdown) already decided the outcome, in
    /// which case the task should not start.
    pub(crate) fn is_decided(&self) -> bool {
        self.slot.is_done()
    }

    /// The error for this task when an argument's task failed. During shutdown
    /// the upstream failure is the shutdown itself, and this task reports the
    /// same (the store is closed before any slot is failed).
    fn upstream_failed(&self, upstream: &Error) -> Error {
        if self.shared().store.is_closed() {
            Error::Shutdown {
                task: self.info().clone(),
            }
        } else {
            Error::dependency_failed(self.info().clone(), upstream)
        }
    }

    pub(crate) fn complete(mut self, outcome: Result<T, Error>) {
        self.armed = false;
        let wake = self.slot.complete_deferred(outcome);
        // Let go of the slot before waking anyone: a reader that holds the last
        // ref then moves the value out instead of cloning it.
        drop(self);
        if let Some(wake) = wake {
            wake.wake_all();
        }
    }
}

impl<T: Send + 'static> Drop for Completer<T> {
    fn drop(&mut self) {
        if self.armed {
            self.slot.fail(|task| Error::Shutdown { task });
        }
    }
}

/// A task that passed the submit-time checks: its completer and the resources
/// it will hold while it runs.
struct Admitted<T: Send + 'static> {
    completer: Completer<T>,
    request: Request,
}

impl Shared {
    /// Creates the slot of a new task, or a failed one if its CPU request is
    /// invalid or can never be met, or the runtime is shut down.
    fn new_task<T: Send + 'static>(
        self: &Arc<Self>,
        options: &TaskOptions,
        location: &'static Location<'static>,
        default_cpus: f64,
    ) -> (ObjectRef<T>, Option<Admitted<T>>) {
        let info = TaskInfo::new(ObjectId::next(), options.name.clone(), location);
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
                let completer = Completer { slot, armed: true };
                (object, Some(Admitted { completer, request }))
            }
            Err(err) => {
                slot.complete(Err(err));
                (object, None)
            }
        }
    }

    /// Records the task behind `object` (and its tokio task, if it has one
    /// yet), for cancel and shutdown.
    fn register<T: Send + 'static>(
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

    /// Submits an async task: `call(args)` runs on the tokio workers once `args`
    /// are resolved and its CPUs (0 by default) are free.
    pub(crate) fn submit_async<L, X, Fut>(
        self: &Arc<Self>,
        options: &TaskOptions,
        location: &'static Location<'static>,
        args: X,
        call: impl FnOnce(L) -> Fut + Send + 'static,
    ) -> ObjectRef<Fut::Output>
    where
        X: IntoArgs<L>,
        L: Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let (object, task) = self.new_task(options, location, 0.0);
        let Some(Admitted { completer, request }) = task else {
            return object;
        };
        let join = if request == Request::default() && args.is_ready() {
            // The common case, kept lean (it sets the memory cost of a pending
            // task): no arguments to wait for, no CPU to acquire.
            match args.resolve().now_or_never() {
                Some(Ok(args)) => self.handle.spawn(Guarded::new(completer, call, args)),
                Some(Err(upstream)) => {
                    let err = completer.upstream_failed(&upstream);
                    completer.complete(Err(err));
                    return object;
                }
                None => unreachable!("ready arguments resolve at once"),
            }
        } else {
            self.handle
                .spawn(run_async(completer, args.resolve(), call, request))
        };
        self.register(&object, Some(join));
        object
    }

    /// Submits a blocking task: `call(args)` runs on the blocking pool once
    /// `args` are resolved and its CPUs (1 by default) are free.
    pub(crate) fn submit_blocking<L, X, R>(
        self: &Arc<Self>,
        options: &TaskOptions,
        location: &'static Location<'static>,
        args: X,
        call: impl FnOnce(L) -> R + Send + 'static,
    ) -> ObjectRef<R>
    where
        X: IntoArgs<L>,
        L: Send + 'static,
        R: Send + 'static,
    {
        let (object, task) = self.new_task(options, location, 1.0);
        let Some(Admitted { completer, request }) = task else {
            return object;
        };
        if !args.is_ready() {
            // Wait for the arguments in an async task, then queue for CPU.
            let resolving = args.resolve();
            let join = self.handle.spawn(async move {
                let args = match resolving.await {
                    Ok(args) => args,
                    Err(upstream) => {
                        let err = completer.upstream_failed(&upstream);
                        return completer.complete(Err(err));
                    }
                };
                let shared = Arc::clone(completer.shared());
                let job = blocking_job(completer, call, args);
                shared.resources.run_when_free(&shared.handle, request, job);
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
        let job = blocking_job(completer, call, args);
        match self.resources.try_acquire(&request) {
            Some(permit) => {
                let join = self.handle.spawn_blocking(move || job.run_chain(permit));
                self.register(&object, Some(join));
            }
            None => {
                self.register(&object, None);
                self.resources.run_when_free(&self.handle, request, job);
            }
        }
        object
    }
}

/// The general task: waits for its arguments and its CPUs first.
async fn run_async<L, Fut>(
    completer: Completer<Fut::Output>,
    resolving: impl Future<Output = Result<L, Error>>,
    call: impl FnOnce(L) -> Fut,
    request: Request,
) where
    Fut: Future,
    Fut::Output: Send + 'static,
{
    let args = match resolving.await {
        Ok(args) => args,
        Err(upstream) => {
            let err = completer.upstream_failed(&upstream);
            return completer.complete(Err(err));
        }
    };
    let permit = completer.shared().resources.acquire(request).await;
    Guarded::new(completer, call, args).await;
    drop(permit);
}

/// A blocking task as a job for the CPU pool.
fn blocking_job<L, R>(
    completer: Completer<R>,
    call: impl FnOnce(L) -> R + Send + 'static,
    args: L,
) -> Job
where
    L: Send + 'static,
    R: Send + 'static,
{
    Job::new(move |permit| run_blocking(completer, call, args, permit))
}

/// Runs a blocking task on this thread, then returns the job its CPU was handed
/// to, for this thread to run next.
fn run_blocking<L, R: Send + 'static>(
    completer: Completer<R>,
    call: impl FnOnce(L) -> R,
    args: L,
    permit: Permit,
) -> Option<(Job, Permit)> {
    if completer.is_decided() {
        // Cancelled or shut down while queued: pass the resources on at once.
        return permit.release_for_handoff();
    }
    let scope = BlockingTaskScope::enter(permit);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(move || call(args)));
    // Give the resources back before waking waiters, so a waiter that submits
    // more work at once finds them free.
    let next = scope.finish().release_for_handoff();
    let outcome = outcome.map_err(|payload| Error::panicked(completer.info().clone(), payload));
    completer.complete(outcome);
    next
}
