//! What each line that submits tasks costs, from a sample of its tasks: how
//! many wait to start, how long they run, and what each costs the runtime.
//! The evidence of two of the detector's rules: too fine-grained tasks and an
//! unbounded backlog.
//
// Following every task would cost every task a map lookup. One task in
// `SAMPLE_EVERY`, chosen by a hash of its id, is followed instead: its
// submission, start and end each touch its line's entry once, well under a
// nanosecond per task when spread over all of them. The hash (Fibonacci
// hashing) spreads every arithmetic progression of ids evenly, so a program
// that alternates between lines cannot hide one of them from the sample.

use std::panic::Location;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::identity::ObjectId;

/// One task in this many is followed.
pub(crate) const SAMPLE_EVERY: u64 = 64;

/// Whether the task `id` is one of the followed.
pub(crate) fn is_sampled(id: ObjectId) -> bool {
    sampled(id.as_u64())
}

fn sampled(number: u64) -> bool {
    number.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SAMPLE_EVERY.trailing_zeros()) == 0
}

/// How many of its followed tasks' figures a line keeps (the latest).
const RECENT: usize = 64;

/// How many followed tasks of a line must have run before it can be called
/// too fine-grained: about 2,000 tasks. A few hundred small tasks cost a
/// millisecond at most; the rule is about lines that submit thousands.
const MIN_RUNS: u64 = 32;

/// A backlog is never unbounded below this many waiting tasks (a few MB of
/// pending tasks), nor below this many per CPU the runtime has.
const BACKLOG_FLOOR: u64 = 10_000;
const BACKLOG_PER_CPU: u64 = 1_000;

/// How long a line must keep submitting, its backlog above the floor and
/// growing all along, before the backlog counts as unbounded. A burst of a
/// million trivial tasks (W6) is submitted in under a second in a release
/// build and about two in a debug one: a finite batch ends before this; a
/// stream of submissions that outpaces the tasks does not.
const BACKLOG_SUSTAINED: Duration = Duration::from_secs(5);

/// The backlog is looked at again at most this often (at a followed
/// submission): it must not have shrunk since the last look...
const BACKLOG_LOOK_EVERY: Duration = Duration::from_secs(1);

/// ...and the line must have submitted again within this long (or within
/// three of its usual gaps between followed submissions, for a line that
/// submits slowly): a batch that waits while its line is quiet is not a
/// stream of submissions.
const BACKLOG_QUIET_GAP: Duration = Duration::from_secs(2);

/// And by how much the backlog must have grown over the whole time: a
/// backlog that holds steady, however high, is bounded by something.
const BACKLOG_GROWTH: u64 = 2;

/// A line's backlog while it stays above the floor: since when, how big it
/// was then, and at the latest look.
#[derive(Clone, Copy)]
struct Piling {
    since: Instant,
    first: u64,
    looked_at: Instant,
    last: u64,
}

impl Piling {
    fn new(now: Instant, waiting: u64) -> Piling {
        Piling {
            since: now,
            first: waiting,
            looked_at: now,
            last: waiting,
        }
    }

    /// The backlog is `waiting` at `now`: the episode goes on, or starts
    /// over when the line was quiet (for longer than `quiet`) or the
    /// backlog shrank.
    fn look(&mut self, now: Instant, waiting: u64, quiet: Duration) {
        let gap = now.saturating_duration_since(self.looked_at);
        if gap < BACKLOG_LOOK_EVERY {
            return;
        }
        if gap > quiet || waiting < self.last {
            *self = Piling::new(now, waiting);
        } else {
            (self.looked_at, self.last) = (now, waiting);
        }
    }

    fn is_unbounded(&self, now: Instant, waiting: u64) -> bool {
        now.saturating_duration_since(self.since) >= BACKLOG_SUSTAINED
            && waiting >= self.first.saturating_mul(BACKLOG_GROWTH)
    }
}

/// The evidence that a line's tasks are too small for what each costs.
#[derive(Clone, Debug)]
pub(crate) struct Granularity {
    /// About how many tasks of the line ran.
    pub(crate) tasks: u64,
    /// Their median run time (from start to finish, awaits included).
    pub(crate) median_run: Duration,
    /// What the runtime spent on each, measured (medians): submitting it
    /// (from the call to `remote` until it returned), entering it (from
    /// its start to its code) and finishing it (storing the value and
    /// recording the end). Scheduling, waking the waiters and gathering
    /// cost more on top: this is a floor.
    pub(crate) overhead: Duration,
}

