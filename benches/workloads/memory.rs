//! M1: memory per pending task, 1,000,000 tasks parked on one event, measured as
//! the RSS growth of a fresh child process per run (so neither system's freed
//! memory flatters the other), alternating the two systems ([`crate::fresh`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::fresh::{self, Probe, System};
use crate::report::{median, Figures, Report, Row};
use crate::systems::{taskref_runtime, tokio_runtime, Config, Face, Systems};

/// The fresh-process probe: bytes of RSS per pending task.
pub(crate) const PROBES: &[Probe] = &[Probe {
    name: "M1/pending",
    run: pending_bytes_per_task,
}];

/// M1's target: RSS per pending ref within 1.5x a pending JoinHandle's.
const TARGET: f64 = 1.5;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// In a child: parks `n` tasks of `system` on one `Notify` and returns the RSS
/// growth per task.
fn pending_bytes_per_task(system: System, n: usize) -> f64 {
    let notify = Arc::new(Notify::new());
    let started = Arc::new(AtomicUsize::new(0));
    let task = |notify: Arc<Notify>, started: Arc<AtomicUsize>| async move {
        let parked = notify.notified();
        started.fetch_add(1, Ordering::SeqCst);
        parked.await;
    };
    let wait_parked = |started: &AtomicUsize| {
        while started.load(Ordering::SeqCst) < n {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let grown = match system {
        System::Taskref => {
            let rt = taskref_runtime();
            // Warm up the runtime's own structures before the baseline.
            taskref::block_get_all((0..1000).map(|i| rt.spawn(async move { i }))).unwrap();
            let before = rss_bytes();
            let refs: Vec<_> = (0..n)
                .map(|_| rt.spawn(task(Arc::clone(&notify), Arc::clone(&started))))
                .collect();
            wait_parked(&started);
            let grown = rss_bytes().saturating_sub(before);
            notify.notify_waiters();
            taskref::block_get_all(refs).unwrap();
            grown
        }
        System::Tokio => {
            let rt = tokio_runtime();
            rt.block_on(futures::future::join_all(
                (0..1000).map(|i| rt.spawn(async move { i })),
            ));
            let before = rss_bytes();
            let handles: Vec<_> = (0..n)
                .map(|_| rt.spawn(task(Arc::clone(&notify), Arc::clone(&started))))
                .collect();
            wait_parked(&started);
            let grown = rss_bytes().saturating_sub(before);
            notify.notify_waiters();
            rt.block_on(futures::future::join_all(handles));
            grown
        }
    };
    grown as f64 / n as f64
}

pub(crate) fn m1_memory(_: &Systems, config: &Config, report: &mut Report) {
    let n = config.size(1_000_000, 200_000);
    let pairs = fresh::alternate(&PROBES[0], n, config.pairs);
    let row = Row::new(
        "M1",
        format!("pending tasks {n}"),
        Face::Async,
        Figures::BytesPerTask {
            taskref: median(&pairs.taskref),
            tokio: median(&pairs.tokio),
        },
    );
    report.fresh(row, pairs.ratios(), TARGET);
    report.note(format!(
        "RSS per pending task, medians (tokio: JoinHandle); {}",
        report_range(&pairs.taskref, &pairs.tokio)
    ));
}

/// The spread of the bytes per task, for the reader.
fn report_range(taskref: &[f64], tokio: &[f64]) -> String {
    let range = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        format!("{lo:.0}-{hi:.0} B")
    };
    format!("taskref {}, tokio {}", range(taskref), range(tokio))
}
