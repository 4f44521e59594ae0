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
    Runtime::builder()
        .worker_threads(2)
        .num_cpus(2)
        .anti_patterns(mode)
        .build()
        .unwrap()
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
