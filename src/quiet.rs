//! Catching a panic that we provoke on purpose, without printing it.
//
// Tokio offers no non-panicking way to ask two questions we need answered:
// "may this thread block?" (`block_in_place` panics on a current-thread runtime's
// own thread but not on its blocking pool) and "does this runtime have a timer?"
// (`sleep` panics without one). We ask by calling those functions under
// `catch_unwind`. The default panic hook would still print a scary message for a
// panic that is an answer, not a bug, so the first probe installs a hook that
// stays silent on the probing thread while a probe runs and defers to the
// previous hook everywhere else.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static PROBING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `probe`, returning `None` if it panicked. Nothing is printed for that
/// panic.
pub(crate) fn probe<R>(probe: impl FnOnce() -> R) -> Option<R> {
    static INSTALL_HOOK: Once = Once::new();
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !PROBING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was_probing = PROBING.with(|p| p.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(probe));
    PROBING.with(|p| p.set(was_probing));
    result.ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_reports_panics_as_none() {
        assert_eq!(super::probe(|| 5), Some(5));
        assert_eq!(super::probe(|| -> u8 { panic!("expected") }), None);
    }
}
