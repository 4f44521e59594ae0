//! The driver's connection to a Ray cluster: the bridge process it starts,
//! and the state of every task it runs there.
//
// # Threads
//
// Two plain threads per connection, so that a runtime can be built from any
// context (async or not) and the pipes never wait on tokio's scheduling:
//
// - the *writer* takes what the runtime queues (frames, fetches, releases),
//   batches whatever is queued at once into one write, and merges the fetches
//   and releases of a batch into one frame each: a `get_all` of 10,000 refs
//   becomes one `ray.get` in the bridge;
// - the *reader* routes the bridge's frames to the tasks: a task's end to its
//   submitter (a oneshot), fetched values to the fetchers that fill the slots.
//   When the bridge's stdout ends, the connection is gone: every task still
//   running or being fetched fails with that reason.
//
// # A task's entry
//
//     submit ──▶ running (done: Some) ──"done"──▶ finished ──fetch──▶ value in the slot
//                     │                               ▲
//                     └─"failed"──▶ failed            └─ only once a reader wants it
//
// An entry lives from submission until its slot drops (`release`), so that a
// ref can still be passed to other tasks after its value was read. Two facts
// meet in the entry, each set by a different party: the task's fetcher (set
// when the task finished) and `wanted` (set by the first reader). Whoever
// comes second queues the fetch; both sides decide under the entry's lock, so
// the fetch is queued exactly once.
//
// # Racing the end of the connection
//
// Every method that adds something to wait for (an entry, a fetcher) adds it
// first and checks `gone` after; the reader sets `gone` first and sweeps the
// entries after. Whichever order they run in, the waiter is failed at least
// once (and at most once: the senders and fetchers are taken out of the entry).

use std::io::{self, BufReader, BufWriter, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::frame;
use super::{Config, Node};

const BRIDGE: &str = include_str!("bridge.py");

/// Why a task (or the connection) failed, as the bridge or the worker said it.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    /// `panic`, `unknown_function`, `build_mismatch`, `decode`, `encode`,
    /// `worker_died`, `disconnected`, `bad_ref`, `submit`, `task_error`, or
    /// the class name of a Ray exception (`WorkerCrashedError`, ...).
    pub(crate) kind: String,
    pub(crate) message: String,
    /// Where a panic happened (`file:line`), when the worker knew.
    pub(crate) at: Option<String>,
}

impl Failure {
    pub(crate) fn new(kind: &str, message: impl Into<String>) -> Failure {
        Failure {
            kind: kind.to_owned(),
            message: message.into(),
            at: None,
        }
    }

    fn from_header(h: &Value) -> Failure {
        Failure {
            kind: h["kind"].as_str().unwrap_or("task_error").to_owned(),
            message: h["message"].as_str().unwrap_or_default().to_owned(),
            at: h["at"].as_str().map(str::to_owned),
        }
    }
}

/// Fills a finished task's slot with its value's bytes (or the reason there
/// are none). Runs on the reader thread.
pub(crate) type Fetcher = Box<dyn FnOnce(Result<&[u8], Failure>) + Send + Sync>;

/// A task's end: `Ok` once it finished on the cluster (its value stays
/// there), or how it failed.
pub(crate) type Done = oneshot::Receiver<Result<(), Failure>>;

#[derive(Default)]
struct Entry {
    /// Where the task's end goes while it runs.
    done: Option<oneshot::Sender<Result<(), Failure>>>,
    /// How it failed, for the tasks that took its ref as an argument.
    failed: Option<Failure>,
    /// A reader wants the value.
    wanted: bool,
    /// Fills the slot, once the task finished.
    fetcher: Option<Fetcher>,
    /// The fetch was queued.
    fetching: bool,
    /// The bridge knows the task: its ref can go to other tasks as a ref.
    submitted: bool,
    /// Its value on the cluster is what a dependent takes (not so for a
    /// fallible function, whose encoded `Result` is stored there).
    passable: bool,
    /// The current attempt: replies about an earlier one are dropped.
    attempt: u32,
    /// The value, when it came with the call's end (a small one, as Ray
    /// returns small objects to their owner directly).
    inline: Option<Vec<u8>>,
}

