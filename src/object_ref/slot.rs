//! The cell behind every `ObjectRef`: where a task's outcome lands and waiters wait.
//
// # State machine
//
//     Pending(waiters) ──complete(Ok(v))──▶ Ready(v)
//            │
//            └─────────complete(Err(e))──▶ Failed(e)
//
// A slot moves out of `Pending` exactly once. Whoever calls `complete` first wins:
// the task's own completion, a cancel, or the runtime's shutdown; later calls
// return `false` and drop what they carried. `Ready` and `Failed` are final.
//
// # Who touches it
//
// - The task (through `task::Completer`) completes it once.
// - `cancel` and shutdown may complete it first, with an error.
// - Any number of readers poll it. Each waiting future owns a *key* into the
//   waiter list, so the future, not the handle, holds per-waiter state: cloning an
//   `ObjectRef` is one refcount increment and can never confuse two waiters. A
//   future that is dropped while pending removes its waker (no growth when callers
//   time out in a loop).
//
// Everything is behind one `std::sync::Mutex`; the `done` flag is a lock-free
// hint for `is_ready` and for the fast path of readers. It is set under the lock
// and only ever goes from false to true, so a reader that sees `true` and then
// takes the lock always finds a final state.

use std::sync::Arc;

use crate::sync::{AtomicBool, AtomicU8, Mutex, MutexGuard, Ordering};
use std::task::{Context, Poll, Waker};

use tokio::task::JoinHandle;

use crate::context::RuntimeContext;
use crate::error::Error;
use crate::identity::TaskInfo;
use crate::observe::Stamp;
use crate::store::Registered;
use crate::waits::{Edge, Notes, WaitKind, WaitNote, WaitedOn};

/// Where a pending slot keeps its waiters: a slab of wakers with a free list, so
/// registration and removal are O(1) and keys stay stable.
///
/// Most refs have exactly one waiter (the task that gathers them), so the first
/// one is stored inline (key 0) and the slab is only allocated for a second one.
/// That saves an allocation per task, and one that the completing worker thread
/// would otherwise free: cross-thread frees contend on the allocator.
#[derive(Default)]
struct Waiters {
    first: Option<Waker>,
    more: Option<Box<Overflow>>,
}

/// Waiters beyond the first: key `k >= 1` lives at `wakers[k - 1]`.
#[derive(Default)]
struct Overflow {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Waiters {
    fn insert(&mut self, waker: Waker) -> usize {
        if self.first.is_none() {
            self.first = Some(waker);
            return 0;
        }
        let more = self.more.get_or_insert_with(Box::default);
        match more.free.pop() {
            Some(key) => {
                more.wakers[key - 1] = Some(waker);
                key
            }
            None => {
                more.wakers.push(Some(waker));
                more.wakers.len()
            }
        }
    }

    fn entry(&mut self, key: usize) -> &mut Option<Waker> {
        match key {
            0 => &mut self.first,
            k => {
                &mut self
                    .more
                    .as_mut()
                    .expect("keys above 0 live in the overflow")
                    .wakers[k - 1]
            }
        }
    }

    /// Registers `waker` under `key` (assigning a key on the first call), or
    /// refreshes the waker already there.
    fn register(&mut self, key: &mut Option<usize>, waker: &Waker) {
        match *key {
            Some(k) => self.update(k, waker),
            None => *key = Some(self.insert(waker.clone())),
        }
    }

    fn update(&mut self, key: usize, waker: &Waker) {
        match self.entry(key) {
            Some(old) if old.will_wake(waker) => {}
            entry => *entry = Some(waker.clone()),
        }
    }

    fn remove(&mut self, key: usize) {
        if self.entry(key).take().is_some() && key > 0 {
            if let Some(more) = &mut self.more {
                more.free.push(key);
            }
        }
    }

    fn wake_all(self) {
        if let Some(waker) = self.first {
            waker.wake();
        }
        if let Some(more) = self.more {
            for waker in more.wakers.into_iter().flatten() {
                waker.wake();
            }
        }
    }

