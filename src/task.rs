//! The one place where user code runs: argument resolution, CPU acquisition,
//! panic capture and completion of the task's slot.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

mod async_run;
mod attempt;
mod blocking_run;
mod current;
mod finish;
mod guarded;
mod on_cluster;
mod submit;

pub(crate) use attempt::{Policy, Retry};
pub(crate) use current::{current_slot, current_slot_in, in_a_task};
pub use current::{current_task, CurrentTask};
pub(crate) use finish::{Erased, UserError};
pub(crate) use on_cluster::{constructor_args, submit_actor_call};
pub(crate) use submit::{new_task, register, Submission};

use finish::Finish;
pub use submit::{AsyncTask, BlockingTask, TaskKind, TryAsyncTask, TryBlockingTask};

use crate::context::RuntimeContext;
use crate::error::Error;
use crate::identity::TaskInfo;
use crate::object_ref::slot::{self, Slot};
use crate::observe::{self, Follow, Outcome, Stamp};
use crate::resources::Request;
use crate::store::Registered;

/// When a task must end, and whose deadline that is (its own timeout's, or
/// an ancestor's it inherited).
pub(crate) type Deadline = Option<(std::time::Instant, crate::ObjectId)>;

/// Per-function options: Ray's `.options(...)`.
#[derive(Clone, Default)]
pub(crate) struct TaskOptions {
    /// The task's name, or for a method call its actor.
    pub(crate) name: Option<Arc<crate::identity::Label>>,
    /// `None`: the default of the task's kind (0 for async, 1 for blocking).
    pub(crate) num_cpus: Option<f64>,
    /// Named resources and amounts, at most one entry per name.
    pub(crate) resources: Vec<(Arc<str>, f64)>,
    /// Retries and timeout.
    pub(crate) policy: Policy,
    /// Not judged by the detector's rules about submissions: the parts of
    /// a split, whose work is their whole's.
    pub(crate) unjudged: bool,
}

impl fmt::Debug for TaskOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskOptions")
            .field(
                "name",
                &self.name.as_deref().map(crate::identity::Label::name),
            )
            .field("num_cpus", &self.num_cpus)
            .field("resources", &self.resources)
            .field("policy", &self.policy)
            .field("unjudged", &self.unjudged)
            .finish()
    }
}

/// The task's side of its slot. Completing it stores the outcome; dropping it
/// unfinished (the future was dropped by a runtime shutdown or an abort) fails
/// the slot, so no ref waits forever.
pub(crate) struct Completer<T: Send + 'static> {
    slot: Arc<Slot<T>>,
    armed: bool,
    /// The detector follows this task (`Observer::follows`).
    followed: bool,
    submitted_at: Stamp,
    /// When the task first started running, and on which thread.
    started: Option<(Stamp, u32)>,
}

