//! What Nomad holds of the objects a pass must decide on: the source's ownership registry
//! (only when an object without meta is to be decided or pruned), then each object to read,
//! one call each. An object that cannot be read is not decided in this pass; a cluster that
//! answers `ACL support disabled` is not asked for ACL objects again before the drift check.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::ownership::{identity, kind_of, owner, record_from_key};
use super::{Inputs, is_acl};
use crate::apply::objects as nomad_objects;
use crate::apply::registry::{Owned, Registry};
use crate::kinds::Spec;
use crate::reconcile::objects::{LiveObject, ObjectSettings, objects_to_read};
use crate::state::ObjectRecord;

/// What a pass learned from Nomad about its objects.
pub(super) struct Looked {
    /// What the source applied: the state's records and the registry's entries.
    pub known: BTreeMap<String, ObjectRecord>,
    /// The registry's entries (empty when it was not read).
    pub owned: Owned,
    /// What was read, by key (`None`: not in Nomad).
    pub live: BTreeMap<String, Option<LiveObject>>,
    /// Objects that could not be read, with why: not decided in this pass.
    pub unreadable: BTreeMap<String, String>,
    /// The cluster has no ACLs (answered now, or within the drift interval).
    pub acl_disabled: bool,
    /// What to remember of the ACL answer: `Some(Some(at))` disabled, `Some(None)` enabled,
    /// `None` not asked.
    pub acl_answered: Option<Option<SystemTime>>,
}

/// Reads what the decisions on `specs` need. `acl_disabled_at`: when the cluster last said it
/// has no ACLs; `past`: whether a time is older than the drift interval.
pub(super) async fn look(
    inputs: &Inputs<'_>,
    registry: &Registry,
    specs: &[Spec],
    records: &BTreeMap<String, ObjectRecord>,
    settings: &ObjectSettings,
    acl_disabled: bool,
) -> Looked {
    let Inputs { source, client, .. } = *inputs;
    let mut looked = Looked {
        known: records.clone(),
        owned: Owned::new(),
        live: BTreeMap::new(),
        unreadable: BTreeMap::new(),
        acl_disabled,
        acl_answered: None,
    };
    let needs_registry = objects_to_read(specs, records, settings)
        .iter()
        .filter_map(|key| kind_of(key))
        .any(|k| !(k.has_meta() || acl_disabled && is_acl(k)));
    if needs_registry {
        match registry.read().await {
            Ok(read) => looked.owned = read,
            Err(e) => {
                // Without it, no object without meta can be told ours from someone else's.
                for spec in specs.iter().filter(|s| !s.kind.has_meta()) {
                    looked.unreadable.insert(spec.key(), e.to_string());
                }
            }
        }
    }
    for (key, path) in &looked.owned {
        if let Some(record) = record_from_key(key, path) {
            looked.known.entry(key.clone()).or_insert(record);
        }
    }
    for key in objects_to_read(specs, &looked.known, settings) {
        if looked.unreadable.contains_key(&key) {
            continue;
        }
        let Some((kind, name, namespace)) = identity(&key, specs, &looked.known) else {
            continue;
        };
        if looked.acl_disabled && is_acl(kind) {
            continue;
        }
        match nomad_objects::read(client, kind, &name, namespace.as_deref()).await {
            Ok(value) => {
                if is_acl(kind) {
                    looked.acl_answered = Some(None);
                }
                let object = value.map(|value| LiveObject {
                    owner: owner(kind, &key, &value, &source.name, &looked.owned, records),
                    value,
                });
                looked.live.insert(key, object);
            }
            Err(e) if e.is_acl_disabled() => {
                looked.acl_disabled = true;
                looked.acl_answered = Some(Some(SystemTime::now()));
            }
            Err(e) => {
                let why = format!("cannot read it from Nomad: {e}");
                looked.unreadable.insert(key, why);
            }
        }
    }
    if looked.acl_disabled {
        tracing::warn!(source = %source.name, "the cluster has no ACLs (ACL support disabled): the source's ACL policies and roles do not apply there");
    }
    looked
}
