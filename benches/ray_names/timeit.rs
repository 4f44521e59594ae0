//! Ray's way of timing a microbenchmark (`timeit` in
//! `python/ray/_private/ray_microbenchmark_helpers.py`), so that taskref's
//! figures are taken the way Ray's are: run the operation for a warm-up period
//! and count the calls; batch `count / 10 + 1` calls between clock reads; then
//! several runs of a fixed duration, each giving `multiplier * calls /
//! seconds`; report their mean and (population) standard deviation. Ray also
//! sleeps 10 s before each benchmark against noisy neighbours; this bench does
//! not (it runs taskref alone, in one process).

use std::time::{Duration, Instant};

/// Durations of the method: Ray's (1 s warm-up, four 2 s runs), or short ones.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) warm_up: Duration,
    pub(crate) duration: Duration,
    pub(crate) runs: usize,
    /// Divides the counts of the two multi-client shapes (40,000 and 20,000
    /// calls per operation): one operation of those takes Ray tens of seconds,
    /// too long for a quick check. 1 (Ray's counts) in full mode.
    pub(crate) divide: usize,
}

impl Timing {
    /// Ray's own settings.
    pub(crate) const RAY: Timing = Timing {
        warm_up: Duration::from_secs(1),
        duration: Duration::from_secs(2),
        runs: 4,
        divide: 1,
    };

    /// Enough to see that every shape works (`TASKREF_BENCH_QUICK=1`).
    pub(crate) const QUICK: Timing = Timing {
        warm_up: Duration::from_millis(50),
        duration: Duration::from_millis(150),
        runs: 2,
        divide: 20,
    };
}

/// Operations per second: the mean over the runs and its standard deviation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rate {
    pub(crate) mean: f64,
    pub(crate) sd: f64,
}

/// Times `op`, each call counting as `multiplier` operations.
pub(crate) fn timeit(timing: Timing, multiplier: f64, mut op: impl FnMut()) -> Rate {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < timing.warm_up {
        op();
        count += 1;
    }
    // Read the clock every `step` calls, as Ray does, so that cheap operations
    // are not dominated by reading it.
    let step = count / 10 + 1;
    let rates: Vec<f64> = (0..timing.runs)
        .map(|_| {
            let start = Instant::now();
            let mut count = 0u64;
            while start.elapsed() < timing.duration {
                for _ in 0..step {
                    op();
                }
                count += step;
            }
            multiplier * count as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rates.len() as f64;
    Rate {
        mean,
        sd: var.sqrt(),
    }
}
