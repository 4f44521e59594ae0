//! Several returns: a task whose value is a tuple hands back one ref per
//! element (Ray's `num_returns=n`), so that each consumer depends on its part
//! only.
//
// The task runs as usual; a small async task waits for its value and
// completes one slot per element, moving each element out (nothing is
// cloned). If the task fails, each element's ref fails with
// `DependencyFailed`, whose cause is the task's error.

use std::panic::Location;
use std::sync::Arc;

use crate::context::RuntimeContext;
use crate::object_ref::ObjectRef;
use crate::runtime::Runtime;
use crate::task::{Completer, TaskOptions};

/// A task value that [`RemoteFn::remote_split`](crate::RemoteFn::remote_split)
/// can hand back as one ref per element: tuples of two to four elements.
///
/// Implemented by the crate (and sealed); you never implement it.
///
/// Each element's ref is a task of its own in [`Stats`](crate::Stats) and
/// the snapshot (one that waits for the tuple's task).
pub trait Split: sealed::Sealed + Send + Sized + 'static {
    /// One ref per element: `(ObjectRef<A>, ObjectRef<B>)` for `(A, B)`.
    type Refs;

    /// Splits the value of `whole` into one ref per element.
    #[doc(hidden)]
    fn split(
        whole: ObjectRef<Self>,
        runtime: &Runtime,
        location: &'static Location<'static>,
    ) -> Self::Refs;
}

/// The ref of one element, and its completer (`None` if it failed at once:
/// the runtime is shut down).
fn part<T: Send + 'static>(
    context: &Arc<RuntimeContext>,
    location: &'static Location<'static>,
) -> (ObjectRef<T>, Option<Completer<T>>) {
    let options = TaskOptions {
        num_cpus: Some(0.0),
        // Its task is the whole's: judged there.
        unjudged: true,
        ..TaskOptions::default()
    };
    let (object, admitted) = crate::task::new_task::<T>(context, &options, location, 0.0);
    let completer = admitted.map(|admitted| {
        crate::task::register(context, &object, None);
        admitted.completer
    });
    (object, completer)
}

/// Completes `part` with `value`, or with the whole's failure.
fn finish<T: Send + 'static>(part: Option<Completer<T>>, value: Result<T, &crate::Error>) {
    if let Some(part) = part {
        match value {
            Ok(value) => part.complete(Ok(value)),
            Err(upstream) => {
                let err = part.upstream_failed(upstream);
                part.complete(Err(err));
            }
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl<A, B> Sealed for (A, B) {}
    impl<A, B, C> Sealed for (A, B, C) {}
    impl<A, B, C, D> Sealed for (A, B, C, D) {}
}

macro_rules! impl_split {
    ($($elem:ident $object:ident $part:ident $idx:tt),+) => {
        impl<$($elem: Send + 'static),+> Split for ($($elem,)+) {
            type Refs = ($(ObjectRef<$elem>,)+);

            fn split(
                whole: ObjectRef<Self>,
                runtime: &Runtime,
                location: &'static Location<'static>,
            ) -> Self::Refs {
                let context = runtime.context();
                $(let ($object, $part) = part::<$elem>(context, location);)+
                drop(context.spawn(async move {
                    match whole.into_sole_outcome().await {
                        Ok(value) => {
                            $(finish($part, Ok(value.$idx));)+
                        }
                        Err(upstream) => {
                            $(finish::<$elem>($part, Err(&upstream));)+
                        }
                    }
                }));
                ($($object,)+)
            }
        }
    };
}

impl_split!(A ra a 0, B rb b 1);
impl_split!(A ra a 0, B rb b 1, C rc c 2);
impl_split!(A ra a 0, B rb b 1, C rc c 2, D rd d 3);
