//! Distributable functions: the registry that `#[taskref::remote]` fills, the
//! wire format of their arguments and results, and the build id that tells a
//! driver and a worker built from different code apart.
//
// A distributable function is registered under the type name of its item type
// (its path, `crate::module::name`), so `rt.remote(f)` can tell, from `f`'s
// type alone, whether `f` is registered: no wrapper type, and the function
// stays callable.
// `type_name` is not guaranteed stable across compilers, but a driver and its
// workers run the same binary (the build id checks it), so both sides agree.
//
// Each argument travels as its own bytes (so that an argument that was a ref
// can arrive as the bytes of that ref's value, resolved by Ray on the worker),
// the result as one value, all in postcard (a compact, not self-describing
// serde format): they only ever go from Rust to Rust; Ray and the Python bridge
// carry them as opaque bytes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::OnceLock;

/// What a worker runs for one call: the encoded result, or why there is none.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, CallError>> + Send>>;

/// Why a call of a registered function produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// No function, or more than one, is registered under the name.
    UnknownFunction(String),
    /// The arguments did not decode (or were not as many as the parameters).
    Arguments(String),
    /// The function panicked; the message.
    Panicked(String),
    /// The result did not encode.
    Result(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::UnknownFunction(why)
            | CallError::Arguments(why)
            | CallError::Result(why) => f.write_str(why),
            CallError::Panicked(message) => write!(f, "panicked with message {message:?}"),
        }
    }
}

/// A registered function's thunk: one encoded argument per parameter in.
pub type Thunk = fn(&[&[u8]]) -> CallFuture;

/// The driver's encoder of one argument: its position and the value, as the
/// runtime holds it (type-erased), to its bytes.
pub type EncodeArg = fn(usize, &(dyn Any + Send)) -> Result<Vec<u8>, String>;

/// The driver's decoder of a call's result bytes (the value type-erased, for
/// the runtime to take back at the function's output type).
pub type DecodeResult = fn(&[u8]) -> Result<Box<dyn Any + Send>, String>;

/// One registered function: its path, the thunk that runs it on encoded
/// arguments (the worker's side), and the codecs the driver uses.
#[derive(Debug)]
pub struct Distributable {
    /// The type name of the function's item type (`type_name` is not `const`,
    /// so the registration keeps the function that asks for it).
    name: fn() -> &'static str,
    /// The function's item type, to match `rt.remote(f)` exactly.
    type_id: fn() -> TypeId,
    thunk: Thunk,
    encode_arg: EncodeArg,
    decode_result: DecodeResult,
}

impl Distributable {
    /// Made by `#[taskref::remote]`.
    pub const fn new(
        name: fn() -> &'static str,
        type_id: fn() -> TypeId,
        thunk: Thunk,
        encode_arg: EncodeArg,
        decode_result: DecodeResult,
    ) -> Self {
        Distributable {
            name,
            type_id,
            thunk,
            encode_arg,
            decode_result,
        }
    }

    /// Encodes the argument at `index` (the driver's side of a call).
    pub(crate) fn encode_arg(
        &self,
        index: usize,
        value: &(dyn Any + Send),
    ) -> Result<Vec<u8>, String> {
        (self.encode_arg)(index, value)
    }

    /// Decodes a call's result (the driver's side).
    pub(crate) fn decode_result(&self, bytes: &[u8]) -> Result<Box<dyn Any + Send>, String> {
        (self.decode_result)(bytes)
    }

    /// The function's path, `crate::module::name`.
    pub fn name(&self) -> &'static str {
        (self.name)()
    }

    /// Calls the function on its encoded arguments, one per parameter.
    pub fn call(&self, args: &[&[u8]]) -> CallFuture {
        (self.thunk)(args)
    }
}

inventory::collect!(Distributable);

/// What builds an actor's state on a worker from encoded arguments.
pub type ConstructThunk = fn(&[&[u8]]) -> Result<Box<dyn Any + Send>, CallError>;

/// What runs an actor method on the state, on encoded arguments.
pub type MethodThunk = fn(&mut (dyn Any + Send), &[&[u8]]) -> Result<Vec<u8>, CallError>;

/// One registered part of an actor's state type (`#[taskref::remote]` on its
/// `impl` block): a constructor or a method.
#[derive(Debug)]
pub struct ActorPart {
    name: fn() -> &'static str,
    type_id: fn() -> TypeId,
    kind: ActorPartKind,
    encode_arg: EncodeArg,
}

#[derive(Debug)]
enum ActorPartKind {
    Constructor(ConstructThunk),
    Method(MethodThunk, DecodeResult),
}

impl ActorPart {
    /// Made by `#[taskref::remote]` for a constructor.
    pub const fn constructor(
        name: fn() -> &'static str,
        type_id: fn() -> TypeId,
        thunk: ConstructThunk,
        encode_arg: EncodeArg,
    ) -> Self {
        ActorPart {
            name,
            type_id,
            kind: ActorPartKind::Constructor(thunk),
            encode_arg,
        }
    }

