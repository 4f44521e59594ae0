//! Taskref on a real Ray cluster: the same calls as in-process, run by Ray.
//!
//! Run with `scripts/ray-cluster cargo test --test cluster` (a local cluster
//! of two raylets; the second has the resource `node2`). Without a cluster
//! (`RAY_ADDRESS` unset) every test is skipped with one line; with
//! `TASKREF_REQUIRE_CLUSTER=1` (as `.ci/run` sets) a skip is a failure.
//!
//! This file has its own `main` (`harness = false`): the test binary is also
//! the program Ray runs on its workers, and the runtime's `build()` serves
//! calls there, which libtest's harness could not do. Each test runs under a
//! watchdog, so a hang fails within a bound instead of stalling the run.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use taskref::{ClusterFailure, Error, Runtime};

// ------------------------------------------------------------ the functions

#[taskref::remote]
fn double(x: u64) -> u64 {
    2 * x
}

#[taskref::remote]
async fn add(a: u64, b: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    a + b
}

/// The process the call ran in.
#[taskref::remote]
fn pid(_tag: u64) -> u32 {
    std::process::id()
}

#[taskref::remote]
fn blob(len: usize) -> Vec<u8> {
    vec![7; len]
}

#[taskref::remote]
fn total(bytes: Vec<u8>) -> u64 {
    bytes.iter().map(|&b| u64::from(b)).sum()
}

#[taskref::remote]
fn explode(x: u64) -> u64 {
    panic!("explode was given {x}")
}

#[derive(Debug, Serialize, Deserialize)]
struct NotANumber(String);

impl std::fmt::Display for NotANumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a number", self.0)
    }
}

impl std::error::Error for NotANumber {}

#[taskref::remote]
fn parse(s: String) -> Result<u32, NotANumber> {
    s.parse().map_err(|_| NotANumber(s))
}

#[taskref::remote]
fn twice(x: u32) -> u32 {
    2 * x
}

#[taskref::remote]
fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Exits the worker binary mid-call.
#[taskref::remote]
fn die(code: i32) -> u64 {
    std::process::exit(code)
}

/// Kills the Ray worker process that runs it (the program's parent there).
#[taskref::remote]
fn kill_ray_worker(_x: u64) -> u64 {
    let ray_worker = std::os::unix::process::parent_id();
    let _ = std::process::Command::new("kill")
        .args(["-9", &ray_worker.to_string()])
        .status();
    std::thread::sleep(Duration::from_secs(30));
    0
}

/// A value the driver cannot decode: it serializes as a string, and
/// deserializes only from an integer.
#[derive(Debug, Clone)]
struct Stubborn;

impl Serialize for Stubborn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("not what the driver expects")
    }
}

impl<'de> Deserialize<'de> for Stubborn {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(format!(
            "Stubborn never deserializes ({})",
            std::any::type_name::<D>()
        )))
    }
}

#[taskref::remote]
fn stubborn(_x: u64) -> Stubborn {
    Stubborn
}

/// An actor's state, living in a Ray actor's worker process on the cluster.
struct Tally {
    total: u64,
    calls: u64,
}

#[taskref::remote]
impl Tally {
    fn new(start: u64) -> Tally {
        Tally {
            total: start,
            calls: 0,
        }
    }

    fn broken(_start: u64) -> Tally {
        panic!("Tally::broken never builds")
    }

    fn add(&mut self, x: u64) -> u64 {
        self.calls += 1;
        self.total += x;
        self.total
    }

    fn calls(&mut self) -> u64 {
        self.calls
    }

    fn pid(&mut self) -> u32 {
        std::process::id()
    }

    fn fail(&mut self, why: String) -> u64 {
        panic!("{why}")
    }

    fn nap(&mut self, ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        self.total
    }
}

// ------------------------------------------------------------ the tests

type Test = fn(&Runtime);

