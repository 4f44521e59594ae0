//! Model checking of the hand-written synchronisation with loom: the slot's
//! completion and waiter list, and the parking of blocking waits. Loom runs
//! each test under every interleaving of its threads (and reports deadlocks,
//! i.e. lost wake-ups).
//!
//! RUSTFLAGS="--cfg taskref_loom" cargo test --release --lib loom

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use loom::thread;

use crate::error::Error;
use crate::identity::TaskInfo;
use crate::object_ref::slot::Slot;
use crate::park::park_on;
use crate::ObjectId;

fn slot() -> Arc<Slot<u32>> {
    let info = TaskInfo::new(ObjectId::next(), None, Location::caller());
    Arc::new(Slot::pending(info, None, crate::observe::Stamp::now()))
}

/// A reader of a slot, as `ObjectRef::get` is.
struct Read<'a> {
    slot: &'a Slot<u32>,
    key: Option<usize>,
}

impl Future for Read<'_> {
    type Output = Result<u32, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.slot
            .poll_read(&mut this.key, cx, |outcome| match outcome {
                Ok(v) => Ok(*v),
                Err(e) => Err(e.clone()),
            })
    }
}

impl Drop for Read<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.slot.remove_waiter(key);
        }
    }
}

fn cancelled(task: TaskInfo) -> Error {
    Error::Cancelled { task }
}

#[test]
fn loom_a_completion_always_wakes_a_parked_reader() {
    loom::model(|| {
        let s = slot();
        let completer = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                assert!(s.complete(Ok(7)));
            })
        };
        let got = park_on(
            Read {
                slot: &s,
                key: None,
            },
            None,
            || (),
        );
        assert_eq!(got.map(|r| r.ok()), Some(Some(7)));
        completer.join().unwrap();
    });
}

#[test]
fn loom_two_parked_readers_are_both_woken() {
    loom::model(|| {
        let s = slot();
        let reader = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                park_on(
                    Read {
                        slot: &s,
                        key: None,
                    },
                    None,
                    || (),
                )
            })
        };
        let completer = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.complete(Ok(3)))
        };
        let mine = park_on(
            Read {
                slot: &s,
                key: None,
            },
            None,
            || (),
        );
        assert!(completer.join().unwrap());
        assert_eq!(mine.map(|r| r.ok()), Some(Some(3)));
        assert_eq!(reader.join().unwrap().map(|r| r.ok()), Some(Some(3)));
    });
}

#[test]
fn loom_completion_and_cancel_have_exactly_one_winner() {
    loom::model(|| {
        let s = slot();
        let finisher = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.complete(Ok(1)))
        };
        let cancel_won = s.fail(cancelled);
        let finish_won = finisher.join().unwrap();
        assert!(cancel_won ^ finish_won, "one and only one completion");
        let outcome = s.try_read(|o| o.map(|v| *v).map_err(|e| e.is_cancelled()));
        match outcome {
            Some(Ok(1)) => assert!(finish_won),
            Some(Err(true)) => assert!(cancel_won),
            other => panic!("unexpected final state {other:?}"),
        }
    });
}

#[test]
fn loom_a_reader_giving_up_races_completion_safely() {
    loom::model(|| {
        let s = slot();
        let completer = {
            let s = Arc::clone(&s);
            thread::spawn(move || s.complete(Ok(9)))
        };
        {
            // Poll once (registering a waker), then give up.
            let mut read = Read {
                slot: &s,
                key: None,
            };
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            let _ = Pin::new(&mut read).poll(&mut cx);
        }
        assert!(completer.join().unwrap());
        assert_eq!(s.try_read(|o| o.map(|v| *v).ok()), Some(Some(9)));
    });
}
