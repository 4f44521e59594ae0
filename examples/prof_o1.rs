use std::time::Instant;
fn main() {
    let rt = taskref::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let f = rt.remote(|i: u64| async move { i });
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(100_000);
    if std::env::args().nth(2).is_some() {
        tokio_baseline(n);
        return;
    }
    for _ in 0..10 {
        let t = Instant::now();
        rt.handle().block_on(async {
            let refs: Vec<_> = (0..n).map(|i| f.remote(i)).collect();
            let t1 = t.elapsed();
            taskref::get_all(refs).await.unwrap();
            println!(
                "submit {:?} total {:?} ({:.0} ns/task)",
                t1,
                t.elapsed(),
                t.elapsed().as_nanos() as f64 / n as f64
            );
        });
    }
}

#[allow(dead_code)]
fn tokio_baseline(n: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..5 {
        let t = Instant::now();
        rt.block_on(async {
            let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
            let t1 = t.elapsed();
            futures::future::join_all(hs).await;
            println!(
                "tokio submit {:?} total {:?} ({:.0} ns/task)",
                t1,
                t.elapsed(),
                t.elapsed().as_nanos() as f64 / n as f64
            );
        });
    }
}