    #[cfg(all(test, not(taskref_loom)))]
    fn count(&self) -> usize {
        usize::from(self.first.is_some())
            + self
                .more
                .as_ref()
                .map_or(0, |m| m.wakers.iter().filter(|w| w.is_some()).count())
    }
}

/// A slot's waiters just after it completed, to be woken outside its lock.
#[must_use = "waiters must be woken"]
pub(crate) struct PendingWake(Waiters);

impl PendingWake {
    pub(crate) fn wake_all(self) {
        self.0.wake_all();
    }
}

enum State<T> {
    /// The task has not produced its outcome yet.
    Pending(Waiters),
    /// The task returned this value. Readers clone it (or move it out when they
    /// hold the last handle).
    Ready(T),
    /// The task failed, was cancelled, or its runtime shut down. Boxed: errors
    /// are rare and large, and every pending slot would pay for their size.
    Failed(Box<Error>),
}

/// Everything behind the slot's lock.
struct Locked<T> {
    state: State<T>,
    /// The tokio task that completes the slot: cancel and shutdown abort it
    /// through this handle. It is dropped by the first reader after completion
    /// (or with the slot), so the task's memory is released on the reader's
    /// thread, as with a tokio `JoinHandle`: freeing it on the worker that ran
    /// the task would contend with the submitting thread's allocations.
    task: Option<JoinHandle<()>>,
    /// Whether anyone read the outcome.
    read: bool,
    /// Whether an unread failure is reported when the slot drops: set by the
    /// completer for the task's own failures (a panic, an `Err`, a timeout),
    /// not for errors that repeat one reported elsewhere (a dependency's, a
    /// cancel's, a shutdown's).
    report_if_unread: bool,
    /// What the task waits on now, if it has to wait (see `waits.rs`): the
    /// snapshot's and the wait-for graph's source. `None` (8 bytes) for a
    /// task that never waits.
    notes: Notes,
}

/// The shared cell of one task's outcome.
pub(crate) struct Slot<T> {
    locked: Mutex<Locked<T>>,
    /// Set (under the lock) when `state` leaves `Pending`.
    done: AtomicBool,
    info: TaskInfo,
    /// The runtime that runs the task (`None` for `put`): its timer serves
    /// `get_timeout`, its observer records waits and unread failures.
    context: Option<Arc<RuntimeContext>>,
    /// The task runs on a Ray cluster: its value stays there until a reader
    /// waits for it (the first waiter asks the runtime to fetch it), and the
    /// cluster may free it when this slot drops.
    remote: bool,
    /// Marks set once, never cleared: `CHILDREN` (a task was submitted from
    /// inside this one: a cancel or a deadline then looks for descendants),
    /// `SIBLINGS` (two or more were: its work fanned out) and `WAITED_ON` (a
    /// task waited on this one: only then can a wait of this one close a
    /// cycle).
    marks: AtomicU8,
    /// Where the task is in its life, for the snapshot (`Phase`).
    phase: AtomicU8,
    /// When it was submitted, in milliseconds on the process's clock (see
    /// `Stamp`), wrapping every 49 days: the snapshot's age. 4 bytes, where
    /// the flags above leave room (the timeline keeps the exact stamp in the
    /// task's completer).
    submitted_ms: u32,
    /// Makes this slot a wait-for edge. Stored because a waiter only knows
    /// `T: Clone`, while the type-erased view needs `T: Send + 'static`,
    /// which every slot's maker knows (and `get` must not demand).
    edge: fn(&Arc<Slot<T>>) -> Edge,
}

/// `marks`: a task was submitted from inside this one.
const CHILDREN: u8 = 1;
/// `marks`: a task waited (or waits) on this one.
const WAITED_ON: u8 = 2;
/// `marks`: at least two tasks were submitted from inside this one.
const SIBLINGS: u8 = 4;
/// `marks`: the task's code was entered (noted for followed tasks only).
const ENTERED: u8 = 8;

/// Where a task is in its life (the slot's `phase`), before it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Submitted, not started: waiting for its arguments, a worker, or (an
    /// actor call) its turn in the mailbox.
    Scheduled = 0,
    /// Queued for resources that are not free.
    Queued = 1,
    /// Its code runs (an attempt started).
    Running = 2,
}

impl Phase {
    fn from_u8(raw: u8) -> Phase {
        match raw {
            0 => Phase::Scheduled,
            1 => Phase::Queued,
            _ => Phase::Running,
        }
    }
}

