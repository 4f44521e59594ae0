//! Ray's three get-related anti-patterns, each run next to its fix on the same
//! workload (W1, W2, W4, W5 of WORKLOADS.md), through the async API and through
//! the blocking facade, with real timings; and Ray's over-parallelizing
//! example (10,000 tiny tasks, 10 batches, serial).
//!
//! Then it writes pictures of the get-in-a-loop workload and its fix
//! (`docs/get_in_a_loop.svg`, `docs/gathered.svg`, both on one time axis in
//! `docs/w2_loop_vs_gathered.svg`, Chrome traces beside them; `docs/` is the
//! crate's, whatever the working or target directory), and shows the
//! anti-pattern detector's report for each pattern.
//!
//! Run with `cargo run --release --example anti_patterns` (about 30 s).

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use taskref::{AntiPatterns, ObjectRef, Runtime};

/// Median of `RUNS` timings: the machine is shared and noisy.
const RUNS: usize = 3;

#[derive(Clone, Copy, PartialEq)]
enum Face {
    Async,
    Blocking,
}

impl Face {
    fn name(self) -> &'static str {
        match self {
            Face::Async => "async",
            Face::Blocking => "blocking",
        }
    }
}

/// Times `body` in the chosen face: inside an async block driven by the runtime,
/// or on this plain thread.
fn time<F, Fut>(rt: &Runtime, face: Face, body: F) -> Duration
where
    F: FnOnce(Face) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    let fut = body(face);
    match face {
        Face::Async => rt.handle().block_on(fut),
        Face::Blocking => futures::executor::block_on(fut),
    }
    start.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Gets one ref in the chosen face.
async fn get<T: Clone>(face: Face, r: ObjectRef<T>) -> T {
    match face {
        Face::Async => r.await.expect("task"),
        Face::Blocking => r.block_get().expect("task"),
    }
}

/// Gets all refs at once in the chosen face.
async fn get_all<T: Clone>(face: Face, refs: Vec<ObjectRef<T>>) -> Vec<T> {
    match face {
        Face::Async => taskref::get_all(refs).await.expect("tasks"),
        Face::Blocking => taskref::block_get_all(refs).expect("tasks"),
    }
}

/// Caller-side work that takes `ms` milliseconds.
async fn process(face: Face, ms: u64) {
    match face {
        Face::Async => tokio::time::sleep(Duration::from_millis(ms)).await,
        Face::Blocking => std::thread::sleep(Duration::from_millis(ms)),
    }
}

struct Row {
    anti_pattern: &'static str,
    workload: &'static str,
    face: Face,
    wrong: Duration,
    fixed: Duration,
}

fn measure(
    rt: &Runtime,
    anti_pattern: &'static str,
    workload: &'static str,
    mut wrong: impl FnMut(&Runtime, Face) -> Duration,
    mut fixed: impl FnMut(&Runtime, Face) -> Duration,
) -> Vec<Row> {
    [Face::Async, Face::Blocking]
        .into_iter()
        .map(|face| {
            // One untimed round warms up threads and allocator, then the two forms
            // alternate so noise hits both alike.
            wrong(rt, face);
            fixed(rt, face);
            let (mut w, mut f) = (Vec::new(), Vec::new());
            for _ in 0..RUNS {
                w.push(wrong(rt, face));
                f.push(fixed(rt, face));
            }
            Row {
                anti_pattern,
                workload,
                face,
                wrong: median(w),
                fixed: median(f),
            }
        })
        .collect()
}

/// Anti-pattern 1 on a workload of 100 tasks: get each one right after
/// submitting it, against submitting all of them and gathering once.
fn get_in_a_loop(
    rt: &Runtime,
    workload: &'static str,
    submit: impl Fn(u64) -> ObjectRef<u64>,
) -> Vec<Row> {
    let submit = &submit;
    measure(
        rt,
        "get in a loop",
        workload,
        |rt, face| {
            time(rt, face, |face| async move {
                for i in 0..100 {
                    get(face, submit(i)).await;
                }
            })
        },
        |rt, face| {
            time(rt, face, |face| async move {
                get_all(face, (0..100).map(submit).collect()).await;
            })
        },
    )
}

