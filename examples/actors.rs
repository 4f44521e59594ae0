//! Actors: workers with state whose method calls return refs at once.
//!
//! 1. A counter fed by many tasks at once: calls run one at a time, in the
//!    order each caller made them, so no increment is lost and no lock is
//!    needed.
//! 2. A parameter server (Ray's parameter-server pattern): the server actor
//!    holds the weights; worker tasks get the weights *as a ref*, compute
//!    gradients in parallel, and the server applies them.
//! 3. An `ActorPool` of two stateful "models" labelling a batch of inputs,
//!    every model kept busy.
//! 4. Ray's actor model beyond calls: a named actor found from another
//!    thread (`get_actor`), a restart (`kill_and_restart`, `max_restarts`)
//!    with a call marked safe to repeat, and a bound on pending calls.
//!
//! Run with `cargo run --release --example actors`.

use std::time::{Duration, Instant};

use taskref::{ActorPool, Runtime};

const DIM: usize = 1_000;

/// The gradient of a toy least-squares loss at `weights` for one data shard:
/// some honest floating-point work, the same on every run.
fn compute_gradient(weights: &[f64], shard: u64) -> Vec<f64> {
    let target = shard as f64 / 10.0;
    let mut gradient = vec![0.0; weights.len()];
    for _ in 0..200 {
        for (g, w) in gradient.iter_mut().zip(weights) {
            *g += (w - target) / 200.0;
        }
    }
    gradient
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new()?;

    // 1. A counter, incremented by 8 tasks x 1,000 calls each.
    let counter = rt.actor_builder().name("counter").spawn(|| 0u64)?;
    let start = Instant::now();
    let feeders: Vec<_> = (0..8)
        .map(|_| {
            let counter = counter.clone();
            rt.spawn(async move {
                let calls: Vec<_> = (0..1_000)
                    .map(|_| counter.call(|n: &mut u64| *n += 1))
                    .collect();
                taskref::get_all(calls).await.map(|done| done.len())
            })
        })
        .collect();
    let calls: usize = taskref::block_get_all(feeders)?
        .into_iter()
        .sum::<Result<usize, _>>()?;
    let total = counter.call(|n: &mut u64| *n).block_get()?;
    println!(
        "counter: {calls} calls from 8 tasks -> {total} in {:.1} ms",
        ms(start.elapsed())
    );
    assert_eq!(total, 8_000);

    // The same calls awaited one by one: each caller waits a round trip per call.
    let start = Instant::now();
    for _ in 0..1_000 {
        counter.call(|n: &mut u64| *n += 1).block_get()?;
    }
    let looped = start.elapsed();
    let start = Instant::now();
    taskref::block_get_all((0..1_000).map(|_| counter.call(|n: &mut u64| *n += 1)))?;
    let gathered = start.elapsed();
    println!(
        "counter: 1,000 calls, block_get in a loop {:.2} ms vs gathered {:.2} ms ({:.1}x)",
        ms(looped),
        ms(gathered),
        looped.as_secs_f64() / gathered.as_secs_f64().max(1e-9)
    );

    // 2. A parameter server and 4 workers, 10 iterations.
    let server = rt
        .actor_builder()
        .name("parameter server")
        .spawn(|| vec![1.0f64; DIM])?;
    let gradient = rt
        .remote_blocking(|weights: Vec<f64>, shard: u64| compute_gradient(&weights, shard))
        .name("compute_gradient");
    let start = Instant::now();
    for _ in 0..10 {
        // The weights go to the workers as a ref: fetched once, never by us.
        let weights = server.call(|w: &mut Vec<f64>| w.clone());
        let gradients: Vec<_> = (0..4u64)
            .map(|shard| gradient.remote((&weights, shard)))
            .collect();
        for g in gradients {
            // Applied in submission order; each call starts when its gradient is ready.
            let _ = server.call_with(g, |w: &mut Vec<f64>, g: Vec<f64>| {
                for (w, g) in w.iter_mut().zip(&g) {
                    *w -= 0.1 * g;
                }
            });
        }
    }
    let weights = server.call(|w: &mut Vec<f64>| w[0]).block_get()?;
    println!(
        "parameter server: 10 iterations x 4 workers in {:.1} ms, w[0] = {weights:.4}",
        ms(start.elapsed())
    );
    let stats = rt.stats();
    println!(
        "  stats: {} tasks and calls finished, peak {} at once",
        stats.finished, stats.peak_concurrency
    );

    // 3. A pool of two models (say, each holding a loaded network).
    let models = (0..2).map(|i| {
        rt.actor_builder()
            .name(format!("model {i}"))
            .spawn(move || format!("model {i}"))
    });
    let pool = ActorPool::new(models.collect::<Result<Vec<_>, _>>()?);
    let start = Instant::now();
    let labels = pool.block_map(0..8u64, |model: &mut String, x: u64| {
        std::thread::sleep(Duration::from_millis(20)); // inference
        format!("{x} by {model}")
    })?;
    let labels: Vec<String> = labels.map(|(_, label)| label).collect::<Result<_, _>>()?;
    println!(
        "actor pool: 8 inputs x 20 ms on 2 models in {:.0} ms (one model: 160 ms): {}",
        ms(start.elapsed()),
        labels.join(", ")
    );

    // 4. A named cache, found by name from another thread, restarted once.
    named_and_restarted(&rt)?;
    Ok(())
}

/// A session cache, named so that any part of the program finds it, with
/// one restart allowed (its constructor "reloads" it), and at most 100
/// calls pending.
fn named_and_restarted(rt: &Runtime) -> Result<(), Box<dyn std::error::Error>> {
    let cache = rt
        .actor_builder()
        .name("sessions")
        .max_restarts(1)
        .max_pending_calls(100)
        .spawn(|| vec!["loaded at start".to_owned()])?;
    let elsewhere = {
        let rt = rt.clone();
        std::thread::spawn(move || -> Result<usize, taskref::Error> {
            // Another part of the program knows the name, not the handle.
            let cache = rt.get_actor::<Vec<String>>("sessions")?;
            let _ = cache.call(|s: &mut Vec<String>| s.push("from a thread".to_owned()));
            cache.call(|s: &mut Vec<String>| s.len()).block_get()
        })
    };
    let seen = elsewhere.join().expect("the thread")?;
    println!("named actor: `sessions` found from another thread, {seen} entries");
    // A call that only reads is safe to repeat on a fresh instance.
    let (started, release) = (
        std::sync::Arc::new(std::sync::Barrier::new(2)),
        std::sync::Arc::new(std::sync::Barrier::new(2)),
    );
    let (s, r) = (started.clone(), release.clone());
    let busy = cache.call(move |_: &mut Vec<String>| {
        s.wait();
        r.wait();
    });
    started.wait();
    let write = cache.call(|s: &mut Vec<String>| s.push("lost".to_owned()));
    let read = cache.max_retries(1).call(|s: &mut Vec<String>| s.clone());
    cache.kill_and_restart(); // both calls are queued behind `busy`
    release.wait();
    busy.block_get()?;
    println!(
        "restart: {} restart(s); the queued write failed ({}); the read, safe to repeat, ran on the new instance: {:?}",
        cache.restarts(),
        write.block_get().map_or_else(|e| e.to_string(), |_| "ran".to_owned()),
        read.block_get()?
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
