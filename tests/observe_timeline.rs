//! Timeline: every task recorded with consistent times; Chrome trace and SVG
//! exports parse back; the caller's waits are recorded with their call site.

mod support;

use std::time::Duration;

use support::{runtime, within_deadline};
use taskref::observe::Outcome;

fn workload(rt: &taskref::Runtime) {
    let sleepy = rt
        .remote(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        })
        .name("sleepy");
    // Every task takes a few ms, so every get below has to wait (a get that
    // finds its task done did not wait and has no record).
    let bad = rt
        .remote(|_: ()| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            panic!("bad")
        })
        .name("bad");
    let refs: Vec<_> = (1..=5).map(|i| sleepy.remote(i * 3)).collect();
    taskref::block_get_all(refs).unwrap();
    let _ = bad.remote(()).block_get();
    sleepy.remote(10).block_get().unwrap();
}

#[test]
fn every_task_is_recorded_with_consistent_times() {
    within_deadline(|| {
        let rt = runtime(2);
        workload(&rt);
        let timeline = rt.timeline();
        assert_eq!(timeline.tasks().len(), 7);
        for record in timeline.tasks() {
            let started = record.started.expect("every task ran");
            assert!(
                record.submitted <= started && started <= record.ended,
                "{record:?}"
            );
            assert!(record.worker.is_some());
        }
        let failed: Vec<_> = timeline
            .tasks()
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].task.name(), Some("bad"));
        let calls: Vec<_> = timeline.waits().iter().map(|w| w.call).collect();
        assert_eq!(calls, ["block_get_all", "block_get", "block_get"]);
        let gather = &timeline.waits()[0];
        assert_eq!(gather.ref_count, 5);
        assert!(gather.location.file().ends_with("observe_timeline.rs"));
        assert!(gather.started <= gather.ended);
    });
}

#[test]
fn the_chrome_trace_parses_back_with_every_task() {
    within_deadline(|| {
        let rt = runtime(2);
        workload(&rt);
        let timeline = rt.timeline();
        let path = std::env::temp_dir().join(format!("taskref-trace-{}.json", std::process::id()));
        timeline.write_chrome_trace(&path).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let events = json["traceEvents"].as_array().unwrap();
        let tasks: Vec<_> = events.iter().filter(|e| e["cat"] == "task").collect();
        let waits: Vec<_> = events.iter().filter(|e| e["cat"] == "wait").collect();
        assert_eq!(tasks.len(), 7);
        assert_eq!(waits.len(), 3);
        for event in tasks.iter().chain(&waits) {
            assert_eq!(event["ph"], "X");
            assert!(event["ts"].as_f64().unwrap() >= 0.0);
            assert!(event["dur"].as_f64().unwrap() >= 0.0);
        }
        let mut ids: Vec<u64> = tasks
            .iter()
            .map(|e| e["args"]["id"].as_u64().unwrap())
            .collect();
        ids.sort();
        let mut expected: Vec<u64> = timeline
            .tasks()
            .iter()
            .map(|r| r.task.id().as_u64())
            .collect();
        expected.sort();
        assert_eq!(ids, expected);
        let _ = std::fs::remove_file(path);
    });
}

#[test]
fn the_svg_is_well_formed_with_one_bar_per_task() {
    within_deadline(|| {
        let rt = runtime(2);
        workload(&rt);
        let svg = rt.timeline().svg();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let class = |c: &str| {
            doc.descendants()
                .filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some(c))
                .count()
        };
        assert_eq!(class("task"), 7);
        assert_eq!(class("wait"), 3);
        let titles: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("title"))
            .filter_map(|n| n.text().map(str::to_owned))
            .collect();
        assert!(titles.iter().any(|t| t.starts_with("sleepy")), "{titles:?}");
        assert!(titles.iter().any(|t| t.contains("Failed")), "{titles:?}");
        assert!(svg.contains(">ms</text>"), "a time axis in ms");
    });
}

