//! Ray measured on this machine, in the same invocation: runs
//! `benches/ray_names.py` with a Python that can import `ray`, and reads the
//! JSON lines it prints.
//!
//! The Python is `TASKREF_RAY_PYTHON` if set, else `.venv-ray/bin/python` in
//! the repository root if it exists, else `python3`. If it cannot import
//! `ray`, the bench says so in one line and shows taskref and the published
//! figures only.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::timeit::{Rate, Timing};

/// Ray's figures from this machine, by `perf_metric_name`.
pub(crate) struct RayHere {
    pub(crate) version: String,
    pub(crate) rates: HashMap<String, Rate>,
}

/// The Python to run Ray with, if one can import it; else why not.
pub(crate) fn find_python() -> Result<PathBuf, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("TASKREF_RAY_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(root.join(".venv-ray/bin/python")).filter(|p| p.exists()))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let imports = Command::new(&python)
        .args(["-c", "import ray"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if imports {
        Ok(python)
    } else {
        Err(format!(
            "`{} -c \"import ray\"` fails: no Ray column (set TASKREF_RAY_PYTHON or create \
             .venv-ray with `pip install ray`)",
            python.display()
        ))
    }
}

/// Runs the script with `timing` on the names containing one of `filters`
/// (all if none), at most `limit` long; `Err` says what failed.
pub(crate) fn measure(
    python: &PathBuf,
    timing: Timing,
    filters: &[String],
    limit: Duration,
) -> Result<RayHere, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/ray_names.py");
    let mut child = Command::new(python)
        .arg(&script)
        .args(["--warmup", &timing.warm_up.as_secs_f64().to_string()])
        .args(["--duration", &timing.duration.as_secs_f64().to_string()])
        .args(["--runs", &timing.runs.to_string()])
        .args(["--divide", &timing.divide.to_string()])
        .arg("--only")
        .args(filters)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", python.display()))?;
    // Read both pipes on threads, so that a chatty Ray cannot fill one and
    // stall while this thread waits for the child.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("Ray did not finish within {limit:?}; killed"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    if !status.success() {
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        return Err(format!(
            "the Ray script failed ({status}): {}",
            tail.join(" | ")
        ));
    }
    parse(&out)
}

/// The script's JSON lines: `{"ray_version": ...}`, then one
/// `{"name", "ops_per_s", "sd"}` per benchmark. Other lines are ignored.
fn parse(out: &str) -> Result<RayHere, String> {
    let mut here = RayHere {
        version: String::from("?"),
        rates: HashMap::new(),
    };
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(version) = v["ray_version"].as_str() {
            here.version = version.to_string();
        } else if let (Some(name), Some(mean), Some(sd)) = (
            v["name"].as_str(),
            v["ops_per_s"].as_f64(),
            v["sd"].as_f64(),
        ) {
            here.rates.insert(name.to_string(), Rate { mean, sd });
        }
    }
    if here.rates.is_empty() {
        Err("the Ray script printed no figures".to_string())
    } else {
        Ok(here)
    }
}
