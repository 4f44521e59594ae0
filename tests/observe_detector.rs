//! The anti-pattern detector: each pattern detected (Warn reports through
//! tracing, Deny refuses the call), in the async API and the blocking facade,
//! and no report for the idiomatic forms.

mod support;

use std::time::Duration;

use futures::StreamExt;
use support::within_deadline;
use taskref::observe::AntiPatternKind;
use taskref::{AntiPatterns, Error, Runtime};

/// Runs `f` with warnings of this thread captured.
fn warnings<R>(f: impl FnOnce() -> R) -> (R, String) {
    support::capture_tracing(tracing::Level::WARN, f)
}

fn rt(mode: AntiPatterns) -> Runtime {
    support::detecting(mode)
}

fn sleepy(rt: &Runtime) -> impl Fn(u64) -> taskref::ObjectRef<u64> + '_ {
    let f = rt.remote(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    move |ms| f.remote(ms)
}

fn denied_kind(err: Error) -> AntiPatternKind {
    match err {
        Error::AntiPattern { report, .. } => report.kind,
        other => panic!("expected AntiPattern, got {other:?}"),
    }
}

#[test]
fn get_in_a_loop_blocking_is_reported_once_with_the_line_and_fix() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Warn);
        let submit = sleepy(&rt);
        let ((), text) = warnings(|| {
            // 25 ms: long enough that every get finds its task still
            // running, even on a loaded machine (a get that finds it done
            // did not wait, and does not count).
            for _ in 0..6 {
                submit(25).block_get().unwrap();
            }
        });
        assert_eq!(text.matches("get in a loop").count(), 1, "{text}");
        assert!(
            text.contains("observe_detector.rs:"),
            "names the line: {text}"
        );
        assert!(text.contains("block_get_all"), "gives the fix: {text}");
    });
}

#[test]
fn get_in_a_loop_async_is_denied() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let submit = sleepy(&rt);
        let denied = rt.handle().block_on(async {
            for _ in 0..5 {
                if let Err(err) = submit(25).await {
                    return Some(err);
                }
            }
            None
        });
        assert_eq!(
            denied_kind(denied.expect("refused")),
            AntiPatternKind::GetInLoop
        );
    });
}

/// Task i sleeps long for even i and briefly for odd i: waiting in submission
/// order waits on a slow one while the quick one after it is already done.
const ZIGZAG: [u64; 8] = [20, 2, 40, 2, 60, 2, 80, 2];

#[test]
fn submission_order_is_reported_with_the_time_lost() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Warn);
        let submit = sleepy(&rt);
        let ((), text) = warnings(|| {
            let refs: Vec<_> = ZIGZAG.iter().map(|&ms| submit(ms)).collect();
            for r in refs {
                r.block_get().unwrap();
            }
        });
        assert_eq!(
            text.matches("results in submission order").count(),
            1,
            "{text}"
        );
        assert!(text.contains("ms spent waiting"), "{text}");
        assert!(text.contains("as_completed"), "{text}");
    });
}

#[test]
fn submission_order_async_is_denied() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let submit = sleepy(&rt);
        let denied = rt.handle().block_on(async {
            let refs: Vec<_> = ZIGZAG.iter().map(|&ms| submit(ms)).collect();
            for r in refs {
                if let Err(err) = r.await {
                    return Some(err);
                }
            }
            None
        });
        assert_eq!(
            denied_kind(denied.expect("refused")),
            AntiPatternKind::SubmissionOrder
        );
    });
}

#[test]
fn blocking_get_inside_async_code_is_reported() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let inner = rt.clone();
        let outcome = rt
            .spawn(async move {
                let child = inner.spawn(async { 1 });
                child.block_get()
            })
            .block_get()
            .unwrap();
        assert_eq!(
            denied_kind(outcome.unwrap_err()),
            AntiPatternKind::BlockingInAsync
        );
    });
}

