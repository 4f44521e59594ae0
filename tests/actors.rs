//! Actors: ordered calls over `&mut S`, failures, kill, restarts, lifetime,
//! resources, pools, and what the observers see of them.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use support::{eventually, runtime, within_deadline, Concurrency, DropCounter};
use taskref::{ActorPool, AntiPatterns, Error, Runtime};

#[test]
fn calls_run_one_at_a_time_in_submission_order_under_contention() {
    within_deadline(|| {
        let rt = runtime(2);
        let log = rt.actor((Vec::<(u32, u32)>::new(), false));
        let threads: Vec<_> = (0..4u32)
            .map(|thread| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let refs: Vec<_> = (0..200u32)
                        .map(|i| {
                            log.call(move |(entries, busy): &mut (Vec<(u32, u32)>, bool)| {
                                assert!(!*busy, "two calls at once");
                                *busy = true;
                                entries.push((thread, i));
                                *busy = false;
                            })
                        })
                        .collect();
                    taskref::block_get_all(refs).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let entries = log
            .call(|(entries, _)| entries.clone())
            .block_get()
            .unwrap();
        assert_eq!(entries.len(), 800);
        for thread in 0..4 {
            let mine: Vec<u32> = entries
                .iter()
                .filter(|e| e.0 == thread)
                .map(|e| e.1)
                .collect();
            assert_eq!(
                mine,
                (0..200).collect::<Vec<_>>(),
                "thread {thread}'s calls in order"
            );
        }
    });
}

#[test]
fn async_and_thread_callers_share_one_actor() {
    within_deadline(|| {
        let rt = runtime(2);
        let counter = rt.actor(0u64);
        let from_tasks: Vec<_> = (0..50)
            .map(|_| {
                let counter = counter.clone();
                rt.spawn(async move { counter.call(|n: &mut u64| *n += 1).await.unwrap() })
            })
            .collect();
        taskref::block_get_all(from_tasks).unwrap();
        for _ in 0..50 {
            let _ = counter.call(|n: &mut u64| *n += 1);
        }
        assert_eq!(counter.call(|n: &mut u64| *n).block_get().unwrap(), 100);
    });
}

#[test]
fn a_panicking_call_fails_alone_and_the_actor_lives() {
    within_deadline(|| {
        let rt = runtime(1);
        let a = rt.actor_builder().name("sturdy").spawn(|| 1u32).unwrap();
        let bad = a.call(|_: &mut u32| -> u32 { panic!("method failed") });
        let good = a.call(|n: &mut u32| *n + 1);
        let err = bad.block_get().unwrap_err();
        assert!(err.is_panic());
        assert!(
            err.to_string().contains("`sturdy`") && err.to_string().contains("method failed"),
            "{err}"
        );
        assert_eq!(good.block_get().unwrap(), 2);
        assert!(!a.is_dead());
    });
}

#[test]
fn kill_fails_queued_and_later_calls_but_not_the_running_one() {
    within_deadline(|| {
        let rt = runtime(1);
        let a = rt.actor_builder().name("doomed").spawn(|| 0u32).unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let running = a.call(move |n: &mut u32| {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            *n + 10
        });
        let queued = a.call(|n: &mut u32| *n);
        started_rx.recv().unwrap();
        a.kill();
        let later = a.call(|n: &mut u32| *n);
        go_tx.send(()).unwrap();
        assert_eq!(
            running.block_get().unwrap(),
            10,
            "the running call finishes"
        );
        for r in [queued, later] {
            match r.block_get().unwrap_err() {
                Error::ActorDied { actor, cause, .. } => {
                    assert_eq!(actor, "doomed");
                    assert!(cause.contains("killed"), "{cause}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(a.is_dead());
    });
}

#[test]
fn a_panicking_constructor_kills_the_actor_unless_restarts_remain() {
    within_deadline(|| {
        let rt = runtime(1);
        let dead = rt
            .actor_builder()
            .name("broken")
            .spawn(|| -> u8 { panic!("no state") })
            .unwrap();
        let err = dead.call(|s: &mut u8| *s).block_get().unwrap_err();
        assert!(err.is_actor_died(), "{err}");
        assert!(
            err.to_string().contains("constructor panicked")
                && err.to_string().contains("no state"),
            "{err}"
        );

        let attempts = Arc::new(AtomicU32::new(0));
        let seen = attempts.clone();
        let flaky = rt
            .actor_builder()
            .max_restarts(2)
            .spawn(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(n > 2, "constructor attempt {n} fails");
                n
            })
            .unwrap();
        assert_eq!(flaky.call(|n: &mut u32| *n).block_get().unwrap(), 3);
    });
}

#[test]
fn dropping_every_handle_stops_the_actor_and_drops_its_state_once() {
    within_deadline(|| {
        let rt = runtime(1);
        let counter = DropCounter::default();
        let a = rt.actor(counter.token());
        let b = a.clone();
        let r = b.call(|_| 7);
        drop(a);
        assert_eq!(counter.drops(), 0, "a handle is still alive");
        drop(b);
        assert_eq!(r.block_get().unwrap(), 7, "queued calls still run");
        eventually("the state is dropped", || counter.drops() == 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.drops(), 1, "exactly once");
    });
}

#[test]
fn arguments_may_be_refs_and_order_is_strict() {
    within_deadline(|| {
        let rt = runtime(2);
        let log = rt.actor(Vec::<u64>::new());
        let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
        let slow_input = rt.spawn(async move { rx.await.unwrap() });
        let first = log.call_with(slow_input, |v: &mut Vec<u64>, x: u64| v.push(x));
        let second = log.call(|v: &mut Vec<u64>| v.push(2));
        // Another caller's call does not overtake the blocked one either.
        let other = log.clone();
        let third = std::thread::spawn(move || other.call(|v: &mut Vec<u64>| v.push(3)))
            .join()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !second.is_ready() && !third.is_ready(),
            "the calls behind a waiting argument wait too"
        );
        tx.send(1).unwrap();
        first.block_get().unwrap();
        second.block_get().unwrap();
        third.block_get().unwrap();
        assert_eq!(
            log.call(|v: &mut Vec<u64>| v.clone()).block_get().unwrap(),
            [1, 2, 3]
        );

        let failed = rt.spawn(async { panic!("no input") });
        let err = log
            .call_with(failed, |v: &mut Vec<u64>, x: u64| v.push(x))
            .block_get()
            .unwrap_err();
        assert!(err.is_dependency_failed());
        assert_eq!(
            log.call(|v: &mut Vec<u64>| v.len()).block_get().unwrap(),
            3,
            "alive"
        );
    });
}

#[test]
fn an_actor_holds_its_resources_for_its_life() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .num_cpus(2)
            .worker_threads(1)
            .resource("gpu", 1.0)
            .build()
            .unwrap();
        let holder = rt
            .actor_builder()
            .resource("gpu", 1.0)
            .spawn(|| ())
            .unwrap();
        holder.call(|_| ()).block_get().unwrap();
        let needs_gpu = rt
            .remote(|x: u8| async move { x })
            .resource("gpu", 1.0)
            .remote(1);
        std::thread::sleep(Duration::from_millis(30));
        assert!(!needs_gpu.is_ready(), "the actor holds the gpu");
        drop(holder);
        assert_eq!(
            needs_gpu.block_get().unwrap(),
            1,
            "released when the actor stops"
        );
        let greedy = rt.actor_builder().resource("gpu", 2.0).spawn(|| ());
        assert!(matches!(greedy, Err(Error::Infeasible { .. })));
        let bad = rt.actor_builder().num_cpus(-1.0).spawn(|| ());
        assert!(matches!(bad, Err(Error::InvalidArgument { .. })));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_keeps_every_actor_busy() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let running = Concurrency::default();
    let pool = ActorPool::new((0..3).map(|_| rt.actor(running.clone())));
    let results: Vec<(usize, u64)> = pool
        .map_unordered(0..12u64, |busy: &mut Concurrency, x| {
            let _guard = busy.enter();
            std::thread::sleep(Duration::from_millis(10));
            x
        })
        .map(|(i, v)| (i, v.unwrap()))
        .collect()
        .await;
    assert_eq!(results.len(), 12);
    assert!(results.iter().all(|&(i, v)| i as u64 == v));
    assert_eq!(running.peak(), 3, "all three actors worked at once");
}

#[test]
fn pool_blocking_twins_keep_order_as_asked() {
    within_deadline(|| {
        let rt = runtime(2);
        let pool = ActorPool::new((0..2).map(|_| rt.actor(())));
        let ordered: Vec<usize> = pool
            .block_map(0..10u64, |_: &mut (), x| {
                std::thread::sleep(Duration::from_millis(10 - x));
                x
            })
            .unwrap()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ordered, (0..10).collect::<Vec<_>>());
        let mut unordered: Vec<u64> = pool
            .block_map_unordered(0..10u64, |_: &mut (), x| x)
            .unwrap()
            .map(|(_, v)| v.unwrap())
            .collect();
        unordered.sort();
        assert_eq!(unordered, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn actor_calls_show_in_stats_the_timeline_and_the_detector() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .anti_patterns(AntiPatterns::Deny)
            .build()
            .unwrap();
        let a = rt.actor_builder().name("observed").spawn(|| 0u32).unwrap();
        rt.reset_stats();
        let _ = taskref::block_get_all((0..5).map(|_| a.call(|n: &mut u32| *n += 1)));
        assert_eq!(rt.stats().finished, 5);
        let named = rt
            .timeline()
            .tasks()
            .iter()
            .filter(|r| r.task.actor() == Some("observed"))
            .count();
        assert_eq!(named, 5);
        let _task = rt.spawn(async {}).block_get();
        let svg = rt.timeline().svg();
        assert_eq!(
            svg.matches("actor observed").count(),
            1,
            "one band for the actor"
        );
        assert_eq!(
            svg.matches(r#"class="task""#).count(),
            6,
            "five calls and a task"
        );
        let trace = rt.timeline().chrome_trace();
        assert_eq!(trace.matches(r#""actor":"observed""#).count(), 5);
        // Waiting on each call right after making it is a get in a loop.
        let slow = Arc::new(AtomicBool::new(true));
        let mut denied = None;
        for _ in 0..5 {
            let slow = slow.clone();
            let r = a.call(move |_| {
                if slow.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(3));
                }
            });
            if let Err(err) = r.block_get() {
                denied = Some(err);
                break;
            }
        }
        assert!(
            matches!(denied, Some(Error::AntiPattern { .. })),
            "{denied:?}"
        );
    });
}

#[test]
fn async_actors_interleave_up_to_max_concurrency_and_start_in_order() {
    within_deadline(|| {
        let rt = runtime(2);
        let running = Concurrency::default();
        let started = Arc::new(std::sync::Mutex::new(Vec::new()));
        let a = rt
            .actor_builder()
            .name("async")
            .max_concurrency(3)
            .spawn_async({
                let running = running.clone();
                let started = started.clone();
                move || (running.clone(), started.clone())
            })
            .unwrap();
        let refs: Vec<_> = (0..12u32)
            .map(|i| {
                a.call(
                    move |s: Arc<(Concurrency, Arc<std::sync::Mutex<Vec<u32>>>)>| async move {
                        s.1.lock().unwrap().push(i);
                        let _guard = s.0.enter();
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        i
                    },
                )
            })
            .collect();
        assert_eq!(
            taskref::block_get_all(refs).unwrap(),
            (0..12).collect::<Vec<_>>()
        );
        assert_eq!(
            running.peak(),
            3,
            "at most max_concurrency at once, and that many"
        );
        assert_eq!(
            *started.lock().unwrap(),
            (0..12).collect::<Vec<_>>(),
            "started in order"
        );
    });
}

#[test]
fn async_actor_failures_kill_and_lifetime() {
    within_deadline(|| {
        let rt = runtime(2);
        let counter = DropCounter::default();
        let maker = counter.clone();
        let a = rt
            .actor_builder()
            .spawn_async(move || maker.token())
            .unwrap();
        let bad = a.call(|_| async { panic!("async method failed") });
        let good = a.call(|_| async { 1 });
        assert!(bad.block_get().unwrap_err().is_panic());
        assert_eq!(good.block_get().unwrap(), 1);
        a.kill();
        assert!(a
            .call(|_| async { 2 })
            .block_get()
            .unwrap_err()
            .is_actor_died());
        drop(a);
        eventually("the state is dropped", || counter.drops() == 1);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(counter.drops(), 1, "and only once");

        let broken = rt
            .actor_builder()
            .spawn_async(|| -> u8 { panic!("no state") })
            .unwrap();
        assert!(broken
            .call(|_| async { 0 })
            .block_get()
            .unwrap_err()
            .is_actor_died());
    });
}

#[test]
fn a_method_error_fails_only_its_call_and_names_the_actor() {
    within_deadline(|| {
        let rt = runtime(2);
        let a = rt.actor_builder().name("ledger").spawn(|| 0u32).unwrap();
        let failed = a.try_call(|n: &mut u32| {
            *n += 1;
            Err::<u32, _>(std::io::Error::other("ledger closed"))
        });
        let after = a.call(|n: &mut u32| *n);
        let err = failed.block_get().unwrap_err();
        assert!(err.is_failed(), "{err}");
        assert_eq!(err.task().and_then(|t| t.name()), Some("ledger"));
        let source = std::error::Error::source(&err).expect("the method's error");
        assert_eq!(source.to_string(), "ledger closed");
        assert_eq!(
            after.block_get().unwrap(),
            1,
            "alive, and the failed call's change kept"
        );
        assert!(!a.is_dead());

        let asynchronous = rt.actor_builder().spawn_async(|| ()).unwrap();
        let err = asynchronous
            .try_call(|_| async { Err::<(), _>(std::io::Error::other("async no")) })
            .block_get()
            .unwrap_err();
        assert!(err.is_failed());
        assert_eq!(asynchronous.call(|_| async { 7 }).block_get().unwrap(), 7);
    });
}

#[test]
fn a_dead_actor_gives_back_its_resources_and_state_at_once() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .resource("gpu", 1.0)
            .build()
            .unwrap();
        let needs_gpu = rt.remote(|x: u8| async move { x }).resource("gpu", 1.0);

        // Killed, with its handle still alive.
        let counter = DropCounter::default();
        let maker = counter.clone();
        let a = rt
            .actor_builder()
            .name("sync")
            .resource("gpu", 1.0)
            .spawn(move || maker.token())
            .unwrap();
        a.call(|_| ()).block_get().unwrap();
        let waiting = needs_gpu.remote(1);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiting.is_ready(), "the actor holds the gpu");
        a.kill();
        assert_eq!(waiting.block_get().unwrap(), 1, "given back on kill");
        eventually("the state is dropped on kill", || counter.drops() == 1);
        let err = a.call(|_| ()).block_get().unwrap_err();
        assert!(err.to_string().contains("killed"), "{err}");

        // The same for an async actor.
        let maker = counter.clone();
        let b = rt
            .actor_builder()
            .resource("gpu", 1.0)
            .spawn_async(move || maker.token())
            .unwrap();
        b.call(|_| async {}).block_get().unwrap();
        b.kill();
        assert_eq!(needs_gpu.remote(2).block_get().unwrap(), 2);
        eventually("the async state is dropped on kill", || {
            counter.drops() == 2
        });
        assert!(b
            .call(|_| async {})
            .block_get()
            .unwrap_err()
            .is_actor_died());

        // A constructor that panics gives the gpu back without being called.
        let broken = rt
            .actor_builder()
            .resource("gpu", 1.0)
            .spawn(|| -> u8 { panic!("no") })
            .unwrap();
        assert_eq!(needs_gpu.remote(3).block_get().unwrap(), 3);
        let broken_async = rt
            .actor_builder()
            .resource("gpu", 1.0)
            .spawn_async(|| -> u8 { panic!("no") })
            .unwrap();
        assert_eq!(needs_gpu.remote(4).block_get().unwrap(), 4);
        assert!(broken.call(|_| 0).block_get().unwrap_err().is_actor_died());
        assert!(broken_async
            .call(|_| async { 0 })
            .block_get()
            .unwrap_err()
            .is_actor_died());
        drop((a, b));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.drops(), 2, "each state dropped once");
    });
}