/// Ray's "over-parallelizing with too fine-grained tasks": double 10,000
/// numbers as 10,000 tasks, as 10 tasks of 1,000 numbers, and serially.
fn too_fine_grained_table(rt: &Runtime) {
    const NUMBERS: u64 = 10_000;
    const BATCH: u64 = 1_000;
    // Ray's `double` sleeps 10 µs (a thread sleep here lasts about 60 µs:
    // the kernel's timer slack); the bare `x * 2` is the truly tiny case.
    fn ray_double(x: u64) -> u64 {
        std::thread::sleep(Duration::from_micros(10));
        x * 2
    }
    fn bare_double(x: u64) -> u64 {
        std::hint::black_box(x) * 2
    }
    println!(
        "Too fine-grained tasks, Ray's example: double 10,000 numbers (gathered from a plain thread)"
    );
    println!(
        "{:<38} {:>14} {:>17} {:>13}",
        "work per number, tasks", "10,000 tasks", "10 of 1,000 each", "serial"
    );
    println!("{}", "-".repeat(85));
    type Case = (&'static str, bool, fn(u64) -> u64);
    let cases: [Case; 3] = [
        ("x * 2, async tasks", false, bare_double),
        ("x * 2, blocking tasks", true, bare_double),
        ("sleep 10 µs, x * 2 (Ray's), blocking", true, ray_double),
    ];
    for (label, blocking, double) in cases {
        let one = move |x: u64| double(x);
        let many = move |xs: Vec<u64>| xs.into_iter().map(double).collect::<Vec<_>>();
        type Timer = Box<dyn Fn() -> Duration>;
        let (tasks, batches): (Timer, Timer) = match blocking {
            true => {
                let (f, g) = (rt.remote_blocking(one), rt.remote_blocking(many));
                (
                    Box::new(move || timed(|| gather((0..NUMBERS).map(|x| f.remote(x))))),
                    Box::new(move || {
                        timed(|| gather(batches_of(NUMBERS, BATCH).map(|b| g.remote(b))))
                    }),
                )
            }
            false => {
                let f = rt.remote(move |x: u64| async move { one(x) });
                let g = rt.remote(move |xs: Vec<u64>| async move { many(xs) });
                (
                    Box::new(move || timed(|| gather((0..NUMBERS).map(|x| f.remote(x))))),
                    Box::new(move || {
                        timed(|| gather(batches_of(NUMBERS, BATCH).map(|b| g.remote(b))))
                    }),
                )
            }
        };
        let serial = || {
            timed(|| {
                drop(std::hint::black_box(
                    (0..NUMBERS).map(double).collect::<Vec<_>>(),
                ))
            })
        };
        let (mut t, mut b, mut s) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..=RUNS {
            let (tt, bb, ss) = (tasks(), batches(), serial());
            // The first round warms up.
            if run > 0 {
                t.push(tt);
                b.push(bb);
                s.push(ss);
            }
        }
        println!(
            "{:<38} {:>11.2} ms {:>14.2} ms {:>10.2} ms",
            label,
            median(t).as_secs_f64() * 1e3,
            median(b).as_secs_f64() * 1e3,
            median(s).as_secs_f64() * 1e3,
        );
    }
    println!(
        "(median of {RUNS} runs. A task costs taskref about a microsecond, Ray about a hundred: \
         Ray's 10 µs tasks are\n worth running as tasks here, the bare ones are not, and only \
         those are what the detector reports.)"
    );
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn gather<T: Clone + Send + 'static>(refs: impl IntoIterator<Item = ObjectRef<T>>) {
    taskref::block_get_all(refs).expect("tasks");
}

fn batches_of(n: u64, size: u64) -> impl Iterator<Item = Vec<u64>> {
    (0..n / size).map(move |b| (b * size..(b + 1) * size).collect())
}

/// Runs W2 (100 tasks of a 10 ms sleep) on a fresh runtime, looped or
/// gathered, writes its timeline as an SVG picture and a Chrome trace, and
/// returns it.
fn picture(
    looped: bool,
    svg: &Path,
    trace: &Path,
) -> Result<taskref::Timeline, Box<dyn std::error::Error>> {
    let rt = Runtime::builder()
        .anti_patterns(AntiPatterns::Off)
        .build()?;
    let sleepy = rt.remote(|i: u64| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        i
    });
    if looped {
        for i in 0..100 {
            sleepy.remote(i).block_get()?;
        }
    } else {
        taskref::block_get_all((0..100).map(|i| sleepy.remote(i)))?;
    }
    let timeline = rt.timeline();
    timeline.write_svg(svg)?;
    timeline.write_chrome_trace(trace)?;
    println!(
        "  {:<13} parallelism {:>5.1}  picture {}  trace {}",
        if looped { "get in a loop" } else { "gathered" },
        rt.stats().parallelism(),
        svg.display(),
        trace.display()
    );
    Ok(timeline)
}

