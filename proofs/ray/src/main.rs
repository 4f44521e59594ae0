//! Proof for issue 14: the same Rust program drives a Ray cluster and runs its
//! named functions on Ray's workers (shape (a): the Rust side never links
//! Python; a Python bridge holds the Ray refs on the driver's side, a Python
//! trampoline starts this binary on each worker).
//!
//!   scripts/ray-cluster proofs/ray/target/release/taskref-ray-proof [all|demo|failures|bench] [N] [RUNS]

mod bridge;
mod frame;
mod wire;
mod worker;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use bridge::{by_ref, val, Arg, Cluster, Options, RayError, RayRef};
use wire::Blob;

// ------------------------------------------------------------ the functions

/// Where a call ran: the worker binary's pid and the Ray node.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Where {
    pid: u32,
    node: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Doubled {
    value: u64,
    at: Where,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Summary {
    len: u64,
    sum: u64,
    at: Where,
}


fn here() -> Where {
    let node = std::env::var("TASKREF_RAY_NODE_ID").unwrap_or_default();
    Where { pid: std::process::id(), node: short(&node) }
}

#[taskref::remote]
fn double(x: u64) -> Doubled {
    Doubled { value: 2 * x, at: here() }
}

#[taskref::remote]
fn add_one(d: Doubled) -> Doubled {
    Doubled { value: d.value + 1, at: here() }
}

#[taskref::remote]
fn twice(x: u64) -> u64 {
    2 * x
}

#[taskref::remote]
fn make_blob(mb: u64) -> Blob {
    Blob((0..mb * 1024 * 1024).map(|i| (i % 251) as u8).collect())
}

#[taskref::remote]
fn checksum(b: Blob) -> Summary {
    Summary { len: b.0.len() as u64, sum: b.0.iter().map(|&x| x as u64).sum(), at: here() }
}

/// Prints to stdout on the worker: the reply channel is a separate pipe, so
/// this lands in Ray's worker log (and the driver's stderr), not in a reply.
#[taskref::remote]
fn shout(x: u64) -> u64 {
    println!("shout: hello from worker pid {} on stdout", std::process::id());
    x
}

#[taskref::remote]
fn explode(x: u64) -> u64 {
    panic!("explode was given {x}")
}

#[taskref::remote]
fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

// ------------------------------------------------------------ the driver

/// The name a function is registered under by `#[taskref::remote]` (its path).
fn name_of<F>(function: &F) -> &'static str {
    std::any::type_name_of_val(function)
}

fn short(node: &str) -> String {
    node.chars().take(8).collect()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run under scripts/ray-cluster"))
}

fn python() -> String {
    std::env::var("TASKREF_RAY_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn main() {
    if std::env::var_os("TASKREF_RAY_WORKER").is_some() {
        if let Err(e) = worker::serve() {
            eprintln!("taskref worker: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("all").to_owned();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ok = rt.block_on(async move {
        let address = env("RAY_ADDRESS");
        let t = Instant::now();
        let cluster = match Cluster::connect(&address, &python(), Duration::from_secs(30)).await {
            Ok(c) => c,
            Err(e) => {
                println!("cannot connect: {e}");
                return false;
            }
        };
        println!(
            "connected to {address} in {:.2} s: driver pid {}, bridge pid {}, driver on node {}, nodes {:?}",
            t.elapsed().as_secs_f64(),
            std::process::id(),
            cluster.bridge_pid,
            short(&cluster.driver_node),
            cluster.nodes.iter().map(|n| short(&n.id)).collect::<Vec<_>>(),
        );
        let mut ok = true;
        if matches!(what.as_str(), "all" | "demo") {
            ok &= report("demo", demo(&cluster).await);
        }
        if matches!(what.as_str(), "all" | "failures") {
            ok &= report("failures", failures(&cluster).await);
        }
        if matches!(what.as_str(), "all" | "bench") {
            ok &= report("bench", bench(&cluster, n, runs).await);
        }
        cluster.shutdown().await;
        if matches!(what.as_str(), "all" | "failures") {
            ok &= report("unreachable", unreachable().await);
            ok &= report("cluster goes away", cluster_goes_away().await);
        }
        ok
    });
    std::process::exit(if ok { 0 } else { 1 });
}

fn report(what: &str, r: Result<(), String>) -> bool {
    match r {
        Ok(()) => {
            println!("== {what}: ok");
            true
        }
        Err(e) => {
            println!("== {what}: FAILED: {e}");
            false
        }
    }
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.into()) }
}

fn fmt_err(e: RayError) -> String {
    e.to_string()
}

