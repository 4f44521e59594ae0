//! The SVG Gantt picture of a `Timeline`.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::stats::Outcome;
use super::timeline::Timeline;

const LEFT: f64 = 150.0;
const PLOT_WIDTH: f64 = 1000.0;
const TOP: f64 = 40.0;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "#4c9a5b",
        Outcome::Failed => "#c94a44",
        Outcome::Cancelled => "#9a9a9a",
        Outcome::Shutdown => "#d08a2c",
    }
}

/// Assigns each interval the first lane free at its start (greedy interval
/// partitioning: as many lanes as the most intervals overlapping at once).
fn lanes(intervals: &[(Duration, Duration)]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..intervals.len()).collect();
    order.sort_by_key(|&i| intervals[i].0);
    let mut lane_free_at: Vec<Duration> = Vec::new();
    let mut assigned = vec![0; intervals.len()];
    for i in order {
        let (start, end) = intervals[i];
        let lane = match lane_free_at.iter().position(|&free| free <= start) {
            Some(lane) => lane,
            None => {
                lane_free_at.push(Duration::ZERO);
                lane_free_at.len() - 1
            }
        };
        lane_free_at[lane] = end.max(start + Duration::from_nanos(1));
        assigned[i] = lane;
    }
    (assigned, lane_free_at.len())
}

/// A round step for the time axis: 1, 2 or 5 times a power of ten, in ms.
fn tick_step(span_ms: f64) -> f64 {
    let rough = (span_ms / 10.0).max(1e-6);
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

/// Lanes for tasks first, then a band of lanes for each actor (in order of
/// its first call), so every actor's calls share their own row: one lane for
/// an actor running calls one at a time. Returns each interval's lane, the
/// lane count, and each actor's name with its first lane.
fn grouped_lanes(
    groups: &[Option<&str>],
    intervals: &[(Duration, Duration)],
) -> (Vec<usize>, usize, Vec<(String, usize)>) {
    let mut order: Vec<Option<&str>> = vec![None];
    for group in groups {
        if !order.contains(group) {
            order.push(*group);
        }
    }
    let mut assigned = vec![0; intervals.len()];
    let mut first_lane = 0;
    let mut bands = Vec::new();
    for group in order {
        let members: Vec<usize> = (0..intervals.len())
            .filter(|&i| groups[i] == group)
            .collect();
        let spans: Vec<_> = members.iter().map(|&i| intervals[i]).collect();
        let (lane, count) = lanes(&spans);
        for (k, &i) in members.iter().enumerate() {
            assigned[i] = first_lane + lane[k];
        }
        if let Some(actor) = group {
            bands.push((actor.to_owned(), first_lane));
        }
        first_lane += count;
    }
    (assigned, first_lane, bands)
}

// The picture methods of `Timeline` live here, beside the drawing, so that
// the timeline's records do not depend on how they are drawn.
impl Timeline {
    /// An SVG Gantt picture of this timeline; see [`write_svg`](Timeline::write_svg).
    pub fn svg(&self) -> String {
        render(self)
    }

    /// Writes an SVG Gantt picture to `path`: the caller's waits on top, then
    /// one lane per concurrently running task, bars coloured by outcome, a time
    /// axis in ms, and each bar's task, times and outcome on hover.
    ///
    /// # Errors
    ///
    /// The I/O error if the file cannot be written.
    pub fn write_svg(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.svg())
    }

    /// One SVG picture of several timelines, stacked top to bottom on the same
    /// time scale (each from its own first event), each titled with its label:
    /// the same workload written two ways, compared at a glance. See
    /// [`write_stacked_svg`](Timeline::write_stacked_svg).
    ///
    /// ```
    /// let rt = taskref::Runtime::new()?;
    /// let f = rt.remote(|x: u64| async move { x });
    /// f.remote(1).block_get()?;
    /// let looped = rt.timeline();
    /// rt.clear_timeline();
    /// taskref::block_get_all([f.remote(1), f.remote(2)])?;
    /// let gathered = rt.timeline();
    /// let svg = taskref::Timeline::stacked_svg(&[("loop", &looped), ("gathered", &gathered)]);
    /// assert!(svg.contains("loop: 1 task") && svg.contains("gathered: 2 tasks"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stacked_svg(panels: &[(&str, &Timeline)]) -> String {
        render_stacked(panels)
    }

    /// Writes [`stacked_svg`](Timeline::stacked_svg) to `path`.
    ///
    /// # Errors
    ///
    /// The I/O error if the file cannot be written.
    pub fn write_stacked_svg(
        path: impl AsRef<Path>,
        panels: &[(&str, &Timeline)],
    ) -> io::Result<()> {
        std::fs::write(path, Timeline::stacked_svg(panels))
    }
}