enum Outgoing {
    Frame(Vec<u8>),
    Fetch(u64),
    Release(u64),
    Shutdown,
}

/// A live connection to a cluster through the bridge.
pub(crate) struct Connection {
    out: mpsc::Sender<Outgoing>,
    entries: DashMap<u64, Entry>,
    /// Set once the connection is gone: why. Later calls fail with it at once.
    gone: OnceLock<Failure>,
    /// Value bytes the driver received from the cluster (fetched values).
    received: AtomicU64,
    /// Argument bytes the driver sent to the cluster (values passed by value).
    sent: AtomicU64,
    pub(crate) address: String,
    /// Set once, at connection.
    nodes: OnceLock<Vec<Node>>,
    ray_version: OnceLock<String>,
    bridge: Mutex<Option<Child>>,
}

impl Connection {
    /// Starts the bridge and connects it to the cluster at `config.address`,
    /// within `config.connect_timeout`.
    pub(crate) fn connect(config: &Config) -> io::Result<Arc<Connection>> {
        let started = Instant::now();
        let exe = std::env::current_exe()?;
        let python = config.python();
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(BRIDGE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!(
                        "taskref: cannot start Ray's Python `{python}` for the bridge to {}: {err} \
                         (set TASKREF_RAY_PYTHON or Builder::ray_python to a Python with `ray` installed)",
                        config.address
                    ),
                )
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (out, queued) = mpsc::channel();
        let build = crate::distributed::build_id().to_string();
        let (hello_tx, hello_rx) = mpsc::channel();
        let connection = Arc::new(Connection {
            out,
            entries: DashMap::new(),
            gone: OnceLock::new(),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            address: config.address.clone(),
            nodes: OnceLock::new(),
            ray_version: OnceLock::new(),
            bridge: Mutex::new(Some(child)),
        });
        let writer = std::thread::Builder::new()
            .name("taskref-ray-writer".into())
            .spawn(move || write_loop(queued, stdin))?;
        drop(writer);
        let reader_side = Arc::clone(&connection);
        std::thread::Builder::new()
            .name("taskref-ray-reader".into())
            .spawn(move || reader_side.read_loop(stdout, hello_tx))?;
        connection.send(
            &json!({
                "op": "init",
                "address": config.address,
                "exe": exe,
                "build": build,
                "namespace": config.namespace,
            }),
            &[],
        );
        let left = config.connect_timeout.saturating_sub(started.elapsed());
        let hello = match hello_rx.recv_timeout(left) {
            Ok(Ok(hello)) => hello,
            Ok(Err(fatal)) => {
                connection.kill_bridge();
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!(
                        "taskref: could not connect to the Ray cluster at {:?}: {fatal} \
                         (tried: {python} -c <bridge> with ray.init(address={:?}))",
                        config.address, config.address
                    ),
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                connection.kill_bridge();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "taskref: no Ray cluster answered at {:?} within {:?} \
                         (tried: {python} -c <bridge> with ray.init(address={:?}); \
                         is the cluster up, and RAY_ADDRESS right?)",
                        config.address, config.connect_timeout, config.address
                    ),
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let why = connection
                    .gone
                    .get()
                    .map_or_else(String::new, |f| f.message.clone());
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!(
                        "taskref: the Ray bridge ({python}) exited before connecting to {:?}: {why}",
                        config.address
                    ),
                ));
            }
        };
        let nodes = hello["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| Node {
                id: n["id"].as_str().unwrap_or_default().to_owned(),
                resources: n["resources"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(name, amount)| Some((name.clone(), amount.as_f64()?)))
                    .collect(),
            })
            .collect();
        let _ = connection.nodes.set(nodes);
        let _ = connection
            .ray_version
            .set(hello["ray"].as_str().unwrap_or("?").to_owned());
        Ok(connection)
    }

    /// The cluster's nodes, as Ray reported them at connection.
    pub(crate) fn nodes(&self) -> &[Node] {
        self.nodes.get().map_or(&[], Vec::as_slice)
    }

    /// The version of Ray the bridge runs.
    pub(crate) fn ray_version(&self) -> &str {
        self.ray_version.get().map_or("?", String::as_str)
    }

    /// The most of `resource` one node has: a task asking for more can never
    /// be scheduled (Ray would keep it pending forever, waiting for an
    /// autoscaler; taskref fails it at once, as in-process).
    pub(crate) fn largest(&self, resource: &str) -> f64 {
        self.nodes()
            .iter()
            .filter_map(|node| node.resources.iter().find(|(name, _)| name == resource))
            .map(|(_, amount)| *amount)
            .fold(0.0, f64::max)
    }

    /// Value bytes fetched to the driver, and argument bytes sent from it.
    pub(crate) fn bytes(&self) -> (u64, u64) {
        (
            self.received.load(Ordering::Relaxed),
            self.sent.load(Ordering::Relaxed),
        )
    }

    fn send(&self, header: &Value, payload: &[u8]) {
        self.queue(Outgoing::Frame(frame::encode(header, payload)));
    }

    fn queue(&self, message: Outgoing) {
        // Fails only once the writer is gone, and then `gone` says why.
        let _ = self.out.send(message);
    }

    /// Opens task `id`'s entry before its call can be submitted (its
    /// arguments may still be on their way), so that a reader's `want`
    /// arriving first is kept.
    pub(crate) fn open(&self, id: u64, passable: bool) {
        self.entries.entry(id).or_default().passable = passable;
    }

    /// Submits a call of the registered function `name` as task `id`: its
    /// arguments are `args` (each `{"len": n}` for a value whose bytes are the
    /// next n of `payload`, or `{"ref": id}` for another task's value), its
    /// Ray options `options` (JSON text: the bridge caches by it).
    /// Resubmitting an id (a retry) replaces the task.
    pub(crate) fn submit(
        &self,
        id: u64,
        name: &str,
        args: Vec<Value>,
        payload: &[u8],
        options: &str,
    ) -> Done {
        self.submit_frame(id, payload, |attempt| {
            json!({"op": "submit", "id": id, "attempt": attempt, "fn": name, "args": args, "options": options})
        })
    }

    /// Opens (or reopens, for a retry) task `id`'s attempt and queues the
    /// frame `header(attempt)` with `payload`.
    fn submit_frame(&self, id: u64, payload: &[u8], header: impl FnOnce(u32) -> Value) -> Done {
        let (tx, rx) = oneshot::channel();
        let attempt = {
            let mut entry = self.entries.entry(id).or_default();
            entry.done = Some(tx);
            entry.failed = None;
            // A retry: its value is not the one a previous attempt fetched.
            entry.fetching = false;
            entry.inline = None;
            entry.attempt += 1;
            entry.attempt
        };
        self.sent.fetch_add(payload.len() as u64, Ordering::Relaxed);
        self.send(&header(attempt), payload);
        // Only now may a dependent name it: its frame is queued behind ours.
        if let Some(mut entry) = self.entries.get_mut(&id) {
            entry.submitted = true;
        }
        if let Some(why) = self.gone.get() {
            self.fail_entry(id, why);
        }
        rx
    }

    /// Starts actor `actor` on the cluster: its state is built by the
    /// registered constructor `name` from `args` / `payload` (as for
    /// `submit`), with Ray's actor options `options` (JSON text).
    pub(crate) fn actor_new(
        &self,
        actor: u64,
        name: &str,
        args: Vec<Value>,
        payload: &[u8],
        options: &str,
    ) {
        self.sent.fetch_add(payload.len() as u64, Ordering::Relaxed);
        self.send(
            &json!({"op": "actor_new", "actor": actor, "fn": name, "args": args, "options": options}),
            payload,
        );
    }

    /// Submits a call of the registered method `name` to actor `actor` as
    /// task `id` (arguments as for `submit`). Calls reach the actor in the
    /// order they are submitted.
    pub(crate) fn submit_to_actor(
        &self,
        actor: u64,
        id: u64,
        name: &str,
        args: Vec<Value>,
        payload: &[u8],
    ) -> Done {
        self.submit_frame(id, payload, |attempt| {
            json!({"op": "submit", "id": id, "attempt": attempt, "actor": actor, "fn": name, "args": args})
        })
    }

    /// Kills actor `actor` (Ray's `ray.kill`): for good, or with `restart`
    /// for Ray to restart it if its `max_restarts` allows.
    pub(crate) fn actor_kill(&self, actor: u64, restart: bool) {
        self.send(
            &json!({"op": "actor_kill", "actor": actor, "restart": restart}),
            &[],
        );
    }

    /// The last handle to actor `actor` is gone: Ray may stop it once its
    /// calls are done.
    pub(crate) fn actor_release(&self, actor: u64) {
        if self.gone.get().is_none() {
            self.send(&json!({"op": "actor_release", "actor": actor}), &[]);
        }
    }

    /// Whether task `id` was submitted here and has not failed: its ref can
    /// go to another task as a ref.
    pub(crate) fn holds(&self, id: u64) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|entry| entry.submitted && entry.passable && entry.failed.is_none())
    }

    /// How task `id` failed, if it did.
    pub(crate) fn failure_of(&self, id: u64) -> Option<Failure> {
        self.entries.get(&id).and_then(|entry| entry.failed.clone())
    }

    /// Asks Ray to cancel task `id` (its refs are failed by the runtime).
    pub(crate) fn cancel(&self, id: u64) {
        self.send(&json!({"op": "cancel", "id": id}), &[]);
    }

    /// Task `id` finished: `fetcher` fills its slot once a reader wants the
    /// value (at once if one already does).
    pub(crate) fn finished(&self, id: u64, fetcher: Fetcher) {
        let due = {
            // A missing entry: the slot dropped meanwhile, nobody can read.
            let Some(mut entry) = self.entries.get_mut(&id) else {
                return;
            };
            entry.fetcher = Some(fetcher);
            self.fetch_if_due(id, &mut entry)
        };
        if let Some((fetcher, bytes)) = due {
            run_fetcher(fetcher, Ok(&bytes));
        }
        if let Some(why) = self.gone.get() {
            self.fail_entry(id, why);
        }
    }

    /// A reader waits for task `id`'s value: fetch it once the task finished.
    pub(crate) fn want(&self, id: u64) {
        let due = match self.entries.get_mut(&id) {
            Some(mut entry) => {
                entry.wanted = true;
                self.fetch_if_due(id, &mut entry)
            }
            None => None,
        };
        if let Some((fetcher, bytes)) = due {
            run_fetcher(fetcher, Ok(&bytes));
        }
    }

    /// Queues the fetch of a finished, wanted value; or, when the value came
    /// with the call's end, hands back the fetcher and the bytes, for the
    /// caller to run once it let go of the entry (filling the slot may drop
    /// it, and its drop removes the entry: under the entry's guard, a
    /// deadlock).
    fn fetch_if_due(&self, id: u64, entry: &mut Entry) -> Option<(Fetcher, Vec<u8>)> {
        if !(entry.wanted && entry.fetcher.is_some() && !entry.fetching) {
            return None;
        }
        entry.fetching = true;
        match entry.inline.take() {
            Some(bytes) => entry.fetcher.take().map(|fetcher| (fetcher, bytes)),
            None => {
                self.queue(Outgoing::Fetch(id));
                None
            }
        }
    }

    /// The slot of task `id` dropped: the cluster may free its value.
    pub(crate) fn release(&self, id: u64) {
        if self.entries.remove(&id).is_some() && self.gone.get().is_none() {
            self.queue(Outgoing::Release(id));
        }
    }

    /// Disconnects: the bridge calls `ray.shutdown()` and exits (waited for
    /// on a thread of its own, up to 10 s, then killed), and every task still
    /// waited for fails with `why`.
    pub(crate) fn close(self: &Arc<Self>, why: Failure) {
        if self.gone.set(why.clone()).is_err() {
            return;
        }
        self.queue(Outgoing::Shutdown);
        self.fail_all(&why);
        let this = Arc::clone(self);
        let _ = std::thread::Builder::new()
            .name("taskref-ray-close".into())
            .spawn(move || this.wait_for_bridge(Duration::from_secs(10)));
    }

    fn wait_for_bridge(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let mut bridge = self.bridge.lock().unwrap_or_else(|p| p.into_inner());
            match bridge.as_mut().map(Child::try_wait) {
                None | Some(Ok(Some(_))) | Some(Err(_)) => break,
                Some(Ok(None)) if Instant::now() >= deadline => {
                    drop(bridge);
                    self.kill_bridge();
                    break;
                }
                Some(Ok(None)) => {}
            }
            drop(bridge);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The bridge's pid (for tests that take the connection away).
    pub(crate) fn bridge_pid(&self) -> Option<u32> {
        self.bridge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(Child::id)
    }

    fn kill_bridge(&self) {
        let child = self.bridge.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn fail_entry(&self, id: u64, why: &Failure) {
        let (done, fetcher) = match self.entries.get_mut(&id) {
            Some(mut entry) => (entry.done.take(), entry.fetcher.take()),
            None => return,
        };
        if let Some(done) = done {
            let _ = done.send(Err(why.clone()));
        }
        if let Some(fetcher) = fetcher {
            run_fetcher(fetcher, Err(why.clone()));
        }
    }

    fn fail_all(&self, why: &Failure) {
        let ids: Vec<u64> = self.entries.iter().map(|entry| *entry.key()).collect();
        for id in ids {
            self.fail_entry(id, why);
        }
    }

    /// The reader thread: routes the bridge's frames until its stdout ends.
    fn read_loop(self: Arc<Self>, stdout: ChildStdout, hello: mpsc::Sender<Result<Value, String>>) {
        let mut stdout = BufReader::with_capacity(1 << 16, stdout);
        let mut hello = Some(hello);
        while let Ok(Some((header, payload))) = frame::read(&mut stdout) {
            match header["op"].as_str().unwrap_or_default() {
                "done" => {
                    self.received
                        .fetch_add(payload.len() as u64, Ordering::Relaxed);
                    let inline = header["inline"]
                        .as_bool()
                        .unwrap_or(false)
                        .then_some(payload);
                    self.on_done(&header, Ok(inline))
                }
                "failed" => self.on_done(&header, Err(Failure::from_header(&header))),
                "values" => self.on_values(&header, &payload),
                "ready" => {
                    if let Some(hello) = hello.take() {
                        let _ = hello.send(Ok(header));
                    }
                }
                "fatal" => {
                    let message = header["message"].as_str().unwrap_or_default().to_owned();
                    if let Some(hello) = hello.take() {
                        let _ = hello.send(Err(message));
                    }
                }
                other => {
                    tracing::warn!(op = other, "taskref: the Ray bridge sent an unknown frame")
                }
            }
        }
        let status = {
            let mut bridge = self.bridge.lock().unwrap_or_else(|p| p.into_inner());
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                match bridge.as_mut().map(Child::try_wait) {
                    Some(Ok(Some(status))) => break status.to_string(),
                    Some(Ok(None)) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Some(Ok(None)) => break "still running".to_owned(),
                    None | Some(Err(_)) => break "gone".to_owned(),
                }
            }
        };
        let why = Failure::new(
            "disconnected",
            format!(
                "the connection to the Ray cluster at {:?} was lost: its bridge process exited ({status})",
                self.address
            ),
        );
        let _ = self.gone.set(why);
        let why = self.gone.get().expect("just set").clone();
        self.fail_all(&why);
    }

    fn on_done(&self, header: &Value, outcome: Result<Option<Vec<u8>>, Failure>) {
        let Some(id) = header["id"].as_u64() else {
            return;
        };
        let attempt = header["attempt"].as_u64().unwrap_or(0);
        let done = match self.entries.get_mut(&id) {
            Some(entry) if u64::from(entry.attempt) != attempt => None,
            Some(mut entry) => {
                match &outcome {
                    Err(failure) => entry.failed = Some(failure.clone()),
                    Ok(inline) => entry.inline.clone_from(inline),
                }
                entry.done.take()
            }
            None => None,
        };
        if let Some(done) = done {
            let _ = done.send(outcome.map(drop));
        }
    }

    fn on_values(&self, header: &Value, payload: &[u8]) {
        self.received
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        let ids = header["ids"].as_array().map_or(&[][..], Vec::as_slice);
        let lens = header["lens"].as_array().map_or(&[][..], Vec::as_slice);
        let mut at = 0usize;
        for (id, len) in ids.iter().zip(lens) {
            let (Some(id), Some(len)) = (id.as_u64(), len.as_u64()) else {
                continue;
            };
            let len = len as usize;
            let bytes = payload.get(at..at + len).ok_or_else(|| {
                Failure::new("protocol", "the bridge sent fewer bytes than it announced")
            });
            at += len;
            self.fetched(id, bytes);
        }
        for (id, failure) in header["errors"].as_object().into_iter().flatten() {
            if let Ok(id) = id.parse() {
                self.fetched(id, Err(Failure::from_header(failure)));
            }
        }
    }

    fn fetched(&self, id: u64, bytes: Result<&[u8], Failure>) {
        let fetcher = self
            .entries
            .get_mut(&id)
            .and_then(|mut entry| entry.fetcher.take());
        if let Some(fetcher) = fetcher {
            run_fetcher(fetcher, bytes);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.kill_bridge();
    }
}

/// Runs a fetcher, which runs the user's `Deserialize` (and may drop a value
/// whose `Drop` panics): a panic there must not take the reader thread, and
/// every other task's outcome, with it.
fn run_fetcher(fetcher: Fetcher, bytes: Result<&[u8], Failure>) {
    let run = std::panic::AssertUnwindSafe(move || fetcher(bytes));
    if std::panic::catch_unwind(run).is_err() {
        tracing::warn!("taskref: decoding a value fetched from the Ray cluster panicked; the panic was contained");
    }
}

/// The writer thread: batches whatever is queued into one write.
fn write_loop(queued: mpsc::Receiver<Outgoing>, stdin: ChildStdin) {
    let mut stdin = BufWriter::with_capacity(1 << 16, stdin);
    while let Ok(first) = queued.recv() {
        let mut fetch = Vec::new();
        let mut release = Vec::new();
        let mut shutdown = false;
        for message in std::iter::once(first).chain(queued.try_iter()) {
            match message {
                Outgoing::Frame(bytes) => {
                    if stdin.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Outgoing::Fetch(id) => fetch.push(id),
                Outgoing::Release(id) => release.push(id),
                Outgoing::Shutdown => shutdown = true,
            }
        }
        let mut tail = Vec::new();
        if !fetch.is_empty() {
            frame::encode_into(&mut tail, &json!({"op": "fetch", "ids": fetch}), &[]);
        }
        if !release.is_empty() {
            frame::encode_into(&mut tail, &json!({"op": "release", "ids": release}), &[]);
        }
        if shutdown {
            frame::encode_into(&mut tail, &json!({"op": "shutdown"}), &[]);
        }
        if stdin.write_all(&tail).is_err() || stdin.flush().is_err() || shutdown {
            return;
        }
    }
}
