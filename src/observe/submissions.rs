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

/// How many followed tasks' run times a line keeps (the latest).
const RECENT_RUNS: usize = 64;

/// How many followed tasks of a line must have run before it can be called
/// too fine-grained: about 2,000 tasks. A few hundred small tasks cost a
/// millisecond at most; the rule is about lines that submit thousands.
const MIN_RUNS: u64 = 32;

/// A backlog is never unbounded below this many waiting tasks (a few MB of
/// pending tasks), nor below this many per CPU the runtime has.
const BACKLOG_FLOOR: u64 = 10_000;
const BACKLOG_PER_CPU: u64 = 1_000;

/// How long a line must keep submitting, its backlog above the floor all
/// along, before the backlog counts as unbounded. A burst of a million
/// trivial tasks (W6) is submitted in under a second in a release build and
/// about two in a debug build: a finite batch ends before this; a stream of
/// submissions that outpaces the tasks does not.
const BACKLOG_SUSTAINED: Duration = Duration::from_secs(3);

/// And by how much the backlog must have grown meanwhile: a backlog that
/// holds steady, however high, is bounded by something.
const BACKLOG_GROWTH: u64 = 2;

/// The evidence that a line's tasks are too small for what each costs.
#[derive(Clone, Debug)]
pub(crate) struct Granularity {
    /// About how many tasks of the line ran.
    pub(crate) tasks: u64,
    /// Their median run time (from start to finish, awaits included).
    pub(crate) median_run: Duration,
    /// What the runtime spent on each, measured: submitting it (from the
    /// call to `remote` until it returned) and finishing it (storing the
    /// value, waking the waiters). Scheduling and gathering cost more on
    /// top: this is a floor.
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
    /// Since when the backlog has been above the floor, and how big it was.
    piling_since: Option<(Instant, u64)>,
    /// The latest run times, in nanoseconds (a ring), and how many ran.
    runs: Vec<u32>,
    ran: u64,
    /// The runtime's own time: submitting and finishing followed tasks.
    submit: Mean,
    finish: Mean,
    /// Set once the line's tasks are found too fine-grained.
    too_fine: Option<Granularity>,
}

#[derive(Default)]
struct Mean {
    nanos: u64,
    count: u64,
}

impl Mean {
    fn add(&mut self, d: Duration) {
        self.nanos = self.nanos.saturating_add(nanos(d));
        self.count += 1;
    }

