//! O1: per-task overhead of submit + gather, from the caller and from inside a
//! task (where tokio's cooperative budget makes `join_all` over JoinHandles
//! super-linear; taskref's gathering must stay linear there).
//!
//! The million-task runs are measured in fresh processes ([`crate::fresh`]);
//! the smaller in-task sizes run in this process, to show the scaling.
//! O1 submits with `Runtime::spawn`, the twin of `tokio::spawn`; W6 submits the
//! same trivial tasks through a remote function.

use futures::future::join_all;
use futures::StreamExt;
use taskref::Runtime;
use tokio::task::JoinSet;

use crate::fresh::{self, Probe, System};
use crate::report::{Figures, Report, Row, Stats};
use crate::systems::{paired, taskref_runtime, timed, tokio_runtime, Config, Face, Systems};

/// O1's target: within 1.3x of tokio (fresh pairs).
const TARGET: f64 = 1.3;

/// The fresh-process probes, each against its tokio floor.
pub(crate) const PROBES: &[Probe] = &[
    Probe {
        name: "O1/spawn+gather",
        run: |system, n| one_run(system, n, spawn_gather_taskref, spawn_join_all_tokio),
    },
    Probe {
        name: "O1/get_all-in-task",
        run: |system, n| one_run(system, n, get_all_in_task, joinset_in_task),
    },
    Probe {
        name: "O1/as_completed-in-task",
        run: |system, n| one_run(system, n, as_completed_in_task, joinset_in_task),
    },
];

/// In a child: a warm-up of 10,000 tasks, then one timed run of `n`; ns.
fn one_run(
    system: System,
    n: usize,
    taskref: fn(&Runtime, u64) -> std::time::Duration,
    tokio: fn(&tokio::runtime::Runtime, u64) -> std::time::Duration,
) -> f64 {
    let (n, warm_up) = (n as u64, 10_000.min(n as u64));
    let elapsed = match system {
        System::Taskref => {
            let rt = taskref_runtime();
            taskref(&rt, warm_up);
            taskref(&rt, n)
        }
        System::Tokio => {
            let rt = tokio_runtime();
            tokio(&rt, warm_up);
            tokio(&rt, n)
        }
    };
    elapsed.as_nanos() as f64
}

pub(crate) fn spawn_gather_taskref(rt: &Runtime, n: u64) -> std::time::Duration {
    timed(|| {
        rt.handle().block_on(async {
            let refs: Vec<_> = (0..n).map(|i| rt.spawn(async move { i })).collect();
            taskref::get_all(refs).await.unwrap();
        })
    })
}

fn spawn_join_all_tokio(rt: &tokio::runtime::Runtime, n: u64) -> std::time::Duration {
    timed(|| {
        rt.block_on(async {
            let handles: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
            join_all(handles).await;
        })
    })
}

pub(crate) fn get_all_in_task(rt: &Runtime, n: u64) -> std::time::Duration {
    let inner = rt.clone();
    timed(|| {
        rt.spawn(async move {
            let refs: Vec<_> = (0..n).map(|i| inner.spawn(async move { i })).collect();
            taskref::get_all(refs).await.unwrap().len()
        })
        .block_get()
        .unwrap();
    })
}

fn as_completed_in_task(rt: &Runtime, n: u64) -> std::time::Duration {
    let inner = rt.clone();
    timed(|| {
        rt.spawn(async move {
            let refs: Vec<_> = (0..n).map(|i| inner.spawn(async move { i })).collect();
            taskref::as_completed(refs).count().await
        })
        .block_get()
        .unwrap();
    })
}

/// The tokio collection that stays linear inside a task.
fn joinset_in_task(rt: &tokio::runtime::Runtime, n: u64) -> std::time::Duration {
    timed(|| {
        let handle = rt.handle();
        handle
            .block_on(handle.spawn(async move {
                let mut set = JoinSet::new();
                for i in 0..n {
                    set.spawn(async move { i });
                }
                let mut count = 0;
                while let Some(v) = set.join_next().await {
                    v.unwrap();
                    count += 1;
                }
                count
            }))
            .unwrap();
    })
}

pub(crate) fn o1_overhead(systems: &Systems, config: &Config, report: &mut Report) {
    let runs = config.size(3, 2);
    // From inside a task, at sizes small enough for one process: the scaling
    // that tokio's cooperative budget breaks for `join_all`.
    let sizes: &[u64] = if config.quick {
        &[10_000]
    } else {
        &[10_000, 80_000]
    };
    for &n in sizes {
        let (a, _) = report.times(
            "O1",
            format!("get_all in task {n}"),
            Face::Async,
            paired(
                runs,
                false,
                || get_all_in_task(&systems.taskref, n),
                || joinset_in_task(&systems.tokio, n),
            ),
            "",
        );
        report.note(format!(
            "{:.0} ns/task (tokio: JoinSet)",
            a.median_ms * 1e6 / n as f64
        ));
        let (a, _) = report.times(
            "O1",
            format!("as_completed in task {n}"),
            Face::Async,
            paired(
                runs,
                false,
                || as_completed_in_task(&systems.taskref, n),
                || joinset_in_task(&systems.tokio, n),
            ),
            "",
        );
        report.note(format!(
            "{:.0} ns/task (tokio: JoinSet)",
            a.median_ms * 1e6 / n as f64
        ));
    }

    // The million: one fresh process per run.
    let n = config.size(1_000_000, 100_000);
    let rows = [
        ("O1/spawn+gather", "spawn+gather", "join_all"),
        ("O1/get_all-in-task", "get_all in task", "JoinSet"),
        ("O1/as_completed-in-task", "as_completed in task", "JoinSet"),
    ];
    for (probe, variant, floor) in rows {
        let pairs = fresh::alternate(fresh::find(PROBES, probe), n, config.pairs);
        let (a, b) = (Stats::of_ns(&pairs.taskref), Stats::of_ns(&pairs.tokio));
        let row = Row::new(
            "O1",
            format!("{variant} {n}"),
            Face::Async,
            Figures::Times {
                taskref: a,
                tokio: b,
            },
        );
        report.fresh(row, pairs.ratios(), TARGET);
        report.note(format!(
            "{:.0} vs {:.0} ns/task (tokio: {floor})",
            a.median_ms * 1e6 / n as f64,
            b.median_ms * 1e6 / n as f64
        ));
    }
}
