//! The resource pool: a FIFO of tasks waiting for CPU and named resources,
//! served the moment enough is free.
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

/// Units of each resource a task holds while it runs. CPU is kept apart from
/// the named resources because nearly every request is CPU only, and an empty
/// `Vec` costs no allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) cpu: u64,
    /// `(index of the resource, units)`, at most one entry per resource.
    pub(crate) custom: Vec<(usize, u64)>,
}

impl Request {
    pub(crate) fn cpu(units: u64) -> Request {
        Request {
            cpu: units,
            custom: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.cpu == 0 && self.custom.iter().all(|&(_, units)| units == 0)
    }

    fn fits(&self, available: &[u64]) -> bool {
        self.cpu <= available[0] && self.custom.iter().all(|&(i, units)| units <= available[i])
    }

    fn take_from(&self, available: &mut [u64]) {
        available[0] -= self.cpu;
        for &(i, units) in &self.custom {
            available[i] -= units;
        }
    }

    fn give_to(&self, available: &mut [u64]) {
        available[0] += self.cpu;
        for &(i, units) in &self.custom {
            available[i] += units;
        }
    }
}

/// A blocking task waiting for its resources. Run with its permit, it returns
/// the next job the same thread should run (the one its release made room
/// for), if any.
pub(crate) struct Job(Box<dyn FnOnce(Permit) -> Option<(Job, Permit)> + Send>);

impl Job {
    pub(crate) fn new(run: impl FnOnce(Permit) -> Option<(Job, Permit)> + Send + 'static) -> Job {
        Job(Box::new(run))
    }

