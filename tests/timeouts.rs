//! Per-task timeouts stop the task (unlike get timeouts, which only stop
//! waiting), per attempt, and are retried like panics.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{runtime, within_deadline, DropCounter};
use taskref::Error;

#[test]
fn an_async_task_that_runs_too_long_is_stopped() {
    within_deadline(|| {
        let rt = runtime(1);
        let counter = DropCounter::default();
        let token = counter.token();
        let slow = rt
            .remote(move |_: ()| {
                let token = token.clone();
                async move {
                    let _held = token;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            })
            .name("slow")
            .timeout(Duration::from_millis(20));
        let start = Instant::now();
        let err = slow.remote(()).block_get().unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10));
        match &err {
            Error::TaskTimedOut {
                timeout, attempts, ..
            } => {
                assert_eq!(*timeout, Duration::from_millis(20));
                assert_eq!(*attempts, 1);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("timed out after 20ms"), "{err}");
        // The future was dropped at its await: its captured value with it.
        support::eventually("the stopped future is dropped", || counter.drops() >= 1);
    });
}

#[test]
fn a_fast_task_is_not_affected() {
    within_deadline(|| {
        let rt = runtime(1);
        let quick = rt
            .remote(|x: u32| async move { x })
            .timeout(Duration::from_secs(30));
        assert_eq!(quick.remote(5).block_get().unwrap(), 5);
        let quick_blocking = rt
            .remote_blocking(|x: u32| x)
            .timeout(Duration::from_secs(30));
        assert_eq!(quick_blocking.remote(6).block_get().unwrap(), 6);
    });
}

#[test]
fn a_blocking_task_times_out_at_the_deadline_and_its_result_is_discarded() {
    within_deadline(|| {
        let rt = runtime(1);
        let saw_cancel = Arc::new(AtomicBool::new(false));
        let seen = saw_cancel.clone();
        let slow = rt
            .remote_blocking(move |_: ()| {
                let me = taskref::current_task().unwrap();
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(300) {
                    if me.is_cancelled() {
                        seen.store(true, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                7
            })
            .timeout(Duration::from_millis(30));
        let start = Instant::now();
        let err = slow.remote(()).block_get().unwrap_err();
        assert!(err.is_task_timeout(), "{err}");
        assert!(
            start.elapsed() < Duration::from_millis(250),
            "fails at the deadline"
        );
        support::eventually("the closure sees it was cancelled", || {
            saw_cancel.load(Ordering::SeqCst)
        });
    });
}

#[test]
fn a_timed_out_blocking_task_keeps_its_cpu_until_it_returns() {
    within_deadline(|| {
        let rt = runtime(1);
        let released = Arc::new(AtomicBool::new(false));
        let flag = released.clone();
        let stubborn = rt
            .remote_blocking(move |_: ()| {
                std::thread::sleep(Duration::from_millis(150));
                flag.store(true, Ordering::SeqCst);
            })
            .timeout(Duration::from_millis(10));
        let r = stubborn.remote(());
        assert!(r.block_get().unwrap_err().is_task_timeout());
        let next_started_after_release = rt.spawn_blocking({
            let released = released.clone();
            move || released.load(Ordering::SeqCst)
        });
        assert!(
            next_started_after_release.block_get().unwrap(),
            "num_cpus(1) is never oversubscribed"
        );
    });
}

#[test]
fn timeouts_are_retried_like_panics() {
    within_deadline(|| {
        let rt = runtime(2);
        for blocking in [false, true] {
            let calls = Arc::new(AtomicU32::new(0));
            let seen = calls.clone();
            let first_is_slow = move |x: u32| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                (n == 0, x)
            };
            let r = if blocking {
                rt.remote_blocking(move |x: u32| {
                    let (slow, x) = first_is_slow(x);
                    if slow {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    x
                })
                .timeout(Duration::from_millis(40))
                .max_retries(1)
                .remote(9)
            } else {
                rt.remote(move |x: u32| {
                    let (slow, x) = first_is_slow(x);
                    async move {
                        if slow {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                        x
                    }
                })
                .timeout(Duration::from_millis(40))
                .max_retries(1)
                .remote(9)
            };
            assert_eq!(r.block_get().unwrap(), 9, "blocking: {blocking}");
            assert_eq!(calls.load(Ordering::SeqCst), 2);
        }
        let never = rt
            .remote(|_: ()| async { tokio::time::sleep(Duration::from_secs(60)).await })
            .timeout(Duration::from_millis(10))
            .max_retries(2);
        let err = never.remote(()).block_get().unwrap_err();
        assert!(err.is_task_timeout());
        assert_eq!(err.attempts(), 3);
    });
}

#[test]
fn a_get_timeout_is_not_a_task_timeout() {
    within_deadline(|| {
        let rt = runtime(1);
        let slow = rt.spawn(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            1
        });
        let err = slow
            .block_get_timeout(Duration::from_millis(5))
            .unwrap_err();
        assert!(err.is_get_timeout() && !err.is_task_timeout());
        assert_eq!(slow.block_get().unwrap(), 1, "the task kept running");
    });
}
