//! W4 (results in submission vs completion order) and W7 (completion-order
//! scaling of one-at-a-time drains).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinSet;

use crate::latency::verdict;
use crate::report::Report;
use crate::systems::{paired, timed, Config, Face, Systems};

const W4_TASKS: u64 = 30;

fn w4_delay(i: u64) -> Duration {
    Duration::from_millis(((i * 7) % 10 + 1) * 10)
}

async fn w4_task(i: u64) -> u64 {
    tokio::time::sleep(w4_delay(i)).await;
    i
}

/// The caller's 10 ms of work per result.
async fn process(face: Face) {
    match face {
        Face::Async => tokio::time::sleep(Duration::from_millis(10)).await,
        Face::Blocking => std::thread::sleep(Duration::from_millis(10)),
    }
}

pub(crate) fn w4_order(systems: &Systems, config: &Config, report: &mut Report) {
    let f = systems.taskref.remote(w4_task);
    let handle = systems.tokio.handle();
    let runs = config.size(config.runs, 2);
    for face in Face::BOTH {
        let taskref_submission = || {
            timed(|| {
                let refs: Vec<_> = (0..W4_TASKS).map(|i| f.remote(i)).collect();
                match face {
                    Face::Async => systems.taskref.handle().block_on(async {
                        for r in refs {
                            r.await.unwrap();
                            process(face).await;
                        }
                    }),
                    Face::Blocking => {
                        for r in refs {
                            r.block_get().unwrap();
                            futures::executor::block_on(process(face));
                        }
                    }
                }
            })
        };
        let tokio_submission = || {
            timed(|| match face {
                Face::Async => systems.tokio.block_on(async {
                    let handles: Vec<_> = (0..W4_TASKS).map(|i| tokio::spawn(w4_task(i))).collect();
                    for h in handles {
                        h.await.unwrap();
                        process(face).await;
                    }
                }),
                Face::Blocking => {
                    let handles: Vec<_> = (0..W4_TASKS).map(|i| handle.spawn(w4_task(i))).collect();
                    for h in handles {
                        handle.block_on(h).unwrap();
                        futures::executor::block_on(process(face));
                    }
                }
            })
        };
        report.times(
            "W4",
            "submission order",
            face,
            paired(runs, false, taskref_submission, tokio_submission),
            "",
        );

        let taskref_completion = || {
            timed(|| {
                let refs: Vec<_> = (0..W4_TASKS).map(|i| f.remote(i)).collect();
                match face {
                    Face::Async => systems.taskref.handle().block_on(async {
                        let mut done = taskref::as_completed(refs);
                        while let Some((_, v)) = done.next().await {
                            v.unwrap();
                            process(face).await;
                        }
                    }),
                    Face::Blocking => {
                        for (_, v) in taskref::block_as_completed(refs).unwrap() {
                            v.unwrap();
                            futures::executor::block_on(process(face));
                        }
                    }
                }
            })
        };
        let tokio_completion = || {
            timed(|| match face {
                Face::Async => systems.tokio.block_on(async {
                    let mut done: FuturesUnordered<_> =
                        (0..W4_TASKS).map(|i| tokio::spawn(w4_task(i))).collect();
                    while let Some(v) = done.next().await {
                        v.unwrap();
                        process(face).await;
                    }
                }),
                Face::Blocking => {
                    let mut done: FuturesUnordered<_> =
                        (0..W4_TASKS).map(|i| handle.spawn(w4_task(i))).collect();
                    while let Some(v) = handle.block_on(done.next()) {
                        v.unwrap();
                        futures::executor::block_on(process(face));
                    }
                }
            })
        };
        let (a, b) = report.times(
            "W4",
            "completion order",
            face,
            paired(runs, false, taskref_completion, tokio_completion),
            "",
        );
        report.note(format!(
            "vs FuturesUnordered <= 1.05: {}",
            verdict(a.median_ms <= 1.05 * b.median_ms)
        ));
    }
}

/// `n` finished taskref refs.
fn ready_refs(systems: &Systems, n: usize) -> Vec<taskref::ObjectRef<u64>> {
    let refs: Vec<_> = (0..n as u64)
        .map(|i| systems.taskref.spawn(async move { i }))
        .collect();
    taskref::block_get_all(refs.iter().cloned()).unwrap();
    refs
}

/// `n` finished tokio tasks in a JoinSet.
fn ready_joinset(systems: &Systems, n: usize) -> JoinSet<u64> {
    let done = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    let _guard = systems.tokio.enter();
    for i in 0..n as u64 {
        let done = Arc::clone(&done);
        set.spawn(async move {
            done.fetch_add(1, Ordering::Relaxed);
            i
        });
    }
    while done.load(Ordering::Relaxed) < n {
        std::thread::yield_now();
    }
    set
}

