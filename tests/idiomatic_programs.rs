//! Property test: random programs built only from the idiomatic forms (gather
//! once, pass refs as arguments, drain in completion order, bound what is in
//! flight, gather a task's children, stream, batch small items, a burst of
//! tasks that do real work) run under `AntiPatterns::Deny`
//! and are never refused: the detector has no false alarm on them.
//!
//! `TASKREF_PROPTEST_CASES=N cargo test --test idiomatic_programs` runs N
//! cases (default 24).

mod support;

use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use taskref::{AntiPatterns, Error, Runtime};

/// One idiomatic step of a program: `n` tasks that each sleep up to `ms`
/// milliseconds (the sleeps vary, so tasks finish out of order).
#[derive(Clone, Debug)]
enum Form {
    /// Submit everything, then gather once (async or blocking face).
    Gathered { n: u64, ms: u64, blocking: bool },
    /// A pipeline: each task takes the previous one's ref as its argument.
    Pipeline { n: u64 },
    /// Drain in completion order.
    AsCompleted { n: u64, ms: u64, blocking: bool },
    /// Bounded in-flight work.
    MapUnordered { n: u64, ms: u64, in_flight: usize },
    /// A task that submits children and gathers them.
    Tree { n: u64, ms: u64 },
    /// `wait` for every ref, then take the values.
    WaitAll { n: u64, ms: u64 },
    /// A streaming task consumed in order.
    Streamed { n: u64 },
    /// Actor calls submitted, then gathered.
    ActorCalls { n: u64 },
    /// Many small items, processed as a few tasks of a batch each.
    Chunked { items: u64, batch: u64 },
    /// A legitimate burst: thousands of tasks that each do real work (20 µs),
    /// submitted at once (a backlog far beyond the CPUs, for a moment), then
    /// gathered.
    Burst { n: u64 },
}

fn form() -> impl Strategy<Value = Form> {
    let n = 1u64..40;
    let ms = 0u64..4;
    prop_oneof![
        (n.clone(), ms.clone(), any::<bool>()).prop_map(|(n, ms, blocking)| Form::Gathered {
            n,
            ms,
            blocking
        }),
        (1u64..30).prop_map(|n| Form::Pipeline { n }),
        (n.clone(), ms.clone(), any::<bool>()).prop_map(|(n, ms, blocking)| Form::AsCompleted {
            n,
            ms,
            blocking
        }),
        (n.clone(), ms.clone(), 1usize..8).prop_map(|(n, ms, in_flight)| Form::MapUnordered {
            n,
            ms,
            in_flight
        }),
        (n.clone(), ms.clone()).prop_map(|(n, ms)| Form::Tree { n, ms }),
        (n.clone(), ms).prop_map(|(n, ms)| Form::WaitAll { n, ms }),
        (0u64..200).prop_map(|n| Form::Streamed { n }),
        n.prop_map(|n| Form::ActorCalls { n }),
        (2_000u64..20_000, 500u64..2_000).prop_map(|(items, batch)| Form::Chunked { items, batch }),
        (2_000u64..12_000).prop_map(|n| Form::Burst { n }),
    ]
}

