//! Memory returns to its baseline: RSS after 1,000,000 more tasks stays within
//! a small margin of what it was after a warm-up. (A process of its own, so no
//! other test's allocations move the figure.)

use taskref::Runtime;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

#[test]
fn memory_returns_to_its_baseline_after_a_million_tasks() {
    let rt = Runtime::builder()
        .worker_threads(2)
        .timeline_capacity(1_000)
        .build()
        .unwrap();
    let f = rt.remote(|x: u64| async move { x });
    let batch = |n: u64| {
        let refs: Vec<_> = (0..n).map(|x| f.remote(x)).collect();
        taskref::block_get_all(refs).unwrap().len()
    };
    // Warm up allocator arenas and the runtime's structures.
    for _ in 0..20 {
        batch(10_000);
    }
    let baseline = rss_bytes();
    for _ in 0..100 {
        batch(10_000);
    }
    let after = rss_bytes();
    let grown = after.saturating_sub(baseline);
    println!(
        "RSS: baseline {} MB, after 1,000,000 more tasks {} MB",
        baseline >> 20,
        after >> 20
    );
    assert!(grown < 32 << 20, "RSS grew by {} MB", grown >> 20);
    assert_eq!(rt.stats().running, 0);
}
