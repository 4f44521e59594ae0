//! The blocking facade in every context: it blocks where it can, refuses with
//! BlockingInAsyncContext where it cannot, and never panics or hangs.

mod support;

use std::time::Duration;

use support::{runtime, within_deadline};
use taskref::{Error, Runtime};

fn assert_refused<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::BlockingInAsyncContext { location, .. }) => {
            assert!(
                location.file().ends_with("blocking_contexts.rs"),
                "the error names the caller's line, got {location}"
            );
        }
        other => panic!("expected BlockingInAsyncContext, got {other:?}"),
    }
}

#[test]
fn from_a_plain_thread() {
    within_deadline(|| {
        let rt = runtime(1);
        let r = rt.spawn(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            1
        });
        assert_eq!(r.block_get().unwrap(), 1);
        assert_eq!(taskref::block_get_all([r.clone(), r]).unwrap(), [1, 1]);
    });
}

#[test]
fn from_a_multi_thread_worker_of_its_own_runtime() {
    within_deadline(|| {
        // Two workers, and every one of them blocks in block_get on work that
        // needs a worker: block_in_place hands the queue over, so no deadlock.
        let rt = runtime(1);
        let inner = rt.clone();
        let outers: Vec<_> = (0..4)
            .map(|i| {
                let inner = inner.clone();
                rt.spawn(async move {
                    let child = inner.spawn(async move {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        i
                    });
                    child.block_get().unwrap()
                })
            })
            .collect();
        assert_eq!(taskref::block_get_all(outers).unwrap(), [0, 1, 2, 3]);
    });
}

#[test]
fn from_another_multi_thread_runtime_block_on() {
    within_deadline(|| {
        let rt = runtime(1);
        let user = support::user_multi_thread();
        let r = rt.spawn(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            5
        });
        assert_eq!(user.block_on(async { r.block_get() }).unwrap(), 5);
    });
}

#[test]
fn from_a_current_thread_runtime_it_refuses() {
    within_deadline(|| {
        let rt = runtime(1);
        let user = support::user_current_thread();
        let pending = rt.spawn(std::future::pending::<u8>());
        let ready = rt.put(1);
        user.block_on(async {
            assert_refused(pending.block_get());
            assert_refused(ready.block_get());
            assert_refused(pending.block_get_timeout(Duration::from_millis(1)));
            assert_refused(taskref::block_get_all([ready.clone()]));
            assert_refused(taskref::block_wait(std::slice::from_ref(&ready), 1, None));
            assert_refused(taskref::block_as_completed([ready.clone()]).map(|_| ()));
            // The async API works there.
            assert_eq!(ready.get().await.unwrap(), 1);
        });
    });
}

#[test]
fn inside_a_local_set_it_refuses() {
    within_deadline(|| {
        let user = support::user_current_thread();
        let local = tokio::task::LocalSet::new();
        let rt = runtime(1);
        let r = rt.spawn(async { 2 });
        local.block_on(&user, async move {
            let r2 = r.clone();
            tokio::task::spawn_local(async move { assert_refused(r2.block_get()) })
                .await
                .unwrap();
            assert_refused(r.block_get());
        });
    });
}

#[test]
fn on_the_blocking_pool_of_a_current_thread_runtime_it_blocks() {
    within_deadline(|| {
        let user = support::user_current_thread();
        let rt = runtime(1);
        let r = rt.spawn(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            3
        });
        let value = user
            .block_on(async { tokio::task::spawn_blocking(move || r.block_get()).await })
            .unwrap();
        assert_eq!(value.unwrap(), 3);
    });
}

#[test]
fn attached_to_a_current_thread_runtime_blocking_tasks_can_block() {
    within_deadline(|| {
        let user = support::user_current_thread();
        user.block_on(async {
            let rt = Runtime::from_handle(tokio::runtime::Handle::current());
            let child = rt.spawn_blocking(|| 4);
            let parent = rt.spawn_blocking(move || child.block_get().unwrap() + 1);
            assert_eq!(parent.await.unwrap(), 5);
        });
    });
}

#[test]
fn nested_gets_in_blocking_tasks_lend_their_cpu_back() {
    within_deadline(|| {
        // One CPU: the parent holds it, the child needs it. Without lending the
        // CPU back while the parent blocks, this deadlocks.
        let rt = runtime(1);
        let inner = rt.clone();
        let parent = rt.spawn_blocking(move || {
            let child = inner.spawn_blocking(|| 20);
            child.block_get().unwrap() + 1
        });
        assert_eq!(parent.block_get().unwrap(), 21);
    });
}

