//! How a value crosses a process boundary: JSON for ordinary serde types, raw
//! bytes for `Blob` (an 8 MB value as JSON would be 4x larger and slow).

/// A value that goes to and from the cluster as bytes.
pub trait Wire: Sized {
    fn encode(&self) -> Vec<u8>;
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// Raw bytes, as they are.
#[derive(Debug, Clone)]
pub struct Blob(pub Vec<u8>);

impl Wire for Blob {
    fn encode(&self) -> Vec<u8> {
        self.0.clone()
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(Blob(bytes.to_vec()))
    }
}

/// Implements `Wire` as JSON for serde types.
#[macro_export]
macro_rules! json_wire {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::wire::Wire for $t {
            fn encode(&self) -> Vec<u8> {
                serde_json::to_vec(self).expect("value serializes")
            }
            fn decode(bytes: &[u8]) -> Result<Self, String> {
                serde_json::from_slice(bytes)
                    .map_err(|e| format!("cannot decode {}: {e}", stringify!($t)))
            }
        }
    )*};
}

json_wire!(u64, String);
