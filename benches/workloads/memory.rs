//! M1: memory per pending task, 1,000,000 tasks parked on one event, measured as
//! the RSS growth of a fresh child process per system (so neither system's freed
//! memory flatters the other).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::latency::verdict;
use crate::report::{Figures, Report, Row};
use crate::systems::{Config, Face};

pub(crate) const CHILD_ENV: &str = "TASKREF_BENCH_M1_CHILD";
const SIZE_ENV: &str = "TASKREF_BENCH_M1_TASKS";

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// In the child: park `n` tasks of `system` on one `Notify` and print the RSS
/// growth per task.
pub(crate) fn child(system: &str) {
    let n: usize = std::env::var(SIZE_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
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
    let per_task = match system {
        "taskref" => {
            let rt = taskref::Runtime::builder()
                .worker_threads(2)
                .build()
                .unwrap();
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
            grown as f64 / n as f64
        }
        _ => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
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
            grown as f64 / n as f64
        }
    };
    println!("bytes_per_task={per_task:.1}");
}

fn run_child(system: &str, n: usize) -> f64 {
    let output = Command::new(std::env::current_exe().expect("bench binary"))
        .env(CHILD_ENV, system)
        .env(SIZE_ENV, n.to_string())
        .output()
        .expect("run M1 child");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("bytes_per_task="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "M1 child failed: {text} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

pub(crate) fn m1_memory(config: &Config, report: &mut Report) {
    let n = config.size(1_000_000, 200_000);
    let taskref = run_child("taskref", n);
    let tokio = run_child("tokio", n);
    report.push(Row {
        workload: "M1".into(),
        variant: format!("pending tasks {n}"),
        face: Face::Async,
        figures: Figures::BytesPerTask { taskref, tokio },
        note: String::new(),
    });
    report.note(format!(
        "RSS per pending task (tokio: JoinHandle); <= 1.5x: {}",
        verdict(taskref <= 1.5 * tokio)
    ));
}
