//! `ActorPool`'s stateful interface (Ray's `submit`, `get_next`,
//! `get_next_unordered`, `has_next`, `has_free`, `push`, `pop_idle`), over
//! plain and async actors, in both faces.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{runtime, within_deadline, Concurrency};
use taskref::{ActorPool, AsyncActorHandle};

#[test]
fn submitted_items_run_on_idle_actors_and_come_back_in_submission_order() {
    within_deadline(|| {
        let rt = runtime(4);
        let busy = Concurrency::default();
        let actors: Vec<_> = (0..3).map(|_| rt.actor(busy.clone())).collect();
        let mut pool = ActorPool::new(actors);
        assert!(pool.has_free() && !pool.has_next());
        let meet = Arc::new(std::sync::Barrier::new(3));
        for x in 0..9u64 {
            // Later items are quicker: they finish out of submission order.
            let meet = Arc::clone(&meet);
            pool.submit(
                |actor, x| {
                    actor.call(move |busy: &mut Concurrency| {
                        let _in = busy.enter();
                        // The first three meet here: all three actors busy.
                        if x < 3 {
                            meet.wait();
                        }
                        std::thread::sleep(Duration::from_millis(9 - x));
                        x
                    })
                },
                x,
            );
        }
        assert!(!pool.has_free(), "three running, six queued");
        let mut got = Vec::new();
        while let Some(next) = pool.block_get_next() {
            got.push(next.unwrap());
        }
        assert_eq!(got, (0..9).collect::<Vec<_>>());
        assert_eq!(busy.peak(), 3, "every actor busy, never more");
        assert!(pool.has_free() && !pool.has_next());
        assert!(pool.block_get_next().is_none());
    });
}

#[test]
fn get_next_unordered_gives_results_as_they_finish_over_async_actors() {
    within_deadline(|| {
        let rt = runtime(2);
        let actors: Vec<AsyncActorHandle<u64>> = (0..4)
            .map(|_| rt.actor_builder().spawn_async(|| 0u64).unwrap())
            .collect();
        let mut pool = ActorPool::new(actors);
        // Each item waits for its own gate; the gates open in the order 1, 3, 2, 0.
        let gates: Vec<_> = (0..4)
            .map(|_| Arc::new(tokio::sync::Semaphore::new(0)))
            .collect();
        for (i, gate) in gates.iter().enumerate() {
            let gate = Arc::clone(gate);
            pool.submit(
                move |actor, i| {
                    actor.call(move |_: Arc<u64>| async move {
                        let _ = gate.acquire().await.map(|p| p.forget());
                        i
                    })
                },
                i,
            );
        }
        let got: Vec<usize> = rt.handle().block_on(async {
            let mut got = Vec::new();
            for open in [1, 3, 2, 0] {
                gates[open].add_permits(1);
                got.push(pool.get_next_unordered().await.unwrap().unwrap());
            }
            assert!(pool.get_next_unordered().await.is_none());
            got
        });
        assert_eq!(got, [1, 3, 2, 0]);
    });
}

#[test]
fn get_next_steps_over_results_taken_out_of_order() {
    within_deadline(|| {
        let rt = runtime(2);
        let mut pool = ActorPool::new((0..3).map(|_| rt.actor(())));
        for ms in [60u64, 5, 30] {
            pool.submit(
                |actor, ms| {
                    actor.call(move |_: &mut ()| {
                        std::thread::sleep(Duration::from_millis(ms));
                        ms
                    })
                },
                ms,
            );
        }
        assert_eq!(pool.block_get_next_unordered().unwrap().unwrap(), 5);
        assert_eq!(pool.block_get_next().unwrap().unwrap(), 60);
        assert_eq!(pool.block_get_next().unwrap().unwrap(), 30);
        assert!(pool.block_get_next().is_none());
    });
}

