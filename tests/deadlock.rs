//! Deadlocks caught at the moment a wait closes a cycle: under `Deny` the
//! wait returns `Error::Deadlock` naming every task and call site of the
//! cycle; under `Warn` one report per cycle, and the wait goes on. No report
//! for waits that are not part of a cycle.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use support::{eventually, global_warnings, within_deadline};
use taskref::{AntiPatterns, Error, ObjectRef, Runtime, TaskState};

fn rt(mode: AntiPatterns) -> Runtime {
    support::detecting(mode)
}

/// The deadlock among `results` (exactly one of the waits in a cycle is
/// refused: the one that closed it).
fn the_deadlock(results: impl IntoIterator<Item = Result<u32, Error>>) -> Error {
    let mut deadlocks: Vec<Error> = results
        .into_iter()
        .filter_map(Result::err)
        .map(|err| match err {
            Error::DependencyFailed { cause, .. } => (*cause).clone(),
            err => err,
        })
        .filter(Error::is_deadlock)
        .collect();
    assert_eq!(
        deadlocks.len(),
        1,
        "one wait closes the cycle: {deadlocks:?}"
    );
    deadlocks.pop().unwrap()
}

/// Where the cycle's tasks wait: each blocked step's call site.
fn wait_sites(err: &Error) -> Vec<u32> {
    let cycle = err.deadlock_cycle().expect("a deadlock");
    cycle
        .iter()
        .filter_map(|step| match &step.state {
            TaskState::Blocked { waits } => Some(waits[0].location.line()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_sync_actor_call_that_blocks_on_a_later_call_to_itself_is_refused_naming_both() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let actor = rt.actor_builder().name("ledger").spawn(|| 7u32).unwrap();
        let me = actor.clone();
        let wait_line = line!() + 1;
        let outer = actor.call(move |_: &mut u32| me.call(|n: &mut u32| *n).block_get());
        let inner = outer.block_get().unwrap();
        let err = inner.unwrap_err();
        assert!(err.is_deadlock(), "{err}");
        let cycle = err.deadlock_cycle().unwrap();
        assert_eq!(cycle.len(), 2, "{err}");
        // The outer call, blocked at its `block_get`, waits on the inner one,
        // which waits behind it in the mailbox.
        assert_eq!(err.task().unwrap().id(), outer.id());
        assert_eq!(cycle[0].task.id(), outer.id());
        assert_eq!(wait_sites(&err), [wait_line]);
        let TaskState::QueuedInActor {
            actor: name,
            behind,
        } = &cycle[1].state
        else {
            panic!("the inner call is queued: {err}");
        };
        assert_eq!(name, "ledger");
        assert_eq!(behind, &[outer.id()]);
        let text = err.to_string();
        assert!(text.contains("deadlock"), "{text}");
        assert!(text.contains(&format!("deadlock.rs:{wait_line}")), "{text}");
        assert!(
            text.contains("queued in actor `ledger`'s mailbox"),
            "{text}"
        );
        // The actor goes on: the refused wait returned, the call ended.
        assert_eq!(actor.call(|n: &mut u32| *n + 1).block_get().unwrap(), 8);
    });
}

#[test]
fn under_warn_the_cycle_is_logged_once_and_the_wait_goes_on() {
    let warnings = global_warnings();
    within_deadline(move || {
        let rt = rt(AntiPatterns::Warn);
        let actor = rt.actor_builder().name("warned").spawn(|| 1u32).unwrap();
        let me = actor.clone();
        let wait_line = line!() + 1;
        let outer = actor.call(move |_: &mut u32| me.call(|n: &mut u32| *n).block_get());
        let site = format!("deadlock.rs:{wait_line}");
        eventually("the deadlock is logged", || warnings.text().contains(&site));
        // The wait goes on, as without the detector: it hangs until someone
        // ends it. Here: cancel the queued call it waits on.
        std::thread::sleep(Duration::from_millis(50));
        assert!(!outer.is_ready(), "the wait goes on under Warn");
        let queued = rt
            .tasks()
            .iter()
            .find(|t| matches!(t.state, TaskState::QueuedInActor { .. }))
            .map(|t| t.task.id())
            .expect("the inner call is in the mailbox");
        assert!(rt.cancel(queued));
        assert!(outer.block_get().unwrap().unwrap_err().is_cancelled());
        let text = warnings.text();
        let reports = text
            .lines()
            .filter(|l| l.contains("deadlock:") && l.contains("`warned`"))
            .count();
        assert_eq!(reports, 1, "once per cycle: {text}");
    });
}

#[test]
fn two_actors_that_call_each_other_and_block_are_refused() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let a = rt.actor_builder().name("a").spawn(|| 1u32).unwrap();
        let b = rt.actor_builder().name("b").spawn(|| 2u32).unwrap();
        // Both calls run at once (the barrier), then each blocks on a call
        // to the other actor, which is busy with the first.
        let both = Arc::new(Barrier::new(2));
        let (b2, gate) = (b.clone(), Arc::clone(&both));
        let on_a = a.call(move |_: &mut u32| -> u32 {
            gate.wait();
            b2.call(|n: &mut u32| *n).block_get().unwrap_or(0)
        });
        let (a2, gate) = (a.clone(), Arc::clone(&both));
        let failed = Arc::new(std::sync::Mutex::new(None));
        let seen = Arc::clone(&failed);
        let on_b = b.call(move |_: &mut u32| -> u32 {
            gate.wait();
            match a2.call(|n: &mut u32| *n).block_get() {
                Ok(n) => n,
                Err(err) => {
                    *seen.lock().unwrap() = Some(err);
                    0
                }
            }
        });
        // One of the two waits closed the cycle and was refused; the other
        // then got its value.
        let (x, y) = (on_a.block_get().unwrap(), on_b.block_get().unwrap());
        assert!(x == 0 || y == 0, "one wait was refused ({x}, {y})");
        let refused = failed.lock().unwrap().take();
        if let Some(err) = refused {
            let cycle = err.deadlock_cycle().expect("a deadlock");
            assert_eq!(cycle.len(), 4, "{err}");
            let actors: Vec<_> = cycle.iter().filter_map(|s| s.task.actor()).collect();
            assert!(actors.contains(&"a") && actors.contains(&"b"), "{err}");
        }
    });
}

