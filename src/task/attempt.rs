//! One run of a task's function, and the source of further runs for retries.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::current::{self, Running};
use super::finish::Finish;
use crate::error::Error;
use crate::identity::ObjectId;
use crate::identity::TaskInfo;

/// A panic's payload.
pub(crate) type Panic = Box<dyn Any + Send>;

/// Retry and timeout settings of a task (from its `RemoteFn`'s options).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    pub(crate) max_retries: u32,
    /// Whether `max_retries` was set: unset, a task on a Ray cluster gets
    /// Ray's default for worker deaths (see `task/on_cluster.rs`).
    pub(crate) retries_chosen: bool,
    pub(crate) retry_on_error: bool,
    pub(crate) timeout: Option<Duration>,
    /// The deadline of an ancestor the task was submitted under (when, and
    /// whose): a time, not a length, so that waiting for a CPU or a retry
    /// does not extend it (see `submit::inherit_deadline`).
    pub(crate) inherited: Option<(Instant, ObjectId)>,
}

impl Policy {
    /// Whether a failed attempt is worth another (if any are left): panics and
    /// timeouts always, `Err`s when asked for.
    pub(crate) fn retries(&self, err: &Error) -> bool {
        match err {
            Error::TaskPanicked { .. } => true,
            // Not past an ancestor's deadline: a retry would be past it too.
            Error::TaskTimedOut {
                task, deadline_of, ..
            } => *deadline_of == task.id(),
            Error::TaskFailed { .. } => self.retry_on_error,
            _ => false,
        }
    }

    /// Whether the task needs the attempt machinery at all.
    pub(crate) fn is_trivial(&self) -> bool {
        self.max_retries == 0 && self.timeout.is_none() && self.inherited.is_none()
    }

    /// When an attempt of task `own` starting now must end, and whose
    /// deadline that is: its own timeout from now, or the inherited
    /// deadline, whichever comes first. A timeout too long to represent is
    /// no deadline.
    pub(crate) fn attempt_deadline(&self, own: ObjectId) -> Option<(Instant, ObjectId)> {
        let mine = self
            .timeout
            .and_then(|limit| Instant::now().checked_add(limit))
            .map(|at| (at, own));
        match (mine, self.inherited) {
            (Some(mine), Some(theirs)) if theirs.0 < mine.0 => Some(theirs),
            (Some(mine), _) => Some(mine),
            (None, theirs) => theirs,
        }
    }
}

/// The function and arguments of each attempt: one, or `1 + max_retries` made
/// by cloning (retries need `Clone` arguments, as Ray's re-execution does).
pub(crate) enum Attempts<C, L> {
    Once(Option<(C, L)>),
    Retrying {
        call: C,
        args: L,
        clone_call: fn(&C) -> C,
        clone_args: fn(&L) -> L,
        left: u32,
    },
}

/// How to clone a task's function and arguments for retries, and how many.
pub(crate) struct Retry<C, L> {
    pub(crate) clone_call: fn(&C) -> C,
    pub(crate) clone_args: fn(&L) -> L,
}

impl<C, L> Attempts<C, L> {
    pub(crate) fn new(call: C, args: L, retry: Option<Retry<C, L>>, max_retries: u32) -> Self {
        match retry {
            Some(retry) if max_retries > 0 => Attempts::Retrying {
                call,
                args,
                clone_call: retry.clone_call,
                clone_args: retry.clone_args,
                left: max_retries + 1,
            },
            _ => Attempts::Once(Some((call, args))),
        }
    }

    pub(crate) fn next(&mut self) -> Option<(C, L)> {
        match self {
            Attempts::Once(once) => once.take(),
            Attempts::Retrying {
                call,
                args,
                clone_call,
                clone_args,
                left,
            } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some((clone_call(call), clone_args(args)))
            }
        }
    }

    pub(crate) fn has_next(&self) -> bool {
        match self {
            Attempts::Once(once) => once.is_some(),
            Attempts::Retrying { left, .. } => *left > 0,
        }
    }
}

/// Runs `f` on this thread as the task `running` (inside its span): the one
/// place where a synchronous attempt's panic is caught. (Async attempts catch
/// theirs in `Attempt::poll_as`.)
pub(crate) fn run_as<R>(
    running: Running,
    span: Option<&tracing::Span>,
    f: impl FnOnce() -> R,
) -> Result<R, Panic> {
    let _span = span.map(tracing::Span::enter);
    let _current = current::enter(running);
    catch_unwind(AssertUnwindSafe(f))
}

/// The error of a failed attempt, or the value of a successful one.
pub(crate) fn outcome<K: Finish<Out>, Out>(
    task: &TaskInfo,
    result: Result<Out, Panic>,
    attempts: u32,
) -> Result<K::Value, Error> {
    match result {
        Ok(out) => K::finish(out).map_err(|source| Error::TaskFailed {
            task: task.clone(),
            source,
            attempts,
        }),
        Err(payload) => Err(Error::panicked(task.clone(), payload, attempts)),
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<C, L, Fut> {
        /// Not polled yet: the function and its (resolved) arguments.
        Start { call: Option<(C, L)> },
        /// Running the user's future.
        Running { #[pin] future: Fut },
    }
}

pin_project! {
    /// One attempt of an async task: calls `call(args)` when first polled and
    /// runs the future it returns, catching a panic in either. While it is
    /// polled, the task is `current_task()`.
    ///
    /// Hand-written rather than `async` blocks: nested generators each kept a
    /// copy of the captured closure beside the future it built (392 bytes
    /// around an 80-byte user future); here they share one enum.
    pub(crate) struct Attempt<C, L, Fut> {
        #[pin]
        stage: Stage<C, L, Fut>,
        span: Option<Box<tracing::Span>>,
    }
}

impl<C, L, Fut> Attempt<C, L, Fut>
where
    C: FnOnce(L) -> Fut,
    Fut: Future,
{
    pub(crate) fn new(call: C, args: L, span: Option<Box<tracing::Span>>) -> Self {
        Attempt {
            stage: Stage::Start {
                call: Some((call, args)),
            },
            span,
        }
    }

    /// Polls the attempt with `running` as the current task meanwhile. (The
    /// caller builds it per poll: storing it here would make every pending
    /// task 24 bytes larger.)
    pub(crate) fn poll_as(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        running: Running,
    ) -> Poll<Result<Fut::Output, Panic>> {
        let this = self.project();
        let _span = this.span.as_deref().map(tracing::Span::enter);
        let _current = current::enter(running);
        poll_stage(this.stage, cx)
    }
}

fn poll_stage<C, L, Fut>(
    mut stage: Pin<&mut Stage<C, L, Fut>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Fut::Output, Panic>>
where
    C: FnOnce(L) -> Fut,
    Fut: Future,
{
    if let StageProj::Start { call } = stage.as_mut().project() {
        let (call, args) = call.take().expect("an attempt starts once");
        match catch_unwind(AssertUnwindSafe(move || call(args))) {
            Ok(future) => stage.set(Stage::Running { future }),
            Err(payload) => return Poll::Ready(Err(payload)),
        }
    }
    let StageProj::Running { future } = stage.project() else {
        unreachable!("started above")
    };
    match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
        Err(payload) => Poll::Ready(Err(payload)),
    }
}
