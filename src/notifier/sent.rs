//! What was sent where, so that one outcome is told once per destination: also across
//! restarts (the local state) and, with high availability, across leaders (a Nomad variable,
//! `drover/notified`, next to the leader lock, written with check-and-set).
//!
//! A key stands for (destination, source, job, commit, outcome): a digest, so that the record
//! stays small and holds no names. Owns the record and its bounds; never decides what to send.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::nomad::{self, Client};
use crate::state::{NOTIFIED_KEPT, Recorder, Save};

/// The shared record's path, and its one item: a JSON array of keys, oldest first.
const SHARED_PATH: &str = "drover/notified";
const ITEM: &str = "sent";
/// Keys kept in the shared record: 1,200 keys of 24 characters stay near 32 KiB, half of
/// Nomad's limit for a variable.
const SHARED_KEPT: usize = 1_200;
/// Writes tried before giving up when other instances keep writing first.
const CAS_ATTEMPTS: u32 = 5;

/// The key of one outcome told to one destination.
pub fn key(destination: &str, source: &str, job: &str, commit: &str, outcome: &str) -> String {
    let mut h = Sha256::new();
    for field in [destination, source, job, commit, outcome] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    crate::render::hex(&h.finalize()[..12])
}

/// The record. Cheap to clone.
#[derive(Clone)]
pub struct Sent {
    recorder: Recorder,
    /// The shared record's client (in the lock's namespace), with high availability.
    shared: Option<Client>,
    /// Queued and not yet delivered: not queued twice.
    queued: Arc<Mutex<HashSet<String>>>,
}

impl Sent {
    pub fn new(recorder: Recorder, shared: Option<Client>) -> Self {
        Self {
            recorder,
            shared,
            queued: Arc::default(),
        }
    }

    /// Of `keys`, those neither sent nor queued, now marked queued. When the shared record
    /// cannot be read, none: a message is rather late (sent at the next outcome) than twice.
    pub async fn claim(&self, keys: Vec<String>) -> Vec<String> {
        let shared = match &self.shared {
            Some(client) => match read(client).await {
                Ok((keys, _)) => keys.into_iter().collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read what was notified from Nomad; holding notifications back");
                    return Vec::new();
                }
            },
            None => HashSet::new(),
        };
        let local: HashSet<String> = self.recorder.lock().notified.iter().cloned().collect();
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        let fresh: Vec<String> = keys
            .into_iter()
            .filter(|k| !local.contains(k) && !shared.contains(k) && !queued.contains(k))
            .collect();
        queued.extend(fresh.iter().cloned());
        fresh
    }

    /// Gives back `keys` claimed but never queued (their request could not be made).
    pub fn release(&self, keys: Vec<String>) {
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        for key in &keys {
            queued.remove(key);
        }
    }

    /// Records `keys` as delivered.
    pub async fn delivered(&self, keys: Vec<String>) {
        self.release(keys.clone());
        if let Some(client) = &self.shared
            && let Err(e) = add(client, &keys).await
        {
            tracing::warn!(error = %e, "cannot record in Nomad what was notified; another leader may tell it again");
        }
        self.recorder
            .record(Save::Now, move |state| {
                state.notified.extend(keys);
                let excess = state.notified.len().saturating_sub(NOTIFIED_KEPT);
                state.notified.drain(..excess);
            })
            .await;
    }
}

async fn read(client: &Client) -> Result<(VecDeque<String>, u64), nomad::Error> {
    client.variable_item(SHARED_PATH, ITEM).await
}

async fn add(client: &Client, new: &[String]) -> Result<(), nomad::Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (mut keys, index) = read(client).await?;
        keys.extend(
            new.iter()
                .filter(|k| !keys.contains(k))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let excess = keys.len().saturating_sub(SHARED_KEPT);
        keys.drain(..excess);
        let text = serde_json::to_string(&keys).unwrap_or_default();
        let items = BTreeMap::from([(ITEM.to_owned(), text)]);
        match client.put_variable(SHARED_PATH, &items, index).await {
            Ok(_) => return Ok(()),
            Err(nomad::Error::LockConflict { .. }) if attempt < CAS_ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_every_field_and_hold_no_names() {
        let base = key("chat", "prod", "default/web", "abc", "failed");
        assert_eq!(base.len(), 24);
        assert_eq!(base, key("chat", "prod", "default/web", "abc", "failed"));
        for other in [
            key("ops", "prod", "default/web", "abc", "failed"),
            key("chat", "stage", "default/web", "abc", "failed"),
            key("chat", "prod", "default/api", "abc", "failed"),
            key("chat", "prod", "default/web", "abd", "failed"),
            key("chat", "prod", "default/web", "abc", "recovered"),
            key("chatp", "rod", "default/web", "abc", "failed"),
        ] {
            assert_ne!(other, base);
        }
        assert!(!base.contains("web"));
    }

    #[test]
    fn the_shared_record_stays_far_below_nomads_limit() {
        let keys: Vec<String> = (0..SHARED_KEPT)
            .map(|i| key("d", "s", "j", &i.to_string(), "o"))
            .collect();
        let text = serde_json::to_string(&keys).expect("json");
        assert!(text.len() <= 34 * 1024, "{} bytes", text.len());
    }
}
