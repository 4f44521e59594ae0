//! Deadlocks caught when they form: a wait that closes a cycle of the
//! wait-for graph.
//
// The graph's nodes are unfinished tasks; a task has an edge to each task it
// waits on:
//
// - a task in an all-refs wait (`get`, `.await`, `get_all`, `block_get*`, its
//   arguments) waits on the tasks behind those refs;
// - a call queued in a one-at-a-time actor's mailbox waits on the actor's
//   running calls that are blocked (they hold the actor);
// - a finished task waits on nothing (an edge to it is stale: its waiter was
//   woken and has not run yet).
//
// A new wait adds edges from one task only, so the only cycle it can close
// passes through that task: after noting the wait (so that two waits closing
// one cycle at the same moment see each other: each notes, then looks), the
// waiter walks the graph from the refs it waits on, looking for itself.
//
// What the graph cannot see, and so never reports: waits through anything
// but refs (a channel, a mutex, `select!` against another future: the
// await is taken as a wait on the ref alone), CPU a task holds while it
// awaits (blocked *blocking* tasks lend theirs, so that cycle cannot form),
// async actors that run several calls at once, and waits with a timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Edge, NotedWait};
use crate::identity::ObjectId;
use crate::observe::Detector;
use crate::snapshot::TaskSnapshot;
use crate::store::Registered;
use crate::Error;

/// How many tasks one walk visits at most: a wait behind a chain longer than
/// this is not checked (a chain that long is a pipeline, not a cycle).
const MAX_VISITS: usize = 100_000;

/// `waiter` has just noted a wait: if its waits close a cycle, report it
/// (under `Deny`, as the error the wait returns).
pub(crate) fn check(
    detector: &Detector,
    noted: NotedWait,
    waits_on_actor_call: bool,
) -> Result<NotedWait, Error> {
    if !detector.is_on() {
        return Ok(noted);
    }
    let waiter = noted.waiter();
    // Only this task waits (on tasks that wait on nothing): no cycle can
    // pass through them, unless one is a call queued behind this one.
    if super::waiting_tasks() <= 1 && !waits_on_actor_call {
        return Ok(noted);
    }
    // A cycle through the waiter needs an edge into it: a task that waits
    // on it (which marked it), or a call queued behind it in its actor.
    if !waiter.was_waited_on() && waiter.info().actor_seat().is_none() {
        return Ok(noted);
    }
    // One walk at a time, and a refused wait leaves the graph before the
    // next walk: when two waits close one cycle at once, the first to walk
    // is refused and the other goes on.
    let _walking = WALKS.lock().unwrap_or_else(|p| p.into_inner());
    let mut edges = Vec::new();
    waiter.wait_edges(&mut edges);
    let Some(cycle) = find_cycle(waiter, &edges) else {
        return Ok(noted);
    };
    let steps = cycle
        .iter()
        .filter_map(|task| TaskSnapshot::of(task.as_ref()))
        .collect();
    match detector.deadlock(waiter.info(), steps) {
        Ok(()) => Ok(noted),
        Err(refused) => {
            drop(noted);
            Err(refused)
        }
    }
}

/// Serializes walks (see `check`).
static WALKS: Mutex<()> = Mutex::new(());

/// The cycle through `waiter`, if one of `edges` leads back to it: the tasks
/// in wait order, `waiter` first.
fn find_cycle(waiter: &Arc<dyn Registered>, edges: &[Edge]) -> Option<Vec<Arc<dyn Registered>>> {
    let me = waiter.info().id();
    // Each visited task, and the task whose edge reached it first.
    let mut reached_from: HashMap<ObjectId, (Arc<dyn Registered>, ObjectId)> = HashMap::new();
    let mut stack: Vec<(Arc<dyn Registered>, ObjectId)> = edges
        .iter()
        .filter_map(Edge::upgrade)
        .map(|task| (task, me))
        .collect();
    let mut next = Vec::new();
    while let Some((task, from)) = stack.pop() {
        let id = task.info().id();
        if id == me {
            return Some(path_back(waiter, from, &reached_from));
        }
        if reached_from.contains_key(&id) {
            continue;
        }
        if reached_from.len() >= MAX_VISITS {
            return None;
        }
        next.clear();
        waits_of(task.as_ref(), &mut next);
        reached_from.insert(id, (Arc::clone(&task), from));
        stack.extend(next.drain(..).filter_map(|e| e.upgrade()).map(|t| (t, id)));
    }
    None
}

/// The tasks `task` waits on now, pushed into `out`.
fn waits_of(task: &dyn Registered, out: &mut Vec<Edge>) {
    if task.is_complete() {
        return;
    }
    if task.wait_edges(out) {
        return;
    }
    // No wait of its own: a call still in its actor's mailbox waits on the
    // actor's blocked running call.
    if let Some(seat) = task.info().actor_seat() {
        if seat.concurrency == 1 && !task.is_started() {
            out.extend(seat.blocked_calls());
        }
    }
}

/// The cycle, in wait order, from the task whose edge reached `waiter`
/// (`last`) back through `reached_from`.
fn path_back(
    waiter: &Arc<dyn Registered>,
    last: ObjectId,
    reached_from: &HashMap<ObjectId, (Arc<dyn Registered>, ObjectId)>,
) -> Vec<Arc<dyn Registered>> {
    let me = waiter.info().id();
    let mut path = Vec::new();
    let mut at = last;
    while at != me {
        let (task, from) = &reached_from[&at];
        path.push(Arc::clone(task));
        at = *from;
    }
    path.push(Arc::clone(waiter));
    path.reverse();
    path
}