/// An actor method that waits (with the other actor's method, at the
/// barrier) then blocks on a call to `other`.
fn call_other(
    other: taskref::ActorHandle<u32>,
    gate: Arc<Barrier>,
) -> impl FnOnce(&mut u32) -> Result<u32, Error> + Send + 'static {
    move |_: &mut u32| {
        gate.wait();
        other.call(|n: &mut u32| *n).block_get()
    }
}

#[test]
fn two_actors_cycle_names_every_task_in_the_error() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let a = rt.actor_builder().name("alpha").spawn(|| 1u32).unwrap();
        let b = rt.actor_builder().name("beta").spawn(|| 2u32).unwrap();
        let both = Arc::new(Barrier::new(2));
        let on_a = a.call(call_other(b.clone(), Arc::clone(&both)));
        let on_b = b.call(call_other(a.clone(), Arc::clone(&both)));
        let results = [on_a.block_get().unwrap(), on_b.block_get().unwrap()];
        let err = the_deadlock(results);
        let text = err.to_string();
        for needle in ["`alpha`", "`beta`", "blocked in `block_get`", "mailbox"] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    });
}

#[test]
fn when_two_waits_close_one_cycle_at_once_exactly_one_is_refused() {
    // Both actors' calls start together and block on each other at the same
    // moment, 200 times: one wait is refused, the other gets its value.
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let a = rt.actor_builder().name("left").spawn(|| 1u32).unwrap();
        let b = rt.actor_builder().name("right").spawn(|| 2u32).unwrap();
        for _ in 0..200 {
            let both = Arc::new(Barrier::new(2));
            let on_a = a.call(call_other(b.clone(), Arc::clone(&both)));
            let on_b = b.call(call_other(a.clone(), Arc::clone(&both)));
            the_deadlock([on_a.block_get().unwrap(), on_b.block_get().unwrap()]);
        }
    });
}

