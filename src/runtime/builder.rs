//! `Builder`: configures and builds a `Runtime`.

use std::io;
use std::num::NonZeroUsize;

use tokio::runtime::Handle;

use super::Runtime;

pub(super) fn default_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Configures a [`Runtime`]: its CPU capacity and, for an owned runtime, its
/// tokio worker threads.
///
/// # Examples
///
/// ```
/// let rt = taskref::Runtime::builder()
///     .num_cpus(2)        // at most two 1-CPU blocking tasks at once
///     .worker_threads(2)  // tokio workers for async tasks
///     .build()?;
/// assert_eq!(rt.num_cpus(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build` or `attach` is called"]
pub struct Builder {
    num_cpus: Option<usize>,
    worker_threads: Option<usize>,
}

impl Builder {
    /// A builder with the defaults (see [`Runtime::new`]).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The runtime's CPU capacity, as in Ray: blocking tasks ask for 1 CPU by
    /// default, so at most `num_cpus` of them run at once. Defaults to the
    /// available parallelism. `0` is allowed: then every task that asks for CPU
    /// fails with [`Error::Infeasible`](crate::Error::Infeasible).
    pub fn num_cpus(mut self, num_cpus: usize) -> Builder {
        self.num_cpus = Some(num_cpus);
        self
    }

    /// The number of tokio worker threads of an owned runtime (which run async
    /// tasks). Defaults to one per core. Must be at least 1.
    pub fn worker_threads(mut self, worker_threads: usize) -> Builder {
        self.worker_threads = Some(worker_threads);
        self
    }

    /// Builds an owned runtime.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `worker_threads` is 0; the OS error if a thread cannot
    /// be started.
    pub fn build(self) -> io::Result<Runtime> {
        let mut tokio_builder = tokio::runtime::Builder::new_multi_thread();
        tokio_builder.enable_all().thread_name("taskref-worker");
        match self.worker_threads {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "taskref: worker_threads must be at least 1",
                ))
            }
            Some(n) => {
                tokio_builder.worker_threads(n);
            }
            None => {}
        }
        let runtime = tokio_builder.build()?;
        let handle = runtime.handle().clone();
        Ok(Runtime::assemble(
            handle,
            Some(runtime),
            self.num_cpus.unwrap_or_else(default_parallelism),
        ))
    }

    /// Builds a runtime attached to an existing tokio runtime (see
    /// [`Runtime::from_handle`]). `worker_threads` does not apply.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rt = taskref::Runtime::builder()
    ///     .num_cpus(1)
    ///     .attach(tokio::runtime::Handle::current());
    /// assert_eq!(rt.num_cpus(), 1);
    /// # }
    /// ```
    pub fn attach(self, handle: Handle) -> Runtime {
        Runtime::assemble(
            handle,
            None,
            self.num_cpus.unwrap_or_else(default_parallelism),
        )
    }
}
