//! Worker mode: the binary started by the trampoline on a Ray worker. It reads
//! calls on stdin and answers on the pipe named by TASKREF_RAY_REPLY_FD (not on
//! stdout, which user code may print to), until stdin closes. The functions are
//! those this binary registered with `#[taskref::remote]`, found by name.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{self, BufReader, BufWriter};
use std::panic;

use serde_json::json;
use taskref::__private::CallError;

use crate::frame;

thread_local! {
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Serves calls until stdin closes.
pub fn serve() -> io::Result<()> {
    let fd = std::env::var("TASKREF_RAY_REPLY_FD")
        .map_err(|_| io::Error::other("TASKREF_RAY_REPLY_FD is not set"))?;
    let replies = OpenOptions::new().write(true).open(format!("/dev/fd/{fd}"))?;
    let mut replies = BufWriter::new(replies);
    let mut calls = BufReader::new(io::stdin().lock());
    // A panic's location, for the error; the message comes from the payload.
    panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
        PANIC_AT.with(|p| *p.borrow_mut() = at);
    }));
    while let Some((header, payload)) = frame::read_sync(&mut calls)? {
        let name = header["fn"].as_str().unwrap_or_default().to_owned();
        let mut args = Vec::new();
        let mut at = 0;
        for len in header["lens"].as_array().into_iter().flatten() {
            let len = len.as_u64().unwrap_or(0) as usize;
            args.push(&payload[at..at + len]);
            at += len;
        }
        let outcome = taskref::__private::call(&name, &args)
            .and_then(futures::executor::block_on);
        match outcome {
            Ok(bytes) => frame::write_sync(&mut replies, &json!({"ok": true}), &bytes)?,
            Err(err) => {
                let (kind, message) = match err {
                    CallError::UnknownFunction(why) => ("unknown_function", why),
                    CallError::Arguments(why) => ("decode", why),
                    CallError::Panicked(message) => {
                        let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
                        ("panic", format!("`{name}` panicked at {at}: {message}"))
                    }
                    other => ("encode", other.to_string()),
                };
                frame::write_sync(
                    &mut replies,
                    &json!({"ok": false, "kind": kind, "message": message}),
                    &[],
                )?
            }
        }
    }
    Ok(())
}