#[test]
fn an_error_nobody_reads_is_reported_when_its_ref_is_dropped() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Warn);
        let r = rt
            .remote(|_: ()| async { panic!("lost failure") })
            .name("forgotten")
            .remote(());
        // Learn it finished without reading it.
        taskref::block_wait(std::slice::from_ref(&r), 1, None).unwrap();
        let ((), text) = warnings(move || drop(r));
        assert!(text.contains("an error nobody read"), "{text}");
        assert!(
            text.contains("`forgotten`") && text.contains("lost failure"),
            "{text}"
        );

        // Read errors are not reported.
        let read = rt.remote(|_: ()| async { panic!("seen") }).remote(());
        let _ = read.block_get();
        let ((), text) = warnings(move || drop(read));
        assert!(text.is_empty(), "{text}");
    });
}

#[test]
fn the_idiomatic_forms_are_never_reported() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let submit = sleepy(&rt);
        let ((), text) = warnings(|| {
            // Gathered.
            taskref::block_get_all((0..10).map(|_| submit(2))).unwrap();
            // A loop of gets over refs that were all submitted first.
            let refs: Vec<_> = (0..10).map(|i| submit(10 - i)).collect();
            for r in refs {
                r.block_get().unwrap();
            }
            // Completion order.
            let refs: Vec<_> = ZIGZAG.iter().map(|&ms| submit(ms)).collect();
            for (_, v) in taskref::block_as_completed(refs).unwrap() {
                v.unwrap();
            }
            // A dependency chain passed as refs.
            let inc = rt.remote(|x: u64| async move { x + 1 });
            let mut r = submit(2);
            for _ in 0..10 {
                r = inc.remote(r);
            }
            assert_eq!(r.block_get().unwrap(), 12);
            // And the async forms.
            rt.handle().block_on(async {
                let refs: Vec<_> = (0..10).map(|_| submit(2)).collect();
                taskref::get_all(refs).await.unwrap();
                let refs: Vec<_> = ZIGZAG.iter().map(|&ms| submit(ms)).collect();
                let mut done = taskref::as_completed(refs);
                while let Some((_, v)) = done.next().await {
                    v.unwrap();
                }
            });
        });
        assert!(text.is_empty(), "no report: {text}");
    });
}

#[test]
fn off_means_off() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Off);
        let submit = sleepy(&rt);
        let ((), text) = warnings(|| {
            for _ in 0..6 {
                submit(2).block_get().unwrap();
            }
        });
        assert!(text.is_empty(), "{text}");
    });
}

/// A blocking task that runs until `gate` opens, as a slow upstream.
fn slow_upstream(
    rt: &Runtime,
    gate: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> taskref::ObjectRef<u64> {
    let gate = std::sync::Arc::clone(gate);
    rt.spawn_blocking(move || {
        while !gate.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        7
    })
}

#[test]
fn a_get_on_task_arguments_is_reported_async_and_blocking() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let gate = Arc::new(AtomicBool::new(false));
        let upstream = slow_upstream(&rt, &gate);
        // Three tasks that each wait on a ref they captured (it existed when
        // they were submitted): the third is refused.
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let captured = upstream.clone();
                rt.spawn(async move { captured.get().await })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        gate.store(true, Ordering::SeqCst);
        let results: Vec<_> = waiters.iter().map(|w| w.block_get().unwrap()).collect();
        let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(refused.len(), 1, "{results:?}");
        assert_eq!(
            denied_kind(refused[0].clone()),
            AntiPatternKind::GetOnArguments
        );
        let text = refused[0].to_string();
        assert!(
            text.contains("pass the ref as an argument")
                || text.contains("Pass the ref as an argument"),
            "{text}"
        );
        assert!(text.contains("observe_detector.rs"), "{text}");

        // The blocking face: `block_get` in blocking tasks.
        let gate = Arc::new(AtomicBool::new(false));
        let upstream = slow_upstream(&rt, &gate);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let captured = upstream.clone();
                rt.spawn_blocking(move || captured.block_get())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        gate.store(true, Ordering::SeqCst);
        let refused = waiters
            .iter()
            .filter(|w| w.block_get().unwrap().is_err_and(|e| e.is_anti_pattern()))
            .count();
        assert_eq!(refused, 1);
    });
}

