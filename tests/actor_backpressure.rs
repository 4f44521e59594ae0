//! An actor's bound on pending calls (Ray's `max_pending_calls`): a call
//! beyond it fails at once, every way a call ends gives its place back, and
//! a caller that waits for room is never refused.

mod support;

use std::sync::{Arc, Barrier};

use support::{runtime, within_deadline};

/// A call that holds the actor, running, until the returned barrier is
/// passed.
fn hold(actor: &taskref::ActorHandle<u32>) -> (taskref::ObjectRef<()>, Arc<Barrier>) {
    let (started, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    let running = actor.call(move |_: &mut u32| {
        s.wait();
        r.wait();
    });
    started.wait();
    (running, release)
}

#[test]
fn a_call_beyond_the_bound_fails_at_once_and_room_comes_back() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt
            .actor_builder()
            .name("slow")
            .max_pending_calls(2)
            .spawn(|| 0u32)
            .unwrap();
        let (running, release) = hold(&actor);
        let queued = actor.call(|n: &mut u32| *n);
        // Running and queued both count: the third is refused.
        let refused = actor.call(|n: &mut u32| *n);
        assert!(refused.is_ready(), "refused at once, not queued");
        let err = refused.block_get().unwrap_err();
        assert!(err.is_pending_calls_limit_exceeded(), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("`slow`") && message.contains("2 calls pending"),
            "{message}"
        );
        assert!(message.contains(file!()), "names the call: {message}");
        release.wait();
        running.block_get().unwrap();
        queued.block_get().unwrap();
        assert_eq!(
            actor.call(|n: &mut u32| *n).block_get().unwrap(),
            0,
            "room again"
        );
    });
}

#[test]
fn every_way_a_call_ends_gives_its_place_back() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt
            .actor_builder()
            .max_pending_calls(1)
            .spawn(|| 0u32)
            .unwrap();
        let panicked = actor.call(|_: &mut u32| -> u32 { panic!("boom") });
        assert!(panicked.block_get().unwrap_err().is_panic());
        let failed = actor.try_call(|_: &mut u32| Err::<u32, _>(std::io::Error::other("no")));
        assert!(failed.block_get().unwrap_err().is_failed());
        let upstream = rt.spawn(async { panic!("upstream") });
        let dependent = actor.call_with(upstream, |n: &mut u32, ()| *n);
        assert!(dependent.block_get().unwrap_err().is_dependency_failed());
        assert_eq!(actor.call(|n: &mut u32| *n).block_get().unwrap(), 0);
        // Killed: queued calls fail, and a later call is refused as dead,
        // not as over the bound.
        actor.kill();
        let after = actor.call(|n: &mut u32| *n).block_get().unwrap_err();
        assert!(after.is_actor_died(), "{after}");
    });
}

#[test]
fn a_caller_that_waits_for_room_is_never_refused() {
    within_deadline(|| {
        let rt = runtime(2);
        const BOUND: usize = 4;
        let actor = rt
            .actor_builder()
            .max_pending_calls(BOUND)
            .spawn(|| 0u64)
            .unwrap();
        // Keep at most BOUND calls in flight: wait for one before the next.
        let mut in_flight = Vec::new();
        let mut done = 0;
        for i in 0..500u64 {
            if in_flight.len() == BOUND {
                let (ready, rest) = taskref::block_wait(in_flight, 1, None).unwrap();
                for r in ready {
                    r.block_get().expect("never refused");
                    done += 1;
                }
                in_flight = rest;
            }
            in_flight.push(actor.call(move |total: &mut u64| {
                *total += i;
                *total
            }));
        }
        done += taskref::block_get_all(in_flight)
            .expect("never refused")
            .len();
        assert_eq!(done, 500);
        // And through map_unordered, with max_in_flight at most the bound.
        let sums = taskref::block_map_unordered(0..200u64, BOUND, |i| {
            actor.call(move |total: &mut u64| *total + i)
        })
        .unwrap();
        let mut mapped = 0;
        for (_, sum) in sums {
            sum.expect("never refused");
            mapped += 1;
        }
        assert_eq!(mapped, 200);
    });
}

#[test]
fn async_actors_have_the_bound_too() {
    within_deadline(|| {
        let rt = runtime(2);
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let actor = rt
            .actor_builder()
            .max_pending_calls(1)
            .spawn_async(move || Arc::clone(&gate))
            .unwrap();
        let waiting = actor.call(|gate: Arc<Arc<tokio::sync::Semaphore>>| async move {
            let _ = gate.acquire().await;
        });
        let refused = actor.call(|_: Arc<Arc<tokio::sync::Semaphore>>| async {});
        assert!(refused
            .block_get()
            .unwrap_err()
            .is_pending_calls_limit_exceeded());
        actor.kill();
        drop(waiting);
    });
}

#[test]
fn a_queued_call_cancelled_gives_its_place_back_at_once() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt
            .actor_builder()
            .max_pending_calls(2)
            .spawn(|| 0u32)
            .unwrap();
        let (running, release) = hold(&actor);
        let queued = actor.call(|n: &mut u32| *n);
        assert!(actor
            .call(|n: &mut u32| *n)
            .block_get()
            .unwrap_err()
            .is_pending_calls_limit_exceeded());
        // Still in the mailbox behind the running call, but decided: its
        // place is free now, not when the actor reaches it.
        assert!(queued.cancel());
        let admitted = actor.call(|n: &mut u32| *n + 1);
        assert!(!admitted.is_ready(), "queued, not refused");
        release.wait();
        running.block_get().unwrap();
        assert!(queued.block_get().unwrap_err().is_cancelled());
        assert_eq!(admitted.block_get().unwrap(), 1);
        // Every place came back, once: two more fit, the third does not.
        let (held, release) = hold(&actor);
        let second = actor.call(|n: &mut u32| *n);
        let third = actor.call(|n: &mut u32| *n);
        assert!(third
            .block_get()
            .unwrap_err()
            .is_pending_calls_limit_exceeded());
        release.wait();
        held.block_get().unwrap();
        assert_eq!(second.block_get().unwrap(), 0);
    });
}
