use std::time::Instant;
fn main() {
    let rt = taskref::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let n = 100_000u64;
    for _ in 0..3 {
        let t = Instant::now();
        let v: Vec<_> = (0..n).map(|i| rt.put(i)).collect();
        println!("put {:.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
        drop(v);
        let t = Instant::now();
        let v: Vec<_> = rt
            .handle()
            .block_on(async { (0..n).map(|i| tokio::spawn(async move { i })).collect() });
        println!(
            "raw tokio spawn {:.0} ns",
            t.elapsed().as_nanos() as f64 / n as f64
        );
        drop(v);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let t = Instant::now();
        let v: Vec<_> = rt
            .handle()
            .block_on(async { (0..n).map(|i| rt.spawn(async move { i })).collect() });
        println!(
            "rt.spawn {:.0} ns",
            t.elapsed().as_nanos() as f64 / n as f64
        );
        drop(v);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let f = rt.remote(|i: u64| async move { i });
        let t = Instant::now();
        let v: Vec<_> = rt
            .handle()
            .block_on(async { (0..n).map(|i| f.remote(i)).collect() });
        println!(
            "f.remote {:.0} ns",
            t.elapsed().as_nanos() as f64 / n as f64
        );
        drop(v);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let t = Instant::now();
        let v: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
        println!(
            "f.remote outside block_on {:.0} ns",
            t.elapsed().as_nanos() as f64 / n as f64
        );
        drop(v);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
