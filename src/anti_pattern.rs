//! What the detector reports: a leaf module, so that `Error::AntiPattern` can
//! carry a report while the detector builds errors (no import cycle).

use std::fmt;
use std::panic::Location;

/// Which anti-pattern a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AntiPatternKind {
    /// Waiting on each task right after submitting it: no parallelism.
    GetInLoop,
    /// Waiting on refs in submission order while later ones are done.
    SubmissionOrder,
    /// A `block_*` call on a tokio worker thread: it stalls that worker.
    BlockingInAsync,
    /// A task failed and its ref was dropped without anyone reading the error.
    UnreadError,
    /// A task waits on a ref it could have taken as an argument (captured,
    /// or passed inside another value): Ray's "calling ray.get on task
    /// arguments".
    GetOnArguments,
    /// Many tasks from one line, each running for far less than what it
    /// costs the runtime to submit and finish it: Ray's "over-parallelizing
    /// with too fine-grained tasks".
    TooFineGrained,
    /// Tasks from one line pile up, not started, far beyond what the
    /// runtime's CPUs can run, while the line keeps submitting: Ray's
    /// "limit the number of pending tasks".
    UnboundedBacklog,
}

/// A detected anti-pattern: what, where, and how to fix it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AntiPatternReport {
    /// Which anti-pattern.
    pub kind: AntiPatternKind,
    /// The user's line.
    pub location: &'static Location<'static>,
    /// What was seen and the fix, in a sentence or two.
    pub message: String,
}

impl fmt::Display for AntiPatternReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
