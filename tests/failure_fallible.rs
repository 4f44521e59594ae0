//! Fallible tasks: Err(e) becomes Error::TaskFailed with e as source; the chain
//! of dependents leads back to it.

mod support;

use std::error::Error as _;
use std::fmt;

use support::{runtime, within_deadline};
use taskref::Error;

#[derive(Debug, Clone, PartialEq)]
struct Rejected(u32);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rejected {}", self.0)
    }
}

impl std::error::Error for Rejected {}

#[test]
fn err_becomes_task_failed_with_the_error_as_source() {
    within_deadline(|| {
        let rt = runtime(2);
        let check = rt
            .try_remote(|x: u32| async move {
                if x % 2 == 0 {
                    Ok(x)
                } else {
                    Err(Rejected(x))
                }
            })
            .name("check");
        assert_eq!(check.remote(4).block_get().unwrap(), 4);
        let err = check.remote(3).block_get().unwrap_err();
        assert!(err.is_failed());
        assert_eq!(err.attempts(), 1);
        let text = err.to_string();
        assert!(text.starts_with("task `check` ("), "{text}");
        assert!(text.ends_with("failed: rejected 3"), "{text}");
        let source = err.source().unwrap().downcast_ref::<Rejected>().unwrap();
        assert_eq!(source, &Rejected(3));
    });
}

#[test]
fn blocking_fallible_tasks_work_the_same() {
    within_deadline(|| {
        let rt = runtime(2);
        let check = rt.try_remote_blocking(|x: u32| if x > 1 { Ok(x) } else { Err(Rejected(x)) });
        assert_eq!(check.remote(2).block_get().unwrap(), 2);
        let err = check.remote(1).block_get().unwrap_err();
        match &err {
            Error::TaskFailed {
                source, attempts, ..
            } => {
                assert_eq!(source.to_string(), "rejected 1");
                assert_eq!(*attempts, 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn dependents_fail_and_their_chain_leads_back_to_the_original_error() {
    within_deadline(|| {
        let rt = runtime(2);
        let fail = rt
            .try_remote(|x: u32| async move { Err::<u32, _>(Rejected(x)) })
            .name("root");
        let step = rt.remote(|x: u32| async move { x + 1 }).name("step");
        let mut r = fail.remote(9);
        for _ in 0..100 {
            r = step.remote(r);
        }
        let err = r.block_get().unwrap_err();
        assert!(err.is_dependency_failed());
        let cause = err.source().unwrap();
        assert!(cause.to_string().contains("`root`"), "{cause}");
        let original = cause.source().unwrap().downcast_ref::<Rejected>().unwrap();
        assert_eq!(original, &Rejected(9));
        assert!(err.root_cause().is_failed());
    });
}

#[test]
fn get_all_settled_keeps_errors_next_to_values() {
    within_deadline(|| {
        let rt = runtime(2);
        let check = rt.try_remote(|x: u32| async move {
            if x == 1 {
                Err(Rejected(x))
            } else {
                Ok(x)
            }
        });
        let outcomes = taskref::block_get_all_settled((0..3).map(|x| check.remote(x))).unwrap();
        assert_eq!(*outcomes[0].as_ref().unwrap(), 0);
        assert!(outcomes[1].as_ref().unwrap_err().is_failed());
        assert_eq!(*outcomes[2].as_ref().unwrap(), 2);
    });
}
