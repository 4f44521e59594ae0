//! Per-task records (submit, start, end, outcome, worker) and the caller's
//! waits, kept in a bounded buffer, and their Chrome trace export.
//
// Records are appended on the thread where a task ends, to that thread's
// shard (an uncontended lock: one lock for all was measured to contend). The
// bound and the order are the whole timeline's, not a shard's: every record
// gets a global sequence number (one `fetch_add`, taken under its shard's
// lock, so each shard stays sorted by it), and the timeline is the newest
// `capacity` numbers. Because the numbers are dense (each is taken by exactly
// one record), "older than the newest `capacity`" is simply `seq < next -
// capacity`, which a shard can check on its own without looking at others:
//
// - on every append, the shard drops its own records below that cutoff (cheap:
//   they are at its front);
// - a shard that stops getting records keeps its old ones, so every
//   `capacity / 8 + 64`-th record also sweeps every shard (amortised: 16
//   locks per that many records);
// - a snapshot merges the shards and keeps the newest `capacity` by number,
//   so what `timeline()` returns is exact whatever the sweeps have done.
//
// Memory is thus about `capacity + capacity / 8 + 64` records at most (a
// sweep leaves at most `capacity`, and the next comes that many records
// later), plus a few while a sweeping thread is held up. Waits are recorded
// by the caller, far less often than tasks end, into one ring under one lock.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::Location;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// One item a streaming task handed back: a mark on its task's bar.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemRecord {
    /// The streaming task.
    pub task: ObjectId,
    /// Which item (the first is 1).
    pub number: u64,
    /// When it was handed back.
    pub at: Duration,
}

/// One call that waited for refs (`get`, `get_all`, `wait`, `as_completed`,
/// `block_*`, ...). A call that found its refs ready at once did not wait
/// and has no record.
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

/// One shard's task records, each with its sequence number, oldest first.
type Shard = VecDeque<(u64, TaskRecord)>;

pub(crate) struct Recorder {
    epoch: Instant,
    /// How many task records (and, separately, wait records) are kept.
    capacity: usize,
    /// Every `sweep_every`-th task record sweeps every shard.
    sweep_every: u64,
    /// The sequence number of the next task record.
    next_seq: AtomicU64,
    /// Task records and their sequence numbers, oldest first in each shard.
    tasks: Box<[Mutex<Shard>]>,
    waits: Mutex<VecDeque<StoredWait>>,
    /// Items of streaming tasks, oldest first (at most `capacity`).
    items: Mutex<VecDeque<ItemRecord>>,
}

/// A wait as the recorder keeps it until a snapshot: the first ref inline,
/// the others (if any) boxed. Most waits are single-ref gets, and a ring of
/// 100,000 records with a heap `Vec` each made every eviction a free of cold
/// memory (40% of a drain loop's time, measured with `perf`).
#[derive(Clone)]
struct StoredWait {
    call: &'static str,
    location: &'static Location<'static>,
    started: Duration,
    ended: Duration,
    first: Option<ObjectId>,
    more: Option<Box<[ObjectId]>>,
    ref_count: usize,
}

impl StoredWait {
    fn to_record(&self) -> WaitRecord {
        let more = self.more.as_deref().unwrap_or_default();
        WaitRecord {
            call: self.call,
            location: self.location,
            started: self.started,
            ended: self.ended,
            refs: self.first.iter().chain(more).copied().collect(),
            ref_count: self.ref_count,
        }
    }
}

impl Recorder {
    pub(crate) fn new(epoch: Instant, capacity: usize) -> Recorder {
        Recorder {
            epoch,
            capacity,
            sweep_every: (capacity / 8 + 64) as u64,
            next_seq: AtomicU64::new(0),
            tasks: (0..SHARDS).map(|_| Mutex::default()).collect(),
            waits: Mutex::default(),
            items: Mutex::default(),
        }
    }

    /// Records items of streaming tasks, `(task, number, when)`: the newest
    /// `capacity` are kept.
    pub(crate) fn record_items(&self, batch: impl Iterator<Item = (ObjectId, u64, Instant)>) {
        let mut items = lock(&self.items);
        for (task, number, at) in batch {
            if items.len() >= self.capacity {
                items.pop_front();
            }
            items.push_back(ItemRecord {
                task,
                number,
                at: self.offset(at),
            });
        }
    }