#[test]
fn a_call_whose_argument_waits_behind_it_is_refused() {
    // A sync actor's call waits (at the head of the mailbox) for a task's
    // value; that task waits on a call queued behind it.
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let actor = rt.actor_builder().name("x").spawn(|| 0u32).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<taskref::ActorHandle<u32>>();
        let task: ObjectRef<Result<u32, Error>> = rt.spawn(async move {
            let x = rx.await.unwrap();
            x.call(|n: &mut u32| *n).await
        });
        let head = actor.call_with(
            rt.remote(|r: Result<u32, Error>| async move { r.unwrap_or(0) })
                .remote(&task),
            |n: &mut u32, v: u32| *n + v,
        );
        tx.send(actor.clone()).unwrap();
        let results = [head.block_get(), task.block_get().unwrap()];
        the_deadlock(results);
    });
}

#[test]
fn a_wait_for_every_ref_without_a_timeout_is_a_wait_on_all_of_them() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let actor = rt.actor(0u32);
        let me = actor.clone();
        let outer = actor.call(move |_: &mut u32| {
            let inner = [me.call(|n: &mut u32| *n)];
            taskref::block_wait(&inner, 1, None).map(|(ready, _)| ready.len() as u32)
        });
        assert!(outer.block_get().unwrap().unwrap_err().is_deadlock());
    });
}

#[test]
fn a_settled_gather_refuses_only_the_refs_in_the_cycle() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let actor = rt.actor(0u32);
        let me = actor.clone();
        let inner = rt.clone();
        let outer = actor.call(move |_: &mut u32| {
            let healthy = inner.spawn(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                5u32
            });
            let own = me.call(|n: &mut u32| *n);
            taskref::block_get_all_settled([healthy, own])
        });
        let settled = outer.block_get().unwrap().unwrap();
        assert_eq!(*settled[0].as_ref().unwrap(), 5, "{settled:?}");
        assert!(
            settled[1].as_ref().unwrap_err().is_deadlock(),
            "{settled:?}"
        );
    });
}

#[test]
fn an_async_task_blocking_in_a_get_while_holding_every_cpu_lends_it_too() {
    // The mistake of a `block_get` inside async code (reported as such),
    // by a task holding the only CPU, on a child that needs it.
    within_deadline(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .num_cpus(1)
            .anti_patterns(AntiPatterns::Warn)
            .build()
            .unwrap();
        let inner = rt.clone();
        let holder = rt
            .remote(move |_: ()| {
                let inner = inner.clone();
                async move { inner.spawn_blocking(|| 7u32).block_get() }
            })
            .num_cpus(1.0);
        assert_eq!(holder.remote(()).block_get().unwrap().unwrap(), 7);
    });
}

#[test]
fn a_task_waiting_on_a_descendant_that_waits_on_it_is_refused() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let (tx, rx) = tokio::sync::oneshot::channel::<ObjectRef<Result<u32, Error>>>();
        let inner = rt.clone();
        let parent: ObjectRef<Result<u32, Error>> = rt.spawn(async move {
            let child = inner.spawn(async move {
                let grandchild_of_no_one = rx.await.expect("the parent's ref");
                // The child waits on its parent...
                grandchild_of_no_one.await.and_then(|r| r)
            });
            // ...which waits on the child.
            child.await.and_then(|r| r)
        });
        tx.send(parent.clone()).unwrap();
        let err = the_deadlock([parent.block_get().unwrap()]);
        let cycle = err.deadlock_cycle().unwrap();
        assert_eq!(cycle.len(), 2, "{err}");
        assert!(cycle.iter().any(|s| s.task.id() == parent.id()), "{err}");
        assert!(cycle
            .iter()
            .all(|s| matches!(s.state, TaskState::Blocked { .. })));
    });
}

