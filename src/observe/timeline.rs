//! Per-task records (submit, start, end, outcome, worker) and the caller's
//! waits, kept in a bounded buffer, and their Chrome trace export.
//
// Records are appended on the thread where a task ends, to that thread's
// shard (an uncontended lock), and each shard is a ring: once full, the oldest
// record goes. A snapshot merges the shards and sorts by submit time.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::Location;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;

use super::stats::Outcome;
use crate::identity::TaskInfo;
use crate::ObjectId;

const SHARDS: usize = 16;
/// A wait record keeps at most this many ref ids (and the total count).
pub(crate) const MAX_WAIT_IDS: usize = 64;

/// One task, as the timeline saw it. Times are offsets from the runtime's start.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskRecord {
    /// Who the task is.
    pub task: TaskInfo,
    /// When it was submitted.
    pub submitted: Duration,
    /// When it started running (`None` if it never ran).
    pub started: Option<Duration>,
    /// When it ended.
    pub ended: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// The thread it ran on, numbered in the order threads first ran a task.
    pub worker: Option<usize>,
}

/// One call that waited for refs (`get`, `get_all`, `wait`, `block_*`, ...).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WaitRecord {
    /// Which call (`"get"`, `"block_get"`, `"get_all"`, `"wait"`, ...).
    pub call: &'static str,
    /// The caller's line.
    pub location: &'static Location<'static>,
    /// When it started waiting.
    pub started: Duration,
    /// When it returned.
    pub ended: Duration,
    /// The refs it waited on (the first 64).
    pub refs: Vec<ObjectId>,
    /// How many refs it waited on in all.
    pub ref_count: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// This thread's number, for the `worker` of a record.
pub(crate) fn worker_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|index| {
        if index.get() == usize::MAX {
            index.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        index.get()
    })
}

pub(crate) struct Recorder {
    epoch: Instant,
    shard_capacity: usize,
    tasks: Box<[Mutex<VecDeque<TaskRecord>>]>,
    waits: Mutex<VecDeque<WaitRecord>>,
    wait_capacity: usize,
}

impl Recorder {
    pub(crate) fn new(epoch: Instant, capacity: usize) -> Recorder {
        Recorder {
            epoch,
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            tasks: (0..SHARDS).map(|_| Mutex::default()).collect(),
            waits: Mutex::default(),
            wait_capacity: capacity.clamp(1, 100_000),
        }
    }

