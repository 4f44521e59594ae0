//! The two systems under test, built the same way, and the measuring helpers.

use std::time::{Duration, Instant};

use taskref::Runtime;

/// Sizes and repetitions.
pub(crate) struct Config {
    pub(crate) quick: bool,
    /// Timed runs per measurement (after one untimed warm-up where noted).
    pub(crate) runs: usize,
    /// Fresh-process pairs per large workload (WORKLOADS.md asks for at least
    /// five); `TASKREF_BENCH_PAIRS` overrides.
    pub(crate) pairs: usize,
}

impl Config {
    pub(crate) fn from_env() -> Config {
        let quick = std::env::var_os("TASKREF_BENCH_QUICK").is_some_and(|v| v != "0");
        let pairs = std::env::var("TASKREF_BENCH_PAIRS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&p| p > 0)
            .unwrap_or(if quick { 2 } else { 5 });
        Config {
            quick,
            runs: if quick { 3 } else { 5 },
            pairs,
        }
    }

    /// `full` normally, `quick` in quick mode.
    pub(crate) fn size(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// A taskref runtime and a plain tokio runtime, both multi-thread with two
/// workers (this machine's cores), both with every driver enabled.
pub(crate) struct Systems {
    pub(crate) taskref: Runtime,
    pub(crate) tokio: tokio::runtime::Runtime,
}

impl Systems {
    pub(crate) fn new() -> Systems {
        Systems {
            taskref: taskref_runtime(),
            tokio: tokio_runtime(),
        }
    }
}

/// The taskref side of [`Systems`], alone (a fresh child process builds only
/// the system it measures).
pub(crate) fn taskref_runtime() -> Runtime {
    Runtime::builder()
        .worker_threads(2)
        .num_cpus(2)
        .build()
        .expect("taskref runtime")
}

/// The plain tokio side of [`Systems`], alone.
pub(crate) fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Which side of the API the caller uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Face {
    /// The caller is async code (a `block_on` future) that awaits.
    Async,
    /// The caller is a plain thread that blocks.
    Blocking,
}

impl Face {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Face::Async => "async",
            Face::Blocking => "blocking",
        }
    }

    pub(crate) const BOTH: [Face; 2] = [Face::Async, Face::Blocking];
}

/// Runs the taskref and tokio versions alternately: an untimed warm-up of each
/// when `warm_up`, then `runs` timed rounds.
pub(crate) fn paired(
    runs: usize,
    warm_up: bool,
    mut taskref: impl FnMut() -> Duration,
    mut tokio: impl FnMut() -> Duration,
) -> (Vec<Duration>, Vec<Duration>) {
    if warm_up {
        taskref();
        tokio();
    }
    let (mut a, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        a.push(taskref());
        b.push(tokio());
    }
    (a, b)
}

/// Times a closure.
pub(crate) fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Burns CPU for about `duration` (calibrated once): W3's "fixed CPU loop".
pub(crate) fn spin_work(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    for i in 0..iterations {
        x = std::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}

/// Iterations of [`spin_work`] that take `target` on one core of this machine.
pub(crate) fn calibrate_spin(target: Duration) -> u64 {
    let probe = 2_000_000;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        best = best.min(timed(|| {
            std::hint::black_box(spin_work(probe));
        }));
    }
    (probe as f64 * target.as_secs_f64() / best.as_secs_f64()) as u64
}