#[test]
fn a_queued_call_that_is_cancelled_never_runs() {
    within_deadline(|| {
        let rt = runtime(2);
        let a = rt.actor(Vec::<u32>::new());
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let blocker = a.call(move |_: &mut Vec<u32>| go_rx.recv().unwrap());
        let skipped = a.call(|v: &mut Vec<u32>| v.push(1));
        let kept = a.call(|v: &mut Vec<u32>| v.push(2));
        assert!(skipped.cancel(), "pending, so cancelled");
        go_tx.send(()).unwrap();
        blocker.block_get().unwrap();
        assert!(skipped.block_get().unwrap_err().is_cancelled());
        kept.block_get().unwrap();
        assert_eq!(
            a.call(|v: &mut Vec<u32>| v.clone()).block_get().unwrap(),
            [2]
        );
    });
}

/// How long a regression test waits for something that should happen at once:
/// long enough for a loaded 2-core machine, short enough to fail fast.
const PROMPTLY: Duration = Duration::from_secs(5);

#[test]
fn an_actor_of_a_shut_down_runtime_is_a_dead_handle_not_a_panic() {
    within_deadline(|| {
        let rt = runtime(1);
        rt.shutdown();
        let a = rt.actor(5u8);
        assert!(a.is_dead(), "it never started");
        let err = a
            .call(|x: &mut u8| *x)
            .block_get_timeout(PROMPTLY)
            .unwrap_err();
        assert!(err.is_shutdown(), "{err}");
        assert_eq!(
            err.task().map(|t| t.location().file()),
            Some(file!()),
            "the error names the call: {err}"
        );
        let err = a
            .call_with(1u8, |x: &mut u8, y: u8| *x + y)
            .block_get_timeout(PROMPTLY)
            .unwrap_err();
        assert!(err.is_shutdown(), "{err}");

        // The builder's forms already said so; they still do.
        assert!(matches!(
            rt.actor_builder().spawn(|| 0u8),
            Err(Error::Shutdown { .. })
        ));
        assert!(matches!(
            rt.actor_builder().spawn_async(|| 0u8),
            Err(Error::Shutdown { .. })
        ));

        // A pool of such actors yields the same error for every item.
        let pool = ActorPool::new((0..2).map(|_| rt.actor(0u8)));
        let outcomes: Vec<_> = pool.block_map(0..3u8, |_: &mut u8, x| x).unwrap().collect();
        assert_eq!(outcomes.len(), 3);
        for (_, outcome) in outcomes {
            assert!(outcome.unwrap_err().is_shutdown());
        }
    });
}

