//! `ActorPool`: Ray's `ray.util.ActorPool`, a set of actors kept busy with a
//! stream of items.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{FuturesUnordered, Stream, StreamExt};

use super::ActorHandle;
use crate::error::Error;
use crate::gather::Readiness;

/// A set of actors that share work: each item goes to an idle actor, so every
/// actor stays busy while items remain.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
/// let pool = taskref::ActorPool::new((0..3).map(|_| rt.actor(0u64)));
/// let doubled: Vec<u64> = pool
///     .map(1..=6u64, |seen: &mut u64, x| { *seen += 1; x * 2 })
///     .map(|(_, v)| v.unwrap())
///     .collect()
///     .await;
/// assert_eq!(doubled, [2, 4, 6, 8, 10, 12], "`map` keeps input order");
/// # }
/// ```
pub struct ActorPool<S> {
    actors: Vec<ActorHandle<S>>,
}

impl<S> Clone for ActorPool<S> {
    fn clone(&self) -> Self {
        ActorPool {
            actors: self.actors.clone(),
        }
    }
}

impl<S> fmt::Debug for ActorPool<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorPool")
            .field("actors", &self.actors.len())
            .finish()
    }
}

impl<S: Send + 'static> ActorPool<S> {
    /// A pool of `actors` (at least one).
    ///
    /// # Panics
    ///
    /// If `actors` is empty: a pool without actors could never make progress.
    pub fn new(actors: impl IntoIterator<Item = ActorHandle<S>>) -> Self {
        let actors: Vec<_> = actors.into_iter().collect();
        assert!(!actors.is_empty(), "an ActorPool needs at least one actor");
        ActorPool { actors }
    }

    /// Calls `method` on each item with the first idle actor and yields
    /// `(index, outcome)` in completion order (Ray's `map_unordered`).
    pub fn map_unordered<I, R, F>(&self, items: I, method: F) -> PoolMap<S, I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        R: Clone + Send + 'static,
        F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
    {
        PoolMap {
            actors: self.actors.clone(),
            idle: (0..self.actors.len()).collect(),
            items: items.into_iter().enumerate(),
            method,
            in_flight: FuturesUnordered::new(),
            assigned: HashMap::new(),
            ordered: false,
            next: 0,
            held: BTreeMap::new(),
            _result: PhantomData,
        }
    }

    /// Like [`map_unordered`](ActorPool::map_unordered), but yields in input
    /// order (Ray's `map`). Actors still work in parallel; finished results
    /// wait for the earlier ones.
    pub fn map<I, R, F>(&self, items: I, method: F) -> PoolMap<S, I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        R: Clone + Send + 'static,
        F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
    {
        PoolMap {
            ordered: true,
            ..self.map_unordered(items, method)
        }
    }
}

/// Stream returned by [`ActorPool::map`] and [`ActorPool::map_unordered`]:
/// `(index, outcome)` of each item.
#[must_use = "streams do nothing unless polled"]
pub struct PoolMap<S, I, F, R> {
    actors: Vec<ActorHandle<S>>,
    idle: VecDeque<usize>,
    items: std::iter::Enumerate<I>,
    method: F,
    in_flight: FuturesUnordered<Readiness<R>>,
    /// Which actor works on which item.
    assigned: HashMap<usize, usize>,
    ordered: bool,
    /// The next index to yield, in input order.
    next: usize,
    /// Finished results waiting for earlier ones (input order only).
    held: BTreeMap<usize, Result<R, Error>>,
    _result: PhantomData<fn() -> R>,
}

impl<S, I, F, R> Unpin for PoolMap<S, I, F, R> {}

impl<S, I, F, R> Stream for PoolMap<S, I, F, R>
where
    S: Send + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    R: Clone + Send + 'static,
    F: Fn(&mut S, I::Item) -> R + Clone + Send + 'static,
{
    type Item = (usize, Result<R, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.ordered {
                if let Some(outcome) = this.held.remove(&this.next) {
                    this.next += 1;
                    return Poll::Ready(Some((this.next - 1, outcome)));
                }
            }
            // Keep every idle actor busy.
            while let Some(&actor) = this.idle.front() {
                let Some((index, item)) = this.items.next() else {
                    break;
                };
                this.idle.pop_front();
                let method = this.method.clone();
                let r = this.actors[actor].call(move |state| method(state, item));
                this.assigned.insert(index, actor);
                this.in_flight.push(Readiness::new(index, r));
            }
            match this.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some((index, object))) => {
                    if let Some(actor) = this.assigned.remove(&index) {
                        this.idle.push_back(actor);
                    }
                    let outcome = object
                        .take_outcome()
                        .unwrap_or_else(|_| unreachable!("a ready ref has an outcome"));
                    if !this.ordered {
                        return Poll::Ready(Some((index, outcome)));
                    }
                    this.held.insert(index, outcome);
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, I, F, R> fmt::Debug for PoolMap<S, I, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolMap")
            .field("actors", &self.actors.len())
            .field("in_flight", &self.in_flight.len())
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}
