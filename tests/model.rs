//! Model-based property test: random task graphs run on taskref, and every
//! ref's outcome is compared with a sequential reference model.
//!
//! `TASKREF_PROPTEST_CASES=N cargo test --test model` runs N cases (default 24
//! in CI); proptest shrinks a failure to a small graph and prints it.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use taskref::{Error, ObjectRef, Runtime};

/// What a node's function does.
#[derive(Clone, Debug)]
enum Behaviour {
    /// Returns its input plus this.
    Add(u64),
    /// Always panics.
    Panic,
    /// Always returns `Err`.
    Fail,
    /// Panics this many times, then returns its input plus one.
    FlakyPanic(u32),
    /// Returns `Err` this many times, then its input plus one.
    FlakyErr(u32),
    /// Runs past its 20 ms timeout, every attempt.
    TooSlow,
    /// Never finishes on its own: the test cancels it.
    Gated,
}

#[derive(Clone, Debug)]
struct Node {
    blocking: bool,
    behaviour: Behaviour,
    /// The input: a ref to an earlier node (index modulo the node's own index)
    /// or a value.
    dep: Option<usize>,
    literal: u64,
    retries: u32,
    retry_on_error: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Value(u64),
    Panicked,
    Failed,
    TimedOut,
    Cancelled,
    DependencyFailed,
}

fn node() -> impl Strategy<Value = Node> {
    let behaviour = prop_oneof![
        6 => (0u64..100).prop_map(Behaviour::Add),
        1 => Just(Behaviour::Panic),
        1 => Just(Behaviour::Fail),
        1 => (0u32..3).prop_map(Behaviour::FlakyPanic),
        1 => (0u32..3).prop_map(Behaviour::FlakyErr),
        1 => Just(Behaviour::TooSlow),
        1 => Just(Behaviour::Gated),
    ];
    (
        any::<bool>(),
        behaviour,
        proptest::option::weighted(0.7, any::<usize>()),
        0u64..1_000,
        0u32..3,
        any::<bool>(),
    )
        .prop_map(
            |(blocking, behaviour, dep, literal, retries, retry_on_error)| Node {
                blocking,
                behaviour,
                dep,
                literal,
                retries,
                retry_on_error,
            },
        )
}

/// The sequential reference: what each node's ref must hold.
fn model(nodes: &[Node]) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let input = match node.dep.filter(|_| i > 0).map(|d| &outcomes[d % i]) {
            Some(Outcome::Value(v)) => *v,
            Some(_) => {
                outcomes.push(Outcome::DependencyFailed);
                continue;
            }
            None => node.literal,
        };
        let panic_attempts = 1 + node.retries;
        let err_attempts = if node.retry_on_error {
            1 + node.retries
        } else {
            1
        };
        outcomes.push(match node.behaviour {
            Behaviour::Add(n) => Outcome::Value(input + n),
            Behaviour::Panic => Outcome::Panicked,
            Behaviour::Fail => Outcome::Failed,
            Behaviour::FlakyPanic(fails) if fails < panic_attempts => Outcome::Value(input + 1),
            Behaviour::FlakyPanic(_) => Outcome::Panicked,
            Behaviour::FlakyErr(fails) if fails < err_attempts => Outcome::Value(input + 1),
            Behaviour::FlakyErr(_) => Outcome::Failed,
            Behaviour::TooSlow => Outcome::TimedOut,
            Behaviour::Gated => Outcome::Cancelled,
        });
    }
    outcomes
}

#[derive(Debug)]
struct TestError;

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("test error")
    }
}

impl std::error::Error for TestError {}

/// A node's behaviour plus its attempt counter (cloned into every attempt).
#[derive(Clone)]
struct Spec {
    behaviour: Behaviour,
    attempts: Arc<AtomicU32>,
}

impl Spec {
    /// One attempt, blocking or not (sleeps are the only difference).
    fn attempt(&self, input: u64, blocking: bool) -> Result<u64, TestError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        match self.behaviour {
            Behaviour::Add(n) => Ok(input + n),
            Behaviour::Panic => panic!("model panic"),
            Behaviour::Fail => Err(TestError),
            Behaviour::FlakyPanic(fails) if attempt < fails => panic!("flaky panic"),
            Behaviour::FlakyErr(fails) if attempt < fails => Err(TestError),
            Behaviour::FlakyPanic(_) | Behaviour::FlakyErr(_) => Ok(input + 1),
            Behaviour::TooSlow | Behaviour::Gated => {
                assert!(blocking, "async slow nodes never get here");
                // A blocking closure cannot be interrupted: it stops when told.
                let me = taskref::current_task().expect("inside a task");
                for _ in 0..10_000 {
                    if me.is_cancelled() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(input)
            }
        }
    }

