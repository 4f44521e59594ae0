//! Streaming returns: generator tasks hand back one ref per item as soon as
//! it exists (with backpressure, failures, cancel and drop, retries, actors),
//! and a task returning a tuple can hand back one ref per element.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use support::{eventually, within_deadline, DropCounter};
use taskref::{AntiPatterns, Error, ObjectRef, Runtime};

fn rt() -> Runtime {
    Runtime::builder()
        .worker_threads(2)
        .num_cpus(2)
        .build()
        .unwrap()
}

fn values<T: Clone + Send + 'static>(refs: impl IntoIterator<Item = ObjectRef<T>>) -> Vec<T> {
    refs.into_iter().map(|r| r.block_get().unwrap()).collect()
}

#[test]
fn items_come_in_order_each_as_soon_as_it_exists() {
    within_deadline(|| {
        let rt = rt();
        let gate = Arc::new(AtomicBool::new(false));
        let open = Arc::clone(&gate);
        // The second item waits for the gate: the first is usable before.
        let two = rt.remote_stream(move |_: ()| {
            let open = Arc::clone(&open);
            futures::stream::iter(0..2u32).then(move |i| {
                let open = Arc::clone(&open);
                async move {
                    while i == 1 && !open.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    i
                }
            })
        });
        let mut items = two.remote(()).block_iter();
        let first = items.next().unwrap();
        assert_eq!(first.block_get().unwrap(), 0, "ready before the task ends");
        gate.store(true, Ordering::SeqCst);
        assert_eq!(values(items), [1]);
    });
}

#[test]
fn blocking_and_async_streams_and_their_tasks() {
    within_deadline(|| {
        let rt = rt();
        let squares = rt
            .remote_stream_blocking(|n: u64| (0..n).map(|i| i * i))
            .name("squares");
        let stream = squares.remote(5);
        assert_eq!(stream.task().name(), Some("squares"));
        let task = stream.task_ref().clone();
        assert_eq!(values(stream.block_iter()), [0, 1, 4, 9, 16]);
        assert_eq!(
            task.block_get().unwrap(),
            5,
            "the task's value: items delivered"
        );
        let words = rt.remote_stream(|s: String| {
            futures::stream::iter(s.split(' ').map(str::to_owned).collect::<Vec<_>>())
        });
        let refs: Vec<_> = words.remote("a b c".to_owned()).block_iter().collect();
        assert_eq!(taskref::block_get_all(refs).unwrap(), ["a", "b", "c"]);
        let empty = rt.remote_stream_blocking(|_: ()| Vec::<u8>::new());
        assert_eq!(empty.remote(()).block_iter().count(), 0);
    });
}

#[test]
fn item_refs_are_ordinary_refs() {
    within_deadline(|| {
        let rt = rt();
        let numbers = rt.remote_stream_blocking(|n: u64| 1..=n);
        let refs: Vec<ObjectRef<u64>> = numbers.remote(4).block_iter().collect();
        // Passed to another task, gathered, waited on, streamed as completed.
        let double = rt.remote(|x: u64| async move { 2 * x });
        let doubled: Vec<_> = refs.iter().map(|r| double.remote(r)).collect();
        assert_eq!(taskref::block_get_all(doubled).unwrap(), [2, 4, 6, 8]);
        let (ready, rest) = taskref::block_wait(&refs, 4, None).unwrap();
        assert_eq!((ready.len(), rest.len()), (4, 0));
        let done: Vec<_> = taskref::block_as_completed(refs.clone()).unwrap().collect();
        assert_eq!(done.len(), 4);
        assert!(refs.iter().all(ObjectRef::is_ready));
        assert_ne!(refs[0].id(), refs[1].id());
    });
}

