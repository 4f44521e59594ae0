//! The anti-pattern detector: recognises get-in-a-loop, submission-order
//! processing, blocking gets on async workers and errors nobody read, and names
//! the user's line.
//
// It only looks at calls that had to wait (a ref that was pending when the call
// began) plus the two events that are errors in themselves (a blocking call on
// an async worker, an unread error), so the idiomatic forms cost it nothing.
// Per-call-site state lives in a concurrent map, touched only by those calls.

use std::panic::Location;
use std::time::Duration;

use dashmap::DashMap;

use crate::anti_pattern::{AntiPatternKind, AntiPatternReport};
use crate::error::Error;
use crate::identity::{ObjectId, TaskInfo};
use crate::snapshot::TaskSnapshot;

use super::submissions::{Backlog, Granularity};

/// What the runtime does when it sees one of Ray's parallelism anti-patterns;
/// set with [`Builder::anti_patterns`](crate::Builder::anti_patterns).
///
/// ```
/// use taskref::{AntiPatterns, Runtime};
/// let rt = Runtime::builder().anti_patterns(AntiPatterns::Deny).build()?;
/// let f = rt.remote(|x: u32| async move {
///     tokio::time::sleep(std::time::Duration::from_millis(2)).await;
///     x
/// });
/// let mut denied = None;
/// for i in 0..5 {
///     if let Err(err) = f.remote(i).block_get() {
///         denied = Some(err);
///         break;
///     }
/// }
/// let err = denied.expect("the third get in a row is refused");
/// assert!(err.to_string().contains("get in a loop"), "{err}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AntiPatterns {
    /// Do not look.
    Off,
    /// Report each anti-pattern once per call site with `tracing::warn!`.
    #[default]
    Warn,
    /// Report, and make the offending call return [`Error::AntiPattern`], so a
    /// test suite can forbid the pattern.
    Deny,
}

#[derive(Default)]
struct Site {
    /// Get in a loop: consecutive waits on the only, latest task.
    in_a_row: u32,
    /// Submission order: waits on a pending ref while a later one was done.
    out_of_order: u32,
    /// Time those waits took.
    lost: Duration,
    reported: bool,
}

pub(crate) struct Detector {
    mode: AntiPatterns,
    /// The deadlocks reported under `Warn` (their tasks' ids, sorted): each
    /// is logged once, however many of its waits see it.
    deadlocks: std::sync::Mutex<std::collections::HashSet<Vec<ObjectId>>>,
    /// Per call site and pattern: touched on every wait, from every thread,
    /// so a concurrent map (one shard lock per entry) instead of one mutex.
    sites: DashMap<(&'static Location<'static>, AntiPatternKind), Site>,
}

/// How many times a pattern must repeat at one call site before it is reported.
const REPEATS: u32 = 3;