pub(crate) fn render(timeline: &Timeline) -> String {
    render_panel(timeline, None, None).0
}

/// Several timelines stacked top to bottom on one time scale (each from its
/// own first event), each with its label in its title: the picture that shows
/// one workload written two ways at a glance.
pub(crate) fn render_stacked(panels: &[(&str, &Timeline)]) -> String {
    let axis_ms = panels
        .iter()
        .map(|(_, timeline)| span_of(timeline).2)
        .fold(1e-3, f64::max);
    let mut body = String::new();
    let (mut height, mut width) = (0.0f64, LEFT + PLOT_WIDTH + 20.0);
    for (label, timeline) in panels {
        let (panel, panel_height, panel_width) = render_panel(timeline, Some(axis_ms), Some(label));
        // A nested `<svg>` placed with `y`: each panel keeps its own coordinates.
        body.push_str(&panel.replacen("<svg ", &format!(r#"<svg y="{height:.0}" "#), 1));
        height += panel_height;
        width = width.max(panel_width);
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n"
    )
}

/// The first and last moment of a timeline, and the span between them in ms.
fn span_of(timeline: &Timeline) -> (Duration, Duration, f64) {
    let tasks = timeline
        .tasks()
        .iter()
        .map(|t| (t.started.unwrap_or(t.ended), t.ended));
    let waits = timeline.waits().iter().map(|w| (w.started, w.ended));
    let (mut start, mut end) = (None::<Duration>, Duration::ZERO);
    for (s, e) in tasks.chain(waits) {
        start = Some(start.map_or(s, |start| start.min(s)));
        end = end.max(e.max(s));
    }
    let start = start.unwrap_or_default();
    let span_ms = (end.saturating_sub(start).as_secs_f64() * 1e3).max(1e-3);
    (start, end, span_ms)
}

/// `n` and the noun, singular or plural.
fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// How many of the longest waits a picture outlines.
const COSTLIEST_WAITS: usize = 3;

/// The most item ticks one picture draws.
const MAX_ITEM_TICKS: usize = 1000;

/// One timeline's picture; `axis_ms` forces the length of the time axis (to
/// compare pictures), `label` names the picture in its title. Returns the SVG
/// with its height and width.
fn render_panel(
    timeline: &Timeline,
    axis_ms: Option<f64>,
    label: Option<&str>,
) -> (String, f64, f64) {
    let tasks = timeline.tasks();
    let waits = timeline.waits();
    let task_spans: Vec<(Duration, Duration)> = tasks
        .iter()
        .map(|t| {
            let start = t.started.unwrap_or(t.ended);
            (start, t.ended.max(start))
        })
        .collect();
    let wait_spans: Vec<(Duration, Duration)> = waits
        .iter()
        .map(|w| (w.started, w.ended.max(w.started)))
        .collect();
    let (start, _, own_ms) = span_of(timeline);
    let span_ms = axis_ms.unwrap_or(own_ms);
    let x =
        |t: Duration| LEFT + (t.saturating_sub(start).as_secs_f64() * 1e3) / span_ms * PLOT_WIDTH;

    let (wait_lane, wait_lanes) = lanes(&wait_spans);
    let groups: Vec<Option<&str>> = tasks.iter().map(|t| t.task.actor()).collect();
    let (task_lane, task_lanes, actor_bands) = grouped_lanes(&groups, &task_spans);
    let rows = wait_lanes + task_lanes;
    let row = if rows <= 40 {
        16.0
    } else {
        (640.0 / rows as f64).max(2.0)
    };
    let bar = (row * 0.8).max(1.5);
    let tasks_top = TOP + wait_lanes as f64 * row + if wait_lanes > 0 { 12.0 } else { 0.0 };
    let height = tasks_top + task_lanes as f64 * row + 50.0;
    let width = LEFT + PLOT_WIDTH + 20.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="16" font-size="13">{}: {}, {}, {:.1} ms</text>"#,
        escape(label.unwrap_or("taskref timeline")),
        count(tasks.len(), "task"),
        count(waits.len(), "wait"),
        own_ms
    );
    // Legend.
    let mut lx = LEFT + 520.0;
    for (label, outcome) in [
        ("ok", Outcome::Ok),
        ("failed", Outcome::Failed),
        ("cancelled", Outcome::Cancelled),
        ("shutdown", Outcome::Shutdown),
    ] {
        let _ = writeln!(
            svg,
            r#"<rect x="{lx:.1}" y="7" width="10" height="10" fill="{}"/><text x="{:.1}" y="16">{label}</text>"#,
            colour(outcome),
            lx + 13.0
        );
        lx += 80.0;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{lx:.1}" y="7" width="10" height="10" fill="#5b7fb8"/><text x="{:.1}" y="16">caller waiting</text>"##,
        lx + 13.0
    );

    if wait_lanes > 0 {
        let _ = writeln!(
            svg,
            r#"<text x="8" y="{:.1}">caller (waits)</text>"#,
            TOP + row * 0.7
        );
    }
    let task_only_lanes = actor_bands.first().map_or(task_lanes, |band| band.1);
    if task_only_lanes > 0 {
        let _ = writeln!(
            svg,
            r#"<text x="8" y="{:.1}">tasks ({})</text>"#,
            tasks_top + row * 0.7,
            count(task_only_lanes, "lane")
        );
    }
    for (actor, lane) in &actor_bands {
        let y = tasks_top + *lane as f64 * row;
        let _ = writeln!(
            svg,
            r##"<line x1="8" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="8" y="{:.1}">actor {}</text>"##,
            LEFT + PLOT_WIDTH,
            y + row * 0.7,
            escape(actor)
        );
    }

    // The costliest waits (the longest, where the caller lost the most
    // time) are outlined in red.
    let mut by_length: Vec<usize> = (0..waits.len()).collect();
    by_length.sort_by_key(|&i| std::cmp::Reverse(wait_spans[i].1.saturating_sub(wait_spans[i].0)));
    let costliest: std::collections::HashSet<usize> =
        by_length.into_iter().take(COSTLIEST_WAITS).collect();
    for (i, wait) in waits.iter().enumerate() {
        let (s, e) = wait_spans[i];
        let y = TOP + wait_lane[i] as f64 * row;
        let outline = match costliest.contains(&i) {
            true => r##" stroke="#d62728" stroke-width="1.5""##,
            false => "",
        };
        let ids: Vec<String> = wait.refs.iter().map(|id| id.to_string()).collect();
        let more = if wait.ref_count > wait.refs.len() {
            ", ..."
        } else {
            ""
        };
        let title = format!(
            "{} at {}: waited {:.3} ms on {} ref(s) [{}{}]",
            wait.call,
            wait.location,
            e.saturating_sub(s).as_secs_f64() * 1e3,
            wait.ref_count,
            ids.join(", "),
            more
        );
        let _ = writeln!(
            svg,
            r##"<rect class="wait" x="{:.2}" y="{y:.2}" width="{:.2}" height="{bar:.2}" fill="#5b7fb8"{outline}><title>{}</title></rect>"##,
            x(s),
            (x(e) - x(s)).max(0.8),
            escape(&title)
        );
    }
    for (i, task) in tasks.iter().enumerate() {
        let (s, e) = task_spans[i];
        let y = tasks_top + task_lane[i] as f64 * row;
        let title = format!(
            "{} ({}): {:.3}-{:.3} ms, {:?}, submitted at {:.3} ms",
            task.task.label(),
            task.task.location(),
            s.saturating_sub(start).as_secs_f64() * 1e3,
            e.saturating_sub(start).as_secs_f64() * 1e3,
            task.outcome,
            task.submitted.saturating_sub(start).as_secs_f64() * 1e3,
        );
        let _ = writeln!(
            svg,
            r#"<rect class="task" x="{:.2}" y="{y:.2}" width="{:.2}" height="{bar:.2}" fill="{}"><title>{}</title></rect>"#,
            x(s),
            (x(e) - x(s)).max(0.8),
            colour(task.outcome),
            escape(&title)
        );
    }

    // A streaming task's items: a tick on its bar per item (the first
    // thousand per picture; more would only blacken the bar).
    let lane_of: std::collections::HashMap<_, _> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task.id(), task_lane[i]))
        .collect();
    for item in timeline.items().iter().take(MAX_ITEM_TICKS) {
        let Some(&lane) = lane_of.get(&item.task) else {
            continue;
        };
        let y = tasks_top + lane as f64 * row;
        let _ = writeln!(
            svg,
            r##"<line class="item" x1="{ix:.2}" y1="{y:.2}" x2="{ix:.2}" y2="{:.2}" stroke="#222" stroke-width="0.6"><title>item {}</title></line>"##,
            y + bar,
            item.number,
            ix = x(item.at),
        );
    }

    // Time axis.
    let axis_y = tasks_top + task_lanes as f64 * row + 10.0;
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#333"/>"##,
        LEFT + PLOT_WIDTH
    );
    let step = tick_step(span_ms);
    let mut tick = 0.0;
    while tick <= span_ms + 1e-9 {
        let tx = LEFT + tick / span_ms * PLOT_WIDTH;
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{axis_y:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#333"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            axis_y + 4.0,
            axis_y + 16.0,
            format_ms(tick, step)
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">ms</text>"#,
        LEFT + PLOT_WIDTH,
        axis_y + 30.0
    );
    svg.push_str("</svg>\n");
    (svg, height, width)
}