    /// Runs this job and every job handed over to this thread after it.
    pub(crate) fn run_chain(self, permit: Permit) {
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
    Job {
        request: Request,
        job: Job,
    },
    Waker {
        request: Request,
        waiter: Arc<Waiter>,
    },
}

impl Queued {
    fn request(&self) -> &Request {
        match self {
            Queued::Job { request, .. } | Queued::Waker { request, .. } => request,
        }
    }
}

/// What a queued async waiter is told.
enum WaiterState {
    Waiting(Option<Waker>),
    /// Granted: `true` if it holds its request (`false`: the pool closed).
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
    /// Free units per resource; index 0 is CPU.
    available: Vec<u64>,
    queue: VecDeque<Queued>,
    closed: bool,
}

/// What a release or a close hands out, to act on outside the lock.
enum Grant {
    Job(Job, Request),
    Waker(Arc<Waiter>, Request),
}

pub(crate) struct Pool {
    state: Mutex<State>,
    /// Total units per resource; index 0 is CPU.
    capacity: Vec<u64>,
    /// Where jobs that are not handed over inline are run.
    handle: Handle,
}

/// Resources held by a running task; given back on drop.
pub(crate) struct Permit {
    pool: Option<Arc<Pool>>,
    request: Request,
}

impl Pool {
    pub(crate) fn new(capacity: Vec<u64>, handle: Handle) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(State {
                available: capacity.clone(),
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

    /// Total units of resource `index` (0 is CPU).
    pub(crate) fn capacity(&self, index: usize) -> u64 {
        self.capacity[index]
    }

    fn permit(self: &Arc<Self>, request: Request) -> Permit {
        Permit {
            pool: (!request.is_empty()).then(|| Arc::clone(self)),
            request,
        }
    }

    /// Takes `request` at once if nobody is queued and it is free.
    pub(crate) fn try_acquire(self: &Arc<Self>, request: &Request) -> Option<Permit> {
        if request.is_empty() {
            return Some(Permit::none());
        }
        let mut state = self.lock();
        if state.closed {
            return Some(Permit::none());
        }
        if state.queue.is_empty() && request.fits(&state.available) {
            request.take_from(&mut state.available);
            drop(state);
            return Some(self.permit(request.clone()));
        }
        None
    }

    /// Returns the job with its permit if it can run now; otherwise queues it
    /// (or drops it, failing its task, if the pool is closed).
    pub(crate) fn run_or_queue(
        self: &Arc<Self>,
        request: Request,
        job: Job,
    ) -> Option<(Job, Permit)> {
        if request.is_empty() {
            return Some((job, Permit::none()));
        }
        let mut state = self.lock();
        if state.closed {
            drop(state);
            drop(job);
            return None;
        }
        if state.queue.is_empty() && request.fits(&state.available) {
            request.take_from(&mut state.available);
            drop(state);
            return Some((job, self.permit(request)));
        }
        state.queue.push_back(Queued::Job { request, job });
        None
    }

    /// Waits for `request` in the queue's order.
    pub(crate) fn acquire(self: &Arc<Self>, request: Request) -> Acquire {
        Acquire {
            pool: Arc::clone(self),
            request,
            waiter: None,
            first: false,
        }
    }

    /// Waits for CPU that a running task lent while it blocked, ahead of the
    /// queue: the task was admitted long ago, and the head of the queue may be
    /// waiting for a named resource that this very task holds (a strict FIFO
    /// would deadlock there).
    pub(crate) fn reacquire(self: &Arc<Self>, request: Request) -> Acquire {
        Acquire {
            pool: Arc::clone(self),
            request,
            waiter: None,
            first: true,
        }
    }

    /// Gives `request` back and serves the queue. The first job it makes room
    /// for is returned when `handoff` (the caller's thread runs it next); every
    /// other job is started on the blocking pool.
    fn release(self: &Arc<Self>, request: &Request, handoff: bool) -> Option<(Job, Permit)> {
        let grants = {
            let mut state = self.lock();
            request.give_to(&mut state.available);
            take_grants(&mut state)
        };
        self.dispatch(grants, handoff)
    }

    fn dispatch(self: &Arc<Self>, grants: Vec<Grant>, mut handoff: bool) -> Option<(Job, Permit)> {
        let mut inline = None;
        for grant in grants {
            match grant {
                Grant::Job(job, request) => {
                    let permit = self.permit(request);
                    if handoff {
                        handoff = false;
                        inline = Some((job, permit));
                    } else {
                        drop(self.handle.spawn_blocking(move || job.run_chain(permit)));
                    }
                }
                Grant::Waker(waiter, request) => {
                    let mut state = waiter.lock();
                    match std::mem::replace(&mut *state, WaiterState::Granted(true)) {
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
                            drop(self.permit(request));
                        }
                    }
                }
            }
        }
        inline
    }

    /// Grants whatever now fits at the head of the queue, after a waiter left
    /// it.
    fn serve(self: &Arc<Self>) {
        let grants = take_grants(&mut self.lock());
        if !grants.is_empty() {
            let handed = self.dispatch(grants, false);
            debug_assert!(handed.is_none(), "no hand-off asked for");
        }
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
        if !front.request().fits(&state.available) {
            break;
        }
        let entry = state.queue.pop_front().expect("front exists");
        entry.request().take_from(&mut state.available);
        match entry {
            Queued::Job { job, request } => grants.push(Grant::Job(job, request)),
            Queued::Waker { waiter, request } => grants.push(Grant::Waker(waiter, request)),
        }
    }
    grants
}

impl Permit {
    pub(crate) fn none() -> Permit {
        Permit {
            pool: None,
            request: Request::default(),
        }
    }

    /// CPU units held.
    #[cfg(test)]
    fn cpu(&self) -> u64 {
        self.request.cpu
    }

    /// Gives the CPU part back (keeping the named resources), for a task that
    /// blocks in a nested get; returns the pool to take it again from.
    pub(crate) fn lend_cpu(&mut self) -> Option<(Arc<Pool>, u64)> {
        let pool = Arc::clone(self.pool.as_ref()?);
        let units = std::mem::take(&mut self.request.cpu);
        if units == 0 {
            return None;
        }
        pool.release(&Request::cpu(units), false);
        Some((pool, units))
    }