#[test]
fn an_actor_builder_without_a_runtime_is_an_error_not_a_panic() {
    let err = taskref::ActorBuilder::default().spawn(|| 0u8).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("actor_builder"), "{err}");
    let err = taskref::ActorBuilder::default()
        .spawn_async(|| 0u8)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}

#[test]
fn actors_started_while_the_runtime_shuts_down_never_panic_or_hang() {
    within_deadline(|| {
        for _ in 0..20 {
            let rt = runtime(1);
            let starter = {
                let rt = rt.clone();
                std::thread::spawn(move || {
                    let mut refs = Vec::new();
                    for i in 0..20u32 {
                        refs.push(rt.actor(i).call(|x: &mut u32| *x));
                        if let Ok(a) = rt.actor_builder().num_cpus(0.5).spawn(move || i) {
                            refs.push(a.call(|x: &mut u32| *x));
                        }
                        if let Ok(a) = rt.actor_builder().spawn_async(move || i) {
                            refs.push(a.call(|x: Arc<u32>| async move { *x }));
                        }
                    }
                    refs
                })
            };
            std::thread::sleep(Duration::from_micros(300));
            rt.shutdown();
            for r in starter.join().expect("no panic while starting actors") {
                match r.block_get_timeout(PROMPTLY) {
                    Ok(_) => {}
                    Err(err) => assert!(err.is_shutdown() || err.is_actor_died(), "{err}"),
                }
            }
        }
    });
}

