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

pub(crate) use pool::{Job, Permit, Request};

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::runtime::Handle;

use crate::error::Error;
use crate::identity::TaskInfo;
use pool::Pool;

/// Units per whole CPU (or whole unit of a named resource).
pub(crate) const UNITS_PER_CPU: u32 = 10_000;

/// The largest capacity of any one resource (CPU or named), in whole units:
/// 10^14. Counted in 1/10,000 units that is 10^18, which a `u64` holds with
/// room to spare (and which an `f64` represents exactly), so no sum of units
/// in the pool can overflow. A request for more can never fit: it is
/// `Infeasible`, like any request beyond its resource's capacity.
pub(crate) const MAX_CAPACITY: u64 = 100_000_000_000_000;

/// [`MAX_CAPACITY`] in units.
const MAX_UNITS: u64 = MAX_CAPACITY * UNITS_PER_CPU as u64;

/// How [`MAX_CAPACITY`] reads in messages and docs.
pub(crate) const MAX_CAPACITY_TEXT: &str = "1e14 (100,000,000,000,000)";

/// Why an amount has no number of units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadAmount {
    /// Negative or NaN: not an amount of anything.
    Invalid,
    /// Positive infinity, or finite but beyond [`MAX_CAPACITY`]: an amount,
    /// but more than any runtime can have.
    TooLarge,
}

/// Converts an amount to units (rounded to the nearest 1/10,000). This is
/// the one rule for every amount: a task's or an actor's request and a
/// builder's capacity. `-0.0` is zero.
pub(crate) fn to_units(amount: f64) -> Result<u64, BadAmount> {
    if amount.is_nan() || amount < 0.0 {
        return Err(BadAmount::Invalid);
    }
    let units = (amount * f64::from(UNITS_PER_CPU)).round();
    // `MAX_UNITS` is exact as an `f64`, so this compare is exact, and the cast
    // below neither saturates nor wraps. (Infinity fails it too.)
    if units > MAX_UNITS as f64 {
        return Err(BadAmount::TooLarge);
    }
    Ok(units as u64)
}

/// The units of a whole number of CPUs, if within [`MAX_CAPACITY`].
pub(crate) fn cpu_units(num_cpus: usize) -> Option<u64> {
    u64::try_from(num_cpus)
        .ok()
        .filter(|&cpus| cpus <= MAX_CAPACITY)
        .map(|cpus| cpus * u64::from(UNITS_PER_CPU))
}

/// Why a capacity of `capacity` cannot be a runtime's, if it cannot.
pub(crate) fn check_capacity(capacity: f64) -> Result<(), String> {
    match to_units(capacity) {
        Ok(_) => Ok(()),
        Err(_) if !capacity.is_finite() || capacity < 0.0 => Err(format!(
            "capacity {capacity}; a capacity must be a finite number >= 0"
        )),
        Err(_) => Err(format!(
            "capacity {capacity}, more than the largest a resource can have, \
             {MAX_CAPACITY_TEXT} (amounts are counted in 1/10,000 units)"
        )),
    }
}

fn to_amount(units: u64) -> f64 {
    units as f64 / f64::from(UNITS_PER_CPU)
}

/// The runtime's capacities: CPU and the named resources of
/// [`Builder::resource`](crate::Builder::resource).
pub(crate) struct Resources {
    pool: Arc<Pool>,
    /// Names of the custom resources; the one at `i` is pool index `i + 1`.
    names: Vec<Arc<str>>,
}

impl Resources {
    /// `num_cpus` and the `custom` capacities must already be validated
    /// ([`cpu_units`], [`check_capacity`]): the builder refuses the rest.
    pub(crate) fn new(num_cpus: usize, custom: &[(String, f64)], handle: Handle) -> Resources {
        // Clamped, not wrapped, should an unchecked value ever get here.
        let mut capacity = vec![cpu_units(num_cpus).unwrap_or(MAX_UNITS)];
        let mut names = Vec::with_capacity(custom.len());
        for (name, amount) in custom {
            names.push(Arc::from(name.as_str()));
            capacity.push(match to_units(*amount) {
                Ok(units) => units,
                Err(BadAmount::TooLarge) => MAX_UNITS,
                Err(BadAmount::Invalid) => 0,
            });
        }
        Resources {
            pool: Pool::new(capacity, handle),
            names,
        }
    }

