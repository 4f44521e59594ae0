//! Per-task overhead of taskref against plain tokio, each operation beside its
//! tokio equivalent in the same benchmark group so the ratio is meaningful:
//! submit + get of one trivial task, submit + gather of 1,000 and 100,000
//! trivial tasks, `put`, `try_get`, and `as_completed` over 100,000 ready refs.
//!
//! `cargo bench --bench overhead`. The workload suite of WORKLOADS.md is
//! `cargo bench --bench workloads`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::future::{join_all, FutureExt};
use futures::StreamExt;
use taskref::Runtime;
use tokio::task::JoinSet;

fn runtimes() -> (Runtime, tokio::runtime::Runtime) {
    let taskref = Runtime::builder().worker_threads(2).build().unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    (taskref, tokio)
}

fn submit_and_get_one(c: &mut Criterion) {
    let (rt, tokio_rt) = runtimes();
    let f = rt.remote(|i: u64| async move { i });
    let mut group = c.benchmark_group("submit_get_one");
    group.bench_function("tokio_spawn_await", |b| {
        b.iter(|| tokio_rt.block_on(async { tokio::spawn(async { 1u64 }).await.unwrap() }))
    });
    group.bench_function("taskref_remote_await", |b| {
        b.iter(|| rt.handle().block_on(async { f.remote(1).await.unwrap() }))
    });
    group.bench_function("tokio_block_on_handle", |b| {
        let handle = tokio_rt.handle();
        b.iter(|| handle.block_on(handle.spawn(async { 1u64 })).unwrap())
    });
    group.bench_function("taskref_block_get", |b| {
        b.iter(|| f.remote(1).block_get().unwrap())
    });
    group.finish();
}

fn submit_and_gather(c: &mut Criterion) {
    let (rt, tokio_rt) = runtimes();
    let f = rt.remote(|i: u64| async move { i });
    let mut group = c.benchmark_group("submit_gather");
    group.sample_size(20);
    for n in [1_000u64, 100_000] {
        group.bench_with_input(BenchmarkId::new("tokio_join_all", n), &n, |b, &n| {
            b.iter(|| {
                tokio_rt.block_on(async {
                    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
                    join_all(handles).await.len()
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("taskref_get_all", n), &n, |b, &n| {
            b.iter(|| {
                rt.handle().block_on(async {
                    let refs: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
                    taskref::get_all(refs).await.unwrap().len()
                })
            })
        });
    }
    group.finish();
}

fn put_and_try_get(c: &mut Criterion) {
    let (rt, _tokio_rt) = runtimes();
    let mut group = c.benchmark_group("put");
    // The nearest plain equivalent of a put ref: a ready, cloneable future.
    group.bench_function("futures_ready_shared", |b| {
        b.iter(|| futures::future::ready(black_box(7u64)).shared())
    });
    group.bench_function("taskref_put", |b| b.iter(|| rt.put(black_box(7u64))));
    group.finish();

    let mut group = c.benchmark_group("try_get");
    let shared = futures::future::ready(7u64).shared();
    let _ = shared.clone().now_or_never();
    group.bench_function("futures_shared_peek", |b| {
        b.iter(|| *black_box(&shared).peek().unwrap())
    });
    let r = rt.put(7u64);
    group.bench_function("taskref_try_get", |b| {
        b.iter(|| black_box(&r).try_get().unwrap().unwrap())
    });
    group.finish();
}

fn as_completed_ready(c: &mut Criterion) {
    let (rt, tokio_rt) = runtimes();
    let n = 100_000u64;
    let mut group = c.benchmark_group("as_completed_100k_ready");
    group.sample_size(10);
    group.bench_function("tokio_joinset_drain", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut set = JoinSet::new();
                let _guard = tokio_rt.enter();
                for i in 0..n {
                    set.spawn(async move { i });
                }
                // Let every task finish before timing the drain.
                while set.len() as u64 != n || tokio_rt.metrics().num_alive_tasks() > 0 {
                    std::thread::yield_now();
                }
                let start = Instant::now();
                tokio_rt.block_on(async { while set.join_next().await.is_some() {} });
                total += start.elapsed();
            }
            total
        })
    });
    group.bench_function("taskref_as_completed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let refs: Vec<_> = (0..n).map(|i| rt.spawn(async move { i })).collect();
                taskref::block_get_all(refs.iter().cloned()).unwrap();
                let start = Instant::now();
                let count = rt.handle().block_on(taskref::as_completed(refs).count());
                total += start.elapsed();
                assert_eq!(count as u64, n);
            }
            total
        })
    });
    group.finish();
}

/// The detector's cost: the same work on a runtime with the detector on
/// (`Warn`, the default) and off, in one group. O1's shape (10,000 trivial
/// tasks submitted from a task and gathered there) and W1's (100 trivial
/// tasks, got one at a time in a loop, the pattern the detector looks at;
/// and gathered).
fn detector_on_off(c: &mut Criterion) {
    let mut group = c.benchmark_group("detector_on_off");
    group.sample_size(30);
    for (label, mode) in [
        ("on", taskref::AntiPatterns::Warn),
        ("off", taskref::AntiPatterns::Off),
    ] {
        let rt = Runtime::builder()
            .worker_threads(2)
            .anti_patterns(mode)
            .build()
            .unwrap();
        let f = rt.remote(|i: u64| async move { i });
        let inner = rt.clone();
        group.bench_function(BenchmarkId::new("o1_get_all_in_task_10k", label), |b| {
            b.iter(|| {
                let inner = inner.clone();
                rt.spawn(async move {
                    let g = inner.remote(|i: u64| async move { i });
                    let refs: Vec<_> = (0..10_000).map(|i| g.remote(i)).collect();
                    taskref::get_all(refs).await.unwrap().len()
                })
                .block_get()
                .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("w1_get_in_a_loop_100", label), |b| {
            b.iter(|| {
                (0..100)
                    .map(|i| f.remote(i).block_get().unwrap())
                    .sum::<u64>()
            })
        });
        group.bench_function(BenchmarkId::new("w1_gathered_100", label), |b| {
            b.iter(|| {
                let refs: Vec<_> = (0..100).map(|i| f.remote(i)).collect();
                taskref::block_get_all(refs).unwrap().len()
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    submit_and_get_one,
    submit_and_gather,
    put_and_try_get,
    as_completed_ready,
    detector_on_off
);
criterion_main!(benches);
