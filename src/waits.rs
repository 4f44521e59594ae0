//! What a task waits on: the notes a task's slot keeps while it waits, read by
//! the snapshot (`Runtime::tasks`) and walked as the wait-for graph (`cycle`).
//
// A note is written only where a task has to wait: a get or wait that found
// its refs pending at the first poll, arguments not ready at submission,
// resources not free. A task that never waits never allocates one, so the
// hot path pays nothing but an empty pointer in its slot (8 bytes).
//
// Notes live in the waiter's own slot, under the slot's lock: the snapshot
// walks the store's registry (which holds every unfinished task) and reads
// each slot's notes; the graph follows a note's refs, slot to slot, with no
// map from ids to tasks. A note holds `Weak`s of the refs it waits on, so it
// never keeps a value alive nor stops a reader from moving a value out of
// the last ref.
//
// Only waits that end when *all* their refs are done (`get`, `.await`,
// `get_all`, `block_get*`, arguments) are edges of the graph: a wait with a
// timeout, or one that ends at the first of many (`wait`, `as_completed`),
// cannot be part of a deadlock, and is noted for the snapshot only.

mod cycle;

use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

pub(crate) use cycle::check;

use crate::identity::{Label, ObjectId};
use crate::resources::Request;
use crate::store::Registered;

/// A slot's wait-for edge: the task behind a ref, without keeping it alive.
pub(crate) type Edge = Weak<dyn Registered>;

/// What a task is waiting for.
#[derive(Clone, Debug)]
pub(crate) enum WaitKind {
    /// Its arguments (refs not ready when it was submitted).
    Arguments,
    /// Free resources: the request it queues for.
    Resources(Request),
    /// A user's get or wait, at its call site.
    Get {
        call: &'static str,
        location: &'static Location<'static>,
    },
}

/// Which refs a wait is on.
#[derive(Clone)]
pub(crate) enum WaitedOn {
    /// Every one of these must finish: edges of the wait-for graph.
    All(Vec<Edge>),
    /// A wait that may end sooner (a timeout, the first of many): the first
    /// ids, for the snapshot, and how many refs in all.
    Any { ids: Vec<ObjectId>, count: usize },
}

/// One wait of a task, in its slot.
#[derive(Clone)]
pub(crate) struct WaitNote {
    pub(crate) key: u64,
    pub(crate) kind: WaitKind,
    pub(crate) on: WaitedOn,
    pub(crate) since: Instant,
}

impl WaitNote {
    pub(crate) fn new(kind: WaitKind, on: WaitedOn) -> WaitNote {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        WaitNote {
            key: NEXT.fetch_add(1, Ordering::Relaxed),
            kind,
            on,
            since: Instant::now(),
        }
    }

    /// The ids of the refs it waits on (the first ones, for `Any`), and how
    /// many there are.
    pub(crate) fn ids(&self) -> (Vec<ObjectId>, usize) {
        match &self.on {
            WaitedOn::All(edges) => {
                let ids = edges
                    .iter()
                    .filter_map(Weak::upgrade)
                    .map(|task| task.info().id())
                    .collect();
                (ids, edges.len())
            }
            WaitedOn::Any { ids, count } => (ids.clone(), *count),
        }
    }
}

/// A task's notes: its waits going on now (an async task can wait on several
/// things at once, e.g. two gets joined). A thin list: 8 bytes in the slot
/// when empty, one allocation per wait (nearly always one).
#[derive(Default)]
pub(crate) struct Notes(Option<Box<Node>>);

struct Node {
    note: WaitNote,
    next: Notes,
}

impl Notes {
    /// Adds `note`.
    pub(crate) fn push(&mut self, note: WaitNote) {
        let next = Notes(self.0.take());
        self.0 = Some(Box::new(Node { note, next }));
    }

    /// Keeps only the notes `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl Fn(&WaitNote) -> bool) {
        let mut kept = Notes::default();
        let mut rest = self.0.take();
        while let Some(mut node) = rest {
            rest = node.next.0.take();
            if keep(&node.note) {
                node.next = Notes(kept.0.take());
                kept.0 = Some(node);
            }
        }
        *self = kept;
    }

    /// Removes the note `key`.
    pub(crate) fn remove(&mut self, key: u64) {
        self.retain(|note| note.key != key);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &WaitNote> {
        let mut next = self.0.as_deref();
        std::iter::from_fn(move || {
            let node = next?;
            next = node.next.0.as_deref();
            Some(&node.note)
        })
    }
}

impl Drop for Notes {
    fn drop(&mut self) {
        // Iteratively: a recursive drop of a long list could overflow.
        let mut rest = self.0.take();
        while let Some(mut node) = rest {
            rest = node.next.0.take();
        }
    }
}

