//! Named resources: capacities bound concurrency, requests that can never fit
//! fail at once, resources are held only while a task runs.

mod support;

use std::time::Duration;

use support::{within_deadline, Concurrency};
use taskref::{Error, Runtime};

fn runtime_with_db(db: f64) -> Runtime {
    Runtime::builder()
        .num_cpus(4)
        .worker_threads(2)
        .resource("db", db)
        .build()
        .unwrap()
}

#[test]
fn a_capacity_of_two_never_runs_more_than_two() {
    within_deadline(|| {
        let rt = runtime_with_db(2.0);
        let running = Concurrency::default();
        let probe = running.clone();
        let query = rt
            .remote(move |_: u32| {
                let probe = probe.clone();
                async move {
                    let _guard = probe.enter();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .resource("db", 1.0);
        let refs: Vec<_> = (0..20).map(|i| query.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert_eq!(running.peak(), 2);

        let blocking_running = Concurrency::default();
        let probe = blocking_running.clone();
        let blocking_query = rt
            .remote_blocking(move |_: u32| {
                let _guard = probe.enter();
                std::thread::sleep(Duration::from_millis(5));
            })
            .resource("db", 1.0);
        let refs: Vec<_> = (0..20).map(|i| blocking_query.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert_eq!(blocking_running.peak(), 2, "4 CPUs, but only 2 db");
    });
}

#[test]
fn async_tasks_without_requests_are_not_limited() {
    within_deadline(|| {
        let rt = runtime_with_db(2.0);
        let running = Concurrency::default();
        let probe = running.clone();
        let free = rt.remote(move |_: u32| {
            let probe = probe.clone();
            async move {
                let _guard = probe.enter();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
        let refs: Vec<_> = (0..20).map(|i| free.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert_eq!(running.peak(), 20);
    });
}

#[test]
fn fractional_amounts_add_up_exactly() {
    within_deadline(|| {
        let rt = runtime_with_db(1.0);
        let running = Concurrency::default();
        let probe = running.clone();
        let tenth = rt
            .remote(move |_: u32| {
                let probe = probe.clone();
                async move {
                    let _guard = probe.enter();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .resource("db", 0.1);
        let refs: Vec<_> = (0..30).map(|i| tenth.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert_eq!(running.peak(), 10, "ten requests of 0.1 fit exactly in 1.0");
    });
}

#[test]
fn impossible_requests_fail_at_submit_naming_the_resource() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .num_cpus(2)
            .worker_threads(1)
            .resource("db", 2.0)
            .resource("off", 0.0)
            .build()
            .unwrap();
        let (_tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let pending = rt.spawn(async move { rx.await.unwrap() });
        let f = rt.remote(|x: u32| async move { x });
        for (request, resource) in [
            (f.clone().resource("db", 3.0), "db"),
            (f.clone().resource("gpu", 1.0), "gpu"),
            (f.clone().resource("off", 0.5), "off"),
        ] {
            let r = request.remote(&pending);
            assert!(
                r.is_ready(),
                "fails at submit, even with a pending argument"
            );
            match r.block_get().unwrap_err() {
                Error::Infeasible { resource: name, .. } => assert_eq!(name, resource),
                other => panic!("unexpected {other:?}"),
            }
            let text = r.block_get().unwrap_err().to_string();
            assert!(text.contains(&format!("`{resource}`")), "{text}");
        }
        // Zero of an unknown resource is no request at all.
        assert_eq!(
            f.clone()
                .resource("gpu", 0.0)
                .remote(5)
                .block_get()
                .unwrap(),
            5
        );
    });
}

#[test]
fn bad_amounts_are_invalid_arguments() {
    let rt = runtime_with_db(1.0);
    let f = rt.remote(|x: u32| async move { x });
    for amount in [-1.0, f64::NAN] {
        let err = f
            .clone()
            .resource("db", amount)
            .remote(1)
            .block_get()
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{amount}: {err}"
        );
    }
    for capacity in [-1.0, f64::NAN, f64::INFINITY] {
        let err = Runtime::builder()
            .resource("db", capacity)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{capacity}");
        assert!(err.to_string().contains("`db`"));
    }
    assert!(Runtime::builder().resource("CPU", 1.0).build().is_err());
}

#[test]
fn resources_are_taken_only_once_arguments_are_ready() {
    within_deadline(|| {
        let rt = runtime_with_db(1.0);
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let slow_input = rt.spawn(async move { rx.await.unwrap() });
        let f = rt.remote(|x: u32| async move { x }).resource("db", 1.0);
        // Waits for its argument without holding the only db unit...
        let waiting = f.remote(slow_input);
        // ...so this one runs meanwhile.
        assert_eq!(
            f.remote(7)
                .block_get_timeout(Duration::from_secs(10))
                .unwrap(),
            7
        );
        tx.send(3).unwrap();
        assert_eq!(waiting.block_get().unwrap(), 3);
    });
}

#[test]
fn a_nested_get_lends_cpu_but_keeps_named_resources() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .num_cpus(1)
            .worker_threads(1)
            .resource("db", 1.0)
            .build()
            .unwrap();
        let inner = rt.clone();
        let parent = rt
            .remote_blocking(move |_: ()| {
                // The child needs the CPU the parent holds: lent while waiting.
                let child = inner.spawn_blocking(|| 1);
                let cpu_child = child.block_get().unwrap();
                // This one needs `db`, which the parent keeps: it cannot start.
                let db_child = inner
                    .remote_blocking(|_: ()| 2)
                    .resource("db", 1.0)
                    .remote(());
                let still_waiting = db_child.block_get_timeout(Duration::from_millis(50));
                (
                    cpu_child,
                    still_waiting.unwrap_err().is_get_timeout(),
                    db_child,
                )
            })
            .resource("db", 1.0);
        let (cpu_child, db_blocked, db_child) = parent.remote(()).block_get().unwrap();
        assert_eq!(cpu_child, 1);
        assert!(db_blocked, "named resources stay held during a nested get");
        assert_eq!(
            db_child.block_get().unwrap(),
            2,
            "runs once the parent is done"
        );
    });
}