impl Granularity {
    /// The share of each task's time that is the runtime's, in percent.
    pub(crate) fn overhead_percent(&self) -> f64 {
        let (overhead, run) = (self.overhead.as_secs_f64(), self.median_run.as_secs_f64());
        100.0 * overhead / (overhead + run).max(f64::MIN_POSITIVE)
    }

    /// How many of today's tasks one task should do so that the overhead
    /// is at most `percent` of its time, rounded up to 1, 2 or 5 times a
    /// power of ten.
    pub(crate) fn batch_for(&self, percent: f64) -> u64 {
        let run = self.median_run.as_secs_f64().max(1e-9);
        let needed = self.overhead.as_secs_f64() * (100.0 - percent) / percent / run;
        round_up_to_1_2_5(needed.ceil().max(1.0) as u64)
    }
}

fn round_up_to_1_2_5(n: u64) -> u64 {
    let mut power = 1u64;
    loop {
        for step in [1, 2, 5] {
            if step * power >= n {
                return step * power;
            }
        }
        power = power.saturating_mul(10);
    }
}

/// The evidence that a line submits tasks faster than they start, without end.
#[derive(Clone, Debug)]
pub(crate) struct Backlog {
    /// About how many of its tasks wait to start now.
    pub(crate) waiting: u64,
    /// How many waited when it first went above the floor.
    pub(crate) waiting_before: u64,
    /// How long it has stayed above the floor while the line kept submitting.
    pub(crate) growing_for: Duration,
    /// The runtime's CPUs.
    pub(crate) cpus: usize,
}

#[derive(Default)]
struct Site {
    /// Followed tasks submitted here, and those of them that started (or
    /// ended without starting): the difference estimates the backlog.
    submitted: u64,
    left: u64,
    /// The backlog while it is above the floor.
    piling: Option<Piling>,
    /// When the last followed task was submitted here, and the usual gap
    /// between two (a moving average).
    last_submitted: Option<Instant>,
    usual_gap: Duration,
    /// The latest run times of its followed tasks, and what the runtime
    /// spent submitting and finishing them.
    runs: Recent,
    submits: Recent,
    entries: Recent,
    finishes: Recent,
    /// Set while the line's tasks are found too fine-grained.
    too_fine: Option<Granularity>,
    /// Whether the next followed submission carries the finding (to be
    /// refused under `Deny`): every other one does, so that the others run
    /// and keep the evidence current.
    carry_next: bool,
}

/// The latest `RECENT` durations of something (a ring), and how many there
/// were in all. Judged by their median: a thread preempted in the middle of
/// one (likely when the machine's cores are all busy) makes that one
/// absurdly long, and a mean would follow it.
#[derive(Default)]
struct Recent {
    nanos: Vec<u32>,
    seen: u64,
}

impl Recent {
    fn push(&mut self, d: Duration) {
        let nanos = u32::try_from(d.as_nanos()).unwrap_or(u32::MAX);
        match self.nanos.len() < RECENT {
            true => self.nanos.push(nanos),
            false => self.nanos[(self.seen % RECENT as u64) as usize] = nanos,
        }
        self.seen += 1;
    }

    fn median(&self) -> Option<Duration> {
        let mut sorted = self.nanos.clone();
        sorted.sort_unstable();
        let middle = *sorted.get(sorted.len() / 2)?;
        Some(Duration::from_nanos(u64::from(middle)))
    }
}

impl Site {
    fn waiting(&self) -> u64 {
        self.submitted.saturating_sub(self.left) * SAMPLE_EVERY
    }

    fn granularity(&self) -> Option<Granularity> {
        Some(Granularity {
            tasks: self.runs.seen * SAMPLE_EVERY,
            median_run: self.runs.median()?,
            overhead: self.submits.median()?
                + self.entries.median().unwrap_or_default()
                + self.finishes.median()?,
        })
    }
}

/// The followed tasks of each line that submits them.
pub(crate) struct Submissions {
    sites: DashMap<&'static Location<'static>, Site>,
    cpus: usize,
}

impl Submissions {
    pub(crate) fn new(cpus: usize) -> Submissions {
        Submissions {
            sites: DashMap::new(),
            cpus,
        }
    }

