//! Arguments of remote functions: each may be a value or a ref to one.
//
// `f.remote(x)` accepts, for a parameter of type `A`, either an `A` or an
// `ObjectRef<A>` (or `&ObjectRef<A>`). A ref is resolved by the runtime: the task
// starts once every ref argument is ready, and a failed ref fails the task
// without running it. Several parameters are passed as a tuple whose elements are
// each a value or a ref.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use crate::error::Error;
use crate::identity::TaskInfo;
use crate::waits::Edge;
use crate::ObjectRef;

/// An argument's value, type-erased: the cluster path encodes it with the
/// function's own encoder, which knows the parameter's type.
pub(crate) type AnyValue = Box<dyn Any + Send>;

/// A local ref's value, once its task finishes.
pub(crate) type LaterValue = Pin<Box<dyn Future<Output = Result<AnyValue, Error>> + Send>>;

/// One argument on its way to a Ray cluster.
// `pub` but unreachable, as `Submission`: it appears in `Arg`'s hidden method.
#[allow(unreachable_pub, missing_debug_implementations)]
pub enum WireArg {
    /// A value: encoded and sent with the call.
    Value(AnyValue),
    /// A ref to another cluster task's value: goes to Ray as a ref, resolved
    /// on the worker, never through the driver.
    Remote {
        /// The upstream task.
        task: TaskInfo,
        /// Keeps the upstream's slot (and so its value on the cluster) alive
        /// until the call is submitted.
        keep: AnyValue,
        /// The value instead of the ref, when the cluster does not hold the
        /// upstream (yet): its own submission is still waiting for local
        /// arguments.
        by_value: Box<dyn FnOnce() -> LaterValue + Send>,
    },
    /// A ref to a value in this process: sent by value once it exists.
    Local(LaterValue),
}

/// The refs among a call's arguments that are not ready yet: what the task
/// waits on before it can start (see `waits.rs`).
// `pub` but unreachable, as `WireArg`: it appears in `Arg`'s hidden method.
#[allow(unreachable_pub, missing_debug_implementations)]
#[derive(Default)]
pub struct PendingArgs {
    pub(crate) edges: Vec<Edge>,
}

impl PendingArgs {
    /// Boxed if there are any: the common case, none, then costs a call's
    /// closure one word instead of three.
    pub(crate) fn boxed(self) -> Option<Box<PendingArgs>> {
        (!self.edges.is_empty()).then(|| Box::new(self))
    }

    /// The refs of `args` not ready yet.
    pub(crate) fn of<L>(args: &impl IntoArgs<L>) -> PendingArgs {
        let mut pending = PendingArgs::default();
        args.pending(&mut pending);
        pending
    }

    /// The ref `arg`, if it is one not ready yet.
    pub(crate) fn of_arg<A>(arg: &impl Arg<A>) -> PendingArgs {
        let mut pending = PendingArgs::default();
        arg.pending(&mut pending);
        pending
    }
}

/// A value usable as an argument of type `T`: `T` itself, `ObjectRef<T>` or
/// `&ObjectRef<T>`.
///
/// Implemented by the crate for exactly those types; you never implement it.
/// Passing a ref instead of the value is Ray's `g.remote(f.remote(1))`: the
/// consumer starts once the producer's value exists, and the value never makes a
/// round trip through the caller.
///
/// # Examples
///
/// ```
/// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
/// let double = rt.remote(|x: u64| async move { 2 * x });
/// let from_value = double.remote(4);
/// let from_ref = double.remote(rt.put(4));
/// let from_borrowed_ref = double.remote(&from_value);
/// assert_eq!(taskref::block_get_all([from_value, from_ref]).unwrap(), [8, 8]);
/// assert_eq!(from_borrowed_ref.block_get().unwrap(), 16);
/// ```
pub trait Arg<T>: Send {
    /// Whether the argument is available without waiting.
    #[doc(hidden)]
    fn is_ready(&self) -> bool;

    /// Waits for the argument. The error is the upstream task's.
    #[doc(hidden)]
    fn resolve(self) -> impl Future<Output = Result<T, Error>> + Send + 'static;

    /// The argument for a call on a Ray cluster.
    #[doc(hidden)]
    fn into_wire(self) -> WireArg;

    /// Adds the argument's task to `into` if it is a ref not ready yet.
    #[doc(hidden)]
    fn pending(&self, into: &mut PendingArgs) {
        let _ = into;
    }
}

/// A ref's value, awaited by the runtime (not a user's wait), type-erased.
fn later<T: Clone + Send + 'static>(object: ObjectRef<T>) -> LaterValue {
    Box::pin(async move {
        object
            .into_get_internal()
            .await
            .map(|value| Box::new(value) as AnyValue)
    })
}

fn ref_into_wire<T: Clone + Send + 'static>(object: ObjectRef<T>) -> WireArg {
    if object.slot.is_remote() {
        let task = object.task().clone();
        let by_value = object.clone();
        WireArg::Remote {
            task,
            keep: Box::new(object),
            by_value: Box::new(move || later(by_value)),
        }
    } else {
        WireArg::Local(later(object))
    }
}

