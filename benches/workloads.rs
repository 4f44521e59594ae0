//! Every workload of WORKLOADS.md (W1-W7, O1, M1) on taskref and on the plain
//! tokio + futures program a user would write by hand, in the same process,
//! alternating the two, several runs each. Prints a table and writes JSON lines
//! to `target/taskref-bench/workloads.jsonl`.
//!
//! `cargo bench --bench workloads` runs the full sizes (a few minutes);
//! `TASKREF_BENCH_QUICK=1 cargo bench --bench workloads` runs smaller sizes and
//! fewer runs (under two minutes), as CI does.

#[path = "workloads/cpu.rs"]
mod cpu;
#[path = "workloads/data.rs"]
mod data;
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

fn main() {
    // M1 measures memory in a fresh child process per system; this is the child.
    if let Some(system) = std::env::var_os(memory::CHILD_ENV) {
        memory::child(&system.to_string_lossy());
        return;
    }
    let config = Config::from_env();
    let systems = Systems::new();
    let mut report = Report::new(&config);
    println!(
        "taskref workloads ({} mode, {} runs each, {} cores)",
        if config.quick { "quick" } else { "full" },
        config.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    latency::w1_seed(&systems, &config, &mut report);
    latency::w2_sleep(&systems, &config, &mut report);
    cpu::w3_cpu(&systems, &config, &mut report);
    order::w4_order(&systems, &config, &mut report);
    data::w5_unnecessary_get(&systems, &config, &mut report);
    latency::w6_throughput(&systems, &config, &mut report);
    order::w7_scaling(&systems, &config, &mut report);
    overhead::o1_overhead(&systems, &config, &mut report);
    memory::m1_memory(&config, &mut report);

    report.print();
    report.write_jsonl();
}
