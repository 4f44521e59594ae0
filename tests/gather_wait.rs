//! wait: ray.wait semantics and bad input.

mod support;

use std::time::Duration;

use taskref::{Error, ObjectRef, Runtime};

fn ids<T>(refs: &[ObjectRef<T>]) -> Vec<taskref::ObjectId> {
    refs.iter().map(ObjectRef::id).collect()
}

#[tokio::test(start_paused = true)]
async fn wait_returns_once_num_returns_are_ready_in_input_order() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let sleepy = rt.remote(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    let refs: Vec<_> = [40, 10, 1000, 20]
        .iter()
        .map(|&ms| sleepy.remote(ms))
        .collect();
    let (ready, rest) = taskref::wait(&refs, 2, None).await.unwrap();
    // 10 and 20 finish first; the ready list keeps input order.
    assert_eq!(ids(&ready), ids(&[refs[1].clone(), refs[3].clone()]));
    assert_eq!(ids(&rest), ids(&[refs[0].clone(), refs[2].clone()]));
    assert!(!refs[2].is_ready());
}

#[tokio::test(start_paused = true)]
async fn wait_caps_the_ready_list_at_num_returns() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let refs: Vec<_> = (0..5).map(|i| rt.put(i)).collect();
    let (ready, rest) = taskref::wait(&refs, 2, None).await.unwrap();
    assert_eq!(ids(&ready), ids(&refs[..2]));
    assert_eq!(
        ids(&rest),
        ids(&refs[2..]),
        "ready refs beyond the cap go to the rest"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_times_out_with_what_is_ready() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let refs = vec![
        rt.spawn(std::future::pending::<u8>()),
        rt.put(1),
        rt.spawn(std::future::pending::<u8>()),
    ];
    let (ready, rest) = taskref::wait(&refs, 3, Some(Duration::from_millis(50)))
        .await
        .unwrap();
    assert_eq!(ids(&ready), ids(&refs[1..2]));
    assert_eq!(rest.len(), 2);
    assert!(!refs[0].is_ready(), "a timeout leaves tasks running");
}

#[tokio::test]
async fn zero_timeout_and_zero_returns_never_wait() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let refs = vec![rt.spawn(std::future::pending::<u8>()), rt.put(1)];
    let (ready, rest) = taskref::wait(&refs, 2, Some(Duration::ZERO)).await.unwrap();
    assert_eq!((ready.len(), rest.len()), (1, 1));
    let (ready, rest) = taskref::wait(&refs, 0, None).await.unwrap();
    assert!(ready.is_empty());
    assert_eq!(ids(&rest), ids(&refs));
}

#[tokio::test]
async fn failed_tasks_count_as_ready() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let refs = vec![
        rt.spawn(std::future::pending::<u8>()),
        rt.spawn(async { panic!("x") }),
    ];
    let (ready, _) = taskref::wait(&refs, 1, None).await.unwrap();
    assert!(ready[0].get().await.unwrap_err().is_panic());
}

