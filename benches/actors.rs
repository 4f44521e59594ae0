//! Actor calls against a hand-written tokio actor (a thread owning the state,
//! fed closures through an unbounded mpsc channel, answering on a oneshot),
//! the usual way to write an actor with plain tokio. Both in the same group,
//! so the ratio is taskref's cost for refs, ordering, failure handling and
//! observation: one call's round trip, and 10,000 calls submitted then
//! gathered.
//!
//! `cargo bench --bench actors`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::future::join_all;
use taskref::Runtime;
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce(&mut u64) + Send>;

/// The plain tokio actor: a thread that owns the state and runs jobs in order.
fn tokio_actor() -> mpsc::UnboundedSender<Job> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    std::thread::spawn(move || {
        let mut state = 0u64;
        while let Some(job) = rx.blocking_recv() {
            job(&mut state);
        }
    });
    tx
}

/// One call to the plain actor: its answer comes back on a oneshot.
fn tokio_call(actor: &mpsc::UnboundedSender<Job>) -> oneshot::Receiver<u64> {
    let (done, answer) = oneshot::channel();
    let job: Job = Box::new(move |n| {
        *n += 1;
        let _ = done.send(*n);
    });
    actor.send(job).expect("the actor thread lives");
    answer
}

fn actor_calls(c: &mut Criterion) {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let plain = tokio_actor();
    let actor = rt.actor(0u64);

    let mut group = c.benchmark_group("actor_call_one");
    group.bench_function("tokio_mpsc_actor", |b| {
        b.iter(|| tokio_rt.block_on(async { tokio_call(&plain).await.unwrap() }))
    });
    group.bench_function("taskref_actor", |b| {
        b.iter(|| {
            rt.handle().block_on(async {
                actor
                    .call(|n: &mut u64| {
                        *n += 1;
                        *n
                    })
                    .await
                    .unwrap()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("actor_calls_gathered");
    group.sample_size(20);
    let n = 10_000u64;
    group.bench_with_input(BenchmarkId::new("tokio_mpsc_actor", n), &n, |b, &n| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let answers: Vec<_> = (0..n).map(|_| tokio_call(&plain)).collect();
                black_box(join_all(answers).await.len())
            })
        })
    });
    group.bench_with_input(BenchmarkId::new("taskref_actor", n), &n, |b, &n| {
        b.iter(|| {
            rt.handle().block_on(async {
                let refs: Vec<_> = (0..n)
                    .map(|_| {
                        actor.call(|n: &mut u64| {
                            *n += 1;
                            *n
                        })
                    })
                    .collect();
                black_box(taskref::get_all(refs).await.unwrap().len())
            })
        })
    });
    group.finish();
}

criterion_group!(benches, actor_calls);
criterion_main!(benches);