impl<T: Send + 'static> Slot<T> {
    /// The slot of a task submitted at `submitted_at`.
    pub(crate) fn pending(
        info: TaskInfo,
        context: Option<Arc<RuntimeContext>>,
        submitted_at: Stamp,
    ) -> Self {
        Slot {
            locked: Mutex::new(Locked {
                state: State::Pending(Waiters::default()),
                task: None,
                read: false,
                report_if_unread: false,
                notes: Notes::default(),
            }),
            done: AtomicBool::new(false),
            info,
            context,
            remote: false,
            marks: AtomicU8::new(0),
            phase: AtomicU8::new(Phase::Scheduled as u8),
            submitted_ms: submitted_at.millis(),
            edge: erase::<T>,
        }
    }

    /// A pending slot whose task runs on the runtime's Ray cluster.
    pub(crate) fn pending_remote(
        info: TaskInfo,
        context: Arc<RuntimeContext>,
        submitted_at: Stamp,
    ) -> Self {
        let mut slot = Slot::pending(info, Some(context), submitted_at);
        slot.remote = true;
        slot
    }
}

impl<T> Slot<T> {
    /// How long ago the task was submitted.
    pub(crate) fn age(&self) -> std::time::Duration {
        Stamp::now().millis_since(self.submitted_ms)
    }

    /// The task queues for `request` (not free now): noted for the snapshot
    /// until it starts. A task that started meanwhile keeps no note.
    pub(crate) fn queued_for(&self, request: &crate::resources::Request) {
        let note = WaitNote::new(
            WaitKind::Resources(request.clone()),
            WaitedOn::Any {
                ids: Vec::new(),
                count: 0,
            },
        );
        let key = note.key;
        self.lock().notes.push(note);
        // After the note, so that `started` (which removes it) sees either
        // `Queued`, or a phase this exchange then fails on.
        let queued = self.phase.compare_exchange(
            Phase::Scheduled as u8,
            Phase::Queued as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if queued.is_err() {
            self.lock().notes.remove(key);
        }
    }

    /// An attempt of the task starts: it is running (and no longer queued
    /// for resources).
    pub(crate) fn started(&self) {
        let was = self.phase.swap(Phase::Running as u8, Ordering::AcqRel);
        if was == Phase::Queued as u8 {
            let resources = |note: &WaitNote| matches!(note.kind, WaitKind::Resources(_));
            self.lock().notes.retain(|note| !resources(note));
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Whether the task is in a user's get or wait on refs now.
    pub(crate) fn is_waiting_on_refs(&self) -> bool {
        let locked = self.lock();
        let mut notes = locked.notes.iter();
        notes.any(|note| matches!(note.kind, WaitKind::Get { .. }))
    }

    /// Whether a task was submitted from inside this one.
    pub(crate) fn has_children(&self) -> bool {
        self.marks.load(Ordering::Relaxed) & CHILDREN != 0
    }

    /// Whether two or more tasks were submitted from inside this one: its
    /// work ran as tasks side by side, not only in its own code.
    pub(crate) fn fanned_out(&self) -> bool {
        self.marks.load(Ordering::Relaxed) & SIBLINGS != 0
    }

    /// Whether the task runs on a Ray cluster.
    pub(crate) fn is_remote(&self) -> bool {
        self.remote
    }

    /// A reader started waiting on a pending remote slot: the value is wanted
    /// in this process. Called outside the lock: the fetched value completes
    /// this slot from the connection's thread.
    fn wanted(&self) {
        if let Some(context) = &self.context {
            context.want_remote(self.info.id());
        }
    }
}

impl<T: Send + 'static> Slot<T> {
    /// A slot failed from the start with `err` (a stream's last item, when
    /// its task failed).
    pub(crate) fn failed(info: TaskInfo, err: Error) -> Self {
        Slot::ready_with(info, State::Failed(Box::new(err)))
    }

    /// The slot of a `put`: ready from the start.
    pub(crate) fn ready(info: TaskInfo, value: T) -> Self {
        Slot::ready_with(info, State::Ready(value))
    }

    fn ready_with(info: TaskInfo, state: State<T>) -> Self {
        Slot {
            locked: Mutex::new(Locked {
                state,
                task: None,
                read: false,
                report_if_unread: false,
                notes: Notes::default(),
            }),
            done: AtomicBool::new(true),
            info,
            context: None,
            remote: false,
            marks: AtomicU8::new(0),
            phase: AtomicU8::new(Phase::Running as u8),
            // Never unfinished, so never aged: no clock read per `put`.
            submitted_ms: 0,
            edge: erase::<T>,
        }
    }
}

/// `slot` as a wait-for edge.
fn erase<T: Send + 'static>(slot: &Arc<Slot<T>>) -> Edge {
    let task: Arc<dyn Registered> = slot.clone();
    Arc::downgrade(&task)
}

impl<T> Slot<T> {
    /// This slot as a wait-for edge (the task behind a ref a waiter waits
    /// on), marked as waited on.
    pub(crate) fn edge(self: &Arc<Self>) -> Edge {
        // Before the waiter's note (which follows), as `was_waited_on` reads
        // it after its own note: one of the two sees the other.
        if self.marks.load(Ordering::Relaxed) & WAITED_ON == 0 {
            self.marks.fetch_or(WAITED_ON, Ordering::SeqCst);
        }
        (self.edge)(self)
    }