#[tokio::test]
async fn bad_arguments_are_errors_not_hangs() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let refs = vec![rt.spawn(std::future::pending::<u8>())];
    let err = taskref::wait(&refs, 2, None).await.unwrap_err();
    match &err {
        Error::InvalidArgument {
            message, location, ..
        } => {
            assert!(message.contains("num_returns = 2"), "{message}");
            assert!(
                location.file().ends_with("gather_wait.rs"),
                "names the caller: {location}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let twice = vec![refs[0].clone(), refs[0].clone()];
    let err = taskref::wait(&twice, 1, None).await.unwrap_err();
    assert!(err.to_string().contains("more than once"), "{err}");
    assert!(taskref::block_wait(&refs, 5, None).is_err());
}

#[test]
fn block_wait_drains_in_completion_order() {
    support::within_deadline(|| {
        let rt = support::runtime(2);
        let sleepy = rt.remote(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        });
        let mut rest: Vec<_> = [300, 10, 150].iter().map(|&ms| sleepy.remote(ms)).collect();
        let mut order = Vec::new();
        while !rest.is_empty() {
            let (ready, not_ready) = taskref::block_wait(&rest, 1, None).unwrap();
            order.push(ready[0].block_get().unwrap());
            rest = not_ready;
        }
        assert_eq!(order, [10, 150, 300]);
    });
}

#[test]
fn block_wait_timeout_needs_no_tokio_timer() {
    support::within_deadline(|| {
        let rt = support::runtime(1);
        let refs = vec![rt.spawn(std::future::pending::<u8>())];
        let start = std::time::Instant::now();
        let (ready, rest) = taskref::block_wait(&refs, 1, Some(Duration::from_millis(30))).unwrap();
        assert!(ready.is_empty() && rest.len() == 1);
        assert!(start.elapsed() >= Duration::from_millis(30));
    });
}

#[tokio::test(start_paused = true)]
async fn wait_set_drains_in_completion_order() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let sleepy = rt.remote(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    let mut set: taskref::WaitSet<u64> = [30, 10, 20].iter().map(|&ms| sleepy.remote(ms)).collect();
    let mut order = Vec::new();
    while !set.is_empty() {
        for r in set.wait(1, None).await.unwrap() {
            order.push(r.await.unwrap());
        }
    }
    assert_eq!(order, [10, 20, 30]);
    assert!(set.wait(1, None).await.is_err(), "num_returns > len");
    assert!(set.wait(0, None).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn wait_set_timeout_returns_what_is_ready() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let mut set = taskref::WaitSet::new([rt.spawn(std::future::pending::<u8>()), rt.put(1)]);
    let ready = set.wait(2, Some(Duration::from_millis(10))).await.unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(set.len(), 1);
    let none = set.wait(1, Some(Duration::ZERO)).await.unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_dropped_wait_set_wait_loses_nothing() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let mut set = taskref::WaitSet::new([rt.put(1), rt.spawn(std::future::pending::<u8>())]);
    {
        // Collects the ready ref, then waits for a second that never comes.
        let wait = set.wait(2, None);
        let timed_out = tokio::time::timeout(Duration::from_millis(10), wait).await;
        assert!(timed_out.is_err());
    }
    assert_eq!(set.len(), 2, "the collected ref went back into the set");
    assert_eq!(set.wait(1, None).await.unwrap().len(), 1);
}

#[test]
fn wait_set_block_wait() {
    support::within_deadline(|| {
        let rt = support::runtime(1);
        let mut set = taskref::WaitSet::new([rt.spawn(std::future::pending::<u8>()), rt.put(7)]);
        let ready = set.block_wait(1, None).unwrap();
        assert_eq!(ready[0].block_get().unwrap(), 7);
        let nothing = set.block_wait(1, Some(Duration::from_millis(10))).unwrap();
        assert!(nothing.is_empty());
        assert_eq!(set.len(), 1);
    });
}

#[tokio::test(start_paused = true)]
async fn by_value_wait_moves_the_refs_and_keeps_input_order() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let sleepy = rt.remote(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    let refs: Vec<_> = [40, 10, 1000, 20, 30]
        .iter()
        .map(|&ms| sleepy.remote(ms))
        .collect();
    let expected = ids(&refs);
    let (ready, rest) = taskref::wait(refs, 2, None).await.unwrap();
    assert_eq!(ids(&ready), [expected[1], expected[3]]);
    assert_eq!(ids(&rest), [expected[0], expected[2], expected[4]]);
    // Every ready one already: the first `num_returns` in input order.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (ready, rest) = taskref::wait(rest, 1, None).await.unwrap();
    assert_eq!(ids(&ready), [expected[0]]);
    assert_eq!(ids(&rest), [expected[2], expected[4]]);
    let (ready, rest) = taskref::wait(rest, 0, None).await.unwrap();
    assert!(ready.is_empty());
    assert_eq!(rest.len(), 2);
    // On timeout, whatever is ready; the rest keeps its order.
    let (ready, rest) = taskref::wait(rest, 2, Some(Duration::from_millis(5)))
        .await
        .unwrap();
    assert_eq!(ids(&ready), [expected[4]]);
    assert_eq!(ids(&rest), [expected[2]]);
}

#[tokio::test]
async fn by_value_wait_rejects_bad_arguments() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let a = rt.put(1u8);
    let err = taskref::wait(vec![a.clone(), a.clone()], 1, None)
        .await
        .unwrap_err();
    assert!(
        err.is_invalid_argument() && err.to_string().contains("more than once"),
        "{err}"
    );
    let err = taskref::wait(vec![a.clone()], 2, None).await.unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
    // A long list that must wait is always checked.
    let mut long: Vec<_> = (0..100)
        .map(|_| rt.spawn(std::future::pending::<u8>()))
        .collect();
    long.push(long[3].clone());
    let err = taskref::wait(long, 1, Some(Duration::from_millis(1)))
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
}

#[test]
fn the_ray_drain_loop_by_value_takes_every_ref_once() {
    support::within_deadline(|| {
        let rt = support::runtime(2);
        let sleepy = rt.remote(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        });
        let mut rest: Vec<_> = [300, 10, 150].iter().map(|&ms| sleepy.remote(ms)).collect();
        rest.extend((0..200).map(|i| rt.put(1000 + i)));
        let mut order = Vec::new();
        while !rest.is_empty() {
            let (ready, not_ready) = taskref::block_wait(rest, 1, None).unwrap();
            assert_eq!(ready.len(), 1);
            order.push(ready[0].block_get().unwrap());
            rest = not_ready;
        }
        assert_eq!(order.len(), 203);
        // The ready puts first (in input order), then the sleepers as they end.
        assert_eq!(order[..200], (1000..1200).collect::<Vec<u64>>()[..]);
        assert_eq!(order[200..], [10, 150, 300]);
    });
}

#[tokio::test]
async fn every_slice_like_holder_of_refs_is_accepted() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let mut refs = vec![rt.put(1u8), rt.put(2)];
    let (ready, rest) = taskref::wait(&mut refs, 1, None).await.unwrap();
    assert_eq!((ready.len(), rest.len()), (1, 1));
    let boxed: Box<[ObjectRef<u8>]> = refs.clone().into_boxed_slice();
    let (ready, _) = taskref::wait(&boxed, 2, None).await.unwrap();
    assert_eq!(ready.len(), 2);
    let array = [refs[0].clone()];
    assert_eq!(taskref::wait(&array, 1, None).await.unwrap().0.len(), 1);
    assert_eq!(taskref::wait(&refs[1..], 1, None).await.unwrap().0.len(), 1);
}

#[tokio::test]
async fn a_zero_timeout_polls_without_waiting_or_recording() {
    let rt = Runtime::from_handle(tokio::runtime::Handle::current());
    let pending = rt.spawn(std::future::pending::<u8>());
    let refs = vec![pending, rt.put(2)];
    let (ready, rest) = taskref::wait(refs, 2, Some(Duration::ZERO)).await.unwrap();
    assert_eq!((ready.len(), rest.len()), (1, 1));
    assert!(rt.timeline().waits().is_empty());
}