#[test]
fn a_three_level_tree_of_blocking_tasks_finishes_on_one_cpu() {
    within_deadline(|| {
        let rt = runtime(1);
        let level = rt.remote_blocking({
            let rt = rt.clone();
            move |depth: u32| {
                if depth == 0 {
                    return 1u64;
                }
                let child = rt.spawn_blocking(move || depth as u64);
                let children: Vec<_> = (0..3)
                    .map(|_| {
                        let rt2 = rt.clone();
                        rt.spawn_blocking(move || {
                            let grandchildren: Vec<_> =
                                (0..2).map(|_| rt2.spawn_blocking(|| 1u64)).collect();
                            taskref::block_get_all(grandchildren)
                                .unwrap()
                                .iter()
                                .sum::<u64>()
                        })
                    })
                    .collect();
                child.block_get().unwrap()
                    + taskref::block_get_all(children)
                        .unwrap()
                        .iter()
                        .sum::<u64>()
            }
        });
        assert_eq!(level.remote(1).block_get().unwrap(), 1 + 6);
    });
}

#[test]
fn block_get_timeout_from_a_plain_thread() {
    within_deadline(|| {
        let rt = runtime(1);
        let r = rt.spawn(std::future::pending::<()>());
        let start = std::time::Instant::now();
        let err = r.block_get_timeout(Duration::from_millis(30)).unwrap_err();
        assert!(err.is_get_timeout());
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!r.is_ready());
    });
}

#[test]
fn the_refusal_explains_itself() {
    // Errors cannot be built outside the crate (their variants are
    // `#[non_exhaustive]`): provoke the refusal instead.
    let rt = taskref::Runtime::new().unwrap();
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = current
        .block_on(async { rt.put(1).block_get() })
        .unwrap_err();
    assert!(err.is_blocking_in_async_context());
    let text = err.to_string();
    assert!(text.contains("current-thread"), "{text}");
    assert!(text.contains(".await"), "{text}");
}

/// Each level block_get-s its children: without lending CPUs back, two CPUs
/// would be held by the first two parents and nothing below could run.
fn tree(rt: taskref::Runtime, depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let children: Vec<_> = (0..3)
        .map(|_| {
            let rt2 = rt.clone();
            rt.spawn_blocking(move || tree(rt2, depth - 1))
        })
        .collect();
    taskref::block_get_all(children).unwrap().iter().sum()
}

#[test]
fn a_three_level_tree_of_blocking_gets_finishes_on_two_cpus() {
    within_deadline(|| {
        let rt = runtime(2);
        let root = {
            let rt2 = rt.clone();
            rt.spawn_blocking(move || tree(rt2, 3))
        };
        assert_eq!(root.block_get().unwrap(), 27);
    });
}

/// Gets its ref when dropped.
struct GetsOnDrop(
    Option<taskref::ObjectRef<u32>>,
    std::sync::mpsc::Sender<Result<u32, Error>>,
);

impl Drop for GetsOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            let _ = self.1.send(r.block_get());
        }
    }
}

#[test]
fn from_a_drop_impl_on_a_plain_thread_and_on_a_worker() {
    within_deadline(|| {
        let rt = runtime(1);
        let (tx, rx) = std::sync::mpsc::channel();
        drop(GetsOnDrop(Some(rt.spawn(async { 5 })), tx.clone()));
        assert_eq!(rx.recv().unwrap().unwrap(), 5);
        // Dropped inside an async task on a multi-thread worker.
        let inner = rt.clone();
        rt.spawn(async move {
            drop(GetsOnDrop(Some(inner.spawn(async { 6 })), tx));
        })
        .block_get()
        .unwrap();
        assert_eq!(rx.recv().unwrap().unwrap(), 6);
        // Dropped on a current-thread runtime's thread: the documented error.
        let (tx, rx) = std::sync::mpsc::channel();
        let r = rt.spawn(async { 7 });
        support::user_current_thread().block_on(async move { drop(GetsOnDrop(Some(r), tx)) });
        assert!(matches!(
            rx.recv().unwrap(),
            Err(Error::BlockingInAsyncContext { .. })
        ));
    });
}

#[test]
fn during_shutdown_every_blocked_getter_returns() {
    within_deadline(|| {
        for _ in 0..50 {
            let rt = runtime(1);
            let pending = rt.spawn(std::future::pending::<u32>());
            let getters: Vec<_> = (0..4)
                .map(|_| {
                    let r = pending.clone();
                    std::thread::spawn(move || r.block_get())
                })
                .collect();
            let inner = rt.clone();
            let blocked_task =
                rt.spawn_blocking(move || inner.spawn(std::future::pending::<u32>()).block_get());
            std::thread::sleep(Duration::from_millis(2));
            rt.shutdown();
            for g in getters {
                assert!(g.join().unwrap().unwrap_err().is_shutdown());
            }
            // The blocking task itself, or the get inside it: both end.
            let _ = blocked_task.block_get();
        }
    });
}