    pub(crate) fn info(&self) -> &TaskInfo {
        &self.info
    }

    pub(crate) fn context(&self) -> Option<&Arc<RuntimeContext>> {
        self.context.as_ref()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// `is_done` for a reader that polls instead of waiting (`is_ready`,
    /// `try_get`, a zero-timeout `wait`): a cluster task's value is then
    /// fetched too, so that polling in a loop ends.
    pub(crate) fn is_done_or_fetch(&self) -> bool {
        let done = self.is_done();
        if !done && self.remote {
            self.wanted();
        }
        done
    }

    fn lock(&self) -> MutexGuard<'_, Locked<T>> {
        // A panic while the lock is held can only come from a waker's `clone`;
        // the state itself is always consistent, so poisoning is ignored.
        self.locked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the slot to its final state. Returns `false` (and drops `outcome`)
    /// if another party completed it first.
    pub(crate) fn complete(&self, outcome: Result<T, Error>) -> bool {
        match self.complete_deferred(outcome, false) {
            Ok(wake) => {
                wake.wake_all();
                true
            }
            Err(rejected) => {
                drop_quietly(rejected);
                false
            }
        }
    }

    /// Like `complete`, but hands back the waiters instead of waking them, so the
    /// task can first drop its own handles to the slot: a woken reader holding
    /// the last ref can then move the value out instead of cloning it.
    ///
    /// If another party completed the slot first, the outcome comes back as
    /// `Err`, for the caller to drop where a panicking `Drop` can do no harm.
    ///
    /// `report_if_unread`: a failure that nobody reads is reported when the
    /// slot drops (the completer decides which failures are the task's own).
    pub(crate) fn complete_deferred(
        &self,
        outcome: Result<T, Error>,
        report_if_unread: bool,
    ) -> Result<PendingWake, Result<T, Error>> {
        let mut locked = self.lock();
        if !matches!(locked.state, State::Pending(_)) {
            drop(locked);
            return Err(outcome);
        }
        locked.report_if_unread = report_if_unread && outcome.is_err();
        let new_state = match outcome {
            Ok(value) => State::Ready(value),
            Err(err) => State::Failed(Box::new(err)),
        };
        let State::Pending(waiters) = std::mem::replace(&mut locked.state, new_state) else {
            unreachable!("checked above")
        };
        self.done.store(true, Ordering::Release);
        drop(locked);
        Ok(PendingWake(waiters))
    }

    /// Fails a pending slot with the error `make` builds from the task's
    /// identity, and aborts its task. Returns `false` if the slot was already
    /// complete.
    pub(crate) fn fail(&self, make: impl FnOnce(TaskInfo) -> Error) -> bool {
        if self.is_done() {
            return false;
        }
        let Ok(wake) = self.complete_deferred(Err(make(self.info.clone())), false) else {
            return false;
        };
        if let Some(task) = &self.lock().task {
            // Only marks the task: tokio drops its future later, on a worker.
            task.abort();
        }
        wake.wake_all();
        true
    }

    /// Cancels the task: fails a pending slot with `Cancelled` and aborts its
    /// tokio task. `false` if the task had finished (or was cancelled) already.
    pub(crate) fn cancel(&self) -> bool {
        self.fail(|task| Error::Cancelled { task })
    }

    /// Keeps the tokio task that runs this slot's task; aborts it at once if the
    /// slot was cancelled or shut down meanwhile.
    pub(crate) fn set_task(&self, task: JoinHandle<()>) {
        let mut locked = self.lock();
        match locked.state {
            State::Pending(_) => locked.task = Some(task),
            State::Failed(_) => {
                drop(locked);
                task.abort();
            }
            // Finished already: dropping the handle here frees the task on this
            // (the submitting) thread.
            State::Ready(_) => {}
        }
    }

    /// Reads the outcome if it is final, with `read`; otherwise registers (or
    /// refreshes) the caller's waker under `key`.
    pub(crate) fn poll_read<R>(
        &self,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
        read: impl FnOnce(Result<&T, &Error>) -> R,
    ) -> Poll<R> {
        let mut locked = self.lock();
        let output = match &mut locked.state {
            State::Pending(waiters) => {
                let first = key.is_none();
                waiters.register(key, cx.waker());
                drop(locked);
                if first && self.remote {
                    self.wanted();
                }
                return Poll::Pending;
            }
            State::Ready(value) => read(Ok(value)),
            State::Failed(err) => read(Err(&**err)),
        };
        *key = None;
        locked.read = true;
        let task = locked.task.take();
        drop(locked);
        drop(task);
        Poll::Ready(output)
    }

    /// Whether the outcome is final, registering (or refreshing) the caller's
    /// waker under `key` if not. Learning that a task finished is not reading
    /// its outcome: an error seen only this way is still reported as unread.
    pub(crate) fn poll_ready(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        let mut locked = self.lock();
        match &mut locked.state {
            State::Pending(waiters) => {
                let first = key.is_none();
                waiters.register(key, cx.waker());
                drop(locked);
                if first && self.remote {
                    self.wanted();
                }
                Poll::Pending
            }
            State::Ready(_) | State::Failed(_) => {
                *key = None;
                Poll::Ready(())
            }
        }
    }

    /// Reads the outcome if it is final, without registering anything.
    pub(crate) fn try_read<R>(&self, read: impl FnOnce(Result<&T, &Error>) -> R) -> Option<R> {
        let mut locked = self.lock();
        let output = match &locked.state {
            State::Pending(_) => {
                drop(locked);
                if self.remote {
                    self.wanted();
                }
                return None;
            }
            State::Ready(value) => read(Ok(value)),
            State::Failed(err) => read(Err(&**err)),
        };
        locked.read = true;
        let task = locked.task.take();
        drop(locked);
        drop(task);
        Some(output)
    }

    /// The error of a failed slot, without counting as a read (for the task's
    /// own failure event).
    pub(crate) fn try_read_quietly(&self) -> Option<Result<(), Error>> {
        match &self.lock().state {
            State::Pending(_) => None,
            State::Ready(_) => Some(Ok(())),
            State::Failed(err) => Some(Err((**err).clone())),
        }
    }

    /// Takes the outcome out of a slot that nobody else can read any more.
    pub(crate) fn into_outcome(self) -> Option<Result<T, Error>> {
        let mut locked = self.lock();
        if matches!(locked.state, State::Pending(_)) {
            return None;
        }
        locked.read = true;
        let state = std::mem::replace(&mut locked.state, State::Pending(Waiters::default()));
        match state {
            State::Pending(_) => None,
            State::Ready(value) => Some(Ok(value)),
            State::Failed(err) => Some(Err(*err)),
        }
    }

    /// Forgets a waiter whose future was dropped before the slot completed.
    pub(crate) fn remove_waiter(&self, key: usize) {
        if let State::Pending(waiters) = &mut self.lock().state {
            waiters.remove(key);
        }
    }

    #[cfg(all(test, not(taskref_loom)))]
    fn waiter_count(&self) -> usize {
        match &self.lock().state {
            State::Pending(waiters) => waiters.count(),
            _ => 0,
        }
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        // Failures nobody read are reported, so they are never silent. Which
        // failures count was decided by whoever completed the slot.
        if self.remote {
            if let Some(context) = &self.context {
                context.release_remote(self.info.id());
            }
        }
        let locked = self
            .locked
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if locked.read || !locked.report_if_unread {
            return;
        }
        if let (State::Failed(err), Some(context)) = (&locked.state, &self.context) {
            context.report_unread(err);
        }
    }
}

/// Drops a value the runtime discards (a result that lost to a cancel, a
/// task's last handle to its slot) without letting a panicking `Drop` unwind
/// through the runtime, where it would take other tasks' hand-overs with it.
pub(crate) fn drop_quietly<V>(value: V) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value))).is_err() {
        tracing::warn!(
            "a task's value panicked while the runtime dropped it; the panic was contained"
        );
    }
}