    pub(crate) fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.epoch)
    }

    /// The first sequence number among the newest `capacity`, if `next` is
    /// the next one to be given out: everything below it is out of the
    /// timeline for good.
    fn cutoff(&self, next: u64) -> u64 {
        next.saturating_sub(self.capacity as u64)
    }

    pub(crate) fn record_task(&self, record: TaskRecord) {
        let seq = {
            let mut shard = lock(&self.tasks[worker_index() % SHARDS]);
            // Taken under the shard's lock, so the shard stays in order.
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            trim(&mut shard, self.cutoff(seq + 1));
            shard.push_back((seq, record));
            seq
        };
        if seq % self.sweep_every == self.sweep_every - 1 {
            self.sweep();
        }
    }

    /// Drops the records older than the newest `capacity` from every shard:
    /// those that get no new records keep theirs until a sweep.
    fn sweep(&self) {
        let cutoff = self.cutoff(self.next_seq.load(Ordering::Relaxed));
        for shard in self.tasks.iter() {
            trim(&mut lock(shard), cutoff);
        }
    }

    /// Records a caller's wait on `refs` (at most `MAX_WAIT_IDS` are kept)
    /// out of `ref_count`.
    pub(crate) fn record_wait(
        &self,
        call: &'static str,
        location: &'static Location<'static>,
        (started, ended): (Duration, Duration),
        mut refs: impl Iterator<Item = ObjectId>,
        ref_count: usize,
    ) {
        let first = refs.next();
        let more: Box<[ObjectId]> = refs.take(MAX_WAIT_IDS.saturating_sub(1)).collect();
        let record = StoredWait {
            call,
            location,
            started,
            ended,
            first,
            more: (!more.is_empty()).then_some(more),
            ref_count,
        };
        let mut waits = lock(&self.waits);
        if waits.len() >= self.capacity {
            waits.pop_front();
        }
        waits.push_back(record);
    }

    /// The most recent records of each shard, newest first within a shard,
    /// for the detector: at most `per_shard` from each, all of them still in
    /// the timeline. `visit` returns `true` to stop.
    pub(crate) fn recent_tasks(
        &self,
        per_shard: usize,
        mut visit: impl FnMut(&TaskRecord) -> bool,
    ) {
        let cutoff = self.cutoff(self.next_seq.load(Ordering::Relaxed));
        for shard in self.tasks.iter() {
            let shard = lock(shard);
            let recent = shard.iter().rev().take(per_shard);
            for (_, record) in recent.take_while(|(seq, _)| *seq >= cutoff) {
                if visit(record) {
                    return;
                }
            }
        }
    }

    /// The newest `capacity` task records (in submission order) and waits.
    pub(crate) fn snapshot(&self) -> Timeline {
        let mut numbered: Vec<(u64, TaskRecord)> = Vec::new();
        for shard in self.tasks.iter() {
            numbered.extend(lock(shard).iter().cloned());
        }
        // Shards may hold a few more than `capacity` between sweeps: keep the
        // newest by number.
        if numbered.len() > self.capacity {
            numbered.sort_unstable_by_key(|(seq, _)| *seq);
            numbered.drain(..numbered.len() - self.capacity);
        }
        let mut tasks: Vec<TaskRecord> = numbered.into_iter().map(|(_, r)| r).collect();
        tasks.sort_by_key(|r| (r.submitted, r.task.id()));
        let waits = lock(&self.waits)
            .iter()
            .map(StoredWait::to_record)
            .collect();
        let items = lock(&self.items).iter().cloned().collect();
        Timeline {
            tasks,
            waits,
            items,
        }
    }

    pub(crate) fn clear(&self) {
        for shard in self.tasks.iter() {
            lock(shard).clear();
        }
        lock(&self.waits).clear();
        lock(&self.items).clear();
    }

    /// Task records held in memory, for the tests of the bound.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.tasks.iter().map(|shard| lock(shard).len()).sum()
    }
}

