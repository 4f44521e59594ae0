//! Actor restarts and call retries (Ray's `max_restarts`, `ray.kill(actor,
//! no_restart=False)` and `max_task_retries`): what a restart does to the
//! call running, the calls queued and the calls after it, the budget, and
//! the races of a restart or a kill against calls from other threads.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

use support::{runtime, within_deadline};
use taskref::{ActorHandle, ObjectRef};

/// An actor whose state is the number of its instance (0 first), with the
/// constructor runs counted.
fn generations(rt: &taskref::Runtime, restarts: u32) -> (ActorHandle<u32>, Arc<AtomicU32>) {
    let built = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&built);
    let actor = rt
        .actor_builder()
        .max_restarts(restarts)
        .spawn(move || counter.fetch_add(1, Ordering::SeqCst))
        .unwrap();
    (actor, built)
}

/// A call that holds the actor until `release` is waited on, once it runs
/// (`started` is waited on then).
fn hold(actor: &ActorHandle<u32>) -> (ObjectRef<u32>, Arc<Barrier>, Arc<Barrier>) {
    let (started, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    let held = actor.call(move |generation: &mut u32| {
        s.wait();
        r.wait();
        *generation
    });
    started.wait();
    (held, started, release)
}

fn generation(actor: &ActorHandle<u32>) -> ObjectRef<u32> {
    actor.call(|generation: &mut u32| *generation)
}

#[test]
fn a_restart_lets_the_running_call_finish_fails_unmarked_queued_calls_and_runs_marked_ones_anew() {
    within_deadline(|| {
        let rt = runtime(2);
        let (actor, built) = generations(&rt, 1);
        let (running, _, release) = hold(&actor);
        let plain = generation(&actor);
        let marked = actor
            .max_retries(1)
            .call(|generation: &mut u32| *generation);
        actor.kill_and_restart();
        release.wait();
        assert_eq!(
            running.block_get().unwrap(),
            0,
            "finished on the old instance"
        );
        let err = plain.block_get().unwrap_err();
        assert!(err.is_actor_died(), "{err}");
        assert!(err.to_string().contains("restarted"), "{err}");
        assert_eq!(marked.block_get().unwrap(), 1, "ran on the new instance");
        assert_eq!(generation(&actor).block_get().unwrap(), 1);
        assert_eq!((actor.restarts(), built.load(Ordering::SeqCst)), (1, 2));
        assert!(!actor.is_dead());
    });
}

#[test]
fn without_restarts_left_a_restart_is_a_kill() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt
            .actor_builder()
            .name("once")
            .max_restarts(0)
            .spawn(|| 0u32)
            .unwrap();
        actor.kill_and_restart();
        let err = generation(&actor).block_get().unwrap_err();
        assert!(err.is_actor_died(), "{err}");
        assert!(err.to_string().contains("no restarts left"), "{err}");
        assert!(actor.is_dead());
        let gone = rt.get_actor::<u32>("once").unwrap_err();
        assert!(gone.to_string().contains("no restarts left"), "{gone}");
    });
}

#[test]
fn constructor_panics_and_kills_share_one_budget() {
    within_deadline(|| {
        let rt = runtime(2);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        let actor = rt
            .actor_builder()
            .max_restarts(3)
            .spawn(move || {
                // The first two builds fail.
                if counted.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("flaky start");
                }
                7u32
            })
            .unwrap();
        assert_eq!(generation(&actor).block_get().unwrap(), 7);
        assert_eq!(actor.restarts(), 2);
        actor.kill_and_restart();
        assert_eq!(generation(&actor).block_get().unwrap(), 7);
        assert_eq!(actor.restarts(), 3);
        actor.kill_and_restart();
        assert!(generation(&actor).block_get().unwrap_err().is_actor_died());
        assert_eq!(runs.load(Ordering::SeqCst), 4);
    });
}

#[test]
fn a_queued_call_uses_one_retry_per_restart_it_waits_through() {
    within_deadline(|| {
        let rt = runtime(2);
        let (actor, _) = generations(&rt, 2);
        let (running, _, release) = hold(&actor);
        let once = actor.max_retries(1).call(|g: &mut u32| *g);
        let twice = actor.max_retries(2).call(|g: &mut u32| *g);
        // Two restarts while both wait.
        actor.kill_and_restart();
        actor.kill_and_restart();
        let after = generation(&actor);
        release.wait();
        assert_eq!(running.block_get().unwrap(), 0);
        assert!(
            once.block_get().unwrap_err().is_actor_died(),
            "one retry, two restarts"
        );
        assert_eq!(twice.block_get().unwrap(), 2, "ran on the third instance");
        assert_eq!(
            after.block_get().unwrap(),
            2,
            "a call after both restarts is new"
        );
        assert_eq!(actor.restarts(), 2);
    });
}

