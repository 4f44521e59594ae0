//! Blocking tasks as jobs of the resource pool: a lean one-shot job, and a
//! job per attempt for tasks with retries or a timeout.
//
// A blocking closure cannot be interrupted. When an attempt times out, a
// watcher (an async task on the runtime's timer) decides in its place: it
// starts the next attempt, or fails the task with `TaskTimedOut`, while the
// abandoned closure runs on, keeping its resources until it returns, and its
// result is discarded. Closure and watcher race on one flag: whoever sets it
// first settles the attempt. The same flag makes `current_task().is_cancelled()`
// true inside the abandoned closure, so it can stop early.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::attempt::{self, Attempts, Policy, Retry};
use super::current;
use super::finish::Finish;
use super::Completer;
use crate::context::RuntimeContext;
use crate::error::Error;
use crate::identity::ObjectId;
use crate::identity::TaskInfo;
use crate::resources::{BlockingTaskScope, Job, Permit, Request};

/// A blocking task with a single attempt and no timeout.
pub(crate) fn once_job<C, L, R, K>(completer: Completer<K::Value>, call: C, args: L) -> Job
where
    C: FnOnce(L) -> R + Send + 'static,
    L: Send + 'static,
    K: Finish<R>,
{
    Job::new(move |permit| {
        let mut completer = completer;
        if completer.is_decided() {
            // Cancelled or shut down while queued: pass the resources on at once.
            return permit.release_for_handoff();
        }
        completer.start();
        let span = completer.span();
        let (result, next) = run_closure(permit, completer.running(None), span, move || call(args));
        let outcome = attempt::outcome::<K, _>(completer.info(), result, 1);
        completer.complete(outcome);
        next
    })
}

/// Runs `f` as the current blocking task holding `permit`; gives the resources
/// back (before anyone is woken) and returns the job this thread runs next.
fn run_closure<R>(
    permit: Permit,
    running: current::Running,
    span: Option<Box<tracing::Span>>,
    f: impl FnOnce() -> R,
) -> (Result<R, attempt::Panic>, Option<(Job, Permit)>) {
    let scope = BlockingTaskScope::enter(permit);
    let result = attempt::run_as(running, span.as_deref(), f);
    let next = scope.finish().release_for_handoff();
    (result, next)
}

/// The state of a blocking task with retries or a timeout, shared by its
/// attempts' jobs and their watchers.
pub(crate) struct Attempting<C, L, K: Finish<R>, R> {
    state: Mutex<State<C, L, K::Value>>,
    info: TaskInfo,
    context: Arc<RuntimeContext>,
    request: Request,
    policy: Policy,
}

struct State<C, L, V: Send + 'static> {
    /// `None` once the task's outcome is decided.
    completer: Option<Completer<V>>,
    attempts: Attempts<C, L>,
    number: u32,
}

