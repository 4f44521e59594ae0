//! Bad input gets a clear error, never a panic or a hang.

mod support;

use std::time::Duration;

use support::{runtime, within_deadline};
use taskref::Error;

#[test]
fn a_ref_of_a_shut_down_runtime_fails_its_consumer_on_another_runtime() {
    within_deadline(|| {
        let old = runtime(1);
        let new = runtime(1);
        let stranded = old.spawn(std::future::pending::<u32>());
        old.shutdown();
        let consumer = new.remote(|x: u32| async move { x + 1 }).name("consumer");
        let err = consumer.remote(&stranded).block_get().unwrap_err();
        assert!(err.is_dependency_failed(), "{err}");
        assert!(err.root_cause().is_shutdown());
        // The other runtime is fine.
        assert_eq!(consumer.remote(1).block_get().unwrap(), 2);
    });
}

#[test]
fn refs_cross_runtimes_while_both_live() {
    within_deadline(|| {
        let a = runtime(1);
        let b = runtime(1);
        let from_a = a.spawn(async { 20 });
        let on_b = b.remote_blocking(|x: u32| x + 1).remote(from_a);
        assert_eq!(on_b.block_get().unwrap(), 21);
    });
}

#[test]
fn wait_bad_arguments() {
    within_deadline(|| {
        let rt = runtime(1);
        let pending = rt.spawn(std::future::pending::<u8>());
        let refs = vec![pending.clone(), rt.put(1)];
        // More than there are.
        let err = taskref::block_wait(&refs, 3, None).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
        assert!(err.to_string().contains("num_returns = 3"), "{err}");
        // The same ref twice.
        let twice = vec![pending.clone(), pending.clone()];
        assert!(matches!(
            taskref::block_wait(&twice, 1, None),
            Err(Error::InvalidArgument { .. })
        ));
        // Zero returns and a zero timeout both mean "do not wait".
        let (ready, rest) = taskref::block_wait(&refs, 0, None).unwrap();
        assert_eq!((ready.len(), rest.len()), (0, 2));
        let (ready, rest) = taskref::block_wait(&refs, 2, Some(Duration::ZERO)).unwrap();
        assert_eq!((ready.len(), rest.len()), (1, 1));
        // An empty list with zero returns is fine; with one it is an error.
        let none: Vec<taskref::ObjectRef<u8>> = Vec::new();
        assert!(taskref::block_wait(&none, 0, None).unwrap().0.is_empty());
        assert!(taskref::block_wait(&none, 1, None).is_err());
    });
}

#[test]
fn bad_resource_amounts_and_capacities() {
    let rt = taskref::Runtime::builder()
        .worker_threads(1)
        .resource("zero", 0.0)
        .build()
        .unwrap();
    let f = rt.remote(|x: u8| async move { x });
    assert!(matches!(
        f.clone().num_cpus(-0.5).remote(1).block_get(),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        f.clone().resource("zero", f64::NAN).remote(1).block_get(),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        f.clone().resource("zero", 0.0001).remote(1).block_get(),
        Err(Error::Infeasible { .. })
    ));
    assert_eq!(f.resource("zero", 0.0).remote(1).block_get().unwrap(), 1);
}

#[test]
fn a_zero_task_timeout_stops_every_attempt() {
    within_deadline(|| {
        let rt = runtime(1);
        let f = rt
            .remote(|_: ()| async { tokio::time::sleep(Duration::from_millis(50)).await })
            .timeout(Duration::ZERO);
        assert!(f.remote(()).block_get().unwrap_err().is_task_timeout());
    });
}

#[test]
fn capacities_a_runtime_cannot_hold_are_refused_by_build() {
    // Beyond 1e14 of a resource, 1/10,000 units no longer fit the counters:
    // `build` and `attach` refuse, naming the limit, rather than wrapping to
    // some other capacity.
    for num_cpus in [100_000_000_000_001usize, 1 << 50, 1 << 60, usize::MAX] {
        let err = taskref::Runtime::builder()
            .num_cpus(num_cpus)
            .worker_threads(1)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{num_cpus}");
        let text = err.to_string();
        assert!(text.contains("num_cpus") && text.contains("1e14"), "{text}");
    }
    for capacity in [1e14 + 1.0, 1e15, 1e300, f64::MAX] {
        let err = taskref::Runtime::builder()
            .worker_threads(1)
            .resource("db", capacity)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{capacity}");
        let text = err.to_string();
        assert!(text.contains("`db`") && text.contains("1e14"), "{text}");
        assert!(!text.contains("finite"), "a true message: {text}");
    }
    for capacity in [f64::INFINITY, f64::NAN, -1.0, f64::NEG_INFINITY] {
        let err = taskref::Runtime::builder()
            .worker_threads(1)
            .resource("db", capacity)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{capacity}");
        assert!(err.to_string().contains("`db`"), "{err}");
    }
    // The same rules when attaching to a user's runtime.
    let user = support::user_multi_thread();
    let attach = |builder: taskref::Builder| builder.attach(user.handle().clone());
    assert!(attach(taskref::Runtime::builder().num_cpus(1 << 60)).is_err());
    assert!(attach(taskref::Runtime::builder().resource("db", 1e15)).is_err());
    // At the limit, and -0.0 (which is zero), all is well.
    let rt = taskref::Runtime::builder()
        .num_cpus(100_000_000_000_000)
        .worker_threads(1)
        .resource("db", 1e14)
        .resource("none", -0.0)
        .build()
        .unwrap();
    assert_eq!(rt.resource_capacity("db"), Some(1e14));
    assert_eq!(rt.resource_capacity("none"), Some(0.0));
}

#[test]
#[allow(deprecated)]
fn the_old_timeout_predicate_still_answers() {
    let rt = taskref::Runtime::new().unwrap();
    let pending = rt.spawn(std::future::pending::<()>());
    let err = pending
        .block_get_timeout(std::time::Duration::ZERO)
        .unwrap_err();
    assert!(err.is_timeout() && err.is_get_timeout() && !err.is_task_timeout());
}
