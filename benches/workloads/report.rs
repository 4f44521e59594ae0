//! The table and the JSON lines.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::systems::{Config, Face};

/// Summary of one measurement's runs.
#[derive(Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) median_ms: f64,
    pub(crate) min_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) runs: usize,
}

impl Stats {
    pub(crate) fn of(samples: &[Duration]) -> Stats {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let median = if ms.len() % 2 == 1 {
            ms[ms.len() / 2]
        } else {
            (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
        };
        Stats {
            median_ms: median,
            min_ms: ms[0],
            max_ms: ms[ms.len() - 1],
            runs: ms.len(),
        }
    }
}

/// What a row reports: times, or (M1) bytes per task.
#[derive(Clone, Copy)]
pub(crate) enum Figures {
    Times { taskref: Stats, tokio: Stats },
    BytesPerTask { taskref: f64, tokio: f64 },
}

pub(crate) struct Row {
    pub(crate) workload: String,
    pub(crate) variant: String,
    pub(crate) face: Face,
    pub(crate) figures: Figures,
    /// Derived figures and targets, for the reader.
    pub(crate) note: String,
}

pub(crate) struct Report {
    rows: Vec<Row>,
    quick: bool,
}

impl Report {
    pub(crate) fn new(config: &Config) -> Report {
        Report {
            rows: Vec::new(),
            quick: config.quick,
        }
    }

    /// Adds a timed pair and prints it at once (a long run shows progress).
    pub(crate) fn times(
        &mut self,
        workload: impl Into<String>,
        variant: impl Into<String>,
        face: Face,
        samples: (Vec<std::time::Duration>, Vec<std::time::Duration>),
        note: impl Into<String>,
    ) -> (Stats, Stats) {
        let (taskref, tokio) = (Stats::of(&samples.0), Stats::of(&samples.1));
        self.push(Row {
            workload: workload.into(),
            variant: variant.into(),
            face,
            figures: Figures::Times { taskref, tokio },
            note: note.into(),
        });
        (taskref, tokio)
    }

    /// Sets the note of the last row (derived figures, targets).
    pub(crate) fn note(&mut self, note: String) {
        if let Some(row) = self.rows.last_mut() {
            println!("          ^ {note}");
            row.note = note;
        }
    }

    pub(crate) fn push(&mut self, row: Row) {
        println!("{}", format_row(&row));
        self.rows.push(row);
    }

    pub(crate) fn print(&self) {
        println!();
        println!("{}", header());
        println!("{}", "-".repeat(header().len()));
        for row in &self.rows {
            println!("{}", format_row(row));
        }
        println!("ratio = taskref / tokio (lower is better for taskref); medians");
    }

    pub(crate) fn write_jsonl(&self) {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("taskref-bench");
        std::fs::create_dir_all(&dir).expect("create target/taskref-bench");
        let path = dir.join("workloads.jsonl");
        let mut out = String::new();
        for row in &self.rows {
            let base = format!(
                "\"workload\": {}, \"variant\": {}, \"face\": {}, \"quick\": {}",
                json_str(&row.workload),
                json_str(&row.variant),
                json_str(row.face.name()),
                self.quick
            );
            match row.figures {
                Figures::Times { taskref, tokio } => {
                    for (system, s) in [("taskref", taskref), ("tokio", tokio)] {
                        let _ = writeln!(
                            out,
                            "{{{base}, \"system\": \"{system}\", \"median_ms\": {:.6}, \"min_ms\": {:.6}, \"max_ms\": {:.6}, \"runs\": {}}}",
                            s.median_ms, s.min_ms, s.max_ms, s.runs
                        );
                    }
                }
                Figures::BytesPerTask { taskref, tokio } => {
                    for (system, bytes) in [("taskref", taskref), ("tokio", tokio)] {
                        let _ = writeln!(
                            out,
                            "{{{base}, \"system\": \"{system}\", \"bytes_per_task\": {bytes:.1}}}"
                        );
                    }
                }
            }
        }
        let mut file = std::fs::File::create(&path).expect("create workloads.jsonl");
        file.write_all(out.as_bytes())
            .expect("write workloads.jsonl");
        println!("wrote {}", path.display());
    }
}

fn header() -> String {
    format!(
        "{:<9} {:<22} {:<8} {:>13} {:>13} {:>7}  {}",
        "workload", "variant", "face", "taskref", "tokio", "ratio", "note"
    )
}

fn format_row(row: &Row) -> String {
    let (a, b, ratio) = match row.figures {
        Figures::Times { taskref, tokio } => (
            format!("{:.3} ms", taskref.median_ms),
            format!("{:.3} ms", tokio.median_ms),
            taskref.median_ms / tokio.median_ms,
        ),
        Figures::BytesPerTask { taskref, tokio } => (
            format!("{taskref:.0} B"),
            format!("{tokio:.0} B"),
            taskref / tokio,
        ),
    };
    format!(
        "{:<9} {:<22} {:<8} {:>13} {:>13} {:>7.2}  {}",
        row.workload,
        row.variant,
        row.face.name(),
        a,
        b,
        ratio,
        row.note
    )
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
