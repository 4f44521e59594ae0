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
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Stats::of_ms(&ms)
    }

    /// From nanoseconds, as fresh child processes report them.
    pub(crate) fn of_ns(ns: &[f64]) -> Stats {
        let ms: Vec<f64> = ns.iter().map(|ns| ns / 1e6).collect();
        Stats::of_ms(&ms)
    }

    fn of_ms(ms: &[f64]) -> Stats {
        let mut ms = ms.to_vec();
        ms.sort_by(f64::total_cmp);
        Stats {
            median_ms: quantile(&ms, 0.5),
            min_ms: ms[0],
            max_ms: ms[ms.len() - 1],
            runs: ms.len(),
        }
    }
}

/// The per-pair ratios taskref / tokio of one measurement: pair i is the i-th
/// taskref run and the i-th tokio run, made next to each other, so a noisy
/// moment weighs on both sides of one ratio rather than on one side of the
/// ratio of medians.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ratios {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// The quartiles, for measurements of many pairs (W1) where min and max
    /// are the noise's extremes rather than a spread.
    pub(crate) q1: f64,
    pub(crate) q3: f64,
    pub(crate) pairs: usize,
}

impl Ratios {
    pub(crate) fn of(taskref: &[f64], tokio: &[f64]) -> Ratios {
        assert_eq!(taskref.len(), tokio.len(), "ratios need pairs");
        assert!(!taskref.is_empty(), "ratios need at least one pair");
        let mut r: Vec<f64> = taskref.iter().zip(tokio).map(|(a, b)| a / b).collect();
        r.sort_by(f64::total_cmp);
        Ratios {
            median: quantile(&r, 0.5),
            min: r[0],
            max: r[r.len() - 1],
            q1: quantile(&r, 0.25),
            q3: quantile(&r, 0.75),
            pairs: r.len(),
        }
    }

    pub(crate) fn of_durations(samples: &(Vec<Duration>, Vec<Duration>)) -> Ratios {
        let secs = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
        Ratios::of(&secs(&samples.0), &secs(&samples.1))
    }

    /// WORKLOADS.md's rule for the large workloads: met only if every pair is
    /// within the target; a min-max range across it is not "met".
    pub(crate) fn verdict(&self, target: f64) -> Verdict {
        if self.max <= target {
            Verdict::Met
        } else if self.min > target {
            Verdict::NotMet
        } else if self.median <= target {
            Verdict::StraddlesBelow
        } else {
            Verdict::StraddlesAbove
        }
    }
}

/// How a row's ratios are judged against its target.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Rule {
    /// Every pair within the target (WORKLOADS.md's rule for the large
    /// workloads: a min-max range across the target is not "met").
    Range,
    /// The median pair within the target (W1: many cheap repetitions, whose
    /// extremes are the machine's noise).
    Median,
}

/// A ratio against its target.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Verdict {
    Met,
    NotMet,
    /// The min-max range crosses the target; the median is within it.
    StraddlesBelow,
    /// The min-max range crosses the target; the median is over it.
    StraddlesAbove,
}

impl Verdict {
    /// For a rule on the median alone (W1: the median of 200 repetitions).
    pub(crate) fn of_median(ratios: &Ratios, target: f64) -> Verdict {
        if ratios.median <= target {
            Verdict::Met
        } else {
            Verdict::NotMet
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "NOT MET",
            Verdict::StraddlesBelow => "STRADDLES (median within)",
            Verdict::StraddlesAbove => "STRADDLES (median over)",
        }
    }
}

/// "1 pair", "5 pairs".
fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The median of `values` (any order).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

/// The `q` quantile of sorted values, interpolating between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
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
    /// Per-pair ratios, where the row has them; the table's ratio column is
    /// then their median rather than the ratio of the medians.
    pub(crate) ratios: Option<Ratios>,
    /// The target ratio, the rule it is judged by, and the verdict.
    pub(crate) target: Option<(f64, Rule, Verdict)>,
    /// How the figures were taken ("fresh", "in-process").
    pub(crate) method: &'static str,
    /// Derived figures and targets, for the reader.
    pub(crate) note: String,
}

