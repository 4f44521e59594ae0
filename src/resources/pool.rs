//! The CPU pool: a FIFO of tasks waiting for CPU, served the moment CPU frees.
//
// A blocking task that must wait for CPU is queued here as a `Job`, not parked in
// an async task: when a running blocking task finishes, the thread it ran on
// takes the next job that now fits and runs it at once. No worker has to wake up
// to hand the CPU over and no new blocking thread has to be woken, which matters
// most when every core is busy (a woken worker would wait for a time slice).
// This is how Ray's workers pick up their next task.
//
// Async waiters (async tasks that ask for CPU, and blocking tasks taking their
// CPU back after a nested get) queue in the same FIFO as wakers, so nobody
// jumps the queue. The queue is strictly FIFO: a large request at the head is
// never starved by a stream of small ones.
//
// Everything is behind one `Mutex`, held only to move numbers and queue
// entries; jobs run and wakers fire after it is released.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::runtime::Handle;

/// A blocking task waiting for CPU. Run with its permit, it returns the next
/// job the same thread should run (the one its release made room for), if any.
pub(crate) struct Job(Box<dyn FnOnce(CpuPermit) -> Option<(Job, CpuPermit)> + Send>);

impl Job {
    pub(crate) fn new(
        run: impl FnOnce(CpuPermit) -> Option<(Job, CpuPermit)> + Send + 'static,
    ) -> Job {
        Job(Box::new(run))
    }

    /// Runs this job and every job handed over to this thread after it.
    pub(crate) fn run_chain(self, permit: CpuPermit) {
        let mut next = Some((self, permit));
        while let Some((job, permit)) = next {
            next = (job.0)(permit);
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Job")
    }
}

enum Queued {
    Job { units: u64, job: Job },
    Waker { units: u64, waiter: Arc<Waiter> },
}

impl Queued {
    fn units(&self) -> u64 {
        match self {
            Queued::Job { units, .. } | Queued::Waker { units, .. } => *units,
        }
    }
}

/// What a queued async waiter is told.
enum WaiterState {
    Waiting(Option<Waker>),
    /// Granted: `true` if it holds units (`false`: the pool closed).
    Granted(bool),
    /// The permit was taken, or the waiter gave up.
    Done,
}

struct Waiter {
    state: Mutex<WaiterState>,
}

impl Waiter {
    fn lock(&self) -> MutexGuard<'_, WaiterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct State {
    available: u64,
    queue: VecDeque<Queued>,
    closed: bool,
}

/// What a release or a close hands out, to act on outside the lock.
enum Grant {
    Job(Job, u64),
    Waker(Arc<Waiter>, u64),
}

pub(crate) struct Pool {
    state: Mutex<State>,
    capacity: u64,
    /// Where jobs that are not handed over inline are run.
    handle: Handle,
}

/// Units of the pool held by a running task; given back on drop.
pub(crate) struct CpuPermit {
    pool: Option<Arc<Pool>>,
    units: u64,
}

impl Pool {
    pub(crate) fn new(capacity: u64, handle: Handle) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(State {
                available: capacity,
                queue: VecDeque::new(),
                closed: false,
            }),
            capacity,
            handle,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    fn permit(self: &Arc<Self>, units: u64) -> CpuPermit {
        CpuPermit {
            pool: (units > 0).then(|| Arc::clone(self)),
            units,
        }
    }

    /// Takes `units` at once if nobody is queued and they are free.
    pub(crate) fn try_acquire(self: &Arc<Self>, units: u64) -> Option<CpuPermit> {
        if units == 0 {
            return Some(CpuPermit::none());
        }
        let mut state = self.lock();
        if state.closed {
            return Some(CpuPermit::none());
        }
        if state.queue.is_empty() && state.available >= units {
            state.available -= units;
            drop(state);
            return Some(self.permit(units));
        }
        None
    }

    /// Returns the job with its permit if it can run now; otherwise queues it
    /// (or drops it, failing its task, if the pool is closed).
    pub(crate) fn run_or_queue(self: &Arc<Self>, units: u64, job: Job) -> Option<(Job, CpuPermit)> {
        if units == 0 {
            return Some((job, CpuPermit::none()));
        }
        let mut state = self.lock();
        if state.closed {
            drop(state);
            drop(job);
            return None;
        }
        if state.queue.is_empty() && state.available >= units {
            state.available -= units;
            drop(state);
            return Some((job, self.permit(units)));
        }
        state.queue.push_back(Queued::Job { units, job });
        None
    }