/// Tasks with a noted wait going on, in every runtime: while at most one
/// task waits (the caller), no cycle can pass through another, and the walk
/// is skipped. Keeps a gather of a million refs from walking a million slots.
static WAITING_TASKS: AtomicUsize = AtomicUsize::new(0);

/// How many tasks are in a noted wait now.
pub(crate) fn waiting_tasks() -> usize {
    WAITING_TASKS.load(Ordering::SeqCst)
}

/// An actor, as its calls know it: its name, how many of its calls run at
/// once, and which of its running calls are blocked in a wait now. A call
/// queued in its mailbox waits on those (the calls ahead of it cannot finish
/// until they are unblocked): the graph's mailbox edges.
pub(crate) struct ActorSeat {
    pub(crate) name: Arc<str>,
    /// 1 for a sync actor; `max_concurrency` for an async one. Mailbox edges
    /// are drawn only for 1: with more, a queued call waits on *any* running
    /// call, which the graph does not model.
    pub(crate) concurrency: usize,
    blocked: Mutex<Vec<(u64, Edge)>>,
}

impl ActorSeat {
    /// The label of the calls of the actor `name` (see `identity::Label`).
    pub(crate) fn label(name: Arc<str>, concurrency: usize) -> Arc<Label> {
        Label::actor(ActorSeat {
            name,
            concurrency,
            blocked: Mutex::default(),
        })
    }

    fn blocked(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Edge)>> {
        self.blocked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The actor's running calls blocked in a wait now.
    pub(crate) fn blocked_calls(&self) -> Vec<Edge> {
        self.blocked()
            .iter()
            .map(|(_, call)| call.clone())
            .collect()
    }
}

/// A wait in progress, noted in the waiter's slot (and its actor's seat, for
/// an actor call); dropping it removes the notes.
pub(crate) struct NotedWait {
    waiter: Arc<dyn Registered>,
    key: u64,
}

impl NotedWait {
    /// Notes `note` in `waiter`'s slot.
    pub(crate) fn begin(waiter: Arc<dyn Registered>, note: WaitNote) -> NotedWait {
        let key = note.key;
        WAITING_TASKS.fetch_add(1, Ordering::SeqCst);
        if let Some(seat) = waiter.info().actor_seat() {
            seat.blocked().push((key, Arc::downgrade(&waiter)));
        }
        waiter.note_wait(note);
        NotedWait { waiter, key }
    }

    /// The task that waits.
    pub(crate) fn waiter(&self) -> &Arc<dyn Registered> {
        &self.waiter
    }
}

impl Drop for NotedWait {
    fn drop(&mut self) {
        self.waiter.end_wait(self.key);
        if let Some(seat) = self.waiter.info().actor_seat() {
            seat.blocked().retain(|(key, _)| *key != self.key);
        }
        WAITING_TASKS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Notes that `task` waits for its arguments `pending` (refs not ready at
/// submission), until the returned guard drops; `None` if none is pending.
pub(crate) fn note_arguments(
    task: Arc<dyn Registered>,
    pending: crate::args::PendingArgs,
) -> Option<NotedWait> {
    if pending.edges.is_empty() {
        return None;
    }
    let note = WaitNote::new(WaitKind::Arguments, WaitedOn::All(pending.edges));
    Some(NotedWait::begin(task, note))
}

#[cfg(all(test, not(taskref_loom)))]
mod tests {
    use super::*;

    fn note() -> WaitNote {
        let on = WaitedOn::Any {
            ids: Vec::new(),
            count: 0,
        };
        WaitNote::new(WaitKind::Arguments, on)
    }

    #[test]
    fn notes_are_added_removed_and_kept_by_key() {
        let mut notes = Notes::default();
        assert!(notes.is_empty());
        let (a, b, c) = (note(), note(), note());
        let keys = [a.key, b.key, c.key];
        notes.push(a);
        notes.push(b);
        notes.push(c);
        let mut seen: Vec<u64> = notes.iter().map(|n| n.key).collect();
        seen.sort_unstable();
        assert_eq!(seen, keys);
        notes.remove(keys[1]);
        let mut seen: Vec<u64> = notes.iter().map(|n| n.key).collect();
        seen.sort_unstable();
        assert_eq!(seen, [keys[0], keys[2]]);
        notes.retain(|n| n.key == keys[2]);
        assert_eq!(notes.iter().map(|n| n.key).collect::<Vec<_>>(), [keys[2]]);
        notes.remove(keys[2]);
        assert!(notes.is_empty());
        assert_eq!(
            std::mem::size_of::<Notes>(),
            8,
            "a thin pointer in every slot"
        );
    }

    #[test]
    fn a_long_list_drops_without_recursion() {
        let mut notes = Notes::default();
        for _ in 0..200_000 {
            notes.push(note());
        }
        drop(notes);
    }
}
