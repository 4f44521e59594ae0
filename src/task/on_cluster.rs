//! The second executor: a distributable function's call on a Ray cluster.
//
// # Submit, run there, fetch when read
//
// 1. **Admit** (caller's thread): the task gets an id and a remote slot; a
//    shut-down runtime, an invalid amount or a request no node can meet fails
//    it at once, as in-process (Ray would keep an infeasible task pending).
// 2. **Arguments**: values are encoded with the function's own encoder; refs
//    to cluster tasks go as refs (Ray resolves them on the worker); refs to
//    local values go by value once they exist. When nothing has to be waited
//    for, the call is submitted on the caller's thread, so submissions reach
//    the bridge in program order and a ref is always known there before a
//    task that takes it.
// 3. **Run**: a small tokio task per call (the *proxy*) waits for the end of
//    the call on the cluster, with the task's timeout, and retries as
//    in-process: panics and timeouts, and `Err`s with `retry_on_error`
//    (worker deaths are retried by Ray itself, with the same `max_retries`).
//    Aborting the proxy (cancel, shutdown, timeout) asks Ray to cancel.
// 4. **Hand over**: once the call finished, the task counts as finished (stats,
//    timeline), and its value stays on the cluster; the slot is filled when a
//    reader first waits on it (`Slot::poll_*` → `RuntimeContext::want_remote`).
//    Fallible functions are the exception: their value is fetched at once,
//    since whether it is an `Err` decides the task's outcome.

use std::any::type_name;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::finish::{Finish, Plain};
use super::submit::{identify, Identified};
use super::{is_own_failure, Completer, Policy, TaskOptions};
use crate::args::{AnyValue, IntoArgs, LaterValue, WireArg};
use crate::cluster::{self, Connection, Done, Failure};
use crate::context::RuntimeContext;
use crate::distributed::{ActorPart, Distributable};
use crate::error::{ClusterFailure, Error};
use crate::identity::Label;
use crate::identity::TaskInfo;
use crate::object_ref::slot::{self, Slot};
use crate::object_ref::ObjectRef;

/// Ray's own default `max_retries` for a task: how many times it re-runs a
/// task whose worker process died.
const RAY_DEFAULT_MAX_RETRIES: u32 = 3;

/// What a cluster call runs: a registered function, or a registered method
/// of an actor on the cluster.
#[derive(Clone)]
pub(crate) struct Target {
    codec: Codec,
    /// The actor's id and label (its name), for a method call.
    actor: Option<(u64, Arc<Label>)>,
}

