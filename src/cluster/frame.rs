//! Frames on the pipes between the driver, its bridge, the workers'
//! trampolines and the worker binaries: a u32 header length and a u32 payload
//! length (big-endian), a JSON header, then the payload's raw bytes.
//
// JSON for the header because the other end is Python's standard library;
// raw bytes for the payload because values are already encoded (postcard)
// and must not be copied into a text format.

use std::io::{self, Read, Write};

use serde_json::Value;

/// One frame: the header and the payload.
pub(crate) type Frame = (Value, Vec<u8>);

/// Appends one frame to `out`.
pub(crate) fn encode_into(out: &mut Vec<u8>, header: &Value, payload: &[u8]) {
    let header = header.to_string();
    out.reserve(8 + header.len() + payload.len());
    out.extend_from_slice(&length(header.len()).to_be_bytes());
    out.extend_from_slice(&length(payload.len()).to_be_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
}

/// Encodes one frame.
pub(crate) fn encode(header: &Value, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(&mut out, header, payload);
    out
}

/// A length as the frame's u32. A value of 4 GiB or more cannot be framed;
/// `encode_arg` refuses those before they get here (see `MAX_VALUE`).
fn length(len: usize) -> u32 {
    u32::try_from(len).expect("frames carry less than 4 GiB (checked by the caller)")
}

/// The largest value one frame carries.
pub(crate) const MAX_VALUE: usize = u32::MAX as usize - 1024;

/// Reads one frame; `None` at a clean end of stream (before a frame).
pub(crate) fn read(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let header_len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let payload_len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let mut header = vec![0; header_len];
    r.read_exact(&mut header)?;
    let mut payload = vec![0; payload_len];
    r.read_exact(&mut payload)?;
    let header = serde_json::from_slice(&header)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(Some((header, payload)))
}

/// Writes one frame and flushes.
pub(crate) fn write(w: &mut impl Write, header: &Value, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode(header, payload))?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_round_trip_and_a_clean_end_is_none() {
        let mut bytes = encode(&json!({"op": "x", "n": 1}), b"payload");
        encode_into(&mut bytes, &json!({"op": "y"}), &[]);
        let mut r = &bytes[..];
        let (h, p) = read(&mut r).unwrap().unwrap();
        assert_eq!(
            (h["op"].as_str(), h["n"].as_u64(), &p[..]),
            (Some("x"), Some(1), &b"payload"[..])
        );
        let (h, p) = read(&mut r).unwrap().unwrap();
        assert_eq!((h["op"].as_str(), p.len()), (Some("y"), 0));
        assert!(read(&mut r).unwrap().is_none());
    }

    #[test]
    fn a_truncated_frame_is_an_error_not_a_frame() {
        let bytes = encode(&json!({"op": "x"}), b"payload");
        let mut r = &bytes[..bytes.len() - 1];
        assert!(read(&mut r).is_err());
    }
}
