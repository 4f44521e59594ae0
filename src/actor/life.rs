//! An actor's life and restarts (Ray's `max_restarts`): its constructor run
//! again after a death it can recover from, and which queued calls a
//! restart lets through.
//
// Two deaths can be recovered from in one process: a constructor that
// panics, and a kill that asks for a restart (`kill_and_restart`, Ray's
// `ray.kill(actor, no_restart=False)`). Both spend one restart of the
// actor's budget. A call still queued when a restart happens did not run on
// the instance that died; it runs on the new one only if it was marked safe
// to repeat (`max_retries`, Ray's `max_task_retries`), using one retry per
// restart it waited through, and fails with `ActorDied` otherwise, as in
// Ray. (A call that was running finishes first: a thread cannot be stopped
// in the middle of a method.)

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// An actor's restarts: its budget, how many it had, and a kill that asks
/// for one.
pub(super) struct Life {
    max_restarts: u32,
    restarts: AtomicU32,
    restart_asked: AtomicBool,
}

impl Life {
    pub(super) fn new(max_restarts: u32) -> Life {
        Life {
            max_restarts,
            restarts: AtomicU32::new(0),
            restart_asked: AtomicBool::new(false),
        }
    }

    /// How many times the actor was restarted so far.
    pub(super) fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Acquire)
    }

    pub(super) fn max_restarts(&self) -> u32 {
        self.max_restarts
    }

    /// A kill asks for a restart: the actor's thread does it before it
    /// takes its next call.
    pub(super) fn ask_restart(&self) {
        self.restart_asked.store(true, Ordering::Release);
    }

    /// Whether a restart was asked for since the last look.
    pub(super) fn take_restart_request(&self) -> bool {
        self.restart_asked.swap(false, Ordering::AcqRel)
    }

    /// Takes one restart from the budget, if any is left.
    pub(super) fn spend(&self) -> bool {
        self.restarts
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.max_restarts).then_some(used + 1)
            })
            .is_ok()
    }

    /// Runs the constructor; after a panic, again while restarts are left.
    /// `Err` is the cause of death when none is left.
    pub(super) fn construct<S>(&self, make: &impl Fn() -> S, name: &str) -> Result<S, String> {
        loop {
            let payload = match catch_unwind(AssertUnwindSafe(make)) {
                Ok(built) => return Ok(built),
                Err(payload) => payload,
            };
            let message = crate::error::panic_message(payload.as_ref());
            let cause = format!("its constructor panicked: {message:?}");
            if !self.spend() {
                tracing::warn!(actor = name, "actor died: {cause}");
                return Err(cause);
            }
            self.restarted(name, &cause);
        }
    }

    /// Logs a restart just spent.
    pub(super) fn restarted(&self, name: &str, cause: &str) {
        tracing::warn!(
            actor = name,
            restart = self.restarts(),
            max_restarts = self.max_restarts,
            "actor restarting: {cause}"
        );
    }
}

/// The calls that were queued at each restart and are not taken yet: a call
/// taken while `n` of these windows are open waited through `n` restarts.
#[derive(Default)]
pub(super) struct QueuedAtRestarts {
    windows: VecDeque<usize>,
}

impl QueuedAtRestarts {
    /// A restart happened with `queued` calls waiting.
    pub(super) fn restarted(&mut self, queued: usize) {
        if queued > 0 {
            self.windows.push_back(queued);
        }
    }

    /// The next call is taken: how many restarts it waited through.
    pub(super) fn take(&mut self) -> u32 {
        let crossed = self.windows.len() as u32;
        for left in &mut self.windows {
            *left -= 1;
        }
        self.windows.retain(|&left| left > 0);
        crossed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_charged_one_retry_per_restart_it_waited_through() {
        let mut queued = QueuedAtRestarts::default();
        queued.restarted(2); // calls a, b queued at the first restart
        assert_eq!(queued.take(), 1); // a
        queued.restarted(3); // b, c, d queued at the second
        assert_eq!(queued.take(), 2); // b: through both
        assert_eq!(queued.take(), 1); // c
        assert_eq!(queued.take(), 1); // d
        assert_eq!(queued.take(), 0); // e came after
        queued.restarted(0);
        assert_eq!(queued.take(), 0);
    }

    #[test]
    fn restarts_are_spent_from_the_budget_and_counted() {
        let life = Life::new(2);
        assert!(life.spend() && life.spend());
        assert!(!life.spend(), "the budget is two");
        assert_eq!(life.restarts(), 2);
    }

    #[test]
    fn a_panicking_constructor_is_run_again_while_the_budget_lasts() {
        let life = Life::new(2);
        let runs = AtomicU32::new(0);
        let make = || {
            if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("not yet");
            }
            7
        };
        assert_eq!(life.construct(&make, "a"), Ok(7));
        assert_eq!(life.restarts(), 2);
        let never = Life::new(1);
        let err = never
            .construct(&|| -> u8 { panic!("never") }, "b")
            .unwrap_err();
        assert!(err.contains("never"), "{err}");
        assert_eq!(never.restarts(), 1);
    }
}