async fn demo(cluster: &Cluster) -> Result<(), String> {
    let node1 = cluster.nodes.iter().find(|n| !n.resources.contains_key("node2")).ok_or("no node without node2")?.id.clone();
    let on_node2 = Options { resources: HashMap::from([("node2".into(), 0.01)]), ..Options::default() };
    let on_node1 = Options { node_id: Some(node1.clone()), ..Options::default() };

    // One function by name, on a Ray worker process.
    let d: RayRef<Doubled> = cluster.submit(name_of(&double), vec![val(&21u64)], &Options::default());
    let got = d.get().await.map_err(fmt_err)?;
    println!("double(21) = {} on worker pid {} (node {}); driver pid {}", got.value, got.at.pid, got.at.node, std::process::id());
    check(got.value == 42, "double(21) != 42")?;
    check(got.at.pid != std::process::id() && got.at.pid != cluster.bridge_pid, "ran in the driver's or bridge's process")?;

    // Its ref into a second task forced onto node 2.
    let e: RayRef<Doubled> = cluster.submit(name_of(&add_one), vec![by_ref(&d)], &on_node2);
    let got2 = e.get().await.map_err(fmt_err)?;
    let node2 = cluster.nodes.iter().find(|n| n.resources.contains_key("node2")).unwrap();
    println!("add_one(ref of double(21)) = {} on worker pid {} (node {}, the node2 node)", got2.value, got2.at.pid, got2.at.node);
    check(got2.value == 43, "add_one != 43")?;
    check(got2.at.node == short(&node2.id), "add_one did not run on node 2")?;

    // 8 MB made on node 2, consumed on node 1 through a ref.
    let (to0, from0) = cluster.bytes().await.map_err(fmt_err)?;
    let t = Instant::now();
    let blob: RayRef<Blob> = cluster.submit(name_of(&make_blob), vec![val(&8u64)], &on_node2);
    let sum: RayRef<Summary> = cluster.submit(name_of(&checksum), vec![by_ref(&blob)], &on_node1);
    let s = sum.get().await.map_err(fmt_err)?;
    let (to1, from1) = cluster.bytes().await.map_err(fmt_err)?;
    println!(
        "checksum(ref of make_blob(8) on node2) on node {} (pid {}): {} bytes, sum {}, {:.0} ms; payload bytes bridge->driver {}, driver->bridge {}",
        s.at.node, s.at.pid, s.len, s.sum, t.elapsed().as_secs_f64() * 1e3, to1 - to0, from1 - from0
    );
    check(s.len == 8 << 20 && s.at.node == short(&node1), "checksum: wrong length or node")?;
    check(to1 - to0 < 1024 && from1 - from0 < 1024, "the 8 MB value went through the driver")?;

    // The same through the driver (an unnecessary get): for contrast.
    let t = Instant::now();
    let b = blob.get().await.map_err(fmt_err)?;
    let sum2: RayRef<Summary> = cluster.submit(name_of(&checksum), vec![val(&b)], &on_node1);
    let s2 = sum2.get().await.map_err(fmt_err)?;
    let (to2, from2) = cluster.bytes().await.map_err(fmt_err)?;
    println!(
        "  contrast, get then pass by value: sum {}, {:.0} ms; bridge->driver {}, driver->bridge {}",
        s2.sum, t.elapsed().as_secs_f64() * 1e3, to2 - to1, from2 - from1
    );
    check(s2.sum == s.sum, "sums differ")
}

async fn failures(cluster: &Cluster) -> Result<(), String> {
    let none = Options::default();
    let r: RayRef<u64> = cluster.submit("no_such_function", vec![val(&1u64)], &none);
    let e = r.get().await.err().ok_or("unknown function succeeded")?;
    println!("unknown function -> {e}");
    check(e.kind == "unknown_function", "wrong kind")?;

    let r: RayRef<u64> = cluster.submit(name_of(&explode), vec![val(&7u64)], &Options { max_retries: Some(0), ..none.clone() });
    let e = r.get().await.err().ok_or("panic succeeded")?;
    println!("panic -> {e}");
    check(e.kind == "panic" && e.message.contains("explode was given 7"), "wrong kind or message")?;

    // A failed ref as an argument fails the dependent task without running it.
    let dep: RayRef<Doubled> = cluster.submit(name_of(&add_one), vec![by_ref(&r)], &none);
    let e = dep.get().await.err().ok_or("dependent succeeded")?;
    println!("task on a failed ref -> {e}");

    let r: RayRef<u64> = cluster.submit(name_of(&twice), vec![Arg::Value(vec![0xff, 0xff, 0xff])], &none);
    let e = r.get().await.err().ok_or("bad argument succeeded")?;
    println!("an argument that does not decode -> {e}");
    check(e.kind == "decode", "wrong kind")?;

    let r: RayRef<u64> = cluster.submit(name_of(&shout), vec![val(&5u64)], &none);
    let v = r.get().await.map_err(fmt_err)?;
    println!("a function that prints on stdout -> {v}");
    check(v == 5, "wrong value")?;

    let r: RayRef<u64> = cluster.submit(name_of(&sleep_ms), vec![val(&60_000u64)], &none);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = Instant::now();
    r.cancel(true);
    let e = tokio::time::timeout(Duration::from_secs(30), r.get()).await.map_err(|_| "cancel: still pending after 30 s")?;
    let e = e.err().ok_or("cancelled task succeeded")?;
    println!("cancel(force) of a running task -> after {:.1} s: {e}", t.elapsed().as_secs_f64());
    Ok(())
}