impl<T: Send> Registered for Slot<T> {
    fn fail_with(&self, make: fn(TaskInfo) -> Error) -> bool {
        self.fail(make)
    }

    fn fail_with_dyn(&self, make: &dyn Fn(TaskInfo) -> Error) -> bool {
        self.fail(make)
    }

    fn first_entry(&self) -> bool {
        self.marks.fetch_or(ENTERED, Ordering::Relaxed) & ENTERED == 0
    }

    fn note_child(&self) {
        // A load first: a parent of many children writes its line twice.
        let marks = self.marks.load(Ordering::Relaxed);
        if marks & SIBLINGS == 0 {
            let before = self.marks.fetch_or(CHILDREN, Ordering::Relaxed);
            if before & CHILDREN != 0 {
                self.marks.fetch_or(SIBLINGS, Ordering::Relaxed);
            }
        }
    }

    fn is_complete(&self) -> bool {
        self.is_done()
    }

    fn info(&self) -> &TaskInfo {
        &self.info
    }

    fn was_cancelled(&self) -> bool {
        self.is_done() && matches!(self.try_read_quietly(), Some(Err(err)) if err.is_cancelled())
    }

    fn context(&self) -> Option<&Arc<RuntimeContext>> {
        self.context.as_ref()
    }

    fn age(&self) -> std::time::Duration {
        Slot::age(self)
    }

