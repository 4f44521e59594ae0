//! Send/Sync of every public type and future, pinned so they cannot regress.
//! (The negatives are `compile_fail` doc tests on the types themselves.)

use std::future::IntoFuture;

use taskref::observe::{AntiPatternReport, TaskRecord, WaitRecord};
use taskref::*;

fn send<T: Send>(_: &T) {}
fn sync<T: Sync>(_: &T) {}
fn send_sync<T: Send + Sync>(_: &T) {}

#[test]
fn public_types_and_futures_are_send_and_sync() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    send_sync(&rt);
    send_sync(&Runtime::builder());
    let r: ObjectRef<u64> = rt.put(1);
    send_sync(&r);
    send_sync(&r.id());
    send_sync(r.task());
    let cancelled = rt.spawn(std::future::pending::<()>());
    cancelled.cancel();
    let err: Error = cancelled.block_get().unwrap_err();
    send_sync(&err);
    send_sync(&rt.remote(|x: u64| async move { x }));
    send_sync(&rt.remote_blocking(|x: u64| x));
    send_sync(&rt.try_remote(|x: u64| async move { Ok::<_, std::io::Error>(x) }));
    send_sync(&rt.try_remote_blocking(|x: u64| Ok::<_, std::io::Error>(x)));
    send_sync(&rt.stats());
    let timeline = rt.timeline();
    send_sync(&timeline);
    send_sync(&timeline.tasks().to_vec() as &Vec<TaskRecord>);
    send_sync(&timeline.waits().to_vec() as &Vec<WaitRecord>);
    send_sync(&AntiPatterns::Warn);
    let _: Option<&AntiPatternReport> = None;
    let mut set = WaitSet::new(vec![r.clone()]);
    send_sync(&set);

    send(&r.get());
    send(&r.get_timeout(std::time::Duration::ZERO));
    send(&r.clone().into_future());
    send(&get_all(vec![r.clone()]));
    send(&get_all_settled(vec![r.clone()]));
    let refs = vec![r.clone()];
    send(&wait(&refs, 1, None));
    send(&set.wait(1, None));
    send(&as_completed(vec![r.clone()]));
    sync(&as_completed(vec![r.clone()]));
    let f = rt.remote(|x: u64| async move { x });
    send(&map_unordered(0..3u64, 2, |x| f.remote(x)));
}

#[test]
fn current_task_is_send_and_sync() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let current = rt
        .spawn(async {
            let me = current_task().unwrap();
            send_sync(&me);
            me.task().id()
        })
        .block_get()
        .unwrap();
    assert!(current.as_u64() > 0);
}

#[test]
fn futures_can_be_spawned_on_tokio() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let r = rt.put(5u64);
    let refs = vec![r.clone()];
    let handle = rt.handle().spawn(async move {
        let a = r.get().await.unwrap();
        let b = get_all(refs.clone()).await.unwrap()[0];
        let (ready, _) = wait(&refs, 1, None).await.unwrap();
        a + b + ready.len() as u64
    });
    assert_eq!(rt.handle().block_on(handle).unwrap(), 11);
}

#[test]
fn streams_snapshots_and_their_parts_have_the_expected_auto_traits() {
    fn send_sync_unpin<T: Send + Sync + Unpin>() {}
    fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
    send_sync_unpin::<taskref::RefStream<u8>>();
    send_sync_unpin::<taskref::Tasks>();
    send_sync_unpin::<taskref::TaskSnapshot>();
    fn send<T: Send>() {}
    send::<taskref::BlockRefStream<u8>>();
    send::<taskref::ItemSender<u8>>();
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    send_sync_clone(&rt.remote_stream(|n: u32| futures::stream::iter(0..n)));
    send_sync_clone(&rt.remote_stream_blocking(|n: u32| 0..n));
}
