//! Ray's own benchmark names: the operations behind `ray microbenchmark`
//! (single_client_tasks_sync and _async, single_client_get_calls,
//! single_client_put_calls, single_client_wait_1k_refs,
//! single_client_tasks_and_get_batch, 1_1_actor_calls_sync and _async,
//! 1_1_async_actor_calls_async, n_n_actor_calls_async,
//! multi_client_tasks_async) run on taskref in the same shapes, printed as
//! operations per second beside Ray's published figures (2.57 and 2.58 release
//! logs) and, when a Python here can import `ray`, beside Ray measured on this
//! machine in the same invocation (`benches/ray_names.py`).
//!
//! taskref runs in-process (a task is a tokio task, an actor a thread), Ray
//! across processes (a task is an RPC to a worker): the comparison says what a
//! Ray user gains by moving an in-process workload to taskref, not that the two
//! do the same work.
//!
//! `cargo bench --bench ray_names` takes Ray's timing (1 s warm-up, four 2 s
//! runs per name: about two minutes for taskref, and as much again for Ray);
//! `TASKREF_BENCH_QUICK=1 cargo bench --bench ray_names` takes a few seconds
//! per side. `cargo bench --bench ray_names -- wait` runs only the names
//! containing `wait`. Figures also go to `target/taskref-bench/ray_names.jsonl`.

#[path = "ray_names/published.rs"]
mod published;
#[path = "ray_names/ray_here.rs"]
mod ray_here;
#[path = "ray_names/shapes.rs"]
mod shapes;
#[path = "ray_names/timeit.rs"]
mod timeit;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use timeit::{Rate, Timing};

fn main() {
    let quick = std::env::var_os("TASKREF_BENCH_QUICK").is_some_and(|v| v != "0");
    let timing = if quick { Timing::QUICK } else { Timing::RAY };
    // Name filters; cargo adds `--bench`, and flags are not filters.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let selected: Vec<_> = shapes::SHAPES
        .iter()
        .filter(|(name, ..)| {
            filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
        })
        .collect();
    println!(
        "Ray's microbenchmark names on taskref ({} mode: {:?} warm-up, {} runs of {:?}; 2 workers, 2 CPUs{})",
        if quick { "quick" } else { "full" },
        timing.warm_up,
        timing.runs,
        timing.duration,
        if timing.divide > 1 {
            format!("; multi-client counts / {}", timing.divide)
        } else {
            String::new()
        }
    );

    let rt = taskref::Runtime::builder()
        .worker_threads(2)
        .num_cpus(2)
        .build()
        .expect("taskref runtime");
    let mut taskref_rates = Vec::new();
    for (name, what, measure) in &selected {
        let rate = measure(&rt, timing);
        println!("  {name:<38} {:>22}  ({what})", format_rate(rate));
        taskref_rates.push((*name, rate));
    }
    // Ray gets the machine to itself.
    rt.shutdown();
    drop(rt);

    let ray = match ray_here::find_python() {
        Ok(python) => {
            println!("running Ray with {} ...", python.display());
            let limit = if quick {
                Duration::from_secs(300)
            } else {
                Duration::from_secs(1_800)
            };
            match ray_here::measure(&python, timing, &filters, limit) {
                Ok(here) => Some(here),
                Err(why) => {
                    println!("no Ray column: {why}");
                    None
                }
            }
        }
        Err(why) => {
            println!("{why}");
            None
        }
    };

    print_table(&taskref_rates, ray.as_ref());
    write_jsonl(&taskref_rates, ray.as_ref(), quick);
}

fn print_table(taskref_rates: &[(&str, Rate)], ray: Option<&ray_here::RayHere>) {
    let here = ray.map_or_else(
        || "Ray here".to_string(),
        |r| format!("Ray {} here", r.version),
    );
    println!();
    println!(
        "{:<38} {:>22} {:>10} {:>10} {:>18} {:>9}",
        "name (ops/s)", "taskref", "Ray 2.57", "Ray 2.58", here, "x Ray"
    );
    println!("{}", "-".repeat(112));
    for &(name, rate) in taskref_rates {
        let published = published::of(name);
        let ray_here = ray.and_then(|r| r.rates.get(name)).copied();
        println!(
            "{:<38} {:>22} {:>10} {:>10} {:>18} {:>9}",
            name,
            format_rate(rate),
            format_opt(published.ray_2_57),
            format_opt(published.ray_2_58),
            ray_here.map_or_else(|| "-".to_string(), format_rate),
            ray_here.map_or_else(
                || "-".to_string(),
                |r| format!("{:.1}x", rate.mean / r.mean)
            ),
        );
    }
    println!(
        "mean ± sd over the runs; Ray 2.57 / 2.58: published (ray-project/ray PRs 65238 and 65659, \
         Ray's release-test machine; - where the figure was not found); x Ray = taskref / Ray here"
    );
}

fn format_rate(rate: Rate) -> String {
    format!("{} ± {}", format_num(rate.mean), format_num(rate.sd))
}

fn format_opt(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), format_num)
}

/// Three significant figures at least, thousands grouped.
fn format_num(x: f64) -> String {
    if x < 100.0 {
        return format!("{x:.2}");
    }
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn write_jsonl(taskref_rates: &[(&str, Rate)], ray: Option<&ray_here::RayHere>, quick: bool) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("taskref-bench");
    std::fs::create_dir_all(&dir).expect("create target/taskref-bench");
    let mut out = String::new();
    for &(name, rate) in taskref_rates {
        let mut line = serde_json::json!({
            "name": name,
            "quick": quick,
            "taskref_ops_per_s": rate.mean,
            "taskref_sd": rate.sd,
            "ray_2_57_published": published::of(name).ray_2_57,
            "ray_2_58_published": published::of(name).ray_2_58,
        });
        if let Some(r) = ray {
            line["ray_here_version"] = r.version.clone().into();
            if let Some(here) = r.rates.get(name) {
                line["ray_here_ops_per_s"] = here.mean.into();
                line["ray_here_sd"] = here.sd.into();
            }
        }
        let _ = writeln!(out, "{line}");
    }
    let path = dir.join("ray_names.jsonl");
    std::fs::write(&path, out).expect("write ray_names.jsonl");
    println!("wrote {}", path.display());
}
