//! Retries: panics (and Errs when asked) re-run the task on cloned arguments;
//! the final error counts the attempts; each attempt re-acquires resources.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use support::{runtime, within_deadline, Concurrency};

#[derive(Debug)]
struct Flaky;

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("flaky")
    }
}

impl std::error::Error for Flaky {}

#[test]
fn a_task_that_fails_twice_then_succeeds() {
    within_deadline(|| {
        let rt = runtime(2);
        for blocking in [false, true] {
            let calls = Arc::new(AtomicU32::new(0));
            let seen = calls.clone();
            let attempt = move |x: u32| {
                let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                if n <= 2 {
                    panic!("attempt {n} fails");
                }
                x * 2
            };
            let r = if blocking {
                rt.remote_blocking(attempt).max_retries(2).remote(21)
            } else {
                rt.remote(move |x: u32| {
                    let v = attempt(x);
                    async move { v }
                })
                .max_retries(2)
                .remote(21)
            };
            assert_eq!(r.block_get().unwrap(), 42, "blocking: {blocking}");
            assert_eq!(calls.load(Ordering::SeqCst), 3);
        }
    });
}

#[test]
fn the_final_error_says_how_many_attempts_ran() {
    within_deadline(|| {
        let rt = runtime(2);
        let always = rt
            .remote_blocking(|_: ()| -> u8 { panic!("always") })
            .max_retries(3);
        let err = always.remote(()).block_get().unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.attempts(), 4);
        assert!(err.to_string().ends_with("(after 4 attempts)"), "{err}");
    });
}

#[test]
fn errs_are_retried_only_when_asked() {
    within_deadline(|| {
        let rt = runtime(2);
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let failing = rt
            .try_remote(move |_: ()| {
                seen.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Flaky) }
            })
            .max_retries(2);
        assert_eq!(failing.remote(()).block_get().unwrap_err().attempts(), 1);
        assert_eq!(calls.swap(0, Ordering::SeqCst), 1, "not retried by default");
        let retried = failing.retry_on_error(true);
        let err = retried.remote(()).block_get().unwrap_err();
        assert!(err.is_failed());
        assert_eq!(err.attempts(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn each_attempt_takes_its_resources_anew() {
    within_deadline(|| {
        let rt = taskref::Runtime::builder()
            .num_cpus(2)
            .worker_threads(2)
            .resource("slot", 1.0)
            .build()
            .unwrap();
        let running = Concurrency::default();
        let probe = running.clone();
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let flaky = rt
            .remote_blocking(move |_: u32| {
                let _guard = probe.enter();
                std::thread::sleep(std::time::Duration::from_millis(2));
                if seen.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                    panic!("every other attempt fails");
                }
            })
            .resource("slot", 1.0)
            .max_retries(5);
        let refs: Vec<_> = (0..10).map(|i| flaky.remote(i)).collect();
        taskref::block_get_all(refs).unwrap();
        assert_eq!(running.peak(), 1, "a retry never holds the slot twice");
        assert!(calls.load(Ordering::SeqCst) >= 15);
    });
}

#[test]
fn retries_stop_when_the_task_is_cancelled() {
    within_deadline(|| {
        let rt = runtime(1);
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let r = rt
            .remote_blocking(move |_: ()| {
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = rx.lock().unwrap().recv();
                panic!("fails");
            })
            .max_retries(100)
            .remote(());
        while calls.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        assert!(r.cancel());
        drop(tx);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            calls.load(Ordering::SeqCst) <= 2,
            "no retry storm after cancel"
        );
        assert!(r.block_get().unwrap_err().is_cancelled());
    });
}