#[derive(Clone, Copy)]
enum Codec {
    Function(&'static Distributable),
    Method(&'static ActorPart),
}

impl Target {
    pub(crate) fn function(function: &'static Distributable) -> Target {
        Target {
            codec: Codec::Function(function),
            actor: None,
        }
    }

    pub(crate) fn method(part: &'static ActorPart, actor: u64, label: Arc<Label>) -> Target {
        Target {
            codec: Codec::Method(part),
            actor: Some((actor, label)),
        }
    }

    fn name(&self) -> &'static str {
        match self.codec {
            Codec::Function(f) => f.name(),
            Codec::Method(m) => m.name(),
        }
    }

    fn encode_arg(
        &self,
        index: usize,
        value: &(dyn std::any::Any + Send),
    ) -> Result<Vec<u8>, String> {
        match self.codec {
            Codec::Function(f) => f.encode_arg(index, value),
            Codec::Method(m) => m.encode_arg(index, value),
        }
    }

    fn decode_result(&self, bytes: &[u8]) -> Result<Box<dyn std::any::Any + Send>, String> {
        match self.codec {
            Codec::Function(f) => f.decode_result(bytes),
            Codec::Method(m) => m.decode_result(bytes),
        }
    }
}

/// CPUs a cluster task asks for unless told otherwise: Ray's default, for
/// async and blocking functions alike (each call holds a worker process).
const DEFAULT_CPUS: f64 = 1.0;

/// Submits a call of `function` to the runtime's cluster.
pub(super) fn submit<L, X, Raw, K>(
    context: &Arc<RuntimeContext>,
    connection: &Arc<Connection>,
    target: Target,
    options: &TaskOptions,
    location: &'static Location<'static>,
    args: X,
) -> ObjectRef<K::Value>
where
    X: IntoArgs<L>,
    Raw: Send + 'static,
    K: Finish<Raw>,
{
    let Identified {
        info,
        submitted_at,
        parent_cancelled,
        inherited,
    } = identify(context, options, location);
    let slot = Arc::new(Slot::pending_remote(
        info,
        Arc::clone(context),
        submitted_at,
    ));
    let object = ObjectRef::from_slot(Arc::clone(&slot));
    let completer = Completer::new(slot, submitted_at, false);
    let admitted = match &target.actor {
        // Submitted by a task cancelled meanwhile: never sent to Ray.
        _ if parent_cancelled => Err(Error::Cancelled {
            task: completer.info().clone(),
        }),
        None => admit(
            context,
            connection,
            options,
            K::FALLIBLE,
            completer.info(),
            location,
        ),
        // An actor's calls use the actor's resources, held since it started.
        Some(_) if context.is_closed() => Err(Error::Shutdown {
            task: completer.info().clone(),
        }),
        Some(_) => Ok(String::new()),
    };
    let ray_options = match admitted {
        Ok(ray_options) => ray_options,
        Err(err) => {
            completer.complete(Err(err));
            return object;
        }
    };
    connection.open(completer.info().id().as_u64(), !K::FALLIBLE);
    let mut call = Call {
        id: completer.info().id().as_u64(),
        name: target.name(),
        actor: target.actor.clone(),
        args: Vec::new(),
        options: ray_options,
        upstream: Vec::new(),
        wire: None,
    };
    let mut waiting: Vec<(usize, LaterValue)> = Vec::new();
    for (index, arg) in args.into_wire().into_iter().enumerate() {
        call.args.push(Part::Unset);
        match arg {
            WireArg::Value(value) => {
                if let Err(err) = call.set_value(&target, index, &value, completer.info()) {
                    completer.complete(Err(err));
                    return object;
                }
            }
            WireArg::Remote {
                task,
                keep,
                by_value,
            } => {
                let id = task.id().as_u64();
                if let Some(failure) = connection.failure_of(id) {
                    let upstream = cluster::error_of(&task, &failure, 1);
                    let err = completer.upstream_failed(&upstream);
                    completer.complete(Err(err));
                    return object;
                }
                if connection.holds(id) {
                    call.args[index] = Part::Ref(id);
                    call.upstream.push((task, keep));
                } else {
                    waiting.push((index, by_value()));
                }
            }
            WireArg::Local(later) => waiting.push((index, later)),
        }
    }
    let policy = Policy {
        inherited,
        ..options.policy
    };
    let proxy = if waiting.is_empty() {
        if let Err(err) = call.check_size(completer.info()) {
            completer.complete(Err(err));
            return object;
        }
        // Submitted here, in program order (see the module doc).
        let done = call.submit(connection);
        run::<Raw, K>(
            completer,
            Arc::clone(connection),
            target,
            call,
            Some(done),
            policy,
        )
        .boxed()
    } else {
        let connection = Arc::clone(connection);
        async move {
            let completer = completer;
            let mut call = call;
            for (index, later) in waiting {
                let value = match later.await {
                    Ok(value) => value,
                    Err(upstream) => {
                        let err = completer.upstream_failed(&upstream);
                        completer.complete(Err(err));
                        return;
                    }
                };
                if let Err(err) = call.set_value(&target, index, &value, completer.info()) {
                    completer.complete(Err(err));
                    return;
                }
            }
            if let Err(err) = call.check_size(completer.info()) {
                completer.complete(Err(err));
                return;
            }
            run::<Raw, K>(completer, connection, target, call, None, policy).await;
        }
        .boxed()
    };
    let join = context.spawn(proxy);
    super::register(context, &object, Some(join));
    object
}

/// Submits a call of a registered method to an actor on the cluster.
pub(crate) fn submit_actor_call<L, X, R>(
    context: &Arc<RuntimeContext>,
    connection: &Arc<Connection>,
    part: &'static ActorPart,
    actor: (u64, Arc<Label>),
    location: &'static Location<'static>,
    args: X,
) -> ObjectRef<R>
where
    X: IntoArgs<L>,
    R: Send + 'static,
{
    let options = TaskOptions {
        name: Some(Arc::clone(&actor.1)),
        ..TaskOptions::default()
    };
    let target = Target::method(part, actor.0, actor.1);
    submit::<L, X, R, Plain>(context, connection, target, &options, location, args)
}

/// Encodes an actor's constructor arguments: the argument specs and the
/// payload, or why they cannot go (a ref to a value that is not ready: an
/// actor starts from values and cluster refs).
pub(crate) fn constructor_args<L, X: IntoArgs<L>>(
    connection: &Connection,
    part: &'static ActorPart,
    args: X,
    location: &'static Location<'static>,
) -> Result<ConstructorArgs, Error> {
    let mut specs = Vec::new();
    let mut payload = Vec::new();
    let mut keep = Vec::new();
    let invalid = |message: String| Error::InvalidArgument { message, location };
    for (index, arg) in args.into_wire().into_iter().enumerate() {
        let value = match arg {
            WireArg::Value(value) => value,
            WireArg::Remote {
                task,
                keep: held,
                by_value,
            } => {
                if connection.holds(task.id().as_u64()) {
                    specs.push(json!({ "ref": task.id().as_u64() }));
                    keep.push(held);
                    continue;
                }
                match by_value().now_or_never() {
                    Some(Ok(value)) => value,
                    _ => {
                        return Err(invalid(format!(
                            "constructor argument {index} is a ref that is not ready"
                        )))
                    }
                }
            }
            WireArg::Local(later) => match later.now_or_never() {
                Some(Ok(value)) => value,
                Some(Err(err)) => return Err(err),
                None => {
                    return Err(invalid(format!(
                        "constructor argument {index} is a ref that is not ready: an actor on a \
                     cluster starts from values (await the ref first)"
                    )))
                }
            },
        };
        let bytes = part
            .encode_arg(index, value.as_ref())
            .map_err(|why| invalid(format!("constructor argument {index}: {why}")))?;
        specs.push(json!({ "len": bytes.len() }));
        payload.extend_from_slice(&bytes);
    }
    Ok(ConstructorArgs {
        specs,
        payload,
        _keep: keep,
    })
}

/// An actor's encoded constructor arguments.
pub(crate) struct ConstructorArgs {
    pub(crate) specs: Vec<Value>,
    pub(crate) payload: Vec<u8>,
    /// The cluster refs among them, alive until the actor's frame is queued.
    _keep: Vec<AnyValue>,
}

/// Checks a call's options against the runtime and the cluster; its Ray
/// options if it can run.
fn admit(
    context: &RuntimeContext,
    connection: &Connection,
    options: &TaskOptions,
    fallible: bool,
    info: &TaskInfo,
    location: &'static Location<'static>,
) -> Result<String, Error> {
    if context.is_closed() {
        return Err(Error::Shutdown { task: info.clone() });
    }
    let cpus = options.num_cpus.unwrap_or(DEFAULT_CPUS);
    let mut resources = serde_json::Map::new();
    let requests = std::iter::once(("CPU", cpus)).chain(
        options
            .resources
            .iter()
            .map(|(name, amount)| (&**name, *amount)),
    );
    for (name, amount) in requests {
        if !(amount >= 0.0 && amount.is_finite()) {
            return Err(Error::InvalidArgument {
                message: format!(
                    "{info} asks for {amount} of `{name}`: amounts are finite and >= 0"
                ),
                location,
            });
        }
        let capacity = connection.largest(name);
        if amount > capacity {
            return Err(Error::Infeasible {
                task: info.clone(),
                resource: name.to_owned(),
                requested: amount,
                capacity,
            });
        }
        if name != "CPU" && amount > 0.0 {
            resources.insert(name.to_owned(), json!(amount));
        }
    }
    // Ray retries worker deaths and, for functions that cannot return an
    // `Err`, panics too (`retry_exceptions`): under one ref, so a dependent
    // submitted meanwhile sees the final attempt. A fallible function's `Err`
    // is a value Ray cannot see: the driver retries those, and timeouts.
    // Unless the task says otherwise, a worker death (a failure of the
    // machine, which has no in-process twin) is retried as Ray's default
    // does, and nothing else is, as in-process.
    let worker_death_retries = match options.policy.retries_chosen {
        true => options.policy.max_retries,
        false => RAY_DEFAULT_MAX_RETRIES,
    };
    let mut ray = json!({
        "num_cpus": cpus,
        "max_retries": worker_death_retries,
        "retry_exceptions": options.policy.max_retries > 0 && !fallible,
    });
    if !resources.is_empty() {
        ray["resources"] = Value::Object(resources);
    }
    if let Some(name) = &options.name {
        ray["name"] = json!(name.name());
    }
    Ok(ray.to_string())
}

/// One call, ready to be (re)submitted.
struct Call {
    id: u64,
    name: &'static str,
    /// The actor (id, label) of a method call.
    actor: Option<(u64, Arc<Label>)>,
    /// One per argument, in order.
    args: Vec<Part>,
    /// Ray's options, as JSON text.
    options: String,
    /// The cluster tasks whose refs are arguments, kept alive while the call
    /// may be (re)submitted (Ray keeps them while it runs).
    upstream: Vec<(TaskInfo, AnyValue)>,
    /// The argument specs and payload, built at the first submission.
    wire: Option<(Vec<Value>, Vec<u8>)>,
}

enum Part {
    Bytes(Vec<u8>),
    Ref(u64),
    /// A local ref's value, set once it exists.
    Unset,
}

impl Call {
    /// Encodes argument `index`.
    fn set_value(
        &mut self,
        target: &Target,
        index: usize,
        value: &AnyValue,
        info: &TaskInfo,
    ) -> Result<(), Error> {
        let bytes = target
            .encode_arg(index, value.as_ref())
            .map_err(|why| serialization(info, format!("argument {index}: {why}")))?;
        if bytes.len() > cluster::frame::MAX_VALUE {
            return Err(serialization(
                info,
                format!("argument {index} is 4 GiB or more"),
            ));
        }
        self.args[index] = Part::Bytes(bytes);
        Ok(())
    }

