//! The channel between a streaming task and its `RefStream`: tokio's mpsc,
//! bounded when the stream has backpressure (the bound is how many produced
//! items may wait unconsumed), unbounded otherwise.

use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::StreamClosed;

pub(crate) enum ItemTx<T> {
    Bounded(mpsc::Sender<T>),
    Unbounded(mpsc::UnboundedSender<T>),
}

pub(crate) enum ItemRx<T> {
    Bounded(mpsc::Receiver<T>),
    Unbounded(mpsc::UnboundedReceiver<T>),
}

/// A channel bounded at `backpressure` items, if given.
pub(crate) fn pair<T>(backpressure: Option<usize>) -> (ItemTx<T>, ItemRx<T>) {
    match backpressure {
        Some(bound) => {
            let (tx, rx) = mpsc::channel(bound.max(1));
            (ItemTx::Bounded(tx), ItemRx::Bounded(rx))
        }
        None => {
            let (tx, rx) = mpsc::unbounded_channel();
            (ItemTx::Unbounded(tx), ItemRx::Unbounded(rx))
        }
    }
}

impl<T> Clone for ItemTx<T> {
    fn clone(&self) -> Self {
        match self {
            ItemTx::Bounded(tx) => ItemTx::Bounded(tx.clone()),
            ItemTx::Unbounded(tx) => ItemTx::Unbounded(tx.clone()),
        }
    }
}

/// Room for one item, taken before the item is made: with backpressure, a
/// producer asks for its next item only once there is room for it.
pub(crate) enum Room<'a, T> {
    Bounded(mpsc::Permit<'a, T>),
    Unbounded(&'a mpsc::UnboundedSender<T>),
}

impl<T> Room<'_, T> {
    pub(crate) fn send(self, item: T) -> Result<(), StreamClosed> {
        match self {
            Room::Bounded(permit) => {
                permit.send(item);
                Ok(())
            }
            Room::Unbounded(tx) => tx.send(item).map_err(|_| StreamClosed),
        }
    }
}

impl<T> ItemTx<T> {
    /// Waits for room for one item.
    pub(crate) async fn room(&self) -> Result<Room<'_, T>, StreamClosed> {
        match self {
            ItemTx::Bounded(tx) => tx
                .reserve()
                .await
                .map(Room::Bounded)
                .map_err(|_| StreamClosed),
            ItemTx::Unbounded(tx) => match tx.is_closed() {
                true => Err(StreamClosed),
                false => Ok(Room::Unbounded(tx)),
            },
        }
    }

    /// [`room`](ItemTx::room) from blocking code: the thread parks while the
    /// channel is full, lending its task's CPU meanwhile (as a `block_get`
    /// does), so a consumer that needs it can run.
    pub(crate) fn room_blocking(&self) -> Result<Room<'_, T>, StreamClosed> {
        match self {
            ItemTx::Bounded(tx) => match tx.try_reserve() {
                Ok(permit) => Ok(Room::Bounded(permit)),
                Err(mpsc::error::TrySendError::Closed(())) => Err(StreamClosed),
                Err(mpsc::error::TrySendError::Full(())) => {
                    crate::park::park_on(self.room(), None, crate::resources::lend_cpu)
                        .expect("no deadline")
                }
            },
            ItemTx::Unbounded(_) => futures::FutureExt::now_or_never(self.room())
                .expect("an unbounded channel has room"),
        }
    }
}

impl<T> ItemRx<T> {
    /// Refuses further items: a producer waiting for room stops.
    pub(crate) fn close(&mut self) {
        match self {
            ItemRx::Bounded(rx) => rx.close(),
            ItemRx::Unbounded(rx) => rx.close(),
        }
    }

    /// An item already in the channel, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        match self {
            ItemRx::Bounded(rx) => rx.try_recv().ok(),
            ItemRx::Unbounded(rx) => rx.try_recv().ok(),
        }
    }

    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self {
            ItemRx::Bounded(rx) => rx.poll_recv(cx),
            ItemRx::Unbounded(rx) => rx.poll_recv(cx),
        }
    }
}
