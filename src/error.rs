//! The one error type of the crate (the task identity each error carries is
//! `identity::TaskInfo`).

use std::any::Any;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::identity::{ObjectId, TaskInfo};

/// A `Result` whose error is [`taskref::Error`](Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when a task runs or a caller waits for it.
///
/// Errors are values: a panicking task, a failed dependency or a shut-down runtime
/// never take the caller down. Every variant about a task names it (its name if it
/// has one, its id otherwise, and the call site that submitted it) in `Display`.
///
/// `Error` is `Clone` so that every holder of a failed [`ObjectRef`](crate::ObjectRef)
/// can get the same error. It is `#[non_exhaustive]`: match the variants you care
/// about and keep a `_` arm, or use the `is_*` helpers.
///
/// # Examples
///
/// ```
/// use taskref::{Error, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build().unwrap();
/// let r = rt.spawn(async { panic!("boom") });
/// match r.block_get() {
///     Err(Error::TaskPanicked { message, .. }) => assert_eq!(message, "boom"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The task panicked (on its last attempt, if it had retries). Other tasks
    /// and the runtime are unaffected.
    #[non_exhaustive]
    TaskPanicked {
        /// The task that panicked.
        task: TaskInfo,
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
        /// How many attempts ran (1 without retries).
        attempts: u32,
    },
    /// A fallible task (`try_remote`, `try_remote_blocking`) returned `Err(e)`;
    /// `e` is this error's [`source`](std::error::Error::source).
    #[non_exhaustive]
    TaskFailed {
        /// The task that failed.
        task: TaskInfo,
        /// The task's own error.
        source: Arc<dyn std::error::Error + Send + Sync + 'static>,
        /// How many attempts ran (1 without retries).
        attempts: u32,
    },
    /// An attempt ran longer than the task's [`timeout`](crate::RemoteFn::timeout)
    /// (on its last attempt, if it had retries), or past the deadline of a
    /// task above it in the task tree (a timeout bounds the task's subtree).
    /// Unlike [`Error::GetTimeout`], the task was stopped: an async task was
    /// dropped, a blocking task's result is discarded.
    #[non_exhaustive]
    TaskTimedOut {
        /// The task that timed out.
        task: TaskInfo,
        /// The limit it ran out of: its own timeout, or what was left of its
        /// ancestor's when it was submitted.
        timeout: Duration,
        /// How many attempts ran.
        attempts: u32,
        /// Whose deadline it was: this task's own, or the ancestor whose
        /// timeout bounds it.
        deadline_of: ObjectId,
    },
    /// An argument of the task was a ref whose task failed, so this task never ran.
    #[non_exhaustive]
    DependencyFailed {
        /// The task that did not run.
        task: TaskInfo,
        /// Its direct upstream task, the one whose ref was passed as an argument.
        upstream: TaskInfo,
        /// The original error at the root of the chain (never itself a
        /// `DependencyFailed`, so long chains do not nest).
        cause: Arc<Error>,
    },
    /// The task was cancelled before it produced a value.
    #[non_exhaustive]
    Cancelled {
        /// The cancelled task.
        task: TaskInfo,
    },
    /// A `get_timeout` / `block_get_timeout` gave up waiting. The task keeps running
    /// and the ref stays valid.
    #[non_exhaustive]
    GetTimeout {
        /// The task that was waited on.
        task: TaskInfo,
        /// How long the caller waited.
        timeout: Duration,
    },
    /// The runtime was shut down (or dropped) before the task produced a value.
    #[non_exhaustive]
    Shutdown {
        /// The task that did not finish.
        task: TaskInfo,
    },
    /// A `block_*` call was made on a thread that must not block.
    #[non_exhaustive]
    BlockingInAsyncContext {
        /// Where the blocking call was made.
        location: &'static Location<'static>,
    },
    /// A caller passed an argument that cannot work (e.g. `num_returns > refs.len()`).
    #[non_exhaustive]
    InvalidArgument {
        /// What is wrong, and how to fix it.
        message: String,
        /// Where the bad call was made.
        location: &'static Location<'static>,
    },
    /// The task asks for more of a resource than the runtime has in total, so it
    /// could never start.
    #[non_exhaustive]
    Infeasible {
        /// The task that cannot run.
        task: TaskInfo,
        /// The resource (`"CPU"` or a custom name).
        resource: String,
        /// The amount the task asked for.
        requested: f64,
        /// The runtime's total capacity of that resource.
        capacity: f64,
    },
    /// The anti-pattern detector, set to
    /// [`AntiPatterns::Deny`](crate::AntiPatterns::Deny), refused this call.
    #[non_exhaustive]
    AntiPattern {
        /// What was detected, where, and the fix.
        report: crate::anti_pattern::AntiPatternReport,
    },
    /// A get or wait would have closed a cycle of tasks that wait on each
    /// other, so none of them could ever go on. Returned, under
    /// [`AntiPatterns::Deny`](crate::AntiPatterns::Deny), by the wait that
    /// closed the cycle, at the moment it began (under `Warn` the cycle is
    /// logged once and the wait goes on, as it would without the detector).
    /// When two waits close one cycle at the same moment, one of them is
    /// refused and the other goes on.
    ///
    /// Waits with a bound of their own (`get_timeout`, a `wait` with a
    /// timeout or for fewer than all its refs) never count; an `.await`
    /// raced against something else (`select!`, `tokio::time::timeout`)
    /// counts as a wait on the ref alone.
    ///
    /// ```
    /// use taskref::{AntiPatterns, Runtime};
    /// let rt = Runtime::builder().anti_patterns(AntiPatterns::Deny).build()?;
    /// let actor = rt.actor(0u32);
    /// let me = actor.clone();
    /// // A call that waits on a later call to its own actor: that call can
    /// // only run once this one ends.
    /// let err = actor
    ///     .call(move |_: &mut u32| me.call(|n: &mut u32| *n).block_get())
    ///     .block_get()?
    ///     .unwrap_err();
    /// assert!(err.is_deadlock(), "{err}");
    /// let Some(cycle) = err.deadlock_cycle() else { unreachable!() };
    /// assert_eq!(cycle.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[non_exhaustive]
    Deadlock {
        /// The task whose wait closed the cycle.
        task: TaskInfo,
        /// The tasks in the cycle in wait order, `task` first: each waits
        /// on the next, the last on the first. Each says how it waits
        /// (blocked in which call, at which line, on which refs; queued in
        /// which actor's mailbox).
        cycle: Vec<crate::snapshot::TaskSnapshot>,
    },
    /// The actor is dead (killed, its constructor panicked, or every handle
    /// was dropped), or the instance the call was queued for died in a
    /// restart and the call was not marked safe to repeat, so this call
    /// never ran.
    #[non_exhaustive]
    ActorDied {
        /// The call that did not run.
        task: TaskInfo,
        /// The actor's name (or id).
        actor: String,
        /// Why it died.
        cause: String,
    },
    /// The actor's mailbox already held its
    /// [`max_pending_calls`](crate::ActorBuilder::max_pending_calls) calls
    /// (queued or running), so this call was refused at once, never queued
    /// (Ray's `PendingCallsLimitExceeded`). To wait for room instead, keep
    /// the refs of the calls in flight and [`wait`](crate::wait) for one
    /// before making the next.
    #[non_exhaustive]
    PendingCallsLimitExceeded {
        /// The call that was refused.
        task: TaskInfo,
        /// The actor's name.
        actor: String,
        /// Its bound on pending calls.
        limit: usize,
    },
    /// [`Runtime::get_actor`](crate::Runtime::get_actor) found no live actor
    /// of that name in the runtime: none was ever named so, or the one that
    /// was died or stopped.
    #[non_exhaustive]
    ActorNotFound {
        /// The name asked for.
        name: String,
        /// Why there is none: no actor has the name, or how the one that had
        /// it died.
        reason: String,
        /// Where it was asked for.
        location: &'static Location<'static>,
    },
    /// A task on a Ray cluster failed in a way that has no in-process twin:
    /// its worker died, the worker did not know the function (driver and
    /// workers built from different code), a value did not (de)serialize, Ray
    /// itself failed, or the connection to the cluster was lost. (A panic on a
    /// worker is a [`TaskPanicked`](Error::TaskPanicked), a cancel a
    /// [`Cancelled`](Error::Cancelled), as in-process.)
    #[non_exhaustive]
    Cluster {
        /// The task that failed (its call site is the driver's).
        task: TaskInfo,
        /// What went wrong.
        failure: ClusterFailure,
        /// What Ray, the bridge or the worker said.
        message: String,
    },
    /// An async timeout was asked of a runtime whose tokio timer is disabled.
    #[non_exhaustive]
    NoTimer {
        /// Where the timeout was asked for.
        location: &'static Location<'static>,
    },
}