    /// A call's arguments travel in one frame: together under 4 GiB.
    fn check_size(&self, info: &TaskInfo) -> Result<(), Error> {
        let total: usize = self
            .args
            .iter()
            .map(|part| match part {
                Part::Bytes(bytes) => bytes.len(),
                Part::Ref(_) | Part::Unset => 0,
            })
            .sum();
        match total > cluster::frame::MAX_VALUE {
            true => Err(serialization(
                info,
                format!("the arguments take {total} bytes: a call's arguments are sent in one frame, under 4 GiB"),
            )),
            false => Ok(()),
        }
    }

    fn submit(&mut self, connection: &Connection) -> Done {
        let (specs, payload) = self.wire.get_or_insert_with(|| {
            let mut payload = Vec::new();
            let specs = self
                .args
                .iter()
                .map(|part| match part {
                    Part::Bytes(bytes) => {
                        payload.extend_from_slice(bytes);
                        json!({ "len": bytes.len() })
                    }
                    Part::Ref(id) => json!({ "ref": id }),
                    Part::Unset => unreachable!("every argument is set before submission"),
                })
                .collect();
            (specs, payload)
        });
        match &self.actor {
            Some((actor, _)) => {
                connection.submit_to_actor(*actor, self.id, self.name, specs.clone(), payload)
            }
            None => connection.submit(self.id, self.name, specs.clone(), payload, &self.options),
        }
    }