fn ready_tokio_handles(systems: &Systems, n: usize) -> Vec<tokio::task::JoinHandle<u64>> {
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            let done = Arc::clone(&done);
            systems.tokio.spawn(async move {
                done.fetch_add(1, Ordering::Relaxed);
                i
            })
        })
        .collect();
    while done.load(Ordering::Relaxed) < n {
        std::thread::yield_now();
    }
    handles
}

fn drain_joinset(systems: &Systems, n: usize) -> Duration {
    let mut set = ready_joinset(systems, n);
    timed(|| {
        systems.tokio.block_on(async {
            let mut count = 0;
            while let Some(v) = set.join_next().await {
                v.unwrap();
                count += 1;
            }
            assert_eq!(count, n);
        })
    })
}

pub(crate) fn w7_scaling(systems: &Systems, config: &Config, report: &mut Report) {
    let sizes: &[usize] = if config.quick {
        &[1_000, 16_000, 128_000]
    } else {
        &[1_000, 16_000, 256_000, 1_000_000]
    };
    let runs = config.size(3, 2);
    let mut per_item = Vec::new();
    for &n in sizes {
        let taskref_as_completed = || {
            let refs = ready_refs(systems, n);
            timed(|| {
                systems.taskref.handle().block_on(async {
                    let mut done = taskref::as_completed(refs);
                    let mut count = 0;
                    while let Some((_, v)) = done.next().await {
                        v.unwrap();
                        count += 1;
                    }
                    assert_eq!(count, n);
                })
            })
        };
        let (a, _) = report.times(
            "W7",
            format!("as_completed {n}"),
            Face::Async,
            paired(runs, false, taskref_as_completed, || {
                drain_joinset(systems, n)
            }),
            "",
        );
        report.note(format!(
            "{:.0} ns/item (tokio: JoinSet drain)",
            a.median_ms * 1e6 / n as f64
        ));

        let taskref_wait_set = || {
            let refs = ready_refs(systems, n);
            timed(|| {
                systems.taskref.handle().block_on(async {
                    let mut pending = taskref::WaitSet::new(refs);
                    while !pending.is_empty() {
                        for r in pending.wait(1, None).await.unwrap() {
                            r.await.unwrap();
                        }
                    }
                })
            })
        };
        let (b, _) = report.times(
            "W7",
            format!("WaitSet wait(1) {n}"),
            Face::Async,
            paired(runs, false, taskref_wait_set, || drain_joinset(systems, n)),
            "",
        );
        report.note(format!("{:.0} ns/item", b.median_ms * 1e6 / n as f64));
        per_item.push((n, a.median_ms / n as f64, b.median_ms / n as f64));
    }
    let (first, last) = (per_item[0], per_item[per_item.len() - 1]);
    println!(
        "          W7 linear (per item at {} within 2x of {}): as_completed {} ({:.2}x), WaitSet {} ({:.2}x)",
        last.0,
        first.0,
        verdict(last.1 <= 2.0 * first.1),
        last.1 / first.1,
        verdict(last.2 <= 2.0 * first.2),
        last.2 / first.2
    );

    // Ray's shape, `ready, rest = wait(rest, 1)`: each call returns a new list
    // of the rest, so the loop is quadratic in any system. Shown for scale
    // (Ray: 16.6 s at 16,000 refs), against `select_all`, tokio's equivalent.
    for &n in &[1_000usize, config.size(16_000, 4_000)] {
        let taskref_ray_loop = || {
            let refs = ready_refs(systems, n);
            timed(|| {
                systems.taskref.handle().block_on(async {
                    let mut rest = refs;
                    while !rest.is_empty() {
                        let (ready, not_ready) = taskref::wait(&rest, 1, None).await.unwrap();
                        ready[0].get().await.unwrap();
                        rest = not_ready;
                    }
                })
            })
        };
        let tokio_select_all = || {
            let handles = ready_tokio_handles(systems, n);
            timed(|| {
                systems.tokio.block_on(async {
                    let mut rest = handles;
                    while !rest.is_empty() {
                        let (v, _, not_ready) = select_all(rest).await;
                        v.unwrap();
                        rest = not_ready;
                    }
                })
            })
        };
        let (a, _) = report.times(
            "W7",
            format!("ray-style wait {n}"),
            Face::Async,
            paired(1, false, taskref_ray_loop, tokio_select_all),
            "",
        );
        report.note(format!(
            "quadratic by shape; tokio: select_all loop; Ray 16.6 s at 16k; {:.0} ns/item",
            a.median_ms * 1e6 / n as f64
        ));
    }
}
