//! Lifecycles, checked with drop counters: every value is dropped exactly once
//! whatever happens to its task, and a panicking `Drop` never escapes into the
//! runtime.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{eventually, runtime, within_deadline, DropCounter};

fn gate() -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::sync::oneshot::Receiver<()>,
) {
    tokio::sync::oneshot::channel()
}

#[test]
fn read_never_read_cancelled_and_shut_down_values_drop_once() {
    within_deadline(|| {
        let counter = DropCounter::default();
        let rt = runtime(2);

        // Read (a clone), then the stored value with the last ref.
        let read = {
            let token = counter.token();
            rt.spawn(async move { token })
        };
        drop(read.block_get().unwrap());
        drop(read);
        eventually("read value dropped", || counter.drops() == 2);

        // Never read.
        let unread = {
            let token = counter.token();
            rt.spawn(async move { token })
        };
        eventually("unread task done", || unread.is_ready());
        drop(unread);
        eventually("unread value dropped", || counter.drops() == 3);

        // Cancelled before it produced its value: the captured token goes with
        // the aborted future.
        let (_open, closed) = gate();
        let cancelled = {
            let token = counter.token();
            rt.spawn(async move {
                let _ = closed.await;
                token
            })
        };
        assert!(cancelled.cancel());
        drop(cancelled);
        eventually("cancelled task's value dropped", || counter.drops() == 4);

        // Produced after a cancel (a blocking task cannot be interrupted): the
        // result is discarded, and dropped.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let discarded = {
            let token = counter.token();
            rt.spawn_blocking(move || {
                let _ = release_rx.recv();
                token
            })
        };
        std::thread::sleep(Duration::from_millis(10));
        assert!(discarded.cancel());
        release_tx.send(()).unwrap();
        drop(discarded);
        eventually("discarded result dropped", || counter.drops() == 5);

        // Runtime shut down with a pending task holding a value.
        let (_open, closed) = gate();
        let pending = {
            let token = counter.token();
            rt.spawn(async move {
                let _ = closed.await;
                token
            })
        };
        rt.shutdown();
        assert!(pending.block_get().unwrap_err().is_shutdown());
        drop((pending, rt));
        eventually("shut-down task's value dropped", || counter.drops() == 6);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(counter.drops(), 6, "each exactly once");
    });
}

#[test]
fn a_ref_held_by_an_aborted_task_does_not_leak() {
    within_deadline(|| {
        let counter = DropCounter::default();
        let rt = runtime(1);
        let held = {
            let token = counter.token();
            rt.put(token)
        };
        let (_open, closed) = gate();
        let holder = rt.spawn({
            let held = held.clone();
            async move {
                let _ = closed.await;
                held.is_ready()
            }
        });
        drop(held);
        assert_eq!(counter.drops(), 0, "the aborting task still holds the ref");
        assert!(holder.cancel());
        eventually("the held ref is released with the aborted task", || {
            counter.drops() == 1
        });
    });
}

/// A value whose `Drop` panics.
struct PanicOnDrop(Arc<AtomicBool>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        panic!("panicking drop");
    }
}

#[test]
fn a_panicking_drop_of_a_discarded_value_is_contained() {
    within_deadline(|| {
        let rt = runtime(1);

        // A blocking task's result that lost to a cancel.
        let dropped = Arc::new(AtomicBool::new(false));
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let flag = dropped.clone();
        let r = rt.spawn_blocking(move || {
            let _ = go_rx.recv();
            PanicOnDrop(flag)
        });
        // Queued behind it on the only CPU: the hand-over must survive.
        let after = rt.spawn_blocking(|| "still served");
        std::thread::sleep(Duration::from_millis(10));
        assert!(r.cancel());
        go_tx.send(()).unwrap();
        eventually("the discarded value was dropped", || {
            dropped.load(Ordering::SeqCst)
        });
        assert_eq!(after.block_get().unwrap(), "still served");

        // An async task's value whose refs were all dropped before it finished:
        // the runtime drops it when the task lets go of its slot.
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        let (open, closed) = gate();
        drop(rt.spawn(async move {
            let _ = closed.await;
            PanicOnDrop(flag)
        }));
        open.send(()).unwrap();
        eventually("the unread value was dropped", || {
            dropped.load(Ordering::SeqCst)
        });
        assert_eq!(rt.spawn(async { 1 }).block_get().unwrap(), 1);
        assert_eq!(rt.spawn_blocking(|| 2).block_get().unwrap(), 2);
    });
}