/// Drops a shard's records numbered below `cutoff` (they are at its front).
fn trim(shard: &mut Shard, cutoff: u64) {
    while shard.front().is_some_and(|(seq, _)| *seq < cutoff) {
        shard.pop_front();
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
/// use std::time::Duration;
/// let rt = taskref::Runtime::new()?;
/// let f = rt.remote(|x: u64| async move {
///     tokio::time::sleep(Duration::from_millis(x)).await;
///     x
/// });
/// taskref::block_get_all((1..=3).map(|x| f.remote(x)))?;
/// let timeline = rt.timeline();
/// assert_eq!(timeline.tasks().len(), 3);
/// // The caller waited once, for the three of them.
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
    items: Vec<ItemRecord>,
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

    /// The items streaming tasks handed back, in order: each is a mark on
    /// its task's bar in the pictures (the first 1,000 of each stream; all
    /// are counted in [`Stats::items`](crate::Stats::items)).
    pub fn items(&self) -> &[ItemRecord] {
        &self.items
    }

    /// The Chrome trace event JSON of this timeline: one complete (`"X"`) event
    /// per task on the thread it ran on, one per wait on a "caller" row, and a
    /// flow arrow from each parent task (at the child's submission) to its
    /// child (at its start): the task tree.
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
                "name": record.task.label(),
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
                    "parent": record.task.parent().map(ObjectId::as_u64),
                },
            }));
        }
        let by_id: std::collections::HashMap<ObjectId, &TaskRecord> =
            self.tasks.iter().map(|r| (r.task.id(), r)).collect();
        for child in &self.tasks {
            let Some(parent) = child.task.parent().and_then(|id| by_id.get(&id)) else {
                continue;
            };
            let Some(started) = child.started else {
                continue; // it never ran: no arrow to draw
            };
            let flow = child.task.id().as_u64();
            events.push(json!({
                "name": "submitted", "cat": "task tree", "ph": "s", "id": flow, "pid": 1,
                "tid": parent.worker.map_or(0, |w| w + 1), "ts": micros(child.submitted),
            }));
            events.push(json!({
                "name": "submitted", "cat": "task tree", "ph": "f", "bp": "e", "id": flow,
                "pid": 1, "tid": child.worker.map_or(0, |w| w + 1), "ts": micros(started),
            }));
        }
        for item in &self.items {
            let tid = by_id
                .get(&item.task)
                .and_then(|t| t.worker)
                .map_or(0, |w| w + 1);
            events.push(json!({
                "name": format!("item {}", item.number), "cat": "stream item", "ph": "i",
                "s": "t", "pid": 1, "tid": tid, "ts": micros(item.at),
                "args": { "task": item.task.as_u64() },
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
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} tasks, {} waits", self.tasks.len(), self.waits.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn task(n: usize) -> TaskRecord {
        TaskRecord {
            task: TaskInfo::new(ObjectId::next(), None, Location::caller()),
            submitted: Duration::from_nanos(n as u64),
            started: None,
            ended: Duration::from_nanos(n as u64),
            outcome: Outcome::Ok,
            worker: None,
        }
    }

    fn record_wait(recorder: &Recorder, n: usize, refs: &[ObjectId]) {
        let span = (Duration::ZERO, Duration::ZERO);
        recorder.record_wait("get", Location::caller(), span, refs.iter().copied(), n);
    }

    #[test]
    fn a_wait_keeps_its_first_refs_in_order() {
        let recorder = Recorder::new(Instant::now(), 10);
        let ids: Vec<ObjectId> = (0..100).map(|_| ObjectId::next()).collect();
        record_wait(&recorder, 0, &[]);
        record_wait(&recorder, 1, &ids[..1]);
        record_wait(&recorder, 100, &ids);
        let waits = recorder.snapshot().waits;
        assert!(waits[0].refs.is_empty());
        assert_eq!(waits[1].refs, ids[..1]);
        assert_eq!(waits[2].refs, ids[..MAX_WAIT_IDS]);
        assert_eq!(waits[2].ref_count, 100);
    }

    #[test]
    fn the_newest_tasks_are_kept_whichever_threads_recorded_them() {
        let recorder = Arc::new(Recorder::new(Instant::now(), 100));
        // Eight threads (so several shards), each recording 1,000 tasks; the
        // records' submit times say which were recorded last by each thread.
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let recorder = Arc::clone(&recorder);
                std::thread::spawn(move || {
                    for n in 0..1_000 {
                        recorder.record_task(task(n));
                        // Bounded at all times (how far beyond the slack
                        // depends on how the threads are scheduled)...
                        let held = recorder.held();
                        assert!(held <= 3 * (100 + 76), "held {held}");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // ...and within the slack once they are done.
        assert!(recorder.held() <= 100 + 76, "held {}", recorder.held());
        let timeline = recorder.snapshot();
        assert_eq!(timeline.tasks().len(), 100);
        // Sequentially, on one thread: exactly the last 100, in order, and a
        // shard that goes quiet loses its old records to the others' new ones.
        let quiet = Recorder::new(Instant::now(), 100);
        let recorded: Vec<_> = (0..1_000).map(task).collect();
        for record in &recorded {
            quiet.record_task(record.clone());
        }
        let ids = |records: &[TaskRecord]| records.iter().map(|r| r.task.id()).collect::<Vec<_>>();
        assert_eq!(ids(quiet.snapshot().tasks()), ids(&recorded[900..]));
        let newer: Vec<_> = (1_000..1_100).map(task).collect();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for record in &newer {
                    quiet.record_task(record.clone());
                }
            });
        });
        let kept = ids(quiet.snapshot().tasks());
        assert_eq!(kept, ids(&newer), "the other thread's are all newer");
        assert!(
            quiet.held() <= 100 + 76,
            "a sweep dropped the quiet shard's: held {}",
            quiet.held()
        );
        quiet.clear();
        assert!(quiet.snapshot().tasks().is_empty());
        quiet.record_task(task(0));
        assert_eq!(quiet.snapshot().tasks().len(), 1);
    }

    #[test]
    fn waits_keep_the_whole_capacity_even_beyond_100_000() {
        let recorder = Recorder::new(Instant::now(), 150_000);
        for n in 0..150_010 {
            record_wait(&recorder, n, &[]);
        }
        let waits = recorder.snapshot().waits;
        assert_eq!(waits.len(), 150_000);
        assert_eq!(waits[0].ref_count, 10, "the oldest went first");
        assert_eq!(waits.last().map(|w| w.ref_count), Some(150_009));
    }
}
