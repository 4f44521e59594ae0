//! W1 (seed), W2 (latency-bound) and W6 (throughput): get in a loop against
//! submit-then-gather, on both faces. W6's million gathered tasks run in fresh
//! processes ([`crate::fresh`]); W1 gathered is judged over 201 repetitions.

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use taskref::Runtime;

use crate::fresh::{self, Probe, System};
use crate::report::{Figures, Ratios, Report, Row, Stats};
use crate::systems::{paired, taskref_runtime, timed, tokio_runtime, Config, Face, Systems};

/// Times `n` tasks of `body` awaited one by one right after each submit.
fn get_in_a_loop<'a, B, Fut>(
    systems: &'a Systems,
    face: Face,
    n: u64,
    body: &B,
) -> (impl FnMut() -> Duration + 'a, impl FnMut() -> Duration + 'a)
where
    B: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    let f = systems.taskref.remote(body.clone());
    let taskref = move || {
        timed(|| match face {
            Face::Async => systems.taskref.handle().block_on(async {
                for i in 0..n {
                    f.remote(i).await.unwrap();
                }
            }),
            Face::Blocking => {
                for i in 0..n {
                    f.remote(i).block_get().unwrap();
                }
            }
        })
    };
    let body = body.clone();
    let tokio = move || {
        let handle = systems.tokio.handle();
        timed(|| match face {
            Face::Async => systems.tokio.block_on(async {
                for i in 0..n {
                    tokio::spawn(body(i)).await.unwrap();
                }
            }),
            Face::Blocking => {
                for i in 0..n {
                    handle.block_on(handle.spawn(body(i))).unwrap();
                }
            }
        })
    };
    (taskref, tokio)
}

/// Times `n` tasks of `body` submitted first and gathered once, on taskref.
fn gathered_taskref<'a, B, Fut>(
    rt: &'a Runtime,
    face: Face,
    n: u64,
    body: &B,
) -> impl FnMut() -> Duration + 'a
where
    B: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    let f = rt.remote(body.clone());
    move || {
        timed(|| match face {
            Face::Async => rt.handle().block_on(async {
                let refs: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
                taskref::get_all(refs).await.unwrap();
            }),
            Face::Blocking => {
                let refs: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
                taskref::block_get_all(refs).unwrap();
            }
        })
    }
}

/// The same on plain tokio: JoinHandles gathered with `join_all`.
fn gathered_tokio<'a, B, Fut>(
    rt: &'a tokio::runtime::Runtime,
    face: Face,
    n: u64,
    body: &B,
) -> impl FnMut() -> Duration + 'a
where
    B: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    let body = body.clone();
    move || {
        let handle = rt.handle();
        timed(|| match face {
            Face::Async => rt.block_on(async {
                let handles: Vec<_> = (0..n).map(|i| tokio::spawn(body(i))).collect();
                join_all(handles).await;
            }),
            Face::Blocking => {
                let handles: Vec<_> = (0..n).map(|i| handle.spawn(body(i))).collect();
                handle.block_on(join_all(handles));
            }
        })
    }
}

/// Times `n` tasks of `body` submitted first and gathered once, on both.
fn gathered<'a, B, Fut>(
    systems: &'a Systems,
    face: Face,
    n: u64,
    body: &B,
) -> (impl FnMut() -> Duration + 'a, impl FnMut() -> Duration + 'a)
where
    B: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    (
        gathered_taskref(&systems.taskref, face, n, body),
        gathered_tokio(&systems.tokio, face, n, body),
    )
}

async fn trivial(i: u64) -> u64 {
    i
}

async fn sleep_10ms(i: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(10)).await;
    i
}

/// W1 gathered's target: within 1.3x of tokio, as the median of at least 200
/// repetitions in one run.
const W1_TARGET: f64 = 1.3;
/// Repetitions of W1 gathered; cheap (0.1 ms each), so quick mode keeps them.
const W1_GATHERED_RUNS: usize = 201;

