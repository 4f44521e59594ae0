//! get_all / get_all_settled: input order, fail fast, empty input.

mod support;

use std::time::Duration;

use support::within_deadline;
use taskref::{Error, Runtime};

#[tokio::test(start_paused = true)]
async fn get_all_keeps_input_order_whatever_the_completion_order() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let sleepy = rt.remote(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    let delays = [50, 10, 40, 20, 30, 0];
    let refs: Vec<_> = delays.iter().map(|&ms| sleepy.remote(ms)).collect();
    assert_eq!(taskref::get_all(refs).await.unwrap(), delays);
}

#[tokio::test(start_paused = true)]
async fn get_all_fails_fast_without_waiting_for_the_rest() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let never = rt.spawn(std::future::pending::<u32>());
    let failing = rt.spawn(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        panic!("early failure")
    });
    let refs = vec![never.clone(), failing, rt.put(3)];
    let err = tokio::time::timeout(Duration::from_secs(3600), taskref::get_all(refs))
        .await
        .expect("fail fast: must not wait for the pending task")
        .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("early failure"), "{err}");
    assert!(!never.is_ready(), "the other task keeps running");
}

#[tokio::test]
async fn get_all_of_nothing_is_empty() {
    let none: Vec<taskref::ObjectRef<u8>> = Vec::new();
    assert!(taskref::get_all(none).await.unwrap().is_empty());
    assert!(
        taskref::get_all_settled(Vec::<taskref::ObjectRef<u8>>::new())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn get_all_settled_reports_every_outcome_in_order() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let refs = vec![
        rt.spawn(async { 1 }),
        rt.spawn(async { panic!("two") }),
        rt.spawn(async { 3 }),
    ];
    let outcomes = taskref::get_all_settled(refs).await;
    assert_eq!(*outcomes[0].as_ref().unwrap(), 1);
    assert!(matches!(&outcomes[1], Err(Error::TaskPanicked { message, .. }) if message == "two"));
    assert_eq!(*outcomes[2].as_ref().unwrap(), 3);
}

#[test]
fn gathered_is_much_faster_than_awaited_in_a_loop() {
    within_deadline(|| {
        let rt = support::runtime(2);
        let sleepy = rt.remote(|i: u64| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            i
        });
        let start = std::time::Instant::now();
        let looped: Vec<u64> = (0..100)
            .map(|i| sleepy.remote(i).block_get().unwrap())
            .collect();
        let loop_time = start.elapsed();

        let start = std::time::Instant::now();
        let refs: Vec<_> = (0..100).map(|i| sleepy.remote(i)).collect();
        let gathered = taskref::block_get_all(refs).unwrap();
        let gather_time = start.elapsed();

        assert_eq!(looped, gathered);
        // 100 sequential sleeps vs one round of concurrent sleeps: ~100x apart; ask
        // for 5x so a noisy machine never flakes.
        assert!(
            gather_time * 5 < loop_time,
            "gathered {gather_time:?} vs loop {loop_time:?}"
        );
    });
}

#[test]
fn get_all_future_is_send_and_runs_inside_tasks() {
    within_deadline(|| {
        let rt = support::runtime(1);
        let inner = rt.clone();
        let total = rt.spawn(async move {
            let refs: Vec<_> = (0..1000u64)
                .map(|i| inner.spawn(async move { i }))
                .collect();
            taskref::get_all(refs)
                .await
                .unwrap()
                .into_iter()
                .sum::<u64>()
        });
        assert_eq!(total.block_get().unwrap(), 499_500);
    });
}