#[test]
fn backpressure_keeps_the_producer_at_most_n_ahead() {
    within_deadline(|| {
        let rt = rt();
        let produced = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&produced);
        let source = rt
            .remote_stream_blocking(move |n: u64| {
                let counter = Arc::clone(&counter);
                (0..n).inspect(move |_| {
                    counter.fetch_add(1, Ordering::SeqCst);
                })
            })
            .backpressure(3);
        let mut taken = 0u64;
        let mut worst = 0u64;
        for item in source.remote(200).block_iter() {
            taken += 1;
            // A slow consumer.
            if taken % 20 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            let ahead = produced.load(Ordering::SeqCst) - taken;
            worst = worst.max(ahead);
            assert_eq!(item.block_get().unwrap(), taken - 1);
        }
        assert_eq!(taken, 200);
        assert!(worst <= 3, "the producer ran {worst} items ahead");
        // The async form too.
        let produced = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&produced);
        let source = rt
            .remote_stream(move |n: u64| {
                let counter = Arc::clone(&counter);
                futures::stream::iter(0..n).inspect(move |_| {
                    counter.fetch_add(1, Ordering::SeqCst);
                })
            })
            .backpressure(2);
        let mut stream = source.remote(50).block_iter();
        std::thread::sleep(Duration::from_millis(50));
        assert!(produced.load(Ordering::SeqCst) <= 2, "paused at the bound");
        assert_eq!(stream.by_ref().count(), 50);
    });
}

#[test]
fn a_failure_mid_stream_ends_it_with_one_failing_ref_after_the_items_before() {
    within_deadline(|| {
        let rt = rt();
        let panicky = rt.remote_stream_blocking(|n: u32| {
            (0..n).map(|i| if i == 3 { panic!("item {i} broke") } else { i })
        });
        let refs: Vec<_> = panicky.remote(10).block_iter().collect();
        assert_eq!(refs.len(), 4, "three items, then the failure");
        assert_eq!(values(refs[..3].to_vec()), [0, 1, 2]);
        let err = refs[3].block_get().unwrap_err();
        assert!(
            err.is_panic() && err.to_string().contains("item 3 broke"),
            "{err}"
        );
        // A timeout mid-stream.
        let slow = rt
            .remote_stream(|_: ()| {
                futures::stream::iter(0..u32::MAX).then(|i| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    i
                })
            })
            .timeout(Duration::from_millis(100));
        let refs: Vec<_> = slow.remote(()).block_iter().collect();
        let last = refs.last().unwrap().block_get().unwrap_err();
        assert!(last.is_task_timeout(), "{last}");
        assert!(refs.len() >= 2, "some items came before the deadline");
        assert!(refs[..refs.len() - 1].iter().all(|r| r.block_get().is_ok()));
    });
}

#[test]
fn cancelling_the_stream_stops_the_producer_and_keeps_what_was_taken() {
    within_deadline(|| {
        let rt = rt();
        let produced = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&produced);
        let endless = rt.remote_stream(move |_: ()| {
            let counter = Arc::clone(&counter);
            futures::stream::iter(0u64..).then(move |i| {
                let counter = Arc::clone(&counter);
                async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                    i
                }
            })
        });
        let mut stream = endless.remote(()).block_iter();
        let first = stream.next().unwrap();
        let second = stream.next().unwrap();
        assert!(stream_cancel(&mut stream));
        let rest: Vec<_> = stream.collect();
        let last = rest
            .last()
            .expect("the cancel's ref")
            .block_get()
            .unwrap_err();
        assert!(last.is_cancelled(), "{last}");
        assert_eq!(
            (first.block_get().unwrap(), second.block_get().unwrap()),
            (0, 1)
        );
        let stopped_at = produced.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(produced.load(Ordering::SeqCst), stopped_at, "no more items");
    });
}

fn stream_cancel<T: Send + 'static>(stream: &mut taskref::BlockRefStream<T>) -> bool {
    stream.cancel()
}