    /// A followed task is being submitted from `location`. Returns what
    /// the line was found doing, if anything: its backlog, when it has
    /// become unbounded, and its tasks' granularity while found too fine
    /// (every other followed submission: see `Site::carry_next`).
    pub(crate) fn submitting(
        &self,
        location: &'static Location<'static>,
    ) -> (Option<Backlog>, Option<Granularity>) {
        let mut site = self.sites.entry(location).or_default();
        site.submitted += 1;
        let now = Instant::now();
        if let Some(last) = site.last_submitted.replace(now) {
            let gap = now.saturating_duration_since(last);
            site.usual_gap = (site.usual_gap * 7 + gap) / 8;
        }
        let waiting = site.waiting();
        let floor = BACKLOG_FLOOR.max(BACKLOG_PER_CPU.saturating_mul(self.cpus as u64));
        let too_fine = match site.too_fine.clone() {
            Some(found) => {
                site.carry_next = !site.carry_next;
                site.carry_next.then_some(found)
            }
            None => None,
        };
        if waiting < floor {
            site.piling = None;
            return (None, too_fine);
        }
        let quiet = BACKLOG_QUIET_GAP.max(site.usual_gap * 3);
        let piling = site.piling.get_or_insert_with(|| Piling::new(now, waiting));
        piling.look(now, waiting, quiet);
        let backlog = piling.is_unbounded(now, waiting).then(|| Backlog {
            waiting,
            waiting_before: piling.first,
            growing_for: now.saturating_duration_since(piling.since),
            cpus: self.cpus,
        });
        (backlog, too_fine)
    }

    /// Submitting a followed task from `location` took `took`.
    pub(crate) fn submitted(&self, location: &'static Location<'static>, took: Duration) {
        if let Some(mut site) = self.sites.get_mut(location) {
            site.submits.push(took);
        }
    }

    /// A followed task from `location` started, or ended without starting:
    /// it no longer waits.
    pub(crate) fn left(&self, location: &'static Location<'static>) {
        if let Some(mut site) = self.sites.get_mut(location) {
            site.left += 1;
        }
    }