    /// The total amount of a named resource, if the runtime has it.
    pub(crate) fn capacity_of(&self, name: &str) -> Option<f64> {
        let index = self.names.iter().position(|n| &**n == name)?;
        Some(to_amount(self.pool.capacity(index + 1)))
    }

    /// Builds the request of a task (or actor) asking for `cpus` and `custom`
    /// amounts: `InvalidArgument` for a negative or NaN amount, `Infeasible`
    /// for more than the runtime has (or a resource it does not have, or an
    /// amount beyond any capacity, infinity included).
    pub(crate) fn request(
        &self,
        task: &TaskInfo,
        cpus: f64,
        custom: &[(Arc<str>, f64)],
        location: &'static std::panic::Location<'static>,
    ) -> Result<Request, Error> {
        let invalid = |what: &str, amount: f64| Error::InvalidArgument {
            message: format!(
                "{task} asks for {amount} of {what}; an amount must be a number >= 0 \
                 (not negative, not NaN)"
            ),
            location,
        };
        let infeasible = |resource: &str, requested: f64, capacity: u64| Error::Infeasible {
            task: task.clone(),
            resource: resource.to_owned(),
            requested,
            capacity: to_amount(capacity),
        };
        let cpu = match to_units(cpus) {
            Ok(units) => units,
            Err(BadAmount::Invalid) => return Err(invalid("CPU", cpus)),
            // More than any capacity: checked against this one below.
            Err(BadAmount::TooLarge) => u64::MAX,
        };
        if cpu > self.pool.capacity(0) {
            return Err(infeasible("CPU", cpus, self.pool.capacity(0)));
        }
        let mut request = Request::cpu(cpu);
        for (name, amount) in custom {
            let units = match to_units(*amount) {
                Ok(0) => continue, // asking for none of a resource is no request
                Ok(units) => units,
                Err(BadAmount::Invalid) => return Err(invalid(&format!("`{name}`"), *amount)),
                Err(BadAmount::TooLarge) => u64::MAX,
            };
            let Some(index) = self.names.iter().position(|n| n == name) else {
                return Err(infeasible(name, *amount, 0));
            };
            let capacity = self.pool.capacity(index + 1);
            if units > capacity {
                return Err(infeasible(name, *amount, capacity));
            }
            request.custom.push((index + 1, units));
        }
        Ok(request)
    }

    /// `request` in words: "1 CPU, 2 of `db`".
    pub(crate) fn describe(&self, request: &Request) -> String {
        let mut parts = Vec::new();
        if request.cpu > 0 {
            parts.push(format!("{} CPU", to_amount(request.cpu)));
        }
        for &(index, units) in &request.custom {
            let name = self.names.get(index - 1).map_or("?", |n| &**n);
            parts.push(format!("{} of `{name}`", to_amount(units)));
        }
        match parts.is_empty() {
            true => "nothing".to_owned(),
            false => parts.join(", "),
        }
    }

    /// Takes `request` now if it is free and nobody is queued before us.
    pub(crate) fn try_acquire(&self, request: &Request) -> Option<Permit> {
        self.pool.try_acquire(request)
    }

    /// Waits until `request` is free and takes it (in queue order).
    pub(crate) async fn acquire(&self, request: Request) -> Permit {
        self.pool.acquire(request).await
    }

    /// Starts `job` on the blocking pool as soon as `request` is free: now, or
    /// when a running task gives resources back.
    pub(crate) fn run_when_free(&self, handle: &Handle, request: Request, job: Job) {
        if let Some((job, permit)) = self.pool.run_or_queue(request, job) {
            drop(handle.spawn_blocking(move || job.run_chain(permit)));
        }
    }

    /// Fails every queued task and lets every waiter through; used at shutdown.
    pub(crate) fn close(&self) {
        self.pool.close();
    }
}

thread_local! {
    /// The permit of the taskref blocking task this thread runs, if any.
    static BLOCKING_TASK: RefCell<Option<Permit>> = const { RefCell::new(None) };
    /// The permit of the async task this thread polls, if it asks for CPU:
    /// a `block_*` inside it lends its CPU as a blocking task's does.
    static ASYNC_TASK: RefCell<Option<Permit>> = const { RefCell::new(None) };
}