const TESTS: &[(&str, Test)] = &[
    (
        "calls_run_in_worker_processes_and_values_come_back",
        calls_run_in_worker_processes,
    ),
    (
        "async_and_blocking_functions_gather_in_order",
        gather_in_order,
    ),
    (
        "a_ref_passed_on_never_goes_through_the_driver",
        refs_stay_on_the_cluster,
    ),
    (
        "wait_and_as_completed_see_cluster_tasks",
        wait_and_as_completed,
    ),
    (
        "put_values_and_local_refs_are_sent_by_value",
        put_and_local_refs,
    ),
    (
        "closures_stay_in_the_driver_and_read_cluster_refs",
        closures_stay_local,
    ),
    (
        "a_panic_on_a_worker_is_task_panicked_and_fails_dependents",
        panics,
    ),
    (
        "an_err_is_task_failed_and_retry_on_error_retries",
        errors_and_retries,
    ),
    ("a_worker_that_dies_is_a_cluster_error", worker_death),
    (
        "a_result_that_does_not_decode_is_a_serialization_error",
        undecodable,
    ),
    ("infeasible_and_invalid_requests_fail_at_once", infeasible),
    ("cancel_and_timeout_stop_cluster_tasks", cancel_and_timeout),
    ("stats_timeline_and_detector_see_cluster_tasks", observation),
    (
        "an_unreachable_cluster_fails_build_within_its_timeout",
        unreachable_cluster,
    ),
    ("losing_the_cluster_fails_pending_refs", losing_the_cluster),
    ("panics_are_retried_by_ray_and_counted", panic_retries),
    ("an_actor_runs_on_the_cluster_in_call_order", actor_in_order),
    ("actor_failures_are_values", actor_failures),
    (
        "a_named_cluster_actor_is_found_and_bounded_as_in_process",
        named_and_bounded_actor,
    ),
    (
        "refs_read_after_their_tasks_finished_and_polling_loops_end",
        late_reads_and_polling,
    ),
];

fn late_reads_and_polling(rt: &Runtime) {
    let double = rt.remote_blocking(double);
    let refs: Vec<_> = (0..10).map(|i| double.remote(i)).collect();
    std::thread::sleep(Duration::from_millis(1500));
    // The refs are the slots' only owners now: gathering them by value works.
    assert_eq!(taskref::block_get_all(refs).unwrap()[9], 18);
    let r = double.remote(4);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !r.is_ready() {
        assert!(Instant::now() < deadline, "polling is_ready never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(r.try_get().unwrap().unwrap(), 8);
    // A fallible function's ref passed on: the dependent gets the `Ok` value.
    let parsed = rt.try_remote_blocking(parse).remote("21".to_owned());
    assert_eq!(
        rt.remote_blocking(twice)
            .remote(parsed)
            .block_get()
            .unwrap(),
        42
    );
}

fn unreachable_cluster(_rt: &Runtime) {
    let started = Instant::now();
    let err = Runtime::builder()
        .ray("127.0.0.1:9")
        .ray_connect_timeout(Duration::from_secs(15))
        .build()
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.contains("127.0.0.1:9"),
        "says what was tried: {message}"
    );
}

fn calls_run_in_worker_processes(rt: &Runtime) {
    let pid = rt.remote_blocking(pid);
    let theirs = pid.remote(1).block_get().unwrap();
    assert_ne!(
        theirs,
        std::process::id(),
        "the call ran in another process"
    );
    let on_node2 = pid
        .clone()
        .resource("node2", 0.01)
        .remote(2)
        .block_get()
        .unwrap();
    assert_ne!(on_node2, std::process::id());
    assert_eq!(
        rt.remote_blocking(double).remote(21).block_get().unwrap(),
        42
    );
}

fn gather_in_order(rt: &Runtime) {
    let double = rt.remote_blocking(double);
    let add = rt.remote(add);
    let refs: Vec<_> = (0..50).map(|i| double.remote(i)).collect();
    assert_eq!(
        taskref::block_get_all(refs.clone()).unwrap(),
        (0..50).map(|i| 2 * i).collect::<Vec<_>>()
    );
    let sums: Vec<_> = refs.iter().map(|r| add.remote((r, 1))).collect();
    assert_eq!(
        taskref::block_get_all(sums).unwrap(),
        (0..50).map(|i| 2 * i + 1).collect::<Vec<_>>()
    );
}

fn refs_stay_on_the_cluster(rt: &Runtime) {
    const LEN: usize = 4 << 20;
    let cluster = rt.cluster().unwrap();
    let before = cluster.bytes_to_driver();
    let made = rt.remote_blocking(blob).resource("node2", 0.01).remote(LEN);
    let sum = rt.remote_blocking(total).remote(&made);
    assert_eq!(sum.block_get().unwrap(), 7 * LEN as u64);
    let moved = cluster.bytes_to_driver() - before;
    assert!(
        moved < 1024,
        "{moved} bytes came to the driver for a passed ref"
    );
    // Reading it brings it here.
    assert_eq!(made.block_get().unwrap().len(), LEN);
    assert!(cluster.bytes_to_driver() - before >= LEN as u64);
}

fn wait_and_as_completed(rt: &Runtime) {
    // A quarter CPU each: the two nodes' two CPUs run all of them at once.
    let sleep = rt.remote_blocking(sleep_ms).num_cpus(0.25);
    let refs = vec![sleep.remote(3_000), sleep.remote(10)];
    let (ready, pending) = taskref::block_wait(&refs, 1, Some(Duration::from_secs(20))).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(pending.len(), 1);
    assert_eq!(ready[0].block_get().unwrap(), 10);
    assert!(pending[0].cancel());
    // The cancel kills the Ray worker that ran the task (`force=True`); Ray
    // may already have leased that worker for the next task, which then
    // dies with it (seen once in CI): a retry covers that.
    let sleep = sleep.max_retries(1);
    let order: Vec<u64> = rt.handle().clone().block_on(async {
        use futures::StreamExt;
        let refs = vec![sleep.remote(1_500), sleep.remote(10)];
        taskref::as_completed(refs)
            .map(|(_, r)| r.unwrap())
            .collect::<Vec<_>>()
            .await
    });
    assert_eq!(order, [10, 1_500]);
}

fn put_and_local_refs(rt: &Runtime) {
    let total = rt.remote_blocking(total);
    let data = rt.put(vec![1u8; 1000]);
    assert_eq!(total.remote(&data).block_get().unwrap(), 1000);
    let local = rt.spawn(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        vec![2u8; 10]
    });
    assert_eq!(total.remote(local).block_get().unwrap(), 20);
}

