//! Per-task overhead of taskref against plain tokio, in the same benchmark group
//! so the ratio is meaningful: submit + get of one trivial task, submit + gather
//! of 1,000 trivial tasks, and `put` + `try_get`.
//!
//! The fuller workload suite (W1-W7, O1, M1 of WORKLOADS.md) is tracked
//! separately; this bench keeps the core's hot path honest.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use taskref::Runtime;

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
    group.finish();
}

fn submit_and_gather(c: &mut Criterion) {
    let (rt, tokio_rt) = runtimes();
    let f = rt.remote(|i: u64| async move { i });
    let mut group = c.benchmark_group("submit_gather");
    for n in [1_000u64, 10_000] {
        group.bench_with_input(BenchmarkId::new("tokio_joinset", n), &n, |b, &n| {
            b.iter(|| {
                tokio_rt.block_on(async {
                    let mut set = tokio::task::JoinSet::new();
                    for i in 0..n {
                        set.spawn(async move { i });
                    }
                    let mut sum = 0;
                    while let Some(v) = set.join_next().await {
                        sum += v.unwrap();
                    }
                    sum
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("taskref_get_all", n), &n, |b, &n| {
            b.iter(|| {
                rt.handle().block_on(async {
                    let refs: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
                    taskref::get_all(refs)
                        .await
                        .unwrap()
                        .into_iter()
                        .sum::<u64>()
                })
            })
        });
    }
    group.finish();
}

fn put_and_try_get(c: &mut Criterion) {
    let (rt, _tokio_rt) = runtimes();
    let mut group = c.benchmark_group("put_try_get");
    group.bench_function("arc_baseline", |b| {
        b.iter(|| std::sync::Arc::new(std::hint::black_box(7u64)))
    });
    group.bench_function("taskref_put_try_get", |b| {
        b.iter(|| rt.put(std::hint::black_box(7u64)).try_get())
    });
    group.finish();
}

criterion_group!(
    benches,
    submit_and_get_one,
    submit_and_gather,
    put_and_try_get
);
criterion_main!(benches);
