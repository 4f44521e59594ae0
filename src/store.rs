//! The runtime's registry of unfinished tasks: what shutdown and cancel act on.
//
// Every submitted task is registered until it completes. Shutdown closes the
// store and fails every registered task with `Error::Shutdown`; cancel-by-id
// finds the task here. This is tokio's `OwnedTasks` at our scale.
//
// The race that matters is submit against shutdown: a task registered after the
// drain would pend forever. A submitter therefore registers first and checks the
// `closed` flag afterwards; shutdown sets the flag first and drains afterwards.
// With both accesses `SeqCst`, at least one of the two sees the other, and
// failing a slot twice is harmless (the first completion wins). A task that
// completes before it was even registered is caught the same way: the submitter
// checks the slot after registering and removes the entry itself.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::task::AbortHandle;

use crate::error::{Error, TaskInfo};
use crate::object_ref::slot::ErasedSlot;
use crate::ObjectId;

struct Entry {
    slot: Arc<dyn ErasedSlot>,
    /// The tokio task running (or waiting to run) the task's future.
    abort: AbortHandle,
}

/// Ids are sequential integers: a multiplicative hash spreads them over the
/// shards at a fraction of SipHash's cost.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Default)]
pub(crate) struct Store {
    entries: DashMap<ObjectId, Entry, BuildHasherDefault<IdHasher>>,
    closed: AtomicBool,
}

impl Store {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Registers a spawned task. If the store closed meanwhile, the task is
    /// failed with `Shutdown` and aborted.
    pub(crate) fn register(&self, id: ObjectId, slot: Arc<dyn ErasedSlot>, abort: AbortHandle) {
        self.entries.insert(
            id,
            Entry {
                slot: Arc::clone(&slot),
                abort,
            },
        );
        if self.is_closed() {
            if let Some((_, entry)) = self.entries.remove(&id) {
                entry.slot.fail_with(shutdown);
                entry.abort.abort();
            }
        } else if slot.is_complete() {
            // The task finished before it was registered: its own `remove` found
            // nothing, so the entry is ours to drop.
            self.entries.remove(&id);
        }
    }

    /// Forgets a finished task.
    pub(crate) fn remove(&self, id: ObjectId) {
        self.entries.remove(&id);
    }

    /// Cancels a registered task; `false` if it is not (or no longer) pending.
    pub(crate) fn cancel(&self, id: ObjectId) -> bool {
        match self.entries.remove(&id) {
            Some((_, entry)) => {
                let cancelled = entry.slot.fail_with(cancelled);
                entry.abort.abort();
                cancelled
            }
            None => false,
        }
    }

    /// Aborts the tokio task of a task whose slot the caller already failed.
    pub(crate) fn abort(&self, id: ObjectId) {
        if let Some((_, entry)) = self.entries.remove(&id) {
            entry.abort.abort();
        }
    }

    /// Closes the store and fails every registered task with `Shutdown`.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let ids: Vec<ObjectId> = self.entries.iter().map(|e| *e.key()).collect();
        for id in ids {
            if let Some((_, entry)) = self.entries.remove(&id) {
                entry.slot.fail_with(shutdown);
                entry.abort.abort();
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

fn shutdown(task: TaskInfo) -> Error {
    Error::Shutdown { task }
}

pub(crate) fn cancelled(task: TaskInfo) -> Error {
    Error::Cancelled { task }
}
