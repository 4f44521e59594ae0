//! `Runtime::tasks()`: every unfinished task with its id, name, call site,
//! parent, age and state, printed as a tree; from async and blocking code and
//! while the runtime is busy.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::{eventually, within_deadline};
use taskref::{ObjectId, Runtime, TaskSnapshot, TaskState, Tasks};

fn rt() -> Runtime {
    Runtime::builder()
        .worker_threads(2)
        .num_cpus(2)
        .resource("gpu", 1.0)
        .build()
        .unwrap()
}

/// A blocking task that runs until `gate` opens.
fn held(rt: &Runtime, gate: &Arc<AtomicBool>) -> taskref::ObjectRef<u32> {
    let gate = Arc::clone(gate);
    rt.spawn_blocking(move || {
        while !gate.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(1));
        }
        1
    })
}

fn state_of(tasks: &Tasks, id: ObjectId) -> &TaskState {
    &tasks
        .get(id)
        .unwrap_or_else(|| panic!("{id} in {tasks}"))
        .state
}

#[test]
fn every_state_is_shown_with_what_the_task_waits_on() {
    within_deadline(|| {
        let rt = rt();
        let gate = Arc::new(AtomicBool::new(false));
        let running = held(&rt, &gate);
        // Waiting for an argument: the running task's value.
        let consumer = rt
            .remote(|x: u32| async move { x + 1 })
            .name("consumer")
            .remote(&running);
        // Waiting for resources: the only gpu is taken by a running task.
        let gpu_gate = Arc::clone(&gate);
        let on_gpu = rt
            .remote_blocking(move |_: ()| {
                while !gpu_gate.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(1));
                }
            })
            .resource("gpu", 1.0)
            .num_cpus(0.0)
            .name("first gpu user");
        let first_gpu = on_gpu.remote(());
        let second_gpu = on_gpu.remote(());
        // Blocked in a get, at a known line.
        let watched = running.clone();
        let get_line = line!() + 1;
        let blocked = rt.spawn(async move { watched.get().await.unwrap() });
        // Queued in an actor's mailbox, behind a call that runs.
        let actor = rt.actor_builder().name("ledger").spawn(|| 0u32).unwrap();
        let busy_gate = Arc::clone(&gate);
        let busy = actor.call(move |_: &mut u32| {
            while !busy_gate.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
        });
        let queued = actor.call(|n: &mut u32| *n);

        eventually("every task reached its state", || {
            let tasks = rt.tasks();
            matches!(state_of(&tasks, blocked.id()), TaskState::Blocked { .. })
                && matches!(state_of(&tasks, busy.id()), TaskState::Running)
                && matches!(state_of(&tasks, first_gpu.id()), TaskState::Running)
                && matches!(
                    state_of(&tasks, second_gpu.id()),
                    TaskState::WaitingForResources { .. }
                )
        });
        let tasks = rt.tasks();
        let text = tasks.to_string();
        assert!(matches!(state_of(&tasks, running.id()), TaskState::Running));
        match state_of(&tasks, consumer.id()) {
            TaskState::WaitingForArguments { on } => assert_eq!(on, &[running.id()], "{text}"),
            other => panic!("consumer: {other:?}\n{text}"),
        }
        match state_of(&tasks, second_gpu.id()) {
            TaskState::WaitingForResources { request } => {
                assert!(request.contains("1 of `gpu`"), "{request}")
            }
            other => panic!("second gpu user: {other:?}\n{text}"),
        }
        match state_of(&tasks, blocked.id()) {
            TaskState::Blocked { waits } => {
                assert_eq!(waits.len(), 1);
                assert_eq!(waits[0].call, "get");
                assert_eq!(waits[0].location.line(), get_line);
                assert_eq!(waits[0].on, [running.id()]);
                assert_eq!(waits[0].count, 1);
            }
            other => panic!("blocked: {other:?}\n{text}"),
        }
        match state_of(&tasks, queued.id()) {
            TaskState::QueuedInActor { actor, .. } => assert_eq!(actor, "ledger"),
            other => panic!("queued: {other:?}\n{text}"),
        }
        let line = tasks.get(consumer.id()).unwrap();
        assert_eq!(line.task.name(), Some("consumer"));
        assert!(line.task.location().file().ends_with("task_snapshot.rs"));
        assert!(line.age >= Duration::ZERO && line.age < support::DEADLINE);
        for needle in [
            "`consumer`",
            "waiting for its arguments",
            "waiting for resources: 1 of `gpu`",
            &format!("blocked in `get` at {}", file!()),
            "queued in actor `ledger`'s mailbox",
            "running",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
        gate.store(true, Ordering::SeqCst);
        assert_eq!(consumer.block_get().unwrap(), 2);
        queued.block_get().unwrap();
        blocked.block_get().unwrap();
        second_gpu.block_get().unwrap();
        eventually("nothing is left", || rt.tasks().is_empty());
        assert_eq!(rt.tasks().to_string(), "0 unfinished tasks\n");
    });
}