impl<T: Send + 'static> Arg<T> for T {
    fn is_ready(&self) -> bool {
        true
    }

    // Not `future::ready(Ok(self))`: that holds room for an `Error`, and an
    // actor call's closure carries this future to the actor.
    async fn resolve(self) -> Result<T, Error> {
        Ok(self)
    }

    fn into_wire(self) -> WireArg {
        WireArg::Value(Box::new(self))
    }
}

impl<T: Clone + Send + 'static> Arg<T> for ObjectRef<T> {
    fn is_ready(&self) -> bool {
        ObjectRef::is_ready(self)
    }

    fn resolve(self) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        // By value: the consumer takes the producer's value without a copy when
        // it holds the last ref.
        self.into_get_internal()
    }

    fn into_wire(self) -> WireArg {
        ref_into_wire(self)
    }

    fn pending(&self, into: &mut PendingArgs) {
        if !ObjectRef::is_ready(self) {
            into.edges.push(self.slot.edge());
        }
    }
}

impl<T: Clone + Send + 'static> Arg<T> for &ObjectRef<T> {
    fn is_ready(&self) -> bool {
        ObjectRef::is_ready(self)
    }

    fn resolve(self) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        self.clone().into_get_internal()
    }

    fn into_wire(self) -> WireArg {
        ref_into_wire(self.clone())
    }

    fn pending(&self, into: &mut PendingArgs) {
        <ObjectRef<T> as Arg<T>>::pending(*self, into);
    }
}

/// The whole argument list of a remote function whose parameters are `L` (a
/// tuple): one [`Arg`] for one parameter, a tuple of them for several, `()` for
/// none.
///
/// Implemented by the crate; you never implement it.
///
/// # Examples
///
/// ```
/// # let rt = taskref::Runtime::builder().worker_threads(1).build().unwrap();
/// let add = rt.remote(|a: u64, b: u64| async move { a + b });
/// let r = add.remote((rt.put(1), 2)); // each element a value or a ref
/// assert_eq!(r.block_get().unwrap(), 3);
/// let answer = rt.remote(|| async { 42 });
/// assert_eq!(answer.remote(()).block_get().unwrap(), 42);
/// ```
pub trait IntoArgs<L>: Send {
    /// Whether every argument is available without waiting.
    #[doc(hidden)]
    fn is_ready(&self) -> bool;

    /// Waits for every argument. The error is the first failed upstream task's.
    #[doc(hidden)]
    fn resolve(self) -> impl Future<Output = Result<L, Error>> + Send + 'static;

    /// The arguments for a call on a Ray cluster, in order.
    #[doc(hidden)]
    fn into_wire(self) -> Vec<WireArg>;

    /// Adds the tasks of the ref arguments not ready yet to `into`.
    #[doc(hidden)]
    fn pending(&self, into: &mut PendingArgs);
}

impl IntoArgs<()> for () {
    fn is_ready(&self) -> bool {
        true
    }

    fn resolve(self) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        std::future::ready(Ok(()))
    }

    fn into_wire(self) -> Vec<WireArg> {
        Vec::new()
    }

    fn pending(&self, _: &mut PendingArgs) {}
}

impl<A, X: Arg<A>> IntoArgs<(A,)> for X
where
    A: Send + 'static,
{
    fn is_ready(&self) -> bool {
        Arg::is_ready(self)
    }

    fn resolve(self) -> impl Future<Output = Result<(A,), Error>> + Send + 'static {
        let arg = Arg::resolve(self);
        async move { Ok((arg.await?,)) }
    }

    fn into_wire(self) -> Vec<WireArg> {
        vec![Arg::into_wire(self)]
    }

    fn pending(&self, into: &mut PendingArgs) {
        Arg::pending(self, into);
    }
}

macro_rules! impl_into_args_for_tuple {
    ($($param:ident $arg:ident $idx:tt),+) => {
        impl<$($param, $arg: Arg<$param>),+> IntoArgs<($($param,)+)> for ($($arg,)+)
        where
            $($param: Send + 'static),+
        {
            fn is_ready(&self) -> bool {
                $(Arg::is_ready(&self.$idx))&&+
            }

            fn resolve(self) -> impl Future<Output = Result<($($param,)+), Error>> + Send + 'static {
                // Start every resolution before awaiting any, so each ref is
                // awaited exactly once, in order: the task needs all of them.
                let pending = ($(Arg::resolve(self.$idx),)+);
                async move { Ok(($(pending.$idx.await?,)+)) }
            }

            fn into_wire(self) -> Vec<WireArg> {
                vec![$(Arg::into_wire(self.$idx)),+]
            }

            fn pending(&self, into: &mut PendingArgs) {
                $(Arg::pending(&self.$idx, into);)+
            }
        }
    };
}

impl_into_args_for_tuple!(A0 X0 0, A1 X1 1);
impl_into_args_for_tuple!(A0 X0 0, A1 X1 1, A2 X2 2);
impl_into_args_for_tuple!(A0 X0 0, A1 X1 1, A2 X2 2, A3 X3 3);
impl_into_args_for_tuple!(A0 X0 0, A1 X1 1, A2 X2 2, A3 X3 3, A4 X4 4);
impl_into_args_for_tuple!(A0 X0 0, A1 X1 1, A2 X2 2, A3 X3 3, A4 X4 4, A5 X5 5);
