//! Named actors: each runtime's registry of actor names (Ray's named actors,
//! `ray.get_actor`).
//
// A name maps to a weak reference to the actor's core (what its handles
// share), so the registry never keeps an actor alive: as in Ray, an actor
// whose every handle is gone stops, and its name with it. When an actor dies
// (killed, its constructor out of restarts) the registry keeps a tombstone
// saying how, until the name is taken again, so a late `get_actor` says
// "it died: it was killed" rather than "no such actor". A claim and the
// lookups of `get_if_exists` run under the name's shard lock, so two
// creators racing for one name make one actor between them.

use std::any::{type_name, Any};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use dashmap::mapref::entry::Entry as MapEntry;
use dashmap::DashMap;

use crate::error::Error;

/// What a registered actor's core must say about itself.
pub(crate) trait Named: Any + Send + Sync {
    /// Why it is dead, if it is.
    fn death_cause(&self) -> Option<String>;
}

enum Entry {
    Live {
        /// A `Weak` of the actor's core, whatever its type.
        core: Box<dyn Any + Send + Sync>,
        /// The handle type, for the error when another is asked for.
        handle: &'static str,
        token: u64,
        /// Whether `core` is alive (made for its type, which only it knows).
        is_alive: fn(&(dyn Any + Send + Sync)) -> bool,
    },
    Dead {
        cause: String,
    },
}

/// A runtime's actor names.
#[derive(Default)]
pub(crate) struct Registry {
    names: DashMap<Arc<str>, Entry>,
    tokens: AtomicU64,
}

/// A name taken by an actor: what its core keeps to leave the registry.
#[derive(Clone, Debug)]
pub(crate) struct Registration {
    pub(crate) name: Arc<str>,
    pub(crate) token: u64,
}

impl Registry {
    /// Takes `name` for the actor `make` builds (given its registration),
    /// under the name's lock. If a live actor has the name: with `reuse`,
    /// returns it (when it is a `C`); without, the name is taken.
    pub(crate) fn claim<C: Named>(
        &self,
        name: &Arc<str>,
        reuse: bool,
        handle: &'static str,
        location: &'static Location<'static>,
        make: impl FnOnce(Registration) -> Result<Arc<C>, Error>,
    ) -> Result<Arc<C>, Error> {
        let entry = self.names.entry(Arc::clone(name));
        if let MapEntry::Occupied(live) = &entry {
            if let Some(existing) = alive(live.get()) {
                let Some(core) = existing.downcast_ref::<Weak<C>>().and_then(Weak::upgrade) else {
                    return Err(wrong_type(name, live.get(), handle, location));
                };
                return match reuse {
                    true => Ok(core),
                    false => Err(Error::InvalidArgument {
                        message: format!(
                            "the actor name `{name}` is taken by a live actor of this runtime: \
                             pick another name, or call `get_if_exists()` on the builder to get \
                             that actor instead"
                        ),
                        location,
                    }),
                };
            }
        }
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        let registration = Registration {
            name: Arc::clone(name),
            token,
        };
        let core = make(registration)?;
        let weak: Weak<C> = Arc::downgrade(&core);
        entry.insert(Entry::Live {
            core: Box::new(weak),
            handle,
            token,
            is_alive: is_alive::<C>,
        });
        Ok(core)
    }

    /// The live actor named `name`, as a `C`.
    pub(crate) fn get<C: Named>(
        &self,
        name: &str,
        handle: &'static str,
        location: &'static Location<'static>,
    ) -> Result<Arc<C>, Error> {
        let not_found = |reason: String| Error::ActorNotFound {
            name: name.to_owned(),
            reason,
            location,
        };
        let Some(entry) = self.names.get(name) else {
            return Err(not_found(
                "no actor of this runtime has this name".to_owned(),
            ));
        };
        let core = match &*entry {
            Entry::Dead { cause } => return Err(not_found(format!("it died: {cause}"))),
            Entry::Live { core, .. } => core,
        };
        let Some(weak) = core.downcast_ref::<Weak<C>>() else {
            return Err(wrong_type(name, &entry, handle, location));
        };
        let Some(core) = weak.upgrade() else {
            return Err(not_found(
                "it stopped: every handle to it was dropped".to_owned(),
            ));
        };
        match core.death_cause() {
            Some(cause) => Err(not_found(format!("it died: {cause}"))),
            None => Ok(core),
        }
    }

    /// The names of the live actors.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .names
            .iter()
            .filter(|entry| alive(entry.value()).is_some())
            .map(|entry| entry.key().to_string())
            .collect();
        names.sort();
        names
    }

    /// The actor registered as `registration` died of `cause`: its name
    /// keeps a tombstone (unless another actor has taken it since).
    pub(crate) fn died(&self, registration: &Registration, cause: &str) {
        if let Some(mut entry) = self.names.get_mut(&registration.name) {
            if matches!(*entry, Entry::Live { token, .. } if token == registration.token) {
                *entry = Entry::Dead {
                    cause: cause.to_owned(),
                };
            }
        }
    }

    /// The actor registered as `registration` stopped (its last handle was
    /// dropped): its name is free, with nothing to say.
    pub(crate) fn stopped(&self, registration: &Registration) {
        self.names.remove_if(
            &registration.name,
            |_, entry| matches!(entry, Entry::Live { token, .. } if *token == registration.token),
        );
    }
}

/// The core of the live actor `entry` holds, if it is live (its core is
/// still there, and not dead).
fn alive(entry: &Entry) -> Option<&(dyn Any + Send + Sync)> {
    match entry {
        Entry::Live { core, is_alive, .. } if is_alive(core.as_ref()) => Some(core.as_ref()),
        _ => None,
    }
}

fn is_alive<C: Named>(core: &(dyn Any + Send + Sync)) -> bool {
    core.downcast_ref::<Weak<C>>()
        .and_then(Weak::upgrade)
        .is_some_and(|core| core.death_cause().is_none())
}

fn wrong_type(
    name: &str,
    entry: &Entry,
    asked: &'static str,
    location: &'static Location<'static>,
) -> Error {
    let held = match entry {
        Entry::Live { handle, .. } => *handle,
        Entry::Dead { .. } => "a dead actor",
    };
    Error::InvalidArgument {
        message: format!(
            "the actor named `{name}` is a `{}`, not a `{}`: ask for the type it was \
             spawned with",
            short_type(held),
            short_type(asked)
        ),
        location,
    }
}

/// `taskref::actor::ActorHandle<alloc::vec::Vec<u8>>` as
/// `ActorHandle<Vec<u8>>`: paths dropped, generics kept.
fn short_type(name: &str) -> String {
    let mut out = String::new();
    let mut segment = String::new();
    for c in name.chars() {
        match c {
            ':' => segment.clear(),
            '<' | '>' | ',' | ' ' | '(' | ')' | '[' | ']' | ';' | '&' => {
                out.push_str(&segment);
                segment.clear();
                out.push(c);
            }
            _ => segment.push(c),
        }
    }
    out.push_str(&segment);
    out
}

/// The handle type's name, for messages.
pub(crate) fn handle_name<H>() -> &'static str {
    type_name::<H>()
}

#[cfg(test)]
mod tests {
    use super::short_type;

    #[test]
    fn type_names_lose_their_paths_and_keep_their_generics() {
        assert_eq!(
            short_type("taskref::actor::ActorHandle<alloc::vec::Vec<u8>>"),
            "ActorHandle<Vec<u8>>"
        );
        assert_eq!(
            short_type("taskref::actor::async_actor::AsyncActorHandle<(u8, std::string::String)>"),
            "AsyncActorHandle<(u8, String)>"
        );
    }
}
