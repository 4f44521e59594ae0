//! The task tree: parents, and a cancel that reaches every task a task
//! submitted, transitively (Ray's `ray.cancel(recursive=True)`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use taskref::{Error, ObjectRef, Runtime};

mod support;

const PATIENCE: Duration = Duration::from_secs(10);

fn rt() -> Runtime {
    Runtime::builder()
        .num_cpus(4)
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn a_task_submitted_inside_a_task_is_its_child() {
    let rt = rt();
    let inner = rt.clone();
    let parent = rt.spawn(async move {
        let me = taskref::current_task().unwrap().task().id();
        let child = inner.spawn(async { taskref::current_task().unwrap().parent() });
        let blocking = inner.spawn_blocking(|| taskref::current_task().unwrap().parent());
        (me, child.await.unwrap(), blocking.await.unwrap())
    });
    let (me, seen_by_child, seen_by_blocking) = parent.block_get().unwrap();
    assert_eq!(me, parent.id());
    assert_eq!(seen_by_child, Some(me));
    assert_eq!(seen_by_blocking, Some(me));
    assert_eq!(
        rt.spawn(async {}).task().parent(),
        None,
        "submitted from no task"
    );
    // A task of another runtime is not a parent.
    let other = rt_other();
    let from_other = other.spawn({
        let rt = rt.clone();
        async move { rt.spawn(async {}).task().parent() }
    });
    assert_eq!(from_other.block_get().unwrap(), None);
}

fn rt_other() -> Runtime {
    Runtime::builder().worker_threads(1).build().unwrap()
}

/// A three-level tree: root (async) -> middle (async, blocking) -> leaves
/// (async, blocking), every task running or waiting until cancelled. The
/// refs come back through a channel as they are made.
struct Tree {
    root: ObjectRef<()>,
    middle_async: ObjectRef<()>,
    middle_blocking: ObjectRef<()>,
    leaves: Vec<ObjectRef<()>>,
    /// Set by each blocking task when it saw `is_cancelled`.
    blocking_saw_cancel: Arc<AtomicUsize>,
}

fn tree(rt: &Runtime) -> Tree {
    let (tx, rx) = mpsc::channel::<(&'static str, ObjectRef<()>)>();
    let saw = Arc::new(AtomicUsize::new(0));
    let inner = rt.clone();
    let saw2 = Arc::clone(&saw);
    let root = rt.spawn(async move {
        let rt = inner;
        let (tx2, saw3) = (tx.clone(), Arc::clone(&saw2));
        let rt2 = rt.clone();
        let middle_async = rt.spawn(async move {
            let leaf = rt2.spawn(std::future::pending::<()>());
            tx2.send(("leaf", leaf)).unwrap();
            let saw4 = Arc::clone(&saw3);
            let blocking_leaf = rt2.spawn_blocking(move || spin_until_cancelled(&saw4));
            tx2.send(("leaf", blocking_leaf)).unwrap();
            std::future::pending::<()>().await
        });
        tx.send(("middle_async", middle_async)).unwrap();
        let (tx3, rt3, saw5) = (tx.clone(), rt.clone(), Arc::clone(&saw2));
        let middle_blocking = rt.spawn_blocking(move || {
            let leaf = rt3.spawn(std::future::pending::<()>());
            tx3.send(("leaf", leaf)).unwrap();
            spin_until_cancelled(&saw5)
        });
        tx.send(("middle_blocking", middle_blocking)).unwrap();
        std::future::pending::<()>().await
    });
    let mut tree = Tree {
        root,
        middle_async: rt.put(()),
        middle_blocking: rt.put(()),
        leaves: Vec::new(),
        blocking_saw_cancel: saw,
    };
    for _ in 0..5 {
        let (what, r) = rx.recv_timeout(PATIENCE).expect("the tree is built");
        match what {
            "middle_async" => tree.middle_async = r,
            "middle_blocking" => tree.middle_blocking = r,
            _ => tree.leaves.push(r),
        }
    }
    tree
}

/// Blocking tasks that started spinning (each adds 1000) and that saw their
/// cancel (each adds 1): equal once every started one saw it.
fn spin_until_cancelled(saw: &AtomicUsize) {
    saw.fetch_add(1000, Ordering::SeqCst);
    let me = taskref::current_task().unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while !me.is_cancelled() {
        assert!(std::time::Instant::now() < deadline, "never cancelled");
        std::thread::sleep(Duration::from_millis(1));
    }
    saw.fetch_add(1, Ordering::SeqCst);
}

/// Waits until every spinner that started (at least `at_least` of them) saw
/// its cancel (see `spin_until_cancelled`).
fn every_started_spinner_saw_its_cancel(saw: &AtomicUsize, at_least: usize) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let n = saw.load(Ordering::SeqCst);
        if n / 1000 == n % 1000 && n / 1000 >= at_least {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "blocking tasks saw is_cancelled: {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cancelled(r: &ObjectRef<()>) -> bool {
    r.block_get_timeout(PATIENCE).unwrap_err().is_cancelled()
}

#[test]
fn cancelling_the_root_cancels_the_whole_tree() {
    let rt = rt();
    let tree = tree(&rt);
    assert!(tree.root.cancel());
    assert!(cancelled(&tree.root));
    assert!(cancelled(&tree.middle_async));
    assert!(cancelled(&tree.middle_blocking));
    for leaf in &tree.leaves {
        assert!(cancelled(leaf), "{:?}", leaf.task());
    }
    // Each blocking task that started saw its cancel (one still queued at the
    // cancel never runs at all).
    every_started_spinner_saw_its_cancel(&tree.blocking_saw_cancel, 1);
}

#[test]
fn cancelling_the_middle_cancels_its_subtree_only() {
    let rt = rt();
    let tree = tree(&rt);
    assert!(tree.middle_async.cancel());
    assert!(cancelled(&tree.middle_async));
    // Its two leaves are the first two sent.
    let mine: Vec<_> = tree
        .leaves
        .iter()
        .filter(|l| l.task().parent() == Some(tree.middle_async.id()))
        .collect();
    assert_eq!(mine.len(), 2);
    for leaf in mine {
        assert!(cancelled(leaf));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(!tree.root.is_ready(), "the root runs on");
    assert!(!tree.middle_blocking.is_ready(), "its sibling runs on");
    tree.root.cancel();
    assert!(cancelled(&tree.middle_blocking));
}

#[test]
fn a_finished_child_keeps_its_value_and_non_recursive_cancel_spares_children() {
    let rt = rt();
    let inner = rt.clone();
    let (tx, rx) = mpsc::channel();
    let root = rt.spawn(async move {
        let done = inner.spawn(async { 5 });
        let _ = done.get().await;
        let pending = inner.spawn(std::future::pending::<u8>());
        tx.send((done, pending)).unwrap();
        std::future::pending::<()>().await
    });
    let (done, pending) = rx.recv_timeout(PATIENCE).unwrap();
    assert!(root.cancel_non_recursive());
    std::thread::sleep(Duration::from_millis(20));
    assert!(!pending.is_ready(), "non-recursive: the child runs on");
    rt.cancel(root.id()); // recursive, though the root is cancelled already
    assert!(pending
        .block_get_timeout(PATIENCE)
        .unwrap_err()
        .is_cancelled());
    assert_eq!(
        done.block_get().unwrap(),
        5,
        "a finished child keeps its value"
    );
}

#[test]
fn a_cancelled_blocking_task_gives_birth_to_cancelled_children() {
    let rt = rt();
    let inner = rt.clone();
    let (tx, rx) = mpsc::channel();
    // A blocking parent that goes on after its cancel and submits a child.
    let checked = rt.spawn_blocking(move || {
        let me = taskref::current_task().unwrap();
        while !me.is_cancelled() {
            std::thread::sleep(Duration::from_millis(1));
        }
        tx.send(inner.spawn(async { 1 })).unwrap();
    });
    std::thread::sleep(Duration::from_millis(20));
    checked.cancel();
    let child = rx.recv_timeout(PATIENCE).unwrap();
    assert!(child
        .block_get_timeout(PATIENCE)
        .unwrap_err()
        .is_cancelled());
}

#[test]
fn cancel_racing_completion_has_exactly_one_outcome() {
    let rt = rt();
    for round in 0..2_000u32 {
        let inner = rt.clone();
        let r = rt.spawn(async move {
            let child = inner.spawn(async move { round });
            child.await.unwrap()
        });
        let canceller = {
            let r = r.clone();
            std::thread::spawn(move || r.cancel())
        };
        let outcome = r.block_get_timeout(PATIENCE);
        let did_cancel = canceller.join().unwrap();
        match outcome {
            Ok(value) => {
                assert_eq!(value, round);
                assert!(
                    !did_cancel,
                    "round {round}: a value and a successful cancel"
                );
            }
            Err(err) => {
                assert!(err.is_cancelled(), "round {round}: {err}");
                assert!(did_cancel, "round {round}: cancelled without a cancel");
            }
        }
    }
}

#[test]
fn cancelling_a_task_that_submitted_ten_thousand_children_cancels_them_all() {
    let rt = rt();
    let inner = rt.clone();
    let (tx, rx) = mpsc::channel();
    let root = rt.spawn(async move {
        let children: Vec<_> = (0..10_000)
            .map(|_| inner.spawn(std::future::pending::<()>()))
            .collect();
        tx.send(children).unwrap();
        std::future::pending::<()>().await
    });
    let children = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(children.len(), 10_000);
    let started = std::time::Instant::now();
    assert!(root.cancel());
    for child in &children {
        assert!(child
            .block_get_timeout(PATIENCE)
            .unwrap_err()
            .is_cancelled());
    }
    assert!(started.elapsed() < PATIENCE);
}

#[test]
fn the_timeline_records_parents_and_the_chrome_trace_draws_the_tree() {
    let rt = Runtime::builder()
        .worker_threads(2)
        .timeline(true)
        .build()
        .unwrap();
    let inner = rt.clone();
    let parent = rt.spawn(async move { inner.spawn(async { 1 }).await.unwrap() });
    assert_eq!(parent.block_get().unwrap(), 1);
    let timeline = rt.timeline();
    let child = timeline
        .tasks()
        .iter()
        .find(|t| t.task.parent() == Some(parent.id()))
        .expect("the child is on the timeline with its parent");
    let trace: serde_json::Value = serde_json::from_str(&timeline.chrome_trace()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let flow = |ph: &str| {
        events
            .iter()
            .any(|e| e["ph"] == ph && e["id"].as_u64() == Some(child.task.id().as_u64()))
    };
    assert!(flow("s") && flow("f"), "a parent -> child arrow");
    let child_event = events
        .iter()
        .find(|e| e["ph"] == "X" && e["args"]["id"].as_u64() == Some(child.task.id().as_u64()))
        .unwrap();
    assert_eq!(
        child_event["args"]["parent"].as_u64(),
        Some(parent.id().as_u64())
    );
}

#[test]
fn a_timeout_bounds_the_subtree_and_says_whose_deadline_it_was() {
    let rt = rt();
    let inner = rt.clone();
    let (tx, rx) = mpsc::channel();
    let saw = Arc::new(AtomicUsize::new(0));
    let saw2 = Arc::clone(&saw);
    let parent = rt
        .remote(move |_: ()| {
            let (inner, tx, saw) = (inner.clone(), tx.clone(), Arc::clone(&saw2));
            async move {
                let sleeper = inner.spawn(tokio::time::sleep(Duration::from_secs(30)));
                let spinner = inner.spawn_blocking(move || spin_until_cancelled(&saw));
                tx.send((sleeper, spinner)).unwrap();
                std::future::pending::<()>().await
            }
        })
        .timeout(Duration::from_millis(300))
        .remote(());
    let (sleeper, spinner) = rx.recv_timeout(PATIENCE).unwrap();
    let started = std::time::Instant::now();
    for r in [&parent, &sleeper, &spinner] {
        match r.block_get_timeout(PATIENCE) {
            Err(taskref::Error::TaskTimedOut { deadline_of, .. }) => {
                assert_eq!(deadline_of, parent.id(), "{:?}", r.task())
            }
            other => panic!("expected TaskTimedOut for {:?}, got {other:?}", r.task()),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let err = sleeper.block_get().unwrap_err().to_string();
    assert!(
        err.contains(&format!("deadline of task {}", parent.id())),
        "{err}"
    );
    every_started_spinner_saw_its_cancel(&saw, 0);
}

#[test]
fn a_child_with_a_shorter_timeout_keeps_its_own() {
    let rt = rt();
    let inner = rt.clone();
    let parent = rt
        .remote(move |_: ()| {
            let inner = inner.clone();
            async move {
                let quick = inner
                    .remote(|_: ()| tokio::time::sleep(Duration::from_secs(30)))
                    .timeout(Duration::from_millis(50))
                    .remote(());
                let err = quick.get().await.unwrap_err();
                match err {
                    taskref::Error::TaskTimedOut { deadline_of, .. } => deadline_of == quick.id(),
                    _ => false,
                }
            }
        })
        .timeout(Duration::from_secs(20))
        .remote(());
    assert!(
        parent.block_get_timeout(PATIENCE).unwrap(),
        "the child's own deadline"
    );
}

#[test]
fn a_cancel_reaches_below_a_finished_task_that_is_gone() {
    let rt = rt();
    let inner = rt.clone();
    let saw = Arc::new(AtomicUsize::new(0));
    let saw2 = Arc::clone(&saw);
    let (tx, rx) = mpsc::channel();
    // A submits B, which submits C and returns C's ref; B finishes and its
    // last ref is consumed, so B is gone while C (A's grandchild) runs.
    let a = rt.spawn(async move {
        let rt = inner.clone();
        let b = inner.spawn(async move {
            let saw = Arc::clone(&saw2);
            rt.spawn_blocking(move || spin_until_cancelled(&saw))
        });
        let c = b.await.unwrap();
        tx.send(c.clone()).unwrap();
        c.await
    });
    let c = rx.recv_timeout(PATIENCE).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert!(a.cancel());
    assert!(
        cancelled(&c),
        "the grandchild below a finished child is cancelled"
    );
    every_started_spinner_saw_its_cancel(&saw, 0);
}

#[test]
fn an_inherited_deadline_is_a_time_not_a_length() {
    // One CPU, held for 600 ms: a child submitted under a 200 ms deadline
    // waits for it, and must not get a fresh 200 ms once it starts.
    let rt = Runtime::builder()
        .num_cpus(1)
        .worker_threads(2)
        .build()
        .unwrap();
    let hog = rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(600)));
    std::thread::sleep(Duration::from_millis(20));
    let inner = rt.clone();
    let started = std::time::Instant::now();
    let parent = rt
        .remote(move |_: ()| {
            let inner = inner.clone();
            async move {
                // Returns the child's ref at once: the parent finishes in time.
                inner.spawn_blocking(|| std::thread::sleep(Duration::from_millis(2_000)))
            }
        })
        .timeout(Duration::from_millis(200))
        .remote(());
    let child = parent.block_get().unwrap();
    match child.block_get_timeout(PATIENCE) {
        Err(taskref::Error::TaskTimedOut { deadline_of, .. }) => {
            assert_eq!(deadline_of, parent.id())
        }
        other => panic!("expected the parent's deadline, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "the child ran past the inherited deadline: {:?}",
        started.elapsed()
    );
    hog.block_get().unwrap();
}

#[test]
fn a_timeout_too_long_to_represent_is_no_deadline() {
    let rt = rt();
    let r = rt
        .remote(|x: u8| async move { x })
        .timeout(Duration::MAX)
        .remote(3);
    assert_eq!(r.block_get_timeout(PATIENCE).unwrap(), 3);
    let b = rt
        .remote_blocking(|x: u8| x)
        .timeout(Duration::MAX)
        .remote(4);
    assert_eq!(b.block_get_timeout(PATIENCE).unwrap(), 4);
}

#[test]
fn an_actor_call_made_under_a_deadline_inherits_it() {
    support::within_deadline(|| {
        let rt = rt();
        let actor = rt.actor_builder().name("clock").spawn(|| 0u32).unwrap();
        let busy = actor.clone();
        let (actor2, rt2) = (actor.clone(), rt.clone());
        let parent = rt
            .remote(move |_: ()| {
                let (actor, busy, _rt) = (actor2.clone(), busy.clone(), rt2.clone());
                async move {
                    let mine = taskref::current_task().unwrap().deadline().unwrap();
                    // A call that sees the deadline it inherited...
                    let seen = actor
                        .call(|_: &mut u32| taskref::current_task().unwrap().deadline())
                        .await
                        .unwrap();
                    // ...and one queued behind a long call, past the deadline.
                    let _long =
                        busy.call(|_: &mut u32| std::thread::sleep(Duration::from_millis(600)));
                    let late = actor.call(|n: &mut u32| *n);
                    (mine, seen, late)
                }
            })
            .timeout(Duration::from_millis(300))
            .remote(());
        let (mine, seen, late) = parent.block_get().unwrap();
        assert_eq!(seen, Some(mine), "the call inherits its parent's deadline");
        let err = late.block_get().unwrap_err();
        assert!(err.is_task_timeout(), "{err}");
        let Error::TaskTimedOut { deadline_of, .. } = err else {
            unreachable!()
        };
        assert_eq!(deadline_of, parent.id());
    });
}