#[test]
fn kill_fails_a_call_waiting_for_its_argument_and_never_runs_it() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .resource("gpu", 1.0)
            .build()
            .unwrap();
        let counter = DropCounter::default();
        let maker = counter.clone();
        let a = rt
            .actor_builder()
            .name("stuck")
            .resource("gpu", 1.0)
            .spawn(move || (0u32, maker.token()))
            .unwrap();
        a.call(|_: &mut (u32, _)| ()).block_get().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let ran = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&ran);
        let waiting = a.call_with(
            rt.spawn(async move { rx.await.unwrap() }),
            move |s: &mut (u32, _), x: u32| {
                seen.store(true, Ordering::SeqCst);
                s.0 += x;
                s.0
            },
        );
        let queued = a.call(|s: &mut (u32, _)| s.0);
        std::thread::sleep(Duration::from_millis(100));
        a.kill();

        let needs_gpu = rt.remote(|x: u8| async move { x }).resource("gpu", 1.0);
        assert_eq!(
            needs_gpu.remote(1).block_get_timeout(PROMPTLY).unwrap(),
            1,
            "the gpu is given back at once"
        );
        let err = queued.block_get_timeout(PROMPTLY).unwrap_err();
        assert!(err.is_actor_died(), "{err}");
        eventually("the state is dropped on kill", || counter.drops() == 1);
        tx.send(3).unwrap();
        let err = waiting.block_get_timeout(PROMPTLY).unwrap_err();
        assert!(err.is_actor_died(), "{err}");
        assert!(err.to_string().contains("killed"), "{err}");
        std::thread::sleep(Duration::from_millis(20));
        assert!(!ran.load(Ordering::SeqCst), "no method runs after a kill");
        assert_eq!(counter.drops(), 1, "dropped once");
    });
}

