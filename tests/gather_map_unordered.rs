//! map_unordered: lazy submission bounded by max_in_flight, completion order.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use support::{runtime, within_deadline, Concurrency};
use taskref::Runtime;

#[tokio::test(start_paused = true)]
async fn yields_in_completion_order_with_input_indices() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let sleepy = rt.remote(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    let items: Vec<(usize, u64)> = taskref::map_unordered([30, 10, 20], 3, |ms| sleepy.remote(ms))
        .map(|(i, v)| (i, v.unwrap()))
        .collect()
        .await;
    assert_eq!(items, [(1, 10), (2, 20), (0, 30)]);
}

#[test]
fn never_more_than_max_in_flight_pending() {
    within_deadline(|| {
        let rt = runtime(2);
        let running = Concurrency::default();
        let probe = running.clone();
        let work = rt.remote(move |x: u32| {
            let probe = probe.clone();
            async move {
                let _guard = probe.enter();
                tokio::time::sleep(Duration::from_millis(2)).await;
                x
            }
        });
        let submitted = Arc::new(AtomicUsize::new(0));
        let counted = submitted.clone();
        let mut sum = 0;
        let results = taskref::block_map_unordered(0..200u32, 5, |x| {
            counted.fetch_add(1, Ordering::SeqCst);
            work.remote(x)
        })
        .unwrap();
        for (consumed, (_, v)) in results.enumerate() {
            sum += v.unwrap();
            assert!(
                submitted.load(Ordering::SeqCst) <= consumed + 1 + 5,
                "submits lazily"
            );
        }
        assert_eq!(sum, (0..200).sum::<u32>());
        assert!(running.peak() <= 5, "peak {}", running.peak());
    });
}

#[test]
fn errors_are_items_and_zero_in_flight_means_one() {
    within_deadline(|| {
        let rt = runtime(1);
        let f = rt.remote(|x: u32| async move {
            assert!(x != 3, "three is bad");
            x
        });
        let outcomes: Vec<_> = taskref::block_map_unordered(0..5, 0, |x| f.remote(x))
            .unwrap()
            .collect();
        assert_eq!(outcomes.len(), 5);
        let failed: Vec<usize> = outcomes
            .iter()
            .filter(|(_, o)| o.is_err())
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(failed, [3]);
    });
}

#[test]
fn a_panicking_submit_closure_leaves_the_runtime_serving() {
    within_deadline(|| {
        let rt = runtime(1);
        let f = rt.remote(|x: u32| async move { x });
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            taskref::block_map_unordered(0..10u32, 2, |x| {
                assert!(x < 4, "the submit closure panics");
                f.remote(x)
            })
            .unwrap()
            .count()
        }));
        assert!(caught.is_err());
        assert_eq!(f.remote(7).block_get().unwrap(), 7);
    });
}
