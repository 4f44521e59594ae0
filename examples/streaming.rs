//! Streaming returns: Ray's "generators reduce heap memory" pattern, and an
//! actor that hands back tokens one by one.
//!
//! ```text
//! cargo run --release --example streaming
//! ```
//!
//! Part 1 makes 64 chunks of 4 MB and reduces each to a checksum, twice, each
//! in a fresh process whose peak memory it reports: once as a task that
//! returns all the chunks in one `Vec` (every chunk exists at the same time),
//! once as a streaming task with `backpressure(2)` (at most a few chunks exist
//! at once). Part 2 streams tokens from a model actor and prints each as it
//! arrives: the first is usable long before the last exists.

use std::future::IntoFuture;
use std::process::Command;
use std::time::{Duration, Instant};

use taskref::{Error, Runtime};

const CHUNKS: usize = 64;
const CHUNK_BYTES: usize = 4 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("--all-at-once") => return print_peak(all_at_once),
        Some("--streamed") => return print_peak(streamed),
        _ => {}
    }
    println!(
        "== 1. generators reduce heap memory ({CHUNKS} chunks of {} MB)\n",
        CHUNK_BYTES >> 20
    );
    println!("{:<44} {:>12} {:>10}", "", "peak memory", "time");
    for (label, flag) in [
        ("a task returning every chunk in one Vec", "--all-at-once"),
        ("a streaming task, backpressure(2)", "--streamed"),
    ] {
        // Each in a fresh process: its peak is its own.
        let out = Command::new(std::env::current_exe()?).arg(flag).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text.split_whitespace();
        let (peak, ms) = (fields.next().unwrap_or("?"), fields.next().unwrap_or("?"));
        println!("{label:<44} {:>9} MB {:>7} ms", peak, ms);
    }
    println!();
    tokens()?;
    Ok(())
}

/// A chunk of data, made as a real producer would (touched, so it is
/// resident).
fn chunk(i: usize) -> Vec<u8> {
    vec![(i % 251) as u8; CHUNK_BYTES]
}

/// What the consumer keeps of a chunk.
fn checksum(data: &[u8]) -> u64 {
    data.iter().step_by(4096).map(|&b| u64::from(b)).sum()
}

/// Without streaming: one task makes every chunk, then hands them all back.
fn all_at_once(rt: &Runtime) -> Result<u64, Error> {
    let make = rt.remote_blocking(|n: usize| (0..n).map(chunk).collect::<Vec<_>>());
    // By value, as below: the chunks are moved out, not copied.
    let chunks = futures::executor::block_on(make.remote(CHUNKS).into_future())?;
    Ok(chunks.iter().map(|c| checksum(c)).sum())
}

/// With streaming: each chunk is handed back as soon as it exists, and the
/// producer waits while two are not yet consumed.
fn streamed(rt: &Runtime) -> Result<u64, Error> {
    let make = rt
        .remote_stream_blocking(|n: usize| (0..n).map(chunk))
        .backpressure(2);
    let mut total = 0;
    for item in make.remote(CHUNKS).block_iter() {
        // By value: the last ref moves the chunk out (no copy), and it is
        // freed at the end of this iteration.
        let data = futures::executor::block_on(item.into_future())?;
        total += checksum(&data);
    }
    Ok(total)
}

/// Runs `work` and prints the process's peak resident memory above what it
/// was before, in MB, and the time it took.
fn print_peak(work: fn(&Runtime) -> Result<u64, Error>) -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().num_cpus(2).build()?;
    let before = status_kb("VmRSS:");
    let started = Instant::now();
    let sum = work(&rt)?;
    let took = started.elapsed();
    assert_eq!(sum, (0..CHUNKS).map(|i| checksum(&chunk(i))).sum::<u64>());
    let peak = status_kb("VmHWM:").saturating_sub(before);
    println!("{} {}", peak / 1024, took.as_millis());
    Ok(())
}

/// A field of /proc/self/status, in kB (0 where there is none).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A model server that hands back its answer token by token.
struct Model {
    vocabulary: Vec<&'static str>,
}

impl Model {
    /// "Generates" one token every 40 ms.
    fn generate(&mut self, prompt: &str, out: &taskref::ItemSender<String>) {
        let words = prompt.split_whitespace().count();
        for i in 0..8 {
            std::thread::sleep(Duration::from_millis(40));
            let token = self.vocabulary[(words + i) % self.vocabulary.len()];
            if out.send(token.to_owned()).is_err() {
                return; // the client went away: stop generating
            }
        }
    }
}

fn tokens() -> Result<(), Box<dyn std::error::Error>> {
    println!("== 2. an actor streaming tokens one by one\n");
    let rt = Runtime::new()?;
    let model = rt.actor_builder().name("model").spawn(|| Model {
        vocabulary: vec![
            "streams", "hand", "back", "each", "token", "as", "it", "comes",
        ],
    })?;
    let started = Instant::now();
    let answer = model.call_stream(|m: &mut Model, out| m.generate("tell me about refs", out));
    let mut text = Vec::new();
    for token in answer.block_iter() {
        let token = token.block_get()?;
        println!("{:>6.0} ms  {token}", started.elapsed().as_secs_f64() * 1e3);
        text.push(token);
    }
    println!(
        "\n{} tokens; the first was readable after about 40 ms, the last after {} ms",
        text.len(),
        started.elapsed().as_millis()
    );
    println!("items handed back by streaming tasks: {}", rt.stats().items);
    Ok(())
}
