//! What the detector sees of submissions: too fine-grained tasks and an
//! unbounded backlog (Ray's "over-parallelizing with too fine-grained tasks"
//! and "limit the number of pending tasks"), each reported at the line that
//! submits, in both faces, and never for the idiomatic forms.
//
// Both rules follow a sample of the tasks (one in 64), so the tests submit
// thousands. Reports of these rules are made on whichever thread sees the
// evidence (a worker finishing a task), so they are read from the
// process-wide capture, looking for the test's own line.

mod support;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use support::{detecting, global_warnings, within_deadline};
use taskref::observe::AntiPatternKind;
use taskref::{AntiPatterns, Error, ObjectRef, Runtime};

/// How often the global capture holds a report of `what` at `line` of
/// this file.
fn reports(what: &str, line: u32) -> usize {
    let at = format!("{what} at {}:{line}:", file!());
    global_warnings().text().matches(&at).count()
}

/// The report of `what` at `line` of this file says each of `parts`.
fn assert_report_says(what: &str, line: u32, parts: &[&str]) {
    let at = format!("{what} at {}:{line}:", file!());
    let text = global_warnings().text();
    let report = text.lines().find(|l| l.contains(&at)).expect("the report");
    for part in parts {
        assert!(report.contains(part), "{part:?} missing: {report}");
    }
}

fn refused_kind(err: &Error) -> Option<AntiPatternKind> {
    match err {
        Error::AntiPattern { report, .. } => Some(report.kind),
        _ => None,
    }
}

/// Work that takes at least `micros` of this thread's time.
fn spin(micros: u64) -> u64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_micros(micros) {
        n = std::hint::black_box(n.wrapping_add(1));
    }
    n
}

// ---- too fine-grained tasks ----

#[test]
fn tiny_tasks_are_reported_once_with_run_time_overhead_and_batch_size() {
    global_warnings();
    within_deadline(|| {
        let rt = detecting(AntiPatterns::Warn);
        let double = rt.remote(|x: u64| async move { x * 2 });
        let line = line!() + 2;
        for _ in 0..2 {
            let doubled = taskref::block_get_all((0..10_000).map(|x| double.remote(x))).unwrap();
            assert_eq!(doubled[4_999], 9_998);
        }
        assert_eq!(reports("too fine-grained tasks", line), 1);
        assert_report_says(
            "too fine-grained tasks",
            line,
            &[
                "ran for a median of",
                "to submit, start and finish",
                "of their time is overhead",
                "tasks' work in one, the overhead falls under 5%",
            ],
        );
    });
}

#[test]
fn tiny_blocking_tasks_are_reported_from_async_code_too() {
    global_warnings();
    within_deadline(|| {
        let rt = detecting(AntiPatterns::Warn);
        let double = rt.remote_blocking(|x: u64| x * 2);
        let line = line!() + 3;
        rt.handle().block_on(async {
            for _ in 0..2 {
                let refs: Vec<_> = (0..5_000).map(|x| double.remote(x)).collect();
                taskref::get_all(refs).await.unwrap();
            }
        });
        assert_eq!(reports("too fine-grained tasks", line), 1);
    });
}

/// Submits rounds of `round` tasks through `submit` and gathers each, until
/// a round fails; returns that error.
fn first_refusal(mut submit_round: impl FnMut() -> Result<(), Error>) -> Error {
    for _ in 0..20 {
        if let Err(err) = submit_round() {
            return err;
        }
    }
    panic!("20 rounds of tiny tasks and none was refused");
}

#[test]
fn deny_refuses_the_submissions_of_a_line_found_too_fine_grained() {
    within_deadline(|| {
        let rt = detecting(AntiPatterns::Deny);
        // Async tasks, gathered on a plain thread.
        let double = rt.remote(|x: u64| async move { x * 2 });
        let err = first_refusal(|| {
            taskref::block_get_all((0..3_000).map(|x| double.remote(x))).map(drop)
        });
        assert_eq!(refused_kind(&err), Some(AntiPatternKind::TooFineGrained));
        let message = err.to_string();
        assert!(message.contains(file!()), "names the line: {message}");
        // Blocking tasks, gathered in async code.
        let triple = rt.remote_blocking(|x: u64| x * 3);
        let err = first_refusal(|| {
            rt.handle().block_on(async {
                let refs: Vec<_> = (0..3_000).map(|x| triple.remote(x)).collect();
                taskref::get_all(refs).await.map(drop)
            })
        });
        assert_eq!(refused_kind(&err), Some(AntiPatternKind::TooFineGrained));
    });
}

