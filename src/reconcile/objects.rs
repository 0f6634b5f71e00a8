//! The cluster objects besides jobs (namespaces, node pools, ACL policies and roles,
//! variables): which need a look in Nomad this pass, and, from what was read, what to do with
//! each — the same rules as for jobs. Pure: no I/O, no clock.
//!
//! An object is the source's when Nomad says so: its `drover.source` meta (namespaces, node
//! pools) or the source's ownership registry (the kinds without meta); the caller reads both
//! into an [`Owner`]. An object whose file did not change since it was applied is not read,
//! unless the drift check is due: a pass whose files did not change asks Nomad nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::kinds::{self, Change, Kind, Spec};
use crate::state::ObjectRecord;

/// The source's settings and the pass's flags that decisions on objects depend on.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSettings {
    /// Take over an object of the same name that nobody owns.
    pub adopt: bool,
    pub self_heal: bool,
    /// Kinds whose objects are deleted when their file leaves Git.
    pub prune: BTreeSet<Kind>,
    pub max_prune_fraction: f64,
    pub allow_mass_prune: bool,
    /// Compare every object with Nomad, changed or not (the drift interval passed, `--full`).
    pub check_all: bool,
}

/// Who an object in Nomad belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    ThisSource,
    /// Another drover source (its name).
    Other(String),
    /// Made by hand, or by another tool.
    Nobody,
}

/// An object as Nomad holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    pub value: serde_json::Value,
    pub owner: Owner,
}

/// What to do with one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not in Nomad: create it.
    Create,
    /// Ours, and the file changed these fields: write it.
    Update(Vec<Change>),
    /// The file did not change, and Nomad agrees (or was not asked).
    Unchanged,
    /// Ours, the file did not change, and Nomad differs: changed outside Git. Written back
    /// when `heal` (`self_heal`), else reported.
    Drift { changes: Vec<Change>, heal: bool },
    /// Nobody's, and the source adopts: written, and the source's from now on.
    Adopt(Vec<Change>),
    /// Exists and is not the source's: not touched.
    NotOwned(Owner),
    /// Its file left Git, and the source prunes its kind: delete it.
    Prune,
    /// Its file left Git and it is already gone from Nomad: forget it.
    Forget,
    /// Its file left Git and it stays; the text says why.
    Kept(String),
    /// Its file left Git, and Nomad refused to delete it (in use); not asked again before
    /// the drift check. The text is Nomad's.
    DeleteRefused(String),
}

/// One object and what to do with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectAction {
    pub key: String,
    pub kind: Kind,
    pub name: String,
    pub namespace: Option<String>,
    pub path: String,
    pub decision: Decision,
}

/// The keys of the objects to read from Nomad before deciding: every desired object whose
/// file changed since it was applied (or all of them when `check_all`), and every object of a
/// pruned kind whose file left Git (but one Nomad refused to delete, before the drift check).
pub fn objects_to_read(
    desired: &[Spec],
    known: &BTreeMap<String, ObjectRecord>,
    settings: &ObjectSettings,
) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut wanted = BTreeSet::new();
    for spec in desired {
        let key = spec.key();
        let applied = known.get(&key).and_then(|r| r.fingerprint.as_deref());
        if settings.check_all || applied != Some(spec.fingerprint().as_str()) {
            keys.insert(key.clone());
        }
        wanted.insert(key);
    }
    for (key, record) in known {
        let refused = record.delete_refused.is_some() && !settings.check_all;
        if !wanted.contains(key) && settings.prune.contains(&record.kind) && !refused {
            keys.insert(key.clone());
        }
    }
    keys
}

