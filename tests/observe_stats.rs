//! Stats: the counters add up, and parallelism tells gathered from looped.

mod support;

use std::time::Duration;

use support::{runtime, within_deadline};

#[test]
fn counters_add_up_once_idle() {
    within_deadline(|| {
        let rt = runtime(2);
        rt.reset_stats();
        let ok = rt.remote(|x: u32| async move { x });
        let bad = rt.remote(|_: u32| async { panic!("bad") });
        let never = rt.spawn(std::future::pending::<u32>());
        let mut refs: Vec<_> = (0..50).map(|i| ok.remote(i)).collect();
        refs.extend((0..5).map(|i| bad.remote(i)));
        taskref::block_get_all_settled(refs).unwrap();
        never.cancel();
        let _ = never.block_get();
        support::eventually("the runtime is idle", || rt.stats().running == 0);
        let stats = rt.stats();
        assert_eq!(stats.submitted, 56);
        assert_eq!(stats.finished, 50);
        assert_eq!(stats.failed, 5);
        assert_eq!(stats.cancelled, 1);
        assert_eq!(
            stats.submitted,
            stats.finished + stats.failed + stats.cancelled
        );
        assert!(stats.peak_concurrency >= 1);
        assert!(stats.to_string().contains("56 submitted"), "{stats}");
    });
}

#[test]
fn parallelism_tells_gathered_from_looped() {
    within_deadline(|| {
        let rt = runtime(2);
        let sleepy =
            rt.remote(|_: u32| async { tokio::time::sleep(Duration::from_millis(10)).await });
        rt.reset_stats();
        for i in 0..10 {
            sleepy.remote(i).block_get().unwrap();
        }
        let looped = rt.stats();
        rt.reset_stats();
        taskref::block_get_all((0..10).map(|i| sleepy.remote(i))).unwrap();
        let gathered = rt.stats();
        assert!(looped.parallelism() <= 1.1, "{looped}");
        assert!(looped.peak_concurrency <= 1, "{looped}");
        assert!(gathered.parallelism() > 3.0, "{gathered}");
        assert!(gathered.peak_concurrency >= 5, "{gathered}");
    });
}

#[test]
fn reset_starts_a_new_window() {
    within_deadline(|| {
        let rt = runtime(1);
        rt.spawn(async {}).block_get().unwrap();
        rt.reset_stats();
        let stats = rt.stats();
        assert_eq!((stats.submitted, stats.finished), (0, 0));
        assert!(stats.busy.is_zero());
    });
}