fn closures_stay_local(rt: &Runtime) {
    let me = std::process::id();
    let here = rt.remote_blocking(move |_: u64| std::process::id());
    assert_eq!(here.remote(0).block_get().unwrap(), me);
    let remote = rt.remote_blocking(double).remote(5);
    let plus = rt.remote(|x: u64| async move { x + 1 });
    assert_eq!(plus.remote(remote).block_get().unwrap(), 11);
}

fn panics(rt: &Runtime) {
    let r = rt.remote_blocking(explode).remote(7);
    match r.block_get() {
        Err(Error::TaskPanicked { message, .. }) => {
            assert!(message.contains("explode was given 7"), "{message}")
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    let dependent = rt
        .remote_blocking(double)
        .remote(&r)
        .block_get()
        .unwrap_err();
    assert!(dependent.is_dependency_failed(), "{dependent}");
    assert!(dependent.root_cause().is_panic(), "{dependent}");
    let later = rt
        .remote_blocking(double)
        .remote(rt.remote_blocking(explode).remote(1));
    let err = later.block_get().unwrap_err();
    assert!(err.is_dependency_failed(), "{err}");
}

fn actor_in_order(rt: &Runtime) {
    let tally = rt
        .actor_builder()
        .name("tally")
        .resource("node2", 0.01)
        .spawn_with(Tally::new, 100)
        .unwrap();
    let refs: Vec<_> = (1..=50).map(|i| tally.call_with(i, Tally::add)).collect();
    let totals = taskref::block_get_all(refs).unwrap();
    assert_eq!(totals.last(), Some(&(100 + 50 * 51 / 2)));
    assert!(
        totals.windows(2).all(|w| w[0] < w[1]),
        "calls ran in submission order"
    );
    assert_eq!(tally.call(Tally::calls).block_get().unwrap(), 50);
    assert_ne!(
        tally.call(Tally::pid).block_get().unwrap(),
        std::process::id()
    );
    // A ref made by a task goes to the actor as a ref.
    let made = rt.remote_blocking(double).remote(10);
    assert_eq!(
        tally.call_with(&made, Tally::add).block_get().unwrap(),
        1395
    );
    // A closure cannot be named on a worker.
    let err = tally.call(|t: &mut Tally| t.total).block_get().unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
    tally.kill();
    let err = tally.call_with(1, Tally::add).block_get().unwrap_err();
    assert!(err.is_actor_died(), "{err}");
}

fn named_and_bounded_actor(rt: &Runtime) {
    let tally = rt
        .actor_builder()
        .name("counted")
        .max_pending_calls(2)
        .max_task_retries(1)
        .spawn_with(Tally::new, 0)
        .unwrap();
    let found = rt.get_actor::<Tally>("counted").unwrap();
    assert_eq!(found.call_with(5, Tally::add).block_get().unwrap(), 5);
    let again = rt
        .actor_builder()
        .name("counted")
        .get_if_exists()
        .spawn_with(Tally::new, 100)
        .unwrap();
    assert_eq!(
        again.call(Tally::calls).block_get().unwrap(),
        1,
        "the same actor"
    );
    let err = rt.get_actor::<u8>("counted").unwrap_err();
    assert!(err.is_invalid_argument(), "another state type: {err}");
    // Two calls pending (the bound, kept on the driver): the third is refused
    // at once, and room comes back as they end.
    let slow: Vec<_> = (0..2).map(|_| tally.call_with(300, Tally::nap)).collect();
    let refused = tally.call_with(1, Tally::add);
    assert!(refused.is_ready(), "refused at once");
    let err = refused.block_get().unwrap_err();
    assert!(err.is_pending_calls_limit_exceeded(), "{err}");
    taskref::block_get_all(slow).unwrap();
    assert_eq!(tally.call_with(1, Tally::add).block_get().unwrap(), 6);
    tally.kill();
    let err = rt.get_actor::<Tally>("counted").unwrap_err();
    assert!(err.to_string().contains("killed"), "{err}");
}

fn actor_failures(rt: &Runtime) {
    let tally = rt.actor_builder().spawn_with(Tally::new, 0).unwrap();
    let err = tally
        .call_with("no".to_owned(), Tally::fail)
        .block_get()
        .unwrap_err();
    assert!(err.is_panic(), "{err}");
    assert_eq!(
        tally.call_with(2, Tally::add).block_get().unwrap(),
        2,
        "the actor lived on"
    );
    let broken = rt
        .actor_builder()
        .name("broken")
        .spawn_with(Tally::broken, 0)
        .unwrap();
    let err = broken
        .call(Tally::calls)
        .block_get_timeout(Duration::from_secs(60))
        .unwrap_err();
    assert!(err.is_actor_died(), "{err}");
    assert!(err.to_string().contains("broken"), "names the actor: {err}");
}

fn panic_retries(rt: &Runtime) {
    match rt
        .remote_blocking(explode)
        .max_retries(2)
        .remote(3)
        .block_get()
    {
        Err(Error::TaskPanicked { attempts, .. }) => assert_eq!(attempts, 3),
        other => panic!("expected a panic after 3 attempts, got {other:?}"),
    }
}

fn errors_and_retries(rt: &Runtime) {
    let parse = rt.try_remote_blocking(parse);
    assert_eq!(parse.remote("12".to_owned()).block_get().unwrap(), 12);
    let err = parse.remote("x".to_owned()).block_get().unwrap_err();
    assert!(err.is_failed(), "{err}");
    use std::error::Error as _;
    assert_eq!(err.source().unwrap().to_string(), "\"x\" is not a number");
    let retried = parse.clone().max_retries(2).retry_on_error(true);
    match retried.remote("y".to_owned()).block_get() {
        Err(Error::TaskFailed { attempts, .. }) => assert_eq!(attempts, 3),
        other => panic!("expected TaskFailed after 3 attempts, got {other:?}"),
    }
}

fn worker_death(rt: &Runtime) {
    let err = rt.remote_blocking(die).remote(3).block_get().unwrap_err();
    assert_eq!(
        err.cluster_failure(),
        Some(ClusterFailure::WorkerDied),
        "{err}"
    );
    assert!(
        err.to_string().contains("tests/cluster.rs"),
        "names the call site: {err}"
    );
    // The next call gets a fresh worker binary.
    assert_eq!(rt.remote_blocking(double).remote(2).block_get().unwrap(), 4);
    // The Ray worker process itself killed: Ray reports it, after its retries.
    let err = rt
        .remote_blocking(kill_ray_worker)
        .remote(1)
        .block_get_timeout(Duration::from_secs(60))
        .unwrap_err();
    assert_eq!(
        err.cluster_failure(),
        Some(ClusterFailure::WorkerDied),
        "{err}"
    );
}

fn undecodable(rt: &Runtime) {
    let err = rt
        .remote_blocking(stubborn)
        .remote(1)
        .block_get()
        .unwrap_err();
    assert_eq!(
        err.cluster_failure(),
        Some(ClusterFailure::Serialization),
        "{err}"
    );
    assert!(err.to_string().contains("Stubborn"), "{err}");
}

fn infeasible(rt: &Runtime) {
    let err = rt
        .remote_blocking(double)
        .resource("node3", 1.0)
        .remote(1)
        .block_get()
        .unwrap_err();
    assert!(err.is_infeasible(), "{err}");
    let err = rt
        .remote_blocking(double)
        .num_cpus(64.0)
        .remote(1)
        .block_get()
        .unwrap_err();
    assert!(err.is_infeasible(), "{err}");
    let err = rt
        .remote_blocking(double)
        .num_cpus(-1.0)
        .remote(1)
        .block_get()
        .unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
}

fn cancel_and_timeout(rt: &Runtime) {
    let sleep = rt.remote_blocking(sleep_ms);
    let long = sleep.remote(60_000);
    std::thread::sleep(Duration::from_millis(500));
    assert!(long.cancel());
    assert!(long.block_get().unwrap_err().is_cancelled());
    let started = Instant::now();
    let err = sleep
        .clone()
        .timeout(Duration::from_millis(500))
        .remote(60_000)
        .block_get()
        .unwrap_err();
    assert!(err.is_task_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // The cluster's CPUs are free again: a quick call still runs.
    let quick = sleep.remote(1).block_get_timeout(Duration::from_secs(60));
    assert_eq!(quick.unwrap(), 1);
}

fn observation(rt: &Runtime) {
    rt.reset_stats();
    let double = rt.remote_blocking(double);
    for i in 0..5 {
        // Get in a loop, on purpose.
        let _ = double.remote(i).block_get().unwrap();
    }
    let stats = rt.stats();
    assert!(stats.finished >= 5, "{stats:?}");
    assert!(
        rt.timeline().tasks().len() >= 5,
        "cluster tasks are on the timeline"
    );
    // The detector sees a get in a loop over cluster tasks as over local ones.
    let strict = cluster_builder()
        .anti_patterns(taskref::AntiPatterns::Deny)
        .build()
        .unwrap();
    let strict_double = strict.remote_blocking(self::double);
    let refused = (0..10).find_map(|i| strict_double.remote(i).block_get().err());
    let err = refused.expect("a get in a loop is refused under Deny");
    assert!(err.is_anti_pattern(), "{err}");
    assert!(err.to_string().contains("get in a loop"), "{err}");
    strict.shutdown();
}

fn losing_the_cluster(_rt: &Runtime) {
    // A second driver of its own: this test takes its connection away.
    let rt = connect();
    let pending = rt.remote_blocking(sleep_ms).remote(30_000);
    std::thread::sleep(Duration::from_millis(300));
    let bridge = rt.cluster().unwrap().bridge_pid().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &bridge.to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let err = pending
        .block_get_timeout(Duration::from_secs(20))
        .unwrap_err();
    assert_eq!(
        err.cluster_failure(),
        Some(ClusterFailure::Disconnected),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let after = rt
        .remote_blocking(double)
        .remote(1)
        .block_get()
        .unwrap_err();
    assert_eq!(
        after.cluster_failure(),
        Some(ClusterFailure::Disconnected),
        "{after}"
    );
}

// ------------------------------------------------------------ the harness

/// A runtime builder for the cluster the tests run on.
fn cluster_builder() -> taskref::Builder {
    Runtime::builder().ray(std::env::var("RAY_ADDRESS").unwrap_or_else(|_| "auto".to_owned()))
}

fn connect() -> Runtime {
    cluster_builder()
        .ray_connect_timeout(Duration::from_secs(90))
        .build()
        .expect("connect to the cluster")
}

/// How long one test may take before it counts as a hang.
const WATCHDOG: Duration = Duration::from_secs(120);

fn main() {
    let on_worker = std::env::var_os("TASKREF_RAY_WORKER").is_some();
    if !on_worker && std::env::var_os("RAY_ADDRESS").is_none() {
        println!(
            "cluster tests skipped: RAY_ADDRESS is not set (run them with \
             `scripts/ray-cluster cargo test --test cluster`)"
        );
        if std::env::var_os("TASKREF_REQUIRE_CLUSTER").is_some() {
            eprintln!("TASKREF_REQUIRE_CLUSTER is set: a skipped cluster test is a failure");
            std::process::exit(1);
        }
        return;
    }
    // On a worker this serves calls and never returns.
    let rt = connect();
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in TESTS {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let started = Instant::now();
        let (tx, rx) = mpsc::channel();
        let rt2 = rt.clone();
        let test = *test;
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&rt2)));
            let _ = tx.send(outcome.is_ok());
        });
        let verdict = match rx.recv_timeout(WATCHDOG) {
            Ok(true) => "ok",
            Ok(false) => "FAILED",
            Err(_) => "FAILED (hung: no result within the watchdog)",
        };
        println!(
            "test {name} ... {verdict} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        if verdict != "ok" {
            failed.push(*name);
        }
    }
    println!(
        "\ncluster tests: {} passed, {} failed (on {} nodes, Ray {})",
        ran - failed.len(),
        failed.len(),
        rt.cluster().map_or(0, |c| c.nodes().len()),
        rt.cluster()
            .map_or_else(String::new, |c| c.ray_version().to_owned()),
    );
    rt.shutdown();
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