/// Each anti-pattern once more, on a small scale, so the detector's reports
/// (printed by the subscriber installed in `main`) can be read one by one.
fn detector_demo() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new()?; // anti_patterns: Warn, the default
    let sleepy = rt.remote(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    println!("\n1. get in a loop:");
    for _ in 0..3 {
        sleepy.remote(2).block_get()?;
    }
    println!("\n2. results in submission order:");
    let refs: Vec<_> = [20, 2, 40, 2, 60, 2, 80, 2]
        .iter()
        .map(|&ms| sleepy.remote(ms))
        .collect();
    for r in refs {
        r.block_get()?;
    }
    println!("\n3. a blocking get inside async code:");
    let inner = rt.clone();
    rt.spawn(async move { inner.spawn(async { 1 }).block_get() })
        .block_get()??;
    println!("\n4. an error nobody read:");
    let failing = rt
        .remote(|_: ()| async { panic!("nobody looks at me") })
        .name("ignored");
    let r = failing.remote(());
    taskref::block_wait(std::slice::from_ref(&r), 1, None)?;
    drop(r);
    println!("\n5. a get on task arguments (a task waits on a ref it captured):");
    let slow = sleepy.remote(30);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let captured = slow.clone();
            rt.spawn(async move { captured.await })
        })
        .collect();
    taskref::block_get_all(waiters)?;
    println!("\n6. too fine-grained tasks (10,000 tasks that each double a number):");
    let double = rt.remote(|x: u64| async move { x * 2 });
    taskref::block_get_all((0..10_000).map(|x| double.remote(x)))?;
    println!("\n7. an unbounded backlog (a line that keeps submitting faster than tasks start):");
    unbounded_backlog()?;
    println!(
        "\n(the unnecessary get is not detected: telling it from a legitimate get \
         needs data flow the runtime cannot see; the W5 rows above show its cost)"
    );
    println!("\nWhat each line that waited cost (rt.wait_costs(), costliest first):");
    for cost in rt.wait_costs().iter().take(5) {
        println!("  {cost}");
    }
    Ok(())
}

