//! taskref with the ecosystem's own tools: `tokio::select!`, `futures`
//! combinators, `StreamExt`.

mod support;

use std::time::Duration;

use futures::future::{self, Either, FutureExt};
use futures::StreamExt;
use taskref::Runtime;

fn attached() -> Runtime {
    Runtime::from_handle(tokio::runtime::Handle::current())
}

#[tokio::test(start_paused = true)]
async fn an_object_ref_in_tokio_select() {
    let rt = attached();
    let slow = rt.spawn(async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        "slow"
    });
    let fast = rt.spawn(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        "fast"
    });
    let winner = tokio::select! {
        v = slow.get() => v.unwrap(),
        v = fast.get() => v.unwrap(),
    };
    assert_eq!(winner, "fast");
    // Losing the race cancelled only the get, not the task.
    assert!(!slow.is_ready());
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        _ = &slow => panic!("not yet"),
    }
    assert_eq!(slow.await.unwrap(), "slow");
}

#[tokio::test]
async fn futures_combinators() {
    let rt = attached();
    let a = rt.spawn(async { 1 });
    let b = rt.spawn(async { 2 });
    let (x, y) = future::join(a.get(), b.get()).await;
    assert_eq!(x.unwrap() + y.unwrap(), 3);
    let doubled = a.get().map(|v| v.unwrap() * 2).await;
    assert_eq!(doubled, 2);
    let pending = rt.spawn(std::future::pending::<u8>());
    match future::select(pending.get(), b.get()).await {
        Either::Right((v, _)) => assert_eq!(v.unwrap(), 2),
        Either::Left(_) => panic!("the pending one cannot win"),
    }
    let all = future::try_join_all(vec![a.get(), b.get()]).await.unwrap();
    assert_eq!(all, [1, 2]);
    let shared = rt.spawn(async { 5 }).into_future().shared();
    assert_eq!(shared.clone().await.unwrap(), 5);
    assert_eq!(shared.await.unwrap(), 5);
}

#[tokio::test]
async fn streams_compose_with_stream_ext() {
    let rt = attached();
    let f = rt.remote(|x: u64| async move { x * x });
    let evens: Vec<u64> = taskref::as_completed((0..20).map(|x| f.remote(x)))
        .filter_map(|(_, v)| async move { v.ok() })
        .filter(|v| future::ready(v % 2 == 0))
        .collect()
        .await;
    assert_eq!(evens.len(), 10);
    let total: u64 = taskref::map_unordered(0..50, 4, |x| f.remote(x))
        .map(|(_, v)| v.unwrap())
        .fold(0, |acc, v| async move { acc + v })
        .await;
    assert_eq!(total, (0..50).map(|x| x * x).sum::<u64>());
    let mut chunks = taskref::as_completed((0..10).map(|x| f.remote(x))).ready_chunks(4);
    let mut seen = 0;
    while let Some(chunk) = chunks.next().await {
        assert!(chunk.len() <= 4);
        seen += chunk.len();
    }
    assert_eq!(seen, 10);
}

use std::future::IntoFuture;