impl<C, L, K, R> Attempting<C, L, K, R>
where
    C: FnOnce(L) -> R + Send + 'static,
    L: Send + 'static,
    R: Send + 'static,
    K: Finish<R>,
{
    pub(crate) fn start(
        completer: Completer<K::Value>,
        call: C,
        args: L,
        retry: Option<Retry<C, L>>,
        request: Request,
        policy: Policy,
    ) {
        let context = Arc::clone(completer.context());
        let info = completer.info().clone();
        let attempting = Arc::new(Attempting::<C, L, K, R> {
            info,
            state: Mutex::new(State {
                completer: Some(completer),
                attempts: Attempts::new(call, args, retry, policy.max_retries),
                number: 0,
            }),
            context,
            request,
            policy,
        });
        attempting.queue_next();
    }

    fn lock(&self) -> MutexGuard<'_, State<C, L, K::Value>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the next attempt for its resources.
    fn queue_next(self: Arc<Self>) {
        let context = Arc::clone(&self.context);
        let request = self.request.clone();
        let job = Job::new(move |permit| self.run_attempt(permit));
        context.run_when_free(request, job);
    }

    fn run_attempt(self: Arc<Self>, permit: Permit) -> Option<(Job, Permit)> {
        let settled = Arc::new(AtomicBool::new(false));
        let (call, args, number, running, span, deadline) = {
            let mut state = self.lock();
            let decided = !matches!(&state.completer, Some(c) if !c.is_decided());
            let next = if decided { None } else { state.attempts.next() };
            let Some((call, args)) = next else {
                state.completer.take();
                drop(state);
                return permit.release_for_handoff();
            };
            state.number += 1;
            let number = state.number;
            let completer = state.completer.as_mut().expect("checked above");
            completer.start();
            let deadline = self.policy.attempt_deadline(completer.info().id());
            let running = completer.running_until(Some(Arc::clone(&settled)), deadline);
            (call, args, number, running, completer.span(), deadline)
        };
        let limit =
            deadline.map(|(at, whose)| (at.saturating_duration_since(Instant::now()), whose));
        if let Some((Duration::ZERO, whose)) = limit {
            // Past its deadline before it started (it waited for a CPU or
            // its arguments): it does not run at all.
            settled.store(true, Ordering::Release);
            let err = Error::TaskTimedOut {
                task: self.info.clone(),
                timeout: Duration::ZERO,
                attempts: number,
                deadline_of: whose,
            };
            self.retry_or_fail(err);
            return permit.release_for_handoff();
        }
        let own = self.info.id();
        let limit = limit.map(|(left, whose)| match whose == own {
            // Its own timeout as it was set; an ancestor's as what was left.
            true => (self.policy.timeout.unwrap_or(left), whose),
            false => (left, whose),
        });
        let watcher = limit.map(|(timeout, whose)| {
            let location = running.slot.info().location();
            match self.context.sleep(timeout, location) {
                Ok(sleep) => {
                    let this = Arc::clone(&self);
                    let settled = Arc::clone(&settled);
                    Ok(self.context.spawn(async move {
                        let mut sleep = sleep;
                        std::future::poll_fn(|cx| crate::timer::poll_sleep(&mut sleep, cx)).await;
                        this.timed_out(number, &settled, timeout, whose);
                    }))
                }
                Err(err) => Err(err),
            }
        });
        if let Some(Err(err)) = watcher {
            self.decide(Err(err));
            return permit.release_for_handoff();
        }
        let (result, next) = run_closure(permit, running, span, move || call(args));
        if let Some(Ok(watcher)) = watcher {
            watcher.abort();
        }
        if settled.swap(true, Ordering::AcqRel) {
            // The watcher gave up on this attempt first: discard its result.
            return next;
        }
        match attempt::outcome::<K, _>(&self.info, result, number) {
            Ok(value) => self.decide(Ok(value)),
            Err(err) => self.retry_or_fail(err),
        }
        next
    }

    /// The watcher's side: attempt `number` ran out of time.
    fn timed_out(
        self: Arc<Self>,
        number: u32,
        settled: &AtomicBool,
        timeout: Duration,
        deadline_of: ObjectId,
    ) {
        if settled.swap(true, Ordering::AcqRel) {
            return; // it finished in time
        }
        let parent = self
            .lock()
            .completer
            .as_ref()
            .is_some_and(|c| c.has_children());
        if parent {
            self.context
                .time_out_descendants(self.info.id(), timeout, deadline_of);
        }
        let err = Error::TaskTimedOut {
            task: self.info.clone(),
            timeout,
            attempts: number,
            deadline_of,
        };
        self.retry_or_fail(err);
    }

    fn retry_or_fail(self: Arc<Self>, err: Error) {
        let retry = {
            let state = self.lock();
            state.completer.is_some() && self.policy.retries(&err) && state.attempts.has_next()
        };
        if retry {
            tracing::debug!(error = %err, "retrying task");
            self.queue_next();
        } else {
            self.decide(Err(err));
        }
    }

    fn decide(&self, outcome: Result<K::Value, Error>) {
        let completer = self.lock().completer.take();
        if let Some(completer) = completer {
            completer.complete(outcome);
        }
    }
}
