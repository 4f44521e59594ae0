//! The general async task: waits for its arguments, takes its resources, and
//! runs attempts (with a per-attempt timeout and retries, when asked).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::attempt::{self, Attempt, Attempts, Policy, Retry};
use super::finish::Finish;
use super::Completer;
use crate::error::Error;
use crate::resources::{self, LentCpu, Request};

pub(crate) async fn run_async<C, L, Fut, K>(
    completer: Completer<K::Value>,
    resolving: impl Future<Output = Result<L, Error>>,
    call: C,
    retry: Option<Retry<C, L>>,
    request: Request,
    policy: Policy,
) where
    C: FnOnce(L) -> Fut,
    Fut: Future,
    K: Finish<Fut::Output>,
{
    let mut completer = completer;
    let args = match resolving.await {
        Ok(args) => args,
        Err(upstream) => {
            let err = completer.upstream_failed(&upstream);
            return completer.complete(Err(err));
        }
    };
    let context = Arc::clone(completer.context());
    let mut attempts = Attempts::new(call, args, retry, policy.max_retries);
    let mut number = 0;
    while let Some((call, args)) = attempts.next() {
        number += 1;
        // Each attempt takes its resources anew, and only while it runs.
        let mut permit = match context.resources().try_acquire(&request) {
            Some(permit) => permit,
            None => {
                completer.queued_for(&request);
                context.resources().acquire(request.clone()).await
            }
        };
        if completer.is_decided() {
            return;
        }
        completer.start();
        let span = completer.span();
        let mut attempt = pin!(Attempt::new(call, args, span));
        let own = completer.info().id();
        let deadline = policy.attempt_deadline(own);
        let limit = deadline.map(|(at, _)| at.saturating_duration_since(Instant::now()));
        let running = || completer.running_until(None, deadline);
        // While its code waits on refs, a task that holds CPU lends it back,
        // as a blocked blocking task does (and Ray's `ray.get`): tasks that
        // hold every CPU and await a task queued for one would hang.
        let lends = request.cpu > 0;
        let mut lent: Option<LentCpu> = None;
        let mut step = |cx: &mut Context<'_>| {
            if let Some(loan) = &mut lent {
                std::task::ready!(loan.poll_back(cx, &mut permit));
                lent = None;
            }
            let poll = match lends {
                // A `block_*` inside lends the CPU from where it finds it.
                true => {
                    let attempt = attempt.as_mut();
                    resources::polling_with(&mut permit, || attempt.poll_as(cx, running()))
                }
                false => attempt.as_mut().poll_as(cx, running()),
            };
            if poll.is_pending() && lends && completer.is_waiting_on_refs() {
                lent = LentCpu::lend(&mut permit);
            }
            poll
        };
        let result = match limit {
            // Past its deadline before it started: it does not run at all.
            Some(Duration::ZERO) => None,
            None => Some(poll_fn(&mut step).await),
            Some(timeout) => {
                let mut sleep = match context.sleep(timeout, completer.info().location()) {
                    Ok(sleep) => sleep,
                    Err(err) => return completer.complete(Err(err)),
                };
                // `None` when the attempt ran out of time: it is dropped here,
                // at its current `.await`.
                poll_fn(|cx| match step(cx) {
                    Poll::Ready(result) => Poll::Ready(Some(result)),
                    Poll::Pending => crate::timer::poll_sleep(&mut sleep, cx).map(|()| None),
                })
                .await
            }
        };
        drop(permit);
        let err = match result {
            Some(result) => match attempt::outcome::<K, _>(completer.info(), result, number) {
                Ok(value) => return completer.complete(Ok(value)),
                Err(err) => err,
            },
            None => {
                let deadline_of = deadline.map_or(own, |(_, whose)| whose);
                // Its own timeout as it was set; an ancestor's as what was
                // left of it when this attempt started.
                let timeout = match deadline_of == own {
                    true => policy.timeout.unwrap_or_default(),
                    false => limit.unwrap_or_default(),
                };
                // The deadline bounds the subtree: what this attempt started
                // stops with it.
                if completer.has_children() {
                    context.time_out_descendants(own, timeout, deadline_of);
                }
                Error::TaskTimedOut {
                    task: completer.info().clone(),
                    timeout,
                    attempts: number,
                    deadline_of,
                }
            }
        };
        if !(policy.retries(&err) && attempts.has_next()) {
            return completer.complete(Err(err));
        }
        tracing::debug!(task = %completer.info(), attempt = number, error = %err, "retrying task");
    }
}
