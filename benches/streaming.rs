//! Streaming returns against a plain tokio mpsc channel: a producer task
//! hands 100,000 `u64`s to a consumer, bounded at 1,024 in flight (and
//! unbounded). taskref makes each item a ready ref the consumer awaits; the
//! baseline sends the values themselves. Both in the same group, so the
//! ratio is what a ref per item costs (the target: within 1.5x).
//!
//! `cargo bench --bench streaming`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use taskref::Runtime;
use tokio::sync::mpsc;

const ITEMS: u64 = 100_000;
const BOUND: usize = 1024;

/// The baseline: a spawned producer and a consumer on a bounded channel.
async fn tokio_bounded(handle: &tokio::runtime::Handle, n: u64) -> u64 {
    let (tx, mut rx) = mpsc::channel(BOUND);
    handle.spawn(async move {
        for i in 0..n {
            if tx.send(i).await.is_err() {
                break;
            }
        }
    });
    let mut sum = 0;
    while let Some(v) = rx.recv().await {
        sum += v;
    }
    sum
}

async fn tokio_unbounded(handle: &tokio::runtime::Handle, n: u64) -> u64 {
    let (tx, mut rx) = mpsc::unbounded_channel();
    handle.spawn(async move {
        for i in 0..n {
            if tx.send(i).is_err() {
                break;
            }
        }
    });
    let mut sum = 0;
    while let Some(v) = rx.recv().await {
        sum += v;
    }
    sum
}

fn stream_items(c: &mut Criterion) {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let handle = rt.handle().clone();
    let bounded = rt
        .remote_stream(|n: u64| futures::stream::iter(0..n))
        .backpressure(BOUND);
    let unbounded = rt.remote_stream(|n: u64| futures::stream::iter(0..n));

    let mut group = c.benchmark_group("stream_items");
    group.sample_size(20);
    group.throughput(Throughput::Elements(ITEMS));
    group.bench_with_input(
        BenchmarkId::new("tokio_mpsc_bounded", ITEMS),
        &ITEMS,
        |b, &n| b.iter(|| handle.block_on(async { black_box(tokio_bounded(&handle, n).await) })),
    );
    group.bench_with_input(
        BenchmarkId::new("taskref_bounded", ITEMS),
        &ITEMS,
        |b, &n| {
            b.iter(|| {
                handle.block_on(async {
                    let mut items = bounded.remote(n);
                    let mut sum = 0;
                    while let Some(item) = items.next().await {
                        sum += item.await.unwrap();
                    }
                    black_box(sum)
                })
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("tokio_mpsc_unbounded", ITEMS),
        &ITEMS,
        |b, &n| b.iter(|| handle.block_on(async { black_box(tokio_unbounded(&handle, n).await) })),
    );
    group.bench_with_input(
        BenchmarkId::new("taskref_unbounded", ITEMS),
        &ITEMS,
        |b, &n| {
            b.iter(|| {
                handle.block_on(async {
                    let mut items = unbounded.remote(n);
                    let mut sum = 0;
                    while let Some(item) = items.next().await {
                        sum += item.await.unwrap();
                    }
                    black_box(sum)
                })
            })
        },
    );
    group.finish();
}

criterion_group!(benches, stream_items);
criterion_main!(benches);
