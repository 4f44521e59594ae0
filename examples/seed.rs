//! Ray's documentation example of the get-in-a-loop anti-pattern, with taskref's
//! blocking facade, as close to the Python as Rust allows:
//!
//! ```python
//! @ray.remote
//! def f(i):
//!     return i
//!
//! # Anti-pattern: no parallelism due to calling ray.get inside of the loop.
//! sequential_returns = []
//! for i in range(100):
//!     sequential_returns.append(ray.get(f.remote(i)))
//!
//! # Better approach: parallelism because the tasks are executed in parallel.
//! refs = []
//! for i in range(100):
//!     refs.append(f.remote(i))
//! parallel_returns = ray.get(refs)
//! ```
//!
//! Run with `cargo run --release --example seed`.

use std::time::Instant;

use taskref::Runtime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new()?;
    let f = rt.remote(|i: u64| async move { i });

    // Anti-pattern: no parallelism due to calling block_get inside of the loop.
    let start = Instant::now();
    let mut sequential_returns = Vec::new();
    for i in 0..100 {
        sequential_returns.push(f.remote(i).block_get()?);
    }
    let sequential = start.elapsed();

    // Better approach: parallelism because the tasks are executed in parallel.
    let start = Instant::now();
    let mut refs = Vec::new();
    for i in 0..100 {
        refs.push(f.remote(i));
    }
    let parallel_returns = taskref::block_get_all(refs)?;
    let parallel = start.elapsed();

    assert_eq!(sequential_returns, parallel_returns);
    println!("100 calls of f(i) = i");
    println!(
        "  get in a loop:        {:>9.3} ms",
        sequential.as_secs_f64() * 1e3
    );
    println!(
        "  submit, then gather:  {:>9.3} ms",
        parallel.as_secs_f64() * 1e3
    );
    println!(
        "  speed-up:             {:>9.1}x",
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );
    Ok(())
}
