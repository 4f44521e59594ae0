//! What the detector reports: a leaf module, so that `Error::AntiPattern` can
//! carry a report while the detector builds errors (no import cycle).

use std::fmt;
use std::panic::Location;

/// Which anti-pattern a report is about.
///
/// The detector ([`AntiPatterns`](crate::AntiPatterns)) reports each at the
/// user's line, once per line under `Warn`; under `Deny` the offending call
/// fails with [`Error::AntiPattern`](crate::Error::AntiPattern). The two
/// rules about submissions judge a line from a sample of its tasks (one in
/// 64, chosen by id), so they need thousands of tasks before they say
/// anything, and under `Deny` they refuse some of the line's submissions
/// (sampled ones), not all. Tasks on a Ray cluster are not judged by them.
///
/// # Examples
///
/// Ray's over-parallelizing example: ten thousand tasks that each double a
/// number. Under `Deny`, once the line's tasks are found too fine-grained,
/// its next submissions are refused:
///
/// ```
/// use taskref::{AntiPatterns, Error, Runtime};
/// use taskref::observe::AntiPatternKind;
///
/// let rt = Runtime::builder().anti_patterns(AntiPatterns::Deny).build()?;
/// let double = rt.remote(|x: u64| async move { x * 2 });
/// let refused = (0..20)
///     .find_map(|_| taskref::block_get_all((0..5_000).map(|x| double.remote(x))).err())
///     .expect("refused within a few rounds");
/// match refused {
///     Error::AntiPattern { report, .. } => {
///         assert_eq!(report.kind, AntiPatternKind::TooFineGrained);
///         assert!(report.message.contains("batch"), "{report}");
///     }
///     other => panic!("{other}"),
/// }
/// // The fix: each task doubles a batch.
/// let double_all = rt.remote(|xs: Vec<u64>| async move {
///     xs.into_iter().map(|x| x * 2).collect::<Vec<_>>()
/// });
/// let batches = (0..10u64).map(|b| double_all.remote((b * 1_000..(b + 1) * 1_000).collect::<Vec<_>>()));
/// assert_eq!(taskref::block_get_all(batches)?.concat().len(), 10_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// arguments". Reported after three such waits at one line.
    GetOnArguments,
    /// Many tasks from one line (about 2,000 at least), whose code's
    /// median run time is below what each cost the runtime to submit,
    /// start and finish (measured on the spot, medians of the latest 64
    /// followed tasks; scheduling and gathering cost more on top): Ray's
    /// "over-parallelizing with too fine-grained tasks". The report says
    /// the median run time, the overhead, and how many tasks' work one task
    /// should do to bring the overhead under 5%. Actor calls and the parts
    /// of a `remote_split` are not judged. Found when tasks finish, and
    /// judged again as more finish (a line whose tasks grow is let through
    /// again); under `Deny`, every other followed submission of the line is
    /// refused while the finding holds (the others keep the evidence
    /// current).
    TooFineGrained,
    /// Tasks from one line waiting to start pile up past 10,000 (and 1,000
    /// per CPU), while the line keeps submitting (again within every 2 s,
    /// or three of its usual gaps if it submits slowly) for 5 s and the
    /// backlog grows (never shrinking between looks a second apart, doubled
    /// overall): Ray's "limit the number of pending tasks". A batch, however
    /// large, whose submission is over within 5 s is not reported; one that
    /// takes longer to submit, while its tasks cannot keep up, is. The
    /// report suggests `map_unordered(items, max_in_flight, f)`; under
    /// `Deny` the followed submissions that find it are refused.
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