    async fn attempt_async(self, input: u64) -> Result<u64, TestError> {
        match self.behaviour {
            Behaviour::TooSlow | Behaviour::Gated => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(input)
            }
            _ => self.attempt(input, false),
        }
    }
}

fn observe(result: Result<u64, Error>) -> Outcome {
    match result {
        Ok(v) => Outcome::Value(v),
        Err(Error::TaskPanicked { .. }) => Outcome::Panicked,
        Err(Error::TaskFailed { .. }) => Outcome::Failed,
        Err(Error::TaskTimedOut { .. }) => Outcome::TimedOut,
        Err(Error::Cancelled { .. }) => Outcome::Cancelled,
        Err(Error::DependencyFailed { .. }) => Outcome::DependencyFailed,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn run(rt: &Runtime, nodes: &[Node]) -> Vec<Outcome> {
    let async_fn = rt.try_remote(|x: u64, spec: Spec| spec.attempt_async(x));
    let blocking_fn = rt.try_remote_blocking(|x: u64, spec: Spec| spec.attempt(x, true));
    let mut refs: Vec<ObjectRef<u64>> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let input = match node.dep.filter(|_| i > 0) {
            Some(d) => refs[d % i].clone(),
            None => rt.put(node.literal),
        };
        let spec = Spec {
            behaviour: node.behaviour.clone(),
            attempts: Arc::default(),
        };
        let timeout =
            matches!(node.behaviour, Behaviour::TooSlow).then(|| Duration::from_millis(20));
        let r = if node.blocking {
            let mut f = blocking_fn
                .clone()
                .max_retries(node.retries)
                .retry_on_error(node.retry_on_error);
            if let Some(t) = timeout {
                f = f.timeout(t);
            }
            if matches!(node.behaviour, Behaviour::Gated | Behaviour::TooSlow) {
                // Waiting nodes must not hold the CPUs the nodes they wait for
                // (through the harness) need.
                f = f.num_cpus(0.0);
            }
            f.remote((input, spec))
        } else {
            let mut f = async_fn
                .clone()
                .max_retries(node.retries)
                .retry_on_error(node.retry_on_error);
            if let Some(t) = timeout {
                f = f.timeout(t);
            }
            f.remote((input, spec))
        };
        refs.push(r);
    }
    // Cancel the gated nodes, in order, once their own input is settled: a
    // failed input fails the node by itself (as in the model), so only nodes
    // whose input succeeded are cancelled.
    for (i, node) in nodes.iter().enumerate() {
        if matches!(node.behaviour, Behaviour::Gated) {
            let input_ok = match node.dep.filter(|_| i > 0) {
                Some(d) => {
                    let input = refs[d % i].block_get_timeout(Duration::from_secs(30));
                    assert!(
                        !matches!(input, Err(Error::GetTimeout { .. })),
                        "node {i}'s input hangs"
                    );
                    input.is_ok()
                }
                None => true,
            };
            if input_ok {
                refs[i].cancel();
            }
        }
    }
    refs.iter()
        .enumerate()
        .map(|(i, r)| {
            let result = r.block_get_timeout(Duration::from_secs(30));
            assert!(
                !matches!(result, Err(Error::GetTimeout { .. })),
                "node {i} hangs"
            );
            observe(result)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: support::proptest_cases(),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_ref_matches_the_sequential_model(nodes in proptest::collection::vec(node(), 1..120)) {
        // Panicking tasks are expected: keep the output to proptest's report.
        let rt = Runtime::builder()
            .num_cpus(4)
            .worker_threads(2)
            .anti_patterns(taskref::AntiPatterns::Off)
            .build()
            .unwrap();
        let actual = run(&rt, &nodes);
        let expected = model(&nodes);
        for (i, (got, want)) in actual.iter().zip(&expected).enumerate() {
            prop_assert_eq!(got, want, "node {} of {:?}", i, nodes[i]);
        }
        let stats = rt.stats();
        support::eventually("idle", || rt.stats().running == 0);
        prop_assert!(stats.submitted >= nodes.len() as u64);
    }
}
