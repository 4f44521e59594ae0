//! The operations behind Ray's microbenchmark names, on taskref, in the shapes
//! of Ray's `python/ray/_private/ray_perf.py` (the script behind `ray
//! microbenchmark`): the same counts, the same batch sizes, the same
//! multipliers. The driver is the main thread and uses the blocking facade, as
//! Ray's driver calls `ray.get`. Ray's `small_value` task is a plain function
//! holding 1 CPU (Ray's default), so here it is a `remote_blocking` function;
//! Ray's `Actor` asks for 0 CPUs, as taskref's actors do by default; Ray's
//! async actors run up to 1,000 calls at once, and so does the one here.

use std::sync::Arc;

use taskref::Runtime;

use crate::timeit::{timeit, Rate, Timing};

/// Measures one name on `rt` and returns its operations per second.
type Measure = fn(&Runtime, Timing) -> Rate;

/// Ray's `perf_metric_name`, what one operation is here, and how to measure it.
pub(crate) const SHAPES: &[(&str, &str, Measure)] = &[
    (
        "single_client_get_calls_Plasma_Store",
        "block_get of one put ref",
        get_calls,
    ),
    (
        "single_client_put_calls_Plasma_Store",
        "put of a u64",
        put_calls,
    ),
    (
        "single_client_tasks_and_get_batch",
        "batches: 1,000 tasks submitted, then gathered",
        tasks_and_get_batch,
    ),
    (
        "single_client_wait_1k_refs",
        "drains: 1,000 tasks, then 1,000 block_wait(rest, 1)",
        wait_1k_refs,
    ),
    (
        "single_client_tasks_sync",
        "tasks: submit one, block_get it",
        tasks_sync,
    ),
    (
        "single_client_tasks_async",
        "tasks: 1,000 submitted, then gathered",
        tasks_async,
    ),
    (
        "multi_client_tasks_async",
        "tasks: 4 actors each submit and gather 10,000",
        multi_client_tasks_async,
    ),
    (
        "1_1_actor_calls_sync",
        "calls: one call, block_get it",
        actor_calls_sync,
    ),
    (
        "1_1_actor_calls_async",
        "calls: 1,000 calls, then gathered",
        actor_calls_async,
    ),
    (
        "n_n_actor_calls_async",
        "calls: 4 tasks each make 5,000 over cores/2 actors",
        n_n_actor_calls_async,
    ),
    (
        "1_1_async_actor_calls_async",
        "calls: 1,000 async-actor calls, then gathered",
        async_actor_calls_async,
    ),
];

/// Ray's `small_value` task (registered with `remote_blocking`).
fn small_value() -> &'static [u8; 2] {
    b"ok"
}

fn get_calls(rt: &Runtime, timing: Timing) -> Rate {
    let value = rt.put(0u64);
    timeit(timing, 1.0, || {
        value.block_get().unwrap();
    })
}

fn put_calls(rt: &Runtime, timing: Timing) -> Rate {
    timeit(timing, 1.0, || drop(rt.put(0u64)))
}

fn tasks_and_get_batch(rt: &Runtime, timing: Timing) -> Rate {
    let small = rt.remote_blocking(small_value);
    timeit(timing, 1.0, || {
        taskref::block_get_all((0..1_000).map(|_| small.remote(()))).unwrap();
    })
}

fn wait_1k_refs(rt: &Runtime, timing: Timing) -> Rate {
    let small = rt.remote_blocking(small_value);
    timeit(timing, 1.0, || {
        let mut not_ready: Vec<_> = (0..1_000).map(|_| small.remote(())).collect();
        for _ in 0..1_000 {
            // By value, as a Ray user ports `ready, not_ready =
            // ray.wait(not_ready)`: the refs move, nothing is cloned.
            let (_ready, rest) = taskref::block_wait(not_ready, 1, None).unwrap();
            not_ready = rest;
        }
    })
}

fn tasks_sync(rt: &Runtime, timing: Timing) -> Rate {
    let small = rt.remote_blocking(small_value);
    timeit(timing, 1.0, || {
        small.remote(()).block_get().unwrap();
    })
}

fn tasks_async(rt: &Runtime, timing: Timing) -> Rate {
    let small = rt.remote_blocking(small_value);
    timeit(timing, 1_000.0, || {
        taskref::block_get_all((0..1_000).map(|_| small.remote(()))).unwrap();
    })
}

fn multi_client_tasks_async(rt: &Runtime, timing: Timing) -> Rate {
    let (n, m) = (10_000 / timing.divide, 4);
    // Each client actor holds the remote function it submits through.
    let clients: Vec<_> = (0..m)
        .map(|_| rt.actor(rt.remote_blocking(small_value)))
        .collect();
    timeit(timing, (n * m) as f64, || {
        let batches = clients.iter().map(|c| {
            c.call(move |small| {
                taskref::block_get_all((0..n).map(|_| small.remote(())))
                    .unwrap()
                    .len()
            })
        });
        taskref::block_get_all(batches).unwrap();
    })
}

fn actor_calls_sync(rt: &Runtime, timing: Timing) -> Rate {
    let actor = rt.actor(());
    timeit(timing, 1.0, || {
        actor.call(|_: &mut ()| b"ok").block_get().unwrap();
    })
}

fn actor_calls_async(rt: &Runtime, timing: Timing) -> Rate {
    let actor = rt.actor(());
    timeit(timing, 1_000.0, || {
        taskref::block_get_all((0..1_000).map(|_| actor.call(|_: &mut ()| b"ok"))).unwrap();
    })
}

fn n_n_actor_calls_async(rt: &Runtime, timing: Timing) -> Rate {
    let (n, m) = (5_000 / timing.divide, 4);
    // `multiprocessing.cpu_count() // 2` actors, as Ray's shape has.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let actors: Vec<_> = (0..(cores / 2).max(1)).map(|_| rt.actor(())).collect();
    // Ray's `work` task: a plain task (1 CPU) that calls the actors in turn.
    let work = rt.remote_blocking(move || {
        let calls = (0..n).map(|i| actors[i % actors.len()].call(|_: &mut ()| b"ok"));
        taskref::block_get_all(calls).unwrap().len()
    });
    timeit(timing, (n * m) as f64, || {
        taskref::block_get_all((0..m).map(|_| work.remote(()))).unwrap();
    })
}

fn async_actor_calls_async(rt: &Runtime, timing: Timing) -> Rate {
    let actor = rt
        .actor_builder()
        .max_concurrency(1_000)
        .spawn_async(|| ())
        .expect("an async actor");
    timeit(timing, 1_000.0, || {
        let calls = (0..1_000).map(|_| actor.call(|_: Arc<()>| async { b"ok" }));
        taskref::block_get_all(calls).unwrap();
    })
}
