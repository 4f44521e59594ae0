//! Ray's task model, native to async Rust.
//!
//! A remote function becomes a spawned tokio task that hands back an
//! [`ObjectRef<T>`]: a cheap, cloneable, awaitable handle to a value that will
//! exist. Gathering many refs at once ([`get_all`], [`wait`], [`as_completed`]) is
//! Ray's batched `ray.get`; the blocking facade ([`ObjectRef::block_get`],
//! [`block_get_all`], [`block_wait`]) gives Ray's blocking semantics to plain
//! threads.
//!
//! ```
//! use taskref::Runtime;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = Runtime::new()?;
//! let f = rt.remote(|i: u64| async move { i });      // @ray.remote
//! let refs: Vec<_> = (0..100).map(|i| f.remote(i)).collect(); // f.remote(i)
//! let values = taskref::block_get_all(refs)?;         // ray.get(refs)
//! assert_eq!(values.iter().sum::<u64>(), 4950);
//! # Ok(()) }
//! ```
//!
//! The crate is built around the three ways Ray's documentation says users lose
//! their parallelism with `get`. Each has a fix that is as short as the mistake.
//!
//! Ray's other half, actors, is here too: [`Runtime::actor`] gives a worker with
//! state whose method calls ([`ActorHandle::call`]) return refs at once and run
//! one at a time, in submission order; [`ActorPool`] keeps a set of them busy.
//!
//! Coming from Ray? The repository's `docs/RAY.md` maps every Ray core call and
//! option to its taskref form and says what differs.
//!
//! # Anti-pattern 1: get in a loop
//!
//! Submitting one task and waiting for it before submitting the next runs the
//! tasks one after the other.
//!
//! ```
//! # use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), taskref::Error> {
//! # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
//! let slow = rt.remote(|i: u64| async move {
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//!     i
//! });
//!
//! // Wrong: ten tasks, ten sleeps in a row (about 100 ms).
//! let mut results = Vec::new();
//! for i in 0..10 {
//!     results.push(slow.remote(i).await?);
//! }
//!
//! // Right: submit everything, then gather once (about 10 ms).
//! let refs: Vec<_> = (0..10).map(|i| slow.remote(i)).collect();
//! assert_eq!(taskref::get_all(refs).await?, results);
//! # Ok(()) }
//! ```
//!
//! # Anti-pattern 2: unnecessary get
//!
//! Fetching a value only to pass it to another task makes the caller wait, and
//! copies the value. Pass the ref instead: the consumer starts as soon as the
//! producer is done, and takes the value without a copy when it holds the last
//! ref.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), taskref::Error> {
//! # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
//! let produce = rt.remote(|n: usize| async move { vec![1u64; n] });
//! let sum = rt.remote_blocking(|v: Vec<u64>| v.iter().sum::<u64>());
//!
//! // Wrong: the caller waits for the vector, clones it, and sends it back.
//! let data = produce.remote(1_000).get().await?;
//! let total = sum.remote(data).await?;
//!
//! // Right: hand the ref over; no get in between.
//! assert_eq!(sum.remote(produce.remote(1_000)).await?, total);
//! # Ok(()) }
//! ```
//!
//! # Anti-pattern 3: results in submission order
//!
//! Processing results in the order the tasks were submitted makes the caller
//! wait for a slow early task while later ones are done. Process them as they
//! complete with [`as_completed`] (or [`wait`] for Ray's shape).
//!
//! ```
//! # use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), taskref::Error> {
//! use futures::StreamExt;
//! # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
//! let sleepy = rt.remote(|ms: u64| async move {
//!     tokio::time::sleep(Duration::from_millis(ms)).await;
//!     ms
//! });
//! let refs: Vec<_> = [30, 10, 20].into_iter().map(|ms| sleepy.remote(ms)).collect();
//!
//! // Wrong: `for r in refs { process(r.await?) }` waits 30 ms before the first.
//! // Right: the 10 ms result is processed first.
//! let mut done = taskref::as_completed(refs);
//! let mut order = Vec::new();
//! while let Some((_index, value)) = done.next().await {
//!     order.push(value?);
//! }
//! assert_eq!(order, [10, 20, 30]);
//! # Ok(()) }
//! ```
//!
//! # Sync vs async
//!
//! Every way to wait has an async form and a blocking twin: [`ObjectRef::get`] /
//! [`ObjectRef::block_get`], [`get_all`] / [`block_get_all`], [`wait`] /
//! [`block_wait`], [`as_completed`] / [`block_as_completed`]. The blocking forms
//! are for plain threads and sync programs. They never deadlock: on a
//! multi-thread tokio worker they step out of the scheduler, inside a blocking
//! task they lend the task's CPU back while they wait (so nested gets never
//! starve the pool), and where blocking is impossible (a current-thread runtime's
//! own thread, a `LocalSet`) they return [`Error::BlockingInAsyncContext`].
//!
//! Async tasks ([`Runtime::remote`], [`Runtime::spawn`]) run on the tokio
//! workers and ask for 0 CPUs: they are not bounded. Blocking tasks
//! ([`Runtime::remote_blocking`], [`Runtime::spawn_blocking`]) run on the blocking
//! pool and ask for 1 CPU, so at most [`num_cpus`](Builder::num_cpus) run at once.
//! Named capacities ([`Builder::resource`], [`RemoteFn::resource`]) bound any
//! other kind of concurrency, as Ray's custom resources do.
//!
//! # Errors, cancellation and shutdown
//!
//! Errors are values: a panicking task fails its ref with
//! [`Error::TaskPanicked`] (with the message) and nothing else; a fallible task
//! ([`Runtime::try_remote`]) that returns `Err(e)` fails it with
//! [`Error::TaskFailed`], `e` as its source; a task whose ref argument failed
//! never runs and fails with [`Error::DependencyFailed`], naming the upstream
//! task. Every error names its task and the line that submitted it.
//! [`RemoteFn::max_retries`] re-runs failed attempts and [`RemoteFn::timeout`]
//! stops attempts that run too long.
//!
//! Dropping a ref never cancels its task; [`ObjectRef::cancel`] does, and task
//! code can notice with [`current_task`]. [`Runtime::shutdown`], or dropping the
//! last handle of an owned runtime, fails every pending ref with
//! [`Error::Shutdown`]: nothing waits forever.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod actor;
mod anti_pattern;
mod args;
mod block_on;
mod blocking;
mod cluster;
mod context;
mod distributed;
mod error;
mod gather;
mod identity;
mod object_ref;
pub mod observe;
mod park;
mod quiet;
mod remote;
mod resources;
mod runtime;
mod snapshot;
mod store;
mod stream;
mod sync;
mod task;
mod timer;
mod waits;