impl Detector {
    pub(crate) fn new(mode: AntiPatterns) -> Detector {
        Detector {
            mode,
            deadlocks: Default::default(),
            sites: DashMap::new(),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.mode != AntiPatterns::Off
    }

    pub(crate) fn denies(&self) -> bool {
        self.mode == AntiPatterns::Deny
    }

    fn raise(&self, report: AntiPatternReport) -> Result<(), Error> {
        tracing::warn!(
            kind = ?report.kind,
            location = %report.location,
            "taskref anti-pattern: {}",
            report.message
        );
        self.verdict(report)
    }

    /// Under `Deny`, the call that `report` is about is refused.
    fn verdict(&self, report: AntiPatternReport) -> Result<(), Error> {
        match self.denies() {
            true => Err(Error::AntiPattern { report }),
            false => Ok(()),
        }
    }

    /// A single-ref get at `location` found its ref pending. `only_latest`: the
    /// ref is the runtime's most recent submission and nothing else is
    /// pending or running.
    pub(crate) fn get_waits(
        &self,
        location: &'static Location<'static>,
        call: &str,
        only_latest: bool,
    ) -> Result<(), Error> {
        if !self.is_on() {
            return Ok(());
        }
        let report = {
            let mut site = self
                .sites
                .entry((location, AntiPatternKind::GetInLoop))
                .or_default();
            if !only_latest {
                site.in_a_row = 0;
                return Ok(());
            }
            site.in_a_row += 1;
            if site.in_a_row < REPEATS || (site.reported && self.mode != AntiPatterns::Deny) {
                return Ok(());
            }
            site.reported = true;
            AntiPatternReport {
                kind: AntiPatternKind::GetInLoop,
                location,
                message: format!(
                    "get in a loop at {location}: `{call}` waited on the task submitted just \
                     before it, with nothing else running, {} times in a row, so those tasks ran \
                     one at a time. Submit all the tasks first, then gather once with \
                     `get_all` / `block_get_all` (or pass the refs on to other tasks).",
                    site.in_a_row
                ),
            }
        };
        self.raise(report)
    }

    /// A get at `location` waited on a task that submitted tasks of its
    /// own: its waits in a row so far were not a loop of lone tasks.
    pub(crate) fn get_fanned_out(&self, location: &'static Location<'static>) {
        if let Some(mut site) = self.sites.get_mut(&(location, AntiPatternKind::GetInLoop)) {
            site.in_a_row = 0;
        }
    }

    /// The get at `location` waits on a pending ref while a ref submitted
    /// later from the same line is already done. Returns whether the wait
    /// should be timed and reported when it ends (`Ok(true)`), or the denial.
    pub(crate) fn out_of_order_wait(
        &self,
        location: &'static Location<'static>,
    ) -> Result<bool, Error> {
        if !self.is_on() {
            return Ok(false);
        }
        let report = {
            let mut site = self
                .sites
                .entry((location, AntiPatternKind::SubmissionOrder))
                .or_default();
            if site.reported && self.mode != AntiPatterns::Deny {
                return Ok(false);
            }
            site.out_of_order += 1;
            if self.mode != AntiPatterns::Deny || site.out_of_order < REPEATS {
                return Ok(true);
            }
            site.reported = true;
            submission_order_report(location, &site)
        };
        self.raise(report).map(|()| false)
    }

    /// An out-of-order wait at `location` took `waited`.
    pub(crate) fn out_of_order_done(&self, location: &'static Location<'static>, waited: Duration) {
        let report = {
            let key = (location, AntiPatternKind::SubmissionOrder);
            let Some(mut site) = self.sites.get_mut(&key) else {
                return;
            };
            site.lost += waited;
            if site.reported || site.out_of_order < REPEATS {
                return;
            }
            site.reported = true;
            submission_order_report(location, &site)
        };
        let _ = self.raise(report);
    }

    /// A `block_*` call at `location` runs on a tokio worker thread.
    pub(crate) fn blocking_in_async(
        &self,
        location: &'static Location<'static>,
        call: &str,
    ) -> Result<(), Error> {
        if !self.is_on() || !self.due(location, AntiPatternKind::BlockingInAsync) {
            return Ok(());
        }
        self.raise(AntiPatternReport {
            kind: AntiPatternKind::BlockingInAsync,
            location,
            message: format!(
                "blocking get inside async code at {location}: `{call}` ran on a tokio worker \
                 thread; it works (the worker steps out of the scheduler) but stalls that \
                 worker's other tasks meanwhile. Use `.get().await` (or `.await` on the ref)."
            ),
        })
    }

    /// The wait of `waiter` closed the cycle `cycle`: under `Deny`, the
    /// error the wait returns; under `Warn`, a log line (once per cycle).
    pub(crate) fn deadlock(
        &self,
        waiter: &TaskInfo,
        cycle: Vec<TaskSnapshot>,
    ) -> Result<(), Error> {
        let err = Error::Deadlock {
            task: waiter.clone(),
            cycle,
        };
        match self.mode {
            AntiPatterns::Off => Ok(()),
            AntiPatterns::Deny => Err(err),
            AntiPatterns::Warn => {
                let Some(cycle) = err.deadlock_cycle() else {
                    unreachable!("built above")
                };
                let mut ids: Vec<ObjectId> = cycle.iter().map(|step| step.task.id()).collect();
                ids.sort_unstable();
                let first = self
                    .deadlocks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(ids);
                if first {
                    tracing::warn!("taskref: {err}");
                }
                Ok(())
            }
        }
    }

    /// The task `waiter` waits, at `location`, on a ref that existed when
    /// it was submitted: after `REPEATS` such waits at one line, a report.
    pub(crate) fn get_on_arguments(
        &self,
        location: &'static Location<'static>,
        call: &str,
        waiter: &TaskInfo,
    ) -> Result<(), Error> {
        if !self.is_on() {
            return Ok(());
        }
        {
            let mut site = self
                .sites
                .entry((location, AntiPatternKind::GetOnArguments))
                .or_default();
            site.in_a_row += 1;
            if site.in_a_row < REPEATS || (site.reported && self.mode != AntiPatterns::Deny) {
                return Ok(());
            }
            site.reported = true;
        }
        self.raise(AntiPatternReport {
            kind: AntiPatternKind::GetOnArguments,
            location,
            message: format!(
                "a get on task arguments at {location}: `{call}` inside {waiter} waited on a ref \
                 that existed before the task was submitted ({REPEATS} times at this line), so \
                 the task started, then sat waiting, holding its worker (and its CPU, if it asks \
                 for one). Pass the ref as an argument instead (`f.remote(r)`, a ref where a \
                 value is expected): the runtime then starts the task only once the value \
                 exists, and hands it the value."
            ),
        })
    }

    /// Whether a report of `kind` at `location` is due: the first there, or
    /// any under `Deny` (where each offending call is refused).
    fn due(&self, location: &'static Location<'static>, kind: AntiPatternKind) -> bool {
        let first = self.first_at(location, kind);
        first || self.mode == AntiPatterns::Deny
    }

    /// Whether this is the first report of `kind` at `location`.
    fn first_at(&self, location: &'static Location<'static>, kind: AntiPatternKind) -> bool {
        let mut site = self.sites.entry((location, kind)).or_default();
        !std::mem::replace(&mut site.reported, true)
    }

    /// Reports `report` once per line (the rules about submissions refuse
    /// many calls of one line under `Deny`: one log line says it), and
    /// under `Deny` refuses the call each time.
    fn raise_once(&self, report: AntiPatternReport) -> Result<(), Error> {
        if self.first_at(report.location, report.kind) {
            return self.raise(report);
        }
        self.verdict(report)
    }

    /// The tasks submitted at `location` run for far less than what each
    /// costs the runtime.
    pub(crate) fn too_fine_grained(
        &self,
        location: &'static Location<'static>,
        found: &Granularity,
    ) -> Result<(), Error> {
        if !self.is_on() {
            return Ok(());
        }
        self.raise_once(AntiPatternReport {
            kind: AntiPatternKind::TooFineGrained,
            location,
            message: format!(
                "too fine-grained tasks at {location}: the tasks submitted here ({} ran so far) \
                 ran for a median of {} each, while each cost the runtime at least {} to submit, \
                 start and finish (measured here): {:.0}% of their time is overhead. Give each task a \
                 batch of the work: with {} of these tasks' work in one, the overhead falls \
                 under 5% (or do work this small inline, without a task).",
                about(found.tasks),
                short(found.median_run),
                short(found.overhead),
                found.overhead_percent(),
                found.batch_for(5.0),
            ),
        })
    }

    /// The tasks submitted at `location` pile up, not started, without end.
    pub(crate) fn unbounded_backlog(
        &self,
        location: &'static Location<'static>,
        found: &Backlog,
    ) -> Result<(), Error> {
        if !self.is_on() {
            return Ok(());
        }
        let cpus = found.cpus.max(1);
        self.raise_once(AntiPatternReport {
            kind: AntiPatternKind::UnboundedBacklog,
            location,
            message: format!(
                "an unbounded backlog at {location}: {} tasks submitted here are waiting \
                 to start ({} per CPU of the runtime's {cpus}), and the line kept \
                 submitting for {:.1} s while that grew from {}. Each waiting task holds \
                 its arguments in memory until it runs. Bound the tasks in flight: \
                 `map_unordered(items, max_in_flight, f)` (a few per CPU is enough, e.g. {}), \
                 or `wait` for some to finish before submitting more.",
                about(found.waiting),
                about(found.waiting / cpus as u64),
                found.growing_for.as_secs_f64(),
                about(found.waiting_before),
                4 * cpus,
            ),
        })
    }

    /// A task's error was never read before its last ref was dropped.
    pub(crate) fn unread_error(&self, err: &Error) {
        if !self.is_on() {
            return;
        }
        let location = err
            .task()
            .map_or_else(Location::caller, |task| task.location());
        tracing::warn!(
            kind = ?AntiPatternKind::UnreadError,
            location = %location,
            "taskref anti-pattern: an error nobody read: {err}. Every ref of the task was \
             dropped without a get; read refs (or use `get_all_settled`) so failures are not lost."
        );
    }
}

/// A short duration for a message: nanoseconds, microseconds or milliseconds.
fn short(d: Duration) -> String {
    match d.as_nanos() {
        n if n < 1_000 => format!("{n} ns"),
        n if n < 1_000_000 => format!("{:.1} µs", n as f64 / 1e3),
        n => format!("{:.1} ms", n as f64 / 1e6),
    }
}

/// An estimate for a message: "about" and two significant digits.
fn about(n: u64) -> String {
    let mut scale = 1;
    while n / scale >= 100 {
        scale *= 10;
    }
    let rounded = (n + scale / 2) / scale * scale;
    let digits = rounded.to_string();
    // Thousands separated by commas, as the rest of the messages.
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("about {grouped}")
}

fn submission_order_report(location: &'static Location<'static>, site: &Site) -> AntiPatternReport {
    AntiPatternReport {
        kind: AntiPatternKind::SubmissionOrder,
        location,
        message: format!(
            "results in submission order at {location}: waited {} times on a pending ref while \
             refs submitted after it were already done ({:.1} ms spent waiting so). Process \
             results as they complete with `as_completed` / `block_as_completed` or `wait`.",
            site.out_of_order,
            site.lost.as_secs_f64() * 1e3
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_read_as_two_significant_digits() {
        let read: Vec<String> = [0, 7, 99, 2048, 4096, 10_000, 123_456, 1_950_000]
            .map(about)
            .to_vec();
        assert_eq!(
            read,
            [
                "about 0",
                "about 7",
                "about 99",
                "about 2,000",
                "about 4,100",
                "about 10,000",
                "about 120,000",
                "about 2,000,000"
            ]
        );
    }

    #[test]
    fn durations_read_in_their_unit() {
        let read: Vec<String> = [170, 1_332, 717_400, 12_500_000]
            .map(|n| short(Duration::from_nanos(n)))
            .to_vec();
        assert_eq!(read, ["170 ns", "1.3 µs", "717.4 µs", "12.5 ms"]);
    }
}
