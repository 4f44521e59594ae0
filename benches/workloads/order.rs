//! W4 (results in submission vs completion order), W7 (completion-order
//! scaling of one-at-a-time drains: the large sizes in fresh processes) and
//! W7r (Ray's `ready, rest = wait(rest, 1)` loop against `select_all`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinSet;

use taskref::{ObjectRef, Runtime};

use crate::fresh::{self, Probe, System};
use crate::latency::verdict;
use crate::report::{Figures, Ratios, Report, Row, Stats};
use crate::systems::{paired, taskref_runtime, timed, tokio_runtime, Config, Face, Systems};

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
fn ready_refs(rt: &Runtime, n: usize) -> Vec<ObjectRef<u64>> {
    let refs: Vec<_> = (0..n as u64).map(|i| rt.spawn(async move { i })).collect();
    taskref::block_get_all(refs.iter().cloned()).unwrap();
    refs
}

/// `n` finished tokio tasks in a JoinSet.
fn ready_joinset(rt: &tokio::runtime::Runtime, n: usize) -> JoinSet<u64> {
    let done = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    let _guard = rt.enter();
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

fn ready_tokio_handles(
    rt: &tokio::runtime::Runtime,
    n: usize,
) -> Vec<tokio::task::JoinHandle<u64>> {
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            let done = Arc::clone(&done);
            rt.spawn(async move {
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

/// Drains `n` ready tokio tasks with `JoinSet::join_next`: W7's floor.
fn drain_joinset(rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    let mut set = ready_joinset(rt, n);
    timed(|| {
        rt.block_on(async {
            let mut count = 0;
            while let Some(v) = set.join_next().await {
                v.unwrap();
                count += 1;
            }
            assert_eq!(count, n);
        })
    })
}

/// Drains `n` ready refs with `as_completed`.
fn drain_as_completed(rt: &Runtime, n: usize) -> Duration {
    let refs = ready_refs(rt, n);
    timed(|| {
        rt.handle().block_on(async {
            let mut done = taskref::as_completed(refs);
            let mut count = 0;
            while let Some((_, v)) = done.next().await {
                v.unwrap();
                count += 1;
            }
            assert_eq!(count, n);
        })
    })
}

/// Drains `n` ready refs with `WaitSet::wait(1)`, Ray's loop in linear form.
fn drain_wait_set(rt: &Runtime, n: usize) -> Duration {
    let refs = ready_refs(rt, n);
    timed(|| {
        rt.handle().block_on(async {
            let mut pending = taskref::WaitSet::new(refs);
            while !pending.is_empty() {
                for r in pending.wait(1, None).await.unwrap() {
                    r.await.unwrap();
                }
            }
        })
    })
}

/// A timed drain of n ready refs on taskref.
type Drain = fn(&Runtime, usize) -> Duration;

/// W7's target at 256k and 1M: within 1.3x of the JoinSet drain (fresh pairs).
const W7_TARGET: f64 = 1.3;

/// The fresh-process probes of W7, each against the JoinSet drain.
pub(crate) const PROBES: &[Probe] = &[
    Probe {
        name: "W7/as_completed",
        run: |system, n| drain_once(system, n, drain_as_completed),
    },
    Probe {
        name: "W7/WaitSet",
        run: |system, n| drain_once(system, n, drain_wait_set),
    },
];

/// In a child: drains 1,000 ready refs as a warm-up, then times one drain of
/// `n` (making them ready is not timed); ns.
fn drain_once(system: System, n: usize, taskref: Drain) -> f64 {
    let elapsed = match system {
        System::Taskref => {
            let rt = taskref_runtime();
            taskref(&rt, 1_000.min(n));
            taskref(&rt, n)
        }
        System::Tokio => {
            let rt = tokio_runtime();
            drain_joinset(&rt, 1_000.min(n));
            drain_joinset(&rt, n)
        }
    };
    elapsed.as_nanos() as f64
}

pub(crate) fn w7_scaling(systems: &Systems, config: &Config, report: &mut Report) {
    let runs = config.size(3, 2);
    // Small sizes in this process, for the scaling; the large ones in fresh
    // processes, for the verdict.
    let small: &[usize] = &[1_000, 16_000];
    let large: &[usize] = if config.quick {
        &[128_000]
    } else {
        &[256_000, 1_000_000]
    };
    let kinds: [(&str, &str, Drain); 2] = [
        ("as_completed", "W7/as_completed", drain_as_completed),
        ("WaitSet wait(1)", "W7/WaitSet", drain_wait_set),
    ];
    // Per kind and method: (n, taskref ns per item). A fresh process pays for
    // cold memory that a warm one does not, so linearity compares sizes
    // measured the same way.
    let mut in_process: Vec<Vec<(usize, f64)>> = vec![Vec::new(); kinds.len()];
    let mut in_fresh: Vec<Vec<(usize, f64)>> = vec![Vec::new(); kinds.len()];
    for &n in small {
        for (k, (kind, _, drain)) in kinds.iter().enumerate() {
            let (a, _) = report.times(
                "W7",
                format!("{kind} {n}"),
                Face::Async,
                paired(
                    runs,
                    false,
                    || drain(&systems.taskref, n),
                    || drain_joinset(&systems.tokio, n),
                ),
                "",
            );
            let ns = a.median_ms * 1e6 / n as f64;
            report.note(format!("{ns:.0} ns/item (tokio: JoinSet drain)"));
            in_process[k].push((n, ns));
        }
    }
    for &n in large {
        for (k, (kind, probe, _)) in kinds.iter().enumerate() {
            let pairs = fresh::alternate(fresh::find(PROBES, probe), n, config.pairs);
            let (a, b) = (Stats::of_ns(&pairs.taskref), Stats::of_ns(&pairs.tokio));
            let row = Row::new(
                "W7",
                format!("{kind} {n}"),
                Face::Async,
                Figures::Times {
                    taskref: a,
                    tokio: b,
                },
            );
            report.fresh(row, pairs.ratios(), W7_TARGET);
            let ns = a.median_ms * 1e6 / n as f64;
            report.note(format!(
                "{ns:.0} vs {:.0} ns/item (tokio: JoinSet drain)",
                b.median_ms * 1e6 / n as f64
            ));
            in_fresh[k].push((n, ns));
        }
    }
    for (k, (kind, _, _)) in kinds.iter().enumerate() {
        let (sizes, method) = if in_fresh[k].len() >= 2 {
            (&in_fresh[k], "fresh")
        } else {
            (&in_process[k], "in-process")
        };
        let (first, last) = (sizes[0], sizes[sizes.len() - 1]);
        println!(
            "          W7 {kind} linear (per item at {} within 2x of {}, {method}): {} ({:.2}x)",
            last.0,
            first.0,
            verdict(last.1 <= 2.0 * first.1),
            last.1 / first.1
        );
    }
}

/// One way of writing Ray's `while rest: ready, rest = wait(rest, 1)` loop on
/// taskref: drains `refs` (all ready) one at a time, reading each value.
type RayLoop = fn(&Runtime, Vec<ObjectRef<u64>>);

/// The forms of the Ray-shaped loop W7r measures, each against the
/// hand-written `select_all` loop of its face, in the same run.
const RAY_LOOPS: &[(&str, Face, RayLoop)] = &[
    ("by-slice", Face::Async, ray_loop_by_slice_async),
    ("by-slice", Face::Blocking, ray_loop_by_slice_blocking),
    ("by-value", Face::Async, ray_loop_by_value_async),
    ("by-value", Face::Blocking, ray_loop_by_value_blocking),
];

fn ray_loop_by_slice_async(rt: &Runtime, refs: Vec<ObjectRef<u64>>) {
    rt.handle().block_on(async {
        let mut rest = refs;
        while !rest.is_empty() {
            let (ready, not_ready) = taskref::wait(&rest, 1, None).await.unwrap();
            ready[0].get().await.unwrap();
            rest = not_ready;
        }
    })
}

fn ray_loop_by_slice_blocking(_: &Runtime, refs: Vec<ObjectRef<u64>>) {
    let mut rest = refs;
    while !rest.is_empty() {
        let (ready, not_ready) = taskref::block_wait(&rest, 1, None).unwrap();
        ready[0].block_get().unwrap();
        rest = not_ready;
    }
}

fn ray_loop_by_value_async(rt: &Runtime, refs: Vec<ObjectRef<u64>>) {
    rt.handle().block_on(async {
        let mut rest = refs;
        while !rest.is_empty() {
            let (mut ready, not_ready) = taskref::wait(rest, 1, None).await.unwrap();
            ready.pop().unwrap().await.unwrap();
            rest = not_ready;
        }
    })
}

fn ray_loop_by_value_blocking(_: &Runtime, refs: Vec<ObjectRef<u64>>) {
    let mut rest = refs;
    while !rest.is_empty() {
        let (mut ready, not_ready) = taskref::block_wait(rest, 1, None).unwrap();
        ready.pop().unwrap().block_get().unwrap();
        rest = not_ready;
    }
}

/// The hand-written floor: `select_all` over JoinHandles, which hands back the
/// rest without copying it. Async: one `block_on` around the loop; blocking:
/// one `Handle::block_on` per step, as a plain thread would write it.
fn select_all_loop(rt: &tokio::runtime::Runtime, face: Face, n: usize) -> Duration {
    let handles = ready_tokio_handles(rt, n);
    timed(|| {
        let mut rest = handles;
        match face {
            Face::Async => rt.block_on(async {
                while !rest.is_empty() {
                    let (v, _, not_ready) = select_all(rest).await;
                    v.unwrap();
                    rest = not_ready;
                }
            }),
            Face::Blocking => {
                while !rest.is_empty() {
                    let (v, _, not_ready) = rt.handle().block_on(select_all(rest));
                    v.unwrap();
                    rest = not_ready;
                }
            }
        }
    })
}

/// W7r's target: the Ray-shaped loop within 3x the `select_all` loop.
const W7R_TARGET: f64 = 3.0;

/// W7r: Ray's shape, `ready, rest = wait(rest, 1)`, over n ready refs.
pub(crate) fn w7r_ray_loop(systems: &Systems, config: &Config, report: &mut Report) {
    // The by-slice form clones the rest on every call (O(n²) in all): a few
    // seconds at 16,000, so one run in quick mode and a smaller n.
    let runs = config.size(3, 1);
    for &n in &[1_000usize, config.size(16_000, 4_000)] {
        for &(form, face, ray_loop) in RAY_LOOPS {
            let samples = paired(
                runs,
                false,
                || {
                    let refs = ready_refs(&systems.taskref, n);
                    timed(|| ray_loop(&systems.taskref, refs))
                },
                || select_all_loop(&systems.tokio, face, n),
            );
            let ratios = Ratios::of_durations(&samples);
            let (a, b) = (Stats::of(&samples.0), Stats::of(&samples.1));
            let row = Row::new(
                "W7r",
                format!("{form} wait(1) {n}"),
                face,
                Figures::Times {
                    taskref: a,
                    tokio: b,
                },
            );
            report.judged(row, ratios, W7R_TARGET, "in-process");
            report.note(format!(
                "{:.0} ns/item (tokio: select_all loop); Ray 2.60: 16.6 s at 16k",
                a.median_ms * 1e6 / n as f64
            ));
        }
    }
    if !RAY_LOOPS.iter().any(|&(form, ..)| form == "by-value") {
        println!(
            "          W7r by-value: not measured, `wait` / `block_wait` take a slice in this \
             build (see RAY_LOOPS in benches/workloads/order.rs)"
        );
    }
}
