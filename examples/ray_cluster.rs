//! The same taskref program on a Ray cluster: the seed (get in a loop vs
//! gathered), W5 / C2 (get-then-pass vs pass-the-ref with a 64 MB value that
//! crosses nodes), C1 (per-task cost against Python Ray on the same cluster)
//! and C3 (a completion-order drain).
//!
//! ```text
//! scripts/ray-cluster cargo run --release --example ray_cluster
//! ```
//!
//! `scripts/ray-cluster` starts a local cluster of two raylets (the second
//! with the resource `node2`) and stops it afterwards; with a cluster of your
//! own, set `RAY_ADDRESS` and `TASKREF_RAY_PYTHON` (a Python with `ray`).
//! Optional argument: the number of trivial tasks for C1 (default 2000).

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use taskref::Runtime;

#[taskref::remote]
fn identity(i: u64) -> u64 {
    i
}

#[taskref::remote]
fn nap(i: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(10));
    i
}

#[taskref::remote]
fn produce(megabytes: usize) -> Vec<u8> {
    vec![1; megabytes << 20]
}

#[taskref::remote]
fn consume(data: Vec<u8>) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

/// Python Ray's side of C1 and C3, on the same cluster, after taskref's.
const PYTHON: &str = r#"
import json, os, sys, time
import ray
ray.init(address=os.environ["RAY_ADDRESS"], logging_level="WARNING")

@ray.remote
def identity(i):
    return i

n, drain = int(sys.argv[1]), int(sys.argv[2])
ray.get([identity.remote(i) for i in range(50)])  # warm the workers up
t = time.perf_counter()
for i in range(100):
    ray.get(identity.remote(i))
w1_loop = time.perf_counter() - t
t = time.perf_counter(); ray.get([identity.remote(i) for i in range(100)]); w1 = time.perf_counter() - t
t = time.perf_counter(); ray.get([identity.remote(i) for i in range(n)]); c1 = time.perf_counter() - t
refs = [identity.remote(i) for i in range(drain)]
t = time.perf_counter()
while refs:
    ready, refs = ray.wait(refs, num_returns=1)
    ray.get(ready[0])
