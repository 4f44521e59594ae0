//! Shutdown and drop: every pending ref resolves with Shutdown, nothing hangs or
//! panics, wherever it happens.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use support::{runtime, within_deadline, DropCounter};
use taskref::{Error, Runtime};

#[test]
fn shutdown_fails_every_kind_of_pending_ref() {
    within_deadline(|| {
        let rt = runtime(1);
        let async_pending = rt.spawn(std::future::pending::<u8>());
        // Holds the only CPU until released, so the next blocking task queues.
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let running_blocking = rt.spawn_blocking(move || {
            let _ = release_rx.recv();
            1u8
        });
        let queued_blocking = rt.spawn_blocking(|| 2u8);
        let dependent = rt
            .remote(|x: u8| async move { x })
            .remote(async_pending.clone());
        std::thread::sleep(Duration::from_millis(20));

        rt.shutdown();
        for r in [
            &async_pending,
            &running_blocking,
            &queued_blocking,
            &dependent,
        ] {
            let err = r.block_get().unwrap_err();
            assert!(err.is_shutdown(), "{err}");
            assert!(err.to_string().contains("runtime was shut down"), "{err}");
        }
        // The running blocking closure cannot be interrupted; its result is discarded.
        release_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(running_blocking.block_get().unwrap_err().is_shutdown());
    });
}

#[test]
fn submissions_after_shutdown_fail_at_once() {
    within_deadline(|| {
        let rt = runtime(1);
        rt.shutdown();
        rt.shutdown(); // idempotent
        assert!(rt.is_shutdown());
        assert!(rt.spawn(async { 1 }).block_get().unwrap_err().is_shutdown());
        assert!(rt
            .spawn_blocking(|| 1)
            .block_get()
            .unwrap_err()
            .is_shutdown());
        let f = rt.remote(|x: u8| async move { x });
        assert!(f.remote(1).block_get().unwrap_err().is_shutdown());
        assert_eq!(rt.put(5).block_get().unwrap(), 5, "put needs no runtime");
    });
}

#[test]
fn dropping_the_last_handle_shuts_an_owned_runtime_down() {
    within_deadline(|| {
        let rt = runtime(1);
        let pending = rt.spawn(std::future::pending::<u8>());
        drop(rt);
        assert!(pending.block_get().unwrap_err().is_shutdown());
    });
}

#[test]
fn dropping_inside_async_code_does_not_panic() {
    within_deadline(|| {
        let user = support::user_current_thread();
        let pending = user.block_on(async {
            let rt = runtime(1);
            let pending = rt.spawn(std::future::pending::<u8>());
            drop(rt); // inside an async context: must not panic
            pending
        });
        assert!(pending.block_get().unwrap_err().is_shutdown());
    });
}

#[test]
fn shutdown_from_one_of_its_own_tasks() {
    within_deadline(|| {
        let rt = runtime(1);
        let pending = rt.spawn(std::future::pending::<u8>());
        let handle = rt.clone();
        let shutter = rt.spawn(async move {
            handle.shutdown();
            "done"
        });
        assert!(pending.block_get().unwrap_err().is_shutdown());
        // The shutting task itself either finished or was shut down; no hang.
        let _ = shutter.block_get();
    });
}

#[test]
fn last_handle_dropped_on_a_runtime_thread() {
    within_deadline(|| {
        let rt = runtime(1);
        let pending = rt.spawn(std::future::pending::<u8>());
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        // The task holds the last handle and drops it on a worker thread.
        let holder = rt.clone();
        let _last = rt.spawn(async move {
            go_rx.await.unwrap();
            drop(holder);
        });
        drop(rt);
        assert!(
            !pending.is_ready(),
            "the task's handle keeps the runtime alive"
        );
        go_tx.send(()).unwrap();
        assert!(pending.block_get().unwrap_err().is_shutdown());
    });
}

#[test]
fn shutdown_from_a_blocking_task() {
    within_deadline(|| {
        let rt = runtime(2);
        let pending = rt.spawn(std::future::pending::<u8>());
        let handle = rt.clone();
        let _ = rt.spawn_blocking(move || handle.shutdown());
        assert!(pending.block_get().unwrap_err().is_shutdown());
    });
}

#[test]
fn shutdown_of_an_attached_runtime_spares_the_users_runtime() {
    within_deadline(|| {
        let user = support::user_multi_thread();
        let rt = Runtime::from_handle(user.handle().clone());
        let pending = rt.spawn(std::future::pending::<u8>());
        rt.shutdown();
        assert!(pending.block_get().unwrap_err().is_shutdown());
        assert_eq!(
            user.block_on(async { tokio::spawn(async { 7 }).await.unwrap() }),
            7
        );
    });
}

#[test]
fn dropping_an_attached_runtime_keeps_its_tasks_running() {
    within_deadline(|| {
        let user = support::user_multi_thread();
        let rt = Runtime::from_handle(user.handle().clone());
        let r = rt.spawn(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            3
        });
        drop(rt);
        assert_eq!(r.block_get().unwrap(), 3);
    });
}

#[test]
fn the_users_runtime_shutting_down_fails_attached_refs() {
    within_deadline(|| {
        let user = support::user_multi_thread();
        let rt = Runtime::from_handle(user.handle().clone());
        let pending = rt.spawn(std::future::pending::<u8>());
        drop(user);
        assert!(pending.block_get().unwrap_err().is_shutdown());
    });
}

#[test]
fn values_are_dropped_once_across_shutdown() {
    within_deadline(|| {
        let counter = DropCounter::default();
        let rt = runtime(1);
        let done = {
            let token = counter.token();
            rt.spawn(async move { token })
        };
        support::eventually("the first task finishes", || done.is_ready());
        let never = {
            let token = counter.token();
            rt.spawn(async move {
                std::future::pending::<()>().await;
                token
            })
        };
        rt.shutdown();
        assert!(matches!(never.block_get(), Err(Error::Shutdown { .. })));
        drop((done, never, rt));
        // The captured token of the aborted future and the stored value: once each.
        support::eventually("both values are dropped", || counter.drops() >= 2);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.drops(), 2);
    });
}

#[test]
fn submit_racing_shutdown_never_leaves_a_ref_pending() {
    within_deadline(|| {
        for _ in 0..200 {
            let rt = runtime(1);
            let submitter = {
                let rt = rt.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| rt.spawn(async move { i }))
                        .collect::<Vec<_>>()
                })
            };
            rt.shutdown();
            for r in submitter.join().unwrap() {
                // Either it ran or it was shut down; never pending forever.
                match r.block_get() {
                    Ok(_) => {}
                    Err(err) => assert!(err.is_shutdown(), "{err}"),
                }
            }
        }
    });
}
