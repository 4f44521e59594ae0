//! An actor's life and restarts (Ray's `max_restarts`): its constructor run
//! again after a death it can recover from, and which queued calls a
//! restart lets through.
//
// Two deaths can be recovered from in one process: a constructor that
// panics, and a kill that asks for a restart (`kill_and_restart`, Ray's
// `ray.kill(actor, no_restart=False)`). Both spend one restart of the
// actor's budget. A kill that asks for a restart counts one request and
// puts a marker in the mailbox: the calls ahead of the marker were queued at
// the death. The actor's loop sees the request after the call running
// finishes (a thread cannot be stopped in the middle of a method), takes
// the calls up to the marker, builds the new instance, and then runs each
// of those calls on it only if it was marked safe to repeat (`max_retries`,
// Ray's `max_task_retries`), using one retry per restart it waited through;
// the others fail with `ActorDied`, as in Ray. Calls behind the marker are
// new calls.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};

/// Why a call queued at a restart fails: it may wait through fewer restarts
/// than it did.
pub(super) const RESTARTED_WHILE_QUEUED: &str = "it was restarted while this call was queued; \
                                                 the call ran on no instance, not being marked \
                                                 safe to repeat (`max_retries`)";

/// An actor's restarts: its budget, how many it had, and the kills that
/// asked for one and were not seen yet.
pub(super) struct Life {
    max_restarts: u32,
    restarts: AtomicU32,
    restarts_asked: AtomicU32,
}

impl Life {
    pub(super) fn new(max_restarts: u32) -> Life {
        Life {
            max_restarts,
            restarts: AtomicU32::new(0),
            restarts_asked: AtomicU32::new(0),
        }
    }

    /// How many times the actor was restarted so far.
    pub(super) fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Acquire)
    }

    /// A kill asks for a restart (its marker goes into the mailbox next):
    /// the actor's loop does it before it runs its next call.
    pub(super) fn ask_restart(&self) {
        self.restarts_asked.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes one restart request, if one is waiting. (Asked before every
    /// call: a load, and a write only when a request is there.)
    pub(super) fn take_restart_request(&self) -> bool {
        self.restarts_asked.load(Ordering::Acquire) > 0
            && self
                .restarts_asked
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |asked| {
                    asked.checked_sub(1)
                })
                .is_ok()
    }

    /// Takes one restart from the budget, if any is left.
    pub(super) fn spend(&self) -> bool {
        self.restarts
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.max_restarts).then_some(used + 1)
            })
            .is_ok()
    }

    /// Takes the restart a kill asked for from the budget, or says why the
    /// actor dies instead.
    pub(super) fn spend_for_kill(&self, name: &str) -> Result<(), String> {
        if !self.spend() {
            return Err(format!(
                "it was killed and asked to restart, with no restarts left (max_restarts({}))",
                self.max_restarts
            ));
        }
        self.restarted(name, "it was killed and asked to restart");
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_requests_are_taken_one_at_a_time() {
        let life = Life::new(5);
        life.ask_restart();
        life.ask_restart();
        assert!(life.take_restart_request() && life.take_restart_request());
        assert!(!life.take_restart_request());
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