/// What went wrong for an [`Error::Cluster`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClusterFailure {
    /// The worker process (or its node) died while running the task, after
    /// Ray's own retries (`max_retries`).
    WorkerDied,
    /// The worker has no distributable function of that name, or runs
    /// another build of the program than the driver.
    UnknownFunction,
    /// An argument or the result did not serialize or deserialize.
    Serialization,
    /// The connection to the cluster was lost (the cluster went away, or the
    /// bridge process died).
    Disconnected,
    /// Ray failed the task for another reason; the message has Ray's words.
    Ray,
}

impl fmt::Display for ClusterFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClusterFailure::WorkerDied => "its worker died",
            ClusterFailure::UnknownFunction => "the worker does not know the function",
            ClusterFailure::Serialization => "a value did not (de)serialize",
            ClusterFailure::Disconnected => "the connection to the cluster was lost",
            ClusterFailure::Ray => "Ray failed it",
        })
    }
}

impl Error {
    /// The task this error is about, if it is about one.
    pub fn task(&self) -> Option<&TaskInfo> {
        match self {
            Error::TaskPanicked { task, .. }
            | Error::TaskFailed { task, .. }
            | Error::TaskTimedOut { task, .. }
            | Error::DependencyFailed { task, .. }
            | Error::Cancelled { task }
            | Error::GetTimeout { task, .. }
            | Error::Shutdown { task }
            | Error::Infeasible { task, .. }
            | Error::ActorDied { task, .. }
            | Error::PendingCallsLimitExceeded { task, .. }
            | Error::Deadlock { task, .. }
            | Error::Cluster { task, .. } => Some(task),
            Error::BlockingInAsyncContext { .. }
            | Error::InvalidArgument { .. }
            | Error::AntiPattern { .. }
            | Error::ActorNotFound { .. }
            | Error::NoTimer { .. } => None,
        }
    }