    fn get(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.nanos / self.count))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Site {
    fn waiting(&self) -> u64 {
        self.submitted.saturating_sub(self.left) * SAMPLE_EVERY
    }

    fn granularity(&self) -> Option<Granularity> {
        let overhead = self.submit.get()? + self.finish.get()?;
        let mut recent = self.runs.clone();
        recent.sort_unstable();
        let median_run = Duration::from_nanos(u64::from(*recent.get(recent.len() / 2)?));
        Some(Granularity {
            tasks: self.ran * SAMPLE_EVERY,
            median_run,
            overhead,
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
    /// become unbounded, and its tasks' granularity, once found too fine.
    pub(crate) fn submitting(
        &self,
        location: &'static Location<'static>,
    ) -> (Option<Backlog>, Option<Granularity>) {
        let mut site = self.sites.entry(location).or_default();
        site.submitted += 1;
        let waiting = site.waiting();
        let floor = BACKLOG_FLOOR.max(BACKLOG_PER_CPU.saturating_mul(self.cpus as u64));
        let backlog = match site.piling_since {
            _ if waiting < floor => {
                site.piling_since = None;
                None
            }
            None => {
                site.piling_since = Some((Instant::now(), waiting));
                None
            }
            Some((since, before)) => {
                let growing_for = since.elapsed();
                (growing_for >= BACKLOG_SUSTAINED && waiting >= before * BACKLOG_GROWTH).then(
                    || Backlog {
                        waiting,
                        waiting_before: before,
                        growing_for,
                        cpus: self.cpus,
                    },
                )
            }
        };
        (backlog, site.too_fine.clone())
    }

    /// Submitting a followed task from `location` took `took`.
    pub(crate) fn submitted(&self, location: &'static Location<'static>, took: Duration) {
        if let Some(mut site) = self.sites.get_mut(location) {
            site.submit.add(took);
        }
    }

    /// A followed task from `location` started, or ended without starting:
    /// it no longer waits.
    pub(crate) fn left(&self, location: &'static Location<'static>) {
        if let Some(mut site) = self.sites.get_mut(location) {
            site.left += 1;
        }
    }

    /// A followed task from `location` ran for `run`, and finishing it took
    /// `finish`. Returns the line's granularity when this run makes the
    /// evidence that its tasks are too fine-grained.
    pub(crate) fn ran(
        &self,
        location: &'static Location<'static>,
        run: Duration,
        finish: Duration,
    ) -> Option<Granularity> {
        let mut site = self.sites.get_mut(location)?;
        let run = u32::try_from(nanos(run)).unwrap_or(u32::MAX);
        match site.runs.len() < RECENT_RUNS {
            true => site.runs.push(run),
            false => {
                let at = (site.ran % RECENT_RUNS as u64) as usize;
                site.runs[at] = run;
            }
        }
        site.ran += 1;
        site.finish.add(finish);
        // Judged every 16 runs from `MIN_RUNS` on, until found.
        if site.too_fine.is_some() || site.ran < MIN_RUNS || site.ran % 16 != 0 {
            return None;
        }
        let granularity = site.granularity()?;
        // Far below: the runtime's share is at least two thirds.
        if granularity.median_run * 2 > granularity.overhead {
            return None;
        }
        site.too_fine = Some(granularity.clone());
        Some(granularity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_takes_one_in_sample_every_of_any_progression() {
        for stride in [1, 2, 3, 7, 64, 1000] {
            let sampled = (1..=640_000u64)
                .filter(|i| sampled(i * stride))
                .count() as u64;
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
            found = subs.ran(at, Duration::from_nanos(40), Duration::from_nanos(200));
        }
        let found = found.expect("found at MIN_RUNS");
        assert_eq!(found.overhead, Duration::from_nanos(600));
        assert_eq!(found.median_run, Duration::from_nanos(40));
        // Found once; the next submission carries it.
        assert!(subs
            .ran(at, Duration::from_nanos(40), Duration::ZERO)
            .is_none());
        assert!(subs.submitting(at).1.is_some());
    }

    #[test]
    fn tasks_that_run_longer_than_half_the_overhead_are_not_too_fine() {
        let subs = Submissions::new(2);
        let at = Location::caller();
        subs.submitting(at);
        subs.submitted(at, Duration::from_nanos(400));
        for _ in 0..10 * MIN_RUNS {
            let found = subs.ran(at, Duration::from_nanos(400), Duration::from_nanos(200));
            assert!(found.is_none());
        }
    }

    #[test]
    fn a_backlog_that_stops_growing_or_drains_is_not_unbounded() {
        let subs = Submissions::new(2);
        let at = Location::caller();
        let floor = BACKLOG_FLOOR.div_ceil(SAMPLE_EVERY);
        for _ in 0..floor * 3 {
            assert!(subs.submitting(at).0.is_none(), "not yet sustained");
        }
        // A submission that finds it drained under the floor forgets it.
        for _ in 0..floor * 3 {
            subs.left(at);
        }
        subs.submitting(at);
        let mut site = subs.sites.get_mut(at).unwrap();
        assert_eq!(site.waiting(), SAMPLE_EVERY);
        assert!(site.piling_since.is_none());
        site.submitted += floor;
        drop(site);
        subs.submitting(at);
        let site = subs.sites.get(at).unwrap();
        let (_, before) = site.piling_since.expect("above the floor again");
        assert_eq!(before, (floor + 2) * SAMPLE_EVERY);
    }

    #[test]
    fn a_backlog_growing_past_the_sustained_time_is_unbounded() {
        let subs = Submissions::new(2);
        let at = Location::caller();
        let floor = BACKLOG_FLOOR.div_ceil(SAMPLE_EVERY);
        for _ in 0..floor {
            subs.submitting(at);
        }
        // Pretend the episode began long ago.
        let mut site = subs.sites.get_mut(at).unwrap();
        let (_, before) = site.piling_since.expect("at the floor");
        site.piling_since = Some((Instant::now() - BACKLOG_SUSTAINED, before));
        drop(site);
        assert!(subs.submitting(at).0.is_none(), "has not doubled yet");
        for _ in 0..floor {
            subs.submitting(at);
        }
        let backlog = subs.submitting(at).0.expect("doubled while sustained");
        assert!(backlog.waiting >= 2 * backlog.waiting_before);
        assert_eq!(backlog.cpus, 2);
    }
}
