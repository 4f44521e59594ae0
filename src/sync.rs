//! The synchronisation primitives of the two hand-written protocols (the slot's
//! waiter list and completion flag, the parking of blocking waits): std's, or
//! loom's when model checking (`RUSTFLAGS="--cfg taskref_loom"`), so loom can
//! explore every interleaving of the real code.

#[cfg(not(taskref_loom))]
pub(crate) use std::{
    sync::atomic::{AtomicBool, AtomicU8, Ordering},
    sync::{Mutex, MutexGuard},
    thread::{self, Thread},
    thread_local,
};

#[cfg(taskref_loom)]
pub(crate) use loom::{
    sync::atomic::{AtomicBool, AtomicU8, Ordering},
    sync::{Mutex, MutexGuard},
    thread::{self, Thread},
    thread_local,
};
