use std::time::{Duration, Instant};
fn spin(iters: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..iters {
        x = std::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}
fn main() {
    let probe = 2_000_000u64;
    let t = Instant::now();
    spin(probe);
    let e = t.elapsed();
    let iters = (probe as f64 * 0.025 / e.as_secs_f64()) as u64;
    let rt = taskref::Runtime::builder()
        .worker_threads(2)
        .num_cpus(2)
        .build()
        .unwrap();
    let start = Instant::now();
    let f = rt.remote_blocking(move |i: u64| {
        let s = start.elapsed();
        spin(iters);
        (i, s, start.elapsed())
    });
    for _ in 0..3 {
        let t = Instant::now();
        let v = taskref::block_get_all((0..16).map(|i| f.remote(i))).unwrap();
        let total = t.elapsed();
        let base = v.iter().map(|x| x.1).min().unwrap();
        let mut gaps = vec![];
        let mut ends: Vec<Duration> = v.iter().map(|x| x.2 - base).collect();
        ends.sort();
        let mut starts: Vec<Duration> = v.iter().map(|x| x.1 - base).collect();
        starts.sort();
        for w in 2..16 {
            gaps.push(starts[w].as_secs_f64() * 1e3 - ends[w - 2].as_secs_f64() * 1e3);
        }
        println!(
            "total {:?}; run {:.1} ms avg; handoff gaps ms {:?}",
            total,
            v.iter()
                .map(|x| (x.2 - x.1).as_secs_f64() * 1e3)
                .sum::<f64>()
                / 16.0,
            gaps.iter()
                .map(|g| (g * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
    }
}