    fn phase(&self) -> Phase {
        Slot::phase(self)
    }

    fn note_wait(&self, note: WaitNote) {
        self.lock().notes.push(note);
    }

    fn end_wait(&self, key: u64) {
        self.lock().notes.remove(key);
    }

    fn waits(&self) -> Vec<WaitNote> {
        self.lock().notes.iter().cloned().collect()
    }

    fn was_waited_on(&self) -> bool {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        self.marks.load(Ordering::SeqCst) & WAITED_ON != 0
    }

    fn wait_edges(&self, out: &mut Vec<Edge>) -> bool {
        let locked = self.lock();
        for note in locked.notes.iter() {
            if let WaitedOn::All(edges) = &note.on {
                out.extend(edges.iter().cloned());
            }
        }
        !locked.notes.is_empty()
    }
}

#[cfg(all(test, not(taskref_loom)))]
mod tests {
    use super::*;
    use crate::ObjectId;
    use futures::task::noop_waker_ref;
    use std::panic::Location;

    fn slot() -> Slot<u32> {
        Slot::pending(
            TaskInfo::new(ObjectId::next(), None, Location::caller()),
            None,
            Stamp::now(),
        )
    }

    #[test]
    fn first_completion_wins() {
        let s = slot();
        assert!(!s.is_done());
        assert!(s.complete(Ok(1)));
        assert!(!s.complete(Ok(2)));
        assert!(!s.fail_with(|task| Error::Cancelled { task }));
        assert_eq!(s.try_read(|r| *r.unwrap()), Some(1));
    }

    #[test]
    fn dropped_waiters_are_removed_and_keys_reused() {
        let s = slot();
        let mut cx = Context::from_waker(noop_waker_ref());
        let (mut a, mut b) = (None, None);
        assert!(s.poll_read(&mut a, &mut cx, |_| ()).is_pending());
        assert!(s.poll_read(&mut b, &mut cx, |_| ()).is_pending());
        assert_eq!(s.waiter_count(), 2);
        s.remove_waiter(a.unwrap());
        assert_eq!(s.waiter_count(), 1);
        let mut c = None;
        assert!(s.poll_read(&mut c, &mut cx, |_| ()).is_pending());
        assert_eq!(c, a, "a freed key is reused");
        let (mut d, mut e) = (None, None);
        assert!(s.poll_read(&mut d, &mut cx, |_| ()).is_pending());
        assert!(s.poll_read(&mut e, &mut cx, |_| ()).is_pending());
        assert_eq!(s.waiter_count(), 4);
        s.remove_waiter(d.unwrap());
        let mut f = None;
        assert!(s.poll_read(&mut f, &mut cx, |_| ()).is_pending());
        assert_eq!(f, d, "a freed overflow key is reused");
        s.complete(Err(Error::Cancelled {
            task: s.info().clone(),
        }));
        assert!(s.poll_read(&mut c, &mut cx, |r| r.is_err()).is_ready());
        assert_eq!(c, None);
    }
}

#[cfg(all(test, not(taskref_loom)))]
mod size {
    use super::*;

    /// Every pending task has a slot: its size is part of M1's figure.
    #[test]
    fn a_slot_stays_within_its_allocation_class() {
        // 120 bytes before the snapshot and the wait-for graph: their phase
        // and submission time fit the flags' padding, and the 16 bytes of the
        // notes and the edge maker were won back from `TaskInfo` (48 -> 32).
        // 16 more bytes cost 96 bytes of RSS per pending task in M1 (glibc
        // then rounds the allocation into its next size class).
        assert!(std::mem::size_of::<Slot<u64>>() <= 120);
        assert_eq!(std::mem::size_of::<TaskInfo>(), 32);
    }
}