/// Runs `form`; `Err` if anything was refused (or failed).
fn run(rt: &Runtime, form: &Form) -> Result<(), Error> {
    let nap = rt.remote(|(i, ms): (u64, u64)| async move {
        tokio::time::sleep(Duration::from_millis((i * 7 + ms) % (ms + 1))).await;
        i
    });
    let sleepy = |n: u64, ms: u64| (0..n).map(|i| nap.remote((i, ms))).collect::<Vec<_>>();
    match *form {
        Form::Gathered { n, ms, blocking } => {
            let refs = sleepy(n, ms);
            let values = match blocking {
                true => taskref::block_get_all(refs)?,
                false => rt.handle().block_on(taskref::get_all(refs))?,
            };
            assert_eq!(values, (0..n).collect::<Vec<_>>());
        }
        Form::Pipeline { n } => {
            let add = rt.remote(|x: u64| async move { x + 1 });
            let mut last = rt.put(0u64);
            for _ in 0..n {
                last = add.remote(last);
            }
            assert_eq!(last.block_get()?, n);
        }
        Form::AsCompleted { n, ms, blocking } => {
            let refs = sleepy(n, ms);
            let count = match blocking {
                true => taskref::block_as_completed(refs)?.count(),
                false => rt
                    .handle()
                    .block_on(taskref::as_completed(refs).collect::<Vec<_>>())
                    .len(),
            };
            assert_eq!(count as u64, n);
        }
        Form::MapUnordered { n, ms, in_flight } => {
            let f = nap.clone();
            let done = taskref::block_map_unordered(0..n, in_flight, move |i| f.remote((i, ms)))?;
            for (_, value) in done {
                value?;
            }
        }
        Form::Tree { n, ms } => {
            let f = nap.clone();
            let root = rt.spawn(async move {
                let children: Vec<_> = (0..n).map(|i| f.remote((i, ms))).collect();
                taskref::get_all(children).await.map(|v| v.len() as u64)
            });
            assert_eq!(root.block_get()??, n);
        }
        Form::WaitAll { n, ms } => {
            let refs = sleepy(n, ms);
            let (ready, rest) = taskref::block_wait(refs, n as usize, None)?;
            assert!(rest.is_empty());
            assert_eq!(taskref::block_get_all(ready)?.len() as u64, n);
        }
        Form::Streamed { n } => {
            let count = rt.remote_stream_blocking(|n: u64| 0..n).backpressure(8);
            let mut got = 0;
            for item in count.remote(n).block_iter() {
                assert_eq!(item.block_get()?, got);
                got += 1;
            }
            assert_eq!(got, n);
        }
        Form::ActorCalls { n } => {
            let counter = rt.actor(0u64);
            let calls: Vec<_> = (0..n)
                .map(|_| {
                    counter.call(|c: &mut u64| {
                        *c += 1;
                        *c
                    })
                })
                .collect();
            assert_eq!(taskref::block_get_all(calls)?, (1..=n).collect::<Vec<_>>());
        }
        Form::Chunked { items, batch } => {
            let double_all = rt
                .remote_blocking(|xs: Vec<u64>| xs.into_iter().map(|x| x * 2).collect::<Vec<_>>());
            let items: Vec<u64> = (0..items).collect();
            let refs: Vec<_> = items
                .chunks(batch as usize)
                .map(|chunk| double_all.remote(chunk.to_vec()))
                .collect();
            let doubled = taskref::block_get_all(refs)?.concat();
            assert_eq!(doubled.len(), items.len());
        }
        Form::Burst { n } => {
            let work = rt.remote_blocking(|i: u64| {
                let start = std::time::Instant::now();
                while start.elapsed() < Duration::from_micros(20) {
                    std::hint::spin_loop();
                }
                i
            });
            let refs: Vec<_> = (0..n).map(|i| work.remote(i)).collect();
            assert_eq!(taskref::block_get_all(refs)?.len() as u64, n);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: support::proptest_cases(),
        max_shrink_iters: 100,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn programs_of_idiomatic_forms_are_never_reported(forms in proptest::collection::vec(form(), 1..8)) {
        let rt = Runtime::builder()
            .num_cpus(4)
            .worker_threads(2)
            .anti_patterns(AntiPatterns::Deny)
            .build()
            .unwrap();
        let outcome = support::within_deadline({
            let rt = rt.clone();
            let forms = forms.clone();
            move || forms.iter().map(|f| run(&rt, f).map_err(|e| e.to_string())).collect::<Vec<_>>()
        });
        for (form, result) in forms.iter().zip(outcome) {
            prop_assert!(result.is_ok(), "{:?} was refused: {:?}", form, result);
        }
    }
}
