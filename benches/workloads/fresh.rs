//! Fresh-process pairs: how the large workloads are measured (WORKLOADS.md,
//! "How to measure the large workloads").
//!
//! A process that has just run a million tasks leaves its allocator, its
//! runtime's queues and the kernel's page tables in a state the next
//! measurement inherits, and which system inherits it depends on the order. So
//! each run of a large workload is a child process of its own: the bench
//! re-executes its own binary with [`CHILD_ENV`] naming the probe, the system
//! and the size; the child builds only that system's runtime, runs the
//! workload once (after a small warm-up of its own, where the probe has one)
//! and prints one line, [`RESULT_PREFIX`] and the figure (elapsed ns, or bytes
//! per task). The parent runs taskref and tokio alternately, A B A B, for
//! `Config::pairs` pairs, and reports the median of the per-pair ratios with
//! their min and max ([`Ratios`]).

use std::process::Command;

use crate::report::Ratios;

/// Set in a child's environment to `probe:system:size`.
pub(crate) const CHILD_ENV: &str = "TASKREF_BENCH_FRESH";
/// Prefix of the one line a child prints for its parent.
const RESULT_PREFIX: &str = "taskref-bench-fresh=";

/// Which system a child measures.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum System {
    Taskref,
    Tokio,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Taskref => "taskref",
            System::Tokio => "tokio",
        }
    }

    fn parse(name: &str) -> Option<System> {
        match name {
            "taskref" => Some(System::Taskref),
            "tokio" => Some(System::Tokio),
            _ => None,
        }
    }
}

/// One measurement a child process can make.
#[derive(Clone, Copy)]
pub(crate) struct Probe {
    /// Unique across the bench; a child finds its probe by this name.
    pub(crate) name: &'static str,
    /// Builds `system`, runs the workload once at size `n`, returns the figure.
    pub(crate) run: fn(System, usize) -> f64,
}

/// The figures of `pairs` alternating runs, one process each.
pub(crate) struct Pairs {
    pub(crate) taskref: Vec<f64>,
    pub(crate) tokio: Vec<f64>,
}

impl Pairs {
    pub(crate) fn ratios(&self) -> Ratios {
        Ratios::of(&self.taskref, &self.tokio)
    }
}

/// In a child process (its environment names a probe): runs the probe, prints
/// its figure, and returns `true`; otherwise returns `false` at once.
pub(crate) fn child_main(probes: &[Probe]) -> bool {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return false;
    };
    let mut parts = spec.rsplitn(3, ':');
    let (n, system, name) = (parts.next(), parts.next(), parts.next());
    let n: usize = n
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad {CHILD_ENV}={spec}"));
    let system = system
        .and_then(System::parse)
        .unwrap_or_else(|| panic!("bad {CHILD_ENV}={spec}"));
    let probe = probes
        .iter()
        .find(|p| Some(p.name) == name)
        .unwrap_or_else(|| panic!("no probe for {CHILD_ENV}={spec}"));
    let figure = (probe.run)(system, n);
    println!("{RESULT_PREFIX}{figure}");
    true
}

/// The probe named `name` (a typo is a bug in the bench: panics).
pub(crate) fn find<'a>(probes: &'a [Probe], name: &str) -> &'a Probe {
    probes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no probe named {name}"))
}

/// Runs `probe` at size `n` in fresh child processes, taskref then tokio,
/// `pairs` times.
pub(crate) fn alternate(probe: &Probe, n: usize, pairs: usize) -> Pairs {
    let mut out = Pairs {
        taskref: Vec::with_capacity(pairs),
        tokio: Vec::with_capacity(pairs),
    };
    for _ in 0..pairs {
        out.taskref.push(run_child(probe, System::Taskref, n));
        out.tokio.push(run_child(probe, System::Tokio, n));
    }
    out
}

fn run_child(probe: &Probe, system: System, n: usize) -> f64 {
    let spec = format!("{}:{}:{n}", probe.name, system.name());
    let output = Command::new(std::env::current_exe().expect("the bench binary"))
        .env(CHILD_ENV, &spec)
        .output()
        .unwrap_or_else(|e| panic!("could not start the child for {spec}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .and_then(|v| v.trim().parse().ok())
        .filter(|_| output.status.success())
        .unwrap_or_else(|| {
            panic!(
                "the child for {spec} failed ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
}
