//! `Traced`: what a wait on many refs keeps to record itself once it ends,
//! for the futures and streams that consume their refs (`get_all`,
//! `get_all_settled`, `as_completed` and their blocking twins).

use std::panic::Location;
use std::sync::Arc;

use crate::context::RuntimeContext;
use crate::error::Error;
use crate::identity::ObjectId;
use crate::object_ref::ObjectRef;
use crate::observe::AllOf;
use crate::observe::{Waiting, MAX_WAIT_IDS};

/// A wait's call, call site and refs (the first ids, taken before the refs are
/// consumed), with the runtime that records it.
pub(crate) struct Traced {
    call: &'static str,
    location: &'static Location<'static>,
    ids: Vec<ObjectId>,
    count: usize,
    waiting: Waiting,
    /// The runtime of the first ref that has one (`None` if all are `put`s).
    context: Option<Arc<RuntimeContext>>,
}

impl Traced {
    pub(crate) fn new<T>(
        refs: &[ObjectRef<T>],
        call: &'static str,
        location: &'static Location<'static>,
    ) -> Traced {
        let mut traced = Traced::empty(call, location);
        traced.ids.reserve_exact(refs.len().min(MAX_WAIT_IDS));
        refs.iter().for_each(|object| traced.add(object));
        traced
    }

    /// A record of no refs yet: [`add`](Traced::add) them one by one (as a
    /// stream takes them, without collecting them first).
    pub(crate) fn empty(call: &'static str, location: &'static Location<'static>) -> Traced {
        Traced {
            call,
            location,
            ids: Vec::new(),
            count: 0,
            waiting: Waiting::default(),
            context: None,
        }
    }

    /// Counts one more ref of the wait.
    pub(crate) fn add<T>(&mut self, object: &ObjectRef<T>) {
        if self.ids.len() < MAX_WAIT_IDS {
            self.ids.push(object.id());
        }
        self.count += 1;
        if self.context.is_none() {
            self.context = object.slot.context().cloned();
        }
    }

    /// The runtime the refs belong to.
    pub(crate) fn context(&self) -> Option<&Arc<RuntimeContext>> {
        self.context.as_ref()
    }

    /// The wait is polled (only the first call counts), and may end before
    /// every ref is done (a stream): noted for the snapshot only.
    pub(crate) fn start(&mut self) {
        if self.waiting.is_started() {
            return;
        }
        self.waiting
            .start(self.context.as_ref().map(|c| c.observer()));
        let ids = self.ids.iter().copied();
        let context = self.context.as_ref();
        self.waiting
            .note_any(self.call, self.location, ids, self.count, context);
    }

    /// The wait is polled for the first time and waits until every one of
    /// `pending` is done: noted as edges of the wait-for graph.
    /// `Err(Deadlock)` if that closes a cycle, under `Deny`.
    pub(crate) fn start_all(&mut self, pending: AllOf) -> Result<(), Error> {
        self.waiting
            .start(self.context.as_ref().map(|c| c.observer()));
        let context = self.context.as_ref();
        self.waiting
            .note_all(self.call, self.location, pending, context)
    }

    /// The wait ended: record it once.
    pub(crate) fn finish(&mut self) {
        if !self.waiting.is_started() {
            return;
        }
        let observer = self.context.as_ref().map(|c| c.observer());
        let ids = std::mem::take(&mut self.ids).into_iter();
        self.waiting
            .finish(observer, self.call, self.location, ids, self.count);
    }
}
