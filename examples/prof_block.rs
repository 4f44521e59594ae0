use std::time::Instant;
fn main() {
    let rt = taskref::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let f = rt.remote(|i: u64| async move { i });
    let tk = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = tk.handle().clone();
    let n = 10_000;
    for _ in 0..3 {
        let t = Instant::now();
        for i in 0..n {
            f.remote(i).block_get().unwrap();
        }
        let a = t.elapsed();
        let t = Instant::now();
        for i in 0..n {
            h.block_on(h.spawn(async move { i })).unwrap();
        }
        let b = t.elapsed();
        println!(
            "block_get {:.1} us   tokio block_on {:.1} us",
            a.as_secs_f64() * 1e6 / n as f64,
            b.as_secs_f64() * 1e6 / n as f64
        );
    }
}
