//! Seeing parallelism: counters ([`Stats`]), a timeline of tasks and waits
//! ([`Timeline`], exported as a Chrome trace or an SVG picture), and a detector
//! of Ray's get-related anti-patterns ([`AntiPatterns`]).
//!
//! Every task also runs inside a `tracing` span named `task` (fields `task.id`,
//! `task.name`, `loc.file`, `loc.line`; no parent), with `debug` events when it
//! is submitted, starts and finishes, and a `warn` event when it fails. Nothing
//! is printed unless the application installs a subscriber.
//!
//! # Examples
//!
//! ```
//! let rt = taskref::Runtime::new()?;
//! let f = rt.remote(|x: u64| async move { x });
//! taskref::block_get_all((0..10).map(|x| f.remote(x)))?;
//! println!("{}", rt.stats());
//! rt.timeline().write_svg(std::env::temp_dir().join("taskref-observe-doc.svg"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod detector;

mod stats;
mod submissions;
mod svg;
mod timeline;
mod waiting;

pub use crate::anti_pattern::{AntiPatternKind, AntiPatternReport};
pub use detector::AntiPatterns;
pub use stats::{Outcome, Stats};
pub use timeline::{ItemRecord, TaskRecord, Timeline, WaitRecord};

pub(crate) use detector::Detector;
pub(crate) use stats::Counters;
pub(crate) use timeline::{worker_index, Recorder, MAX_WAIT_IDS};
pub(crate) use waiting::{AllOf, Waiting};

use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::identity::TaskInfo;
use crate::ObjectId;
use submissions::Submissions;

