//! CPU accounting: how many blocking tasks may run at once, and the CPU a blocked
//! blocking task lends back while it waits.
//
// Amounts are fixed-point with 1/10,000 precision (as Ray's), so ten requests of
// 0.1 CPU fit exactly in one CPU. The capacity is a tokio `Semaphore` of units:
// FIFO, so a large request is not starved by a stream of small ones.
//
// A blocking task that blocks in a nested `block_get` gives its CPU back while it
// waits and takes it again afterwards, as Ray's workers do; otherwise a pool of
// `num_cpus` parents all waiting on children that need a CPU would deadlock. The
// permit therefore lives in a thread-local for the duration of the blocking task,
// where the blocking facade can find it.

use std::cell::RefCell;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

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
    semaphore: Arc<Semaphore>,
    capacity_units: u64,
}

/// CPU held by a running task; released on drop.
#[derive(Debug)]
pub(crate) struct CpuPermit {
    permit: Option<OwnedSemaphorePermit>,
    units: u32,
}

impl Cpus {
    pub(crate) fn new(num_cpus: usize) -> Cpus {
        let capacity_units = num_cpus as u64 * u64::from(UNITS_PER_CPU);
        let permits = usize::try_from(capacity_units)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Cpus {
            semaphore: Arc::new(Semaphore::new(permits)),
            capacity_units,
        }
    }

    pub(crate) fn capacity(&self) -> f64 {
        self.capacity_units as f64 / f64::from(UNITS_PER_CPU)
    }

    pub(crate) fn fits(&self, units: u32) -> bool {
        u64::from(units) <= self.capacity_units
    }

    /// Takes `units` now if they are free.
    pub(crate) fn try_acquire(&self, units: u32) -> Option<CpuPermit> {
        if units == 0 {
            return Some(CpuPermit::none());
        }
        match Arc::clone(&self.semaphore).try_acquire_many_owned(units) {
            Ok(permit) => Some(CpuPermit {
                permit: Some(permit),
                units,
            }),
            Err(TryAcquireError::NoPermits) => None,
            // Closed by shutdown: the task's slot is already failed; let it through
            // so it notices and stops.
            Err(TryAcquireError::Closed) => Some(CpuPermit::none()),
        }
    }

    /// Waits until `units` are free and takes them.
    pub(crate) async fn acquire(&self, units: u32) -> CpuPermit {
        if units == 0 {
            return CpuPermit::none();
        }
        match Arc::clone(&self.semaphore).acquire_many_owned(units).await {
            Ok(permit) => CpuPermit {
                permit: Some(permit),
                units,
            },
            Err(_closed) => CpuPermit::none(),
        }
    }

    /// Wakes every task waiting for CPU; used at shutdown.
    pub(crate) fn close(&self) {
        self.semaphore.close();
    }
}

impl CpuPermit {
    fn none() -> CpuPermit {
        CpuPermit {
            permit: None,
            units: 0,
        }
    }
}

/// What the current thread's blocking task holds.
struct Held {
    semaphore: Arc<Semaphore>,
    permit: CpuPermit,
}

thread_local! {
    /// `Some` while this thread runs a taskref blocking task.
    static BLOCKING_TASK: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Marks the current thread as running a blocking task that holds `permit`, until
/// dropped (which releases the permit).
pub(crate) struct BlockingTaskScope {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl BlockingTaskScope {
    pub(crate) fn enter(cpus: &Cpus, permit: CpuPermit) -> BlockingTaskScope {
        BLOCKING_TASK.with(|held| {
            *held.borrow_mut() = Some(Held {
                semaphore: Arc::clone(&cpus.semaphore),
                permit,
            });
        });
        BlockingTaskScope {
            _not_send: std::marker::PhantomData,
        }
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
    BLOCKING_TASK.with(|held| {
        let mut held = held.borrow_mut();
        let held = held.as_mut()?;
        let units = held.permit.units;
        let permit = held.permit.permit.take()?;
        drop(permit);
        Some(CpuLoan {
            semaphore: Arc::clone(&held.semaphore),
            units,
        })
    })
}

/// CPU lent back by a blocked blocking task.
#[derive(Debug)]
pub(crate) struct CpuLoan {
    semaphore: Arc<Semaphore>,
    units: u32,
}

impl Drop for CpuLoan {
    fn drop(&mut self) {
        let acquire = Arc::clone(&self.semaphore).acquire_many_owned(self.units);
        // A closed semaphore means shutdown: carry on without the permit.
        let permit = crate::park::park_on(acquire, None, || ()).and_then(Result::ok);
        let units = self.units;
        BLOCKING_TASK.with(|held| {
            if let Some(held) = held.borrow_mut().as_mut() {
                held.permit = CpuPermit { permit, units };
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
    fn permits_are_bounded_by_capacity() {
        let cpus = Cpus::new(1);
        let a = cpus.try_acquire(UNITS_PER_CPU / 2).unwrap();
        let _b = cpus.try_acquire(UNITS_PER_CPU / 2).unwrap();
        assert!(cpus.try_acquire(1).is_none());
        drop(a);
        assert!(cpus.try_acquire(UNITS_PER_CPU / 2).is_some());
        assert!(cpus.fits(UNITS_PER_CPU));
        assert!(!cpus.fits(UNITS_PER_CPU + 1));
    }
}
