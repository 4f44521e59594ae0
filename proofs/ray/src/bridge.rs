//! The driver's side: starts the Python bridge (bridge.py, shipped in this
//! binary) with Ray's Python, and talks to it in frames over its stdin/stdout.
//! Each ref is an id the driver picks; the bridge maps it to a Ray ObjectRef.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::frame;
use crate::wire::Wire;

const BRIDGE: &str = include_str!("../bridge.py");

/// Why a call, a get or the connection failed.
#[derive(Debug, Clone)]
pub struct RayError {
    /// `unknown_function`, `panic`, `worker_died`, `task_error`, `decode`,
    /// `connect`, `bridge_exited`, or a Ray exception's class name.
    pub kind: String,
    pub message: String,
}

impl fmt::Display for RayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.kind, self.message)
    }
}

fn error(kind: &str, message: impl Into<String>) -> RayError {
    RayError { kind: kind.into(), message: message.into() }
}

enum Reply {
    Value(Vec<u8>),
    /// Values of a `get_many`, concatenated; their lengths in the header.
    Values(Value, Vec<u8>),
    Header(Value),
    Failed(RayError),
}

struct Inner {
    to_bridge: mpsc::UnboundedSender<Vec<u8>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Set once the bridge is gone: why. Later requests fail with it at once.
    gone: Mutex<Option<RayError>>,
    next: AtomicU64,
}

impl Inner {
    fn send(&self, header: Value, payload: &[u8]) {
        let _ = self.to_bridge.send(frame::encode(&header, payload));
    }

    /// Sends `header` with a fresh `req` and waits for the bridge's reply.
    async fn request(&self, mut header: Value) -> Result<Reply, RayError> {
        let req = self.next.fetch_add(1, Ordering::Relaxed);
        header["req"] = json!(req);
        let (tx, rx) = oneshot::channel();
        {
            let gone = self.gone.lock().unwrap();
            if let Some(e) = gone.clone() {
                return Err(e);
            }
            self.pending.lock().unwrap().insert(req, tx);
        }
        self.send(header, &[]);
        match rx.await {
            Ok(Reply::Failed(e)) => Err(e),
            Ok(reply) => Ok(reply),
            Err(_) => Err(self.gone.lock().unwrap().clone().unwrap_or_else(|| error("bridge_exited", "the bridge went away"))),
        }
    }

    /// The bridge is gone: every pending request fails with `why`.
    fn fail_all(&self, why: RayError) {
        let mut gone = self.gone.lock().unwrap();
        gone.get_or_insert(why.clone());
        for (_, tx) in self.pending.lock().unwrap().drain() {
            let _ = tx.send(Reply::Failed(why.clone()));
        }
    }
}

/// A task's result, held on the cluster until `get`.
pub struct RayRef<T> {
    id: u64,
    inner: Arc<Inner>,
    _value: PhantomData<fn() -> T>,
}

impl<T: Wire> RayRef<T> {
    /// Waits for the value and brings it to the driver.
    pub async fn get(&self) -> Result<T, RayError> {
        match self.inner.request(json!({"op": "get", "id": self.id})).await? {
            Reply::Value(bytes) => T::decode(&bytes).map_err(|e| error("decode", e)),
            _ => Err(error("protocol", "unexpected reply to get")),
        }
    }

    /// Asks Ray to cancel the task (`force` kills its worker).
    pub fn cancel(&self, force: bool) {
        self.inner.send(json!({"op": "cancel", "id": self.id, "force": force}), &[]);
    }
}

impl<T> Drop for RayRef<T> {
    fn drop(&mut self) {
        self.inner.send(json!({"op": "release", "id": self.id}), &[]);
    }
}

/// One argument of a call: a value (sent with the call) or a ref (resolved by
/// Ray on the worker: its value never comes to the driver).
pub enum Arg {
    Value(Vec<u8>),
    Ref(u64),
}

pub fn val<T: Wire>(v: &T) -> Arg {
    Arg::Value(v.encode())
}

pub fn by_ref<T>(r: &RayRef<T>) -> Arg {
    Arg::Ref(r.id)
}

/// Ray options of a call.
#[derive(Default, Clone)]
pub struct Options {
    pub num_cpus: Option<f64>,
    pub resources: HashMap<String, f64>,
    /// Run on this node (Ray's NodeAffinitySchedulingStrategy, not soft).
    pub node_id: Option<String>,
    pub max_retries: Option<u32>,
}

