//! `Runtime::tasks()`: a live snapshot of every unfinished task, like a
//! thread dump, and the states the deadlock report names.
//
// Nothing here runs until it is called: the snapshot walks the store's
// registry (which already holds every unfinished task, for shutdown and
// cancel) and reads what each slot keeps anyway (its phase, its submission
// time) plus the notes of the tasks that wait (see `waits.rs`). It takes
// each shard's and each slot's lock briefly, one at a time, so the runtime
// goes on while it runs; what it returns is each task as it was when read.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::Location;
use std::time::{Duration, Instant};

use crate::identity::{ObjectId, TaskInfo};
use crate::object_ref::slot::Phase;
use crate::store::Registered;
use crate::waits::WaitKind;

/// How many refs a line of the snapshot lists before it says "and N more".
const SHOWN_REFS: usize = 5;

/// How deep the printed tree indents; deeper tasks say their depth.
const MAX_INDENT: usize = 32;

/// The unfinished tasks of a runtime, as [`Runtime::tasks`](crate::Runtime::tasks)
/// found them: each with its id, name, call site, parent, age and state.
///
/// Its `Display` prints them as a tree (each task under the task that
/// submitted it), the way a thread dump prints threads:
///
/// ```
/// let rt = taskref::Runtime::new()?;
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let waiting = rt.spawn_blocking(move || rx.recv().is_ok());
/// let consumer = rt.remote(|ok: bool| async move { ok }).name("consumer").remote(&waiting);
/// let tasks = rt.tasks();
/// let line = tasks.get(consumer.id()).unwrap();
/// assert!(matches!(&line.state, taskref::TaskState::WaitingForArguments { on } if on == &[waiting.id()]));
/// println!("{tasks}");
/// tx.send(()).unwrap();
/// assert!(consumer.block_get()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    tasks: Vec<TaskSnapshot>,
}

/// One unfinished task in a [`Tasks`] snapshot (or in a deadlock's cycle,
/// [`Error::Deadlock`](crate::Error::Deadlock)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskSnapshot {
    /// Who it is: id, name, call site, parent ([`TaskInfo::parent`]).
    pub task: TaskInfo,
    /// How long ago it was submitted.
    pub age: Duration,
    /// What it is doing.
    pub state: TaskState,
}

/// What an unfinished task is doing, in a [`TaskSnapshot`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TaskState {
    /// Submitted, not started yet: its turn on a worker has not come.
    Scheduled,
    /// Waiting for these ref arguments to be ready.
    WaitingForArguments {
        /// The refs it waits on.
        on: Vec<ObjectId>,
    },
    /// Waiting for resources that other tasks hold.
    WaitingForResources {
        /// What it asks for, e.g. "1 CPU, 1 of `gpu`".
        request: String,
    },
    /// Its code is running.
    Running,
    /// Running, and blocked in a get or wait (an async task may be in
    /// several at once).
    Blocked {
        /// Its waits.
        waits: Vec<BlockedWait>,
    },
    /// A method call in its actor's mailbox, behind the call running now.
    QueuedInActor {
        /// The actor's name.
        actor: String,
        /// The actor's running calls that are blocked in a wait (what this
        /// call waits behind), if any.
        behind: Vec<ObjectId>,
    },
}

/// A get or wait a task is blocked in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BlockedWait {
    /// Which call: `"get"`, `"await"`, `"block_get"`, `"get_all"`, `"wait"`, ...
    pub call: &'static str,
    /// The line of code that waits.
    pub location: &'static Location<'static>,
    /// The refs it waits on (the first ones, for a wait on very many), as
    /// they were when the wait began (some may have finished since).
    pub on: Vec<ObjectId>,
    /// How many refs the wait is on.
    pub count: usize,
    /// How long it has waited so far.
    pub waited: Duration,
}

impl Tasks {
    /// Reads every unfinished task of `tasks` (in submission order).
    pub(crate) fn of(tasks: Vec<std::sync::Arc<dyn Registered>>) -> Tasks {
        Tasks {
            tasks: tasks
                .iter()
                .filter_map(|task| TaskSnapshot::of(task.as_ref()))
                .collect(),
        }
    }

    /// How many unfinished tasks there were.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there were none.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The tasks, in submission order.
    pub fn iter(&self) -> std::slice::Iter<'_, TaskSnapshot> {
        self.tasks.iter()
    }

    /// The task `id`, if it was unfinished.
    pub fn get(&self, id: ObjectId) -> Option<&TaskSnapshot> {
        self.tasks
            .binary_search_by_key(&id, |t| t.task.id())
            .ok()
            .map(|index| &self.tasks[index])
    }
}

impl IntoIterator for Tasks {
    type Item = TaskSnapshot;
    type IntoIter = std::vec::IntoIter<TaskSnapshot>;

    fn into_iter(self) -> Self::IntoIter {
        self.tasks.into_iter()
    }
}

impl<'a> IntoIterator for &'a Tasks {
    type Item = &'a TaskSnapshot;
    type IntoIter = std::slice::Iter<'a, TaskSnapshot>;

    fn into_iter(self) -> Self::IntoIter {
        self.tasks.iter()
    }
}