pub(crate) fn w1_seed(systems: &Systems, config: &Config, report: &mut Report) {
    let n = 100;
    // Cheap, and dominated by thread wake-up latency: many runs for a steady median.
    let runs = config.size(101, 31);
    for face in Face::BOTH {
        let (t, k) = get_in_a_loop(systems, face, n, &trivial);
        let (looped, tokio_looped) = report.times("W1", "loop", face, paired(runs, true, t, k), "");
        report.note(format!(
            "{:.1} us/get (tokio {:.1})",
            looped.median_ms * 1e3 / n as f64,
            tokio_looped.median_ms * 1e3 / n as f64
        ));
        let (t, k) = gathered(systems, face, n, &trivial);
        // Judged by the median of the per-repetition ratios: each repetition
        // runs taskref then tokio back to back, so a slow moment of the shared
        // machine lands on both sides of one ratio.
        let samples = paired(W1_GATHERED_RUNS, true, t, k);
        let ratios = Ratios::of_durations(&samples);
        let (fixed, tokio_fixed) = report.times("W1", "fix", face, samples, "");
        report.judge_median(
            ratios,
            W1_TARGET,
            &format!(
                " (ratio of medians {:.2}); loop/fix {:.1}x",
                fixed.median_ms / tokio_fixed.median_ms,
                looped.median_ms / fixed.median_ms
            ),
        );
    }
}

pub(crate) fn w2_sleep(systems: &Systems, config: &Config, report: &mut Report) {
    let n = 100;
    let loop_runs = config.size(3, 1);
    for face in Face::BOTH {
        let (t, k) = get_in_a_loop(systems, face, n, &sleep_10ms);
        report.times("W2", "loop", face, paired(loop_runs, false, t, k), "");
        let (t, k) = gathered(systems, face, n, &sleep_10ms);
        let (fixed, _) = report.times("W2", "fix", face, paired(config.runs, true, t, k), "");
        report.note(format!(
            "target <= 11.5 ms: {}",
            verdict(fixed.median_ms <= 11.5)
        ));
    }
}

/// W6 gathered's target: within 1.3x of tokio (fresh pairs).
const W6_TARGET: f64 = 1.3;

/// The fresh-process probes of W6: 1,000,000 trivial tasks gathered, per face.
pub(crate) const PROBES: &[Probe] = &[
    Probe {
        name: "W6/gather/async",
        run: |system, n| w6_gather(system, Face::Async, n),
    },
    Probe {
        name: "W6/gather/blocking",
        run: |system, n| w6_gather(system, Face::Blocking, n),
    },
];

/// In a child: a warm-up batch (worker threads up, the runtime's structures
/// allocated), then `n` trivial tasks submitted and gathered once; returns ns.
fn w6_gather(system: System, face: Face, n: usize) -> f64 {
    let (n, warm_up) = (n as u64, 10_000.min(n as u64));
    let elapsed = match system {
        System::Taskref => {
            let rt = taskref_runtime();
            gathered_taskref(&rt, face, warm_up, &trivial)();
            let elapsed = gathered_taskref(&rt, face, n, &trivial)();
            elapsed
        }
        System::Tokio => {
            let rt = tokio_runtime();
            gathered_tokio(&rt, face, warm_up, &trivial)();
            let elapsed = gathered_tokio(&rt, face, n, &trivial)();
            elapsed
        }
    };
    elapsed.as_nanos() as f64
}

pub(crate) fn w6_throughput(systems: &Systems, config: &Config, report: &mut Report) {
    let n_loop = config.size(100_000, 10_000) as u64;
    let n_fix = config.size(1_000_000, 100_000);
    let runs = config.size(3, 2);
    let per_second = |n: u64, ms: f64| n as f64 / (ms / 1e3);
    for face in Face::BOTH {
        let (t, k) = get_in_a_loop(systems, face, n_loop, &trivial);
        let (a, b) = report.times(
            "W6",
            format!("loop {n_loop}"),
            face,
            paired(runs, false, t, k),
            "",
        );
        report.note(format!(
            "{:.0} vs {:.0} tasks/s; {:.2} us/get",
            per_second(n_loop, a.median_ms),
            per_second(n_loop, b.median_ms),
            a.median_ms * 1e3 / n_loop as f64
        ));

        // Gathered: a million tasks, so one fresh process per run.
        let probe = fresh::find(PROBES, &format!("W6/gather/{}", face.name()));
        let pairs = fresh::alternate(probe, n_fix, config.pairs);
        let (a, b) = (Stats::of_ns(&pairs.taskref), Stats::of_ns(&pairs.tokio));
        let row = Row::new(
            "W6",
            format!("fix {n_fix}"),
            face,
            Figures::Times {
                taskref: a,
                tokio: b,
            },
        );
        report.fresh(row, pairs.ratios(), W6_TARGET);
        let n_fix = n_fix as u64;
        report.note(format!(
            "{:.0} vs {:.0} tasks/s (>= 1e6: {})",
            per_second(n_fix, a.median_ms),
            per_second(n_fix, b.median_ms),
            verdict(per_second(n_fix, a.median_ms) >= 1e6)
        ));
    }
}

pub(crate) fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}