/// Decides what to do with every object: the desired ones in input order, then those whose
/// file left Git. `known` holds what the source applied (the state and the ownership
/// registry); `live` what was read, by key (`None`: not in Nomad; a key missing: not read,
/// because nothing changed); `unparsed` the kinds of which a file did not parse in this pass
/// (no object of those kinds is pruned: the file might still define it).
pub fn reconcile_objects(
    desired: &[Spec],
    known: &BTreeMap<String, ObjectRecord>,
    live: &BTreeMap<String, Option<LiveObject>>,
    unparsed: &BTreeSet<Kind>,
    settings: &ObjectSettings,
) -> Vec<ObjectAction> {
    let mut actions = Vec::new();
    let mut wanted = BTreeSet::new();
    for spec in desired {
        let key = spec.key();
        let applied = known.get(&key).and_then(|r| r.fingerprint.clone());
        let decision = match live.get(&key) {
            None => Decision::Unchanged,
            Some(None) => Decision::Create,
            Some(Some(object)) => decide(spec, object, applied, settings),
        };
        wanted.insert(key.clone());
        actions.push(ObjectAction {
            key,
            kind: spec.kind,
            name: spec.name.clone(),
            namespace: spec.namespace.clone(),
            path: spec.path.clone(),
            decision,
        });
    }
    let gone: Vec<(&String, &ObjectRecord)> =
        known.iter().filter(|(k, _)| !wanted.contains(*k)).collect();
    for (key, record) in &gone {
        let decision = leaving(record, live.get(*key), known, &gone, unparsed, settings);
        actions.push(ObjectAction {
            key: (*key).clone(),
            kind: record.kind,
            name: record.name.clone(),
            namespace: record.namespace.clone(),
            path: record.path.clone(),
            decision,
        });
    }
    actions
}

fn decide(
    spec: &Spec,
    object: &LiveObject,
    applied: Option<String>,
    settings: &ObjectSettings,
) -> Decision {
    let changes = kinds::changes(spec, &object.value);
    match &object.owner {
        Owner::ThisSource if changes.is_empty() => Decision::Unchanged,
        Owner::ThisSource if applied.as_deref() == Some(spec.fingerprint().as_str()) => {
            Decision::Drift {
                changes,
                heal: settings.self_heal,
            }
        }
        Owner::ThisSource => Decision::Update(changes),
        Owner::Nobody if settings.adopt => Decision::Adopt(changes),
        owner => Decision::NotOwned(owner.clone()),
    }
}

/// An object whose file left Git: pruned only when its kind is, no file of its kind failed to
/// parse, the share of its kind pruned stays within the limit, and Nomad still shows it as
/// the source's.
fn leaving(
    record: &ObjectRecord,
    live: Option<&Option<LiveObject>>,
    known: &BTreeMap<String, ObjectRecord>,
    gone: &[(&String, &ObjectRecord)],
    unparsed: &BTreeSet<Kind>,
    settings: &ObjectSettings,
) -> Decision {
    let kind = record.kind;
    if !settings.prune.contains(&kind) {
        return Decision::Kept(format!(
            "its file left Git; kept: prune_kinds does not list \"{}\"",
            kind.config_key()
        ));
    }
    if unparsed.contains(&kind) {
        return Decision::Kept(format!(
            "its file left Git; kept: a {} file did not parse in this commit, and it may define it",
            kind.noun()
        ));
    }
    let of_kind = known.values().filter(|r| r.kind == kind).count();
    let pruned = gone.iter().filter(|(_, r)| r.kind == kind).count();
    if !settings.allow_mass_prune && pruned as f64 > settings.max_prune_fraction * of_kind as f64 {
        return Decision::Kept(format!(
            "its file left Git; kept: this commit would prune {pruned} of the source's {of_kind} {} objects, more than max_prune_fraction = {} (sync --allow-mass-prune to go ahead)",
            kind.noun(),
            settings.max_prune_fraction
        ));
    }
    match live {
        None => match &record.delete_refused {
            Some(why) => Decision::DeleteRefused(why.clone()),
            None => Decision::Kept("its file left Git; kept: not read from Nomad".to_owned()),
        },
        Some(None) => Decision::Forget,
        Some(Some(object)) if object.owner == Owner::ThisSource => Decision::Prune,
        Some(Some(_)) => Decision::Kept(
            "its file left Git; kept: Nomad no longer shows it as this source's".to_owned(),
        ),
    }
}