async fn bench(cluster: &Cluster, n: usize, runs: usize) -> Result<(), String> {
    /// Each ref awaited on its own (`.await` per ref: one get request and
    /// one Ray future callback per ref).
    async fn ours(cluster: &Cluster, n: usize) -> Result<f64, String> {
        let t = Instant::now();
        let refs: Vec<RayRef<u64>> = (0..n as u64).map(|i| cluster.submit(name_of(&twice), vec![val(&i)], &Options::default())).collect();
        let gets: Vec<_> = refs.into_iter().map(|r| tokio::spawn(async move { r.get().await })).collect();
        for (i, g) in gets.into_iter().enumerate() {
            let v = g.await.map_err(|e| e.to_string())?.map_err(fmt_err)?;
            check(v == 2 * i as u64, "wrong value")?;
        }
        Ok(t.elapsed().as_secs_f64())
    }
    /// Gathered in one request (`get_all`: one `ray.get` in the bridge).
    async fn ours_all(cluster: &Cluster, n: usize) -> Result<f64, String> {
        let t = Instant::now();
        let refs: Vec<RayRef<u64>> = (0..n as u64).map(|i| cluster.submit(name_of(&twice), vec![val(&i)], &Options::default())).collect();
        let values = cluster.get_all(&refs).await.map_err(fmt_err)?;
        check(values.iter().enumerate().all(|(i, &v)| v == 2 * i as u64), "wrong value")?;
        Ok(t.elapsed().as_secs_f64())
    }
    // Warm-up: worker processes started, binaries running on them.
    ours(cluster, n).await?;
    ours_all(cluster, n).await?;
    cluster.bench_python(n).await.map_err(fmt_err)?;
    let (mut a, mut g, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        // Rotate which goes first.
        for k in 0..3 {
            match (run + k) % 3 {
                0 => a.push(ours(cluster, n).await?),
                1 => g.push(ours_all(cluster, n).await?),
                _ => b.push(cluster.bench_python(n).await.map_err(fmt_err)?),
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.partial_cmp(y).unwrap());
        v[v.len() / 2]
    };
    let fmt = |v: &[f64]| v.iter().map(|s| format!("{:.3}", s)).collect::<Vec<_>>().join(" ");
    println!(
        "{n} tasks submitted then gathered, {runs} runs, order rotated (s):\n  taskref-ray, a get per ref: {}\n  taskref-ray, get_all:       {}\n  python ray, ray.get(list):  {}",
        fmt(&a), fmt(&g), fmt(&b)
    );
    let (ma, mg, mb) = (median(&mut a), median(&mut g), median(&mut b));
    let per = |m: f64| m / n as f64 * 1e6;
    println!(
        "median: get per ref {:.3} s ({:.0} us/task, {:.2}x), get_all {:.3} s ({:.0} us/task, {:.2}x), python ray {:.3} s ({:.0} us/task)",
        ma, per(ma), ma / mb, mg, per(mg), mg / mb, mb, per(mb)
    );
    Ok(())
}

async fn unreachable() -> Result<(), String> {
    let t = Instant::now();
    let r = Cluster::connect("127.0.0.1:9", &python(), Duration::from_secs(15)).await;
    let e = r.err().ok_or("connected to nothing")?;
    println!("unreachable address -> after {:.1} s: {e}", t.elapsed().as_secs_f64());
    check(t.elapsed() < Duration::from_secs(20), "not bounded")
}

/// A cluster of its own (scripts/ray_cluster.py), stopped while a task runs.
async fn cluster_goes_away() -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("taskref-ray-away-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("address");
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/ray_cluster.py");
    let mut child = tokio::process::Command::new(python())
        .arg(helper)
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = async {
        let t = Instant::now();
        let address = loop {
            if let Ok(a) = std::fs::read_to_string(&file) {
                break a;
            }
            check(t.elapsed() < Duration::from_secs(60), "second cluster did not start")?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let cluster = Cluster::connect(&address, &python(), Duration::from_secs(30)).await.map_err(fmt_err)?;
        let r: RayRef<u64> = cluster.submit(name_of(&sleep_ms), vec![val(&120_000u64)], &Options::default());
        tokio::time::sleep(Duration::from_secs(3)).await;
        let pid = child.id().unwrap().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().map_err(|e| e.to_string())?;
        let t = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(90), r.get()).await;
        let waited = t.elapsed().as_secs_f64();
        drop(r);
        cluster.shutdown().await;
        match outcome {
            Err(_) => Err(format!("get still pending {waited:.0} s after the cluster was stopped")),
            Ok(Ok(v)) => Err(format!("get returned {v} from a stopped cluster")),
            Ok(Err(e)) => {
                println!("cluster stopped during a task -> error after {waited:.1} s: {e}");
                Ok(())
            }
        }
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