/// A node of the cluster, as Ray reported it at connection.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub resources: HashMap<String, f64>,
}

/// A connection to a Ray cluster through the bridge.
pub struct Cluster {
    inner: Arc<Inner>,
    child: Arc<tokio::sync::Mutex<Child>>,
    working_dir: PathBuf,
    pub bridge_pid: u32,
    /// The node the bridge (the driver's side) is attached to.
    pub driver_node: String,
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts the bridge with `python` and connects it to `address`, shipping
    /// this very binary to the workers. Fails within `timeout`.
    pub async fn connect(address: &str, python: &str, timeout: Duration) -> Result<Cluster, RayError> {
        // The job's working_dir: a folder holding only this binary (Ray zips
        // and uploads it through the GCS once per job; max 512 MiB).
        let exe = std::env::current_exe().map_err(|e| error("connect", e.to_string()))?;
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        let working_dir = std::env::temp_dir().join(format!("taskref-ray-{}", std::process::id()));
        std::fs::create_dir_all(&working_dir).map_err(|e| error("connect", e.to_string()))?;
        // Removed if connecting fails; `shutdown` removes it otherwise.
        let mut dir_guard = RemoveOnDrop(Some(working_dir.clone()));
        std::fs::copy(&exe, working_dir.join(&name)).map_err(|e| error("connect", e.to_string()))?;

        let mut child = Command::new(python)
            .arg("-c")
            .arg(BRIDGE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| error("connect", format!("cannot start the bridge with `{python}`: {e}")))?;
        let bridge_pid = child.id().unwrap_or(0);
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let child = Arc::new(tokio::sync::Mutex::new(child));

        let (to_bridge, mut frames) = mpsc::unbounded_channel::<Vec<u8>>();
        let inner = Arc::new(Inner {
            to_bridge,
            pending: Mutex::new(HashMap::new()),
            gone: Mutex::new(None),
            next: AtomicU64::new(1),
        });

        // Writer: batches whatever is queued, then flushes.
        tokio::spawn(async move {
            while let Some(first) = frames.recv().await {
                let mut batch = first;
                while let Ok(more) = frames.try_recv() {
                    batch.extend_from_slice(&more);
                }
                if stdin.write_all(&batch).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });

        // Reader: routes replies by `req`; the `ready`/`fatal` of the
        // handshake goes to `hello`. At the end of the stream, everything
        // pending fails: the bridge (and with it the Ray driver) is gone.
        let (hello_tx, hello_rx) = oneshot::channel::<Result<Value, RayError>>();
        let reader_inner = inner.clone();
        let reader_child = child.clone();
        tokio::spawn(async move {
            let mut hello = Some(hello_tx);
            loop {
                match frame::read_async(&mut stdout).await {
                    Ok(Some((h, payload))) => {
                        let op = h["op"].as_str().unwrap_or_default().to_owned();
                        if op == "ready" || op == "fatal" {
                            let r = match op.as_str() {
                                "ready" => Ok(h),
                                _ => Err(error("connect", h["message"].as_str().unwrap_or_default())),
                            };
                            if let Some(tx) = hello.take() {
                                let _ = tx.send(r);
                            }
                            continue;
                        }
                        let req = h["req"].as_u64().unwrap_or(0);
                        let reply = match op.as_str() {
                            "value" => Reply::Value(payload),
                            "values" => Reply::Values(h, payload),
                            "error" => Reply::Failed(error(
                                h["kind"].as_str().unwrap_or("error"),
                                h["message"].as_str().unwrap_or_default(),
                            )),
                            _ => Reply::Header(h),
                        };
                        if let Some(tx) = reader_inner.pending.lock().unwrap().remove(&req) {
                            let _ = tx.send(reply);
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            let status = tokio::time::timeout(Duration::from_secs(2), async {
                reader_child.lock().await.wait().await
            })
            .await;
            let status = match status {
                Ok(Ok(s)) => s.to_string(),
                _ => "still running".into(),
            };
            reader_inner.fail_all(error(
                "bridge_exited",
                format!("the Ray bridge exited ({status}): the cluster or its connection went away"),
            ));
        });

        inner.send(
            json!({"op": "init", "address": address, "working_dir": working_dir, "exe": name}),
            &[],
        );
        let hello = match tokio::time::timeout(timeout, hello_rx).await {
            Ok(Ok(Ok(h))) => h,
            Ok(Ok(Err(e))) => {
                let _ = child.lock().await.kill().await;
                return Err(error("connect", format!("ray.init(address={address:?}) failed: {}", e.message)));
            }
            Ok(Err(_)) => {
                return Err(error("connect", format!("the bridge ({python}) exited before connecting to {address}")));
            }
            Err(_) => {
                let _ = child.lock().await.kill().await;
                return Err(error(
                    "connect",
                    format!("no Ray cluster answered at {address} within {timeout:?} (bridge: {python} ray.init(address={address:?}))"),
                ));
            }
        };
        let nodes = hello["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| Node {
                id: n["id"].as_str().unwrap_or_default().into(),
                resources: serde_json::from_value(n["resources"].clone()).unwrap_or_default(),
            })
            .collect();
        dir_guard.0 = None;
        Ok(Cluster {
            inner,
            child,
            working_dir,
            bridge_pid,
            driver_node: hello["node_id"].as_str().unwrap_or_default().into(),
            nodes,
        })
    }

    /// Submits a call of the registered function `name`.
    pub fn submit<T>(&self, name: &str, args: Vec<Arg>, options: &Options) -> RayRef<T> {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut payload = Vec::new();
        let specs: Vec<Value> = args
            .into_iter()
            .map(|a| match a {
                Arg::Ref(r) => json!({"ref": r}),
                Arg::Value(bytes) => {
                    payload.extend_from_slice(&bytes);
                    json!({"len": bytes.len()})
                }
            })
            .collect();
        let mut opts = json!({});
        if let Some(c) = options.num_cpus {
            opts["num_cpus"] = json!(c);
        }
        if !options.resources.is_empty() {
            opts["resources"] = json!(options.resources);
        }
        if let Some(n) = &options.node_id {
            opts["node_id"] = json!(n);
        }
        if let Some(r) = options.max_retries {
            opts["max_retries"] = json!(r);
        }
        self.inner.send(
            json!({"op": "submit", "id": id, "fn": name, "args": specs, "options": opts}),
            &payload,
        );
        RayRef { id, inner: self.inner.clone(), _value: PhantomData }
    }

    /// Gathers the values of `refs` in one request (one `ray.get` of them all
    /// in the bridge); the first failure fails the gather.
    pub async fn get_all<T: Wire>(&self, refs: &[RayRef<T>]) -> Result<Vec<T>, RayError> {
        let ids: Vec<u64> = refs.iter().map(|r| r.id).collect();
        match self.inner.request(json!({"op": "get_many", "ids": ids})).await? {
            Reply::Values(h, payload) => {
                let mut at = 0;
                let mut out = Vec::with_capacity(refs.len());
                for len in h["lens"].as_array().into_iter().flatten() {
                    let len = len.as_u64().unwrap_or(0) as usize;
                    out.push(T::decode(&payload[at..at + len]).map_err(|e| error("decode", e))?);
                    at += len;
                }
                Ok(out)
            }
            _ => Err(error("protocol", "unexpected reply to get_many")),
        }
    }

    /// Payload bytes the bridge sent to the driver and received from it.
    pub async fn bytes(&self) -> Result<(u64, u64), RayError> {
        match self.inner.request(json!({"op": "stats"})).await? {
            Reply::Header(h) => Ok((h["to_driver"].as_u64().unwrap_or(0), h["from_driver"].as_u64().unwrap_or(0))),
            _ => Err(error("protocol", "unexpected reply to stats")),
        }
    }

    /// Python Ray's own cost for comparison: the bridge submits `n` calls of a
    /// plain `@ray.remote` function and gathers them; seconds.
    pub async fn bench_python(&self, n: usize) -> Result<f64, RayError> {
        match self.inner.request(json!({"op": "bench_python", "n": n})).await? {
            Reply::Header(h) => Ok(h["seconds"].as_f64().unwrap_or(f64::NAN)),
            _ => Err(error("protocol", "unexpected reply to bench_python")),
        }
    }

    /// Disconnects: the bridge calls ray.shutdown() and exits.
    pub async fn shutdown(self) {
        self.inner.send(json!({"op": "shutdown"}), &[]);
        let mut child = self.child.lock().await;
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.working_dir);
    }
}

struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
