//! CPU accounting: blocking tasks are bounded by num_cpus, async ones are not.

mod support;

use std::time::Duration;

use support::{runtime, within_deadline, Concurrency};
use taskref::Error;

#[test]
fn blocking_tasks_never_exceed_num_cpus() {
    within_deadline(|| {
        let rt = runtime(2);
        let running = Concurrency::default();
        let probe = running.clone();
        let work = rt.remote_blocking(move |_: u32| {
            let _guard = probe.enter();
            std::thread::sleep(Duration::from_millis(5));
        });
        let refs: Vec<_> = (0..40).map(|i| work.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert_eq!(running.peak(), 2);
    });
}

#[test]
fn fractional_requests_share_a_cpu() {
    within_deadline(|| {
        let rt = runtime(1);
        let running = Concurrency::default();
        let probe = running.clone();
        let work = rt
            .remote_blocking(move |_: u32| {
                let _guard = probe.enter();
                std::thread::sleep(Duration::from_millis(20));
            })
            .num_cpus(0.25);
        let refs: Vec<_> = (0..16).map(|i| work.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert!(running.peak() <= 4, "peak {}", running.peak());
        assert!(
            running.peak() >= 2,
            "fractions let several share: peak {}",
            running.peak()
        );
    });
}

#[test]
fn async_tasks_ask_for_no_cpu_and_are_not_bounded() {
    within_deadline(|| {
        let rt = runtime(1);
        let running = Concurrency::default();
        let probe = running.clone();
        let work = rt.remote(move |_: u32| {
            let probe = probe.clone();
            async move {
                let _guard = probe.enter();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let refs: Vec<_> = (0..50).map(|i| work.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert!(running.peak() > 10, "peak {}", running.peak());
    });
}

#[test]
fn async_tasks_can_ask_for_cpu() {
    within_deadline(|| {
        let rt = runtime(1);
        let running = Concurrency::default();
        let probe = running.clone();
        let work = rt
            .remote(move |_: u32| {
                let probe = probe.clone();
                async move {
                    let _guard = probe.enter();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .num_cpus(1.0);
        let refs: Vec<_> = (0..10).map(|i| work.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert_eq!(running.peak(), 1);
    });
}

#[test]
fn gathered_blocking_tasks_use_every_cpu() {
    within_deadline(|| {
        let rt = runtime(2);
        let work = rt.remote_blocking(|_: u32| std::thread::sleep(Duration::from_millis(50)));
        let start = std::time::Instant::now();
        for i in 0..4 {
            work.remote(i).block_get().unwrap();
        }
        let looped = start.elapsed();
        let start = std::time::Instant::now();
        taskref::block_get_all((0..4).map(|i| work.remote(i))).unwrap();
        let gathered = start.elapsed();
        // Two CPUs: gathering halves the time; ask for 1.3x for robustness.
        assert!(
            gathered.as_secs_f64() * 1.3 < looped.as_secs_f64(),
            "{gathered:?} vs {looped:?}"
        );
    });
}

#[test]
fn requests_beyond_capacity_are_infeasible_at_once() {
    within_deadline(|| {
        let rt = runtime(2);
        let (_tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let never = rt.spawn(async move { rx.await.unwrap() });
        let greedy = rt.remote_blocking(|x: u32| x).num_cpus(2.5).name("greedy");
        let r = greedy.remote(never); // even with a pending argument
        assert!(r.is_ready(), "fails at submit time");
        match r.block_get().unwrap_err() {
            Error::Infeasible {
                task,
                resource,
                requested,
                capacity,
                ..
            } => {
                assert_eq!(task.name(), Some("greedy"));
                assert_eq!(resource, "CPU");
                assert_eq!(requested, 2.5);
                assert_eq!(capacity, 2.0);
            }
            other => panic!("unexpected {other:?}"),
        }
        let none = support::runtime(0);
        let err = none.spawn_blocking(|| 1).block_get().unwrap_err();
        assert!(err.to_string().contains("infeasible"), "{err}");
        assert_eq!(
            none.spawn(async { 1 }).block_get().unwrap(),
            1,
            "async asks for 0"
        );
    });
}

#[test]
fn invalid_requests_are_invalid_arguments() {
    let rt = runtime(1);
    for bad in [-1.0, f64::NAN] {
        let r = rt.remote_blocking(|x: u8| x).num_cpus(bad).remote(1);
        assert!(
            matches!(r.block_get(), Err(Error::InvalidArgument { .. })),
            "{bad}"
        );
    }
    // Infinity is an amount, just more than any runtime has.
    let r = rt
        .remote_blocking(|x: u8| x)
        .num_cpus(f64::INFINITY)
        .remote(1);
    assert!(matches!(r.block_get(), Err(Error::Infeasible { .. })));
}

#[test]
fn zero_worker_threads_is_an_error_not_a_panic() {
    let err = taskref::Runtime::builder()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn blocking_tasks_do_not_occupy_async_workers() {
    within_deadline(|| {
        // One async worker, two CPUs busy with spinning blocking tasks: a timer
        // task on the async worker must stay responsive.
        let rt = taskref::Runtime::builder()
            .num_cpus(2)
            .worker_threads(1)
            .build()
            .unwrap();
        let spin = rt.remote_blocking(|ms: u64| {
            let end = std::time::Instant::now() + Duration::from_millis(ms);
            while std::time::Instant::now() < end {
                std::hint::spin_loop();
            }
        });
        let spinning: Vec<_> = (0..4).map(|_| spin.remote(300)).collect();
        let probe = rt.spawn(async {
            let start = std::time::Instant::now();
            tokio::time::sleep(Duration::from_millis(1)).await;
            start.elapsed()
        });
        let lateness = probe.block_get().unwrap();
        taskref::block_get_all(spinning).unwrap();
        assert!(
            lateness < Duration::from_millis(250),
            "probe took {lateness:?}"
        );
    });
}