    /// Made by `#[taskref::remote]` for a method.
    pub const fn method(
        name: fn() -> &'static str,
        type_id: fn() -> TypeId,
        thunk: MethodThunk,
        encode_arg: EncodeArg,
        decode_result: DecodeResult,
    ) -> Self {
        ActorPart {
            name,
            type_id,
            kind: ActorPartKind::Method(thunk, decode_result),
            encode_arg,
        }
    }

    /// The part's path, `crate::Type::name`.
    pub fn name(&self) -> &'static str {
        (self.name)()
    }

    /// Whether it builds the state (else it is a method).
    pub(crate) fn is_constructor(&self) -> bool {
        matches!(self.kind, ActorPartKind::Constructor(_))
    }

    pub(crate) fn encode_arg(
        &self,
        index: usize,
        value: &(dyn Any + Send),
    ) -> Result<Vec<u8>, String> {
        (self.encode_arg)(index, value)
    }

    pub(crate) fn decode_result(&self, bytes: &[u8]) -> Result<Box<dyn Any + Send>, String> {
        match self.kind {
            ActorPartKind::Method(_, decode) => decode(bytes),
            ActorPartKind::Constructor(_) => {
                Err("a constructor has no result to decode".to_owned())
            }
        }
    }
}

inventory::collect!(ActorPart);

/// The registered actor part whose fn item type is `F`, if `F` is one.
pub(crate) fn actor_part<F: 'static>() -> Option<&'static ActorPart> {
    let id = TypeId::of::<F>();
    inventory::iter::<ActorPart>().find(|part| (part.type_id)() == id)
}

/// The registered actor part called `name` (on a worker).
pub(crate) fn actor_part_named(name: &str) -> Result<&'static ActorPart, String> {
    let mut found = inventory::iter::<ActorPart>().filter(|part| part.name() == name);
    match (found.next(), found.next()) {
        (Some(part), None) => Ok(part),
        (Some(_), Some(_)) => Err(format!(
            "two actor parts are registered as `{name}` in this build"
        )),
        (None, _) => Err(format!(
            "no actor constructor or method is registered as `{name}` in this build \
             (the driver and the worker were built from different code?)"
        )),
    }
}

/// Builds an actor's state on a worker.
pub(crate) fn construct(name: &str, args: &[&[u8]]) -> Result<Box<dyn Any + Send>, CallError> {
    let part = actor_part_named(name).map_err(CallError::UnknownFunction)?;
    match part.kind {
        ActorPartKind::Constructor(thunk) => thunk(args),
        ActorPartKind::Method(..) => Err(CallError::UnknownFunction(format!(
            "`{name}` is a method, not a constructor"
        ))),
    }
}

/// Runs an actor method on a worker.
pub(crate) fn run_method(
    name: &str,
    state: &mut (dyn Any + Send),
    args: &[&[u8]],
) -> Result<Vec<u8>, CallError> {
    let part = actor_part_named(name).map_err(CallError::UnknownFunction)?;
    match part.kind {
        ActorPartKind::Method(thunk, _) => thunk(state, args),
        ActorPartKind::Constructor(_) => Err(CallError::UnknownFunction(format!(
            "`{name}` is a constructor, not a method"
        ))),
    }
}

/// Every registered function by name; `None` for a name registered twice
/// (two versions of one crate, or two nested functions of one name): a worker
/// must never guess which one the driver meant.
fn by_name() -> &'static HashMap<&'static str, Option<&'static Distributable>> {
    static MAP: OnceLock<HashMap<&'static str, Option<&'static Distributable>>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = HashMap::new();
        for entry in inventory::iter::<Distributable>() {
            map.entry(entry.name())
                .and_modify(|seen| *seen = None)
                .or_insert(Some(entry));
        }
        map
    })
}

/// The registered function called `name`: `Err` with the reason if this
/// binary has none, or more than one.
pub(crate) fn lookup(name: &str) -> Result<&'static Distributable, String> {
    match by_name().get(name) {
        Some(Some(entry)) => Ok(entry),
        Some(None) => Err(format!(
            "two distributable functions are registered as `{name}` in this build \
             (two versions of one crate?); rename one"
        )),
        None => Err(format!(
            "no distributable function is registered as `{name}` in this build \
             (the driver and the worker were built from different code?)"
        )),
    }
}

/// The registered function whose item type is `F`, if `F` is one.
pub(crate) fn of<F: 'static>() -> Option<&'static Distributable> {
    let id = TypeId::of::<F>();
    inventory::iter::<Distributable>().find(|entry| (entry.type_id)() == id)
}

/// An id of this build: a hash of the running executable's bytes, computed
/// once. A worker whose id differs from its driver's was built from other code
/// and must not run its calls.
pub(crate) fn build_id() -> u64 {
    static ID: OnceLock<u64> = OnceLock::new();
    *ID.get_or_init(|| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        match std::env::current_exe().and_then(std::fs::read) {
            Ok(bytes) => bytes.hash(&mut hasher),
            // No readable executable: fall back to what the crate knows of
            // itself (weaker, but never the same for different versions).
            Err(_) => env!("CARGO_PKG_VERSION").hash(&mut hasher),
        }
        hasher.finish()
    })
}

