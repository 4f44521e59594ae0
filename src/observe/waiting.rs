//! `Waiting`: the one record of a user's wait, kept by every waiting future
//! (`get`, `.await`, `get_timeout`, `get_all`, `wait`, `as_completed` and their
//! blocking twins).
//
// A wait is recorded when it returns: which call, at which call site, on which
// refs, from the moment it had to wait to its end. A call that finds what it
// asked for ready at its first poll did not wait and is not recorded: the
// timeline shows where the caller lost time, and a zero-length record per
// get of a finished task costs more than the get itself (two clock reads, a
// lock). A future dropped before it returns
// (a `select!` that took another branch, a timeout around it) records nothing,
// except streams, which record what they waited when dropped: a stream is
// often dropped once the caller has what it needs.
//
// Single-ref gets also let the detector look at the moment they start waiting
// (get in a loop, submission order); that check belongs to the get, not to the
// record, and stays in `start_get`.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use super::Observer;
use crate::context::RuntimeContext;
use crate::error::Error;
use crate::identity::{ObjectId, TaskInfo};
use crate::waits::{self, Edge, NotedWait, WaitKind, WaitNote, WaitedOn};

/// The refs a wait is on, as the graph and the rules see them.
struct Waited {
    on: WaitedOn,
    /// One of them is an actor call (it may wait behind the waiter).
    on_actor_call: bool,
    /// The oldest ref among them (by id), for a wait on all of them.
    oldest: Option<ObjectId>,
}

/// The pending refs of a wait on all of them, as its maker collects them.
#[derive(Default)]
pub(crate) struct AllOf {
    pub(crate) edges: Vec<Edge>,
    pub(crate) actor_call: bool,
    pub(crate) oldest: Option<ObjectId>,
}

impl AllOf {
    /// Adds the pending ref `task` (its slot's edge is `edge`).
    pub(crate) fn push(&mut self, task: &TaskInfo, edge: Edge) {
        self.edges.push(edge);
        self.actor_call |= task.actor_seat().is_some();
        self.oldest = Some(self.oldest.map_or(task.id(), |o| o.min(task.id())));
    }
}

/// One user's wait: when it began, and whether the detector flagged it.
#[derive(Default)]
pub(crate) struct Waiting {
    /// The wait, noted in the waiting task's slot (for the snapshot and the
    /// wait-for graph) while it goes on; `None` outside a task.
    noted: Option<NotedWait>,
    /// Set at the first poll, with the tasks' total run time then; taken
    /// when the wait is recorded.
    since: Option<(Instant, u64)>,
    /// A single-ref get flagged as out of submission order: its wait time is
    /// reported to the detector when it ends.
    out_of_order: bool,
    /// Recorded already: a stream polled after its end does not start anew.
    recorded: bool,
}

impl Waiting {
    /// The wait is polled for the first time (later calls do nothing).
    pub(crate) fn start(&mut self, observer: Option<&Observer>) {
        if self.since.is_none() && !self.recorded {
            let busy = observer.map_or(0, Observer::busy_nanos);
            self.since = Some((Instant::now(), busy));
        }
    }

    /// Whether the wait has started and not been recorded yet.
    pub(crate) fn is_started(&self) -> bool {
        self.since.is_some()
    }

    /// A single-ref get at `location` is polled for the first time: start the
    /// wait and, if the ref is `pending`, let the detector look, and note the
    /// wait (on `edge`) in the waiting task. `Err` if the detector denies the
    /// call.
    #[allow(clippy::too_many_arguments)] // one call per kind of get, all internal
    pub(crate) fn start_get(
        &mut self,
        context: Option<&Arc<RuntimeContext>>,
        task: &TaskInfo,
        location: &'static Location<'static>,
        call: &'static str,
        pending: bool,
        edge: impl FnOnce() -> Edge,
        bounded: bool,
    ) -> Result<(), Error> {
        let observer = context.map(|c| c.observer());
        if self.since.is_some() || self.recorded {
            return Ok(());
        }
        if !pending {
            // Ready at the first poll: the call did not wait (and the
            // timeline shows waits). Nothing to record, ever.
            self.recorded = true;
            return Ok(());
        }
        self.start(observer);
        if let Some(observer) = observer.filter(|o| o.detector.is_on()) {
            observer
                .detector
                .get_waits(location, call, observer.is_only_latest(task.id()))?;
            if observer.later_sibling_done(task.id(), task.location()) {
                self.out_of_order = observer.detector.out_of_order_wait(location)?;
            }
        }
        let on = match bounded {
            // A get with a timeout ends by itself: shown, never a cycle.
            true => WaitedOn::Any {
                ids: vec![task.id()],
                count: 1,
            },
            false => WaitedOn::All(vec![edge()]),
        };
        let waited = Waited {
            on,
            on_actor_call: task.actor_seat().is_some(),
            oldest: Some(task.id()),
        };
        self.note(context, call, location, waited)
    }

