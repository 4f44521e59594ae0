//! How a task's output becomes its ref's value: as it is, or, for fallible
//! tasks, `Ok(v)` as `v` and `Err(e)` as `Error::TaskFailed` with `e` as source.

use std::sync::Arc;

/// A user error, shareable so `Error` stays `Clone`.
pub(crate) type UserError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Turns a task's raw output into its value or the user's error.
pub(crate) trait Finish<Out>: Send + 'static {
    type Value: Send + 'static;

    /// Whether an output can be an error: on a cluster, such a task's output
    /// is fetched as soon as it exists, so that an `Err` is seen (retried,
    /// counted, reported) when it happens rather than when someone reads it.
    const FALLIBLE: bool;

    fn finish(out: Out) -> Result<Self::Value, UserError>;
}

/// Infallible tasks: the output is the value.
#[derive(Debug)]
pub(crate) enum Plain {}

impl<Out: Send + 'static> Finish<Out> for Plain {
    type Value = Out;
    const FALLIBLE: bool = false;

    fn finish(out: Out) -> Result<Out, UserError> {
        Ok(out)
    }
}

/// Fallible tasks (`try_remote`, `try_remote_blocking`): `Result<T, E>`.
#[derive(Debug)]
pub(crate) enum Fallible {}

impl<T, E> Finish<Result<T, E>> for Fallible
where
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    type Value = T;
    const FALLIBLE: bool = true;

    fn finish(out: Result<T, E>) -> Result<T, UserError> {
        out.map_err(|e| Arc::new(e) as UserError)
    }
}

/// Calls whose error is a `UserError` already (actor methods: their error types
/// are erased when the call is queued, so the mailbox holds one type).
#[derive(Debug)]
pub(crate) enum Erased {}

impl<T: Send + 'static> Finish<Result<T, UserError>> for Erased {
    type Value = T;
    const FALLIBLE: bool = true;

    fn finish(out: Result<T, UserError>) -> Result<T, UserError> {
        out
    }
}