#[test]
fn push_adds_an_actor_that_takes_queued_work_and_pop_idle_takes_only_idle_ones() {
    within_deadline(|| {
        let rt = runtime(2);
        let mut pool: ActorPool<_, u8> = ActorPool::new([rt.actor(1u8)]);
        let gate = Arc::new(std::sync::Barrier::new(2));
        let g = Arc::clone(&gate);
        pool.submit(
            move |actor, ()| {
                actor.call(move |n: &mut u8| {
                    g.wait();
                    *n
                })
            },
            (),
        );
        pool.submit(|actor, ()| actor.call(|n: &mut u8| *n), ());
        assert!(pool.pop_idle().is_none(), "its only actor is busy");
        // A second actor takes the queued item at once.
        pool.push(rt.actor(2u8));
        assert_eq!(pool.block_get_next_unordered().unwrap().unwrap(), 2);
        gate.wait();
        assert_eq!(pool.block_get_next().unwrap().unwrap(), 1);
        // Both idle now: the longest idle (the pushed one) goes first.
        let taken = pool.pop_idle().expect("idle now");
        assert_eq!(taken.call(|n: &mut u8| *n).block_get().unwrap(), 2);
        assert!(pool.has_free(), "the first actor is still in the pool");
        assert!(pool.pop_idle().is_some() && pool.pop_idle().is_none());
    });
}

#[test]
fn queued_work_with_no_actor_left_is_an_error_not_a_hang() {
    within_deadline(|| {
        let rt = runtime(2);
        let mut pool: ActorPool<_, u8> = ActorPool::new([rt.actor(1u8)]);
        let actor = pool.pop_idle().unwrap();
        pool.submit(|a, ()| a.call(|n: &mut u8| *n), ());
        let err = pool.block_get_next().unwrap().unwrap_err();
        assert!(err.is_invalid_argument(), "{err}");
        assert!(err.to_string().contains("push"), "{err}");
        assert!(err.to_string().contains(file!()), "names the caller: {err}");
        assert!(!pool.has_next(), "the item failed: a has_next loop ends");
        pool.push(actor.clone());
        pool.push(actor); // already in the pool: not added twice
        pool.submit(|a, ()| a.call(|n: &mut u8| *n), ());
        assert_eq!(pool.block_get_next().unwrap().unwrap(), 1);
        assert!(pool.pop_idle().is_some() && pool.pop_idle().is_none());
    });
}

#[test]
fn a_failed_call_gives_its_error_and_frees_its_actor() {
    within_deadline(|| {
        let rt = runtime(2);
        let mut pool = ActorPool::new([rt.actor(0u32)]);
        pool.submit(
            |a, ()| a.call(|_: &mut u32| -> u32 { panic!("bad item") }),
            (),
        );
        pool.submit(|a, ()| a.call(|n: &mut u32| *n + 1), ());
        assert!(pool.block_get_next().unwrap().unwrap_err().is_panic());
        assert_eq!(pool.block_get_next().unwrap().unwrap(), 1);
    });
}

#[test]
fn the_blocking_twins_refuse_a_thread_that_must_not_block() {
    within_deadline(|| {
        let rt = runtime(2);
        let tokio_rt = support::user_current_thread();
        let mut pool = ActorPool::new([rt.actor(0u32)]);
        pool.submit(|a, ()| a.call(|n: &mut u32| *n), ());
        let refused = tokio_rt.block_on(async { pool.block_get_next() });
        assert!(refused.unwrap().unwrap_err().is_blocking_in_async_context());
        // The item is still there for a thread that may block.
        assert_eq!(pool.block_get_next().unwrap().unwrap(), 0);
    });
}

/// A gate a call waits at until the test opens it.
fn gate() -> (
    std::sync::mpsc::Sender<()>,
    std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
) {
    let (open, wait) = std::sync::mpsc::channel();
    (open, std::sync::Mutex::new(wait))
}

