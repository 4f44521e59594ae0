//! Who a task is: `ObjectId` (the identity of a ref) and `TaskInfo` (its id,
//! name and call site), carried by every error and every record.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::waits::ActorSeat;

/// The identity of an [`ObjectRef`](crate::ObjectRef): unique within the process, ordered by
/// submission.
///
/// # Examples
///
/// ```
/// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
/// let a = rt.put(1);
/// let b = rt.put(2);
/// assert!(a.id() < b.id());
/// assert_eq!(a.id(), a.clone().id());
/// assert_eq!(format!("{}", a.id()), format!("#{}", a.id().as_u64()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(u64);

impl ObjectId {
    pub(crate) fn next() -> ObjectId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ObjectId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number (ids start at 1 and grow with every submission).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.0)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Who a task is: its id, its optional name and the line of code that submitted it.
///
/// Every [`Error`](crate::Error) about a task carries one, so a message always says which task
/// failed and where it came from.
///
/// # Examples
///
/// ```
/// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
/// let r = rt.spawn(async { panic!("boom") });
/// let err = r.block_get().unwrap_err();
/// let task = err.task().unwrap();
/// assert_eq!(task.id(), r.id());
/// assert!(task.location().file().ends_with(".rs"));
/// ```
#[derive(Clone)]
pub struct TaskInfo {
    id: ObjectId,
    /// Its name, or for a method call its actor: one thin pointer, shared by
    /// every task of a named function (or every call of an actor). With
    /// the lineage, 32 bytes in all; every pending task's slot holds one.
    label: Option<Arc<Label>>,
    location: &'static Location<'static>,
    /// The tasks above this one in the task tree, nearest first (`None`
    /// for a task submitted from no task): the whole chain, so that a cancel
    /// finds a task's descendants even when a task between them finished
    /// and is gone. 8 bytes per task (M1 counts them), and one allocation
    /// per parent and poll, shared by the children it submits then.
    lineage: Option<Arc<Lineage>>,
}

/// What names a task.
pub(crate) enum Label {
    /// The name given with `RemoteFn::name`.
    Task(Box<str>),
    /// A method call's actor (the call is named after it).
    Actor(ActorSeat),
}

impl Label {
    /// The label of tasks named `name`.
    pub(crate) fn task(name: impl Into<String>) -> Arc<Label> {
        Arc::new(Label::Task(name.into().into_boxed_str()))
    }

    /// The label of an actor's calls.
    pub(crate) fn actor(seat: ActorSeat) -> Arc<Label> {
        Arc::new(Label::Actor(seat))
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Label::Task(name) => name,
            Label::Actor(seat) => &seat.name,
        }
    }

    /// The actor, for a method call's label.
    pub(crate) fn seat(&self) -> Option<&ActorSeat> {
        match self {
            Label::Task(_) => None,
            Label::Actor(seat) => Some(seat),
        }
    }
}

/// A task's ancestors: its parent, and the parent's.
#[derive(Debug)]
pub(crate) struct Lineage {
    parent: ObjectId,
    above: Option<Arc<Lineage>>,
}

impl TaskInfo {
    pub(crate) fn new(
        id: ObjectId,
        label: Option<Arc<Label>>,
        location: &'static Location<'static>,
    ) -> Self {
        TaskInfo {
            id,
            label,
            location,
            lineage: None,
        }
    }

    /// The same task, submitted by the task whose children's lineage this is.
    pub(crate) fn with_lineage(mut self, lineage: Arc<Lineage>) -> Self {
        self.lineage = Some(lineage);
        self
    }

    /// The lineage of the tasks this one submits.
    pub(crate) fn lineage_for_children(&self) -> Arc<Lineage> {
        Arc::new(Lineage {
            parent: self.id,
            above: self.lineage.clone(),
        })
    }

    /// Whether `ancestor` is above this task in the task tree.
    pub(crate) fn descends_from(&self, ancestor: ObjectId) -> bool {
        let mut next = self.lineage.as_deref();
        while let Some(link) = next {
            if link.parent == ancestor {
                return true;
            }
            next = link.above.as_deref();
        }
        false
    }

    /// The task that submitted this one, if it was submitted from inside a
    /// task of the same runtime: the task tree's edge. A cancel of the parent
    /// cancels this task too (see [`ObjectRef::cancel`](crate::ObjectRef::cancel)).
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let rt2 = rt.clone();
    /// let parent = rt.spawn(async move { rt2.spawn(async {}).task().parent() });
    /// assert_eq!(parent.block_get().unwrap(), Some(parent.id()));
    /// assert_eq!(rt.spawn(async {}).task().parent(), None, "submitted from no task");
    /// ```
    pub fn parent(&self) -> Option<ObjectId> {
        self.lineage.as_ref().map(|link| link.parent)
    }

    /// What names it (shared with the tasks named alike).
    pub(crate) fn name_label(&self) -> Option<&Arc<Label>> {
        self.label.as_ref()
    }

    /// The same name, call site and parent, under the id `id` (the items of
    /// a stream are named after their task).
    pub(crate) fn renumbered(&self, id: ObjectId) -> TaskInfo {
        TaskInfo { id, ..self.clone() }
    }

    /// For a method call, its actor.
    pub(crate) fn actor_seat(&self) -> Option<&ActorSeat> {
        self.label.as_deref().and_then(Label::seat)
    }

    /// The id of the task's [`ObjectRef`](crate::ObjectRef).
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// The name given with [`RemoteFn::name`](crate::RemoteFn::name), if any.
    pub fn name(&self) -> Option<&str> {
        self.label.as_deref().map(Label::name)
    }

    /// The call site that submitted the task (`remote`, `spawn`, `put`, ...).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// For a method call of an actor, the actor's name (method calls are
    /// named after their actor); `None` for tasks.
    ///
    /// ```
    /// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
    /// let counter = rt.actor_builder().name("counter").spawn(|| 0u8).unwrap();
    /// let err = counter.call(|_: &mut u8| -> u8 { panic!("no") }).block_get().unwrap_err();
    /// assert_eq!(err.task().unwrap().actor(), Some("counter"));
    /// ```
    pub fn actor(&self) -> Option<&str> {
        self.actor_seat().map(|seat| &*seat.name)
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(actor) = self.actor() {
            return write!(f, "call to actor `{actor}` ({})", self.location);
        }
        match self.name() {
            Some(name) => write!(f, "task `{name}` ({})", self.location),
            None => write!(f, "task {} ({})", self.id, self.location),
        }
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("location", &format_args!("{}", self.location))
            .field("actor_call", &self.actor().is_some())
            .finish()
    }
}

impl TaskInfo {
    /// A short label for pictures and traces: its name, or its id and call
    /// site.
    pub(crate) fn label(&self) -> String {
        match self.name() {
            Some(name) => name.to_owned(),
            None => format!("{} {}", self.id(), self.location()),
        }
    }
}
