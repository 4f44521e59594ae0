//! A real HTTP service (axum on tokio) whose handler fans each request out into
//! taskref tasks (async latency-bound lookups and blocking CPU-bound scoring),
//! gathers them, and answers JSON. taskref is attached to the service's own
//! tokio runtime with `Runtime::from_handle`.
//!
//! Each request's work is one task tree: a root task submits the lookups and
//! scores, so
//! - `?deadline_ms=N` gives the root a timeout, which bounds the whole tree:
//!   at the deadline every lookup and score not done yet is stopped, and the
//!   answer says so;
//! - a client that disconnects mid-request drops the handler, whose guard
//!   cancels the root, and with it (recursively) every task of the request.
//!
//! ```sh
//! cargo run --release --example http_service
//! curl 'http://127.0.0.1:3000/analyze?items=8'
//! curl 'http://127.0.0.1:3000/analyze?items=200&work=50000000&deadline_ms=300'
//! ```

use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use taskref::Runtime;

/// How a request is served: remote functions built once, shared by handlers.
#[derive(Clone, Debug)]
pub struct Service {
    rt: Runtime,
}

/// `?items=N&work=M&deadline_ms=D`: N items, each scored with M rounds of
/// CPU work, all of it within D ms (no deadline if absent).
#[derive(Debug, serde::Deserialize)]
pub struct Params {
    items: Option<u64>,
    work: Option<u64>,
    deadline_ms: Option<u64>,
}

/// Cancels a request's task tree if the handler is dropped before it
/// answered: the client went away, nobody will read the result.
struct CancelOnDrop(Option<taskref::ObjectRef<Result<Vec<u64>, taskref::Error>>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(root) = self.0.take() {
            root.cancel(); // recursive: every lookup and score of the request
        }
    }
}

/// A latency-bound lookup (think: a database or another service).
pub async fn lookup(item: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(5 + item % 10)).await;
    item * 7
}

/// A CPU-bound score of a looked-up value: runs on the blocking pool.
pub fn score(value: u64, work: u64) -> u64 {
    let mut x = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    for i in 0..work {
        x = std::hint::black_box(x.rotate_left(7) ^ i).wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x % 1_000
}

async fn analyze(State(service): State<Service>, Query(params): Query<Params>) -> Json<Value> {
    let started = Instant::now();
    let items = params.items.unwrap_or(8).min(1_000);
    let work = params.work.unwrap_or(100_000).min(100_000_000);
    let rt = service.rt.clone();
    // The request's root task: the lookups and scores it submits are its
    // children, so its deadline and its cancel reach all of them.
    let mut request = service
        .rt
        .remote(move |items: u64| {
            let rt = rt.clone();
            async move {
                let lookup = rt.remote(lookup).name("lookup");
                let score = rt.remote_blocking(score).name("score");
                // Fan out: every lookup at once, and each score takes its
                // lookup's ref, so scoring starts as soon as that lookup is
                // done (no get in between).
                let scores: Vec<_> = (0..items)
                    .map(|item| score.remote((lookup.remote(item), work)))
                    .collect();
                taskref::get_all(scores).await
            }
        })
        .name("request");
    if let Some(ms) = params.deadline_ms {
        request = request.timeout(Duration::from_millis(ms));
    }
    let root = request.remote(items);
    let mut guard = CancelOnDrop(Some(root.clone()));
    let outcome = root.await;
    guard.0 = None; // answered: nothing to cancel
    match outcome {
        Ok(Ok(scores)) => Json(json!({
            "items": items,
            "scores": scores,
            "total": scores.iter().sum::<u64>(),
            "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
        })),
        Ok(Err(err)) | Err(err) => Json(json!({
            "error": err.to_string(),
            "timed_out": err.is_task_timeout() || err.root_cause().is_task_timeout(),
            "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
        })),
    }
}

async fn health(State(service): State<Service>) -> Json<Value> {
    let stats = service.rt.stats();
    Json(json!({
        "ok": true,
        "submitted": stats.submitted,
        "running": stats.running,
        "finished": stats.finished,
        "failed": stats.failed,
        "cancelled": stats.cancelled,
    }))
}

/// The service's routes, on a taskref runtime attached to the current tokio runtime.
pub fn app(rt: Runtime) -> Router {
    Router::new()
        .route("/analyze", get(analyze))
        .route("/health", get(health))
        .with_state(Service { rt })
}

/// Serves on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    // Blocking scores are bounded by `num_cpus`; lookups (0 CPUs) are not.
    let rt = Runtime::builder()
        .num_cpus(2)
        .attach(tokio::runtime::Handle::current())?;
    axum::serve(listener, app(rt)).await
}

#[allow(dead_code)] // the tests use `serve`, not `main`
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("try: curl 'http://127.0.0.1:3000/analyze?items=8'");
    serve(listener).await
}