#[test]
fn a_call_made_after_a_restart_runs_on_the_new_instance_without_retries() {
    within_deadline(|| {
        let rt = runtime(2);
        let (actor, _) = generations(&rt, 1);
        assert_eq!(generation(&actor).block_get().unwrap(), 0);
        actor.kill_and_restart();
        assert_eq!(generation(&actor).block_get().unwrap(), 1);
    });
}

#[test]
fn the_builder_sets_the_retries_of_every_call_and_a_handle_can_override_it() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt
            .actor_builder()
            .max_restarts(1)
            .max_task_retries(1)
            .spawn(|| 0u32)
            .unwrap();
        let (running, _, release) = hold(&actor);
        let retried = generation(&actor);
        let not = actor.max_retries(0).call(|g: &mut u32| *g);
        actor.kill_and_restart();
        release.wait();
        running.block_get().unwrap();
        assert!(retried.block_get().is_ok());
        assert!(not.block_get().unwrap_err().is_actor_died());
    });
}

#[test]
fn restarts_racing_with_calls_from_other_threads_never_lose_or_mix_calls() {
    within_deadline(|| {
        let rt = runtime(2);
        let (actor, built) = generations(&rt, 5);
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let actor = actor.clone();
                std::thread::spawn(move || {
                    let refs: Vec<_> = (0..400).map(|_| generation(&actor)).collect();
                    let outcomes: Vec<_> = refs.iter().map(|r| r.block_get()).collect();
                    let mut last = 0;
                    for outcome in outcomes {
                        match outcome {
                            // One caller's calls run in its order: the
                            // instances they see never go back.
                            Ok(g) => {
                                assert!(g >= last, "instance {g} after {last}");
                                last = g;
                            }
                            Err(err) => {
                                assert!(err.is_actor_died(), "{err}");
                                assert!(err.to_string().contains("restarted"), "{err}");
                            }
                        }
                    }
                })
            })
            .collect();
        for _ in 0..5 {
            // Held, so that the callers' calls queue up behind each restart.
            let (held, _, release) = hold(&actor);
            actor.kill_and_restart();
            std::thread::sleep(std::time::Duration::from_millis(1));
            release.wait();
            let _ = held.block_get();
        }
        for caller in callers {
            caller.join().unwrap();
        }
        // Every restart asked for happened, one after another.
        support::eventually("five restarts", || {
            generation(&actor).block_get().ok() == Some(5)
        });
        assert_eq!((actor.restarts(), built.load(Ordering::SeqCst)), (5, 6));
    });
}

#[test]
fn a_kill_while_a_call_runs_lets_it_finish_and_fails_the_rest() {
    within_deadline(|| {
        let rt = runtime(2);
        let (actor, _) = generations(&rt, 3);
        let (running, _, release) = hold(&actor);
        let queued: Vec<_> = (0..10)
            .map(|_| actor.max_retries(5).call(|g: &mut u32| *g))
            .collect();
        actor.kill(); // a kill never restarts, whatever the budget
        release.wait();
        assert_eq!(running.block_get().unwrap(), 0);
        for r in queued {
            assert!(r.block_get().unwrap_err().is_actor_died());
        }
        assert!(generation(&actor).block_get().unwrap_err().is_actor_died());
        assert_eq!(actor.restarts(), 0);
    });
}

#[test]
fn async_actors_restart_and_retry_marked_calls_too() {
    within_deadline(|| {
        let rt = runtime(2);
        let built = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&built);
        let actor = rt
            .actor_builder()
            .max_restarts(1)
            .spawn_async(move || counter.fetch_add(1, Ordering::SeqCst))
            .unwrap();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let g = Arc::clone(&gate);
        // max_concurrency 1: the first call holds the only slot.
        let started = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&started);
        let running = actor.call(move |g0: Arc<u32>| async move {
            s.store(true, Ordering::SeqCst);
            let _ = g.acquire().await.map(|p| p.forget());
            *g0
        });
        support::eventually("the first call runs", || started.load(Ordering::SeqCst));
        let plain = actor.call(|g: Arc<u32>| async move { *g });
        let marked = actor.max_retries(1).call(|g: Arc<u32>| async move { *g });
        actor.kill_and_restart();
        let after = actor.call(|g: Arc<u32>| async move { *g });
        gate.add_permits(1);
        assert_eq!(running.block_get().unwrap(), 0, "finished on the old state");
        assert!(plain.block_get().unwrap_err().is_actor_died());
        assert_eq!(marked.block_get().unwrap(), 1);
        assert_eq!(after.block_get().unwrap(), 1);
        assert_eq!((actor.restarts(), built.load(Ordering::SeqCst)), (1, 2));
        actor.kill_and_restart(); // none left
        assert!(actor
            .call(|g: Arc<u32>| async move { *g })
            .block_get()
            .unwrap_err()
            .is_actor_died());
    });
}

