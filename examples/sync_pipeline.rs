//! A plain `fn main` program, no async in sight: a two-stage pipeline through
//! the blocking facade. Stage two takes stage one's refs as arguments (no get
//! in between), results are processed in completion order, and a progress bar
//! advances as tasks complete (a plain line per tenth when the output is not a
//! terminal, as in CI).
//!
//! Run with `cargo run --release --example sync_pipeline`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use taskref::Runtime;

/// Stage one: "download" a document (latency-bound: it mostly waits).
fn fetch(id: u64) -> String {
    std::thread::sleep(Duration::from_millis(20 + id % 30));
    format!(
        "document {id}: {}",
        "lorem ipsum ".repeat(50 + (id % 50) as usize)
    )
}

/// Stage two: "analyse" it (CPU-bound, on the blocking pool).
fn analyse(text: String) -> (usize, usize) {
    let words = text.split_whitespace().count();
    let vowels = text.chars().filter(|c| "aeiou".contains(*c)).count();
    std::thread::sleep(Duration::from_millis(5)); // a little CPU work
    (words, vowels)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let documents = 200;
    let rt = Runtime::builder().num_cpus(2).build()?;
    // Downloads mostly wait: a tenth of a CPU each, so twenty overlap.
    let fetch = rt.remote_blocking(fetch).name("fetch").num_cpus(0.1);
    let analyse = rt.remote_blocking(analyse).name("analyse");

    let started = Instant::now();
    // Submit the whole pipeline at once: each analysis takes its fetch's ref.
    let results: Vec<_> = (0..documents)
        .map(|id| analyse.remote(fetch.remote(id)))
        .collect();

    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(documents)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} documents analysed ({elapsed})",
    )?);
    let (mut words, mut vowels, mut done) = (0, 0, 0u64);
    for (_index, outcome) in taskref::block_as_completed(results)? {
        let (w, v) = outcome?;
        words += w;
        vowels += v;
        done += 1;
        bar.inc(1);
        if bar.is_hidden() && done % (documents / 10) == 0 {
            println!("{done}/{documents} documents analysed");
        }
    }
    bar.finish();
    let stats = rt.stats();
    println!(
        "{documents} documents, {words} words, {vowels} vowels in {:.0} ms (parallelism {:.1})",
        started.elapsed().as_secs_f64() * 1e3,
        stats.parallelism()
    );
    Ok(())
}
