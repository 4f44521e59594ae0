//! Counters of what a runtime did, and the parallelism it achieved.
//
// Each counter sits on its own cache line: workers finishing tasks and the
// submitting thread would otherwise fight over one line. Updates are relaxed:
// a snapshot is a set of independent reads, not a consistent cut (a task may be
// counted as finished but still as running for a moment).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
#[repr(align(64))]
struct Counter(AtomicU64);

impl Counter {
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How a task ended, for the counters and the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It produced a value.
    Ok,
    /// It panicked, returned `Err`, timed out, or a dependency failed.
    Failed,
    /// It was cancelled.
    Cancelled,
    /// Its runtime shut down first.
    Shutdown,
}

#[derive(Default)]
pub(crate) struct Counters {
    submitted: Counter,
    running: Counter,
    /// Running tasks can finish on other threads: kept as a signed balance.
    stopped: Counter,
    peak: Counter,
    finished: Counter,
    failed: Counter,
    cancelled: Counter,
    busy_nanos: Counter,
    items: Counter,
    window: Mutex<Window>,
}

struct Window {
    started: Instant,
    /// Counters at the start of the window, subtracted from every snapshot.
    base: [u64; 6],
}

impl Default for Window {
    fn default() -> Self {
        Window {
            started: Instant::now(),
            base: [0; 6],
        }
    }
}

impl Counters {
    pub(crate) fn submitted(&self) {
        self.submitted.add(1);
    }

    /// A task started running: counts it and updates the peak.
    pub(crate) fn started(&self) {
        self.running.add(1);
        let now = self.running.get().saturating_sub(self.stopped.get());
        self.peak.0.fetch_max(now, Ordering::Relaxed);
    }

    /// A task ended. `ran` is how long it ran, if it started.
    pub(crate) fn ended(&self, outcome: Outcome, ran: Option<Duration>) {
        if let Some(ran) = ran {
            self.stopped.add(1);
            self.busy_nanos
                .add(u64::try_from(ran.as_nanos()).unwrap_or(u64::MAX));
        }
        match outcome {
            Outcome::Ok => self.finished.add(1),
            Outcome::Failed | Outcome::Shutdown => self.failed.add(1),
            Outcome::Cancelled => self.cancelled.add(1),
        }
    }

    /// Total time tasks ran, in nanoseconds, so far.
    pub(crate) fn busy_nanos(&self) -> u64 {
        self.busy_nanos.get()
    }

    /// Streaming tasks handed back `n` more items.
    pub(crate) fn items(&self, n: u64) {
        self.items.add(n);
    }

    /// Tasks submitted but not ended yet (pending or running).
    pub(crate) fn unfinished(&self) -> u64 {
        self.submitted
            .get()
            .saturating_sub(self.finished.get() + self.failed.get() + self.cancelled.get())
    }

    fn raw(&self) -> [u64; 6] {
        [
            self.submitted.get(),
            self.finished.get(),
            self.failed.get(),
            self.cancelled.get(),
            self.busy_nanos.get(),
            self.items.get(),
        ]
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let raw = self.raw();
        let since = |i: usize| raw[i].saturating_sub(window.base[i]);
        Stats {
            submitted: since(0),
            running: self.running.get().saturating_sub(self.stopped.get()),
            finished: since(1),
            failed: since(2),
            cancelled: since(3),
            peak_concurrency: self.peak.get(),
            busy: Duration::from_nanos(since(4)),
            wall: window.started.elapsed(),
            items: since(5),
        }
    }

    pub(crate) fn reset(&self) {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        window.base = self.raw();
        window.started = Instant::now();
        let running = self.running.get().saturating_sub(self.stopped.get());
        self.peak.0.store(running, Ordering::Relaxed);
    }
}

/// A snapshot of a runtime's counters over the current window (since the
/// runtime started or since [`Runtime::reset_stats`](crate::Runtime::reset_stats)).
///
/// Counters are read one by one while tasks run, so a snapshot is not an
/// atomic cut: a task may show as both finished and running for an instant.
/// Once the runtime is idle, `submitted == finished + failed + cancelled`.
///
/// # Examples
///
/// ```
/// let rt = taskref::Runtime::new()?;
/// let sleepy = rt.remote(|_: u32| async { tokio::time::sleep(std::time::Duration::from_millis(20)).await });
/// rt.reset_stats();
/// taskref::block_get_all((0..10).map(|i| sleepy.remote(i)))?;
/// let stats = rt.stats();
/// assert_eq!(stats.submitted, 10);
/// assert_eq!(stats.finished, 10);
/// assert!(stats.parallelism() > 2.0, "ten 20 ms sleeps overlapped: {stats}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Tasks submitted in the window.
    pub submitted: u64,
    /// Tasks running now.
    pub running: u64,
    /// Tasks that produced a value in the window.
    pub finished: u64,
    /// Tasks that failed (panic, `Err`, timeout, failed dependency, shutdown)
    /// in the window.
    pub failed: u64,
    /// Tasks cancelled in the window.
    pub cancelled: u64,
    /// The most tasks running at once since the window started.
    pub peak_concurrency: u64,
    /// Total time tasks spent running (from start to end, awaits included).
    pub busy: Duration,
    /// How long the window has lasted.
    pub wall: Duration,
    /// Items streaming tasks handed back in the window
    /// ([`Runtime::remote_stream`](crate::Runtime::remote_stream)).
    pub items: u64,
}

impl Stats {
    /// Achieved parallelism: busy time / wall time. 1.0 means one task at a
    /// time on average; a get-in-a-loop program stays at or below 1.
    pub fn parallelism(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall == 0.0 {
            0.0
        } else {
            self.busy.as_secs_f64() / wall
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} submitted, {} running, {} finished, {} failed, {} cancelled, peak {}, \
             busy {:.1} ms over {:.1} ms (parallelism {:.2})",
            self.submitted,
            self.running,
            self.finished,
            self.failed,
            self.cancelled,
            self.peak_concurrency,
            self.busy.as_secs_f64() * 1e3,
            self.wall.as_secs_f64() * 1e3,
            self.parallelism()
        )
    }
}
