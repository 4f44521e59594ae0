//! The HTTP service example, for real: started on 127.0.0.1 with port 0 and
//! queried over HTTP with a real client.

mod support;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/http_service.rs"]
mod service;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::within_deadline;

/// Starts the service on a port of its own, on a runtime of its own.
fn start() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            service::serve(listener).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the service starts")
}

fn get_json(url: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    agent
        .get(url)
        .call()
        .expect("HTTP request")
        .body_mut()
        .read_json()
        .expect("a JSON answer")
}

fn expected_total(items: u64, work: u64) -> u64 {
    (0..items).map(|item| service::score(item * 7, work)).sum()
}

#[test]
fn concurrent_requests_fan_out_and_gather() {
    within_deadline(|| {
        let addr = start();
        let clients: Vec<_> = (1..=8u64)
            .map(|items| {
                std::thread::spawn(move || {
                    let url = format!("http://{addr}/analyze?items={items}&work=20000");
                    (items, get_json(&url))
                })
            })
            .collect();
        for client in clients {
            let (items, answer) = client.join().unwrap();
            assert_eq!(answer["items"], items, "{answer}");
            assert_eq!(answer["scores"].as_array().unwrap().len() as u64, items);
            assert_eq!(answer["total"], expected_total(items, 20_000), "{answer}");
        }
        let health = get_json(&format!("http://{addr}/health"));
        assert_eq!(health["ok"], true);
        assert!(health["finished"].as_u64().unwrap() >= 2 * 36, "{health}");
    });
}

#[test]
fn the_handler_stays_responsive_while_cpu_bound_tasks_run() {
    within_deadline(|| {
        let addr = start();
        // Heavy requests: their scores keep both CPUs busy on the blocking pool.
        let heavy: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(move || {
                    let started = Instant::now();
                    get_json(&format!("http://{addr}/analyze?items=8&work=30000000"));
                    started.elapsed()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let mut worst = Duration::ZERO;
        let mut busy_seen = false;
        for _ in 0..10 {
            let started = Instant::now();
            let health = get_json(&format!("http://{addr}/health"));
            worst = worst.max(started.elapsed());
            busy_seen |= health["running"].as_u64().unwrap_or(0) > 0;
            std::thread::sleep(Duration::from_millis(10));
        }
        let heavy_took = heavy.into_iter().map(|h| h.join().unwrap()).max().unwrap();
        assert!(busy_seen, "the health checks ran while tasks were running");
        assert!(
            worst * 5 < heavy_took,
            "health answered in at most {worst:?} while the CPU-bound requests took {heavy_took:?}"
        );
    });
}

/// The service's health once every task it submitted has ended (within 5 s).
fn health_once_all_ended(addr: SocketAddr) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let health = get_json(&format!("http://{addr}/health"));
        let n = |k: &str| health[k].as_u64().unwrap_or(0);
        if n("finished") + n("failed") + n("cancelled") == n("submitted") {
            return health;
        }
        assert!(Instant::now() < deadline, "tasks still running: {health}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A GET over a plain socket, which the caller can drop mid-request.
fn open_request(addr: SocketAddr, path: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

#[test]
fn a_request_past_its_deadline_stops_its_fan_out_and_says_so() {
    within_deadline(|| {
        let addr = start();
        let started = Instant::now();
        // 200 scores of ~50 ms each on 2 CPUs would take seconds; the
        // deadline is 300 ms.
        let answer = get_json(&format!(
            "http://{addr}/analyze?items=200&work=50000000&deadline_ms=300"
        ));
        let took = started.elapsed();
        assert_eq!(answer["timed_out"], true, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("deadline")
                || answer["error"].as_str().unwrap().contains("timed out"),
            "{answer}"
        );
        assert!(took < Duration::from_secs(3), "answered after {took:?}");
        // The tasks of the request stop: every one ends soon (a score
        // already running finishes its ~50 ms and is discarded), most of them
        // failed by the deadline without running.
        let health = health_once_all_ended(addr);
        assert!(health["failed"].as_u64().unwrap() >= 100, "{health}");
    });
}

#[test]
fn a_client_that_disconnects_cancels_its_requests_tasks() {
    within_deadline(|| {
        let addr = start();
        let stream = open_request(addr, "/analyze?items=200&work=50000000");
        std::thread::sleep(Duration::from_millis(300));
        let busy = get_json(&format!("http://{addr}/health"));
        assert!(busy["running"].as_u64().unwrap() > 0, "{busy}");
        drop(stream); // the client goes away mid-request
        let health = health_once_all_ended(addr);
        assert!(health["cancelled"].as_u64().unwrap() >= 100, "{health}");
    });
}
