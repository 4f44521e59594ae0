//! How a value crosses a process boundary: postcard, taskref's wire format for
//! distributable functions (the same on the driver and in the worker binary).

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// A value that goes to and from the cluster as bytes.
pub trait Wire: Sized {
    fn encode(&self) -> Vec<u8>;
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

impl<T: Serialize + DeserializeOwned> Wire for T {
    fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("value serializes")
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        postcard::from_bytes(bytes)
            .map_err(|e| format!("cannot decode {}: {e}", std::any::type_name::<T>()))
    }
}

/// Raw bytes (postcard writes a `Vec<u8>` as its length and the bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Blob(pub Vec<u8>);