#[test]
fn a_blocking_task_waiting_on_its_child_that_waits_on_it_is_refused() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let (tx, rx) = std::sync::mpsc::channel::<ObjectRef<Result<u32, Error>>>();
        let rx = std::sync::Mutex::new(Some(rx));
        let inner = rt.clone();
        let parent = rt.spawn_blocking(move || {
            let rx = rx.lock().unwrap().take().unwrap();
            let child = inner.spawn_blocking(move || {
                let parent = rx.recv().unwrap();
                parent.block_get().and_then(|r| r)
            });
            child.block_get().and_then(|r| r)
        });
        tx.send(parent.clone()).unwrap();
        let err = the_deadlock([parent.block_get().unwrap()]);
        assert_eq!(err.deadlock_cycle().unwrap().len(), 2, "{err}");
    });
}

#[test]
fn blocked_blocking_tasks_holding_every_cpu_lend_it_so_no_deadlock_forms() {
    // Two blocking tasks take both CPUs, then each waits on a blocking task
    // that needs a CPU. A blocked blocking task lends its CPU while it waits
    // (as Ray's `ray.get` releases a task's CPU), so the children run: the
    // cycle "queued child waits for CPU held by its blocked parent" never
    // forms, and nothing is reported.
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let parents: Vec<_> = (0..2u32)
            .map(|i| {
                let inner = rt.clone();
                rt.spawn_blocking(move || {
                    let child = inner.spawn_blocking(move || i * 10);
                    child.block_get()
                })
            })
            .collect();
        let results = taskref::block_get_all(parents).unwrap();
        assert_eq!(
            results.into_iter().collect::<Result<Vec<_>, _>>().unwrap(),
            [0, 10]
        );
    });
}

#[test]
fn async_tasks_holding_every_cpu_lend_it_while_they_await_so_no_deadlock_forms() {
    // Two async tasks asking for a CPU each take both, then each awaits a
    // blocking task that needs one. An async task lends its CPU while it
    // waits on refs (as a blocking one does), so the children run.
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let inner = rt.clone();
        // Both hold their CPU before either child is submitted (a tokio
        // barrier: not a wait on refs, so nothing is lent there).
        let both_hold = Arc::new(tokio::sync::Barrier::new(2));
        let holder = rt
            .remote(move |i: u32| {
                let (inner, both_hold) = (inner.clone(), Arc::clone(&both_hold));
                async move {
                    both_hold.wait().await;
                    let child = inner.spawn_blocking(move || {
                        std::thread::sleep(Duration::from_millis(20));
                        i + 1
                    });
                    child.await
                }
            })
            .num_cpus(1.0);
        let refs: Vec<_> = (0..2).map(|i| holder.remote(i)).collect();
        let results = taskref::block_get_all(refs).unwrap();
        let values: Vec<u32> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, [1, 2]);
    });
}

#[test]
fn a_get_with_a_timeout_in_a_cycle_is_not_reported_it_times_out() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let actor = rt.actor(0u32);
        let me = actor.clone();
        let outer = actor.call(move |_: &mut u32| {
            me.call(|n: &mut u32| *n)
                .block_get_timeout(Duration::from_millis(50))
        });
        let err = outer.block_get().unwrap().unwrap_err();
        assert!(err.is_get_timeout(), "{err}");
    });
}

#[test]
fn nothing_is_detected_when_the_detector_is_off() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Off);
        let actor = rt.actor(0u32);
        let me = actor.clone();
        let outer = actor.call(move |_: &mut u32| me.call(|n: &mut u32| *n).block_get());
        eventually("the outer call blocks", || {
            matches!(
                rt.tasks().get(outer.id()).map(|t| &t.state),
                Some(TaskState::Blocked { .. })
            )
        });
        // A hang, as asked: the snapshot still shows it; a cancel ends it.
        let queued = rt
            .tasks()
            .iter()
            .find(|t| matches!(t.state, TaskState::QueuedInActor { .. }))
            .map(|t| t.task.id())
            .unwrap();
        rt.cancel(queued);
        assert!(outer.block_get().unwrap().unwrap_err().is_cancelled());
    });
}

// ---- waits that are not cycles: never reported -------------------------

