fn main() {
    let rt = taskref::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let notify = std::sync::Arc::new(tokio::sync::Notify::new());
    let n2 = notify.clone();
    let fut = async move {
        n2.notified().await;
    };
    eprintln!("user future {}", std::mem::size_of_val(&fut));
    let r = rt.spawn(fut);
    notify.notify_waiters();
    let _ = r.block_get_timeout(std::time::Duration::from_millis(100));
}