    /// The error for a failed call: a dependency's failure if one of its
    /// ref arguments failed (Ray fails the call with the upstream's error),
    /// its own otherwise.
    fn error(
        &self,
        connection: &Connection,
        info: &TaskInfo,
        failure: &Failure,
        attempts: u32,
    ) -> Error {
        if let Some((_, actor)) = &self.actor {
            if failure.kind.starts_with("Actor") || failure.kind == "submit" {
                return Error::ActorDied {
                    task: info.clone(),
                    actor: actor.name().to_owned(),
                    cause: failure.message.clone(),
                };
            }
        }
        for (upstream, _) in &self.upstream {
            if let Some(theirs) = connection.failure_of(upstream.id().as_u64()) {
                let cause = cluster::error_of(upstream, &theirs, 1);
                return Error::dependency_failed(info.clone(), &cause);
            }
        }
        cluster::error_of(info, failure, attempts)
    }
}

/// Asks Ray to cancel the call if the proxy is dropped before the call ended
/// (a cancel, a shutdown, a timeout).
struct CancelOnDrop<'a> {
    connection: &'a Connection,
    id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.connection.cancel(self.id);
        }
    }
}

/// How one attempt ended.
enum Ended {
    Finished(Result<(), Failure>),
    TimedOut(Duration),
}

