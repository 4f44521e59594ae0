//! Remote functions: arguments as values or refs, tuples, dependencies.

mod support;

use std::time::Duration;

use support::{runtime, within_deadline};
use taskref::Error;

#[test]
fn a_ref_is_accepted_where_a_value_is_expected() {
    within_deadline(|| {
        let rt = runtime(2);
        let f = rt.remote(|x: u64| async move { x + 1 });
        let g = rt.remote_blocking(|x: u64| x * 10);
        // Ray's g.remote(f.remote(1)): no get in between.
        assert_eq!(g.remote(f.remote(1)).block_get().unwrap(), 20);
        assert_eq!(f.remote(g.remote(rt.put(2))).block_get().unwrap(), 21);
    });
}

#[test]
fn tuples_mix_values_and_refs() {
    within_deadline(|| {
        let rt = runtime(2);
        let add3 = rt.remote(|a: u64, b: String, c: u64| async move { format!("{}{b}", a + c) });
        let b = rt.spawn(async { String::from("!") });
        let r = add3.remote((rt.put(1), b, 2));
        assert_eq!(r.block_get().unwrap(), "3!");
        let mul = rt.remote_blocking(|a: u64, b: u64| a * b);
        assert_eq!(mul.remote((6, rt.put(7))).block_get().unwrap(), 42);
        let none = rt.remote_blocking(|| "no args");
        assert_eq!(none.remote(()).block_get().unwrap(), "no args");
    });
}

#[tokio::test(start_paused = true)]
async fn a_dependent_starts_only_when_its_argument_is_ready() {
    let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
    let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
    let upstream = rt.spawn(async move { rx.await.unwrap() });
    let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = started.clone();
    let consumer = rt.remote(move |x: u64| {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        async move { x * 2 }
    });
    let r = consumer.remote(upstream);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
    tx.send(21).unwrap();
    assert_eq!(r.await.unwrap(), 42);
    assert!(started.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn a_failed_dependency_fails_the_task_without_running_it_and_names_upstream() {
    within_deadline(|| {
        let rt = runtime(2);
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let upstream = rt
            .remote(|_: ()| async { panic!("upstream broke") })
            .name("producer")
            .remote(());
        let consumer = rt
            .remote_blocking(move |x: u64| {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                x
            })
            .name("consumer");
        let err = consumer.remote(upstream).block_get().unwrap_err();
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "never ran");
        match &err {
            Error::DependencyFailed {
                task,
                upstream,
                cause,
                ..
            } => {
                assert_eq!(task.name(), Some("consumer"));
                assert_eq!(upstream.name(), Some("producer"));
                assert!(cause.is_panic());
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("`consumer`") && text.contains("`producer`"),
            "{text}"
        );
        assert!(text.contains("upstream broke"), "{text}");
        assert!(std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("upstream broke"));
    });
}

#[test]
fn a_failing_chain_does_not_nest_errors() {
    within_deadline(|| {
        let rt = runtime(2);
        let step = rt.remote(|x: u64| async move { x + 1 }).name("step");
        let mut r = rt.spawn(async { panic!("root") });
        for _ in 0..10_000 {
            r = step.remote(r);
        }
        let err = r.block_get().unwrap_err();
        assert!(err.is_dependency_failed());
        assert!(err.root_cause().is_panic());
        assert!(err.to_string().len() < 1_000, "one link, not a tower");
    });
}

#[test]
fn a_long_chain_of_dependencies_resolves() {
    within_deadline(|| {
        let rt = runtime(2);
        let step = rt.remote(|x: u64| async move { x + 1 });
        let mut r = rt.put(0u64);
        for _ in 0..100_000 {
            r = step.remote(r);
        }
        assert_eq!(r.block_get().unwrap(), 100_000);
    });
}

#[test]
fn many_dependents_of_one_ref_all_run() {
    within_deadline(|| {
        let rt = runtime(2);
        let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
        let source = rt.spawn(async move { rx.await.unwrap() });
        let f = rt.remote(|x: u64| async move { x });
        let refs: Vec<_> = (0..100_000).map(|_| f.remote(&source)).collect();
        tx.send(1).unwrap();
        assert_eq!(
            taskref::block_get_all(refs).unwrap().iter().sum::<u64>(),
            100_000
        );
    });
}

#[test]
fn tasks_submit_tasks() {
    within_deadline(|| {
        let rt = runtime(2);
        let inner = rt.clone();
        let fanout = rt.remote(move |n: u64| {
            let rt = inner.clone();
            async move {
                let square = rt.remote(|x: u64| async move { x * x });
                let refs: Vec<_> = (0..n).map(|i| square.remote(i)).collect();
                taskref::get_all(refs)
                    .await
                    .unwrap()
                    .into_iter()
                    .sum::<u64>()
            }
        });
        assert_eq!(fanout.remote(10).block_get().unwrap(), 285);
    });
}

#[test]
fn remote_fns_are_clone_and_options_do_not_leak_back() {
    let rt = runtime(1);
    let f = rt.remote(|x: u8| async move { x });
    let named = f.clone().name("named");
    assert_eq!(named.remote(1).task().name(), Some("named"));
    assert_eq!(f.remote(1).task().name(), None);
    let text = format!("{named:?}");
    assert!(
        text.contains("RemoteFn") && text.contains("named"),
        "{text}"
    );
}