#[test]
fn the_timeline_is_bounded_and_can_be_switched_off() {
    within_deadline(|| {
        let small = taskref::Runtime::builder()
            .worker_threads(1)
            .timeline_capacity(64)
            .build()
            .unwrap();
        let f = small.remote(|x: u32| async move { x });
        taskref::block_get_all((0..1_000).map(|x| f.remote(x))).unwrap();
        let kept = small.timeline().tasks().len();
        assert_eq!(kept, 64, "exactly the capacity");
        small.clear_timeline();
        assert!(small.timeline().tasks().is_empty());

        let off = taskref::Runtime::builder()
            .worker_threads(1)
            .timeline(false)
            .build()
            .unwrap();
        off.spawn(async {}).block_get().unwrap();
        assert!(off.timeline().tasks().is_empty());
        assert_eq!(off.stats().finished, 1, "stats stay on");
    });
}

#[test]
fn as_completed_streams_are_recorded_as_one_wait_each() {
    use futures::StreamExt;
    let rt = taskref::Runtime::new().unwrap();
    // Each task takes a moment, so every stream has to wait.
    let f = rt.remote(|x: u64| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        x
    });
    let refs: Vec<_> = (0..3).map(|x| f.remote(x)).collect();
    let ids: Vec<_> = refs.iter().map(|r| r.id()).collect();
    let drained: Vec<_> = rt
        .handle()
        .block_on(taskref::as_completed(refs).collect::<Vec<_>>());
    assert_eq!(drained.len(), 3);
    let line = line!() - 2;
    let blocked: Vec<_> = taskref::block_as_completed((0..2).map(|x| f.remote(x)))
        .unwrap()
        .collect();
    assert_eq!(blocked.len(), 2);
    // A stream dropped before its end records what it waited too.
    let mut partial = taskref::block_as_completed((0..4).map(|x| f.remote(x))).unwrap();
    assert!(partial.next().is_some());
    drop(partial);

    // A stream whose refs are all done never waits: no record.
    let done = rt.put(1u64);
    assert_eq!(taskref::block_as_completed([done]).unwrap().count(), 1);

    let timeline = rt.timeline();
    let waits = timeline.waits();
    let calls: Vec<_> = waits.iter().map(|w| (w.call, w.ref_count)).collect();
    assert_eq!(
        calls,
        [
            ("as_completed", 3),
            ("block_as_completed", 2),
            ("block_as_completed", 4)
        ]
    );
    assert_eq!(waits[0].refs, ids);
    assert_eq!(waits[0].location.line(), line);
    assert!(waits.iter().all(|w| w.ended >= w.started));
}

#[test]
fn map_unordered_streams_are_recorded_as_one_wait_each() {
    use futures::StreamExt;
    let rt = taskref::Runtime::new().unwrap();
    let f = rt.remote(|x: u64| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        x
    });
    let g = f.clone();
    let drained: Vec<_> = rt
        .handle()
        .block_on(taskref::map_unordered(0..6, 2, move |x| g.remote(x)).collect::<Vec<_>>());
    let line = line!() - 1;
    assert_eq!(drained.len(), 6);
    let blocked = taskref::block_map_unordered(0..4, 2, move |x| f.remote(x))
        .unwrap()
        .count();
    assert_eq!(blocked, 4);
    let timeline = rt.timeline();
    let calls: Vec<_> = timeline
        .waits()
        .iter()
        .map(|w| (w.call, w.ref_count))
        .collect();
    assert_eq!(calls, [("map_unordered", 6), ("block_map_unordered", 4)]);
    assert_eq!(timeline.waits()[0].location.line(), line);
}

