//! Every workload of WORKLOADS.md (W1-W7, W7r, O1, M1) on taskref and on the
//! plain tokio + futures program a user would write by hand, alternating the
//! two. Prints a table, the verdicts against issue 13's targets, and writes JSON
//! lines to `target/taskref-bench/workloads.jsonl`.
//!
//! The small workloads run both systems in this process, several runs each.
//! The large ones (W6 gathered, O1, W7 at 256k and 1M, M1) run each system in a
//! fresh child process, alternating, `Config::pairs` pairs (five in full mode),
//! and report the median per-pair ratio with its min and max: see
//! [`fresh`] and WORKLOADS.md, "How to measure the large workloads".
//!
//! `cargo bench --bench workloads` runs the full sizes (several minutes);
//! `TASKREF_BENCH_QUICK=1 cargo bench --bench workloads` runs smaller sizes,
//! fewer runs and two pairs (well under two minutes), as CI does.
//! `cargo bench --bench workloads -- W7 M1` runs only the workloads with those
//! ids (case-insensitive, exact: `W7` does not run `W7r`).
//! `TASKREF_BENCH_PAIRS=n` sets the number of fresh-process pairs.

#[path = "workloads/cpu.rs"]
mod cpu;
#[path = "workloads/data.rs"]
mod data;
#[path = "workloads/fresh.rs"]
mod fresh;
#[path = "workloads/latency.rs"]
mod latency;
#[path = "workloads/memory.rs"]
mod memory;
#[path = "workloads/order.rs"]
mod order;
#[path = "workloads/overhead.rs"]
mod overhead;
#[path = "workloads/report.rs"]
mod report;
#[path = "workloads/systems.rs"]
mod systems;

use report::Report;
use systems::{Config, Systems};

type Workload = fn(&Systems, &Config, &mut Report);

/// Every workload, by id, in the order they run.
const WORKLOADS: &[(&str, Workload)] = &[
    ("W1", latency::w1_seed),
    ("W2", latency::w2_sleep),
    ("W3", cpu::w3_cpu),
    ("W4", order::w4_order),
    ("W5", data::w5_unnecessary_get),
    ("W6", latency::w6_throughput),
    ("W7", order::w7_scaling),
    ("W7r", order::w7r_ray_loop),
    ("O1", overhead::o1_overhead),
    ("M1", memory::m1_memory),
];

fn main() {
    // A fresh child process measures one probe and exits.
    let probes: Vec<fresh::Probe> = [
        latency::PROBES,
        order::PROBES,
        overhead::PROBES,
        memory::PROBES,
    ]
    .concat();
    if fresh::child_main(&probes) {
        return;
    }

    // Workload ids to run; cargo adds `--bench`, and flags are not ids.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let selected: Vec<&(&str, Workload)> = WORKLOADS
        .iter()
        .filter(|(id, _)| filters.is_empty() || filters.iter().any(|f| f.eq_ignore_ascii_case(id)))
        .collect();
    if selected.is_empty() {
        let ids: Vec<&str> = WORKLOADS.iter().map(|(id, _)| *id).collect();
        eprintln!(
            "no workload matches {filters:?}; the ids are {}",
            ids.join(", ")
        );
        std::process::exit(2);
    }

    let config = Config::from_env();
    let systems = Systems::new();
    let mut report = Report::new(&config);
    println!(
        "taskref workloads ({} mode, {} runs each, {} fresh-process pairs, {} cores){}",
        if config.quick { "quick" } else { "full" },
        config.runs,
        config.pairs,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if filters.is_empty() {
            String::new()
        } else {
            format!(", only {}", filters.join(" "))
        }
    );
    for (_, workload) in selected {
        workload(&systems, &config, &mut report);
    }

    report.print();
    report.write_jsonl();
}