#[test]
fn dropping_the_stream_stops_the_producer_at_once() {
    within_deadline(|| {
        let rt = rt();
        let token = DropCounter::default();
        let watched = token.clone();
        let endless = rt.remote_stream(move |_: ()| {
            let held = watched.token();
            futures::stream::iter(0u64..).then(move |i| {
                let _held = &held;
                async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    i
                }
            })
        });
        let stream = endless.remote(());
        let task = stream.task_ref().clone();
        let first = {
            let mut it = stream.block_iter();
            it.next().unwrap()
        }; // dropped here
        eventually("the producer's stream is dropped", || token.drops() == 1);
        assert!(task.block_get().unwrap_err().is_cancelled());
        assert_eq!(
            first.block_get().unwrap(),
            0,
            "what was taken keeps its value"
        );
        // A blocking producer stops at its next item.
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let blocking = rt.remote_stream_blocking(move |_: ()| {
            let counter = Arc::clone(&counter);
            (0u64..).inspect(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            })
        });
        let stream = blocking.remote(());
        let task = stream.task_ref().clone();
        drop(stream);
        assert!(task.block_get().unwrap_err().is_cancelled());
        let at = sent.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            sent.load(Ordering::SeqCst) <= at + 1,
            "stopped within one item"
        );
    });
}

