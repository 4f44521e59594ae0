//! Cancellation: pending tasks never run, running async tasks stop at their next
//! await, blocking results are discarded, dependents fail, resources are freed.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{runtime, within_deadline, DropCounter};

#[test]
fn a_pending_task_never_runs() {
    within_deadline(|| {
        let rt = runtime(1);
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let input = rt.spawn(async move { rx.await.unwrap() });
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let r = rt
            .remote(move |x: u32| {
                flag.store(true, Ordering::SeqCst);
                async move { x }
            })
            .remote(input);
        assert!(r.cancel());
        tx.send(1).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert!(!ran.load(Ordering::SeqCst));
        assert!(r.block_get().unwrap_err().is_cancelled());
    });
}

#[test]
fn a_running_async_task_is_dropped_at_its_next_await() {
    within_deadline(|| {
        let rt = runtime(1);
        let counter = DropCounter::default();
        let token = counter.token();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let r = rt.spawn(async move {
            let _held = token;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        started_rx.recv().unwrap();
        assert!(r.cancel());
        support::eventually("the future is dropped", || counter.drops() == 1);
        let err = r.block_get().unwrap_err();
        assert!(err.is_cancelled());
        assert!(err.to_string().ends_with("was cancelled"), "{err}");
    });
}

#[test]
fn a_running_blocking_task_finishes_but_its_result_is_discarded() {
    within_deadline(|| {
        let rt = runtime(1);
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let r = rt.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            flag.store(true, Ordering::SeqCst);
            5
        });
        started_rx.recv().unwrap();
        assert!(r.cancel());
        assert!(
            r.block_get().unwrap_err().is_cancelled(),
            "at once, not when it returns"
        );
        go_tx.send(()).unwrap();
        support::eventually("it ran to the end", || finished.load(Ordering::SeqCst));
        assert!(
            r.block_get().unwrap_err().is_cancelled(),
            "its result was discarded"
        );
        // Its CPU came back when it returned.
        assert_eq!(rt.spawn_blocking(|| 1).block_get().unwrap(), 1);
    });
}

#[test]
fn cancelling_a_finished_task_is_a_no_op() {
    within_deadline(|| {
        let rt = runtime(1);
        let r = rt.spawn(async { 3 });
        assert_eq!(r.block_get().unwrap(), 3);
        assert!(!r.cancel());
        assert!(!rt.cancel(r.id()));
        assert_eq!(r.block_get().unwrap(), 3);
    });
}

#[test]
fn dependents_of_a_cancelled_task_fail() {
    within_deadline(|| {
        let rt = runtime(1);
        let upstream = rt.spawn(std::future::pending::<u32>());
        let dependent = rt.remote(|x: u32| async move { x }).remote(&upstream);
        assert!(rt.cancel(upstream.id()), "cancel by id through the runtime");
        let err = dependent.block_get().unwrap_err();
        assert!(err.is_dependency_failed());
        assert!(err.root_cause().is_cancelled());
    });
}

#[test]
fn cancel_releases_resources() {
    within_deadline(|| {
        let rt = taskref::Runtime::builder()
            .num_cpus(1)
            .worker_threads(1)
            .resource("db", 1.0)
            .build()
            .unwrap();
        let hog = rt
            .remote(|_: ()| async { std::future::pending::<()>().await })
            .resource("db", 1.0)
            .remote(());
        let queued = rt.remote(|x: u32| async move { x }).resource("db", 1.0);
        let waiting = queued.remote(1);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiting.is_ready());
        assert!(hog.cancel());
        assert_eq!(waiting.block_get().unwrap(), 1, "the db unit came back");
    });
}

#[test]
fn cancel_racing_completion_has_one_winner() {
    within_deadline(|| {
        let rt = runtime(2);
        for i in 0..2_000u32 {
            let r = rt.spawn(async move { i });
            let cancelled = r.cancel();
            match r.block_get() {
                Ok(v) => {
                    assert!(!cancelled, "a cancelled task has no value");
                    assert_eq!(v, i);
                }
                Err(err) => {
                    assert!(cancelled && err.is_cancelled(), "{err}");
                }
            }
        }
    });
}
