//! High availability: several drover instances, one leader, elected by a lock on a Nomad
//! variable (docs/nomad-api.md), so that the cluster's own Raft store decides and drover keeps no
//! consensus of its own.
//!
//! Owns the election loop (`election`: acquire, renew, release), the [`Role`] it publishes and
//! the [`Fence`] that `sync` checks before each register and prune. Never applies anything and
//! never decides what a follower's loops do (the daemon does).

mod election;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use serde::Serialize;

pub use election::{Election, start};

/// This instance's part in the election, as the election loop publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Holds the lock: the only instance that applies, tracks and prunes.
    Leader { holder: Holder, lock_id: String },
    /// Keeps its mirrors fresh; `leader` is who holds the lock, when known.
    Follower { leader: Option<Holder> },
}

impl Role {
    pub fn is_leader(&self) -> bool {
        matches!(self, Self::Leader { .. })
    }

    /// `leader` or `follower`, as `/status` shows it.
    pub fn as_str(&self) -> &'static str {
        if self.is_leader() {
            "leader"
        } else {
            "follower"
        }
    }

    /// The leader's identity, this instance's own when it leads.
    pub fn leader(&self) -> Option<&Holder> {
        match self {
            Self::Leader { holder, .. } => Some(holder),
            Self::Follower { leader } => leader.as_ref(),
        }
    }
}

/// Who holds the lock: written to the variable's items on acquisition, so that every instance
/// (and an operator running `nomad var get`) can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub hostname: String,
    /// A UUID made when the process starts: two instances on one host stay apart.
    pub instance: String,
    /// RFC 3339; empty while not leading.
    pub since: String,
}

impl Holder {
    /// This process, not (yet) leading.
    pub fn this_process() -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            hostname,
            instance: uuid_v4(),
            since: String::new(),
        }
    }

    /// The same instance, leading from `at`.
    pub(crate) fn leading_since(&self, at: SystemTime) -> Self {
        Self {
            since: humantime::format_rfc3339_seconds(at).to_string(),
            ..self.clone()
        }
    }

    pub(crate) fn to_items(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("hostname".to_owned(), self.hostname.clone()),
            ("instance".to_owned(), self.instance.clone()),
            ("since".to_owned(), self.since.clone()),
        ])
    }

    /// Read back from a variable's items; `None` when they do not name a holder.
    pub(crate) fn from_items(items: &BTreeMap<String, String>) -> Option<Self> {
        let get = |k: &str| items.get(k).cloned().unwrap_or_default();
        let holder = Self {
            hostname: get("hostname"),
            instance: get("instance"),
            since: get("since"),
        };
        (!holder.instance.is_empty()).then_some(holder)
    }
}

/// A random (version 4) UUID.
pub(crate) fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::render::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Whether this instance may start a register or a prune now. Cheap to clone and to check;
/// the election loop lowers it the moment the lock is lost (or may have been), before
/// publishing the new role.
#[derive(Debug, Clone, Default)]
pub struct Fence(Arc<AtomicBool>);

impl Fence {
    pub fn holds(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, holds: bool) {
        self.0.store(holds, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_round_trips_through_items() {
        let me = Holder::this_process().leading_since(SystemTime::UNIX_EPOCH);
        assert_eq!(me.since, "1970-01-01T00:00:00Z");
        assert_eq!(me.instance.len(), 36);
        assert_eq!(Holder::from_items(&me.to_items()), Some(me));
        assert_eq!(Holder::from_items(&BTreeMap::new()), None);
    }

    #[test]
    fn fence_starts_lowered() {
        let fence = Fence::default();
        assert!(!fence.holds());
        fence.set(true);
        assert!(fence.clone().holds());
    }
}
