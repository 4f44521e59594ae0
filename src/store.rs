//! The runtime's registry of tasks: what shutdown and cancel-by-id act on.
//
// Every submitted task is registered. Shutdown closes the store and fails every
// registered task that is still pending with `Error::Shutdown` (aborting its
// tokio task); `Runtime::cancel(id)` finds the task here.
//
// The registry is off the hot path on purpose. A map with an insert at submit
// and a remove at completion puts the submitting thread and the workers on the
// same locks and the same allocator arena, and measured as the largest
// per-task cost. Instead each thread appends to its own shard (an uncontended
// lock), holding only a `Weak` to the slot, and nothing is removed when a task
// completes. A shard prunes entries whose task is done whenever it has doubled
// since the last pruning, so its size stays within twice the number of pending
// tasks plus a small floor, at O(1) amortised per submission. A `Weak` keeps
// only the slot's small allocation, never the task's value or its tokio task.
//
// The race that matters is submit against shutdown: a task registered after
// the drain would pend forever. A submitter therefore registers first and
// checks the `closed` flag afterwards; shutdown sets the flag first and drains
// afterwards. With both accesses `SeqCst`, at least one of the two sees the
// other, and failing a slot twice is harmless (the first completion wins).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::context::RuntimeContext;
use crate::error::Error;
use crate::identity::ObjectId;
use crate::identity::TaskInfo;
use crate::object_ref::slot::Phase;
use crate::waits::{Edge, WaitNote};

/// What the registry needs of a task: the type-erased view of its slot, so
/// shutdown and cancel can fail a pending task without knowing its value type.
/// (Defined here, implemented by the slot: the registry sits below refs.)
pub(crate) trait Registered: Send + Sync {
    /// Fails the slot with the error `make` builds from the task's identity.
    /// Returns `false` if the slot was already complete.
    fn fail_with(&self, make: fn(TaskInfo) -> Error) -> bool;

    /// Whether the slot has left `Pending`.
    fn is_complete(&self) -> bool;

    /// Who the task is.
    fn info(&self) -> &TaskInfo;

    /// Whether it ended by a cancel.
    fn was_cancelled(&self) -> bool;

    /// `fail_with`, for an error built from more than the task.
    fn fail_with_dyn(&self, make: &dyn Fn(TaskInfo) -> Error) -> bool;

    /// A task was submitted from inside this one: only then can a cancel or
    /// a deadline have descendants to reach.
    fn note_child(&self);

    /// Whether this is the first time the task's code is entered (asked
    /// for the tasks the detector follows only).
    fn first_entry(&self) -> bool;

    /// The runtime that runs the task.
    fn context(&self) -> Option<&Arc<RuntimeContext>>;

    /// How long ago it was submitted.
    fn age(&self) -> std::time::Duration;

    /// Where it is in its life.
    fn phase(&self) -> Phase;

    /// Whether an attempt of it started.
    fn is_started(&self) -> bool {
        self.phase() == Phase::Running
    }

    /// It waits on something more (see `waits.rs`).
    fn note_wait(&self, note: WaitNote);

    /// The wait noted under `key` ended.
    fn end_wait(&self, key: u64);

    /// What it waits on now.
    fn waits(&self) -> Vec<WaitNote>;

    /// Whether a task ever waited on this one (a wait of this one can close
    /// a cycle only then, or through its actor's mailbox).
    fn was_waited_on(&self) -> bool;

    /// Pushes into `out` the tasks it waits on for all of their refs (the
    /// wait-for graph's edges); `false` if it has no noted wait at all.
    fn wait_edges(&self, out: &mut Vec<Edge>) -> bool;
}

const SHARDS: usize = 16;
/// A shard never prunes below this many entries (pruning tiny shards is waste).
const PRUNE_FLOOR: usize = 1024;

#[derive(Default)]
struct Shard {
    entries: Vec<(ObjectId, Weak<dyn Registered>)>,
    /// Prune when `entries` reaches this length.
    prune_at: usize,
}

impl Shard {
    fn prune(&mut self) {
        self.entries
            .retain(|(_, slot)| slot.upgrade().is_some_and(|s| !s.is_complete()));
        self.prune_at = (2 * self.entries.len()).max(PRUNE_FLOOR);
    }
}