    /// The error at the root of a chain of failed dependencies (`self` otherwise).
    pub fn root_cause(&self) -> &Error {
        match self {
            Error::DependencyFailed { cause, .. } => cause,
            other => other,
        }
    }

    /// Whether a task on a Ray cluster failed in a way that has no in-process
    /// twin; [`cluster_failure`](Error::cluster_failure) says which.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Error::Cluster { .. })
    }

    /// What went wrong on the cluster, for an [`Error::Cluster`].
    ///
    /// ```
    /// let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let err = rt.spawn(async { panic!("local") }).block_get().unwrap_err();
    /// assert_eq!(err.cluster_failure(), None); // an in-process panic
    /// ```
    pub fn cluster_failure(&self) -> Option<ClusterFailure> {
        match self {
            Error::Cluster { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// Whether the task panicked (directly, not through a dependency).
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::TaskPanicked { .. })
    }

    /// Whether a fallible task returned `Err` (directly, not through a
    /// dependency).
    pub fn is_failed(&self) -> bool {
        matches!(self, Error::TaskFailed { .. })
    }

    /// Whether the task was stopped by its per-task timeout
    /// ([`Error::TaskTimedOut`]; a get that gave up is [`is_timeout`](Error::is_timeout)).
    pub fn is_task_timeout(&self) -> bool {
        matches!(self, Error::TaskTimedOut { .. })
    }

    /// How many attempts of the task ran before this error: at least 1 for
    /// [`TaskPanicked`](Error::TaskPanicked), [`TaskFailed`](Error::TaskFailed)
    /// and [`TaskTimedOut`](Error::TaskTimedOut) (more with retries), 0 for
    /// errors that are not the outcome of an attempt.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let flaky = rt.remote(|_: ()| async { panic!("always") }).max_retries(2);
    /// assert_eq!(flaky.remote(()).block_get().unwrap_err().attempts(), 3);
    /// ```
    pub fn attempts(&self) -> u32 {
        match self {
            Error::TaskPanicked { attempts, .. }
            | Error::TaskFailed { attempts, .. }
            | Error::TaskTimedOut { attempts, .. } => *attempts,
            _ => 0,
        }
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled { .. })
    }

    /// Whether a get gave up waiting ([`Error::GetTimeout`]; the task keeps
    /// running). A task stopped by its own timeout is
    /// [`is_task_timeout`](Error::is_task_timeout).
    pub fn is_get_timeout(&self) -> bool {
        matches!(self, Error::GetTimeout { .. })
    }

    /// The old name of [`is_get_timeout`](Error::is_get_timeout).
    #[deprecated(
        since = "0.2.0",
        note = "renamed `is_get_timeout`, beside `is_task_timeout`"
    )]
    pub fn is_timeout(&self) -> bool {
        self.is_get_timeout()
    }

    /// Whether a `block_*` call was refused on a thread that must not block
    /// ([`Error::BlockingInAsyncContext`]).
    pub fn is_blocking_in_async_context(&self) -> bool {
        matches!(self, Error::BlockingInAsyncContext { .. })
    }

    /// Whether a call was given an argument that cannot work
    /// ([`Error::InvalidArgument`]).
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self, Error::InvalidArgument { .. })
    }

    /// Whether the task asked for more of a resource than the runtime has
    /// ([`Error::Infeasible`]).
    pub fn is_infeasible(&self) -> bool {
        matches!(self, Error::Infeasible { .. })
    }

    /// Whether the anti-pattern detector refused the call
    /// ([`Error::AntiPattern`]).
    pub fn is_anti_pattern(&self) -> bool {
        matches!(self, Error::AntiPattern { .. })
    }

    /// Whether a wait was refused because it would have closed a cycle of
    /// waits ([`Error::Deadlock`]).
    pub fn is_deadlock(&self) -> bool {
        matches!(self, Error::Deadlock { .. })
    }

    /// The cycle of an [`Error::Deadlock`]: its tasks in wait order.
    pub fn deadlock_cycle(&self) -> Option<&[crate::snapshot::TaskSnapshot]> {
        match self {
            Error::Deadlock { cycle, .. } => Some(cycle),
            _ => None,
        }
    }

    /// Whether an async timeout was asked of a runtime without a timer
    /// ([`Error::NoTimer`]).
    pub fn is_no_timer(&self) -> bool {
        matches!(self, Error::NoTimer { .. })
    }

    /// Whether the runtime was shut down before the task finished.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Error::Shutdown { .. })
    }

    /// Whether the call's actor was dead.
    pub fn is_actor_died(&self) -> bool {
        matches!(self, Error::ActorDied { .. })
    }

    /// Whether the call was refused because its actor had as many calls
    /// pending as it allows ([`Error::PendingCallsLimitExceeded`]).
    pub fn is_pending_calls_limit_exceeded(&self) -> bool {
        matches!(self, Error::PendingCallsLimitExceeded { .. })
    }

    /// Whether no live actor had the name asked for
    /// ([`Error::ActorNotFound`]).
    pub fn is_actor_not_found(&self) -> bool {
        matches!(self, Error::ActorNotFound { .. })
    }

    /// Whether a dependency of the task failed.
    pub fn is_dependency_failed(&self) -> bool {
        matches!(self, Error::DependencyFailed { .. })
    }

    pub(crate) fn panicked(task: TaskInfo, payload: Box<dyn Any + Send>, attempts: u32) -> Error {
        Error::TaskPanicked {
            task,
            message: panic_message(payload.as_ref()),
            attempts,
        }
    }

    /// The error a task gets when the ref given to it as an argument failed.
    /// `DependencyFailed` upstream errors are flattened to their root cause, so a
    /// failing chain of any length builds one error, not a nested tower.
    pub(crate) fn dependency_failed(task: TaskInfo, upstream: &Error) -> Error {
        let upstream_task = upstream.task().cloned().unwrap_or_else(|| task.clone());
        let cause = match upstream {
            Error::DependencyFailed { cause, .. } => Arc::clone(cause),
            other => Arc::new(other.clone()),
        };
        Error::DependencyFailed {
            task,
            upstream: upstream_task,
            cause,
        }
    }
}

