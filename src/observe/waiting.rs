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

use std::panic::Location;
use std::time::Instant;

use super::Observer;
use crate::error::Error;
use crate::identity::{ObjectId, TaskInfo};

/// One user's wait: when it began, and whether the detector flagged it.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    /// Set at the first poll; taken when the wait is recorded.
    since: Option<Instant>,
    /// A single-ref get flagged as out of submission order: its wait time is
    /// reported to the detector when it ends.
    out_of_order: bool,
    /// Recorded already: a stream polled after its end does not start anew.
    recorded: bool,
}

impl Waiting {
    /// The wait is polled for the first time (later calls do nothing).
    pub(crate) fn start(&mut self) {
        if self.since.is_none() && !self.recorded {
            self.since = Some(Instant::now());
        }
    }

    /// Whether the wait has started and not been recorded yet.
    pub(crate) fn is_started(&self) -> bool {
        self.since.is_some()
    }

    /// A single-ref get at `location` is polled for the first time: start the
    /// wait and, if the ref is `pending`, let the detector look. `Err` if the
    /// detector denies the call.
    pub(crate) fn start_get(
        &mut self,
        observer: Option<&Observer>,
        task: &TaskInfo,
        location: &'static Location<'static>,
        call: &'static str,
        pending: bool,
    ) -> Result<(), Error> {
        if self.since.is_some() || self.recorded {
            return Ok(());
        }
        if !pending {
            // Ready at the first poll: the call did not wait (and the
            // timeline shows waits). Nothing to record, ever.
            self.recorded = true;
            return Ok(());
        }
        self.start();
        let Some(observer) = observer.filter(|o| pending && o.detector.is_on()) else {
            return Ok(());
        };
        observer
            .detector
            .get_waits(location, call, observer.is_only_latest(task.id()))?;
        if observer.later_sibling_done(task.id(), task.location()) {
            self.out_of_order = observer.detector.out_of_order_wait(location)?;
        }
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
                .out_of_order_done(location, since.elapsed());
        }
    }
}