type PermitCell = std::thread::LocalKey<RefCell<Option<Permit>>>;

/// Runs `poll` (one poll of an async task holding `permit`) with the permit
/// where a `block_*` inside it can lend its CPU; `permit` holds what is left
/// of it afterwards (everything, once a loan is taken back).
pub(crate) fn polling_with<R>(permit: &mut Permit, poll: impl FnOnce() -> R) -> R {
    /// Puts the permit back, even if `poll` unwinds.
    struct Back<'a> {
        permit: &'a mut Permit,
        outer: Option<Permit>,
    }
    impl Drop for Back<'_> {
        fn drop(&mut self) {
            let outer = self.outer.take();
            if let Some(held) = ASYNC_TASK.with(|cell| cell.replace(outer)) {
                *self.permit = held;
            }
        }
    }
    let held = std::mem::replace(permit, Permit::none());
    let outer = ASYNC_TASK.with(|cell| cell.replace(Some(held)));
    let _back = Back { permit, outer };
    poll()
}

/// Marks the current thread as running a blocking task that holds `permit`,
/// until [`finish`](BlockingTaskScope::finish)ed or dropped.
pub(crate) struct BlockingTaskScope {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl BlockingTaskScope {
    pub(crate) fn enter(permit: Permit) -> BlockingTaskScope {
        BLOCKING_TASK.with(|held| *held.borrow_mut() = Some(permit));
        BlockingTaskScope {
            _not_send: std::marker::PhantomData,
        }
    }

    /// Ends the scope and returns the permit the task holds now.
    pub(crate) fn finish(self) -> Permit {
        let held = BLOCKING_TASK.with(|held| held.borrow_mut().take());
        std::mem::forget(self);
        held.unwrap_or_else(Permit::none)
    }
}

impl Drop for BlockingTaskScope {
    fn drop(&mut self) {
        // Take the permit out before dropping it, so it is released outside the
        // thread-local borrow.
        let held = BLOCKING_TASK.with(|held| held.borrow_mut().take());
        drop(held);
    }
}

/// Whether the current thread runs a taskref blocking task.
pub(crate) fn in_blocking_task() -> bool {
    BLOCKING_TASK.with(|held| held.borrow().is_some())
}

/// Lends the current blocking task's CPU back to the pool (its named resources
/// stay held); the returned loan takes it again, waiting if needed, when
/// dropped. `None` if the thread holds no CPU.
pub(crate) fn lend_cpu() -> Option<CpuLoan> {
    lend_from(&BLOCKING_TASK).or_else(|| lend_from(&ASYNC_TASK))
}

fn lend_from(cell: &'static PermitCell) -> Option<CpuLoan> {
    // Take the permit out of the thread-local while releasing: a release may
    // start other jobs, and must not find the cell borrowed.
    let mut permit = cell.with(|held| held.borrow_mut().take())?;
    let lent = permit.lend_cpu();
    cell.with(|held| *held.borrow_mut() = Some(permit));
    let (pool, units) = lent?;
    Some(CpuLoan { pool, units, cell })
}

/// CPU an async task lent back while it is blocked on refs (as a blocked
/// blocking task does): taken back, ahead of the queue, before its code runs
/// again.
pub(crate) struct LentCpu {
    back: pool::Acquire,
    pool: Arc<Pool>,
}

impl LentCpu {
    /// Lends `permit`'s CPU (its named resources stay held); `None` if it
    /// holds none.
    pub(crate) fn lend(permit: &mut Permit) -> Option<LentCpu> {
        let (pool, units) = permit.lend_cpu()?;
        Some(LentCpu {
            back: pool.reacquire(Request::cpu(units)),
            pool,
        })
    }