/// The proxy: waits for the call's end on the cluster, retries, and hands
/// the task's value over (see the module doc).
async fn run<Raw, K>(
    mut completer: Completer<K::Value>,
    connection: Arc<Connection>,
    target: Target,
    mut call: Call,
    mut submitted: Option<Done>,
    policy: Policy,
) where
    Raw: Send + 'static,
    K: Finish<Raw>,
{
    completer.start();
    let location = completer.info().location();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let done = match submitted.take() {
            Some(done) => done,
            None => call.submit(&connection),
        };
        let mut guard = CancelOnDrop {
            connection: &connection,
            id: call.id,
            armed: true,
        };
        let deadline = policy.attempt_deadline(completer.info().id());
        let limit = deadline.map(|(at, _)| at.saturating_duration_since(std::time::Instant::now()));
        let ended = match limit {
            None => Ended::Finished(disconnected_if_dropped(done.await)),
            Some(limit) => match completer.context().sleep(limit, location) {
                Ok(sleep) => {
                    let mut done = done;
                    let mut sleep = sleep;
                    std::future::poll_fn(|cx| {
                        if let Poll::Ready(end) = Pin::new(&mut done).poll(cx) {
                            return Poll::Ready(Ended::Finished(disconnected_if_dropped(end)));
                        }
                        sleep.as_mut().poll(cx).map(|()| Ended::TimedOut(limit))
                    })
                    .await
                }
                Err(err) => {
                    completer.complete(Err(err));
                    return;
                }
            },
        };
        let err = match ended {
            Ended::Finished(Ok(())) => {
                guard.armed = false;
                drop(guard);
                if !K::FALLIBLE {
                    hand_over::<Raw, K>(completer, &connection, target, call.id);
                    return;
                }
                // Whether it is an `Err` decides the outcome: fetch it now.
                match fetch_now::<Raw, K>(&connection, &target, call.id, completer.info()).await {
                    Ok(value) => {
                        completer.complete(Ok(value));
                        return;
                    }
                    Err(err) => match err {
                        Error::TaskFailed { task, source, .. } => Error::TaskFailed {
                            task,
                            source,
                            attempts,
                        },
                        other => other,
                    },
                }
            }
            Ended::Finished(Err(failure)) => {
                guard.armed = false;
                drop(guard);
                if !K::FALLIBLE && failure.kind == "panic" {
                    // Ray retried the panics itself (`retry_exceptions`), under
                    // the one ref its dependents hold: all attempts are spent.
                    let attempts = attempts + policy.max_retries;
                    let err = call.error(&connection, completer.info(), &failure, attempts);
                    completer.complete(Err(err));
                    return;
                }
                call.error(&connection, completer.info(), &failure, attempts)
            }
            // The guard's drop asks Ray to cancel the attempt.
            Ended::TimedOut(left) => {
                let own = completer.info().id();
                let deadline_of = deadline.map_or(own, |(_, whose)| whose);
                Error::TaskTimedOut {
                    task: completer.info().clone(),
                    timeout: match deadline_of == own {
                        true => policy.timeout.unwrap_or(left),
                        false => left,
                    },
                    attempts,
                    deadline_of,
                }
            }
        };
        if attempts > policy.max_retries || !policy.retries(&err) {
            completer.complete(Err(err));
            return;
        }
        tracing::debug!(task.id = call.id, error = %err, "retrying a cluster task");
    }
}

