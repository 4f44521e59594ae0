//! Races: no hang, no lost wake-up, no double completion.

mod support;

use std::time::Duration;

use support::{runtime, within_deadline};

#[test]
fn submit_racing_shutdown_thousands_of_times() {
    within_deadline(|| {
        let mut ran = 0usize;
        let mut shut = 0usize;
        for _ in 0..2_000 {
            let rt = taskref::Runtime::builder()
                .worker_threads(1)
                .build()
                .unwrap();
            let submitter = {
                let rt = rt.clone();
                std::thread::spawn(move || {
                    (0..4)
                        .map(|i| rt.spawn(async move { i }))
                        .collect::<Vec<_>>()
                })
            };
            rt.shutdown();
            for r in submitter.join().unwrap() {
                match r.block_get_timeout(Duration::from_secs(10)) {
                    Ok(_) => ran += 1,
                    Err(err) => {
                        assert!(err.is_shutdown(), "{err}");
                        shut += 1;
                    }
                }
            }
        }
        assert_eq!(ran + shut, 8_000);
    });
}

#[test]
fn get_timeout_racing_completion_never_loses_a_wake_up() {
    within_deadline(|| {
        let rt = runtime(2);
        for i in 0..3_000u32 {
            let r = rt.spawn(async move { i });
            match r.block_get_timeout(Duration::from_micros(u64::from(i % 50))) {
                Ok(v) => assert_eq!(v, i),
                Err(err) => assert!(err.is_get_timeout(), "{err}"),
            }
            // Whatever the race did, the value is there afterwards.
            assert_eq!(r.block_get_timeout(Duration::from_secs(10)).unwrap(), i);
        }
        rt.handle().block_on(async {
            for i in 0..2_000u32 {
                let r = rt.spawn(async move { i });
                let _ = r
                    .get_timeout(Duration::from_micros(u64::from(i % 50)))
                    .await;
                assert_eq!(r.get_timeout(Duration::from_secs(10)).await.unwrap(), i);
            }
        });
    });
}

#[test]
fn many_getters_on_one_ref_all_get_the_value_exactly_once() {
    within_deadline(|| {
        let rt = runtime(2);
        for round in 0..50u32 {
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            let source = rt.spawn(async move { rx.await.unwrap() });
            let async_getters: Vec<_> = (0..100)
                .map(|_| {
                    let s = source.clone();
                    rt.spawn(async move { s.await.unwrap() })
                })
                .collect();
            let thread_getters: Vec<_> = (0..3)
                .map(|_| {
                    let s = source.clone();
                    std::thread::spawn(move || s.block_get().unwrap())
                })
                .collect();
            tx.send(round).unwrap();
            assert!(taskref::block_get_all(async_getters)
                .unwrap()
                .iter()
                .all(|&v| v == round));
            for t in thread_getters {
                assert_eq!(t.join().unwrap(), round);
            }
        }
    });
}

#[test]
fn cancel_racing_completion_from_another_thread() {
    within_deadline(|| {
        let rt = runtime(2);
        let (mut cancelled, mut finished) = (0, 0);
        for i in 0..2_000u32 {
            let r = rt.spawn(async move { i });
            let canceller = {
                let r = r.clone();
                std::thread::spawn(move || r.cancel())
            };
            let won = canceller.join().unwrap();
            match r.block_get_timeout(Duration::from_secs(10)) {
                Ok(v) => {
                    assert!(!won, "completed and cancelled both");
                    assert_eq!(v, i);
                    finished += 1;
                }
                Err(err) => {
                    assert!(won && err.is_cancelled(), "{err}");
                    cancelled += 1;
                }
            }
        }
        assert_eq!(cancelled + finished, 2_000);
    });
}