c3 = time.perf_counter() - t
print(json.dumps({"w1_loop": w1_loop, "w1": w1, "c1": c1, "c3": c3}))
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(address) = std::env::var("RAY_ADDRESS") else {
        if std::env::var_os("TASKREF_RAY_WORKER").is_none() {
            eprintln!("RAY_ADDRESS is not set: run `scripts/ray-cluster cargo run --release --example ray_cluster`");
            std::process::exit(2);
        }
        // A worker: build() below serves calls and never returns.
        Runtime::builder().ray("auto").build()?;
        unreachable!("a worker serves calls");
    };
    // On Ray's workers this line serves calls and never returns.
    let rt = Runtime::builder().ray(address).build()?;
    let cluster = rt.cluster().expect("built for a cluster");
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    println!(
        "taskref on Ray {} at {} ({} nodes)\n",
        cluster.ray_version(),
        cluster.address(),
        cluster.nodes().len()
    );
    let identity = rt.remote_blocking(identity);
    let nap = rt.remote_blocking(nap);
    // Start the worker processes (and ship the program) before measuring.
    taskref::block_get_all((0..50).map(|i| identity.remote(i)).collect::<Vec<_>>())?;

    println!(
        "{:<48} {:>12} {:>12} {:>8}",
        "workload", "anti-pattern", "fixed", "speedup"
    );
    let row = |name: &str, slow: Duration, fast: Duration| {
        println!(
            "{:<48} {:>10.1}ms {:>10.1}ms {:>7.1}x",
            name,
            ms(slow),
            ms(fast),
            slow.as_secs_f64() / fast.as_secs_f64()
        )
    };

    // The seed (W1) and W2: get in a loop vs gathered.
    let mut w1 = (Duration::ZERO, Duration::ZERO);
    type Submit<'a> = Box<dyn Fn(u64) -> taskref::ObjectRef<u64> + 'a>;
    let seeds: [(&str, Submit<'_>); 2] = [
        (
            "W1 seed: 100 tasks f(i) = i",
            Box::new(|i| identity.remote(i)),
        ),
        ("W2: 100 tasks of 10 ms", Box::new(|i| nap.remote(i))),
    ];
    for (name, submit) in seeds {
        let t = Instant::now();
        for i in 0..100 {
            submit(i).block_get()?;
        }
        let looped = t.elapsed();
        let t = Instant::now();
        taskref::block_get_all((0..100).map(&submit).collect::<Vec<_>>())?;
        let gathered = t.elapsed();
        if w1 == (Duration::ZERO, Duration::ZERO) {
            w1 = (looped, gathered);
        }
        row(name, looped, gathered);
    }

    // W5 / C2: 64 MB made on node 2, consumed on the head node.
    let producer = rt.remote_blocking(produce).resource("node2", 0.01);
    let consumer = rt
        .remote_blocking(consume)
        .resource("node:__internal_head__", 0.01);
    let before = cluster.bytes_to_driver();
    let t = Instant::now();
    let value = producer.remote(64).block_get()?;
    let via_driver = consumer.remote(value).block_get()?;
    let get_then_pass = t.elapsed();
    let through_driver = cluster.bytes_to_driver() - before;
    let before = cluster.bytes_to_driver();
    let t = Instant::now();
    let by_ref = consumer.remote(producer.remote(64)).block_get()?;
    let pass_the_ref = t.elapsed();
    let ref_bytes = cluster.bytes_to_driver() - before;
    assert_eq!(via_driver, by_ref);
    row(
        "W5/C2: 64 MB node2 -> head, get-then-pass vs ref",
        get_then_pass,
        pass_the_ref,
    );
    println!(
        "{:<48} {:>12} {:>12}",
        "      bytes that reached the driver", through_driver, ref_bytes
    );

    // C1: per-task cost of n trivial tasks, gathered, against Python Ray.
    let t = Instant::now();
    taskref::block_get_all((0..n).map(|i| identity.remote(i)).collect::<Vec<_>>())?;
    let c1 = t.elapsed();

    // C3: completion-order drain of 4,000 refs.
    let drain = 4000;
    let refs: Vec<_> = (0..drain).map(|i| identity.remote(i)).collect();
    let t = Instant::now();
    let drained = rt.handle().block_on(async {
        taskref::as_completed(refs)
            .filter(|(_, r)| std::future::ready(r.is_ok()))
            .count()
            .await
    });
    let c3 = t.elapsed();
    assert_eq!(drained, drain as usize);

    let python = std::env::var("TASKREF_RAY_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-c", PYTHON, &n.to_string(), &drain.to_string()])
        .env("RAY_AUTH_MODE", "token")
        .output()?;
    println!();
    if out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default();
        let figure = |key: &str| {
            line.split(&format!("\"{key}\": "))
                .nth(1)
                .and_then(|rest| rest.split([',', '}']).next())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let (py_c1, py_c3) = (figure("c1"), figure("c3"));
        println!(
            "{:<48} {:>12} {:>12} {:>8}",
            "on the same cluster", "taskref", "Python Ray", "ratio"
        );
        for (name, ours, theirs) in [
            ("C1/W1: 100 tasks, get in a loop", w1.0, figure("w1_loop")),
            ("C1/W1: 100 tasks, gathered", w1.1, figure("w1")),
        ] {
            println!(
                "{:<48} {:>10.1}ms {:>10.1}ms {:>7.2}x",
                name,
                ms(ours),
                theirs * 1e3,
                ours.as_secs_f64() / theirs
            );
        }
        println!(
            "{:<48} {:>10.0}us {:>10.0}us {:>7.2}x",
            format!("C1: {n} trivial tasks gathered, per task"),
            c1.as_secs_f64() * 1e6 / n as f64,
            py_c1 * 1e6 / n as f64,
            c1.as_secs_f64() / py_c1
        );
        println!(
            "{:<48} {:>10.1}ms {:>10.1}ms {:>7.2}x",
            format!("C3: drain {drain} refs in completion order"),
            ms(c3),
            py_c3 * 1e3,
            c3.as_secs_f64() / py_c3
        );
        println!(
            "      (taskref: as_completed; Python: `while refs: ray.wait(refs, num_returns=1)`)"
        );
    } else {
        println!(
            "Python Ray's side did not run ({python}): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        );
    }
    rt.shutdown();
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
