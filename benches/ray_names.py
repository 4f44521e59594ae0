"""Ray's microbenchmark shapes, measured on this machine for benches/ray_names.rs.

Runs the operations behind the `ray microbenchmark` names that the Rust bench
compares (the shapes of Ray's python/ray/_private/ray_perf.py: the same counts,
batch sizes and multipliers), timed the way Ray's `timeit` times them, and
prints JSON lines on stdout:

    {"ray_version": "2.60.0"}
    {"name": "single_client_tasks_sync", "ops_per_s": 719.3, "sd": 12.1}
    ...

The Rust bench runs it when the Python it finds can import `ray`; it can also be
run alone: `python benches/ray_names.py --warmup 0.05 --duration 0.15 --runs 2
--divide 20` (the Rust bench's quick mode).
Ray starts with `num_cpus=2`, the capacity the taskref side is given.
"""

import argparse
import json
import multiprocessing
import statistics
import sys
import time

import ray


@ray.remote
def small_value():
    return b"ok"


@ray.remote(num_cpus=0)
class Actor:
    def small_value(self):
        return b"ok"

    def small_value_batch(self, n):
        # A "client": submits n tasks from inside the actor and gathers them.
        ray.get([small_value.remote() for _ in range(n)])


@ray.remote
class AsyncActor:
    async def small_value(self):
        return b"ok"


@ray.remote
def work(actors, n):
    # Ray's n:n shape: a plain task calling the actors in turn.
    ray.get([actors[i % len(actors)].small_value.remote() for i in range(n)])


def timeit(fn, multiplier, args):
    """Ray's method: a warm-up that counts calls, then runs of a fixed duration
    reading the clock every count // 10 + 1 calls; mean and population sd."""
    start = time.perf_counter()
    count = 0
    while time.perf_counter() - start < args.warmup:
        fn()
        count += 1
    step = count // 10 + 1
    rates = []
    for _ in range(args.runs):
        start = time.perf_counter()
        count = 0
        while time.perf_counter() - start < args.duration:
            for _ in range(step):
                fn()
            count += step
        rates.append(multiplier * count / (time.perf_counter() - start))
    return statistics.fmean(rates), statistics.pstdev(rates)


def benchmarks(args):
    """(name, setup) pairs in the order `ray microbenchmark` runs them; each
    setup creates what the benchmark needs and returns (operation, multiplier)."""

    def get_calls():
        value = ray.put(0)
        return (lambda: ray.get(value)), 1

    def put_calls():
        return (lambda: ray.put(0)), 1

    def tasks_and_get_batch():
        return (lambda: ray.get([small_value.remote() for _ in range(1000)])), 1

    def wait_1k_refs():
        def drain():
            not_ready = [small_value.remote() for _ in range(1000)]
            for _ in range(1000):
                _ready, not_ready = ray.wait(not_ready)

        return drain, 1

    def tasks_sync():
        return (lambda: ray.get(small_value.remote())), 1

    def tasks_async():
        return (lambda: ray.get([small_value.remote() for _ in range(1000)])), 1000

    def multi_client_tasks_async():
        n, m = 10000 // args.divide, 4
        clients = [Actor.remote() for _ in range(m)]
        return (lambda: ray.get([c.small_value_batch.remote(n) for c in clients])), n * m

    def actor_calls_sync():
        a = Actor.remote()
        return (lambda: ray.get(a.small_value.remote())), 1

    def actor_calls_async():
        a = Actor.remote()
        return (lambda: ray.get([a.small_value.remote() for _ in range(1000)])), 1000

    def n_n_actor_calls_async():
        n, m = 5000 // args.divide, 4
        actors = [Actor.remote() for _ in range(max(1, multiprocessing.cpu_count() // 2))]
        return (lambda: ray.get([work.remote(actors, n) for _ in range(m)])), n * m

    def async_actor_calls_async():
        a = AsyncActor.remote()
        return (lambda: ray.get([a.small_value.remote() for _ in range(1000)])), 1000

    return [
        ("single_client_get_calls_Plasma_Store", get_calls),
        ("single_client_put_calls_Plasma_Store", put_calls),
        ("single_client_tasks_and_get_batch", tasks_and_get_batch),
        ("single_client_wait_1k_refs", wait_1k_refs),
        ("single_client_tasks_sync", tasks_sync),
        ("single_client_tasks_async", tasks_async),
        ("multi_client_tasks_async", multi_client_tasks_async),
        ("1_1_actor_calls_sync", actor_calls_sync),
        ("1_1_actor_calls_async", actor_calls_async),
        ("n_n_actor_calls_async", n_n_actor_calls_async),
        ("1_1_async_actor_calls_async", async_actor_calls_async),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds (Ray: 1)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per run (Ray: 2)")
    parser.add_argument("--runs", type=int, default=4, help="runs (Ray: 4)")
    parser.add_argument(
        "--divide", type=int, default=1, help="divide the multi-client counts (Ray: 1)"
    )
    parser.add_argument(
        "--only", nargs="*", default=[], help="run only the names containing one of these"
    )
    args = parser.parse_args()

    ray.init(num_cpus=2, log_to_driver=False)
    print(json.dumps({"ray_version": ray.__version__}), flush=True)
    try:
        for name, setup in benchmarks(args):
            if args.only and not any(part in name for part in args.only):
                continue
            op, multiplier = setup()
            mean, sd = timeit(op, multiplier, args)
            print(json.dumps({"name": name, "ops_per_s": mean, "sd": sd}), flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