fn format_ms(value: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{value:.0}")
    } else {
        let decimals = (-step.log10()).ceil() as usize;
        format!("{value:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_actor_gets_its_own_band_of_lanes_after_the_tasks() {
        let ms = Duration::from_millis;
        let spans = [
            (ms(0), ms(10)),
            (ms(0), ms(5)),
            (ms(5), ms(9)),
            (ms(0), ms(10)),
            (ms(2), ms(4)),
        ];
        let groups = [None, Some("a"), Some("a"), None, Some("b")];
        let (lane, count, bands) = grouped_lanes(&groups, &spans);
        assert_eq!(&lane[..], &[0, 2, 2, 1, 3], "a's two calls share one lane");
        assert_eq!(count, 4);
        assert_eq!(bands, vec![("a".to_owned(), 2), ("b".to_owned(), 3)]);
    }

    #[test]
    fn lanes_are_as_many_as_the_most_overlapping() {
        let ms = Duration::from_millis;
        let spans = [
            (ms(0), ms(10)),
            (ms(5), ms(15)),
            (ms(10), ms(20)),
            (ms(12), ms(13)),
        ];
        let (lane, count) = lanes(&spans);
        assert_eq!(count, 3);
        assert_eq!(lane[0], 0);
        assert_eq!(lane[1], 1);
        assert_eq!(lane[2], 0, "reuses the lane freed at 10 ms");
        assert_eq!(lane[3], 2);
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(100.0), 10.0);
        assert_eq!(tick_step(1100.0), 200.0);
        assert_eq!(tick_step(0.5), 0.05);
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "wait"), "1 wait");
        assert_eq!(count(0, "wait"), "0 waits");
        assert_eq!(count(2, "lane"), "2 lanes");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
    }
}
