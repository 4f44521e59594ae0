//! ObjectRef: cloning, reading from many tasks, readiness, drop semantics.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{runtime, within_deadline, DropCounter};
use taskref::{ObjectRef, Runtime};

#[test]
fn clones_are_read_from_many_tasks() {
    within_deadline(|| {
        let rt = runtime(2);
        let shared = rt.spawn(async { vec![1u64, 2, 3] });
        let readers: Vec<ObjectRef<u64>> = (0..100)
            .map(|_| {
                let r = shared.clone();
                rt.spawn(async move { r.get().await.unwrap().iter().sum::<u64>() })
            })
            .collect();
        let blocking_readers: Vec<ObjectRef<u64>> = (0..8)
            .map(|_| {
                let r = shared.clone();
                rt.spawn_blocking(move || r.block_get().unwrap().iter().sum::<u64>())
            })
            .collect();
        assert!(taskref::block_get_all(readers)
            .unwrap()
            .iter()
            .all(|&s| s == 6));
        assert!(taskref::block_get_all(blocking_readers)
            .unwrap()
            .iter()
            .all(|&s| s == 6));
        assert_eq!(shared.block_get().unwrap(), [1, 2, 3]);
    });
}

#[test]
fn try_get_and_is_ready_never_wait() {
    within_deadline(|| {
        let rt = runtime(1);
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let r = rt.spawn(async move { rx.await.unwrap() });
        assert!(!r.is_ready());
        assert!(r.try_get().is_none());
        tx.send(9).unwrap();
        assert_eq!(r.block_get().unwrap(), 9);
        assert!(r.is_ready());
        assert_eq!(r.try_get().unwrap().unwrap(), 9);
    });
}

#[test]
fn dropping_every_ref_does_not_cancel_the_task() {
    within_deadline(|| {
        let rt = runtime(1);
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        drop(rt.spawn(async move {
            go_rx.await.unwrap();
            tx.send("ran").unwrap();
        }));
        go_tx.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "ran");
    });
}

#[test]
fn value_is_freed_when_the_last_ref_is_dropped() {
    within_deadline(|| {
        let rt = runtime(1);
        let counter = DropCounter::default();
        let token = counter.token();
        let r = rt.spawn(async move { token });
        let copy = r.clone();
        r.block_get().unwrap(); // a clone, dropped at once
        assert_eq!(counter.drops(), 1);
        drop(r);
        assert_eq!(counter.drops(), 1, "one ref is still alive");
        drop(copy);
        // Freed once the last ref is gone and the task has let go of it.
        support::eventually("the stored value is freed", || counter.drops() == 2);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.drops(), 2, "exactly once");
    });
}

#[test]
fn a_value_nobody_reads_is_dropped_exactly_once() {
    within_deadline(|| {
        let rt = runtime(1);
        let counter = DropCounter::default();
        let token = counter.token();
        let r = rt.spawn(async move { token });
        support::eventually("the task finishes", || r.is_ready());
        drop(r);
        support::eventually("the value is dropped", || counter.drops() == 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.drops(), 1, "exactly once");
    });
}

#[test]
fn awaiting_the_last_ref_moves_the_value_out() {
    within_deadline(|| {
        let rt = runtime(1);
        let counter = DropCounter::default();
        let token = counter.token();
        let r = rt.put(token);
        let value = rt.handle().block_on(async move { r.await.unwrap() });
        assert_eq!(counter.drops(), 0, "moved, not cloned and dropped");
        drop(value);
        assert_eq!(counter.drops(), 1);
    });
}

#[tokio::test(start_paused = true)]
async fn get_timeout_leaves_the_task_running_and_the_ref_valid() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let r = rt.spawn(async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        5
    });
    let err = r.get_timeout(Duration::from_millis(10)).await.unwrap_err();
    assert!(err.is_get_timeout(), "{err}");
    assert!(
        err.to_string().contains("was not ready after waiting"),
        "{err}"
    );
    assert_eq!(r.get_timeout(Duration::from_secs(1)).await.unwrap(), 5);
    assert_eq!(
        r.get_timeout(Duration::ZERO).await.unwrap(),
        5,
        "ready refs need no time"
    );
}

#[tokio::test]
async fn zero_timeout_on_a_pending_ref_never_waits() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let r = rt.spawn(std::future::pending::<()>());
    assert!(r
        .get_timeout(Duration::ZERO)
        .await
        .unwrap_err()
        .is_get_timeout());
    assert!(r.block_get_timeout(Duration::ZERO).is_err());
}

#[test]
fn get_timeout_works_from_a_runtime_without_a_timer() {
    // The caller's runtime has no timer; the task's runtime does, and serves it.
    let rt = runtime(1);
    let caller = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let r = rt.spawn(std::future::pending::<()>());
    let err = caller
        .block_on(r.get_timeout(Duration::from_millis(10)))
        .unwrap_err();
    assert!(err.is_get_timeout());
}

#[test]
fn attached_runtime_without_a_timer_reports_no_timer() {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let rt = Runtime::from_handle(tokio_rt.handle().clone());
    let r = rt.spawn(std::future::pending::<()>());
    let err = tokio_rt
        .block_on(r.get_timeout(Duration::from_millis(10)))
        .unwrap_err();
    assert!(matches!(err, taskref::Error::NoTimer { .. }), "{err}");
    assert!(err.to_string().contains("enable_time"));
    // The blocking facade's timeouts need no tokio timer.
    assert!(r
        .block_get_timeout(Duration::from_millis(10))
        .unwrap_err()
        .is_get_timeout());
}

#[test]
fn ids_are_unique_and_ordered() {
    let rt = runtime(1);
    let refs: Vec<_> = (0..100).map(|i| rt.put(i)).collect();
    for pair in refs.windows(2) {
        assert!(pair[0].id() < pair[1].id());
    }
    let ids: std::collections::HashSet<_> = refs.iter().map(ObjectRef::id).collect();
    assert_eq!(ids.len(), 100);
}

#[test]
fn debug_shows_identity_but_never_the_value() {
    let rt = runtime(1);
    let r = rt.put(Arc::new("secret-value"));
    let text = format!("{r:?}");
    assert!(text.contains("ObjectRef"), "{text}");
    assert!(text.contains("ready: true"), "{text}");
    assert!(!text.contains("secret-value"), "{text}");
}

#[test]
fn many_waiters_on_one_ref_all_wake() {
    within_deadline(|| {
        let rt = runtime(1);
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let source = rt.spawn(async move { rx.await.unwrap() });
        let waiters: Vec<_> = (0..500)
            .map(|_| {
                let s = source.clone();
                rt.spawn(async move { s.await.unwrap() })
            })
            .collect();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = source.clone();
                std::thread::spawn(move || s.block_get().unwrap())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        tx.send(11).unwrap();
        assert!(taskref::block_get_all(waiters)
            .unwrap()
            .iter()
            .all(|&v| v == 11));
        for t in threads {
            assert_eq!(t.join().unwrap(), 11);
        }
    });
}
