//! Tracing: each task runs in a parentless `task` span with its id, name and
//! call site; submit, start and finish are debug events; failures are warn
//! events. Nothing is printed without a subscriber.

mod support;

#[test]
fn tasks_run_in_spans_with_debug_and_warn_events() {
    let ((), text) = support::capture_tracing(tracing::Level::DEBUG, || {
        // A current-thread runtime runs the tasks on this thread, where the
        // subscriber is installed.
        let tokio_rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio_rt.block_on(async {
            let rt = taskref::Runtime::from_handle(tokio::runtime::Handle::current());
            let traced = rt
                .remote(|x: u32| async move {
                    tracing::info!("inside the task");
                    x
                })
                .name("traced");
            assert_eq!(traced.remote(1).await.unwrap(), 1);
            let failing = rt
                .remote(|_: ()| async { panic!("on purpose") })
                .name("failing");
            assert!(failing.remote(()).await.is_err());
        });
    });
    let inside = text
        .lines()
        .find(|l| l.contains("inside the task"))
        .unwrap_or_else(|| panic!("no event from inside the task:\n{text}"));
    assert!(
        inside.contains("task{"),
        "runs in the `task` span: {inside}"
    );
    assert!(inside.contains("task.name=\"traced\""), "{inside}");
    assert!(
        inside.contains("loc.file=") && inside.contains("observe_tracing.rs"),
        "{inside}"
    );
    assert!(text.contains("task submitted"), "{text}");
    assert!(text.contains("task started"), "{text}");
    assert!(text.contains("task finished"), "{text}");
    let failed = text
        .lines()
        .find(|l| l.contains("task failed"))
        .unwrap_or_else(|| panic!("no failure event:\n{text}"));
    assert!(
        failed.contains("WARN") && failed.contains("on purpose"),
        "{failed}"
    );
}
