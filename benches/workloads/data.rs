//! W5: an unnecessary get, fetching a value only to pass it to the next task.

use crate::report::Report;
use crate::systems::{paired, timed, Config, Face, Systems};

const BYTES: usize = 8 << 20;

async fn produce(n: usize) -> Vec<u8> {
    vec![1u8; n]
}

fn sum(v: Vec<u8>) -> u64 {
    v.iter().map(|&b| u64::from(b)).sum()
}

pub(crate) fn w5_unnecessary_get(systems: &Systems, config: &Config, report: &mut Report) {
    let producer = systems.taskref.remote(produce);
    let consumer = systems.taskref.remote_blocking(sum);
    let handle = systems.tokio.handle();
    let runs = config.runs * 2;
    for face in Face::BOTH {
        // Wrong: get the value, pass it on. Async: `r.await` moves the value out
        // as tokio's JoinHandle does; blocking: `block_get` returns a clone, as
        // `ray.get` returns a copy.
        let taskref_get_pass = || {
            timed(|| match face {
                Face::Async => systems.taskref.handle().block_on(async {
                    let value = producer.remote(BYTES).await.unwrap();
                    consumer.remote(value).await.unwrap();
                }),
                Face::Blocking => {
                    let value = producer.remote(BYTES).block_get().unwrap();
                    consumer.remote(value).block_get().unwrap();
                }
            })
        };
        let tokio_get_pass = || {
            timed(|| match face {
                Face::Async => systems.tokio.block_on(async {
                    let value = tokio::spawn(produce(BYTES)).await.unwrap();
                    tokio::task::spawn_blocking(move || sum(value))
                        .await
                        .unwrap();
                }),
                Face::Blocking => {
                    let value = handle.block_on(handle.spawn(produce(BYTES))).unwrap();
                    handle
                        .block_on(handle.spawn_blocking(move || sum(value)))
                        .unwrap();
                }
            })
        };
        report.times(
            "W5",
            "get, then pass",
            face,
            paired(runs, true, taskref_get_pass, tokio_get_pass),
            "",
        );

        // Fix: pass the ref (tokio: pass the JoinHandle to the consumer).
        let taskref_pass_ref = || {
            timed(|| match face {
                Face::Async => systems.taskref.handle().block_on(async {
                    consumer.remote(producer.remote(BYTES)).await.unwrap();
                }),
                Face::Blocking => {
                    consumer.remote(producer.remote(BYTES)).block_get().unwrap();
                }
            })
        };
        let tokio_pass_handle = || {
            let pipeline = async {
                let produced = tokio::spawn(produce(BYTES));
                tokio::spawn(async move {
                    let value = produced.await.unwrap();
                    tokio::task::spawn_blocking(move || sum(value))
                        .await
                        .unwrap()
                })
                .await
                .unwrap()
            };
            timed(|| match face {
                Face::Async => {
                    systems.tokio.block_on(pipeline);
                }
                Face::Blocking => {
                    handle.block_on(pipeline);
                }
            })
        };
        report.times(
            "W5",
            "pass the ref",
            face,
            paired(runs, true, taskref_pass_ref, tokio_pass_handle),
            "",
        );
    }
}
