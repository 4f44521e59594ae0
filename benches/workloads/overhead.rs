//! O1: per-task overhead of submit + gather, from the caller and from inside a
//! task (where tokio's cooperative budget makes `join_all` over JoinHandles
//! super-linear; taskref's gathering must stay linear there).

use futures::future::join_all;
use futures::StreamExt;
use tokio::task::JoinSet;

use crate::latency::verdict;
use crate::report::Report;
use crate::systems::{paired, timed, Config, Face, Systems};

pub(crate) fn o1_overhead(systems: &Systems, config: &Config, report: &mut Report) {
    let n = config.size(1_000_000, 100_000) as u64;
    let runs = config.size(3, 2);
    let f = systems.taskref.remote(|i: u64| async move { i });

    let taskref_gather = || {
        timed(|| {
            systems.taskref.handle().block_on(async {
                let refs: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
                taskref::get_all(refs).await.unwrap();
            })
        })
    };
    let tokio_join_all = || {
        timed(|| {
            systems.tokio.block_on(async {
                let handles: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
                join_all(handles).await;
            })
        })
    };
    let (a, b) = report.times(
        "O1",
        format!("spawn+gather {n}"),
        Face::Async,
        paired(runs, false, taskref_gather, tokio_join_all),
        "",
    );
    report.note(format!(
        "{:.0} vs {:.0} ns/task (tokio: join_all); <= 1.3: {}",
        a.median_ms * 1e6 / n as f64,
        b.median_ms * 1e6 / n as f64,
        verdict(a.median_ms <= 1.3 * b.median_ms)
    ));

    // From inside a task: taskref's get_all and as_completed against JoinSet,
    // the tokio collection that stays linear there.
    let sizes: &[u64] = if config.quick {
        &[10_000, 100_000]
    } else {
        &[10_000, 80_000, 1_000_000]
    };
    for &n in sizes {
        let rt = systems.taskref.clone();
        let taskref_in_task = || {
            let rt = rt.clone();
            timed(|| {
                let inner = rt.clone();
                rt.spawn(async move {
                    let refs: Vec<_> = (0..n).map(|i| inner.spawn(async move { i })).collect();
                    taskref::get_all(refs).await.unwrap().len()
                })
                .block_get()
                .unwrap();
            })
        };
        let tokio_joinset_in_task = || {
            timed(|| {
                let handle = systems.tokio.handle();
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
        };
        let (a, _) = report.times(
            "O1",
            format!("get_all in task {n}"),
            Face::Async,
            paired(runs, false, taskref_in_task, &tokio_joinset_in_task),
            "",
        );
        report.note(format!(
            "{:.0} ns/task (tokio: JoinSet)",
            a.median_ms * 1e6 / n as f64
        ));

        let taskref_as_completed_in_task = || {
            let rt = rt.clone();
            timed(|| {
                let inner = rt.clone();
                rt.spawn(async move {
                    let refs: Vec<_> = (0..n).map(|i| inner.spawn(async move { i })).collect();
                    taskref::as_completed(refs).count().await
                })
                .block_get()
                .unwrap();
            })
        };
        let (a, _) = report.times(
            "O1",
            format!("as_completed in task {n}"),
            Face::Async,
            paired(
                runs,
                false,
                taskref_as_completed_in_task,
                tokio_joinset_in_task,
            ),
            "",
        );
        report.note(format!(
            "{:.0} ns/task (tokio: JoinSet)",
            a.median_ms * 1e6 / n as f64
        ));
    }
}
