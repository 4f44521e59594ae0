//! What every layer needs of its runtime, and nothing more: the bottom of the
//! crate's layering.
//
// # Layers
//
// From the bottom up; a module imports only modules below it, so the crate
// has no import cycle:
//
//     sync, quiet, park, identity,   primitives; who a task is; what the
//     anti_pattern                   detector reports
//     error                          Error, Result
//     observe, resources, store,     counters, timeline, detector; capacities;
//     timer, cluster                 the task registry; tokio's timer; the
//                                    connection to a Ray cluster
//     context                        this file: the four above behind a few
//                                    narrow methods
//     object_ref (slot)              where outcomes land; waiting on one ref
//     args, task                     resolving arguments; running user code
//                                    (the one submit path, task/submit.rs)
//     block_on, gather               the blocking engine; waiting on many refs
//     runtime                        the public handle, `Runtime`, `Builder`
//     remote, actor                  remote functions and actors, with their
//                                    `Runtime` constructors (`rt.remote(..)`,
//                                    `rt.actor(..)`), which live beside them so
//                                    that `runtime` does not import them
//     blocking                       the sync facade: a `block_*` twin for
//                                    every wait above
//
// `RuntimeContext` is what the layers above share. Before it, they reached the runtime
// through field chains on one hub (`runtime::Shared`), and every file that did
// so sat in one import cycle with `runtime.rs`. Tasks, refs and waits hold an
// `Arc<RuntimeContext>`, never the public `Runtime`: a pending task must not keep an
// owned tokio runtime alive by itself (dropping the last `Runtime` shuts it
// down, and the registry then fails the task with `Shutdown`).

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::cluster::{Connection, Failure};
use crate::error::Error;
use crate::identity::ObjectId;
use crate::observe::Observer;
use crate::resources::{Job, Request, Resources};
use crate::store::{Registered, Store};
use crate::timer::Timer;

/// The services a runtime gives the layers above it: an executor, a timer, the
/// observer sink, capacities and the task registry.
pub(crate) struct RuntimeContext {
    /// The tokio runtime tasks run on (owned or the application's).
    handle: Handle,
    /// Every submitted task, for shutdown and cancel by id.
    store: Store,
    /// CPU and named capacities.
    resources: Resources,
    /// Counters, timeline and detector.
    observer: Observer,
    /// Tokio's timer, probed once for an attached runtime.
    timer: Timer,
    /// The CPU capacity the runtime was built with.
    num_cpus: usize,
    /// The Ray cluster distributable functions run on, for a runtime built
    /// with `Builder::ray`.
    cluster: Option<Arc<Connection>>,
    /// The names of its named actors.
    actors: crate::actor::Registry,
}

impl RuntimeContext {
    /// `owned`: the runtime was built with its time driver, so the timer need
    /// not probe for it.
    pub(crate) fn new(
        handle: Handle,
        owned: bool,
        num_cpus: usize,
        resources: Resources,
        observer: Observer,
    ) -> RuntimeContext {
        let timer = match owned {
            true => Timer::owned(handle.clone()),
            false => Timer::attached(handle.clone()),
        };
        RuntimeContext {
            handle,
            store: Store::default(),
            resources,
            observer,
            timer,
            num_cpus,
            cluster: None,
            actors: crate::actor::Registry::default(),
        }
    }

    /// The names of its named actors.
    pub(crate) fn actors(&self) -> &crate::actor::Registry {
        &self.actors
    }

    /// The same context, running distributable functions on `cluster`.
    pub(crate) fn with_cluster(mut self, cluster: Arc<Connection>) -> RuntimeContext {
        self.cluster = Some(cluster);
        self
    }

    /// The Ray cluster, if the runtime was built for one.
    pub(crate) fn cluster(&self) -> Option<&Arc<Connection>> {
        self.cluster.as_ref()
    }

    /// A reader waits for the value of cluster task `id`: bring it here.
    pub(crate) fn want_remote(&self, id: ObjectId) {
        if let Some(cluster) = &self.cluster {
            cluster.want(id.as_u64());
        }
    }

    /// The last ref to cluster task `id` is gone: the cluster may free it.
    pub(crate) fn release_remote(&self, id: ObjectId) {
        if let Some(cluster) = &self.cluster {
            cluster.release(id.as_u64());
        }
    }

    /// The tokio runtime the tasks run on.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `future` on the runtime's async workers.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `f` on the runtime's blocking pool.
    pub(crate) fn spawn_blocking<F>(&self, f: F) -> JoinHandle<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// A `Sleep` of `duration` on the runtime's timer, from any thread;
    /// `Err(NoTimer)` if the runtime has none.
    pub(crate) fn sleep(
        &self,
        duration: Duration,
        location: &'static Location<'static>,
    ) -> Result<Pin<Box<tokio::time::Sleep>>, Error> {
        self.timer.sleep(duration, location)
    }

    /// The observer sink: counters, timeline, detector.
    pub(crate) fn observer(&self) -> &Observer {
        &self.observer
    }

    /// The runtime's capacities.
    pub(crate) fn resources(&self) -> &Resources {
        &self.resources
    }

    /// Runs `job` on the blocking pool once `request`'s resources are free
    /// (queued in order behind earlier requests).
    pub(crate) fn run_when_free(&self, request: Request, job: Job) {
        self.resources.run_when_free(&self.handle, request, job);
    }

    /// The runtime's CPU capacity.
    pub(crate) fn num_cpus(&self) -> usize {
        self.num_cpus
    }

    /// Records a submitted task, for shutdown and cancel by id. If the runtime
    /// shut down meanwhile, the task is failed with `Shutdown` at once.
    pub(crate) fn register(&self, id: ObjectId, task: &Arc<dyn Registered>) {
        self.store.register(id, task);
    }

    /// Cancels the unfinished task `id`, if it is this runtime's.
    /// Every unfinished task, in submission order (for the snapshot).
    pub(crate) fn unfinished(&self) -> Vec<Arc<dyn Registered>> {
        self.store.unfinished()
    }

    pub(crate) fn cancel(&self, id: ObjectId) -> bool {
        self.store.cancel(id)
    }

    /// Cancels every unfinished task below `id` in the task tree.
    pub(crate) fn cancel_descendants(&self, id: ObjectId) -> usize {
        self.store.cancel_descendants(id)
    }

    /// The deadline of `deadline_of` passed while task `id` ran under it:
    /// every unfinished task below `id` fails with `TaskTimedOut`.
    pub(crate) fn time_out_descendants(
        &self,
        id: ObjectId,
        timeout: Duration,
        deadline_of: ObjectId,
    ) {
        self.store
            .fail_descendants(id, &|task| Error::TaskTimedOut {
                task,
                timeout,
                attempts: 1,
                deadline_of,
            });
    }

    /// Whether the runtime was shut down: submissions fail at once.
    pub(crate) fn is_closed(&self) -> bool {
        self.store.is_closed()
    }

    /// Shuts down: every registered task that is still pending fails with
    /// `Shutdown`, and so does every later submission.
    pub(crate) fn close(&self) {
        self.store.close();
        self.resources.close();
        if let Some(cluster) = &self.cluster {
            cluster.close(Failure::new("shutdown", "the runtime was shut down"));
        }
    }

    /// A task's own failure was dropped unread: say so, so nothing is lost
    /// silently.
    pub(crate) fn report_unread(&self, err: &Error) {
        self.observer.detector.unread_error(err);
    }
}
