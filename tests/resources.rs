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

/// The largest capacity of any one resource, as `Builder::num_cpus` and
/// `Builder::resource` document it.
const MAX_CAPACITY: f64 = 1e14;

#[test]
fn a_request_beyond_any_capacity_is_infeasible_and_only_negative_or_nan_is_invalid() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .num_cpus(2)
            .worker_threads(1)
            .resource("db", 1.0)
            .build()
            .unwrap();
        let f = rt.remote(|x: u8| async move { x });
        let timeout = Duration::from_secs(5);
        for amount in [1e14, 1e15, 1e300, f64::MAX, f64::INFINITY] {
            let tasks = [
                ("CPU", f.clone().num_cpus(amount).remote(1)),
                ("db", f.clone().resource("db", amount).remote(1)),
                ("gpu", f.clone().resource("gpu", amount).remote(1)),
            ];
            for (resource, r) in tasks {
                assert!(r.is_ready(), "{amount} of {resource}: fails at submit");
                match r.block_get_timeout(timeout).unwrap_err() {
                    Error::Infeasible {
                        resource: name,
                        requested,
                        ..
                    } => {
                        assert_eq!(name, resource, "{amount}");
                        assert_eq!(requested, amount, "the amount asked for");
                    }
                    other => panic!("{amount} of {resource}: expected Infeasible, got {other}"),
                }
            }
            let actors = [
                (
                    "CPU",
                    rt.actor_builder().num_cpus(amount).spawn(|| ()).err(),
                ),
                (
                    "db",
                    rt.actor_builder().resource("db", amount).spawn(|| ()).err(),
                ),
                (
                    "CPU",
                    rt.actor_builder().num_cpus(amount).spawn_async(|| ()).err(),
                ),
                (
                    "gpu",
                    rt.actor_builder()
                        .resource("gpu", amount)
                        .spawn_async(|| ())
                        .err(),
                ),
            ];
            for (resource, err) in actors {
                match err {
                    Some(Error::Infeasible { resource: name, .. }) => {
                        assert_eq!(name, resource, "{amount}");
                    }
                    other => {
                        panic!("actor, {amount} of {resource}: expected Infeasible, got {other:?}")
                    }
                }
            }
        }
        for amount in [f64::NAN, -1.0, -1e-9, -1e300, f64::NEG_INFINITY] {
            for r in [
                f.clone().num_cpus(amount).remote(1),
                f.clone().resource("db", amount).remote(1),
                f.clone().resource("gpu", amount).remote(1),
            ] {
                let err = r.block_get_timeout(timeout).unwrap_err();
                assert!(
                    matches!(err, Error::InvalidArgument { .. }),
                    "{amount}: {err}"
                );
                assert!(!err.to_string().contains("finite"), "a true message: {err}");
            }
            for err in [
                rt.actor_builder().num_cpus(amount).spawn(|| ()).err(),
                rt.actor_builder().resource("db", amount).spawn(|| ()).err(),
                rt.actor_builder().num_cpus(amount).spawn_async(|| ()).err(),
            ] {
                assert!(
                    matches!(err, Some(Error::InvalidArgument { .. })),
                    "actor, {amount}: {err:?}"
                );
            }
        }
        // -0.0 is zero: no request at all.
        let zero = f
            .clone()
            .num_cpus(-0.0)
            .resource("db", -0.0)
            .resource("gpu", -0.0);
        assert_eq!(zero.remote(4).block_get_timeout(timeout).unwrap(), 4);
        let actor = rt
            .actor_builder()
            .num_cpus(-0.0)
            .resource("gpu", -0.0)
            .spawn(|| 5u8)
            .unwrap();
        assert_eq!(
            actor
                .call(|x: &mut u8| *x)
                .block_get_timeout(timeout)
                .unwrap(),
            5
        );
    });
}

#[test]
fn the_largest_capacity_works_end_to_end() {
    within_deadline(|| {
        let timeout = Duration::from_secs(5);
        for num_cpus in [1usize << 40, MAX_CAPACITY as usize] {
            let rt = Runtime::builder()
                .num_cpus(num_cpus)
                .worker_threads(1)
                .resource("db", MAX_CAPACITY)
                .build()
                .unwrap();
            assert_eq!(rt.num_cpus(), num_cpus);
            assert_eq!(rt.resource_capacity("db"), Some(MAX_CAPACITY));
            assert_eq!(
                rt.spawn_blocking(|| 1).block_get_timeout(timeout).unwrap(),
                1
            );
            let all = rt
                .remote(|x: u8| async move { x })
                .num_cpus(num_cpus as f64)
                .resource("db", MAX_CAPACITY);
            assert_eq!(all.remote(2).block_get_timeout(timeout).unwrap(), 2);
            let actor = rt.actor_builder().num_cpus(1.0).spawn(|| 3u8).unwrap();
            assert_eq!(
                actor
                    .call(|x: &mut u8| *x)
                    .block_get_timeout(timeout)
                    .unwrap(),
                3
            );
        }
    });
}

#[test]
fn an_async_task_lends_its_cpu_while_it_awaits_a_ref_and_takes_it_back_to_run() {
    // One CPU, three async tasks that each ask for it: their code never runs
    // two at a time, but while one awaits a blocking child (which needs the
    // CPU too), the CPU is lent, so the child runs instead of hanging.
    within_deadline(|| {
        let rt = Runtime::builder()
            .num_cpus(1)
            .worker_threads(2)
            .build()
            .unwrap();
        let working = Concurrency::default();
        let (inner, probe) = (rt.clone(), working.clone());
        let f = rt
            .remote(move |i: u32| {
                let (inner, probe) = (inner.clone(), probe.clone());
                async move {
                    let before = {
                        let _running = probe.enter();
                        std::thread::sleep(Duration::from_millis(5));
                        i
                    };
                    let child = inner.spawn_blocking(move || before * 10).await.unwrap();
                    let _running = probe.enter();
                    std::thread::sleep(Duration::from_millis(5));
                    child + 1
                }
            })
            .num_cpus(1.0);
        let refs: Vec<_> = (0..3).map(|i| f.remote(i)).collect();
        assert_eq!(taskref::block_get_all(refs).unwrap(), [1, 11, 21]);
        assert_eq!(
            working.peak(),
            1,
            "the CPU is taken back before the code runs"
        );
    });
}
