//! CPU accounting: how many blocking tasks may run at once, and the CPU a blocked
//! blocking task lends back while it waits.
//
// Amounts are fixed-point with 1/10,000 precision (as Ray's), so ten requests of
// 0.1 CPU fit exactly in one CPU. The capacity is a FIFO pool (`pool.rs`) that
// hands freed CPU straight to the next queued task.
//
// A blocking task that blocks in a nested `block_get` gives its CPU back while it
// waits and takes it again afterwards, as Ray's workers do; otherwise a pool of
// `num_cpus` parents all waiting on children that need a CPU would deadlock. The
// permit therefore lives in a thread-local for the duration of the blocking task,
// where the blocking facade can find it.

mod pool;

pub(crate) use pool::{CpuPermit, Job};

use std::cell::RefCell;
use std::sync::Arc;

use tokio::runtime::Handle;

use pool::Pool;

/// Units of CPU per whole CPU.
pub(crate) const UNITS_PER_CPU: u32 = 10_000;

/// Converts a CPU request to units; `None` for a negative, NaN or absurdly large
/// request.
pub(crate) fn cpu_units(request: f64) -> Option<u32> {
    let units = (request * f64::from(UNITS_PER_CPU)).round();
    (units >= 0.0 && units <= f64::from(u32::MAX)).then_some(units as u32)
}

/// The runtime's CPU capacity.
pub(crate) struct Cpus {
    pool: Arc<Pool>,
}

impl Cpus {
    pub(crate) fn new(num_cpus: usize, handle: Handle) -> Cpus {
        let capacity = num_cpus as u64 * u64::from(UNITS_PER_CPU);
        Cpus {
            pool: Pool::new(capacity, handle),
        }
    }

    pub(crate) fn capacity(&self) -> f64 {
        self.pool.capacity() as f64 / f64::from(UNITS_PER_CPU)
    }

    pub(crate) fn fits(&self, units: u32) -> bool {
        u64::from(units) <= self.pool.capacity()
    }

    /// Takes `units` now if they are free and nobody is queued before us.
    pub(crate) fn try_acquire(&self, units: u32) -> Option<CpuPermit> {
        self.pool.try_acquire(u64::from(units))
    }

    /// Waits until `units` are free and takes them (in queue order).
    pub(crate) async fn acquire(&self, units: u32) -> CpuPermit {
        self.pool.acquire(u64::from(units)).await
    }

    /// Starts `job` on the blocking pool as soon as `units` are free: now, or
    /// when a running task gives CPU back.
    pub(crate) fn run_when_free(&self, handle: &Handle, units: u32, job: Job) {
        if let Some((job, permit)) = self.pool.run_or_queue(u64::from(units), job) {
            drop(handle.spawn_blocking(move || job.run_chain(permit)));
        }
    }

    /// Fails every queued task and lets every waiter through; used at shutdown.
    pub(crate) fn close(&self) {
        self.pool.close();
    }
}

/// What the current thread's blocking task holds.
struct Held {
    pool: Arc<Pool>,
    permit: CpuPermit,
}

thread_local! {
    /// `Some` while this thread runs a taskref blocking task.
    static BLOCKING_TASK: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Marks the current thread as running a blocking task that holds `permit`,
/// until [`finish`](BlockingTaskScope::finish)ed or dropped.
pub(crate) struct BlockingTaskScope {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl BlockingTaskScope {
    pub(crate) fn enter(cpus: &Cpus, permit: CpuPermit) -> BlockingTaskScope {
        BLOCKING_TASK.with(|held| {
            *held.borrow_mut() = Some(Held {
                pool: Arc::clone(&cpus.pool),
                permit,
            });
        });
        BlockingTaskScope {
            _not_send: std::marker::PhantomData,
        }
    }

    /// Ends the scope and returns the permit the task holds now.
    pub(crate) fn finish(self) -> CpuPermit {
        let held = BLOCKING_TASK.with(|held| held.borrow_mut().take());
        std::mem::forget(self);
        held.map_or_else(CpuPermit::none, |held| held.permit)
    }
}

impl Drop for BlockingTaskScope {
    fn drop(&mut self) {
        // Take the value out before dropping it, so the permit is released outside
        // the thread-local borrow.
        let held = BLOCKING_TASK.with(|held| held.borrow_mut().take());
        drop(held);
    }
}

/// Whether the current thread runs a taskref blocking task.
pub(crate) fn in_blocking_task() -> bool {
    BLOCKING_TASK.with(|held| held.borrow().is_some())
}

/// Lends the current blocking task's CPU back to the pool; the returned loan takes
/// it again (waiting if needed) when dropped. `None` if the thread holds no CPU.
pub(crate) fn lend_cpu() -> Option<CpuLoan> {
    let (pool, permit) = BLOCKING_TASK.with(|held| {
        let mut held = held.borrow_mut();
        let held = held.as_mut()?;
        if held.permit.units() == 0 {
            return None;
        }
        let permit = std::mem::replace(&mut held.permit, CpuPermit::none());
        Some((Arc::clone(&held.pool), permit))
    })?;
    let units = permit.units();
    // Released outside the thread-local borrow: a release may start other jobs.
    drop(permit);
    Some(CpuLoan { pool, units })
}

/// CPU lent back by a blocked blocking task.
pub(crate) struct CpuLoan {
    pool: Arc<Pool>,
    units: u64,
}

impl Drop for CpuLoan {
    fn drop(&mut self) {
        let permit = crate::park::park_on(self.pool.acquire(self.units), None, || ())
            .unwrap_or_else(CpuPermit::none);
        BLOCKING_TASK.with(|held| {
            if let Some(held) = held.borrow_mut().as_mut() {
                held.permit = permit;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_requests_are_fixed_point() {
        assert_eq!(cpu_units(1.0), Some(10_000));
        assert_eq!(cpu_units(0.1), Some(1_000));
        assert_eq!(cpu_units(0.0), Some(0));
        assert_eq!(cpu_units(-1.0), None);
        assert_eq!(cpu_units(f64::NAN), None);
        assert_eq!(cpu_units(1e12), None);
        let ten_tenths: u32 = (0..10).map(|_| cpu_units(0.1).unwrap()).sum();
        assert_eq!(ten_tenths, cpu_units(1.0).unwrap());
    }

    #[test]
    fn half_cpus_share_one_cpu() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let cpus = Cpus::new(1, rt.handle().clone());
        let a = cpus.try_acquire(UNITS_PER_CPU / 2).unwrap();
        let _b = cpus.try_acquire(UNITS_PER_CPU / 2).unwrap();
        assert!(cpus.try_acquire(1).is_none());
        drop(a);
        assert!(cpus.try_acquire(UNITS_PER_CPU / 2).is_some());
        assert!(cpus.fits(UNITS_PER_CPU));
        assert!(!cpus.fits(UNITS_PER_CPU + 1));
    }
}
