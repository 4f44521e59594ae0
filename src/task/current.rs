//! `current_task()`: what a running task can ask about itself.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::identity::Lineage;
use crate::ObjectId;

use crate::identity::TaskInfo;
use crate::store::Registered;

/// What the running task is: its slot, and the flag of the current attempt.
#[derive(Clone)]
pub(crate) struct Running {
    pub(crate) slot: Arc<dyn Registered>,
    /// Set when this attempt was abandoned (it timed out) though the task goes on.
    pub(crate) abandoned: Option<Arc<AtomicBool>>,
    /// The task's runtime (its context's address): only a task of the same
    /// runtime is a parent.
    pub(crate) runtime: usize,
    /// When this attempt must end, and whose deadline that is (its own
    /// timeout's, or an ancestor's it inherited).
    pub(crate) deadline: Option<(Instant, ObjectId)>,
    /// The lineage of the tasks submitted during this poll, made by the
    /// first of them and shared by the rest.
    pub(crate) children: OnceLock<Arc<Lineage>>,
    /// The detector follows the task: its code's first moment is noted.
    pub(crate) followed: bool,
}

/// A task's parent, as a task submitted now sees it.
pub(crate) struct Parent {
    pub(crate) lineage: Arc<Lineage>,
    /// The parent was cancelled already (a blocking task runs on after its
    /// cancel): the child is born cancelled.
    pub(crate) cancelled: bool,
    /// The parent's deadline (when, and whose), which the child inherits.
    pub(crate) deadline: Option<(Instant, ObjectId)>,
}

/// The parent of a task submitted now in the runtime at `runtime`: the task
/// running on this thread, if it is that runtime's. Marks it as a parent.
/// Nothing is cloned but the shared lineage.
pub(crate) fn parent_in(runtime: usize) -> Option<Parent> {
    CURRENT.with(|c| {
        let current = c.borrow();
        let running = current
            .as_ref()
            .filter(|running| running.runtime == runtime)?;
        running.slot.note_child();
        let lineage = running
            .children
            .get_or_init(|| running.slot.info().lineage_for_children());
        Some(Parent {
            lineage: Arc::clone(lineage),
            cancelled: running.slot.was_cancelled(),
            deadline: running.deadline,
        })
    })
}

/// Whether the task running on this thread (in the runtime at `runtime`)
/// was cancelled.
pub(crate) fn current_cancelled_in(runtime: usize) -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|running| running.runtime == runtime)
            .is_some_and(|running| running.slot.was_cancelled())
    })
}

/// The slot of the task running on this thread, if it is a task of the
/// runtime at `runtime`: the waiter of a wait that starts now.
pub(crate) fn current_slot_in(runtime: usize) -> Option<Arc<dyn Registered>> {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|running| running.runtime == runtime)
            .map(|running| Arc::clone(&running.slot))
    })
}

/// The slot of the task running on this thread, in whichever runtime.
pub(crate) fn current_slot() -> Option<Arc<dyn Registered>> {
    CURRENT.with(|c| c.borrow().as_ref().map(|running| Arc::clone(&running.slot)))
}

/// Whether a task runs on this thread.
pub(crate) fn in_a_task() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

thread_local! {
    static CURRENT: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Makes `running` the current task on this thread until the guard drops.
pub(crate) fn enter(running: Running) -> EnterGuard {
    // Its first entry only: a later poll, maybe on another thread, is not
    // where its code began.
    if running.followed && running.slot.first_entry() {
        crate::observe::code_begins(running.slot.info().id());
    }
    let previous = CURRENT.with(|c| c.replace(Some(running)));
    EnterGuard { previous }
}

/// Restores the previously current task (tasks nest when a future polls
/// another task's future inline, e.g. in `block_get` on a worker).
pub(crate) struct EnterGuard {
    previous: Option<Running>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| c.replace(previous));
    }
}

/// The task running on this thread: its identity, and whether it should stop.
///
/// Returned by [`current_task`]. Long-running task code, blocking code above
/// all, can check [`is_cancelled`](CurrentTask::is_cancelled) and stop early:
/// taskref cannot interrupt a blocking closure.
#[derive(Clone)]
pub struct CurrentTask {
    running: Running,
}

impl CurrentTask {
    /// Whether the task's result will be discarded: it was cancelled, its
    /// runtime shut down, or this attempt timed out. The task should stop.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = taskref::Runtime::new()?;
    /// let (started_tx, started_rx) = std::sync::mpsc::channel();
    /// let r = rt.spawn_blocking(move || {
    ///     started_tx.send(()).unwrap();
    ///     let me = taskref::current_task().expect("inside a task");
    ///     let mut rounds = 0u64;
    ///     while !me.is_cancelled() {
    ///         rounds += 1; // a long computation, checking now and then
    ///         std::thread::sleep(Duration::from_millis(1));
    ///     }
    ///     rounds
    /// });
    /// started_rx.recv().unwrap();
    /// r.cancel();
    /// assert!(r.block_get().unwrap_err().is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.running.slot.is_complete()
            || self
                .running
                .abandoned
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Acquire))
    }

    /// Who the task is.
    pub fn task(&self) -> &TaskInfo {
        self.running.slot.info()
    }

    /// When this task (this attempt) must end, if it has a deadline: its own
    /// [`timeout`](crate::RemoteFn::timeout), or what it inherited from the
    /// task that submitted it (a timeout bounds the task's whole subtree).
    /// Long blocking code can check it, or size its work to it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = taskref::Runtime::new()?;
    /// let inner = rt.clone();
    /// let outer = rt.remote(move |_: ()| {
    ///     let inner = inner.clone();
    ///     async move {
    ///         let mine = taskref::current_task().unwrap().deadline().unwrap();
    ///         let child = inner.spawn(async { taskref::current_task().unwrap().deadline() });
    ///         let theirs = child.await.unwrap().unwrap();
    ///         theirs <= mine + Duration::from_millis(50)
    ///     }
    /// })
    /// .timeout(Duration::from_secs(5));
    /// assert!(outer.remote(()).block_get()?, "the child inherits the deadline");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.running.deadline.map(|(at, _)| at)
    }

    /// The task that submitted this one, if any (see [`TaskInfo::parent`]).
    pub fn parent(&self) -> Option<crate::ObjectId> {
        self.task().parent()
    }
}

impl fmt::Debug for CurrentTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentTask")
            .field("task", self.task())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The taskref task running on this thread, or `None` outside of one.
///
/// Inside an async task it is available while the task is being polled; inside
/// a blocking task, for the whole closure.
///
/// ```
/// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
/// assert!(taskref::current_task().is_none());
/// let r = rt.remote(|_: ()| async {
///     taskref::current_task().unwrap().task().name().map(str::to_owned)
/// })
/// .name("me")
/// .remote(());
/// assert_eq!(r.block_get().unwrap().as_deref(), Some("me"));
/// ```
pub fn current_task() -> Option<CurrentTask> {
    CURRENT.with(|c| c.borrow().clone().map(|running| CurrentTask { running }))
}
