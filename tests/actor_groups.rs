//! Concurrency groups of async actors (Ray's `concurrency_groups`): each
//! group runs its own calls up to its own limit, a busy group holds up only
//! its own calls, and calls start in submission order within a group.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{runtime, within_deadline, Concurrency};

#[test]
fn each_group_runs_at_most_its_limit_and_a_busy_group_holds_up_only_its_own_calls() {
    within_deadline(|| {
        let rt = runtime(2);
        let service = rt
            .actor_builder()
            .max_concurrency(1)
            .concurrency_group("io", 3)
            .concurrency_group("compute", 2)
            .spawn_async(|| (Concurrency::default(), Concurrency::default()))
            .unwrap();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        // Six io calls that wait for the gate: three run, three queue.
        let io = service.in_group("io").unwrap();
        let blocked: Vec<_> = (0..6)
            .map(|_| {
                let gate = Arc::clone(&gate);
                io.call(move |s: Arc<(Concurrency, Concurrency)>| async move {
                    let _in = s.0.enter();
                    let _ = gate.acquire().await.map(|p| p.forget());
                })
            })
            .collect();
        // The compute group is not held up by the full io group.
        let compute = service.in_group("compute").unwrap();
        let quick: Vec<_> = (0..10)
            .map(|i| {
                compute.call(move |s: Arc<(Concurrency, Concurrency)>| async move {
                    let _in = s.1.enter();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    i
                })
            })
            .collect();
        assert_eq!(
            taskref::block_get_all(quick).unwrap(),
            (0..10).collect::<Vec<_>>()
        );
        // Nor is the default group.
        let default = service.call(|_: Arc<(Concurrency, Concurrency)>| async { 7 });
        assert_eq!(default.block_get().unwrap(), 7);
        gate.add_permits(6);
        taskref::block_get_all(blocked).unwrap();
        let peaks = service
            .call(|s: Arc<(Concurrency, Concurrency)>| async move { (s.0.peak(), s.1.peak()) })
            .block_get()
            .unwrap();
        assert_eq!(peaks, (3, 2), "io at most 3 at once, compute at most 2");
    });
}

#[test]
fn calls_start_in_submission_order_within_a_group() {
    within_deadline(|| {
        let rt = runtime(2);
        let log = rt
            .actor_builder()
            .concurrency_group("writes", 1)
            .spawn_async(|| Mutex::new(Vec::new()))
            .unwrap();
        let writes = log.in_group("writes").unwrap();
        let refs: Vec<_> = (0..50)
            .map(|i| {
                writes.call(move |log: Arc<Mutex<Vec<u32>>>| async move {
                    log.lock().unwrap().push(i);
                    tokio::task::yield_now().await;
                })
            })
            .collect();
        taskref::block_get_all(refs).unwrap();
        let seen = log
            .call(|log: Arc<Mutex<Vec<u32>>>| async move { log.lock().unwrap().clone() })
            .block_get()
            .unwrap();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn an_unknown_group_is_an_error_that_names_the_known_ones() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt
            .actor_builder()
            .name("svc")
            .concurrency_group("io", 2)
            .spawn_async(|| ())
            .unwrap();
        let err = actor.in_group("gpu").unwrap_err();
        assert!(err.is_invalid_argument(), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("`gpu`") && message.contains("\"io\""),
            "{message}"
        );
        assert!(message.contains(file!()), "{message}");
    });
}

#[test]
fn a_kill_fails_the_calls_queued_in_every_group() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt
            .actor_builder()
            .concurrency_group("a", 1)
            .concurrency_group("b", 1)
            .spawn_async(|| ())
            .unwrap();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let hold = |group: &str| {
            let gate = Arc::clone(&gate);
            actor
                .in_group(group)
                .unwrap()
                .call(move |_: Arc<()>| async move {
                    let _ = gate.acquire().await.map(|p| p.forget());
                })
        };
        let running = [hold("a"), hold("b")];
        let queued = [hold("a"), hold("b")];
        support::eventually("both groups busy", || {
            rt.tasks()
                .iter()
                .filter(|t| t.state.to_string().contains("running"))
                .count()
                >= 2
        });
        actor.kill();
        for r in queued {
            assert!(r.block_get().unwrap_err().is_actor_died());
        }
        gate.add_permits(2);
        taskref::block_get_all(running).unwrap();
    });
}

#[test]
fn a_plain_actor_refuses_concurrency_it_cannot_give() {
    let rt = runtime(2);
    for builder in [
        rt.actor_builder().max_concurrency(2),
        rt.actor_builder().concurrency_group("io", 2),
    ] {
        let err = builder.spawn(|| 0u8).unwrap_err();
        assert!(err.is_invalid_argument(), "{err}");
        assert!(err.to_string().contains("spawn_async"), "{err}");
        assert!(err.to_string().contains(file!()), "names the caller: {err}");
    }
    let one = rt.actor_builder().max_concurrency(1).spawn(|| 3u8).unwrap();
    assert_eq!(one.call(|n: &mut u8| *n).block_get().unwrap(), 3);
}
