//! Whose an object in Nomad is, and what a key of the ownership registry stands for: the
//! `drover.source` meta of the kinds that carry meta, the registry (or the state's record) for
//! the others.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::apply::registry::Owned;
use crate::kinds::{Kind, Spec};
use crate::reconcile::objects::Owner;
use crate::state::{META_SOURCE, ObjectRecord};

/// Who owns `value`: its `drover.source` meta for the kinds with meta; the registry, or the
/// state's record, for the others.
pub(super) fn owner(
    kind: Kind,
    key: &str,
    value: &Value,
    source: &str,
    owned: &Owned,
    records: &BTreeMap<String, ObjectRecord>,
) -> Owner {
    if kind.has_meta() {
        return match value
            .pointer(&format!("/Meta/{META_SOURCE}"))
            .and_then(Value::as_str)
        {
            Some(s) if s == source => Owner::ThisSource,
            Some(s) if !s.is_empty() => Owner::Other(s.to_owned()),
            _ => Owner::Nobody,
        };
    }
    if owned.contains_key(key) || records.contains_key(key) {
        Owner::ThisSource
    } else {
        Owner::Nobody
    }
}

/// The kind a key names (`acl_policy/ops` → [`Kind::AclPolicy`]).
pub(super) fn kind_of(key: &str) -> Option<Kind> {
    let (kind, _) = key.split_once('/')?;
    serde_json::from_value(Value::String(kind.to_owned())).ok()
}

/// The record a registry entry stands for (its fingerprint unknown).
pub(super) fn record_from_key(key: &str, path: &str) -> Option<ObjectRecord> {
    let kind = kind_of(key)?;
    let (_, rest) = key.split_once('/')?;
    let (namespace, name) = match kind {
        Kind::Variable => {
            let (ns, name) = rest.split_once('/')?;
            (Some(ns.to_owned()), name.to_owned())
        }
        _ => (None, rest.to_owned()),
    };
    Some(ObjectRecord {
        kind,
        name,
        namespace,
        path: path.to_owned(),
        fingerprint: None,
        id: None,
        delete_refused: None,
    })
}

/// The kind, name and namespace of the object `key` names.
pub(super) fn identity(
    key: &str,
    specs: &[Spec],
    known: &BTreeMap<String, ObjectRecord>,
) -> Option<(Kind, String, Option<String>)> {
    if let Some(spec) = specs.iter().find(|s| s.key() == key) {
        return Some((spec.kind, spec.name.clone(), spec.namespace.clone()));
    }
    known
        .get(key)
        .map(|r| (r.kind, r.name.clone(), r.namespace.clone()))
}
