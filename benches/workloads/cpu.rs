//! W3: CPU-bound blocking tasks, and a timer probe that must stay responsive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;

use crate::latency::verdict;
use crate::report::Report;
use crate::systems::{calibrate_spin, paired, spin_work, timed, Config, Face, Systems};

const TASKS: u64 = 16;

/// Sleeps 1 ms at a time until `done`, returning the worst lateness seen.
async fn probe(done: Arc<AtomicBool>) -> Duration {
    let mut worst = Duration::ZERO;
    while !done.load(Ordering::Relaxed) {
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(1)).await;
        worst = worst.max(start.elapsed().saturating_sub(Duration::from_millis(1)));
    }
    worst
}

pub(crate) fn w3_cpu(systems: &Systems, config: &Config, report: &mut Report) {
    let iterations = calibrate_spin(Duration::from_millis(25));
    let work = systems
        .taskref
        .remote_blocking(move |_: u64| spin_work(iterations));
    let runs = config.size(config.runs, 2);
    let handle = systems.tokio.handle();
    for face in Face::BOTH {
        let taskref_loop = || {
            timed(|| match face {
                Face::Async => systems.taskref.handle().block_on(async {
                    for i in 0..TASKS {
                        work.remote(i).await.unwrap();
                    }
                }),
                Face::Blocking => {
                    for i in 0..TASKS {
                        work.remote(i).block_get().unwrap();
                    }
                }
            })
        };
        let tokio_loop = || {
            timed(|| match face {
                Face::Async => systems.tokio.block_on(async {
                    for _ in 0..TASKS {
                        tokio::task::spawn_blocking(move || spin_work(iterations))
                            .await
                            .unwrap();
                    }
                }),
                Face::Blocking => {
                    for _ in 0..TASKS {
                        handle
                            .block_on(handle.spawn_blocking(move || spin_work(iterations)))
                            .unwrap();
                    }
                }
            })
        };
        report.times(
            "W3",
            "loop",
            face,
            paired(runs, false, taskref_loop, tokio_loop),
            "",
        );

        let taskref_fix = || {
            timed(|| match face {
                Face::Async => systems.taskref.handle().block_on(async {
                    taskref::get_all((0..TASKS).map(|i| work.remote(i)))
                        .await
                        .unwrap();
                }),
                Face::Blocking => {
                    taskref::block_get_all((0..TASKS).map(|i| work.remote(i))).unwrap();
                }
            })
        };
        let tokio_fix = || {
            timed(|| {
                let handles: Vec<_> = (0..TASKS)
                    .map(|_| handle.spawn_blocking(move || spin_work(iterations)))
                    .collect();
                match face {
                    Face::Async => {
                        systems.tokio.block_on(join_all(handles));
                    }
                    Face::Blocking => {
                        handle.block_on(join_all(handles));
                    }
                }
            })
        };
        let (fixed, _) = report.times(
            "W3",
            "fix",
            face,
            paired(runs, true, taskref_fix, tokio_fix),
            "",
        );
        report.note(format!(
            "CPU limit 200 ms; within 10%: {}",
            verdict(fixed.median_ms <= 220.0)
        ));
    }

    // The probe: a 1 ms sleeper on the async workers while the 16 tasks run.
    let taskref_probe = || {
        let done = Arc::new(AtomicBool::new(false));
        let probing = systems.taskref.spawn(probe(Arc::clone(&done)));
        taskref::block_get_all((0..TASKS).map(|i| work.remote(i))).unwrap();
        done.store(true, Ordering::Relaxed);
        probing.block_get().unwrap()
    };
    let tokio_probe = || {
        let done = Arc::new(AtomicBool::new(false));
        let probing = handle.spawn(probe(Arc::clone(&done)));
        let handles: Vec<_> = (0..TASKS)
            .map(|_| handle.spawn_blocking(move || spin_work(iterations)))
            .collect();
        handle.block_on(join_all(handles));
        done.store(true, Ordering::Relaxed);
        handle.block_on(probing).unwrap()
    };
    let (probe_stats, _) = report.times(
        "W3",
        "probe lateness",
        Face::Blocking,
        paired(runs, false, taskref_probe, tokio_probe),
        "",
    );
    report.note(format!(
        "worst 1 ms sleep overshoot; responsive (< 50 ms): {}",
        verdict(probe_stats.max_ms < 50.0)
    ));
}