#[test]
fn a_deep_chain_of_waiting_tasks_is_not_a_cycle() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let gate = Arc::new(tokio::sync::Notify::new());
        // 2,000 tasks, each awaiting the one submitted after it (handed over
        // once it exists, so it is never a ref the task could have taken as
        // an argument): every await walks the chain behind it. The last
        // waits on the gate.
        let mut links = Vec::new();
        let mut chain = Vec::new();
        for _ in 0..2_000 {
            let (tx, rx) = tokio::sync::oneshot::channel::<ObjectRef<u32>>();
            links.push(tx);
            chain.push(rt.spawn(async move {
                let next = rx.await.expect("the next link");
                next.await.map_or(u32::MAX, |v| v + 1)
            }));
        }
        let open = Arc::clone(&gate);
        let end: ObjectRef<u32> = rt.spawn(async move {
            open.notified().await;
            0
        });
        let started = Instant::now();
        let nexts = chain.iter().skip(1).cloned().chain([end]);
        for (tx, next) in links.into_iter().zip(nexts) {
            tx.send(next).unwrap();
        }
        eventually("the chain is blocked", || {
            rt.tasks()
                .iter()
                .filter(|t| matches!(t.state, TaskState::Blocked { .. }))
                .count()
                == 2_000
        });
        gate.notify_one();
        assert_eq!(chain[0].block_get().unwrap(), 2_000);
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn ten_thousand_waiters_on_one_ref_are_not_a_cycle() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        // The waiters start first and are handed the shared ref once it
        // exists.
        let (tx, rx) = tokio::sync::watch::channel(None::<ObjectRef<u32>>);
        let blocked = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..10_000)
            .map(|_| {
                let (mut rx, blocked) = (rx.clone(), Arc::clone(&blocked));
                rt.spawn(async move {
                    let shared = rx.wait_for(Option::is_some).await.unwrap().clone();
                    blocked.fetch_add(1, Ordering::SeqCst);
                    shared.unwrap().await
                })
            })
            .collect();
        let release = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&release);
        let shared = rt.spawn_blocking(move || {
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            5u32
        });
        tx.send(Some(shared)).unwrap();
        eventually("every waiter waits", || {
            blocked.load(Ordering::SeqCst) == 10_000
        });
        release.store(true, Ordering::SeqCst);
        let results = taskref::block_get_all(waiters).unwrap();
        assert!(results.into_iter().all(|r| r.unwrap() == 5));
    });
}

#[test]
fn idiomatic_trees_gathers_and_passed_refs_are_not_cycles() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        // A task that fans out and gathers, whose children fan out and await.
        let inner = rt.clone();
        let tree = rt.spawn(async move {
            let children: Vec<_> = (0..20u32)
                .map(|i| {
                    let inner2 = inner.clone();
                    inner.spawn(async move {
                        let leaves: Vec<_> = (0..5u32)
                            .map(|j| {
                                inner2.spawn(async move {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                    i * j
                                })
                            })
                            .collect();
                        taskref::get_all(leaves).await.unwrap().iter().sum::<u32>()
                    })
                })
                .collect();
            taskref::get_all(children).await
        });
        assert_eq!(tree.block_get().unwrap().unwrap().len(), 20);
        // A pipeline of refs passed as arguments, and a blocking gather.
        let add = rt.remote(|a: u32, b: u32| async move { a + b });
        let mut acc = rt.put(0u32);
        for i in 0..500 {
            acc = add.remote((acc, i));
        }
        let inner = rt.clone();
        let total = rt.spawn_blocking(move || {
            let more: Vec<_> = (0..50u32).map(|i| inner.spawn(async move { i })).collect();
            taskref::block_get_all(more).unwrap().len()
        });
        assert_eq!(acc.block_get().unwrap(), (0..500).sum::<u32>());
        assert_eq!(total.block_get().unwrap(), 50);
        // An actor that calls another actor (no cycle), from many threads.
        let db = rt.actor_builder().name("db").spawn(|| 0u32).unwrap();
        let front = rt.actor_builder().name("front").spawn(|| 0u32).unwrap();
        let calls: Vec<_> = (0..100)
            .map(|_| {
                let db = db.clone();
                front.call(move |_: &mut u32| {
                    db.call(|n: &mut u32| {
                        *n += 1;
                        *n
                    })
                    .block_get()
                    .unwrap()
                })
            })
            .collect();
        assert_eq!(taskref::block_get_all(calls).unwrap().len(), 100);
    });
}