#[test]
fn get_next_with_a_timeout_gives_up_names_the_call_and_keeps_the_result() {
    within_deadline(|| {
        let rt = runtime(2);
        let (open, wait) = gate();
        let mut pool = ActorPool::new([rt.actor(wait)]);
        pool.submit(
            |a, ()| {
                a.call(|wait: &mut std::sync::Mutex<_>| {
                    let wait: &std::sync::mpsc::Receiver<()> = wait.get_mut().unwrap();
                    wait.recv().is_ok()
                })
            },
            (),
        );
        // Queued behind the first: the only actor is busy.
        pool.submit(|a, ()| a.call(|_: &mut std::sync::Mutex<_>| true), ());
        let timed_out = pool
            .block_get_next_timeout(Duration::from_millis(30))
            .expect("a result is due")
            .unwrap_err();
        assert!(timed_out.is_get_timeout(), "{timed_out}");
        assert!(
            timed_out.to_string().contains("tests/actor_pool.rs"),
            "names the call: {timed_out}"
        );
        let unordered = pool
            .block_get_next_unordered_timeout(Duration::ZERO)
            .expect("results are due")
            .unwrap_err();
        assert!(unordered.is_get_timeout(), "{unordered}");
        assert!(pool.has_next(), "nothing was lost");
        open.send(()).unwrap();
        assert!(pool
            .block_get_next_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap());
        assert!(pool
            .block_get_next_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap());
        assert!(pool.block_get_next_timeout(Duration::ZERO).is_none());
    });
}

#[test]
fn an_async_get_next_with_a_timeout_gives_up_then_gets_the_result() {
    within_deadline(|| {
        let rt = runtime(2);
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let shared = Arc::clone(&gate);
        let models = [rt
            .actor_builder()
            .spawn_async(move || Arc::clone(&shared))
            .unwrap()];
        let mut pool: ActorPool<AsyncActorHandle<_>, u8> = ActorPool::new(models);
        pool.submit(
            |a, ()| {
                a.call(|gate: Arc<Arc<tokio::sync::Semaphore>>| async move {
                    let _open = gate.acquire().await.unwrap();
                    7
                })
            },
            (),
        );
        rt.handle().block_on(async {
            let timed_out = pool.get_next_timeout(Duration::from_millis(30)).await;
            assert!(timed_out.unwrap().unwrap_err().is_get_timeout());
            let timed_out = pool.get_next_unordered_timeout(Duration::ZERO).await;
            assert!(timed_out.unwrap().unwrap_err().is_get_timeout());
            gate.add_permits(1);
            let got = pool.get_next_timeout(Duration::from_secs(5)).await;
            assert_eq!(got.unwrap().unwrap(), 7);
            assert!(pool.get_next_timeout(Duration::ZERO).await.is_none());
        });
    });
}

#[test]
fn an_empty_pool_fails_each_item_and_works_once_an_actor_is_pushed() {
    within_deadline(|| {
        let rt = runtime(2);
        let empty: ActorPool<taskref::ActorHandle<u64>> = ActorPool::new([]);
        let mapped: Vec<_> = empty
            .block_map(0..3u64, |n: &mut u64, x| *n + x)
            .unwrap()
            .collect();
        assert_eq!(mapped.len(), 3, "every item is accounted for");
        for (index, (at, outcome)) in mapped.into_iter().enumerate() {
            assert_eq!(at, index);
            let err = outcome.unwrap_err();
            assert!(err.is_invalid_argument(), "{err}");
            assert!(err.to_string().contains("tests/actor_pool.rs"), "{err}");
        }
        let mut pool: ActorPool<_, u64> = ActorPool::new([]);
        pool.submit(
            |a: &taskref::ActorHandle<u64>, x| a.call(move |n| *n + x),
            1,
        );
        let err = pool.block_get_next().unwrap().unwrap_err();
        assert!(err.is_invalid_argument(), "{err}");
        pool.push(rt.actor(10u64));
        pool.submit(|a, x| a.call(move |n| *n + x), 2);
        assert_eq!(pool.block_get_next().unwrap().unwrap(), 12);
    });
}

#[test]
fn a_timeout_too_long_to_represent_is_no_timeout() {
    within_deadline(|| {
        let rt = runtime(2);
        let mut pool: ActorPool<_, u64> = ActorPool::new([rt.actor(0u64)]);
        for x in [1, 2] {
            pool.submit(
                |a, x| {
                    a.call(move |n: &mut u64| {
                        std::thread::sleep(Duration::from_millis(20));
                        *n + x
                    })
                },
                x,
            );
        }
        assert_eq!(
            pool.block_get_next_timeout(Duration::MAX).unwrap().unwrap(),
            1
        );
        assert_eq!(
            pool.block_get_next_unordered_timeout(Duration::MAX)
                .unwrap()
                .unwrap(),
            2
        );
    });
}