impl Row {
    /// A row of in-process figures, without ratios or a target.
    pub(crate) fn new(
        workload: impl Into<String>,
        variant: impl Into<String>,
        face: Face,
        figures: Figures,
    ) -> Row {
        Row {
            workload: workload.into(),
            variant: variant.into(),
            face,
            figures,
            ratios: None,
            target: None,
            method: "in-process",
            note: String::new(),
        }
    }
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
        let mut row = Row::new(workload, variant, face, Figures::Times { taskref, tokio });
        row.note = note.into();
        self.push(row);
        (taskref, tokio)
    }

    /// Adds a row measured in fresh processes ([`crate::fresh`]), judged by
    /// its per-pair ratios against `target` with WORKLOADS.md's min-max rule.
    pub(crate) fn fresh(&mut self, row: Row, ratios: Ratios, target: f64) -> Verdict {
        self.judged(row, ratios, target, "fresh")
    }

    /// Adds a row judged by its per-pair ratios against `target` with the
    /// min-max rule; `method` says how the pairs were taken.
    pub(crate) fn judged(
        &mut self,
        mut row: Row,
        ratios: Ratios,
        target: f64,
        method: &'static str,
    ) -> Verdict {
        let verdict = ratios.verdict(target);
        row.ratios = Some(ratios);
        row.target = Some((target, Rule::Range, verdict));
        row.method = method;
        self.push(row);
        self.note(format!(
            "{method}, {}: ratio median {:.2} [min {:.2}, max {:.2}]; <= {target}: {}",
            plural(ratios.pairs, "pair"),
            ratios.median,
            ratios.min,
            ratios.max,
            verdict.name()
        ));
        verdict
    }

    /// Judges the last row by the median of its per-pair `ratios` alone (many
    /// in-process pairs: W1), and notes it.
    pub(crate) fn judge_median(&mut self, ratios: Ratios, target: f64, extra: &str) {
        let verdict = Verdict::of_median(&ratios, target);
        if let Some(row) = self.rows.last_mut() {
            row.ratios = Some(ratios);
            row.target = Some((target, Rule::Median, verdict));
        }
        self.note(format!(
            "median of {} per-repetition ratios {:.2} [quartiles {:.2}, {:.2}]; <= {target}: {}{extra}",
            ratios.pairs,
            ratios.median,
            ratios.q1,
            ratios.q3,
            verdict.name()
        ));
    }

    /// Adds to the note of the last row (derived figures, targets).
    pub(crate) fn note(&mut self, note: String) {
        if let Some(row) = self.rows.last_mut() {
            println!("          ^ {note}");
            if !row.note.is_empty() {
                row.note.push_str("; ");
            }
            row.note.push_str(&note);
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
        println!(
            "ratio = taskref / tokio (lower is better for taskref): the median of per-pair ratios \
             where a row has pairs, else the ratio of the medians"
        );
        let targets: Vec<&Row> = self.rows.iter().filter(|r| r.target.is_some()).collect();
        if !targets.is_empty() {
            println!();
            println!(
                "targets (issue 13): median ratio [min, max] of the pairs, met only if the \
                 whole range is within; W1: [quartiles], judged by the median"
            );
            for row in targets {
                let (target, rule, verdict) = row.target.expect("filtered");
                let r = row.ratios.expect("a judged row has ratios");
                let (lo, hi) = match rule {
                    Rule::Range => (r.min, r.max),
                    Rule::Median => (r.q1, r.q3),
                };
                println!(
                    "  {:<5} {:<28} {:<8} {:>7.2} [{lo:.2}, {hi:.2}] <= {:<4} {:>9} {:<10} {}",
                    row.workload,
                    row.variant,
                    row.face.name(),
                    r.median,
                    target,
                    plural(r.pairs, "pair"),
                    row.method,
                    verdict.name()
                );
            }
        }
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
            let mut base = format!(
                "\"workload\": {}, \"variant\": {}, \"face\": {}, \"quick\": {}, \"method\": {}",
                json_str(&row.workload),
                json_str(&row.variant),
                json_str(row.face.name()),
                self.quick,
                json_str(row.method)
            );
            if let Some(r) = row.ratios {
                let _ = write!(
                    base,
                    ", \"ratio_median\": {:.4}, \"ratio_min\": {:.4}, \"ratio_max\": {:.4}, \"ratio_q1\": {:.4}, \"ratio_q3\": {:.4}, \"pairs\": {}",
                    r.median, r.min, r.max, r.q1, r.q3, r.pairs
                );
            }
            if let Some((target, rule, verdict)) = row.target {
                let rule = match rule {
                    Rule::Range => "min-max",
                    Rule::Median => "median",
                };
                let _ = write!(
                    base,
                    ", \"target\": {target}, \"rule\": \"{rule}\", \"verdict\": {}",
                    json_str(verdict.name())
                );
            }
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
    let (a, b, of_medians) = match row.figures {
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
    let ratio = row.ratios.map_or(of_medians, |r| r.median);
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
