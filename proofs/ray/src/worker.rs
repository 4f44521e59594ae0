//! Worker mode: the binary started by the trampoline on a Ray worker. It reads
//! calls on stdin and answers on the pipe named by TASKREF_RAY_REPLY_FD (not on
//! stdout, which user code may print to), until stdin closes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, BufReader, BufWriter};
use std::panic::{self, AssertUnwindSafe};

use serde_json::json;

use crate::frame;

/// A registered function: arguments as bytes in, result as bytes out.
pub type Entry = fn(&[&[u8]]) -> Result<Vec<u8>, String>;

thread_local! {
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Serves calls until stdin closes. `functions`: name -> entry.
pub fn serve(functions: &[(&'static str, Entry)]) -> io::Result<()> {
    let table: HashMap<&str, Entry> = functions.iter().copied().collect();
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
        let outcome = match table.get(name.as_str()) {
            None => {
                let mut known: Vec<_> = table.keys().copied().collect();
                known.sort_unstable();
                Err((
                    "unknown_function",
                    format!("this worker binary has no function `{name}` (it has: {})", known.join(", ")),
                ))
            }
            Some(f) => match panic::catch_unwind(AssertUnwindSafe(|| f(&args))) {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(e)) => Err(("decode", e)),
                Err(payload) => {
                    let msg = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a non-string panic payload".into());
                    let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
                    Err(("panic", format!("`{name}` panicked at {at}: {msg}")))
                }
            },
        };
        match outcome {
            Ok(bytes) => frame::write_sync(&mut replies, &json!({"ok": true}), &bytes)?,
            Err((kind, message)) => frame::write_sync(
                &mut replies,
                &json!({"ok": false, "kind": kind, "message": message}),
                &[],
            )?,
        }
    }
    Ok(())
}
