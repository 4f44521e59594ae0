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

impl<T> ItemTx<T> {
    /// Sends `item`, waiting for room in a bounded channel.
    pub(crate) async fn send(&self, item: T) -> Result<(), StreamClosed> {
        match self {
            ItemTx::Bounded(tx) => tx.send(item).await.map_err(|_| StreamClosed),
            ItemTx::Unbounded(tx) => tx.send(item).map_err(|_| StreamClosed),
        }
    }

    /// Sends `item` from blocking code: the thread parks while a bounded
    /// channel is full, lending its task's CPU meanwhile (as a `block_get`
    /// does), so a consumer that needs it can run.
    pub(crate) fn send_blocking(&self, item: T) -> Result<(), StreamClosed> {
        match self {
            ItemTx::Unbounded(tx) => tx.send(item).map_err(|_| StreamClosed),
            ItemTx::Bounded(tx) => match tx.try_send(item) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Closed(_)) => Err(StreamClosed),
                Err(mpsc::error::TrySendError::Full(item)) => {
                    crate::park::park_on(tx.send(item), None, crate::resources::lend_cpu)
                        .expect("no deadline")
                        .map_err(|_| StreamClosed)
                }
            },
        }
    }
}

impl<T> ItemRx<T> {
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self {
            ItemRx::Bounded(rx) => rx.poll_recv(cx),
            ItemRx::Unbounded(rx) => rx.poll_recv(cx),
        }
    }
}