    /// Takes the CPU back into `permit`, waiting for it if it is in use.
    pub(crate) fn poll_back(&mut self, cx: &mut Context<'_>, permit: &mut Permit) -> Poll<()> {
        let taken = std::task::ready!(Pin::new(&mut self.back).poll(cx));
        permit.restore_cpu(Arc::clone(&self.pool), taken.into_units());
        Poll::Ready(())
    }
}

/// CPU lent back by a task blocked in a `block_*` call.
pub(crate) struct CpuLoan {
    pool: Arc<Pool>,
    units: u64,
    /// Where the task's permit is.
    cell: &'static PermitCell,
}

impl Drop for CpuLoan {
    fn drop(&mut self) {
        let taken =
            crate::park::park_on(self.pool.reacquire(Request::cpu(self.units)), None, || ())
                .unwrap_or_else(Permit::none);
        // The re-acquired units join the task's own permit.
        let units = taken.into_units();
        self.cell.with(|held| {
            if let Some(permit) = held.borrow_mut().as_mut() {
                permit.restore_cpu(Arc::clone(&self.pool), units);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_fixed_point() {
        assert_eq!(to_units(1.0), Ok(10_000));
        assert_eq!(to_units(0.1), Ok(1_000));
        assert_eq!(to_units(0.0), Ok(0));
        assert_eq!(to_units(-0.0), Ok(0));
        let ten_tenths: u64 = (0..10).map(|_| to_units(0.1).unwrap()).sum();
        assert_eq!(ten_tenths, to_units(1.0).unwrap());
    }

    #[test]
    fn one_rule_for_every_amount_at_the_boundaries() {
        use BadAmount::{Invalid, TooLarge};
        assert_eq!(to_units(1e14), Ok(MAX_UNITS));
        assert_eq!(to_units(MAX_CAPACITY as f64), Ok(MAX_UNITS));
        for too_large in [1e14 + 0.5, 1e15, 1e300, f64::MAX, f64::INFINITY] {
            assert_eq!(to_units(too_large), Err(TooLarge), "{too_large}");
        }
        for invalid in [-1.0, -1e-9, f64::NAN, -f64::NAN, f64::NEG_INFINITY] {
            assert_eq!(to_units(invalid), Err(Invalid), "{invalid}");
        }
        assert_eq!(cpu_units(2), Some(20_000));
        assert_eq!(cpu_units(MAX_CAPACITY as usize), Some(MAX_UNITS));
        for too_many in [MAX_CAPACITY as usize + 1, 1 << 60, usize::MAX] {
            assert_eq!(cpu_units(too_many), None, "{too_many}");
        }
        assert!(check_capacity(1e14).is_ok() && check_capacity(0.0).is_ok());
        assert!(check_capacity(1e15).unwrap_err().contains("1e14"));
        assert!(check_capacity(f64::INFINITY)
            .unwrap_err()
            .contains("finite"));
    }

    #[test]
    fn requests_are_checked_against_capacities() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let resources = Resources::new(
            2,
            &[("db".into(), 2.0), ("none".into(), 0.0)],
            rt.handle().clone(),
        );
        let task = TaskInfo::new(
            crate::ObjectId::next(),
            None,
            std::panic::Location::caller(),
        );
        let loc = std::panic::Location::caller();
        let ask = |cpus: f64, custom: &[(&str, f64)]| {
            let custom: Vec<(Arc<str>, f64)> =
                custom.iter().map(|(n, a)| (Arc::from(*n), *a)).collect();
            resources.request(&task, cpus, &custom, loc)
        };
        assert_eq!(ask(1.0, &[("db", 1.0)]).unwrap().custom, vec![(1, 10_000)]);
        assert!(
            ask(0.0, &[("unknown", 0.0)]).unwrap().custom.is_empty(),
            "0 is no request"
        );
        for (cpus, custom, resource) in [
            (3.0, vec![], "CPU"),
            (1.0, vec![("db", 2.5)], "db"),
            (1.0, vec![("unknown", 1.0)], "unknown"),
            (1.0, vec![("none", 0.5)], "none"),
        ] {
            match ask(cpus, &custom) {
                Err(Error::Infeasible { resource: r, .. }) => assert_eq!(r, resource),
                other => panic!("expected Infeasible for {resource}, got {other:?}"),
            }
        }
        assert!(matches!(ask(-1.0, &[]), Err(Error::InvalidArgument { .. })));
        assert!(matches!(
            ask(1.0, &[("db", f64::NAN)]),
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(resources.capacity_of("db"), Some(2.0));
        assert_eq!(resources.capacity_of("gpu"), None);
    }
}
