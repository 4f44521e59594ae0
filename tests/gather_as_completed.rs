//! as_completed: completion order, Stream composition, blocking twin.

mod support;

use std::time::Duration;

use futures::StreamExt;
use taskref::Runtime;

#[tokio::test(start_paused = true)]
async fn yields_in_completion_order_with_input_indices() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let sleepy = rt.remote(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    let delays = [50u64, 10, 40, 20, 30];
    let refs: Vec<_> = delays.iter().map(|&ms| sleepy.remote(ms)).collect();
    let items: Vec<(usize, u64)> = taskref::as_completed(refs)
        .map(|(i, v)| (i, v.unwrap()))
        .collect()
        .await;
    assert_eq!(items, [(1, 10), (3, 20), (4, 30), (2, 40), (0, 50)]);
}

#[tokio::test]
async fn errors_arrive_as_items_and_ready_refs_come_first() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let refs = vec![rt.put(1), rt.put(2), rt.spawn(async { panic!("bad") })];
    let mut stream = taskref::as_completed(refs);
    assert_eq!(stream.len(), 3);
    assert_eq!(stream.next().await.unwrap().0, 0);
    assert_eq!(stream.next().await.unwrap().0, 1);
    let (index, outcome) = stream.next().await.unwrap();
    assert_eq!(index, 2);
    assert!(outcome.unwrap_err().is_panic());
    assert!(stream.next().await.is_none());
    assert!(stream.is_empty());
}

#[tokio::test]
async fn composes_with_stream_combinators() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let refs: Vec<_> = (0..100u64).map(|i| rt.spawn(async move { i })).collect();
    let sum: u64 = taskref::as_completed(refs)
        .filter_map(|(_, v)| async move { v.ok() })
        .fold(0, |acc, v| async move { acc + v })
        .await;
    assert_eq!(sum, 4950);
}

#[test]
fn draining_many_ready_refs_is_linear() {
    // 200k items through as_completed must take well under a second per 100k on
    // any machine; a quadratic drain would take minutes.
    support::within_deadline(|| {
        let rt = support::runtime(1);
        let refs: Vec<_> = (0..200_000u64).map(|i| rt.put(i)).collect();
        let count = futures::executor::block_on(taskref::as_completed(refs).count());
        assert_eq!(count, 200_000);
    });
}

#[test]
fn blocking_twin_yields_every_item() {
    support::within_deadline(|| {
        let rt = support::runtime(2);
        let sleepy = rt.remote(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        });
        let refs: Vec<_> = [200u64, 5, 100]
            .iter()
            .map(|&ms| sleepy.remote(ms))
            .collect();
        let values: Vec<u64> = taskref::block_as_completed(refs)
            .unwrap()
            .map(|(_, v)| v.unwrap())
            .collect();
        assert_eq!(values, [5, 100, 200]);
    });
}
