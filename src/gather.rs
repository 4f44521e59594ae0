//! Waiting on many refs at once: the batched `ray.get`.
//!
//! | function | returns | order | cost |
//! |---|---|---|---|
//! | [`get_all`] | every value, or the first error | input order | O(n) |
//! | [`get_all_settled`] | every outcome | input order | O(n) |
//! | [`wait`] | `(ready, not_ready)` once `num_returns` are ready (refs by slice or by value) | input order in both lists | O(n) per call; returns at once when enough are ready |
//! | [`as_completed`] | a stream of `(index, outcome)` | completion order | O(1) amortised per item |
//! | [`WaitSet::wait`] | the ready refs, removed from the set | completion order | O(1) amortised per item |
//! | [`map_unordered`] | a stream of `(index, outcome)`, submitting lazily | completion order | O(1) amortised per item |
//!
//! All of them wait with wakers, never by polling or sleeping, and their futures
//! are `Send` when `T` is.

mod as_completed;
mod completions;
mod get_all;
mod map_unordered;
mod readiness;
mod traced;
mod wait;
mod wait_set;

pub use as_completed::{as_completed, AsCompleted};
pub use get_all::{get_all, get_all_settled, GetAll, GetAllSettled};
pub(crate) use map_unordered::map_unordered_as;
pub use map_unordered::{map_unordered, MapUnordered};
pub use wait::{wait, Wait, WaitOutput, WaitRefs};
pub use wait_set::{WaitSet, WaitSetWait};

pub(crate) use as_completed::as_completed_as;
pub(crate) use completions::Completions;
pub(crate) use get_all::{get_all_as, get_all_settled_as};
pub(crate) use readiness::Readiness;
pub(crate) use traced::Traced;