/// Extracts a readable message from a panic payload, as tokio's `JoinError` does.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TaskPanicked {
                task,
                message,
                attempts,
            } => {
                write!(f, "{task} panicked with message {message:?}")?;
                write_attempts(f, *attempts)
            }
            Error::TaskFailed {
                task,
                source,
                attempts,
            } => {
                write!(f, "{task} failed: {source}")?;
                write_attempts(f, *attempts)
            }
            Error::TaskTimedOut {
                task,
                timeout,
                attempts,
                deadline_of,
            } => {
                if *deadline_of == task.id() {
                    write!(f, "{task} timed out after {timeout:?} and was stopped")?;
                } else {
                    write!(
                        f,
                        "{task} was stopped at the deadline of task {deadline_of}, \
                         which submitted it (or one of its ancestors did), {timeout:?} after it started"
                    )?;
                }
                write_attempts(f, *attempts)
            }
            Error::DependencyFailed {
                task,
                upstream,
                cause,
            } => write!(
                f,
                "{task} did not run because its dependency {upstream} failed: {cause}"
            ),
            Error::Cancelled { task } => write!(f, "{task} was cancelled"),
            Error::GetTimeout { task, timeout } => {
                write!(f, "{task} was not ready after waiting {timeout:?}")
            }
            Error::Shutdown { task } => {
                write!(f, "{task} did not finish: its runtime was shut down")
            }
            Error::BlockingInAsyncContext { location } => write!(
                f,
                "blocking call at {location} on a thread that must not block: this thread \
                 runs a current-thread tokio runtime or a LocalSet, and blocking it would stop \
                 every task it drives; use the async API (`.await`) here, or call `block_*` \
                 from a plain thread, a multi-thread runtime or a blocking task"
            ),
            Error::InvalidArgument { message, location } => {
                write!(f, "invalid argument at {location}: {message}")
            }
            Error::Infeasible {
                task,
                resource,
                requested,
                capacity,
            } => write!(
                f,
                "{task} is infeasible: it asks for {requested} of resource `{resource}` but \
                 the runtime has {capacity} in total"
            ),
            Error::AntiPattern { report } => write!(f, "{report}"),
            Error::Deadlock { task, cycle } => {
                write!(
                    f,
                    "deadlock: the wait of {task} would never end: these {} tasks wait on each \
                     other in a cycle, each on the next, the last on the first:",
                    cycle.len()
                )?;
                for step in cycle {
                    write!(f, "\n  {step}")?;
                }
                Ok(())
            }
            Error::Cluster {
                task,
                failure,
                message,
            } => write!(f, "{task} failed on the Ray cluster ({failure}): {message}"),
            Error::ActorDied { task, actor, cause } => {
                write!(f, "{task} did not run: the instance of actor `{actor}` it was sent to died ({cause})")
            }
            Error::PendingCallsLimitExceeded { task, actor, limit } => write!(
                f,
                "{task} was refused: actor `{actor}` already has {limit} call{} pending, its \
                 `max_pending_calls`; wait for some to finish before making more",
                if *limit == 1 { "" } else { "s" }
            ),
            Error::ActorNotFound {
                name,
                reason,
                location,
            } => write!(
                f,
                "no live actor named `{name}` (asked at {location}): {reason}"
            ),
            Error::NoTimer { location } => write!(
                f,
                "timeout asked at {location}, but the tokio runtime has no timer: build it \
                 with `enable_time()` (or `enable_all()`)"
            ),
        }
    }
}