impl<T: Send + 'static> Completer<T> {
    pub(crate) fn new(slot: Arc<Slot<T>>, submitted_at: Stamp, followed: bool) -> Self {
        Completer {
            slot,
            armed: true,
            followed,
            submitted_at,
            started: None,
        }
    }

    pub(crate) fn info(&self) -> &TaskInfo {
        self.slot.info()
    }

    pub(crate) fn context(&self) -> &Arc<RuntimeContext> {
        self.slot.context().expect("a task's slot has a runtime")
    }

    /// Whether the task submitted any task (it is a parent in the task tree).
    /// The task waits for its ref arguments `pending` (not ready): noted
    /// (for the snapshot and the wait-for graph) until the guard drops.
    pub(crate) fn waits_for(
        &self,
        pending: crate::args::PendingArgs,
    ) -> Option<crate::waits::NotedWait> {
        let task: Arc<dyn Registered> = self.slot.clone();
        crate::waits::note_arguments(task, pending)
    }

    /// Whether the task is in a user's get or wait on refs now.
    pub(crate) fn is_waiting_on_refs(&self) -> bool {
        self.slot.is_waiting_on_refs()
    }

    /// The task queues for resources that are not free now.
    pub(crate) fn queued_for(&self, request: &Request) {
        self.slot.queued_for(request);
    }

    pub(crate) fn has_children(&self) -> bool {
        self.slot.has_children()
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
        if self.context().is_closed() {
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
        self.running_until(abandoned, None)
    }

    /// `running`, for an attempt bounded by `deadline` (when, and whose).
    pub(crate) fn running_until(
        &self,
        abandoned: Option<Arc<std::sync::atomic::AtomicBool>>,
        deadline: Option<(std::time::Instant, crate::ObjectId)>,
    ) -> current::Running {
        let slot: Arc<dyn Registered> = self.slot.clone();
        let runtime = Arc::as_ptr(self.context()) as usize;
        current::Running {
            slot,
            abandoned,
            runtime,
            deadline,
            children: std::sync::OnceLock::new(),
            followed: self.followed,
        }
    }

    /// The task starts running (only its first start counts).
    pub(crate) fn start(&mut self) {
        self.slot.started();
        if self.started.is_none() {
            let worker = u32::try_from(observe::worker_index()).unwrap_or(u32::MAX);
            self.started = Some((Stamp::now(), worker));
            self.context()
                .observer()
                .started(self.slot.info(), self.followed);
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

    /// Records how the task ended (counters, timeline, events): with the
    /// outcome the slot holds, which may be a cancel's or a shutdown's that
    /// came first.
    ///
    /// `follow`: what the detector follows of it (see `Follow`).
    fn ended(&self, succeeded: bool, follow: Follow) {
        let info = self.info();
        // A success we stored ourselves needs no second look at the slot.
        let read = match succeeded {
            true => Some(Ok(())),
            false => self.slot.try_read_quietly(),
        };
        let outcome = match read {
            Some(Ok(())) => {
                tracing::debug!(task.id = info.id().as_u64(), "task finished");
                Outcome::Ok
            }
            Some(Err(err)) => {
                let outcome = classify(&err);
                // A cancel or a shutdown was asked for: no warning.
                match outcome {
                    Outcome::Failed => {
                        tracing::warn!(task.id = info.id().as_u64(), error = %err, "task failed")
                    }
                    _ => tracing::debug!(task.id = info.id().as_u64(), error = %err, "task ended"),
                }
                outcome
            }
            None => Outcome::Shutdown,
        };
        self.context().observer().task_ended(
            info,
            self.submitted_at,
            self.started,
            outcome,
            follow,
        );
    }

    /// Runs `call(args)` on this thread as this task (`current_task()` is
    /// set, a panic is caught, `K` maps the output) and completes the slot:
    /// how user code that is not a remote function (an actor's method) runs.
    ///
    /// `deadline`: what it inherited from the task that submitted it; past
    /// it, the call does not run (it fails with `TaskTimedOut`).
    ///
    /// `before_complete` runs once the outcome is known, before the slot is
    /// completed (and its waiters woken): an actor gives the call's place
    /// under its bound back there, so a waiter woken can make the next call.
    pub(crate) fn run_blocking<C, L, R, K>(
        mut self,
        call: C,
        args: L,
        deadline: Deadline,
        before_complete: impl FnOnce(),
    ) where
        C: FnOnce(L) -> R,
        K: Finish<R, Value = T>,
    {
        if let Some(late) = self.past(deadline) {
            before_complete();
            return self.complete(Err(late));
        }
        self.start();
        let span = self.span();
        let running = self.running_until(None, deadline);
        let result = attempt::run_as(running, span.as_deref(), move || call(args));
        let outcome = attempt::outcome::<K, _>(self.info(), result, 1);
        before_complete();
        self.complete(outcome);
    }

    /// The error of a call whose inherited `deadline` has passed already.
    fn past(&self, deadline: Deadline) -> Option<Error> {
        let (at, whose) = deadline?;
        (std::time::Instant::now() >= at).then(|| Error::TaskTimedOut {
            task: self.info().clone(),
            timeout: std::time::Duration::ZERO,
            attempts: 1,
            deadline_of: whose,
        })
    }

    /// The async form of [`run_blocking`](Completer::run_blocking): one
    /// attempt of `call(args)`, polled as this task, then the slot completed.
    pub(crate) async fn run_async<C, L, Fut, K>(
        mut self,
        call: C,
        args: L,
        deadline: Deadline,
        before_complete: impl FnOnce(),
    ) where
        C: FnOnce(L) -> Fut,
        Fut: Future,
        K: Finish<Fut::Output, Value = T>,
    {
        if let Some(late) = self.past(deadline) {
            before_complete();
            return self.complete(Err(late));
        }
        self.start();
        let span = self.span();
        let mut attempt = std::pin::pin!(attempt::Attempt::new(call, args, span));
        let running = || self.running_until(None, deadline);
        let result = std::future::poll_fn(|cx| attempt.as_mut().poll_as(cx, running())).await;
        let outcome = attempt::outcome::<K, _>(self.info(), result, 1);
        before_complete();
        self.complete(outcome);
    }

    /// The task finished elsewhere (on a Ray cluster) and its value stays
    /// there until read: records the end as a success and hands the slot to
    /// whoever fills it.
    pub(crate) fn hand_over(mut self) -> Arc<Slot<T>> {
        self.armed = false;
        self.ended(true, Follow::unfinished(self.followed));
        Arc::clone(&self.slot)
    }

    pub(crate) fn complete(mut self, outcome: Result<T, Error>) {
        self.armed = false;
        let follow = match self.followed {
            true => Follow::Finishing {
                at: Stamp::now(),
                code_began: observe::code_began(self.info().id()),
            },
            false => Follow::Not,
        };
        // The task's own failures are reported if nobody reads them; a
        // dependency's error is reported where it happened.
        let own_failure = matches!(&outcome, Err(err) if is_own_failure(err));
        let is_ok = outcome.is_ok();
        let wake = match self.slot.complete_deferred(outcome, own_failure) {
            Ok(wake) => Some(wake),
            Err(rejected) => {
                // Cancelled or shut down first: the result is discarded.
                slot::drop_quietly(rejected);
                None
            }
        };
        self.ended(is_ok && wake.is_some(), follow);
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
            self.ended(false, Follow::unfinished(self.followed));
        }
    }
}

/// How a failed task counts in stats and on the timeline.
fn classify(err: &Error) -> Outcome {
    if err.is_cancelled() {
        Outcome::Cancelled
    } else if err.is_shutdown() {
        Outcome::Shutdown
    } else {
        Outcome::Failed
    }
}

/// Whether `err` is the task's own failure (its code panicked, returned `Err`
/// or ran out of time), as opposed to one it inherited or was given.
fn is_own_failure(err: &Error) -> bool {
    err.is_panic() || err.is_failed() || err.is_task_timeout() || err.is_cluster()
}

/// A task that passed the submit-time checks: its completer and the resources
/// it will hold while it runs.
pub(crate) struct Admitted<T: Send + 'static> {
    pub(crate) completer: Completer<T>,
    pub(crate) request: Request,
    /// The deadline of the task that submitted it, which it inherits.
    pub(crate) inherited: Option<(std::time::Instant, crate::ObjectId)>,
    /// For a task the detector follows: when its submission's checks were
    /// done (what follows is the cost of submitting it).
    pub(crate) followed_since: Option<Stamp>,
}
