//! Fault injection and soak: several threads submit a mix of tasks (nested
//! submissions, dependencies, async and blocking, panics, errors, cancels,
//! timeouts, bad input, whole runtimes shut down) for a fixed time. Every get
//! must return; the counters must add up; memory must come back.
//!
//! `TASKREF_SOAK_SECS=N cargo test --release --test soak -- --nocapture` runs
//! longer (default 3 s) and prints the figures. (Memory is checked in
//! `tests/memory.rs`, a process of its own.)

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskref::{Error, ObjectRef, Runtime};

/// xorshift64*: a tiny deterministic generator, one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Figures {
    tasks: AtomicU64,
    faults: AtomicU64,
    bad_inputs: AtomicU64,
    shutdowns: AtomicU64,
}

#[derive(Debug)]
struct Injected;

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected error")
    }
}

impl std::error::Error for Injected {}

const HANG: Duration = Duration::from_secs(30);

/// Gets with a generous timeout: a hang fails the test.
fn settle<T: Clone>(r: &ObjectRef<T>) -> Result<T, Error> {
    let result = r.block_get_timeout(HANG);
    assert!(
        !matches!(result, Err(Error::GetTimeout { .. })),
        "a get hung"
    );
    result
}

fn new_runtime() -> Runtime {
    Runtime::builder()
        .num_cpus(2)
        .worker_threads(2)
        .resource("db", 2.0)
        .anti_patterns(taskref::AntiPatterns::Off)
        .timeline_capacity(1_000)
        .build()
        .unwrap()
}

fn one_round(rt: &Runtime, rng: &mut Rng, figures: &Figures) {
    let add = rt.remote(|x: u64| async move { x + 1 });
    let fallible = rt.try_remote(|x: u64| async move {
        if x % 2 == 0 {
            Ok(x)
        } else {
            Err(Injected)
        }
    });
    let panicky = rt.remote_blocking(|x: u64| {
        assert!(x % 3 != 0, "injected panic");
        x
    });
    let slow = rt
        .remote(|x: u64| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            x
        })
        .timeout(Duration::from_millis(2));
    let nested = {
        let inner = rt.clone();
        rt.remote(move |n: u64| {
            let inner = inner.clone();
            async move {
                let refs: Vec<_> = (0..n).map(|i| inner.spawn(async move { i })).collect();
                taskref::get_all(refs)
                    .await
                    .map(|v| v.len() as u64)
                    .unwrap_or(0)
            }
        })
    };
    let db = rt
        .remote_blocking(|x: u64| x)
        .resource("db", 1.0)
        .max_retries(1);

    let mut refs: Vec<ObjectRef<u64>> = Vec::new();
    for _ in 0..20 {
        let x = rng.below(100);
        let dep = if refs.is_empty() || rng.below(2) == 0 {
            rt.put(x)
        } else {
            refs[rng.below(refs.len() as u64) as usize].clone()
        };
        let r = match rng.below(7) {
            0 => add.remote(dep),
            1 => {
                figures.faults.fetch_add(1, Ordering::Relaxed);
                fallible.remote(dep)
            }
            2 => {
                figures.faults.fetch_add(1, Ordering::Relaxed);
                panicky.remote(dep)
            }
            3 => {
                figures.faults.fetch_add(1, Ordering::Relaxed);
                // A timed-out task, and a dependent cancelled while it waits.
                let s = slow.remote(x);
                add.remote(s.clone()).cancel();
                s
            }
            4 => nested.remote(rng.below(8)),
            5 => db.remote(dep),
            _ => {
                figures.faults.fetch_add(1, Ordering::Relaxed);
                let r = add.remote(dep);
                r.cancel();
                r
            }
        };
        refs.push(r);
    }
    // Bad input now and then: errors, never panics or hangs.
    if rng.below(4) == 0 {
        figures.bad_inputs.fetch_add(3, Ordering::Relaxed);
        assert!(taskref::block_wait(&refs, refs.len() + 1, None).is_err());
        assert!(settle(&add.clone().num_cpus(-1.0).remote(1)).is_err());
        assert!(settle(&add.clone().resource("gpu", 1.0).remote(1)).is_err());
    }
    match rng.below(3) {
        0 => {
            for r in &refs {
                let _ = settle(r);
            }
        }
        1 => {
            let (ready, rest) = taskref::block_wait(&refs, refs.len() / 2, Some(HANG)).unwrap();
            assert!(ready.len() >= refs.len() / 2 || !rest.is_empty());
            for r in refs.iter() {
                let _ = settle(r);
            }
        }
        _ => {
            for (_, outcome) in taskref::block_as_completed(refs).unwrap() {
                let _ = outcome;
            }
        }
    }
}

/// Keeps the injected panics (thousands) out of the output; others still print.
fn quiet_injected_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        let injected = message.is_some_and(|m| m.contains("injected"));
        if !injected {
            previous(info);
        }
    }));
}

#[test]
fn soak_with_faults_from_several_threads() {
    quiet_injected_panics();
    let seconds: u64 = std::env::var("TASKREF_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let figures = Arc::new(Figures::default());
    let runtimes: Arc<Mutex<Vec<Runtime>>> =
        Arc::new(Mutex::new((0..2).map(|_| new_runtime()).collect()));
    let workers: Vec<_> = (0..4u64)
        .map(|seed| {
            let figures = Arc::clone(&figures);
            let runtimes = Arc::clone(&runtimes);
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (seed + 1));
                while Instant::now() < deadline {
                    let rt = {
                        let mut pool = runtimes.lock().unwrap();
                        let i = rng.below(pool.len() as u64) as usize;
                        // Now and then a whole runtime is shut down under the
                        // other threads' feet, and replaced.
                        if rng.below(50) == 0 {
                            let old = std::mem::replace(&mut pool[i], new_runtime());
                            old.shutdown();
                            figures.shutdowns.fetch_add(1, Ordering::Relaxed);
                            figures
                                .tasks
                                .fetch_add(old.stats().submitted, Ordering::Relaxed);
                        }
                        pool[i].clone()
                    };
                    one_round(&rt, &mut rng, &figures);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a soak thread panicked");
    }
    // Once idle, every live runtime's counters add up.
    for rt in runtimes.lock().unwrap().iter() {
        support::eventually("the runtime goes idle", || {
            let s = rt.stats();
            s.running == 0 && s.submitted == s.finished + s.failed + s.cancelled
        });
        figures
            .tasks
            .fetch_add(rt.stats().submitted, Ordering::Relaxed);
    }
    println!(
        "soak: {} s, {} tasks, {} faults injected, {} bad inputs, {} runtimes shut down",
        seconds,
        figures.tasks.load(Ordering::Relaxed),
        figures.faults.load(Ordering::Relaxed),
        figures.bad_inputs.load(Ordering::Relaxed),
        figures.shutdowns.load(Ordering::Relaxed),
    );
    assert!(figures.tasks.load(Ordering::Relaxed) > 100);
}