fn write_attempts(f: &mut fmt::Formatter<'_>, attempts: u32) -> fmt::Result {
    if attempts > 1 {
        write!(f, " (after {attempts} attempts)")?;
    }
    Ok(())
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::DependencyFailed { cause, .. } => Some(cause.as_ref()),
            Error::TaskFailed { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::ObjectId;

    fn info(name: Option<&str>) -> TaskInfo {
        TaskInfo::new(
            ObjectId::next(),
            name.map(crate::identity::Label::task),
            Location::caller(),
        )
    }

    #[test]
    fn panic_messages_are_extracted_from_str_and_string() {
        assert_eq!(panic_message(&"boom"), "boom");
        assert_eq!(panic_message(&String::from("bang")), "bang");
        assert_eq!(panic_message(&42_u32), "<non-string panic payload>");
    }

    #[test]
    fn display_names_the_task_and_call_site() {
        let err = Error::TaskPanicked {
            task: info(Some("fetch")),
            message: "boom".into(),
            attempts: 1,
        };
        let text = err.to_string();
        assert!(text.starts_with("task `fetch` ("), "{text}");
        assert!(text.contains("error.rs:"), "{text}");
        assert!(text.ends_with("panicked with message \"boom\""), "{text}");
    }

    #[test]
    fn dependency_failures_flatten_to_the_root_cause() {
        let root = Error::TaskPanicked {
            task: info(Some("root")),
            message: "boom".into(),
            attempts: 3,
        };
        assert!(root.to_string().ends_with("(after 3 attempts)"), "{root}");
        let first = Error::dependency_failed(info(Some("a")), &root);
        let second = Error::dependency_failed(info(Some("b")), &first);
        match &second {
            Error::DependencyFailed {
                upstream, cause, ..
            } => {
                assert_eq!(upstream.name(), Some("a"));
                assert!(cause.is_panic());
            }
            other => panic!("unexpected {other:?}"),
        }
        let source = std::error::Error::source(&second).unwrap();
        assert!(source.to_string().contains("`root`"));
        assert!(second.root_cause().is_panic());
    }
}