#[cfg(all(test, taskref_loom))]
mod loom_tests;

pub use actor::{ActorBuilder, ActorHandle, ActorPool, AsyncActorHandle, PoolActor, PoolMap};
pub use args::{Arg, IntoArgs};
pub use blocking::{
    block_as_completed, block_get_all, block_get_all_settled, block_map_unordered, block_wait,
    BlockAsCompleted, BlockMapUnordered, BlockPoolMap,
};
pub use cluster::{Cluster, Node};
#[doc(hidden)]
pub use distributed::__private;
pub use error::{ClusterFailure, Error, Result};
pub use gather::{
    as_completed, get_all, get_all_settled, map_unordered, wait, AsCompleted, GetAll,
    GetAllSettled, MapUnordered, Wait, WaitOutput, WaitRefs, WaitSet, WaitSetWait,
};
pub use identity::{ObjectId, TaskInfo};
pub use object_ref::{Get, GetTimeout, IntoGet, ObjectRef};
pub use observe::{AntiPatterns, Stats, Timeline, WaitCost};
pub use remote::{Func, RemoteFn};
pub use runtime::{Builder, Runtime};
pub use snapshot::{BlockedWait, TaskSnapshot, TaskState, Tasks};
pub use stream::{BlockRefStream, ItemSender, RefStream, Split, StreamClosed, StreamFn};

/// Makes a free `fn` or `async fn` *distributable*: registered under its path
/// (`crate::module::name`), with serde for its arguments and result, so that a
/// runtime built against a Ray cluster can run it on the cluster's workers.
///
/// The function is left as it is: call it directly, or submit it like any
/// other function with [`Runtime::remote`] / [`Runtime::remote_blocking`]. In
/// an in-process runtime nothing changes; [`RemoteFn::distributed_name`] says
/// whether a remote function is distributable.
///
/// Its parameters must be named, owned and `serde::Deserialize`, its result
/// `serde::Serialize` (and an `async fn`'s future `Send`); it cannot be
/// generic, `unsafe` or take `self`, and it must be a free function (not a
/// method in an `impl` block). Each is refused at compile time. A panic in it
/// is an error of the call, as for any task.
///
/// # Examples
///
/// ```
/// #[taskref::remote]
/// fn double(x: u64) -> u64 {
///     2 * x
/// }
///
/// #[taskref::remote]
/// async fn greet(name: String, times: u32) -> String {
///     format!("hello {name}").repeat(times as usize)
/// }
///
/// let rt = taskref::Runtime::new()?;
/// assert_eq!(double(4), 8); // still a plain function
/// let f = rt.remote_blocking(double);
/// assert!(f.distributed_name().unwrap().ends_with("::double"));
/// assert_eq!(f.remote(21).block_get()?, 42);
/// let g = rt.remote(greet);
/// assert_eq!(g.remote(("you".to_string(), 2)).block_get()?, "hello youhello you");
/// assert_eq!(rt.remote(|x: u8| async move { x }).distributed_name(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Workers find a function by its name, so it cannot be generic:
///
/// ```compile_fail
/// #[taskref::remote]
/// fn identity<T>(x: T) -> T {
///     x
/// }
/// ```
///
/// and what crosses must be owned and serializable:
///
/// ```compile_fail
/// #[taskref::remote]
/// fn first(words: &[String]) -> String {
///     words[0].clone()
/// }
/// ```
pub use taskref_macros::remote;

pub use task::{
    current_task, AsyncTask, BlockingTask, CurrentTask, TaskKind, TryAsyncTask, TryBlockingTask,
};

/// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
