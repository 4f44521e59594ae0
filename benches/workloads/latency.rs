//! W1 (seed), W2 (latency-bound) and W6 (throughput): get in a loop against
//! submit-then-gather, on both faces.

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;

use crate::report::Report;
use crate::systems::{paired, timed, Config, Face, Systems};

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

/// Times `n` tasks of `body` submitted first and gathered once.
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
    let f = systems.taskref.remote(body.clone());
    let taskref = move || {
        timed(|| match face {
            Face::Async => systems.taskref.handle().block_on(async {
                let refs: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
                taskref::get_all(refs).await.unwrap();
            }),
            Face::Blocking => {
                let refs: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
                taskref::block_get_all(refs).unwrap();
            }
        })
    };
    let body = body.clone();
    let tokio = move || {
        let handle = systems.tokio.handle();
        timed(|| match face {
            Face::Async => systems.tokio.block_on(async {
                let handles: Vec<_> = (0..n).map(|i| tokio::spawn(body(i))).collect();
                join_all(handles).await;
            }),
            Face::Blocking => {
                let handles: Vec<_> = (0..n).map(|i| handle.spawn(body(i))).collect();
                handle.block_on(join_all(handles));
            }
        })
    };
    (taskref, tokio)
}

async fn trivial(i: u64) -> u64 {
    i
}

async fn sleep_10ms(i: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(10)).await;
    i
}

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
        let (fixed, _) = report.times("W1", "fix", face, paired(runs, true, t, k), "");
        report.note(format!(
            "loop/fix {:.1}x",
            looped.median_ms / fixed.median_ms
        ));
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

pub(crate) fn w6_throughput(systems: &Systems, config: &Config, report: &mut Report) {
    let n_loop = config.size(100_000, 10_000) as u64;
    let n_fix = config.size(1_000_000, 100_000) as u64;
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
        let (t, k) = gathered(systems, face, n_fix, &trivial);
        let (a, b) = report.times(
            "W6",
            format!("fix {n_fix}"),
            face,
            paired(runs, false, t, k),
            "",
        );
        report.note(format!(
            "{:.0} vs {:.0} tasks/s (target >= 1e6: {})",
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