    pub(crate) fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.epoch)
    }

    pub(crate) fn record_task(&self, record: TaskRecord) {
        let mut shard = lock(&self.tasks[worker_index() % SHARDS]);
        if shard.len() >= self.shard_capacity {
            shard.pop_front();
        }
        shard.push_back(record);
    }

    pub(crate) fn record_wait(&self, record: WaitRecord) {
        let mut waits = lock(&self.waits);
        if waits.len() >= self.wait_capacity {
            waits.pop_front();
        }
        waits.push_back(record);
    }

    /// The most recent records of each shard, newest last, for the detector.
    pub(crate) fn recent_tasks(
        &self,
        per_shard: usize,
        mut visit: impl FnMut(&TaskRecord) -> bool,
    ) {
        for shard in self.tasks.iter() {
            let shard = lock(shard);
            for record in shard.iter().rev().take(per_shard) {
                if visit(record) {
                    return;
                }
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Timeline {
        let mut tasks: Vec<TaskRecord> = self
            .tasks
            .iter()
            .flat_map(|shard| lock(shard).iter().cloned().collect::<Vec<_>>())
            .collect();
        tasks.sort_by_key(|r| (r.submitted, r.task.id()));
        let waits = lock(&self.waits).iter().cloned().collect();
        Timeline { tasks, waits }
    }

    pub(crate) fn clear(&self) {
        for shard in self.tasks.iter() {
            lock(shard).clear();
        }
        lock(&self.waits).clear();
    }
}

/// A snapshot of a runtime's recent tasks and waits: what ran when, on which
/// thread, and where the caller was blocked. Export it as a Chrome trace (open
/// in Perfetto or `chrome://tracing`, like `ray timeline` output) or as an SVG
/// Gantt picture.
///
/// Recording is on by default and bounded (the last 100,000 tasks and waits);
/// see [`Builder::timeline`](crate::Builder::timeline).
///
/// # Examples
///
/// ```
/// let rt = taskref::Runtime::new()?;
/// let f = rt.remote(|x: u32| async move { x });
/// taskref::block_get_all((0..3).map(|x| f.remote(x)))?;
/// let timeline = rt.timeline();
/// assert_eq!(timeline.tasks().len(), 3);
/// assert_eq!(timeline.waits()[0].call, "block_get_all");
/// let dir = std::env::temp_dir();
/// timeline.write_chrome_trace(dir.join("taskref-doc-trace.json"))?;
/// timeline.write_svg(dir.join("taskref-doc-trace.svg"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    tasks: Vec<TaskRecord>,
    waits: Vec<WaitRecord>,
}

impl Timeline {
    /// The tasks, in submission order.
    pub fn tasks(&self) -> &[TaskRecord] {
        &self.tasks
    }

    /// The caller's waits, in the order they returned.
    pub fn waits(&self) -> &[WaitRecord] {
        &self.waits
    }

    /// The Chrome trace event JSON of this timeline: one complete (`"X"`) event
    /// per task on the thread it ran on, and one per wait on a "caller" row.
    pub fn chrome_trace(&self) -> String {
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        let mut events = Vec::with_capacity(self.tasks.len() + self.waits.len() + 1);
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": 0,
            "args": {"name": "caller (waits)"}
        }));
        for record in &self.tasks {
            let start = record.started.unwrap_or(record.ended);
            events.push(json!({
                "name": task_label(&record.task),
                "cat": if record.task.actor().is_some() { "actor call" } else { "task" },
                "ph": "X",
                "pid": 1,
                "tid": record.worker.map_or(0, |w| w + 1),
                "ts": micros(start),
                "dur": micros(record.ended.saturating_sub(start)),
                "args": {
                    "id": record.task.id().as_u64(),
                    "location": record.task.location().to_string(),
                    "submitted_us": micros(record.submitted),
                    "outcome": format!("{:?}", record.outcome),
                    "actor": record.task.actor(),
                },
            }));
        }
        for wait in &self.waits {
            events.push(json!({
                "name": format!("{} at {}", wait.call, wait.location),
                "cat": "wait",
                "ph": "X",
                "pid": 1,
                "tid": 0,
                "ts": micros(wait.started),
                "dur": micros(wait.ended.saturating_sub(wait.started)),
                "args": {
                    "refs": wait.refs.iter().map(|id| id.as_u64()).collect::<Vec<_>>(),
                    "ref_count": wait.ref_count,
                },
            }));
        }
        serde_json::to_string(&json!({ "traceEvents": events, "displayTimeUnit": "ms" }))
            .expect("a JSON value serializes")
    }

    /// Writes [`chrome_trace`](Timeline::chrome_trace) to `path`.
    ///
    /// # Errors
    ///
    /// The I/O error if the file cannot be written.
    pub fn write_chrome_trace(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.chrome_trace())
    }

    /// An SVG Gantt picture of this timeline; see [`write_svg`](Timeline::write_svg).
    pub fn svg(&self) -> String {
        super::svg::render(self)
    }

    /// Writes an SVG Gantt picture to `path`: the caller's waits on top, then
    /// one lane per concurrently running task, bars coloured by outcome, a time
    /// axis in ms, and each bar's task, times and outcome on hover.
    ///
    /// # Errors
    ///
    /// The I/O error if the file cannot be written.
    pub fn write_svg(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.svg())
    }

    /// One SVG picture of several timelines, stacked top to bottom on the same
    /// time scale (each from its own first event), each titled with its label:
    /// the same workload written two ways, compared at a glance. See
    /// [`write_stacked_svg`](Timeline::write_stacked_svg).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let f = rt.remote(|x: u64| async move { x });
    /// f.remote(1).block_get()?;
    /// let looped = rt.timeline();
    /// rt.clear_timeline();
    /// taskref::block_get_all([f.remote(1), f.remote(2)])?;
    /// let gathered = rt.timeline();
    /// let svg = taskref::Timeline::stacked_svg(&[("loop", &looped), ("gathered", &gathered)]);
    /// assert!(svg.contains("loop: 1 task") && svg.contains("gathered: 2 tasks"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stacked_svg(panels: &[(&str, &Timeline)]) -> String {
        super::svg::render_stacked(panels)
    }

    /// Writes [`stacked_svg`](Timeline::stacked_svg) to `path`.
    ///
    /// # Errors
    ///
    /// The I/O error if the file cannot be written.
    pub fn write_stacked_svg(
        path: impl AsRef<Path>,
        panels: &[(&str, &Timeline)],
    ) -> io::Result<()> {
        std::fs::write(path, Timeline::stacked_svg(panels))
    }
}

/// A task's label: its name, or its id and call site.
pub(crate) fn task_label(task: &TaskInfo) -> String {
    match task.name() {
        Some(name) => name.to_owned(),
        None => format!("{} {}", task.id(), task.location()),
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} tasks, {} waits", self.tasks.len(), self.waits.len())
    }
}