#[test]
fn the_timeline_keeps_exactly_the_newest_tasks_and_waits_oldest_first_to_go() {
    within_deadline(|| {
        for round in 0..10 {
            let rt = taskref::Runtime::builder()
                .worker_threads(2)
                .timeline_capacity(5)
                .build()
                .unwrap();
            // One after another, on whichever threads run them: the first on
            // the blocking pool, the rest on the workers.
            let mut ids = Vec::new();
            // Each task takes a moment, so every get has to wait (a get that
            // finds its task done did not wait and has no record).
            let first = rt.spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(10));
                0u32
            });
            ids.push(first.id());
            first.block_get().unwrap();
            for i in 1..20u32 {
                let r = rt.spawn(async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    i
                });
                ids.push(r.id());
                r.block_get().unwrap();
            }
            // A task's record is written as it ends, a moment after its ref
            // may be seen ready.
            let last = *ids.last().unwrap();
            support::eventually("the last task is recorded", || {
                rt.timeline().tasks().iter().any(|r| r.task.id() == last)
            });
            let timeline = rt.timeline();
            let kept: Vec<_> = timeline.tasks().iter().map(|r| r.task.id()).collect();
            assert_eq!(kept, ids[15..], "round {round}: the newest five, in order");
            let waits = timeline.waits();
            assert_eq!(waits.len(), 5, "round {round}");
            let waited: Vec<_> = waits.iter().map(|w| w.refs[0]).collect();
            assert_eq!(waited, ids[15..], "round {round}: the newest five waits");
        }
    });
}

#[test]
fn the_timeline_bound_holds_across_many_threads() {
    within_deadline(|| {
        let rt = taskref::Runtime::builder()
            .num_cpus(8)
            .worker_threads(2)
            .timeline_capacity(50)
            .build()
            .unwrap();
        // Each task takes a moment, so every gather has to wait (a gather
        // that finds its refs done did not wait and has no record).
        let f = rt.remote_blocking(|x: u32| {
            std::thread::sleep(Duration::from_millis(1));
            x
        });
        for batch in 0..10u32 {
            taskref::block_get_all((0..100).map(|x| f.remote(batch * 100 + x))).unwrap();
            let tasks = rt.timeline().tasks().len();
            assert!(tasks <= 50, "batch {batch}: kept {tasks}");
        }
        // The last batch is what is left: its newest 50 (by when they ended),
        // all of them from that batch.
        let timeline = rt.timeline();
        assert_eq!(timeline.tasks().len(), 50);
        assert_eq!(timeline.waits().len(), 10, "one wait per batch");
    });
}

#[test]
fn a_get_that_finds_its_value_ready_is_not_a_wait() {
    within_deadline(|| {
        let rt = runtime(2);
        let quick = rt.spawn(async { 1u8 });
        support::eventually("the task finished", || quick.is_ready());
        assert_eq!(quick.block_get().unwrap(), 1);
        assert_eq!(taskref::block_get_all([quick.clone()]).unwrap(), [1]);
        assert!(rt.timeline().waits().is_empty());
        let slow = rt.spawn(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            2u8
        });
        assert_eq!(slow.block_get().unwrap(), 2);
        let waits = rt.timeline().waits().to_vec();
        assert_eq!(waits.len(), 1);
        assert_eq!(
            (waits[0].call, waits[0].refs.clone()),
            ("block_get", vec![slow.id()])
        );
    });
}

#[test]
fn a_wait_set_wait_is_recorded_when_it_had_to_wait() {
    within_deadline(|| {
        let rt = runtime(2);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let slow = rt.spawn_blocking(move || rx.recv().unwrap());
        let mut set = taskref::WaitSet::new([rt.put(()), slow]);
        // Ready at once: not a wait.
        assert_eq!(set.block_wait(1, None).unwrap().len(), 1);
        assert!(rt.timeline().waits().is_empty());
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(()).unwrap();
        });
        let got = set.block_wait(1, None).unwrap();
        releaser.join().unwrap();
        let timeline = rt.timeline();
        let waits = timeline.waits();
        assert_eq!(waits.len(), 1);
        assert_eq!(waits[0].call, "WaitSet::block_wait");
        assert_eq!(waits[0].refs, [got[0].id()]);
        assert!(waits[0].ended > waits[0].started);
    });
}