#[test]
fn a_get_on_task_arguments_is_logged_once_under_warn() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // Reported on the workers' threads: captured from every thread.
    let logged = support::global_warnings();
    within_deadline(move || {
        let rt = rt(AntiPatterns::Warn);
        let gate = Arc::new(AtomicBool::new(false));
        let upstream = slow_upstream(&rt, &gate);
        let line = line!() + 4;
        let waiters: Vec<_> = (0..6)
            .map(|_| {
                let captured = upstream.clone();
                rt.spawn(async move { captured.get().await })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        gate.store(true, Ordering::SeqCst);
        for w in &waiters {
            assert_eq!(w.block_get().unwrap().unwrap(), 7, "the waits go on");
        }
        let site = format!("get on task arguments at {}:{line}", file!());
        let text = logged.text();
        assert_eq!(text.matches(&site).count(), 1, "once per call site: {text}");
    });
}

#[test]
fn passing_refs_as_arguments_and_awaiting_children_are_not_gets_on_arguments() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let gate = Arc::new(AtomicBool::new(false));
        let upstream = slow_upstream(&rt, &gate);
        // The ref as an argument: the task starts once the value exists.
        let add = rt.remote(|x: u64| async move { x + 1 });
        let passed: Vec<_> = (0..5).map(|_| add.remote(&upstream)).collect();
        // A parent that awaits the children it submitted, one by one and
        // gathered.
        let inner = rt.clone();
        let parents: Vec<_> = (0..5)
            .map(|_| {
                let inner = inner.clone();
                rt.spawn(async move {
                    let one = inner.spawn(async {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        1u64
                    });
                    let first = one.await.unwrap();
                    let more: Vec<_> = (0..3)
                        .map(|_| {
                            inner.spawn(async {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                1u64
                            })
                        })
                        .collect();
                    first + taskref::get_all(more).await.unwrap().iter().sum::<u64>()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        gate.store(true, Ordering::SeqCst);
        assert_eq!(taskref::block_get_all(passed).unwrap(), [8; 5]);
        assert_eq!(taskref::block_get_all(parents).unwrap(), [4; 5]);
    });
}

#[test]
fn waiting_in_turn_on_tasks_that_fan_out_is_not_a_get_in_a_loop() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let leaf = rt.remote(|i: u64| async move { i });
        // Each root is alone and the latest when the wait begins, but runs
        // its work as 20 tasks side by side.
        let root = rt.remote(move |n: u64| {
            let leaf = leaf.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                taskref::get_all((0..n).map(|i| leaf.remote(i))).await
            }
        });
        for _ in 0..5 {
            let sum: u64 = root.remote(20).block_get().unwrap().unwrap().iter().sum();
            assert_eq!(sum, 190);
        }
        rt.handle().block_on(async {
            for _ in 0..5 {
                root.remote(20).await.unwrap().unwrap();
            }
        });
    });
}

#[test]
fn tasks_that_work_serially_and_fire_one_small_task_are_still_a_get_in_a_loop() {
    within_deadline(|| {
        let rt = rt(AntiPatterns::Deny);
        let inner = rt.clone();
        // Serial work, then one metric write as a task of its own.
        let step = rt.remote(move |x: u64| {
            let inner = inner.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(3)).await;
                drop(inner.spawn(async {}));
                x
            }
        });
        let refused = (0..6).find_map(|i| step.remote(i).block_get().err());
        let refused = refused.expect("refused as a get in a loop");
        assert_eq!(denied_kind(refused), AntiPatternKind::GetInLoop);
    });
}