/// A `Done` whose sender went away without a word: the connection's entry
/// was dropped, which only a lost connection does while a proxy runs.
fn disconnected_if_dropped(
    end: Result<Result<(), Failure>, oneshot::error::RecvError>,
) -> Result<(), Failure> {
    end.unwrap_or_else(|_| {
        Err(Failure::new(
            "disconnected",
            "the connection to the Ray cluster was lost",
        ))
    })
}

/// The call finished and its value stays on the cluster: the task ends here
/// (stats, timeline), and its slot is filled when first read.
fn hand_over<Raw, K>(
    completer: Completer<K::Value>,
    connection: &Connection,
    target: Target,
    id: u64,
) where
    Raw: Send + 'static,
    K: Finish<Raw>,
{
    let slot = completer.hand_over();
    let weak: Weak<Slot<K::Value>> = Arc::downgrade(&slot);
    // Let go of the slot before the connection may fill it: if every ref is
    // gone already, dropping it here releases the value on the cluster.
    drop(slot);
    connection.finished(
        id,
        Box::new(move |bytes| {
            if let Some(slot) = weak.upgrade() {
                let outcome = decode::<Raw, K>(&target, slot.info(), bytes);
                fill(slot, outcome);
            }
        }),
    );
}

/// Fetches a finished call's value at once (for fallible functions).
async fn fetch_now<Raw, K>(
    connection: &Connection,
    target: &Target,
    id: u64,
    info: &TaskInfo,
) -> Result<K::Value, Error>
where
    Raw: Send + 'static,
    K: Finish<Raw>,
{
    let (tx, rx) = oneshot::channel::<Result<Vec<u8>, Failure>>();
    connection.finished(
        id,
        Box::new(move |bytes: Result<&[u8], Failure>| {
            let _ = tx.send(bytes.map(<[u8]>::to_vec));
        }),
    );
    connection.want(id);
    let bytes = rx.await.unwrap_or_else(|_| {
        Err(Failure::new(
            "disconnected",
            "the connection to the Ray cluster was lost",
        ))
    });
    match bytes {
        Ok(bytes) => decode::<Raw, K>(target, info, Ok(&bytes)),
        Err(failure) => decode::<Raw, K>(target, info, Err(failure)),
    }
}

/// A fetched value (or why there is none) as the ref's outcome.
fn decode<Raw, K>(
    target: &Target,
    info: &TaskInfo,
    bytes: Result<&[u8], Failure>,
) -> Result<K::Value, Error>
where
    Raw: Send + 'static,
    K: Finish<Raw>,
{
    let bytes = bytes.map_err(|failure| cluster::error_of(info, &failure, 1))?;
    let value = target
        .decode_result(bytes)
        .map_err(|why| serialization(info, format!("the result: {why}")))?;
    let raw = value.downcast::<Raw>().map_err(|_| {
        serialization(
            info,
            format!(
                "`{}` does not return a `{}`: submit an `async fn` with `rt.remote` and a \
                 plain `fn` with `rt.remote_blocking`",
                target.name(),
                type_name::<Raw>()
            ),
        )
    })?;
    K::finish(*raw).map_err(|source| Error::TaskFailed {
        task: info.clone(),
        source,
        attempts: 1,
    })
}

/// Completes a handed-over slot with its fetched outcome (on the
/// connection's reader thread).
fn fill<T: Send + 'static>(slot: Arc<Slot<T>>, outcome: Result<T, Error>) {
    let own_failure = matches!(&outcome, Err(err) if is_own_failure(err));
    match slot.complete_deferred(outcome, own_failure) {
        Ok(wake) => {
            // Let go first: a woken reader holding the last ref moves the
            // value out instead of cloning it.
            drop(slot);
            wake.wake_all();
        }
        Err(rejected) => slot::drop_quietly(rejected),
    }
}

fn serialization(info: &TaskInfo, message: String) -> Error {
    Error::Cluster {
        task: info.clone(),
        failure: ClusterFailure::Serialization,
        message,
    }
}