#[test]
fn a_retried_stream_delivers_each_item_once() {
    within_deadline(|| {
        let rt = rt();
        let attempts = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&attempts);
        let flaky = rt
            .remote_stream_blocking(move |n: u32| {
                let attempt = counter.fetch_add(1, Ordering::SeqCst);
                (0..n).inspect(move |&i| {
                    if attempt == 0 && i == 3 {
                        panic!("first attempt fails at 3");
                    }
                })
            })
            .max_retries(1);
        let got = values(flaky.remote(6).block_iter());
        assert_eq!(got, [0, 1, 2, 3, 4, 5], "no item twice, none lost");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_million_items_flow_through_one_stream_in_linear_time() {
    within_deadline(|| {
        let rt = rt();
        let count = rt.remote_stream_blocking(|n: u64| 0..n).backpressure(1024);
        let drain = |n: u64| {
            let started = Instant::now();
            let mut sum = 0u64;
            let mut items = count.remote(n).block_iter();
            for item in items.by_ref() {
                sum += item.block_get().unwrap();
            }
            assert_eq!(sum, n * (n - 1) / 2);
            started.elapsed()
        };
        drain(10_000); // warm up
        let small = drain(100_000);
        let large = drain(1_000_000);
        // Ten times the items: far from a hundred times the time.
        assert!(
            large < small * 40,
            "100k items {small:?}, 1M items {large:?}"
        );
    });
}

#[test]
fn actor_methods_stream_tokens_one_by_one() {
    within_deadline(|| {
        let rt = rt();
        let model = rt
            .actor_builder()
            .name("model")
            .spawn(|| vec!["the", "quick", "brown", "fox"])
            .unwrap();
        let tokens = model.call_stream(|words: &mut Vec<&'static str>, out| {
            for word in words.iter() {
                std::thread::sleep(Duration::from_millis(1));
                if out.send(word.to_string()).is_err() {
                    return;
                }
            }
        });
        assert_eq!(tokens.task().actor(), Some("model"));
        assert_eq!(
            values(tokens.block_iter()),
            ["the", "quick", "brown", "fox"]
        );
        // Bounded: the method waits for the consumer.
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let bounded = model.call_stream_bounded(2, move |_: &mut Vec<&'static str>, out| {
            for i in 0..100u64 {
                counter.fetch_add(1, Ordering::SeqCst);
                if out.send(i).is_err() {
                    return;
                }
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            sent.load(Ordering::SeqCst) <= 3,
            "at most the bound and one in hand"
        );
        assert_eq!(bounded.block_iter().count(), 100);
        // Dropping the stream makes `send` fail: the method stops.
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopped);
        let endless = model.call_stream(move |_: &mut Vec<&'static str>, out| {
            while out.send(0u8).is_ok() {
                std::thread::sleep(Duration::from_millis(1));
            }
            flag.store(true, Ordering::SeqCst);
        });
        // Once it runs (a call cancelled while still queued never runs).
        let mut endless = endless.block_iter();
        assert_eq!(endless.next().unwrap().block_get().unwrap(), 0);
        drop(endless);
        eventually("the method saw the stream closed", || {
            stopped.load(Ordering::SeqCst)
        });
        // The actor goes on.
        assert_eq!(
            model
                .call(|w: &mut Vec<&'static str>| w.len())
                .block_get()
                .unwrap(),
            4
        );
        // Async actors stream a `Stream`.
        let counter = rt.actor_builder().spawn_async(|| 3u32).unwrap();
        let ticks = counter.call_stream(|n: Arc<u32>| futures::stream::iter(0..*n));
        assert_eq!(values(ticks.block_iter()), [0, 1, 2]);
    });
}

#[test]
fn consuming_a_stream_in_order_is_not_a_get_in_a_loop() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .anti_patterns(AntiPatterns::Deny)
            .build()
            .unwrap();
        let slow = rt.remote_stream(|n: u32| {
            futures::stream::iter(0..n).then(|i| async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                i
            })
        });
        let mut got = Vec::new();
        for item in slow.remote(10).block_iter() {
            got.push(item.block_get().unwrap());
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn several_returns_hand_back_one_ref_per_element() {
    within_deadline(|| {
        let rt = rt();
        let split = rt.remote(|v: Vec<u32>| async move {
            let (even, odd): (Vec<u32>, Vec<u32>) = v.into_iter().partition(|x| x % 2 == 0);
            (even, odd, "done".to_owned())
        });
        let (even, odd, note) = split.remote_split((1..=6).collect::<Vec<u32>>());
        let total = rt.remote(|v: Vec<u32>| async move { v.iter().sum::<u32>() });
        assert_eq!(total.remote(&even).block_get().unwrap(), 12);
        assert_eq!(odd.block_get().unwrap(), [1, 3, 5]);
        assert_eq!(note.block_get().unwrap(), "done");
        // A failing task fails every element, naming the task's error.
        let broken = rt.remote_blocking(|_: ()| -> (u8, u8) { panic!("no pair") });
        let (a, b) = broken.remote_split(());
        for part in [a, b] {
            let err = part.block_get().unwrap_err();
            assert!(matches!(err, Error::DependencyFailed { .. }), "{err}");
            assert!(err.root_cause().is_panic(), "{err}");
        }
    });
}

#[test]
fn items_are_counted_and_marked_on_their_tasks_bar() {
    within_deadline(|| {
        let rt = rt();
        rt.reset_stats();
        let five = rt.remote_stream_blocking(|n: u32| 0..n).name("five");
        let stream = five.remote(5);
        let task = stream.task_ref().clone();
        assert_eq!(stream.block_iter().count(), 5);
        task.block_get().unwrap();
        eventually("the task is recorded", || {
            rt.timeline()
                .tasks()
                .iter()
                .any(|t| t.task.id() == task.id())
        });
        assert_eq!(rt.stats().items, 5);
        let timeline = rt.timeline();
        let marks: Vec<u64> = timeline
            .items()
            .iter()
            .filter(|i| i.task == task.id())
            .map(|i| i.number)
            .collect();
        assert_eq!(marks, [1, 2, 3, 4, 5]);
        let record = timeline
            .tasks()
            .iter()
            .find(|t| t.task.id() == task.id())
            .unwrap();
        let ran = record.started.unwrap()..=record.ended;
        assert!(
            timeline.items().iter().all(|i| ran.contains(&i.at)),
            "on the bar"
        );
        assert_eq!(timeline.chrome_trace().matches("stream item").count(), 5);
        assert_eq!(timeline.svg().matches(r#"class="item""#).count(), 5);
        // An actor's streaming method too.
        let actor = rt.actor(());
        let stream = actor.call_stream(|_: &mut (), out| {
            for i in 0..3u8 {
                out.send(i).unwrap();
            }
        });
        assert_eq!(stream.block_iter().count(), 3);
        eventually("counted", || rt.stats().items == 8);
    });
}

// ---- failure paths (from an independent review) -------------------------

/// Runs `f` on a thread; `Some(result)` if it finishes within `limit`.
fn finishes_within<R: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

#[test]
fn cancelling_a_running_blocking_stream_ends_it() {
    let rt = rt();
    let produced = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&produced);
    let endless = rt
        .remote_stream_blocking(move |_: ()| {
            let c = Arc::clone(&c);
            (0u64..).inspect(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            })
        })
        .backpressure(4);
    let mut s = endless.remote(()).block_iter();
    s.next().unwrap();
    assert!(s.cancel());
    let at = produced.load(Ordering::SeqCst);
    let tail = finishes_within(Duration::from_secs(3), move || {
        let rest: Vec<_> = s.by_ref().take(10_000).collect();
        rest.len()
    });
    let after = produced.load(Ordering::SeqCst);
    let _ = format!("after cancel: tail={tail:?} produced {at} -> {after}");
    assert!(
        tail.is_some() && tail.unwrap() < 10,
        "stream went on after cancel: {tail:?}; produced {at} -> {after}"
    );
}

// 2. blocking stream with timeout: stream does not end at the timeout.

#[test]
fn a_blocking_stream_ends_at_its_timeout() {
    let rt = rt();
    let slow = rt
        .remote_stream_blocking(|_: ()| {
            (0u32..).inspect(|_| std::thread::sleep(Duration::from_millis(10)))
        })
        .timeout(Duration::from_millis(100));
    let s = slow.remote(());
    let task = s.task_ref().clone();
    let n = finishes_within(Duration::from_secs(3), move || {
        s.block_iter().take(10_000).count()
    });
    let _ = format!("task outcome: {:?}", task.block_get());
    assert!(
        n.is_some(),
        "the stream did not end within 3s of a 100ms timeout"
    );
}

// 3. blocking stream with timeout + retry: two attempts send concurrently.

#[test]
fn a_blocking_stream_retried_after_a_timeout_loses_and_repeats_nothing() {
    let rt = rt();
    let attempts = Arc::new(AtomicU64::new(0));
    let a = Arc::clone(&attempts);
    let f = rt
        .remote_stream_blocking(move |n: u32| {
            let attempt = a.fetch_add(1, Ordering::SeqCst);
            (0..n).inspect(move |&i| {
                // first attempt is slow past item 2
                if attempt == 0 && i >= 2 {
                    std::thread::sleep(Duration::from_millis(60));
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .timeout(Duration::from_millis(150))
        .max_retries(1);
    let got = within_deadline(move || {
        f.remote(20)
            .block_iter()
            .map(|r| r.block_get().map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    });
    let _ = format!("{got:?}");
    let ok: Vec<u32> = got
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(ok, (0..20).collect::<Vec<_>>(), "items lost or duplicated");
}

// 4. dropping a stream whose items were all taken (end not polled) cancels the
// tasks the producer submitted, whose refs the caller holds.

#[test]
fn dropping_a_finished_stream_spares_the_children_its_items_refer_to() {
    within_deadline(|| {
        let rt = rt();
        let rt2 = rt.clone();
        let f = rt.remote_stream(move |n: u64| {
            let slow = rt2.remote(|i: u64| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                i
            });
            futures::stream::iter(0..n).map(move |i| slow.remote(i))
        });
        let mut s = f.remote(3).block_iter();
        let items: Vec<ObjectRef<ObjectRef<u64>>> = (0..3).map(|_| s.next().unwrap()).collect();
        // wait for the producer to finish
        std::thread::sleep(Duration::from_millis(50));
        drop(s);
        let inner: Vec<_> = items.into_iter().map(|r| r.block_get().unwrap()).collect();
        let got: Vec<_> = inner
            .iter()
            .map(|r| r.block_get().map_err(|e| e.to_string()))
            .collect();
        let _ = format!("{got:?}");
        assert!(got.iter().all(|r| r.is_ok()), "{got:?}");
    });
}

#[test]
fn a_blocking_stream_cancelled_while_queued_ends_at_once() {
    let rt = Runtime::builder()
        .worker_threads(2)
        .num_cpus(1)
        .build()
        .unwrap();
    let hog = rt.remote_blocking(|_: ()| std::thread::sleep(Duration::from_secs(3)));
    let _h = hog.remote(());
    std::thread::sleep(Duration::from_millis(50));
    let f = rt.remote_stream_blocking(|n: u32| 0..n);
    let s = f.remote(3);
    let task = s.task_ref().clone();
    assert!(s.cancel());
    assert!(task.block_get().unwrap_err().is_cancelled());
    let t0 = Instant::now();
    let n = finishes_within(Duration::from_secs(1), move || s.block_iter().count());
    let _ = format!("queued cancel: ended {:?} after {:?}", n, t0.elapsed());
    assert!(
        n.is_some(),
        "a cancelled stream did not end while its task sat in the CPU queue"
    );
}

// 6. remote_split over a blocking task whose timeout passes: parts wait for the closure.

#[test]
fn split_parts_of_a_timed_out_task_fail_at_once() {
    let rt = rt();
    let f = rt
        .remote_blocking(|_: ()| {
            std::thread::sleep(Duration::from_secs(2));
            (1u8, 2u8)
        })
        .timeout(Duration::from_millis(50));
    let (a, _b) = f.remote_split(());
    let t0 = Instant::now();
    let r = a.block_get();
    let _ = format!(
        "{:?} after {:?}",
        r.as_ref().map_err(|e| e.to_string()),
        t0.elapsed()
    );
    assert!(
        t0.elapsed() < Duration::from_millis(1000),
        "part failed only after {:?}",
        t0.elapsed()
    );
}

// 7. sync actor stream cancelled while it runs: send does not fail ("or cancelled").

#[test]
fn an_actor_streaming_method_sees_its_cancel_in_send() {
    let rt = rt();
    let actor = rt.actor(());
    let sent = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&sent);
    let s = actor.call_stream(move |_: &mut (), out| {
        for i in 0..300u32 {
            if out.send(i).is_err() {
                return;
            }
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut it = s.block_iter();
    it.next().unwrap();
    it.cancel();
    let at = sent.load(Ordering::SeqCst);
    let rest = it.count();
    let _ = format!(
        "after cancel sent {} -> {}, rest={rest}",
        at,
        sent.load(Ordering::SeqCst)
    );
    assert!(
        rest < 5,
        "the method streamed {rest} more items after cancel"
    );
}

// 8. queued actor stream cancelled behind a busy call: stream ends only when actor reaches it.

#[test]
fn an_actor_stream_cancelled_while_queued_ends_at_once() {
    let rt = rt();
    let actor = rt.actor(());
    let _busy = actor.call(|_: &mut ()| std::thread::sleep(Duration::from_secs(2)));
    let s = actor.call_stream(|_: &mut (), out| {
        let _ = out.send(1u8);
    });
    s.cancel();
    let t0 = Instant::now();
    let n = finishes_within(Duration::from_secs(1), move || s.block_iter().count());
    let _ = format!("queued actor cancel ended {n:?} after {:?}", t0.elapsed());
    assert!(n.is_some());
}

// 9. consumer on a current-thread runtime, async producer.

#[test]
fn a_consumer_on_a_current_thread_runtime() {
    within_deadline(|| {
        let tokio_rt = support::user_current_thread();
        tokio_rt.block_on(async {
            let rt = Runtime::from_handle(tokio::runtime::Handle::current());
            let f = rt
                .remote_stream(|n: u32| futures::stream::iter(0..n))
                .backpressure(2);
            let mut s = f.remote(100);
            let mut sum = 0;
            while let Some(r) = s.next().await {
                sum += r.await.unwrap();
            }
            assert_eq!(sum, 4950);
            let g = rt.remote_stream_blocking(|n: u32| 0..n).backpressure(2);
            let mut s = g.remote(100);
            let mut sum = 0;
            while let Some(r) = s.next().await {
                sum += r.await.unwrap();
            }
            assert_eq!(sum, 4950);
        });
    });
}

// 10. async retry: item skipping.

#[test]
fn a_retried_async_stream_delivers_each_item_once() {
    within_deadline(|| {
        let rt = rt();
        let attempts = Arc::new(AtomicU64::new(0));
        let a = Arc::clone(&attempts);
        let f = rt
            .remote_stream(move |n: u32| {
                let attempt = a.fetch_add(1, Ordering::SeqCst);
                futures::stream::iter(0..n).inspect(move |&i| {
                    if attempt < 2 && i == 2 + attempt as u32 {
                        panic!("boom")
                    }
                })
            })
            .max_retries(2);
        let got: Vec<u32> = f
            .remote(6)
            .block_iter()
            .map(|r| r.block_get().unwrap())
            .collect();
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    });
}

#[test]
fn a_blocking_consumer_and_producer_share_one_cpu() {
    within_deadline(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .num_cpus(1)
            .build()
            .unwrap();
        let rt2 = rt.clone();
        let consumer = rt.remote_blocking(move |n: u64| {
            let f = rt2.remote_stream_blocking(|n: u64| 0..n).backpressure(1);
            f.remote(n)
                .block_iter()
                .map(|r| r.block_get().unwrap())
                .sum::<u64>()
        });
        assert_eq!(consumer.remote(1000).block_get().unwrap(), 499500);
        // An actor's bounded stream, while a blocking task holds the CPU.
        let actor = rt.actor(());
        let s = actor.call_stream_bounded(1, |_: &mut (), out| {
            for i in 0..100u64 {
                if out.send(i).is_err() {
                    return;
                }
            }
        });
        let busy = rt.remote_blocking(|_: ()| 0u64);
        assert_eq!(busy.remote(()).block_get().unwrap(), 0);
        assert_eq!(s.block_iter().count(), 100);
    });
}

#[test]
fn an_err_mid_stream_ends_it_with_task_failed_and_can_be_retried() {
    within_deadline(|| {
        let rt = rt();
        // Blocking: two numbers, then an error.
        let parse = rt.try_remote_stream_blocking(|text: String| {
            text.split(',')
                .map(|w| w.parse::<u32>())
                .collect::<Vec<_>>()
        });
        let refs: Vec<_> = parse.remote("1,2,x,4".to_owned()).block_iter().collect();
        assert_eq!(refs.len(), 3);
        assert_eq!(values(refs[..2].to_vec()), [1, 2]);
        let err = refs[2].block_get().unwrap_err();
        assert!(err.is_failed(), "{err}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "the parse error is the source"
        );
        // Async, retried on error: the first attempt fails at item 3, the
        // retry skips the two items delivered.
        let attempts = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&attempts);
        let flaky = rt
            .try_remote_stream(move |n: u32| {
                let attempt = counter.fetch_add(1, Ordering::SeqCst);
                futures::stream::iter(0..n).map(move |i| match (attempt, i) {
                    (0, 2) => "nope".parse::<u32>(),
                    _ => Ok(i),
                })
            })
            .retry_on_error(true)
            .max_retries(1);
        assert_eq!(values(flaky.remote(5).block_iter()), [0, 1, 2, 3, 4]);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    });
}