    /// Waits for `units` in the queue's order.
    pub(crate) fn acquire(self: &Arc<Self>, units: u64) -> Acquire {
        Acquire {
            pool: Arc::clone(self),
            units,
            waiter: None,
        }
    }

    /// Gives `units` back and serves the queue. The first job it makes room for
    /// is returned when `handoff` (the caller's thread runs it next); every other
    /// job is started on the blocking pool.
    fn release(self: &Arc<Self>, units: u64, handoff: bool) -> Option<(Job, CpuPermit)> {
        let grants = {
            let mut state = self.lock();
            state.available += units;
            take_grants(&mut state)
        };
        self.dispatch(grants, handoff)
    }

    fn dispatch(
        self: &Arc<Self>,
        grants: Vec<Grant>,
        mut handoff: bool,
    ) -> Option<(Job, CpuPermit)> {
        let mut inline = None;
        for grant in grants {
            match grant {
                Grant::Job(job, units) => {
                    let permit = self.permit(units);
                    if handoff {
                        handoff = false;
                        inline = Some((job, permit));
                    } else {
                        drop(self.handle.spawn_blocking(move || job.run_chain(permit)));
                    }
                }
                Grant::Waker(waiter, units) => {
                    let mut state = waiter.lock();
                    match std::mem::replace(&mut *state, WaiterState::Granted(units > 0)) {
                        WaiterState::Waiting(waker) => {
                            drop(state);
                            if let Some(waker) = waker {
                                waker.wake();
                            }
                        }
                        // It gave up after it was popped: pass the units on.
                        WaiterState::Granted(_) | WaiterState::Done => {
                            *state = WaiterState::Done;
                            drop(state);
                            drop(self.permit(units));
                        }
                    }
                }
            }
        }
        inline
    }

    /// Closes the pool at shutdown: queued jobs are dropped (which fails their
    /// tasks) and async waiters are let through without CPU.
    pub(crate) fn close(self: &Arc<Self>) {
        let queued = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        for entry in queued {
            match entry {
                Queued::Job { job, .. } => drop(job),
                Queued::Waker { waiter, .. } => {
                    let mut state = waiter.lock();
                    if let WaiterState::Waiting(waker) =
                        std::mem::replace(&mut *state, WaiterState::Granted(false))
                    {
                        drop(state);
                        if let Some(waker) = waker {
                            waker.wake();
                        }
                    }
                }
            }
        }
    }
}

/// Pops every queue entry that now fits, in order, skipping waiters that gave up.
fn take_grants(state: &mut State) -> Vec<Grant> {
    let mut grants = Vec::new();
    while let Some(front) = state.queue.front() {
        if let Queued::Waker { waiter, .. } = front {
            if matches!(*waiter.lock(), WaiterState::Done) {
                state.queue.pop_front();
                continue;
            }
        }
        let units = front.units();
        if units > state.available {
            break;
        }
        state.available -= units;
        match state.queue.pop_front().expect("front exists") {
            Queued::Job { job, units } => grants.push(Grant::Job(job, units)),
            Queued::Waker { waiter, units } => grants.push(Grant::Waker(waiter, units)),
        }
    }
    grants
}

impl CpuPermit {
    pub(crate) fn none() -> CpuPermit {
        CpuPermit {
            pool: None,
            units: 0,
        }
    }

    pub(crate) fn units(&self) -> u64 {
        self.units
    }

    /// Gives the units back; returns the job this thread should run next.
    pub(crate) fn release_for_handoff(mut self) -> Option<(Job, CpuPermit)> {
        let pool = self.pool.take()?;
        pool.release(self.units, true)
    }
}

impl Drop for CpuPermit {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.release(self.units, false);
        }
    }
}

impl fmt::Debug for CpuPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuPermit")
            .field("units", &self.units)
            .finish()
    }
}

/// Future returned by [`Pool::acquire`].
pub(crate) struct Acquire {
    pool: Arc<Pool>,
    units: u64,
    waiter: Option<Arc<Waiter>>,
}

