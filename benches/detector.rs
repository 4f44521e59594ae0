//! What the anti-pattern detector costs: O1 and W1 (WORKLOADS.md) with the
//! detector on (`AntiPatterns::Warn`, the default) and off, in one run.
//!
//! O1 (1,000,000 trivial tasks submitted and gathered) runs each mode in a
//! fresh child process, on and off alternating, five pairs (the workloads
//! bench's fresh-process machinery: here its "taskref" side is the detector
//! on, its "tokio" side the detector off), and reports the median of the
//! per-pair ratios on / off with their min and max. W1 (100 tasks: a get in
//! a loop, and gathered) runs both modes in this process, alternating, and
//! reports the median ratio with its quartiles.
//!
//! `cargo bench --bench detector`; `TASKREF_BENCH_QUICK=1` for 100,000 tasks
//! and two pairs; `TASKREF_BENCH_PAIRS=n` for n pairs.

#[allow(dead_code)]
#[path = "workloads/fresh.rs"]
mod fresh;
#[allow(dead_code)]
#[path = "workloads/overhead.rs"]
mod overhead;
#[allow(dead_code)]
#[path = "workloads/report.rs"]
mod report;
#[allow(dead_code)]
#[path = "workloads/systems.rs"]
mod systems;

use std::time::Duration;

use fresh::{Probe, System};
use report::{Ratios, Stats};
use systems::{timed, Config};
use taskref::{AntiPatterns, Runtime};

/// The fresh-process side's two "systems" are the two modes.
fn mode(system: System) -> AntiPatterns {
    match system {
        System::Taskref => AntiPatterns::Warn,
        System::Tokio => AntiPatterns::Off,
    }
}

fn runtime(mode: AntiPatterns) -> Runtime {
    Runtime::builder()
        .worker_threads(2)
        .num_cpus(2)
        .anti_patterns(mode)
        .build()
        .expect("runtime")
}

/// O1's forms as the workloads bench measures them, and W6's gathered form.
const PROBES: &[Probe] = &[
    Probe {
        name: "O1/spawn+gather",
        run: |system, n| one_run(system, n, overhead::spawn_gather_taskref),
    },
    Probe {
        name: "O1/remote+gather",
        run: |system, n| one_run(system, n, remote_gather),
    },
    Probe {
        name: "O1/get_all-in-task",
        run: |system, n| one_run(system, n, overhead::get_all_in_task),
    },
];

/// In a child: a warm-up of 10,000 tasks, then one timed run of `n`; ns.
fn one_run(system: System, n: usize, workload: fn(&Runtime, u64) -> Duration) -> f64 {
    let rt = runtime(mode(system));
    workload(&rt, 10_000.min(n as u64));
    workload(&rt, n as u64).as_nanos() as f64
}

/// W6's gathered form: a remote function, gathered from a plain thread.
fn remote_gather(rt: &Runtime, n: u64) -> Duration {
    let f = rt.remote(|i: u64| async move { i });
    timed(|| {
        taskref::block_get_all((0..n).map(|i| f.remote(i))).unwrap();
    })
}

fn print_row(name: &str, on: Stats, off: Stats, ratios: Ratios, spread: &str) {
    println!(
        "{name:<28} {:>10.3} ms {:>10.3} ms   {:.3} {spread}",
        on.median_ms, off.median_ms, ratios.median
    );
}

fn main() {
    if fresh::child_main(PROBES) {
        return;
    }
    let config = Config::from_env();
    let n = config.size(1_000_000, 100_000);
    println!(
        "the detector's cost: on (Warn) / off, {} fresh-process pairs for O1, 2 cores",
        config.pairs
    );
    println!(
        "{:<28} {:>13} {:>13}   ratio on/off",
        "workload", "on", "off"
    );
    for probe in PROBES {
        let pairs = fresh::alternate(probe, n, config.pairs);
        let ratios = pairs.ratios();
        print_row(
            &format!("{} {n}", probe.name),
            Stats::of_ns(&pairs.taskref),
            Stats::of_ns(&pairs.tokio),
            ratios,
            &format!("[{:.3}, {:.3}] min-max", ratios.min, ratios.max),
        );
    }
    // W1: 100 tasks, many runs in this process, the modes alternating.
    let runs = config.size(300, 60);
    let (on, off) = (runtime(AntiPatterns::Warn), runtime(AntiPatterns::Off));
    type W1 = fn(&Runtime) -> Duration;
    let forms: [(&str, W1); 2] = [
        ("W1 get in a loop 100", |rt| {
            let f = rt.remote(|i: u64| async move { i });
            timed(|| {
                for i in 0..100 {
                    f.remote(i).block_get().unwrap();
                }
            })
        }),
        ("W1 gathered 100", |rt| {
            let f = rt.remote(|i: u64| async move { i });
            timed(|| {
                taskref::block_get_all((0..100).map(|i| f.remote(i))).unwrap();
            })
        }),
    ];
    for (name, form) in forms {
        form(&on);
        form(&off);
        let samples = systems::paired(runs, false, || form(&on), || form(&off));
        let ratios = Ratios::of_durations(&samples);
        print_row(
            name,
            Stats::of(&samples.0),
            Stats::of(&samples.1),
            ratios,
            &format!(
                "[{:.3}, {:.3}] quartiles, {runs} pairs",
                ratios.q1, ratios.q3
            ),
        );
    }
}