#[test]
fn a_gather_shows_its_refs_and_how_many() {
    within_deadline(|| {
        let rt = rt();
        let gate = Arc::new(AtomicBool::new(false));
        let refs: Vec<_> = (0..20).map(|_| held(&rt, &gate)).collect();
        let ids: Vec<ObjectId> = refs.iter().map(|r| r.id()).collect();
        let gatherer = rt.spawn(async move { taskref::get_all(refs).await.unwrap().len() });
        eventually("the gather waits", || {
            matches!(
                rt.tasks().get(gatherer.id()).map(|t| &t.state),
                Some(TaskState::Blocked { .. })
            )
        });
        let tasks = rt.tasks();
        let TaskState::Blocked { waits } = state_of(&tasks, gatherer.id()) else {
            unreachable!()
        };
        assert_eq!(waits[0].call, "get_all");
        assert_eq!(waits[0].count, 20);
        assert!(waits[0].on.iter().all(|id| ids.contains(id)));
        assert!(tasks.to_string().contains("and 15 more"), "{tasks}");
        gate.store(true, Ordering::SeqCst);
        assert_eq!(gatherer.block_get().unwrap(), 20);
    });
}

#[test]
fn the_display_is_the_task_tree() {
    within_deadline(|| {
        let rt = rt();
        let gate = Arc::new(AtomicBool::new(false));
        let (inner, flag) = (rt.clone(), Arc::clone(&gate));
        let root = rt
            .remote(move |_: ()| {
                let (inner, flag) = (inner.clone(), Arc::clone(&flag));
                async move {
                    let flag2 = Arc::clone(&flag);
                    let child = inner
                        .remote(move |_: ()| {
                            let flag = Arc::clone(&flag2);
                            async move {
                                while !flag.load(Ordering::SeqCst) {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                                1u32
                            }
                        })
                        .name("child")
                        .remote(());
                    child.await.unwrap()
                }
            })
            .name("root")
            .remote(());
        eventually("the root waits on its child", || {
            rt.tasks().iter().any(|t| t.task.name() == Some("child"))
                && matches!(
                    rt.tasks().get(root.id()).map(|t| &t.state),
                    Some(TaskState::Blocked { .. })
                )
        });
        let tasks = rt.tasks();
        let child: &TaskSnapshot = tasks
            .iter()
            .find(|t| t.task.name() == Some("child"))
            .unwrap();
        assert_eq!(child.task.parent(), Some(root.id()));
        let text = tasks.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let root_line = lines.iter().position(|l| l.contains("`root`")).unwrap();
        assert!(!lines[root_line].starts_with(' '), "{text}");
        assert!(
            lines[root_line + 1].starts_with("  ") && lines[root_line + 1].contains("`child`"),
            "the child is indented under its parent:\n{text}"
        );
        assert!(text.contains(&format!("on {}", child.task.id())), "{text}");
        gate.store(true, Ordering::SeqCst);
        assert_eq!(root.block_get().unwrap(), 1);
    });
}

#[test]
fn a_task_whose_parent_finished_is_a_root_saying_so() {
    within_deadline(|| {
        let rt = rt();
        let gate = Arc::new(AtomicBool::new(false));
        let (inner, flag) = (rt.clone(), Arc::clone(&gate));
        let parent = rt.spawn(async move { held(&inner, &flag).id() });
        let orphan = parent.block_get().unwrap();
        let text = rt.tasks().to_string();
        assert!(
            text.contains(&format!("submitted by {}, finished", parent.id())),
            "{orphan}: {text}"
        );
        gate.store(true, Ordering::SeqCst);
    });
}

#[test]
fn it_works_from_inside_tasks_and_while_the_runtime_is_busy() {
    within_deadline(|| {
        let rt = rt();
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // Another thread submits and gathers without pause meanwhile.
        let (busy_rt, busy_stop, done) = (rt.clone(), Arc::clone(&stop), Arc::clone(&rounds));
        let submitter = thread::spawn(move || {
            let f = busy_rt.remote(|x: u64| async move { x });
            while !busy_stop.load(Ordering::SeqCst) {
                let refs: Vec<_> = (0..1_000).map(|i| f.remote(i)).collect();
                assert_eq!(taskref::block_get_all(refs).unwrap().len(), 1_000);
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
        // Snapshots taken while three rounds of 1,000 tasks come and go.
        let mut snapshots = 0;
        while rounds.load(Ordering::SeqCst) < 3 {
            let tasks = rt.tasks();
            assert!(tasks.len() <= 1_000, "only unfinished tasks");
            snapshots += 1;
        }
        assert!(snapshots > 0);
        // From an async task and from a blocking one: each sees itself
        // running (once registered, a moment after it may start).
        let inner = rt.clone();
        let from_async = rt.spawn(async move {
            let me = taskref::current_task().unwrap().task().id();
            loop {
                if let Some(t) = inner.tasks().get(me) {
                    return matches!(t.state, TaskState::Running);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let inner = rt.clone();
        let from_blocking = rt.spawn_blocking(move || {
            let me = taskref::current_task().unwrap().task().id();
            loop {
                if let Some(t) = inner.tasks().get(me) {
                    return matches!(t.state, TaskState::Running);
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        assert!(from_async.block_get().unwrap(), "it sees itself running");
        assert!(from_blocking.block_get().unwrap(), "it sees itself running");
        stop.store(true, Ordering::SeqCst);
        submitter.join().unwrap();
    });
}

#[test]
fn a_deadline_or_a_cancel_leaves_no_trace_in_the_snapshot() {
    within_deadline(|| {
        let rt = rt();
        let gate = Arc::new(AtomicBool::new(false));
        let running = held(&rt, &gate);
        let watched = running.clone();
        let blocked = rt.spawn(async move { watched.await.unwrap() });
        eventually("blocked", || {
            matches!(
                rt.tasks().get(blocked.id()).map(|t| &t.state),
                Some(TaskState::Blocked { .. })
            )
        });
        blocked.cancel();
        assert!(
            rt.tasks().get(blocked.id()).is_none(),
            "a cancelled task is finished"
        );
        gate.store(true, Ordering::SeqCst);
        running.block_get().unwrap();
        eventually("nothing is left", || rt.tasks().is_empty());
    });
}

#[test]
fn a_very_deep_tree_prints_its_depth_instead_of_ever_more_indentation() {
    within_deadline(|| {
        let rt = rt();
        let gate = Arc::new(AtomicBool::new(false));
        // A chain of 100 tasks, each submitted by the one above it and
        // waiting on the one below; the last waits on the gate.
        fn nest(rt: Runtime, gate: Arc<AtomicBool>, left: u32) -> taskref::ObjectRef<u32> {
            let inner = rt.clone();
            rt.spawn(async move {
                if left == 0 {
                    while !gate.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    return 0;
                }
                nest(inner, gate, left - 1).await.unwrap() + 1
            })
        }
        let top = nest(rt.clone(), Arc::clone(&gate), 100);
        eventually("the whole chain exists", || rt.tasks().len() == 101);
        let text = rt.tasks().to_string();
        assert!(text.contains("[depth 100]"), "{text}");
        let widest = text.lines().map(|l| l.len() - l.trim_start().len()).max();
        assert!(widest.unwrap() <= 64, "indentation is capped");
        gate.store(true, Ordering::SeqCst);
        assert_eq!(top.block_get().unwrap(), 100);
    });
}
