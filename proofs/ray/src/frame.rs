//! Frames on the pipes (driver <-> bridge, trampoline <-> worker binary): a u32
//! header length, a u32 payload length (big-endian), a JSON header, the payload.

use std::io::{self, Read, Write};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Encodes one frame.
pub fn encode(header: &Value, payload: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).expect("a JSON value serializes");
    let mut out = Vec::with_capacity(8 + h.len() + payload.len());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    out
}

fn lengths(head: [u8; 8]) -> (usize, usize) {
    let h = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
    let p = u32::from_be_bytes(head[4..].try_into().unwrap()) as usize;
    (h, p)
}

fn header(bytes: &[u8]) -> io::Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_sync(r: &mut impl Read) -> io::Result<Option<(Value, Vec<u8>)>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (h, p) = lengths(head);
    let mut hb = vec![0; h];
    r.read_exact(&mut hb)?;
    let mut payload = vec![0; p];
    r.read_exact(&mut payload)?;
    Ok(Some((header(&hb)?, payload)))
}

/// Writes one frame and flushes.
pub fn write_sync(w: &mut impl Write, header: &Value, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode(header, payload))?;
    w.flush()
}

/// Reads one frame; `None` at a clean end of stream.
pub async fn read_async(r: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<(Value, Vec<u8>)>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (h, p) = lengths(head);
    let mut hb = vec![0; h];
    r.read_exact(&mut hb).await?;
    let mut payload = vec![0; p];
    r.read_exact(&mut payload).await?;
    Ok(Some((header(&hb)?, payload)))
}