#[test]
fn a_line_found_too_fine_grained_is_let_through_once_its_tasks_grow() {
    within_deadline(|| {
        let rt = detecting(AntiPatterns::Deny);
        let task = rt.remote_blocking(spin);
        // One line, whose tasks' size depends on the input. Each round
        // waits for all its tasks, refused or not, so the ones that run
        // are in the evidence before the next.
        let round = |micros: u64, n: u64| {
            let outcomes = taskref::block_get_all_settled((0..n).map(|_| task.remote(micros)));
            match outcomes.unwrap().into_iter().find_map(Result::err) {
                Some(refused) => Err(refused),
                None => Ok(()),
            }
        };
        let err = first_refusal(|| round(0, 3_000));
        assert_eq!(refused_kind(&err), Some(AntiPatternKind::TooFineGrained));
        // Now each task does 100 µs of work: the evidence changes, and once
        // it has, the line is not refused any more.
        let passed = (0..30)
            .map(|_| round(100, 2_000).is_ok())
            .collect::<Vec<_>>();
        let first_pass = passed.iter().position(|&ok| ok).expect("let through again");
        assert!(
            passed[first_pass..].iter().all(|&ok| ok),
            "refused again after the evidence changed: {passed:?}"
        );
    });
}

#[test]
fn batched_work_real_work_waiting_tasks_few_tasks_and_actor_calls_are_not_too_fine() {
    global_warnings();
    within_deadline(|| {
        let rt = detecting(AntiPatterns::Deny);
        // Ray's fix: ten batches of a thousand items.
        let double_all =
            rt.remote(
                |xs: Vec<u64>| async move { xs.into_iter().map(|x| x * 2).collect::<Vec<_>>() },
            );
        let batches: Vec<Vec<u64>> = (0..10)
            .map(|b| (b * 1_000..(b + 1) * 1_000).collect())
            .collect();
        let line_batched = line!() + 1;
        let doubled = taskref::block_get_all(batches.into_iter().map(|b| double_all.remote(b)));
        assert_eq!(doubled.unwrap().concat().len(), 10_000);
        // Tasks that each do 30 µs of work.
        let work = rt.remote_blocking(spin);
        let line_work = line!() + 1;
        taskref::block_get_all((0..3_000).map(|_| work.remote(30))).unwrap();
        // Tasks that wait (I/O-bound): small code, long tasks.
        let nap = rt.remote(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        });
        let line_nap = line!() + 1;
        taskref::block_get_all((0..3_000).map(|_| nap.remote(1))).unwrap();
        // Tiny tasks, but a few hundred at a time.
        let double = rt.remote(|x: u64| async move { x * 2 });
        let line_few = line!() + 2;
        for _ in 0..3 {
            taskref::block_get_all((0..300).map(|x| double.remote(x))).unwrap();
        }
        // An actor's small methods.
        let counter = rt.actor(0u64);
        let line_calls = line!() + 1;
        let calls = (0..5_000).map(|_| counter.call(|n: &mut u64| *n += 1));
        taskref::block_get_all(calls.collect::<Vec<_>>()).unwrap();
        for line in [line_batched, line_work, line_nap, line_few, line_calls] {
            assert_eq!(reports("too fine-grained tasks", line), 0, "line {line}");
        }
    });
}

#[test]
fn off_follows_nothing() {
    global_warnings();
    within_deadline(|| {
        let rt = detecting(AntiPatterns::Off);
        let double = rt.remote(|x: u64| async move { x * 2 });
        let line = line!() + 2;
        for _ in 0..2 {
            taskref::block_get_all((0..10_000).map(|x| double.remote(x))).unwrap();
        }
        assert_eq!(reports("too fine-grained tasks", line), 0);
    });
}

// ---- an unbounded backlog ----

/// A runtime with one CPU, and blocking tasks of one CPU that each wait for
/// `gate` (held shut by the test) before they finish.
fn gated(mode: AntiPatterns) -> (Runtime, Arc<RwLock<()>>) {
    let rt = Runtime::builder()
        .worker_threads(2)
        .num_cpus(1)
        .anti_patterns(mode)
        .build()
        .unwrap();
    (rt, Arc::new(RwLock::new(())))
}

/// A task's code that returns its argument once `gate` opens.
fn wait_for(gate: &Arc<RwLock<()>>) -> impl Fn(u64) -> u64 + Send + Sync + Clone + 'static {
    let gate = Arc::clone(gate);
    move |x| {
        drop(gate.read().unwrap());
        x
    }
}