/// A moment, as nanoseconds since the process's first use of the clock: 8
/// bytes where an `Instant` takes 16 (tasks carry two of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Stamp {
    pub(crate) fn now() -> Stamp {
        let nanos = epoch().elapsed().as_nanos();
        Stamp(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The stamp in whole milliseconds, wrapping every 49.7 days: 4 bytes,
    /// for an age that only needs to be read by a person.
    pub(crate) fn millis(self) -> u32 {
        (self.0 / 1_000_000) as u32
    }

    /// How long after the wrapped milliseconds `earlier` this stamp is.
    pub(crate) fn millis_since(self, earlier: u32) -> std::time::Duration {
        std::time::Duration::from_millis(u64::from(self.millis().wrapping_sub(earlier)))
    }

    pub(crate) fn instant(self) -> Instant {
        epoch() + std::time::Duration::from_nanos(self.0)
    }
}

/// What the detector follows of a task that ended (see
/// [`Observer::follows`]).
#[derive(Clone, Copy)]
pub(crate) enum Follow {
    /// Nothing: the task is not followed.
    Not,
    /// It ended before its code did (it never started, was cancelled, or
    /// shut down).
    Unfinished,
    /// Its code was done at `at`, and the runtime finished it. Its code
    /// began at `code_began`, if that was seen (on the thread that finished
    /// it).
    Finishing {
        code_began: Option<Stamp>,
        at: Stamp,
    },
}

impl Follow {
    /// A task that ended before its code did: followed, or not.
    pub(crate) fn unfinished(followed: bool) -> Follow {
        match followed {
            true => Follow::Unfinished,
            false => Follow::Not,
        }
    }
}

thread_local! {
    /// The task (its id) whose code began last on this thread, and when:
    /// noted for followed tasks only, read when they finish.
    static CODE_BEGAN: std::cell::Cell<(u64, Stamp)> = const { std::cell::Cell::new((0, Stamp(0))) };
}

/// The code of the followed task `id` is entered for the first time.
pub(crate) fn code_begins(id: ObjectId) {
    CODE_BEGAN.with(|began| began.set((id.as_u64(), Stamp::now())));
}

/// When the code of the followed task `id` began, if this thread noted it.
pub(crate) fn code_began(id: ObjectId) -> Option<Stamp> {
    CODE_BEGAN.with(|began| {
        let (task, at) = began.get();
        (task == id.as_u64()).then_some(at)
    })
}

/// A runtime's observers.
pub(crate) struct Observer {
    pub(crate) counters: Counters,
    pub(crate) recorder: Option<Recorder>,
    pub(crate) detector: Detector,
    /// The id of the latest task submitted (for get-in-a-loop).
    last_submitted: AtomicU64,
    /// CPUs the runtime can keep busy: what a blocked caller leaves idle.
    capacity: usize,
    /// What the waits at each call site cost (see `WaitCost`).
    costs: dashmap::DashMap<(&'static Location<'static>, &'static str), WaitCost>,
    /// A sample of the tasks each line submits, for the detector.
    submissions: Submissions,
}

impl Observer {
    pub(crate) fn new(
        timeline_capacity: usize,
        anti_patterns: AntiPatterns,
        capacity: usize,
    ) -> Observer {
        Observer {
            counters: Counters::default(),
            recorder: (timeline_capacity > 0)
                .then(|| Recorder::new(Instant::now(), timeline_capacity)),
            detector: Detector::new(anti_patterns),
            last_submitted: AtomicU64::new(0),
            capacity,
            costs: dashmap::DashMap::new(),
            submissions: Submissions::new(capacity),
        }
    }

    /// The waits' cost per call site, costliest first.
    pub(crate) fn wait_costs(&self) -> Vec<WaitCost> {
        let mut costs: Vec<WaitCost> = self.costs.iter().map(|e| e.value().clone()).collect();
        costs.sort_by(|a, b| b.idle.cmp(&a.idle).then(b.blocked.cmp(&a.blocked)));
        costs
    }

    pub(crate) fn submitted(&self, task: &TaskInfo) {
        self.counters.submitted();
        self.last_submitted
            .store(task.id().as_u64(), Ordering::Relaxed);
        tracing::debug!(task.id = task.id().as_u64(), task.name = task.name(), loc = %task.location(), "task submitted");
    }

    /// Whether the detector follows the task `id` (one in
    /// `submissions::SAMPLE_EVERY`, while the detector is on): its
    /// submission, start and end are then accounted to its line.
    pub(crate) fn follows(&self, id: ObjectId) -> bool {
        self.detector.is_on() && submissions::is_sampled(id)
    }

    /// The followed task `task` is being submitted: its line's backlog and
    /// granularity are looked at, and under `Deny` a line found at fault
    /// has the task refused. Returns when the checks were done: the cost
    /// of submitting the task is measured from there (not counting the
    /// detector's own work, which only followed tasks do).
    pub(crate) fn follow_submission(&self, task: &TaskInfo) -> Result<Stamp, Error> {
        let location = task.location();
        let (backlog, too_fine) = self.submissions.submitting(location);
        if let Some(backlog) = backlog {
            self.detector.unbounded_backlog(location, &backlog)?;
        }
        // Under `Warn` it was reported when found.
        if let Some(found) = too_fine.filter(|_| self.detector.denies()) {
            self.detector.too_fine_grained(location, &found)?;
        }
        Ok(Stamp::now())
    }

    /// Submitting the followed task `task`, from `since`, is done.
    pub(crate) fn submit_done(&self, task: &TaskInfo, since: Stamp) {
        let took = Stamp::now()
            .instant()
            .saturating_duration_since(since.instant());
        self.submissions.submitted(task.location(), took);
    }

    /// `task` starts running (its first start).
    pub(crate) fn started(&self, task: &TaskInfo, followed: bool) {
        self.counters.started();
        if followed {
            self.submissions.left(task.location());
        }
    }

    /// Whether `id` is the latest submission and nothing else is unfinished.
    pub(crate) fn is_only_latest(&self, id: ObjectId) -> bool {
        self.last_submitted.load(Ordering::Relaxed) == id.as_u64()
            && self.counters.unfinished() <= 1
    }

    /// Whether a task submitted after `id` from the same line has already
    /// finished (among the recent records).
    pub(crate) fn later_sibling_done(
        &self,
        id: ObjectId,
        submitted_from: &'static Location<'static>,
    ) -> bool {
        let Some(recorder) = &self.recorder else {
            return false;
        };
        let mut found = false;
        recorder.recent_tasks(32, |record| {
            found = record.task.id() > id && record.task.location() == submitted_from;
            found
        });
        found
    }

    /// `task` ended; `follow` says what the detector follows of it.
    pub(crate) fn task_ended(
        &self,
        task: &TaskInfo,
        submitted: Stamp,
        started: Option<(Stamp, u32)>,
        outcome: Outcome,
        follow: Follow,
    ) {
        let now = Instant::now();
        self.counters.ended(
            outcome,
            started.map(|(at, _)| now.saturating_duration_since(at.instant())),
        );
        if !matches!(follow, Follow::Not) {
            self.followed_task_ended(task, started.map(|(at, _)| at), follow, now);
        }
        if let Some(recorder) = &self.recorder {
            recorder.record_task(TaskRecord {
                task: task.clone(),
                submitted: recorder.offset(submitted.instant()),
                started: started.map(|(at, _)| recorder.offset(at.instant())),
                ended: recorder.offset(now),
                outcome,
                worker: started.map(|(_, worker)| worker as usize),
            });
        }
    }

    fn followed_task_ended(
        &self,
        task: &TaskInfo,
        started: Option<Stamp>,
        follow: Follow,
        now: Instant,
    ) {
        let location = task.location();
        let (
            Some(started),
            Follow::Finishing {
                code_began,
                at: finishing,
            },
        ) = (started, follow)
        else {
            if started.is_none() {
                self.submissions.left(location);
            }
            return;
        };
        // An actor's methods are as small as they are: a call is not a task
        // that could do more of the work.
        if task.actor_seat().is_some() {
            return;
        }
        // The run is the task's code; what the runtime did before it (from
        // the start: entering the task) counts with its overhead.
        let (entered, run) = match code_began.filter(|began| *began >= started) {
            Some(began) => (
                Some(began.instant().saturating_duration_since(started.instant())),
                finishing
                    .instant()
                    .saturating_duration_since(began.instant()),
            ),
            None => (
                None,
                finishing
                    .instant()
                    .saturating_duration_since(started.instant()),
            ),
        };
        let finish = now.saturating_duration_since(finishing.instant());
        if let Some(found) = self.submissions.ran(location, run, entered, finish) {
            if !self.detector.denies() {
                let _ = self.detector.too_fine_grained(location, &found);
            }
        }
    }

    /// A caller's wait on `refs` at `location` returned. `busy_before`: the
    /// tasks' total run time when it began (see `WaitCost::idle`).
    pub(crate) fn waited(
        &self,
        call: &'static str,
        location: &'static Location<'static>,
        (started, busy_before): (Instant, u64),
        refs: impl Iterator<Item = ObjectId>,
        ref_count: usize,
    ) {
        let now = Instant::now();
        let blocked = now.saturating_duration_since(started);
        // Capacity the wait's time offered, less what tasks used meanwhile
        // (tasks that ended during the wait, whole): an estimate.
        let offered = blocked.as_nanos().saturating_mul(self.capacity as u128);
        let used = u128::from(self.counters.busy_nanos().saturating_sub(busy_before));
        let idle =
            Duration::from_nanos(u64::try_from(offered.saturating_sub(used)).unwrap_or(u64::MAX));
        self.costs
            .entry((location, call))
            .or_insert_with(|| WaitCost {
                call,
                location,
                waits: 0,
                blocked: Duration::ZERO,
                idle: Duration::ZERO,
            })
            .add(blocked, idle);
        if let Some(recorder) = &self.recorder {
            let span = (recorder.offset(started), recorder.offset(now));
            recorder.record_wait(call, location, span, refs, ref_count);
        }
    }

    /// The tasks' total run time so far (a wait notes it when it begins).
    pub(crate) fn busy_nanos(&self) -> u64 {
        self.counters.busy_nanos()
    }
}

/// What the waits of one call site cost: how long callers were blocked
/// there, and how much CPU capacity stood idle meanwhile. From
/// [`Runtime::wait_costs`](crate::Runtime::wait_costs), costliest first.
///
/// ```
/// use std::time::Duration;
/// let rt = taskref::Runtime::builder().num_cpus(4).build()?;
/// let nap = rt.remote(|ms: u64| async move {
///     tokio::time::sleep(Duration::from_millis(ms)).await;
/// });
/// for _ in 0..5 {
///     nap.remote(10).block_get()?; // one at a time: three CPUs idle
/// }
/// let worst = &rt.wait_costs()[0];
/// assert_eq!((worst.call, worst.waits), ("block_get", 5));
/// assert!(worst.idle >= worst.blocked, "{worst}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WaitCost {
    /// Which call (`"block_get"`, `"get_all"`, `"as_completed"`, ...).
    pub call: &'static str,
    /// The caller's line.
    pub location: &'static Location<'static>,
    /// How many waits there had to wait.
    pub waits: u64,
    /// How long callers were blocked there, in all.
    pub blocked: Duration,
    /// CPU time that stood idle meanwhile (the runtime's CPUs over the
    /// waits' time, less the run time of the tasks that ended during them):
    /// the parallelism this line cost. An estimate: a long task that ended
    /// during a wait counts whole.
    pub idle: Duration,
}

impl WaitCost {
    fn add(&mut self, blocked: Duration, idle: Duration) {
        self.waits += 1;
        self.blocked += blocked;
        self.idle += idle;
    }
}

impl std::fmt::Display for WaitCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {}: {} wait{}, blocked {:.1} ms, {:.1} CPU-ms idle",
            self.call,
            self.location,
            self.waits,
            if self.waits == 1 { "" } else { "s" },
            self.blocked.as_secs_f64() * 1e3,
            self.idle.as_secs_f64() * 1e3
        )
    }
}
