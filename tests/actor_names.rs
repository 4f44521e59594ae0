//! Named actors: the runtime's registry (Ray's `name=` and `ray.get_actor`):
//! found from anywhere, unique, forgotten when the actor dies or stops, the
//! errors of a wrong lookup, and `get_if_exists` under a race.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

use support::{runtime, within_deadline};
use taskref::Error;

#[test]
fn a_named_actor_is_found_from_another_thread_and_shares_its_state() {
    within_deadline(|| {
        let rt = runtime(2);
        let counter = rt.actor_builder().name("counter").spawn(|| 0u64).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let rt = rt.clone();
                std::thread::spawn(move || {
                    let found = rt.get_actor::<u64>("counter").unwrap();
                    assert_eq!(found.name(), "counter");
                    let calls: Vec<_> =
                        (0..50).map(|_| found.call(|n: &mut u64| *n += 1)).collect();
                    taskref::block_get_all(calls).unwrap();
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.call(|n: &mut u64| *n).block_get().unwrap(), 200);
        assert_eq!(rt.actor_names(), ["counter"]);
    });
}

#[test]
fn names_are_unique_among_live_actors_and_per_runtime() {
    within_deadline(|| {
        let rt = runtime(2);
        let _first = rt.actor_builder().name("db").spawn(|| 1u8).unwrap();
        let err = rt.actor_builder().name("db").spawn(|| 2u8).unwrap_err();
        assert!(err.is_invalid_argument(), "{err}");
        assert!(err.to_string().contains("`db` is taken"), "{err}");
        assert!(err.to_string().contains("get_if_exists"), "{err}");
        // Another runtime has names of its own.
        let other = runtime(1);
        let there = other.actor_builder().name("db").spawn(|| 3u8).unwrap();
        assert_eq!(there.call(|n: &mut u8| *n).block_get().unwrap(), 3);
        assert!(rt.get_actor::<u8>("db").is_ok());
    });
}

#[test]
fn a_wrong_lookup_says_what_is_wrong() {
    within_deadline(|| {
        let rt = runtime(2);
        let _log = rt
            .actor_builder()
            .name("log")
            .spawn(Vec::<String>::new)
            .unwrap();
        let unknown = rt.get_actor::<Vec<String>>("nope").unwrap_err();
        assert!(unknown.is_actor_not_found(), "{unknown}");
        assert!(unknown.to_string().contains("`nope`"), "{unknown}");
        assert!(
            unknown.to_string().contains(file!()),
            "names the call site: {unknown}"
        );
        let wrong_type = rt.get_actor::<Vec<u8>>("log").unwrap_err();
        assert!(wrong_type.is_invalid_argument(), "{wrong_type}");
        let message = wrong_type.to_string();
        assert!(message.contains("ActorHandle<Vec<String>>"), "{message}");
        assert!(message.contains("ActorHandle<Vec<u8>>"), "{message}");
        let wrong_kind = rt.get_async_actor::<Vec<String>>("log").unwrap_err();
        assert!(
            wrong_kind.to_string().contains("AsyncActorHandle"),
            "{wrong_kind}"
        );
        // And `get_if_exists` without a name is refused.
        let nameless = rt.actor_builder().get_if_exists().spawn(|| ()).unwrap_err();
        assert!(nameless.is_invalid_argument(), "{nameless}");
    });
}

#[test]
fn a_dead_actor_is_forgotten_and_says_how_it_died_and_its_name_is_free_again() {
    within_deadline(|| {
        let rt = runtime(2);
        let cache = rt.actor_builder().name("cache").spawn(|| 0u8).unwrap();
        cache.kill();
        let err = rt.get_actor::<u8>("cache").unwrap_err();
        assert!(err.is_actor_not_found(), "{err}");
        assert!(err.to_string().contains("it died: it was killed"), "{err}");
        assert!(rt.actor_names().is_empty());
        // The name can be taken again, by a new actor.
        let again = rt.actor_builder().name("cache").spawn(|| 9u8).unwrap();
        assert_eq!(
            rt.get_actor::<u8>("cache")
                .unwrap()
                .call(|n: &mut u8| *n)
                .block_get()
                .unwrap(),
            9
        );
        drop(again);
        // A constructor that panics, out of restarts: dead from the start.
        let broken = rt
            .actor_builder()
            .name("broken")
            .spawn(|| -> u8 { panic!("no config") })
            .unwrap();
        let died = broken.call(|n: &mut u8| *n).block_get().unwrap_err();
        assert!(died.is_actor_died());
        let err = rt.get_actor::<u8>("broken").unwrap_err();
        assert!(err.to_string().contains("no config"), "{err}");
    });
}

#[test]
fn an_actor_whose_handles_are_all_dropped_stops_and_frees_its_name() {
    within_deadline(|| {
        let rt = runtime(2);
        let dropped = support::DropCounter::default();
        let token = dropped.token();
        let actor = rt
            .actor_builder()
            .name("short")
            .spawn(move || token.clone())
            .unwrap();
        drop(actor);
        support::eventually("the state is dropped", || dropped.drops() >= 1);
        let err = rt.get_actor::<support::Tracked>("short").unwrap_err();
        assert!(err.is_actor_not_found(), "{err}");
        assert!(rt.actor_builder().name("short").spawn(|| 0u8).is_ok());
    });
}

#[test]
fn two_creators_racing_on_get_if_exists_make_one_actor() {
    within_deadline(|| {
        for round in 0..50 {
            let rt = runtime(2);
            let built = Arc::new(AtomicU32::new(0));
            let start = Arc::new(Barrier::new(4));
            let creators: Vec<_> = (0..4)
                .map(|_| {
                    let (rt, built, start) = (rt.clone(), Arc::clone(&built), Arc::clone(&start));
                    std::thread::spawn(move || {
                        start.wait();
                        rt.actor_builder()
                            .name("singleton")
                            .get_if_exists()
                            .spawn(move || built.fetch_add(1, Ordering::SeqCst))
                            .unwrap()
                    })
                })
                .collect();
            let handles: Vec<_> = creators.into_iter().map(|c| c.join().unwrap()).collect();
            // Each handle reaches the one actor: its state is the 0 the
            // only constructor that ran returned.
            for handle in &handles {
                assert_eq!(
                    handle.call(|n: &mut u32| *n).block_get().unwrap(),
                    0,
                    "round {round}"
                );
            }
            assert_eq!(
                built.load(Ordering::SeqCst),
                1,
                "round {round}: one constructor ran"
            );
        }
    });
}

#[test]
fn get_if_exists_with_another_type_is_refused() {
    within_deadline(|| {
        let rt = runtime(2);
        let _keep = rt.actor_builder().name("y").spawn(|| 0u8).unwrap();
        let err = rt
            .actor_builder()
            .name("y")
            .get_if_exists()
            .spawn(|| 0u16)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    });
}

#[test]
fn async_actors_are_named_too() {
    within_deadline(|| {
        let rt = runtime(2);
        let hits = rt
            .actor_builder()
            .name("hits")
            .spawn_async(|| AtomicU32::new(0))
            .unwrap();
        let found = rt.get_async_actor::<AtomicU32>("hits").unwrap();
        let n = found.call(|h: Arc<AtomicU32>| async move { h.fetch_add(1, Ordering::SeqCst) + 1 });
        assert_eq!(n.block_get().unwrap(), 1);
        assert!(
            rt.get_actor::<AtomicU32>("hits").is_err(),
            "not a sync actor"
        );
        hits.kill();
        let err = rt.get_async_actor::<AtomicU32>("hits").unwrap_err();
        assert!(err.to_string().contains("killed"), "{err}");
    });
}

#[test]
fn lookups_racing_with_the_last_handle_going_never_hang() {
    // A lookup that upgraded the registry's weak ref under its lock and
    // then dropped it there, as the last handle, would wait on itself.
    within_deadline(|| {
        let rt = runtime(2);
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let rt = rt.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        let made = rt.actor_builder().name("x").get_if_exists().spawn(|| 0u8);
                        let found = rt.get_actor::<u8>("x");
                        drop(made);
                        let _ = rt.actor_names();
                        drop(found);
                        if (i + t) % 7 == 0 {
                            let _ = rt.actor_builder().name("x").spawn(|| 1u8);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    });
}

#[test]
fn a_dead_actor_is_forgotten_once_its_last_handle_goes() {
    within_deadline(|| {
        let rt = runtime(2);
        let actor = rt.actor_builder().name("t0").spawn(|| 0u8).unwrap();
        actor.kill();
        assert!(rt
            .get_actor::<u8>("t0")
            .unwrap_err()
            .to_string()
            .contains("killed"));
        drop(actor);
        let err = rt.get_actor::<u8>("t0").unwrap_err();
        assert!(
            err.to_string()
                .contains("no actor of this runtime has this name"),
            "{err}"
        );
    });
}
