//! Actors on a Ray cluster: a state type registered with
//! `#[taskref::remote]` on its `impl` block runs as a Ray actor, its state in
//! the program's binary in the worker process Ray gave the actor.
//
// The handle is the same `ActorHandle`: `spawn_with(T::new, args)` starts the
// actor there when the runtime has a cluster and `T::new` is a registered
// constructor; `call(T::method)` / `call_with(x, T::method)` send a call of a
// registered method by name, as one more cluster task (`task/on_cluster.rs`),
// and `kill` is `ray.kill`. A closure cannot be named on a worker: calling
// one on a cluster actor fails its ref with `InvalidArgument`.
//
// Order: the bridge is the actor's one caller, and Ray runs one caller's
// calls in the order they were submitted; calls are submitted in program
// order unless one waits for a ref to a local value, which later calls may
// overtake (in-process, one total order is kept).

use std::panic::Location;
use std::sync::Arc;

use crate::args::IntoArgs;
use crate::cluster::Connection;
use crate::distributed::{self, ActorPart};
use crate::error::Error;
use crate::identity::{Label, TaskInfo};
use crate::object_ref::ObjectRef;
use crate::runtime::Runtime;

/// The cluster side of an actor's handle.
pub(super) struct RemoteActor {
    pub(super) id: u64,
    pub(super) connection: Arc<Connection>,
}

impl Drop for RemoteActor {
    fn drop(&mut self) {
        // The last handle is gone: Ray stops the actor once its calls ran.
        self.connection.actor_release(self.id);
    }
}

/// The registered constructor `F`, if the runtime runs on a cluster.
pub(super) fn constructor<F: 'static>(
    runtime: &Runtime,
) -> Option<(&'static ActorPart, Arc<Connection>)> {
    let connection = runtime.context().cluster()?;
    let part = distributed::actor_part::<F>().filter(|part| part.is_constructor())?;
    Some((part, Arc::clone(connection)))
}

/// Starts an actor on the cluster with the registered constructor `part`.
pub(super) fn start<L, X: IntoArgs<L>>(
    runtime: &Runtime,
    connection: Arc<Connection>,
    part: &'static ActorPart,
    args: X,
    options: serde_json::Value,
    location: &'static Location<'static>,
) -> Result<RemoteActor, Error> {
    if runtime.is_shutdown() {
        return Err(Error::InvalidArgument {
            message: "the runtime is shut down: no actor can start".to_owned(),
            location,
        });
    }
    let args = crate::task::constructor_args(&connection, part, args, location)?;
    let id = crate::ObjectId::next().as_u64();
    connection.actor_new(
        id,
        part.name(),
        args.specs.clone(),
        &args.payload,
        &options.to_string(),
    );
    Ok(RemoteActor { id, connection })
}

/// Submits a call of the method `F` (a registered one) to the actor.
pub(super) fn call<L, X, R, F: 'static>(
    runtime: &Runtime,
    remote: &RemoteActor,
    label: &Arc<Label>,
    death: Option<String>,
    args: X,
    location: &'static Location<'static>,
) -> ObjectRef<R>
where
    X: IntoArgs<L>,
    R: Send + 'static,
{
    let name = label.name();
    let refused = |err: Error| failed::<R>(runtime, label, err, location);
    let Some(part) = distributed::actor_part::<F>().filter(|part| !part.is_constructor()) else {
        return refused(Error::InvalidArgument {
            message: format!(
                "actor {name} runs on a Ray cluster: call a method of its `#[taskref::remote] impl` \
                 block (`call(State::method)`), not a closure (`{}`)",
                std::any::type_name::<F>()
            ),
            location,
        });
    };
    if let Some(cause) = death {
        let (object, completer) = super::new_call_at::<R>(runtime, label, location);
        if let Some(completer) = completer {
            let err = super::actor_died(completer.info(), name, cause);
            completer.complete(Err(err));
        }
        return object;
    }
    crate::task::submit_actor_call::<L, X, R>(
        runtime.context(),
        &remote.connection,
        part,
        (remote.id, Arc::clone(label)),
        location,
        args,
    )
}

/// A call's ref, failed with `err` at once.
fn failed<R: Send + 'static>(
    runtime: &Runtime,
    label: &Arc<Label>,
    err: Error,
    location: &'static Location<'static>,
) -> ObjectRef<R> {
    refused(runtime, label, |_| err, location)
}

/// A call's ref, failed at once with the error `refuse` makes for it.
pub(super) fn refused<R: Send + 'static>(
    runtime: &Runtime,
    label: &Arc<Label>,
    refuse: impl FnOnce(&TaskInfo) -> Error,
    location: &'static Location<'static>,
) -> ObjectRef<R> {
    let (object, completer) = super::new_call_at::<R>(runtime, label, location);
    if let Some(completer) = completer {
        let err = refuse(completer.info());
        completer.complete(Err(err));
    }
    object
}