/// Encodes a value for the wire.
pub(crate) fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(value).map_err(|err| format!("the value could not be serialized: {err}"))
}

/// Decodes a value from the wire.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|err| {
        format!(
            "the bytes could not be deserialized as `{}`: {err}",
            std::any::type_name::<T>()
        )
    })
}

/// What `#[taskref::remote]` expands to refers to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use super::{
        ActorPart, CallError, CallFuture, ConstructThunk, DecodeResult, Distributable, EncodeArg,
        MethodThunk, Thunk,
    };
    pub use inventory;
    pub use serde;

    /// Encodes a result (the thunk's last step).
    pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, CallError> {
        super::encode(value).map_err(CallError::Result)
    }

    /// Decodes one argument (the thunk's first steps).
    pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        super::decode(bytes)
    }

    /// A call that failed before it ran (its arguments did not decode).
    pub fn failed(err: String) -> CallFuture {
        Box::pin(std::future::ready(Err(CallError::Arguments(err))))
    }

    /// A call of an `async fn`; a panic becomes the call's error.
    pub fn call_async(
        future: impl std::future::Future<Output = Result<Vec<u8>, CallError>> + Send + 'static,
    ) -> CallFuture {
        use futures::FutureExt;
        Box::pin(
            std::panic::AssertUnwindSafe(future)
                .catch_unwind()
                .map(|result| result.unwrap_or_else(|payload| Err(panicked(payload)))),
        )
    }

    /// A call of a plain `fn`, run when the future is polled; a panic becomes
    /// the call's error.
    pub fn call_blocking(
        call: impl FnOnce() -> Result<Vec<u8>, CallError> + Send + 'static,
    ) -> CallFuture {
        Box::pin(async move {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
                .unwrap_or_else(|payload| Err(panicked(payload)))
        })
    }

    fn panicked(payload: Box<dyn std::any::Any + Send>) -> CallError {
        CallError::Panicked(crate::error::panic_message(payload.as_ref()))
    }

    /// The type id of a value's type (for a function item: the function).
    pub fn type_id_of_val<T: 'static>(_: &T) -> std::any::TypeId {
        std::any::TypeId::of::<T>()
    }

    /// Runs the registered function `name` on its encoded arguments (one per
    /// parameter), as a worker does.
    pub fn call(name: &str, args: &[&[u8]]) -> Result<CallFuture, CallError> {
        super::lookup(name)
            .map(|entry| entry.call(args))
            .map_err(CallError::UnknownFunction)
    }

    /// The error of a call given the wrong number of arguments.
    pub fn arity_error(expected: usize, got: usize) -> String {
        format!("the function takes {expected} argument(s), the call gave {got}")
    }

    /// Runs an actor's constructor; a panic becomes the call's error.
    pub fn construct(
        make: impl FnOnce() -> Box<dyn std::any::Any + Send>,
    ) -> Result<Box<dyn std::any::Any + Send>, CallError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(make)).map_err(panicked)
    }

    /// Runs an actor method; a panic becomes the call's error.
    pub fn run_method(
        call: impl FnOnce() -> Result<Vec<u8>, CallError>,
    ) -> Result<Vec<u8>, CallError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
            .unwrap_or_else(|payload| Err(panicked(payload)))
    }

    /// This build's id.
    pub fn build_id() -> u64 {
        super::build_id()
    }

    /// Encodes an argument the runtime holds type-erased, as the parameter
    /// type `T` (the driver's side of a call).
    pub fn encode_arg<T: serde::Serialize + 'static>(
        value: &(dyn std::any::Any + Send),
    ) -> Result<Vec<u8>, String> {
        match value.downcast_ref::<T>() {
            Some(value) => super::encode(value),
            None => Err(format!(
                "the argument is not a `{}` (a bug in taskref: please report it)",
                std::any::type_name::<T>()
            )),
        }
    }

    /// Decodes a result as `T`, boxed for the runtime to take back.
    pub fn decode_boxed<T: serde::de::DeserializeOwned + Send + 'static>(
        bytes: &[u8],
    ) -> Result<Box<dyn std::any::Any + Send>, String> {
        super::decode::<T>(bytes).map(|value| Box::new(value) as Box<dyn std::any::Any + Send>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_bytes_say_what_was_expected() {
        let bytes = encode(&(7u64, String::from("seven"))).unwrap();
        let back: (u64, String) = decode(&bytes).unwrap();
        assert_eq!(back, (7, "seven".to_owned()));
        let err = decode::<(u64, String)>(&[0xff]).unwrap_err();
        assert!(err.contains("(u64, alloc::string::String)"), "{err}");
    }

    #[test]
    fn the_build_id_is_computed_once() {
        assert_eq!(build_id(), build_id());
    }
}
