//! Named actors: each runtime's registry of actor names (Ray's named actors,
//! `ray.get_actor`).
//
// A name maps to a weak reference to the actor's core (what its handles
// share), so the registry never keeps an actor alive: as in Ray, an actor
// whose every handle is gone stops, and its name with it. When an actor dies
// (killed, its constructor out of restarts) the registry keeps a tombstone
// saying how while handles to it remain, so a late `get_actor` says "it
// died: it was killed" rather than "no such actor"; the last handle's drop
// removes the name. A claim and the lookups of `get_if_exists` run under the
// name's shard lock, so two creators racing for one name make one actor
// between them; no actor is ever dropped under that lock (see `Entry`).

use std::any::Any;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use dashmap::mapref::entry::Entry as MapEntry;
use dashmap::DashMap;

use crate::error::Error;

/// What a registered actor's core must give the registry.
pub(crate) trait Named: Any + Send + Sync {
    /// What says whether the actor is dead, shared: the registry reads it
    /// without holding the actor (see `Entry::Live`).
    fn mortal(&self) -> Arc<dyn Mortal>;
}

/// Whether an actor is dead, and why.
pub(crate) trait Mortal: Send + Sync {
    fn death_cause(&self) -> Option<String>;
}

enum Entry {
    Live {
        /// A `Weak` of the actor's core, whatever its type. It is upgraded
        /// under the map's lock only to be returned: a core upgraded and
        /// dropped there could be the last handle, whose drop removes the
        /// name, from the same (not re-entrant) lock.
        core: Box<dyn Any + Send + Sync>,
        /// Whether a handle to `core` is left (made for its type).
        has_handles: fn(&(dyn Any + Send + Sync)) -> bool,
        mortal: Arc<dyn Mortal>,
        /// The handle type, for the error when another is asked for.
        handle: &'static str,
        token: u64,
    },
    /// A named actor that died while handles to it remain: its name says
    /// how, until the name is taken again or the last handle goes.
    Dead { cause: String, token: u64 },
}

impl Entry {
    /// Whether the actor is live: a handle to it is left and it is not dead.
    fn is_alive(&self) -> bool {
        match self {
            Entry::Live {
                core,
                has_handles,
                mortal,
                ..
            } => has_handles(core.as_ref()) && mortal.death_cause().is_none(),
            Entry::Dead { .. } => false,
        }
    }

    fn token(&self) -> u64 {
        match self {
            Entry::Live { token, .. } | Entry::Dead { token, .. } => *token,
        }
    }
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
            let live = live.get();
            if live.is_alive() {
                let Entry::Live { core, .. } = live else {
                    unreachable!("only a live entry is alive")
                };
                let Some(weak) = core.downcast_ref::<Weak<C>>() else {
                    return Err(wrong_type(name, live, handle, location));
                };
                if !reuse {
                    return Err(Error::InvalidArgument {
                        message: format!(
                            "the actor name `{name}` is taken by a live actor of this runtime: \
                             pick another name, or call `get_if_exists()` on the builder to get \
                             that actor instead"
                        ),
                        location,
                    });
                }
                // Returned, never dropped under the lock. If the last handle
                // went just now, the name is free: a new actor takes it.
                if let Some(core) = weak.upgrade() {
                    return Ok(core);
                }
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
            has_handles: has_handles::<C>,
            mortal: core.mortal(),
            handle,
            token,
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
        // The `Weak` is taken out, and upgraded once the lock is let go.
        let weak: Weak<C> = {
            let Some(entry) = self.names.get(name) else {
                return Err(not_found(
                    "no actor of this runtime has this name".to_owned(),
                ));
            };
            let core = match &*entry {
                Entry::Dead { cause, .. } => return Err(not_found(format!("it died: {cause}"))),
                Entry::Live { core, .. } => core,
            };
            match core.downcast_ref::<Weak<C>>() {
                Some(weak) => weak.clone(),
                None => return Err(wrong_type(name, &entry, handle, location)),
            }
        };
        let Some(core) = weak.upgrade() else {
            return Err(not_found(
                "it stopped: every handle to it was dropped".to_owned(),
            ));
        };
        match core.mortal().death_cause() {
            Some(cause) => Err(not_found(format!("it died: {cause}"))),
            None => Ok(core),
        }
    }

    /// The names of the live actors.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .names
            .iter()
            .filter(|entry| entry.value().is_alive())
            .map(|entry| entry.key().to_string())
            .collect();
        names.sort();
        names
    }

    /// The actor registered as `registration` died of `cause`: its name
    /// keeps a tombstone while handles to it remain (unless another actor
    /// has taken the name since).
    pub(crate) fn died(&self, registration: &Registration, cause: &str) {
        if let Some(mut entry) = self.names.get_mut(&registration.name) {
            if matches!(*entry, Entry::Live { token, .. } if token == registration.token) {
                *entry = Entry::Dead {
                    cause: cause.to_owned(),
                    token: registration.token,
                };
            }
        }
    }

    /// The last handle to the actor registered as `registration` was
    /// dropped: the registry forgets it, and its name is free.
    pub(crate) fn stopped(&self, registration: &Registration) {
        self.names.remove_if(&registration.name, |_, entry| {
            entry.token() == registration.token
        });
    }
}

fn has_handles<C: Named>(core: &(dyn Any + Send + Sync)) -> bool {
    core.downcast_ref::<Weak<C>>()
        .is_some_and(|weak| weak.strong_count() > 0)
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