#[test]
fn an_async_actor_whose_last_handle_goes_runs_its_queued_calls_first() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt.actor_builder().spawn_async(|| 5u32).unwrap();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let g = Arc::clone(&gate);
        let first = actor.call(move |n: Arc<u32>| async move {
            let _ = g.acquire().await.map(|p| p.forget());
            *n
        });
        let queued: Vec<_> = (0..3)
            .map(|i| actor.call(move |n: Arc<u32>| async move { *n + i }))
            .collect();
        drop(actor);
        gate.add_permits(1);
        assert_eq!(first.block_get().unwrap(), 5);
        assert_eq!(taskref::block_get_all(queued).unwrap(), [5, 6, 7]);
    });
}

#[test]
fn a_kill_while_an_async_actor_restarts_runs_nothing_after_it() {
    within_deadline(|| {
        let rt = runtime(2);
        let building = Arc::new(std::sync::Barrier::new(2));
        let builds = Arc::new(AtomicU32::new(0));
        let (b, n) = (Arc::clone(&building), Arc::clone(&builds));
        let actor = rt
            .actor_builder()
            .max_restarts(1)
            .spawn_async(move || {
                // The second build waits until the test has killed it.
                if n.fetch_add(1, Ordering::SeqCst) == 1 {
                    b.wait();
                    b.wait();
                }
                0u32
            })
            .unwrap();
        assert_eq!(
            actor
                .call(|n: Arc<u32>| async move { *n })
                .block_get()
                .unwrap(),
            0
        );
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let g = Arc::clone(&gate);
        let started = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&started);
        let running = actor.call(move |_: Arc<u32>| async move {
            s.store(true, Ordering::SeqCst);
            let _ = g.acquire().await.map(|p| p.forget());
        });
        // Started before the kill: a call still queued then would fail.
        support::eventually("the first call runs", || started.load(Ordering::SeqCst));
        let marked = actor.max_retries(1).call(|n: Arc<u32>| async move { *n });
        actor.kill_and_restart();
        building.wait(); // the second build has begun
        actor.kill();
        building.wait();
        let err = marked.block_get().unwrap_err();
        assert!(err.is_actor_died(), "ran after the kill: {err:?}");
        gate.add_permits(1);
        running.block_get().unwrap();
    });
}

#[test]
fn an_async_restart_never_runs_an_earlier_call_on_the_new_instance_nor_a_later_on_the_old() {
    within_deadline(|| {
        let rt = runtime(2);
        for round in 0..100 {
            let built = Arc::new(AtomicU32::new(0));
            let b = Arc::clone(&built);
            let actor = rt
                .actor_builder()
                .max_restarts(1)
                .max_concurrency(4)
                .spawn_async(move || b.fetch_add(1, Ordering::SeqCst))
                .unwrap();
            let generation =
                |a: &taskref::AsyncActorHandle<u32>| a.call(|g: Arc<u32>| async move { *g });
            let before: Vec<_> = (0..6).map(|_| generation(&actor)).collect();
            let marked: Vec<_> = (0..3).map(|_| generation(&actor.max_retries(1))).collect();
            actor.kill_and_restart();
            let after: Vec<_> = (0..6).map(|_| generation(&actor)).collect();
            if round % 2 == 0 {
                drop(actor); // every handle gone while the restart drains
            }
            for r in before {
                match r.block_get() {
                    Ok(g) => assert_eq!(g, 0, "round {round}: an earlier call ran on the new one"),
                    Err(e) => assert!(e.is_actor_died(), "round {round}: {e}"),
                }
            }
            for r in marked {
                assert!(r.block_get().unwrap() <= 1, "round {round}");
            }
            for r in after {
                assert_eq!(r.block_get().unwrap(), 1, "round {round}: a later call");
            }
        }
    });
}
