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

#[test]
fn each_line_that_waits_says_what_it_cost_and_a_get_in_a_loop_costs_most() {
    use std::time::Duration;
    support::within_deadline(|| {
        let rt = taskref::Runtime::builder()
            .num_cpus(4)
            .worker_threads(2)
            .build()
            .unwrap();
        let nap = rt.remote(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        });
        let loop_line = line!() + 2;
        for _ in 0..10 {
            nap.remote(5).block_get().unwrap(); // one at a time
        }
        let gathered_line = line!() + 1;
        taskref::block_get_all((0..10).map(|_| nap.remote(5))).unwrap();
        let costs = rt.wait_costs();
        let at = |line: u32| {
            costs
                .iter()
                .find(|c| c.location.line() == line)
                .unwrap_or_else(|| panic!("line {line} in {costs:?}"))
        };
        let (looped, gathered) = (at(loop_line), at(gathered_line));
        assert_eq!((looped.call, looped.waits), ("block_get", 10));
        assert_eq!((gathered.call, gathered.waits), ("block_get_all", 1));
        assert_eq!(
            costs[0].location.line(),
            loop_line,
            "costliest first: {costs:?}"
        );
        assert!(looped.blocked >= Duration::from_millis(40), "{looped}");
        // Four CPUs, one task at a time: about three of them idle.
        assert!(looped.idle >= looped.blocked, "{looped}");
        assert!(looped.idle > gathered.idle * 4, "{looped} vs {gathered}");
        // The picture outlines the costliest waits.
        let svg = rt.timeline().svg();
        assert_eq!(svg.matches(r##"stroke="#d62728""##).count(), 3);
    });
}