pub(crate) struct Store {
    shards: Box<[Mutex<Shard>]>,
    closed: AtomicBool,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            closed: AtomicBool::new(false),
        }
    }
}

/// The shard this thread appends to: threads are spread round-robin.
fn home_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    HOME.with(|home| {
        if home.get() == usize::MAX {
            home.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
        }
        home.get()
    })
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Entries are plain data: a panic elsewhere cannot leave them inconsistent.
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Registers a spawned task. If the store closed meanwhile, the task is
    /// failed with `Shutdown` (and aborted).
    pub(crate) fn register(&self, id: ObjectId, slot: &Arc<dyn Registered>) {
        {
            let mut shard = lock(&self.shards[home_shard()]);
            if shard.entries.len() >= shard.prune_at {
                shard.prune();
            }
            shard.entries.push((id, Arc::downgrade(slot)));
        }
        if self.is_closed() {
            slot.fail_with(shutdown);
        }
    }

    /// Cancels the pending task `id`: O(registered tasks), for the rare cancel
    /// by id. `false` if it is not pending here.
    pub(crate) fn cancel(&self, id: ObjectId) -> bool {
        for shard in self.shards.iter() {
            let found = lock(shard)
                .entries
                .iter()
                .find(|(entry, _)| *entry == id)
                .and_then(|(_, slot)| slot.upgrade());
            if let Some(slot) = found {
                return slot.fail_with(|task| Error::Cancelled { task });
            }
        }
        false
    }

    /// Cancels every unfinished task below `root` in the task tree (its
    /// children, theirs, ...): one pass over the registry to index tasks by
    /// parent, then a walk down from `root`. Returns how many it cancelled.
    ///
    /// A finished task is walked through while the registry still holds it
    /// (it prunes finished entries when a shard fills up), so the unfinished
    /// children of a finished child are reached in the common case.
    pub(crate) fn cancel_descendants(&self, root: ObjectId) -> usize {
        self.fail_descendants(root, &|task| Error::Cancelled { task })
    }

    /// Fails every unfinished task below `root` with `make`'s error: each
    /// round finds, in one pass over the registry, the unfinished tasks whose
    /// lineage holds `root` (so a task between them that finished and is
    /// gone does not hide them), and fails them; rounds repeat until one
    /// fails nothing, so a task submitted by a descendant during a round (its
    /// parent not failed yet) is caught by the next. Returns how many failed.
    pub(crate) fn fail_descendants(
        &self,
        root: ObjectId,
        make: &dyn Fn(TaskInfo) -> Error,
    ) -> usize {
        let mut total = 0;
        loop {
            let mut found = Vec::new();
            for shard in self.shards.iter() {
                for (_, slot) in lock(shard).entries.iter() {
                    if let Some(slot) = slot.upgrade() {
                        if !slot.is_complete() && slot.info().descends_from(root) {
                            found.push(slot);
                        }
                    }
                }
            }
            let failed = found.iter().filter(|slot| slot.fail_with_dyn(make)).count();
            if failed == 0 {
                return total;
            }
            total += failed;
        }
    }

    /// Every unfinished task registered here, in submission order: the
    /// snapshot's source. One pass over the registry, under each shard's
    /// lock in turn: submissions go on meanwhile.
    pub(crate) fn unfinished(&self) -> Vec<Arc<dyn Registered>> {
        let mut found = Vec::new();
        for shard in self.shards.iter() {
            for (_, slot) in lock(shard).entries.iter() {
                if let Some(slot) = slot.upgrade().filter(|s| !s.is_complete()) {
                    found.push(slot);
                }
            }
        }
        found.sort_by_key(|slot| slot.info().id());
        found
    }

    /// Closes the store and fails every pending task with `Shutdown`.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for shard in self.shards.iter() {
            let entries = std::mem::take(&mut lock(shard).entries);
            for (_, slot) in entries {
                if let Some(slot) = slot.upgrade() {
                    slot.fail_with(shutdown);
                }
            }
        }
    }
}

fn shutdown(task: TaskInfo) -> Error {
    Error::Shutdown { task }
}
