//! Helpers shared by the behaviour tests.
#![allow(dead_code, unreachable_pub)] // shared helpers: each test crate uses a subset

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use taskref::Runtime;

/// How long any single blocking step may take before the test fails: generous
/// on a noisy 2-core machine, but far below CI's patience.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `f` on a helper thread and returns its result, failing the test if it
/// does not finish within [`DEADLINE`] (instead of hanging CI on a deadlock).
#[track_caller]
pub fn within_deadline<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(value) => {
            worker.join().expect("helper thread");
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {DEADLINE:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: surface its panic.
            match worker.join() {
                Err(payload) => std::panic::resume_unwind(payload),
                Ok(()) => unreachable!("sender dropped without sending"),
            }
        }
    }
}

/// Waits until `condition` holds, failing the test after [`DEADLINE`]. For
/// effects that trail an event by a moment (a task lets go of its value just
/// after its ref becomes ready).
#[track_caller]
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A small owned runtime.
pub fn runtime(num_cpus: usize) -> Runtime {
    Runtime::builder()
        .num_cpus(num_cpus)
        .worker_threads(2)
        .build()
        .expect("runtime")
}

/// A user's multi-thread tokio runtime (one worker, all drivers).
pub fn user_multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A user's current-thread tokio runtime (all drivers).
pub fn user_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Counts drops of the values it hands out.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn token(&self) -> Tracked {
        Tracked(Arc::clone(&self.0))
    }

    pub fn drops(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A value whose drop is counted by its [`DropCounter`].
#[derive(Debug)]
pub struct Tracked(Arc<AtomicUsize>);

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked(Arc::clone(&self.0))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Tracks how many tasks run at once, and the peak.
#[derive(Clone, Default)]
pub struct Concurrency {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Concurrency {
    pub fn enter(&self) -> ConcurrencyGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        ConcurrencyGuard(Arc::clone(&self.now))
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

pub struct ConcurrencyGuard(Arc<AtomicUsize>);

impl Drop for ConcurrencyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Collects what a `tracing` fmt subscriber writes.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `f` with this thread's `tracing` output at `level` and above captured.
pub fn capture_tracing<R>(level: tracing::Level, f: impl FnOnce() -> R) -> (R, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(level)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, captured.text())
}

/// Everything logged at `WARN` and above by any thread of this test binary,
/// from the first call on (for reports made on the runtime's own threads,
/// which a thread-local subscriber does not see). Tests of one binary share
/// it: look for what only your test logs (its call sites).
pub fn global_warnings() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::WARN)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("the first subscriber");
            captured
        })
        .clone()
}

/// A small owned runtime (2 workers, 2 CPUs) with the detector in `mode`.
pub fn detecting(mode: taskref::AntiPatterns) -> Runtime {
    Runtime::builder()
        .worker_threads(2)
        .num_cpus(2)
        .anti_patterns(mode)
        .build()
        .expect("runtime")
}

/// How many cases a property test runs: `TASKREF_PROPTEST_CASES`, 24 by
/// default (CI's budget).
pub fn proptest_cases() -> u32 {
    std::env::var("TASKREF_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}