    /// Notes a wait on `count` refs (`ids`: the first of them) that may end
    /// before all are done (`wait`, a stream of completions): shown in the
    /// snapshot, never part of a cycle.
    pub(crate) fn note_any(
        &mut self,
        call: &'static str,
        location: &'static Location<'static>,
        ids: impl Iterator<Item = ObjectId>,
        count: usize,
        context: Option<&Arc<RuntimeContext>>,
    ) {
        let ids = ids.take(super::MAX_WAIT_IDS).collect();
        let on = WaitedOn::Any { ids, count };
        let waited = Waited {
            on,
            on_actor_call: false,
            oldest: None,
        };
        let noted = self.note(context, call, location, waited);
        debug_assert!(noted.is_ok(), "a wait on any ref closes no cycle");
    }

    /// Notes a wait that ends only when every task of `edges` is done, and
    /// looks for a cycle it closes: `Err(Deadlock)` under `Deny`.
    pub(crate) fn note_all(
        &mut self,
        call: &'static str,
        location: &'static Location<'static>,
        waited: AllOf,
        context: Option<&Arc<RuntimeContext>>,
    ) -> Result<(), Error> {
        let waited = Waited {
            on: WaitedOn::All(waited.edges),
            on_actor_call: waited.actor_call,
            oldest: waited.oldest,
        };
        self.note(context, call, location, waited)
    }

    /// Notes the wait (`call` at `location`, on `on`) in the task waiting on
    /// this thread, if it is a task of `context`'s runtime, and looks for a
    /// cycle it closes. `waits_on_actor_call`: a ref waited on is an actor
    /// call (it may wait behind the caller). `Err(Deadlock)` under `Deny`.
    fn note(
        &mut self,
        context: Option<&Arc<RuntimeContext>>,
        call: &'static str,
        location: &'static Location<'static>,
        waited: Waited,
    ) -> Result<(), Error> {
        let Some(context) = context else {
            return Ok(());
        };
        let runtime = Arc::as_ptr(context) as usize;
        let Some(waiter) = crate::task::current_slot_in(runtime) else {
            return Ok(());
        };
        let detector = &context.observer().detector;
        let all = matches!(waited.on, WaitedOn::All(_));
        // A ref older than the task that waits on it existed when the task
        // was submitted: it could have been an argument.
        if all
            && waited
                .oldest
                .is_some_and(|oldest| oldest < waiter.info().id())
        {
            detector.get_on_arguments(location, call, waiter.info())?;
        }
        let note = WaitNote::new(WaitKind::Get { call, location }, waited.on);
        let mut noted = NotedWait::begin(waiter, note);
        if all {
            noted = waits::check(detector, noted, waited.on_actor_call)?;
        }
        self.noted = Some(noted);
        Ok(())
    }

    /// The wait returned: record it on the timeline (and tell the detector how
    /// long a flagged get waited). Does nothing if it never started or was
    /// recorded already.
    pub(crate) fn finish(
        &mut self,
        observer: Option<&Observer>,
        call: &'static str,
        location: &'static Location<'static>,
        refs: impl Iterator<Item = ObjectId>,
        ref_count: usize,
    ) {
        self.noted = None;
        let Some(since) = self.since.take() else {
            return;
        };
        self.recorded = true;
        let Some(observer) = observer else {
            return;
        };
        observer.waited(call, location, since, refs, ref_count);
        if std::mem::take(&mut self.out_of_order) {
            observer
                .detector
                .out_of_order_done(location, since.0.elapsed());
        }
    }
}

impl Waiting {
    /// A single-ref get of the task `id` returned: `finish`; and if that
    /// task submitted two or more tasks of its own (`fanned_out`), the get
    /// was no get in a loop, whatever it looked like when it began: the work
    /// ran side by side below the task. (One child is not enough: a task
    /// that does its work serially and fires off one small task still ran
    /// one at a time.)
    pub(crate) fn finish_get(
        &mut self,
        observer: Option<&Observer>,
        call: &'static str,
        location: &'static Location<'static>,
        id: ObjectId,
        fanned_out: bool,
    ) {
        let waited = self.since.is_some();
        self.finish(observer, call, location, std::iter::once(id), 1);
        if let Some(observer) = observer.filter(|_| waited && fanned_out) {
            observer.detector.get_fanned_out(location);
        }
    }
}

impl fmt::Debug for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiting")
            .field("since", &self.since)
            .field("noted", &self.noted.is_some())
            .finish_non_exhaustive()
    }
}