/// How long the backlog rule wants a line to keep submitting, with margin.
const SUSTAINED: Duration = Duration::from_millis(5_300);

#[test]
fn a_line_that_keeps_submitting_faster_than_tasks_start_is_reported() {
    global_warnings();
    within_deadline(|| {
        let (rt, gate) = gated(AntiPatterns::Warn);
        let shut = gate.write().unwrap();
        let task = rt.remote_blocking(wait_for(&gate));
        let mut refs = Vec::new();
        let line = line!() + 6;
        let start = Instant::now();
        // A stream of work: far more than one CPU can start, and more all
        // the time (here, because nothing runs at all), until the report
        // comes.
        while reports("an unbounded backlog", line) == 0 {
            refs.push(task.remote(refs.len() as u64));
            if refs.len() > 12_000 {
                std::thread::sleep(Duration::from_micros(100));
            }
            if refs.len() % 1_000 == 0 {
                assert!(start.elapsed() < 4 * SUSTAINED, "no report in time");
            }
        }
        assert!(
            start.elapsed() >= SUSTAINED - Duration::from_millis(300),
            "not before 5 s"
        );
        drop(shut);
        let submitted = refs.len();
        assert_eq!(taskref::block_get_all(refs).unwrap().len(), submitted);
        assert_eq!(reports("an unbounded backlog", line), 1);
        assert_report_says(
            "an unbounded backlog",
            line,
            &[
                "are waiting to start",
                "per CPU",
                "map_unordered(items, max_in_flight, f)",
            ],
        );
    });
}

#[test]
fn deny_refuses_a_submission_once_the_backlog_is_unbounded_in_async_code() {
    within_deadline(|| {
        let rt = detecting(AntiPatterns::Deny);
        // Async tasks that ask for a CPU each: one runs, the rest wait.
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let wait_for_gate = {
            let gate = Arc::clone(&gate);
            move |x: u64| {
                let gate = Arc::clone(&gate);
                async move {
                    let _ = gate.acquire().await;
                    x
                }
            }
        };
        let task = rt.remote(wait_for_gate).num_cpus(2.0);
        let refused = rt.handle().block_on(async {
            let start = Instant::now();
            let mut refs: Vec<ObjectRef<u64>> = Vec::new();
            loop {
                let r = task.remote(refs.len() as u64);
                if r.is_ready() {
                    break r.get().await.unwrap_err();
                }
                refs.push(r);
                if refs.len() > 25_000 {
                    tokio::time::sleep(Duration::from_micros(100)).await;
                }
                assert!(start.elapsed() < 4 * SUSTAINED, "never refused");
            }
        });
        gate.close();
        assert_eq!(
            refused_kind(&refused),
            Some(AntiPatternKind::UnboundedBacklog)
        );
        let message = refused.to_string();
        assert!(message.contains(file!()), "names the line: {message}");
    });
}

#[test]
fn a_large_batch_submitted_at_once_is_not_a_backlog_however_long_it_waits() {
    global_warnings();
    within_deadline(|| {
        let (rt, gate) = gated(AntiPatterns::Deny);
        let shut = gate.write().unwrap();
        let task = rt.remote_blocking(wait_for(&gate));
        let line = line!() + 1;
        let refs: Vec<_> = (0..200_000).map(|x| task.remote(x)).collect();
        // The batch waits well past the sustained time; nothing more is
        // submitted from its line meanwhile.
        std::thread::sleep(SUSTAINED);
        let late: Vec<_> = (0..1_000).map(|x| task.remote(x)).collect();
        drop(shut);
        taskref::block_get_all(refs).expect("no refusal");
        taskref::block_get_all(late).expect("no refusal");
        assert_eq!(reports("an unbounded backlog", line), 0);
    });
}

#[test]
fn a_long_bounded_map_leaves_no_backlog_behind() {
    // 60,000 submissions from one line over several seconds, 16 in flight:
    // if a started task were not counted as having left the backlog, the
    // estimate would grow past the floor and the line would be refused.
    global_warnings();
    within_deadline(|| {
        let rt = detecting(AntiPatterns::Deny);
        let nap = rt.remote(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        });
        let line = line!() + 2;
        let done = rt.handle().block_on(async {
            taskref::map_unordered(0..60_000u64, 16, |_| nap.remote(1))
                .filter_map(|(_, r)| async move { r.ok() })
                .count()
                .await
        });
        assert_eq!(done, 60_000, "none refused");
        assert_eq!(reports("an unbounded backlog", line), 0);
    });
}
