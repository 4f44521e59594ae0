//! Worker mode: the program itself, started by the bridge's trampoline on a
//! Ray worker with `TASKREF_RAY_WORKER=1`. Building a Ray runtime in that
//! process serves calls instead (`serve_and_exit`), so one `main` is both the
//! driver and the workers.
//
// Calls come on stdin, one frame each (`fn`, `build`, the arguments' lengths;
// the payload is the encoded arguments, one after the other); replies go to
// the pipe named by TASKREF_RAY_REPLY_FD, never to stdout, which the user's
// code may print to. A Ray worker process runs one task at a time, so calls
// are served one after the other, each on a current-thread tokio runtime (an
// `async fn` may use tokio's timers and I/O).

use std::any::Any;
use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{self, BufReader, BufWriter};

use serde_json::json;

use super::frame;
use crate::distributed::{self, CallError};

/// The variable that puts the program in worker mode.
pub(crate) const WORKER_ENV: &str = "TASKREF_RAY_WORKER";
const REPLY_FD_ENV: &str = "TASKREF_RAY_REPLY_FD";
const BUILD_ENV: &str = "TASKREF_RAY_BUILD";

thread_local! {
    /// Where the last panic on this thread happened, for the call's error.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Whether this process was started by the trampoline to serve calls.
pub(crate) fn is_worker() -> bool {
    std::env::var_os(WORKER_ENV).is_some_and(|v| v == "1")
}

/// Serves calls until the trampoline closes stdin, then exits the process.
pub(crate) fn serve_and_exit() -> ! {
    let code = match serve() {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("taskref worker: {err}");
            1
        }
    };
    std::process::exit(code)
}

fn serve() -> io::Result<()> {
    let fd = std::env::var(REPLY_FD_ENV)
        .map_err(|_| io::Error::other(format!("{REPLY_FD_ENV} is not set")))?;
    let replies = OpenOptions::new()
        .write(true)
        .open(format!("/dev/fd/{fd}"))?;
    let mut replies = BufWriter::new(replies);
    let mut calls = BufReader::new(io::stdin().lock());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Keep the location of a panic for the call's error; the message comes
    // from the payload. The default hook's report still goes to stderr (the
    // worker's log).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        PANIC_AT.with(|p| *p.borrow_mut() = at);
        default_hook(info);
    }));
    // The trampoline starts the file it wrote from the driver's own bytes
    // under the driver's build id and says which: hashing the executable
    // again here cost every new worker process tens of milliseconds (45 MB).
    // A binary started another way hashes itself.
    let own_build =
        std::env::var(BUILD_ENV).unwrap_or_else(|_| distributed::build_id().to_string());
    // The state of the actor this process hosts, if it hosts one (a Ray
    // actor is a worker process of its own).
    let mut actor: Option<Box<dyn Any + Send>> = None;
    while let Some((header, payload)) = frame::read(&mut calls)? {
        let name = header["fn"].as_str().unwrap_or_default().to_owned();
        let reply = match header["build"].as_str() {
            Some(build) if build != own_build => Err(json!({
                "kind": "build_mismatch",
                "message": format!(
                    "the worker runs another build of the program than the driver \
                     (build {own_build}, the driver's {build}): `{name}` was not run"
                ),
            })),
            _ => match header["actor"].as_str() {
                Some("new") => args(&name, header["lens"].as_array(), &payload).and_then(|args| {
                    distributed::construct(&name, &args)
                        .map(|state| {
                            actor = Some(state);
                            Vec::new()
                        })
                        .map_err(|err| failure(&name, err))
                }),
                Some(_) => args(&name, header["lens"].as_array(), &payload).and_then(|args| {
                    match actor.as_deref_mut() {
                        Some(state) => distributed::run_method(&name, state, &args)
                            .map_err(|err| failure(&name, err)),
                        None => Err(json!({"kind": "unknown_function",
                            "message": format!("`{name}` was called on a worker that hosts no actor")})),
                    }
                }),
                None => call(&runtime, &name, header["lens"].as_array(), &payload),
            },
        };
        match reply {
            Ok(bytes) => frame::write(&mut replies, &json!({"ok": true}), &bytes)?,
            Err(mut failure) => {
                failure["ok"] = json!(false);
                frame::write(&mut replies, &failure, &[])?
            }
        }
    }
    Ok(())
}

/// A call's arguments: one slice of the payload per argument.
fn args<'a>(
    name: &str,
    lens: Option<&Vec<serde_json::Value>>,
    payload: &'a [u8],
) -> Result<Vec<&'a [u8]>, serde_json::Value> {
    let mut args = Vec::new();
    let mut at = 0;
    for len in lens.into_iter().flatten() {
        let len = len.as_u64().unwrap_or(0) as usize;
        let Some(arg) = payload.get(at..at + len) else {
            let message = format!("the call of `{name}` was truncated");
            return Err(json!({"kind": "decode", "message": message}));
        };
        args.push(arg);
        at += len;
    }
    Ok(args)
}

/// Runs one call: the encoded result, or its failure (`kind`, `message`, and
/// for a panic where it happened, `at`).
fn call(
    runtime: &tokio::runtime::Runtime,
    name: &str,
    lens: Option<&Vec<serde_json::Value>>,
    payload: &[u8],
) -> Result<Vec<u8>, serde_json::Value> {
    let args = args(name, lens, payload)?;
    let outcome = distributed::__private::call(name, &args).and_then(|call| runtime.block_on(call));
    outcome.map_err(|err| failure(name, err))
}

/// A call's failure as the reply frame says it.
fn failure(_name: &str, err: CallError) -> serde_json::Value {
    match err {
        CallError::UnknownFunction(why) => json!({"kind": "unknown_function", "message": why}),
        CallError::Arguments(why) => json!({"kind": "decode", "message": why}),
        CallError::Panicked(message) => {
            let at = PANIC_AT.with(|p| p.borrow_mut().take());
            json!({"kind": "panic", "message": message, "at": at})
        }
        CallError::Result(why) => json!({"kind": "encode", "message": why}),
    }
}
