//! Ray's published `ray microbenchmark` figures for the names this bench
//! measures, from the release logs Ray commits with every release
//! (`release/perf_metrics/microbenchmark.json`, operations per second on Ray's
//! release-test machine, not this one).
//!
//! Sources: the "Add perf metrics" pull requests of ray-project/ray, whose
//! descriptions list each metric's change from the previous release:
//! - 2.57.0: <https://github.com/ray-project/ray/pull/65238> (merged
//!   2026-08-05): the "to" values are 2.57's.
//! - 2.58.0: <https://github.com/ray-project/ray/pull/65659> (merged
//!   2026-08-22): the "to" values are 2.58's, the "from" values 2.57's.
//!
//! Only the lines of those descriptions that could be read here are recorded;
//! a `None` is a figure not found, never a guess. The stored
//! `microbenchmark.json` itself could not be read at either release.

/// One of Ray's microbenchmark names with its published figures.
pub(crate) struct Published {
    /// Ray's `perf_metric_name`.
    pub(crate) name: &'static str,
    pub(crate) ray_2_57: Option<f64>,
    pub(crate) ray_2_58: Option<f64>,
}

/// In the order `ray microbenchmark` runs them (`ray_perf.py`).
pub(crate) const PUBLISHED: &[Published] = &[
    Published {
        name: "single_client_get_calls_Plasma_Store",
        ray_2_57: None,
        ray_2_58: None,
    },
    Published {
        name: "single_client_put_calls_Plasma_Store",
        // PR 65238: "regresses from 4638.96 to 3835.5368509218897".
        ray_2_57: Some(3835.5368509218897),
        ray_2_58: None,
    },
    Published {
        name: "single_client_tasks_and_get_batch",
        // PR 65238: "from 7.689 to 7.359631180965369"; PR 65659: "from
        // 7.359631180965369 to 6.6540420898154675".
        ray_2_57: Some(7.359631180965369),
        ray_2_58: Some(6.6540420898154675),
    },
    Published {
        name: "single_client_wait_1k_refs",
        // PR 65659: "regresses from 5.151820832614535 to 4.864679789608971".
        ray_2_57: Some(5.151820832614535),
        ray_2_58: Some(4.864679789608971),
    },
    Published {
        name: "single_client_tasks_sync",
        // PR 65238: "regresses from 847.25 to 805.0151398744031".
        ray_2_57: Some(805.0151398744031),
        ray_2_58: None,
    },
    Published {
        name: "single_client_tasks_async",
        // PR 65659: "regresses from 7532.807888515144 to 7174.684387734689".
        ray_2_57: Some(7532.807888515144),
        ray_2_58: Some(7174.684387734689),
    },
    Published {
        name: "multi_client_tasks_async",
        ray_2_57: None,
        ray_2_58: None,
    },
    Published {
        name: "1_1_actor_calls_sync",
        // PR 65238: "regresses from 1875.03 to 1762.981738621782".
        ray_2_57: Some(1762.981738621782),
        ray_2_58: None,
    },
    Published {
        name: "1_1_actor_calls_async",
        ray_2_57: None,
        ray_2_58: None,
    },
    Published {
        name: "n_n_actor_calls_async",
        ray_2_57: None,
        ray_2_58: None,
    },
    Published {
        name: "1_1_async_actor_calls_async",
        // PR 65238: "regresses from 4674.83 to 4316.252934983355".
        ray_2_57: Some(4316.252934983355),
        ray_2_58: None,
    },
];

/// The published figures of `name` (every measured name is listed).
pub(crate) fn of(name: &str) -> &'static Published {
    PUBLISHED
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is not one of Ray's names listed here"))
}
