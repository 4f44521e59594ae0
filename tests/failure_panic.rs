//! Panics are values: they fail one ref, name the task, and leave the rest alone.

mod support;

use support::{runtime, within_deadline};
use taskref::Error;

#[test]
fn a_thousand_tasks_succeed_around_panicking_ones() {
    within_deadline(|| {
        let rt = runtime(2);
        let f = rt.remote(|i: u32| async move {
            if i % 100 == 7 {
                panic!("task {i} failed");
            }
            i
        });
        let g = rt.remote_blocking(|i: u32| {
            if i % 100 == 9 {
                panic!("blocking task {i} failed");
            }
            i
        });
        let refs: Vec<_> = (0..1000).map(|i| f.remote(i)).collect();
        let blocking: Vec<_> = (0..200).map(|i| g.remote(i)).collect();
        let outcomes = taskref::block_get_all_settled(refs).unwrap();
        let blocking_outcomes = taskref::block_get_all_settled(blocking).unwrap();
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Ok(v) => assert_eq!(*v as usize, i),
                Err(Error::TaskPanicked { message, .. }) => {
                    assert_eq!(i % 100, 7);
                    assert_eq!(message, &format!("task {i} failed"));
                }
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 10);
        assert_eq!(blocking_outcomes.iter().filter(|o| o.is_err()).count(), 2);
        // The runtime still serves new work.
        assert_eq!(f.remote(1).block_get().unwrap(), 1);
    });
}

#[test]
fn the_error_names_the_task_and_its_call_site() {
    within_deadline(|| {
        let rt = runtime(1);
        let named = rt.remote(|_: ()| async { panic!("boom") }).name("exploder");
        let err = named.remote(()).block_get().unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("task `exploder` ("), "{text}");
        assert!(text.contains("failure_panic.rs:"), "{text}");
        assert!(text.ends_with("panicked with message \"boom\""), "{text}");

        let line = line!() + 1;
        let unnamed = rt.spawn(async { panic!("{}", String::from("formatted")) });
        let err = unnamed.block_get().unwrap_err();
        let task = err.task().unwrap();
        assert_eq!(task.name(), None);
        assert_eq!(
            task.location().line(),
            line,
            "default name is the submitting line"
        );
        assert!(err.to_string().contains("formatted"));
    });
}

#[test]
fn non_string_panic_payloads_are_reported() {
    within_deadline(|| {
        let rt = runtime(1);
        let r = rt.spawn_blocking(|| std::panic::panic_any(42_u32));
        match r.block_get() {
            Err(Error::TaskPanicked { message, .. }) => {
                assert_eq!(message, "<non-string panic payload>")
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn a_panic_while_building_the_future_is_caught() {
    within_deadline(|| {
        let rt = runtime(1);
        let f = rt.remote(|x: u32| {
            assert!(x > 0, "x must be positive");
            async move { x }
        });
        assert!(f.remote(0).block_get().unwrap_err().is_panic());
        assert_eq!(f.remote(1).block_get().unwrap(), 1);
    });
}

#[test]
fn errors_are_clone_send_sync_and_static() {
    fn assert_traits<T: Clone + Send + Sync + 'static + std::error::Error>() {}
    assert_traits::<Error>();
}