/// A stream of 1 ms tasks submitted ten times faster than one CPU runs
/// them, until the detector reports it (about 5 s); then the same stream
/// through `map_unordered`, which keeps 4 in flight, and no report.
fn unbounded_backlog() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().num_cpus(1).build()?;
    let work = rt.remote_blocking(|x: u64| {
        std::thread::sleep(Duration::from_millis(1));
        x
    });
    let start = Instant::now();
    let mut refs = Vec::new();
    while start.elapsed() < Duration::from_secs(6) {
        let r = work.remote(refs.len() as u64);
        refs.push(r);
        if refs.len() > 10_000 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    println!(
        "   ({} submitted in 6 s, {} still waiting; the runtime is shut down to drop them)",
        refs.len(),
        refs.iter().filter(|r| !r.is_ready()).count()
    );
    rt.shutdown();
    let rt = Runtime::builder().num_cpus(1).build()?;
    let work = rt.remote_blocking(|x: u64| {
        std::thread::sleep(Duration::from_millis(1));
        x
    });
    let done = taskref::block_map_unordered(0..2_000u64, 4, |x| work.remote(x))?.count();
    println!("   the fix, map_unordered(items, 4, f): {done} done, at most 4 in flight, no report");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The detector reports through `tracing`: show its warnings.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    // Panicking tasks are expected below; keep the output to the reports.
    std::panic::set_hook(Box::new(|_| {}));

    // The timings run with the detector off; its reports come at the end,
    // one pattern at a time.
    let rt = Runtime::builder()
        .anti_patterns(AntiPatterns::Off)
        .build()?;
    let mut rows = Vec::new();

    // W1, seed: 100 tasks f(i) = i.
    let seed = rt.remote(|i: u64| async move { i });
    rows.extend(get_in_a_loop(&rt, "W1 seed, 100 x f(i)=i", |i| {
        seed.remote(i)
    }));

    // W2, latency-bound: 100 tasks that sleep 10 ms.
    let sleepy = rt.remote(|i: u64| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        i
    });
    rows.extend(get_in_a_loop(&rt, "W2 100 x sleep 10 ms", |i| {
        sleepy.remote(i)
    }));

    // W5, unnecessary get: an 8 MB producer, a consumer that sums it.
    let produce = &rt.remote(|n: usize| async move { vec![1u8; n] });
    let consume = &rt.remote_blocking(|v: Vec<u8>| v.iter().map(|&b| u64::from(b)).sum::<u64>());
    const MB8: usize = 8 << 20;
    rows.extend(measure(
        &rt,
        "unnecessary get",
        "W5 8 MB produce -> sum",
        |rt, face| {
            time(rt, face, |face| async move {
                // Fetch it (a copy, like `ray.get`)...
                let r = produce.remote(MB8);
                let value = match face {
                    Face::Async => r.get().await.expect("task"),
                    Face::Blocking => r.block_get().expect("task"),
                };
                get(face, consume.remote(value)).await; // ...only to send it back.
            })
        },
        |rt, face| {
            time(rt, face, |face| async move {
                get(face, consume.remote(produce.remote(MB8))).await; // pass the ref
            })
        },
    ));

    // W4, result order: 30 tasks of 10..100 ms; each result costs 10 ms to process.
    let w4 = &rt.remote(|i: u64| async move {
        tokio::time::sleep(Duration::from_millis(((i * 7) % 10 + 1) * 10)).await;
        i
    });
    rows.extend(measure(
        &rt,
        "submission order",
        "W4 30 tasks, 10 ms processing",
        |rt, face| {
            time(rt, face, |face| async move {
                let refs: Vec<_> = (0..30).map(|i| w4.remote(i)).collect();
                for r in refs {
                    get(face, r).await;
                    process(face, 10).await;
                }
            })
        },
        |rt, face| {
            time(rt, face, |face| async move {
                let refs: Vec<_> = (0..30).map(|i| w4.remote(i)).collect();
                match face {
                    Face::Async => {
                        let mut done = taskref::as_completed(refs);
                        while let Some((_, value)) = done.next().await {
                            value.expect("task");
                            process(face, 10).await;
                        }
                    }
                    Face::Blocking => {
                        for (_, value) in taskref::block_as_completed(refs).expect("plain thread") {
                            value.expect("task");
                            process(face, 10).await;
                        }
                    }
                }
            })
        },
    ));

    println!(
        "{:<18} {:<30} {:<9} {:>12} {:>12} {:>9}",
        "anti-pattern", "workload", "face", "wrong (ms)", "fixed (ms)", "speed-up"
    );
    println!("{}", "-".repeat(95));
    for row in &rows {
        println!(
            "{:<18} {:<30} {:<9} {:>12.2} {:>12.2} {:>8.1}x",
            row.anti_pattern,
            row.workload,
            row.face.name(),
            row.wrong.as_secs_f64() * 1e3,
            row.fixed.as_secs_f64() * 1e3,
            row.wrong.as_secs_f64() / row.fixed.as_secs_f64(),
        );
    }
    println!("(median of {RUNS} runs each, wrong and fixed alternated)");
    println!();
    too_fine_grained_table(&rt);
    println!();
    println!("Pictures of W2 (open the SVGs in a browser, the traces in Perfetto):");
    // Next to the crate's sources, whatever the working directory and the
    // target directory are; the traces go beside the pictures.
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&docs)?;
    let looped = picture(
        true,
        &docs.join("get_in_a_loop.svg"),
        &docs.join("get_in_a_loop.trace.json"),
    )?;
    let gathered = picture(
        false,
        &docs.join("gathered.svg"),
        &docs.join("gathered.trace.json"),
    )?;
    let both = docs.join("w2_loop_vs_gathered.svg");
    taskref::Timeline::write_stacked_svg(
        &both,
        &[("W2 get in a loop", &looped), ("W2 gathered", &gathered)],
    )?;
    println!("  both, one time axis          picture {}", both.display());
    println!();
    println!("What to take away:");
    println!(
        "  get in a loop     submit every task first, then gather once (get_all / block_get_all):"
    );
    println!("                    waiting right after each submit runs the tasks one at a time.");
    println!(
        "  unnecessary get   pass the ObjectRef to the next task instead of its value: the caller"
    );
    println!(
        "                    never waits, and the consumer takes the value without a copy. In one"
    );
    println!(
        "                    process that saves a copy and a round trip (small here); in Ray, a"
    );
    println!("                    serialisation through the object store.");
    println!(
        "  submission order  process results as they complete (as_completed / wait), not in the"
    );
    println!("                    order you submitted them: slow early tasks stop blocking fast later ones.");
    println!();
    println!("What the anti-pattern detector says (AntiPatterns::Warn, the default):");
    detector_demo()?;
    Ok(())
}