impl Future for Acquire {
    type Output = CpuPermit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CpuPermit> {
        let this = &mut *self;
        let Some(waiter) = &this.waiter else {
            if this.units == 0 {
                return Poll::Ready(CpuPermit::none());
            }
            let mut state = this.pool.lock();
            if state.closed {
                return Poll::Ready(CpuPermit::none());
            }
            if state.queue.is_empty() && state.available >= this.units {
                state.available -= this.units;
                drop(state);
                return Poll::Ready(this.pool.permit(this.units));
            }
            let waiter = Arc::new(Waiter {
                state: Mutex::new(WaiterState::Waiting(Some(cx.waker().clone()))),
            });
            state.queue.push_back(Queued::Waker {
                units: this.units,
                waiter: Arc::clone(&waiter),
            });
            drop(state);
            this.waiter = Some(waiter);
            return Poll::Pending;
        };
        let mut state = waiter.lock();
        match &mut *state {
            WaiterState::Waiting(waker) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            WaiterState::Granted(holds_units) => {
                let units = if *holds_units { this.units } else { 0 };
                *state = WaiterState::Done;
                drop(state);
                this.waiter = None;
                this.units = 0;
                Poll::Ready(this.pool.permit(units))
            }
            WaiterState::Done => unreachable!("polled after completion"),
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(waiter) = self.waiter.take() else {
            return;
        };
        let mut state = waiter.lock();
        match std::mem::replace(&mut *state, WaiterState::Done) {
            // Granted but never taken: give the units back.
            WaiterState::Granted(true) => {
                drop(state);
                drop(self.pool.permit(self.units));
            }
            // Still queued: `take_grants` skips it.
            WaiterState::Waiting(_) | WaiterState::Granted(false) | WaiterState::Done => {}
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("units", &self.units)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker_ref;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pool(capacity: u64) -> (tokio::runtime::Runtime, Arc<Pool>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pool = Pool::new(capacity, rt.handle().clone());
        (rt, pool)
    }

    #[test]
    fn permits_are_bounded_and_returned() {
        let (_rt, pool) = pool(2);
        let a = pool.try_acquire(1).unwrap();
        let _b = pool.try_acquire(1).unwrap();
        assert!(pool.try_acquire(1).is_none());
        drop(a);
        assert!(pool.try_acquire(1).is_some());
    }

    #[test]
    fn a_release_hands_the_next_job_to_the_releasing_thread() {
        let (_rt, pool) = pool(1);
        let permit = pool.try_acquire(1).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&ran);
        let job = Job::new(move |permit| {
            assert_eq!(permit.units(), 1);
            seen.fetch_add(1, Ordering::SeqCst);
            None
        });
        assert!(pool.run_or_queue(1, job).is_none(), "queued: no CPU free");
        let (job, permit) = permit.release_for_handoff().expect("handed over");
        job.run_chain(permit);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert!(
            pool.try_acquire(1).is_some(),
            "the job's permit was released"
        );
    }

    #[test]
    fn waiters_are_served_in_order_and_may_give_up() {
        let (_rt, pool) = pool(1);
        let held = pool.try_acquire(1).unwrap();
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut first = Box::pin(pool.acquire(1));
        let mut second = Box::pin(pool.acquire(1));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(first); // gives up while queued
        drop(held);
        let Poll::Ready(permit) = second.as_mut().poll(&mut cx) else {
            panic!("the second waiter is served once the first gave up");
        };
        assert_eq!(permit.units(), 1);
        assert!(pool.try_acquire(1).is_none());
        drop(permit);
        assert!(pool.try_acquire(1).is_some());
    }

    #[test]
    fn closing_drops_queued_jobs_and_lets_waiters_through() {
        let (_rt, pool) = pool(1);
        let _held = pool.try_acquire(1).unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let flag = Flag(Arc::clone(&dropped));
        assert!(pool
            .run_or_queue(
                1,
                Job::new(move |_| {
                    drop(flag);
                    None
                })
            )
            .is_none());
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut waiting = Box::pin(pool.acquire(1));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        pool.close();
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        let Poll::Ready(permit) = waiting.as_mut().poll(&mut cx) else {
            panic!("closing lets waiters through");
        };
        assert_eq!(permit.units(), 0);
    }
}
