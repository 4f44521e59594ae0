//! Taskref on a Ray cluster: the connection to it, the bridge process that
//! talks to Ray, and the worker mode of the program.
//
// # The route (shape (a) of the design; see docs/RAY.md for the evidence)
//
//     driver process                bridge (python)            Ray worker (python)
//     ─────────────────             ─────────────────          ─────────────────────
//     f.remote(x) ──frames──▶       ray ObjectRefs by    ──▶   trampoline ──frames──▶
//     (postcard bytes)              taskref id                  the program itself,
//                                                               TASKREF_RAY_WORKER=1
//
// The Rust side never links Python. The runtime starts the bridge with Ray's
// Python and talks to it over its stdin/stdout (`connection`); the bridge
// holds the Ray refs, so a ref passed to another task goes to Ray as a ref
// and its value never comes through the driver unless the driver reads it.
// On the workers, a trampoline (shipped by value by Ray: nothing to install
// but `ray`) starts the program's own binary -- put in Ray's object store by
// the bridge, written to each node's temp directory once per build (not
// `runtime_env` working_dir: two raylets on one machine race on its
// unpacking directory) -- once per worker process, and calls registered
// `#[taskref::remote]` functions by name (`worker`).
//
// This module sits beside `observe`, `resources`, `store` and `timer`: the
// runtime context holds a connection, and the task layer submits through it
// (`task/on_cluster.rs`); it knows nothing of slots or refs.

mod connection;
pub(crate) mod frame;
pub(crate) mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use connection::{Connection, Done, Failure};

use crate::error::{ClusterFailure, Error};
use crate::identity::TaskInfo;

/// How to reach a cluster (from `Builder::ray`).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) address: String,
    pub(crate) python: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) namespace: Option<String>,
}

impl Config {
    pub(crate) fn new(address: String) -> Config {
        Config {
            address,
            python: None,
            connect_timeout: Duration::from_secs(60),
            namespace: None,
        }
    }

    /// The Python that runs the bridge: the builder's, else
    /// `TASKREF_RAY_PYTHON`, else `python3`.
    pub(crate) fn python(&self) -> String {
        self.python
            .clone()
            .or_else(|| std::env::var("TASKREF_RAY_PYTHON").ok())
            .unwrap_or_else(|| "python3".to_owned())
    }
}

/// A node of the cluster, as Ray reported it when the runtime connected.
#[derive(Clone, Debug)]
pub struct Node {
    pub(crate) id: String,
    pub(crate) resources: Vec<(String, f64)>,
}

impl Node {
    /// Ray's id of the node.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The node's total of `resource` (`"CPU"`, `"memory"`, a custom name),
    /// if it has any.
    pub fn resource(&self, resource: &str) -> Option<f64> {
        self.resources
            .iter()
            .find(|(name, _)| name == resource)
            .map(|(_, amount)| *amount)
    }
}

/// The Ray cluster a runtime runs its distributable functions on
/// ([`Runtime::cluster`](crate::Runtime::cluster)).
///
/// ```no_run
/// let rt = taskref::Runtime::builder().ray("auto").build()?;
/// let cluster = rt.cluster().expect("built with .ray(..)");
/// println!("{} nodes, Ray {}", cluster.nodes().len(), cluster.ray_version());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Cluster {
    pub(crate) connection: Arc<Connection>,
}

impl Cluster {
    /// The address the runtime connected to, as given to
    /// [`Builder::ray`](crate::Builder::ray).
    pub fn address(&self) -> &str {
        &self.connection.address
    }

    /// The cluster's live nodes when the runtime connected.
    pub fn nodes(&self) -> &[Node] {
        self.connection.nodes()
    }

    /// The version of Ray the cluster's driver side runs.
    pub fn ray_version(&self) -> &str {
        self.connection.ray_version()
    }

    /// Bytes of values that came to the driver: values the program read
    /// (`get`, `wait`, an argument of a closure task), and values of at most
    /// 100 KiB, which come with their task's end (as Ray returns small
    /// objects to their owner directly). A larger value passed from task to
    /// task adds nothing here.
    pub fn bytes_to_driver(&self) -> u64 {
        self.connection.bytes().0
    }

    /// Bytes of arguments the driver sent to the cluster (values passed by
    /// value, including values it had fetched and passes on).
    pub fn bytes_from_driver(&self) -> u64 {
        self.connection.bytes().1
    }

    /// The bridge process's id: the driver's side of the connection.
    /// Killing it is how a test takes the cluster away from a driver.
    pub fn bridge_pid(&self) -> Option<u32> {
        self.connection.bridge_pid()
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("address", &self.address())
            .field("nodes", &self.nodes().len())
            .finish()
    }
}

/// The `Error` of a task that failed on the cluster (or whose connection was
/// lost): the same values as in-process where there is a twin.
pub(crate) fn error_of(task: &TaskInfo, failure: &Failure, attempts: u32) -> Error {
    let cluster = |kind: ClusterFailure| Error::Cluster {
        task: task.clone(),
        failure: kind,
        message: failure.message.clone(),
    };
    match failure.kind.as_str() {
        "panic" => Error::TaskPanicked {
            task: task.clone(),
            message: match &failure.at {
                Some(at) => format!("{} (at {at}, on a Ray worker)", failure.message),
                None => failure.message.clone(),
            },
            attempts,
        },
        "TaskCancelledError" => Error::Cancelled { task: task.clone() },
        "shutdown" => Error::Shutdown { task: task.clone() },
        "unknown_function" | "build_mismatch" => cluster(ClusterFailure::UnknownFunction),
        "decode" | "encode" => cluster(ClusterFailure::Serialization),
        "worker_died"
        | "WorkerCrashedError"
        | "NodeDiedError"
        | "LocalRayletDiedError"
        | "OwnerDiedError"
        | "ObjectLostError"
        | "ObjectReconstructionFailedError" => cluster(ClusterFailure::WorkerDied),
        "disconnected" | "RaySystemError" => cluster(ClusterFailure::Disconnected),
        _ => Error::Cluster {
            task: task.clone(),
            failure: ClusterFailure::Ray,
            message: format!("{}: {}", failure.kind, failure.message),
        },
    }
}