    /// Takes back CPU units lent with [`lend_cpu`](Permit::lend_cpu) and
    /// acquired again.
    pub(crate) fn restore_cpu(&mut self, pool: Arc<Pool>, units: u64) {
        self.request.cpu += units;
        self.pool.get_or_insert(pool);
    }

    /// Dissolves the permit without giving anything back (its units are being
    /// merged into another permit); returns its CPU units.
    pub(crate) fn into_units(mut self) -> u64 {
        self.pool = None;
        self.request.cpu
    }

    /// Gives everything back; returns the job this thread should run next.
    pub(crate) fn release_for_handoff(mut self) -> Option<(Job, Permit)> {
        let pool = self.pool.take()?;
        pool.release(&self.request, true)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.release(&self.request, false);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("request", &self.request)
            .finish()
    }
}

/// Future returned by [`Pool::acquire`].
pub(crate) struct Acquire {
    pool: Arc<Pool>,
    request: Request,
    waiter: Option<Arc<Waiter>>,
    /// Served before the queue (see [`Pool::reacquire`]).
    first: bool,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        let Some(waiter) = &this.waiter else {
            if this.request.is_empty() {
                return Poll::Ready(Permit::none());
            }
            let mut state = this.pool.lock();
            if state.closed {
                return Poll::Ready(Permit::none());
            }
            if (this.first || state.queue.is_empty()) && this.request.fits(&state.available) {
                this.request.take_from(&mut state.available);
                drop(state);
                return Poll::Ready(this.pool.permit(std::mem::take(&mut this.request)));
            }
            let waiter = Arc::new(Waiter {
                state: Mutex::new(WaiterState::Waiting(Some(cx.waker().clone()))),
            });
            let entry = Queued::Waker {
                request: this.request.clone(),
                waiter: Arc::clone(&waiter),
            };
            if this.first {
                state.queue.push_front(entry);
            } else {
                state.queue.push_back(entry);
            }
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
            WaiterState::Granted(holds) => {
                let request = if *holds {
                    std::mem::take(&mut this.request)
                } else {
                    Request::default()
                };
                *state = WaiterState::Done;
                drop(state);
                this.waiter = None;
                Poll::Ready(this.pool.permit(request))
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
        let was = std::mem::replace(&mut *state, WaiterState::Done);
        // The waiter's lock is let go before the pool's is taken: a release
        // takes them the other way round.
        drop(state);
        match was {
            // Granted but never taken: give the units back.
            WaiterState::Granted(true) => {
                drop(self.pool.permit(std::mem::take(&mut self.request)));
            }
            // Still queued: `take_grants` skips it from now on. If it was at
            // the head, the entries behind it may fit already (nothing has to
            // be released for that), so serve the queue now rather than at
            // the next release, which may never come.
            WaiterState::Waiting(_) => self.pool.serve(),
            WaiterState::Granted(false) | WaiterState::Done => {}
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("request", &self.request)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker_ref;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pool(capacity: Vec<u64>) -> (tokio::runtime::Runtime, Arc<Pool>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pool = Pool::new(capacity, rt.handle().clone());
        (rt, pool)
    }

    #[test]
    fn permits_are_bounded_and_returned() {
        let (_rt, pool) = pool(vec![2]);
        let a = pool.try_acquire(&Request::cpu(1)).unwrap();
        let _b = pool.try_acquire(&Request::cpu(1)).unwrap();
        assert!(pool.try_acquire(&Request::cpu(1)).is_none());
        drop(a);
        assert!(pool.try_acquire(&Request::cpu(1)).is_some());
    }

    #[test]
    fn a_request_needs_every_resource_it_names() {
        let (_rt, pool) = pool(vec![4, 1]);
        let db = Request {
            cpu: 1,
            custom: vec![(1, 1)],
        };
        let held = pool.try_acquire(&db).unwrap();
        assert!(
            pool.try_acquire(&db).is_none(),
            "the custom resource is taken"
        );
        assert!(pool.try_acquire(&Request::cpu(3)).is_some(), "CPU is not");
        drop(held);
        assert!(pool.try_acquire(&db).is_some());
    }

    #[test]
    fn lending_cpu_keeps_the_named_resources() {
        let (_rt, pool) = pool(vec![1, 1]);
        let mut permit = pool
            .try_acquire(&Request {
                cpu: 1,
                custom: vec![(1, 1)],
            })
            .unwrap();
        let (lent_from, units) = permit.lend_cpu().unwrap();
        assert!(pool.try_acquire(&Request::cpu(1)).is_some(), "CPU is free");
        let other = Request {
            cpu: 0,
            custom: vec![(1, 1)],
        };
        assert!(pool.try_acquire(&other).is_none(), "the named one is not");
        permit.restore_cpu(lent_from, units);
        assert_eq!(permit.cpu(), 1);
    }

    #[test]
    fn a_release_hands_the_next_job_to_the_releasing_thread() {
        let (_rt, pool) = pool(vec![1]);
        let permit = pool.try_acquire(&Request::cpu(1)).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&ran);
        let job = Job::new(move |permit| {
            assert_eq!(permit.cpu(), 1);
            seen.fetch_add(1, Ordering::SeqCst);
            None
        });
        assert!(
            pool.run_or_queue(Request::cpu(1), job).is_none(),
            "queued: no CPU free"
        );
        let (job, permit) = permit.release_for_handoff().expect("handed over");
        job.run_chain(permit);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert!(
            pool.try_acquire(&Request::cpu(1)).is_some(),
            "the job's permit was released"
        );
    }

    #[test]
    fn waiters_are_served_in_order_and_may_give_up() {
        let (_rt, pool) = pool(vec![1]);
        let held = pool.try_acquire(&Request::cpu(1)).unwrap();
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut first = Box::pin(pool.acquire(Request::cpu(1)));
        let mut second = Box::pin(pool.acquire(Request::cpu(1)));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(first); // gives up while queued
        drop(held);
        let Poll::Ready(permit) = second.as_mut().poll(&mut cx) else {
            panic!("the second waiter is served once the first gave up");
        };
        assert_eq!(permit.cpu(), 1);
        assert!(pool.try_acquire(&Request::cpu(1)).is_none());
        drop(permit);
        assert!(pool.try_acquire(&Request::cpu(1)).is_some());
    }

    #[test]
    fn a_waiter_giving_up_at_the_head_lets_the_next_through_at_once() {
        let (_rt, pool) = pool(vec![2, 1]);
        let gpu = Request {
            cpu: 0,
            custom: vec![(1, 1)],
        };
        let _held = pool.try_acquire(&gpu).unwrap();
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut first = Box::pin(pool.acquire(gpu));
        let mut second = Box::pin(pool.acquire(Request::cpu(1)));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(
            second.as_mut().poll(&mut cx).is_pending(),
            "first come, first served"
        );
        drop(first);
        let Poll::Ready(permit) = second.as_mut().poll(&mut cx) else {
            panic!("served when the head gave up, with nothing released");
        };
        assert_eq!(permit.cpu(), 1);
    }

    #[test]
    fn closing_drops_queued_jobs_and_lets_waiters_through() {
        let (_rt, pool) = pool(vec![1]);
        let _held = pool.try_acquire(&Request::cpu(1)).unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let flag = Flag(Arc::clone(&dropped));
        let job = Job::new(move |_| {
            drop(flag);
            None
        });
        assert!(pool.run_or_queue(Request::cpu(1), job).is_none());
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut waiting = Box::pin(pool.acquire(Request::cpu(1)));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        pool.close();
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        let Poll::Ready(permit) = waiting.as_mut().poll(&mut cx) else {
            panic!("closing lets waiters through");
        };
        assert_eq!(permit.cpu(), 0);
    }
}