    /// A followed task from `location` ran its code for `run`; entering
    /// it (from its start to its code, when seen) took `entered`, and
    /// finishing it took `finish`. Returns the line's granularity when this
    /// run makes the evidence that its tasks are too fine-grained.
    pub(crate) fn ran(
        &self,
        location: &'static Location<'static>,
        run: Duration,
        entered: Option<Duration>,
        finish: Duration,
    ) -> Option<Granularity> {
        let mut site = self.sites.get_mut(location)?;
        site.runs.push(run);
        if let Some(entered) = entered {
            site.entries.push(entered);
        }
        site.finishes.push(finish);
        // Judged every 16 runs from `MIN_RUNS` on, and again after it is
        // found (a line's tasks may grow with their input: a finding holds
        // only while its evidence does).
        if site.runs.seen < MIN_RUNS || site.runs.seen % 16 != 0 {
            return None;
        }
        let granularity = site.granularity()?;
        // Below the overhead: the runtime's share of each task is over
        // half. That is far below in truth: the measured overhead leaves
        // out scheduling and gathering, and the run time includes some of
        // the runtime's own work (entering the task, leaving it).
        if granularity.median_run >= granularity.overhead {
            site.too_fine = None;
            return None;
        }
        let newly = site.too_fine.replace(granularity.clone()).is_none();
        newly.then_some(granularity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_takes_one_in_sample_every_of_any_progression() {
        for stride in [1, 2, 3, 7, 64, 1000] {
            let sampled = (1..=640_000u64).filter(|i| sampled(i * stride)).count() as u64;
            let expected = 640_000 / SAMPLE_EVERY;
            assert!(
                sampled.abs_diff(expected) < expected / 10,
                "stride {stride}: {sampled} sampled, expected about {expected}"
            );
        }
    }

    #[test]
    fn batch_sizes_round_up_to_one_two_five() {
        let steps: Vec<u64> = [1, 2, 3, 6, 11, 20, 21, 499, 501]
            .map(round_up_to_1_2_5)
            .to_vec();
        assert_eq!(steps, [1, 2, 5, 10, 20, 20, 50, 500, 1000]);
        let g = Granularity {
            tasks: 10_000,
            median_run: Duration::from_nanos(50),
            overhead: Duration::from_nanos(500),
        };
        // 500 ns over (500 ns + b × 50 ns) ≤ 5 % needs b ≥ 190.
        assert_eq!(g.batch_for(5.0), 200);
        assert!((g.overhead_percent() - 90.9).abs() < 0.1);
    }

    #[test]
    fn tiny_tasks_are_found_once_enough_have_run() {
        let subs = Submissions::new(2);
        let at = Location::caller();
        subs.submitting(at);
        subs.submitted(at, Duration::from_nanos(400));
        let mut found = None;
        for i in 0..MIN_RUNS {
            assert!(found.is_none(), "found after {i} runs");
            found = subs.ran(
                at,
                Duration::from_nanos(40),
                None,
                Duration::from_nanos(200),
            );
        }
        let found = found.expect("found at MIN_RUNS");
        assert_eq!(found.overhead, Duration::from_nanos(600));
        assert_eq!(found.median_run, Duration::from_nanos(40));
        // Found once; every other submission carries it.
        assert!(subs
            .ran(at, Duration::from_nanos(40), None, Duration::ZERO)
            .is_none());
        assert!(subs.submitting(at).1.is_some());
        assert!(subs.submitting(at).1.is_none());
        assert!(subs.submitting(at).1.is_some());
    }

    #[test]
    fn a_finding_holds_only_while_its_evidence_does() {
        let subs = Submissions::new(2);
        let at = Location::caller();
        subs.submitting(at);
        subs.submitted(at, Duration::from_nanos(400));
        for _ in 0..MIN_RUNS {
            subs.ran(
                at,
                Duration::from_nanos(40),
                None,
                Duration::from_nanos(200),
            );
        }
        assert!(subs.sites.get(at).unwrap().too_fine.is_some());
        // The line's tasks grow: 64 runs of 20 µs make the median.
        for _ in 0..RECENT {
            subs.ran(
                at,
                Duration::from_micros(20),
                None,
                Duration::from_nanos(200),
            );
        }
        assert!(subs.sites.get(at).unwrap().too_fine.is_none());
        assert!((0..4).all(|_| subs.submitting(at).1.is_none()));
    }

    #[test]
    fn tasks_that_run_as_long_as_the_overhead_are_not_too_fine() {
        let subs = Submissions::new(2);
        let at = Location::caller();
        subs.submitting(at);
        subs.submitted(at, Duration::from_nanos(400));
        for _ in 0..10 * MIN_RUNS {
            let found = subs.ran(
                at,
                Duration::from_nanos(600),
                None,
                Duration::from_nanos(200),
            );
            assert!(found.is_none());
        }
    }

    #[test]
    fn a_backlog_under_the_floor_is_forgotten() {
        let subs = Submissions::new(2);
        let at = Location::caller();
        let floor = BACKLOG_FLOOR.div_ceil(SAMPLE_EVERY);
        for _ in 0..floor * 3 {
            assert!(subs.submitting(at).0.is_none(), "not yet sustained");
        }
        assert!(subs.sites.get(at).unwrap().piling.is_some());
        // A submission that finds it drained under the floor forgets it.
        for _ in 0..floor * 3 {
            subs.left(at);
        }
        subs.submitting(at);
        let site = subs.sites.get(at).unwrap();
        assert_eq!(site.waiting(), SAMPLE_EVERY);
        assert!(site.piling.is_none());
    }

    /// The looks a line's backlog gets: (seconds since the first, size).
    fn episode(looks: &[(f64, u64)]) -> (Piling, bool) {
        let start = Instant::now();
        let at = |secs: f64| start + Duration::from_secs_f64(secs);
        let mut piling = Piling::new(at(looks[0].0), looks[0].1);
        let mut unbounded = false;
        for &(secs, waiting) in &looks[1..] {
            piling.look(at(secs), waiting, BACKLOG_QUIET_GAP);
            unbounded = piling.is_unbounded(at(secs), waiting);
        }
        (piling, unbounded)
    }

    #[test]
    fn a_backlog_growing_while_its_line_keeps_submitting_is_unbounded() {
        let looks: Vec<(f64, u64)> = (0..=10)
            .map(|i| (i as f64 * 0.5, 10_000 + i * 2_000))
            .collect();
        assert!(episode(&looks).1);
        // Not before the sustained time.
        assert!(!episode(&looks[..9]).1);
    }

    #[test]
    fn a_batch_that_waits_while_its_line_is_quiet_is_not_unbounded() {
        // 40,000 at once, then one more submission six seconds later.
        let (piling, unbounded) = episode(&[(0.0, 10_000), (0.1, 40_000), (6.0, 40_001)]);
        assert!(!unbounded);
        assert_eq!(piling.first, 40_001, "started over after the quiet gap");
    }

    #[test]
    fn a_backlog_that_shrinks_or_holds_steady_is_not_unbounded() {
        // A burst, then a trickle that runs slower than the tasks drain.
        let shrinking: Vec<(f64, u64)> = (0..=12)
            .map(|i| (i as f64 * 0.5, 40_000 - i * 500))
            .collect();
        assert!(!episode(&shrinking).1);
        let steady: Vec<(f64, u64)> = (0..=12).map(|i| (i as f64 * 0.5, 30_000 + i % 2)).collect();
        assert!(!episode(&steady).1);
    }
}