impl TaskSnapshot {
    /// Reads `task` now; `None` if it has finished.
    pub(crate) fn of(task: &dyn Registered) -> Option<TaskSnapshot> {
        if task.is_complete() {
            return None;
        }
        let info = task.info();
        let now = Instant::now();
        let (mut blocked, mut arguments, mut resources) = (Vec::new(), None, None);
        for note in task.waits() {
            let (on, count) = note.ids();
            match note.kind {
                WaitKind::Get { call, location } => blocked.push(BlockedWait {
                    call,
                    location,
                    on,
                    count,
                    waited: now.saturating_duration_since(note.since),
                }),
                WaitKind::Arguments => arguments = Some(on),
                WaitKind::Resources(request) => {
                    let context = task.context();
                    resources = Some(context.map_or_else(
                        || format!("{request:?}"),
                        |c| c.resources().describe(&request),
                    ));
                }
            }
        }
        let phase = task.phase();
        let state = if !blocked.is_empty() {
            TaskState::Blocked { waits: blocked }
        } else if let Some(on) = arguments {
            TaskState::WaitingForArguments { on }
        } else if let (Phase::Queued, Some(request)) = (phase, resources) {
            TaskState::WaitingForResources { request }
        } else if phase == Phase::Running {
            TaskState::Running
        } else if let Some(seat) = info.actor_seat() {
            TaskState::QueuedInActor {
                actor: seat.name.to_string(),
                behind: seat
                    .blocked_calls()
                    .iter()
                    .filter_map(|call| call.upgrade())
                    .map(|call| call.info().id())
                    .collect(),
            }
        } else {
            TaskState::Scheduled
        };
        Some(TaskSnapshot {
            task: info.clone(),
            age: task.age(),
            state,
        })
    }
}

/// `#12 `fetch` (src/main.rs:10)`: the id first, as the tree lines it up.
struct Who<'a>(&'a TaskInfo);

impl fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let task = self.0;
        write!(f, "{}", task.id())?;
        match (task.actor(), task.name()) {
            (Some(actor), _) => write!(f, " call to actor `{actor}`")?,
            (None, Some(name)) => write!(f, " `{name}`")?,
            (None, None) => {}
        }
        write!(f, " ({})", task.location())
    }
}

/// A duration as a person reads it: "850 ms", "12.3 s".
struct Took(Duration);

impl fmt::Display for Took {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            d if d < Duration::from_secs(1) => write!(f, "{} ms", d.as_millis()),
            d => write!(f, "{:.1} s", d.as_secs_f64()),
        }
    }
}

/// Refs as "#3, #4 and 7 more".
struct Refs<'a>(&'a [ObjectId], usize);

impl fmt::Display for Refs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Refs(ids, count) = *self;
        for (index, id) in ids.iter().take(SHOWN_REFS).enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{id}")?;
        }
        let shown = ids.len().min(SHOWN_REFS);
        if count > shown {
            write!(f, " and {} more", count - shown)?;
        }
        Ok(())
    }
}

impl fmt::Display for BlockedWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blocked in `{}` at {} on {} for {}",
            self.call,
            self.location,
            Refs(&self.on, self.count),
            Took(self.waited)
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskState::Scheduled => f.write_str("scheduled, not started"),
            TaskState::WaitingForArguments { on } => {
                write!(f, "waiting for its arguments {}", Refs(on, on.len()))
            }
            TaskState::WaitingForResources { request } => {
                write!(f, "waiting for resources: {request}")
            }
            TaskState::Running => f.write_str("running"),
            TaskState::Blocked { waits } => {
                for (index, wait) in waits.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{wait}")?;
                }
                Ok(())
            }
            TaskState::QueuedInActor { actor, behind } => {
                write!(f, "queued in actor `{actor}`'s mailbox")?;
                if !behind.is_empty() {
                    write!(f, " behind {}", Refs(behind, behind.len()))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for TaskSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, age {}: {}",
            Who(&self.task),
            Took(self.age),
            self.state
        )
    }
}

impl fmt::Display for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tasks.len() {
            1 => writeln!(f, "1 unfinished task")?,
            n => writeln!(f, "{n} unfinished tasks")?,
        }
        let present: HashSet<ObjectId> = self.tasks.iter().map(|t| t.task.id()).collect();
        let mut children: HashMap<ObjectId, Vec<&TaskSnapshot>> = HashMap::new();
        let mut roots = Vec::new();
        for task in &self.tasks {
            match task.task.parent().filter(|parent| present.contains(parent)) {
                Some(parent) => children.entry(parent).or_default().push(task),
                None => roots.push(task),
            }
        }
        // Depth first, iteratively: a tree may be deeper than the stack.
        let mut stack: Vec<(&TaskSnapshot, usize)> = roots.iter().rev().map(|t| (*t, 0)).collect();
        while let Some((task, depth)) = stack.pop() {
            // Indented up to a depth, then numbered: a deep recursion would
            // print quadratically many spaces.
            match depth {
                0..=MAX_INDENT => write!(f, "{:indent$}", "", indent = 2 * depth)?,
                _ => write!(f, "{:indent$}[depth {depth}] ", "", indent = 2 * MAX_INDENT)?,
            }
            write!(f, "{task}")?;
            match task.task.parent() {
                Some(parent) if depth == 0 => writeln!(f, " (submitted by {parent}, finished)")?,
                _ => writeln!(f)?,
            }
            if let Some(below) = children.get(&task.task.id()) {
                stack.extend(below.iter().rev().map(|t| (*t, depth + 1)));
            }
        }
        Ok(())
    }
}