#[test]
fn a_call_cancelled_while_waiting_for_its_argument_never_runs_nor_holds_up_the_rest() {
    within_deadline(|| {
        let rt = runtime(2);
        let a = rt.actor(Vec::<u32>::new());
        let (_tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let waiting = a.call_with(
            rt.spawn(async move { rx.await.unwrap() }),
            |v: &mut Vec<u32>, x: u32| v.push(x),
        );
        let behind = a.call(|v: &mut Vec<u32>| {
            v.push(1);
            v.clone()
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(waiting.cancel(), "still waiting, so cancelled");
        assert_eq!(behind.block_get_timeout(PROMPTLY).unwrap(), [1]);
        assert!(waiting.block_get().unwrap_err().is_cancelled());
    });
}

#[test]
fn kill_fails_async_calls_waiting_for_a_concurrency_slot_and_gives_back_resources() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .resource("gpu", 1.0)
            .build()
            .unwrap();
        let counter = DropCounter::default();
        let maker = counter.clone();
        let a = rt
            .actor_builder()
            .resource("gpu", 1.0)
            .spawn_async(move || maker.token())
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let running = a.call(move |_| async move { rx.await.unwrap() });
        let ran = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&ran);
        let queued = a.call(move |_| async move { seen.store(true, Ordering::SeqCst) });
        std::thread::sleep(Duration::from_millis(50));
        a.kill();
        let needs_gpu = rt.remote(|x: u8| async move { x }).resource("gpu", 1.0);
        assert_eq!(
            needs_gpu.remote(1).block_get_timeout(PROMPTLY).unwrap(),
            1,
            "the gpu is given back at once"
        );
        let err = queued.block_get_timeout(PROMPTLY).unwrap_err();
        assert!(err.is_actor_died(), "{err}");
        tx.send(()).unwrap();
        running
            .block_get_timeout(PROMPTLY)
            .expect("a running call finishes");
        eventually("the state is dropped after the running call", || {
            counter.drops() == 1
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(!ran.load(Ordering::SeqCst), "no method starts after a kill");
    });
}

#[test]
fn kill_before_the_actor_gets_its_resources_fails_its_calls_at_once() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .resource("gpu", 1.0)
            .build()
            .unwrap();
        let holder = rt
            .actor_builder()
            .resource("gpu", 1.0)
            .spawn(|| ())
            .unwrap();
        holder.call(|_| ()).block_get().unwrap();
        let built = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&built);
        let sync = rt
            .actor_builder()
            .resource("gpu", 1.0)
            .spawn(move || counted.fetch_add(1, Ordering::SeqCst))
            .unwrap();
        let counted = Arc::clone(&built);
        let asynchronous = rt
            .actor_builder()
            .resource("gpu", 1.0)
            .spawn_async(move || counted.fetch_add(1, Ordering::SeqCst))
            .unwrap();
        let sync_call = sync.call(|_| ());
        let async_call = asynchronous.call(|_| async {});
        // The resource queue is first come, first served: once the actors
        // queue for the gpu (their tokio tasks do, a moment after `spawn`),
        // this CPU task waits behind them... (The pool's unit tests pin this
        // down without timing.)
        std::thread::sleep(Duration::from_millis(50));
        let behind = rt.spawn_blocking(|| 7u8);
        std::thread::sleep(Duration::from_millis(20));
        sync.kill();
        asynchronous.kill();
        for r in [sync_call, async_call] {
            let err = r.block_get_timeout(PROMPTLY).unwrap_err();
            assert!(err.is_actor_died(), "{err}");
        }
        // ...and runs once they leave the queue, though nothing was released.
        assert_eq!(behind.block_get_timeout(PROMPTLY).unwrap(), 7);
        // A task queued behind the dead actors runs as soon as the gpu is free.
        let needs_gpu = rt.remote(|x: u8| async move { x }).resource("gpu", 1.0);
        let next = needs_gpu.remote(1);
        drop(holder);
        assert_eq!(next.block_get_timeout(PROMPTLY).unwrap(), 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            built.load(Ordering::SeqCst),
            0,
            "a killed actor never starts"
        );
    });
}

#[test]
fn inside_a_method_current_task_is_the_call() {
    let rt = taskref::Runtime::new().unwrap();
    let a = rt.actor_builder().name("self-aware").spawn(|| 0u8).unwrap();
    let r = a.call(|_: &mut u8| {
        let me = taskref::current_task().expect("a method runs as a task");
        (me.task().actor().map(str::to_owned), me.is_cancelled())
    });
    let id = r.id();
    assert_eq!(
        r.block_get().unwrap(),
        (Some("self-aware".to_owned()), false)
    );
    let b = rt.actor_builder().spawn_async(|| ()).unwrap();
    let r =
        b.call(|_: std::sync::Arc<()>| async { taskref::current_task().map(|t| t.task().id()) });
    let async_id = r.id();
    assert_eq!(r.block_get().unwrap(), Some(async_id));
    assert_ne!(id, async_id);
}
