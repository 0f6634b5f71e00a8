//! The cluster objects of a pass besides jobs: every file of each kind read and checked (no
//! Nomad call), the objects whose files changed (or all, when the drift check is due) read
//! from Nomad, decided by `reconcile`, and written kind by kind in dependency order —
//! namespaces and node pools, ACL policies, ACL roles, variables — before the jobs; prunes run
//! after the jobs', in the reverse order. A failure blocks what depends on it (the variables
//! and jobs of a namespace that failed, the roles of a policy that failed), not the rest.
//!
//! A cluster without ACLs answers the ACL endpoints `ACL support disabled`: the source's ACL
//! objects are then reported as not applicable there (one warning a pass) and the rest goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde_json::Value;

use super::report::ObjectReport;
use super::{Context, Options, Status};
use crate::apply::objects::{self as nomad_objects, ObjectError};
use crate::apply::registry::{Owned, Registry};
use crate::config::Source;
use crate::events::{Event, EventKind};
use crate::kinds::{self, Kind, Spec};
use crate::nomad::Client;
use crate::reconcile::objects::{
    Decision, LiveObject, ObjectAction, ObjectSettings, Owner, objects_to_read, reconcile_objects,
};
use crate::source::{RepoFiles, Snapshot};
use crate::state::{META_COMMIT, META_PATH, META_SOURCE, ObjectRecord, Save};

/// The objects of one commit, read from their files.
#[derive(Debug, Default)]
pub(crate) struct ObjectSet {
    pub specs: Vec<Spec>,
    /// Files that did not become an object, with every error found in them.
    pub broken: Vec<ObjectReport>,
    /// Kinds of which a file did not parse: none of their objects is pruned in this pass.
    pub unparsed: BTreeSet<Kind>,
}

/// Reads every object file of the commit. No Nomad call.
pub(crate) fn read_files(snapshot: &Snapshot) -> ObjectSet {
    let mut set = ObjectSet::default();
    let read = |path: &str| {
        let bytes = snapshot.read(path)?;
        String::from_utf8(bytes).map_err(|_| crate::source::FileError::Unreadable {
            path: path.to_owned(),
            detail: "not valid UTF-8 text".to_owned(),
        })
    };
    for (kind, files) in Kind::ALL.into_iter().zip(&snapshot.groups) {
        for file in files {
            let parsed = read(&file.path)
                .map_err(|e| vec![e.to_string()])
                .and_then(|text| {
                    kinds::parse(kind, &file.path, &text, &read)
                        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
                });
            match parsed {
                Ok(spec) => set.specs.push(spec),
                Err(errors) => {
                    set.unparsed.insert(kind);
                    set.broken.push(ObjectReport::new(
                        &format!("{} file", kind.noun()),
                        &file.path,
                        Status::Blocked,
                        errors.join("\n"),
                    ));
                }
            }
        }
    }
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, spec) in set.specs.iter().enumerate() {
        by_key.entry(spec.key()).or_default().push(i);
    }
    let twice: BTreeSet<usize> = by_key
        .values()
        .filter(|ids| ids.len() > 1)
        .flatten()
        .copied()
        .collect();
    if !twice.is_empty() {
        let specs = std::mem::take(&mut set.specs);
        let paths: BTreeMap<String, Vec<String>> =
            twice.iter().fold(BTreeMap::new(), |mut m, i| {
                m.entry(specs[*i].key())
                    .or_default()
                    .push(specs[*i].path.clone());
                m
            });
        for (i, spec) in specs.into_iter().enumerate() {
            if twice.contains(&i) {
                set.unparsed.insert(spec.kind);
                let files = paths[&spec.key()].join(", ");
                set.broken.push(ObjectReport::new(
                    &display(spec.kind, &spec.name, spec.namespace.as_deref()),
                    &spec.path,
                    Status::Blocked,
                    format!(
                        "{} {:?} is defined by several files ({files}); each is blocked",
                        spec.kind.noun(),
                        spec.name
                    ),
                ));
            } else {
                set.specs.push(spec);
            }
        }
    }
    set
}

/// What the objects' half of a pass decided and did, carried from before the jobs to the
/// prunes after them.
pub(crate) struct ObjectPass {
    pub reports: Vec<ObjectReport>,
    /// Namespaces that failed to apply, with why: their jobs are blocked in this pass.
    pub failed_namespaces: BTreeMap<String, String>,
    prunes: Vec<(ObjectAction, Value)>,
    /// Keys gone from Nomad already, to drop from the registry with the prunes.
    forgotten: BTreeSet<String>,
    registry: Registry,
}

/// Everything the objects' half needs of the pass.
pub(crate) struct Inputs<'a> {
    pub source: &'a Source,
    pub ctx: &'a Context,
    pub client: &'a Client,
    pub options: Options,
    pub commit: &'a str,
}

/// Reads, decides and writes the source's objects (but prunes, see [`prune`]).
pub(crate) async fn apply(inputs: &Inputs<'_>, set: ObjectSet) -> ObjectPass {
    let Inputs {
        source,
        ctx,
        client,
        options,
        commit,
    } = *inputs;
    let mut pass = ObjectPass {
        reports: set.broken,
        failed_namespaces: BTreeMap::new(),
        prunes: Vec::new(),
        forgotten: BTreeSet::new(),
        registry: Registry::new(client, &source.name),
    };
    let now = SystemTime::now();
    let (records, checked, acl_seen_disabled) = {
        let state = ctx.recorder.lock();
        let s = state.source(&source.name);
        (s.objects.clone(), s.objects_checked, s.acl_disabled)
    };
    if set.specs.is_empty() && records.is_empty() {
        return pass;
    }
    let past = |at: SystemTime| now.duration_since(at).unwrap_or_default() >= ctx.drift_interval;
    let due = checked.is_none_or(past);
    let settings = ObjectSettings {
        adopt: source.objects.adopt,
        self_heal: source.self_heal,
        prune: source.objects.prune.clone(),
        max_prune_fraction: source.max_prune_fraction,
        allow_mass_prune: options.allow_mass_prune,
        check_all: options.full || due,
    };
    let mut known = records.clone();
    let mut owned = Owned::new();
    // Known from an earlier pass within the drift interval: not asked again until then.
    let mut acl_disabled = acl_seen_disabled.is_some_and(|at| !past(at));
    let needs_registry = objects_to_read(&set.specs, &known, &settings)
        .iter()
        .filter_map(|key| kind_of(key))
        .any(|k| !(k.has_meta() || acl_disabled && is_acl(k)));
    let mut unreadable: BTreeMap<String, String> = BTreeMap::new();
    if needs_registry {
        match pass.registry.read().await {
            Ok(read) => owned = read,
            Err(e) => {
                // Without it, no object without meta can be told ours from someone else's.
                for spec in set.specs.iter().filter(|s| !s.kind.has_meta()) {
                    unreadable.insert(spec.key(), e.to_string());
                }
            }
        }
    }
    for (key, path) in &owned {
        if let Some(record) = record_from_key(key, path) {
            known.entry(key.clone()).or_insert(record);
        }
    }
    let to_read = objects_to_read(&set.specs, &known, &settings);
    let mut live: BTreeMap<String, Option<LiveObject>> = BTreeMap::new();
    let mut acl_answered = None;
    for key in &to_read {
        if unreadable.contains_key(key) {
            continue;
        }
        let Some((kind, name, namespace)) = identity(key, &set.specs, &known) else {
            continue;
        };
        if acl_disabled && is_acl(kind) {
            continue;
        }
        match nomad_objects::read(client, kind, &name, namespace.as_deref()).await {
            Ok(value) => {
                if is_acl(kind) {
                    acl_answered = Some(None);
                }
                let object = value.map(|value| LiveObject {
                    owner: owner(kind, key, &value, &source.name, &owned, &records),
                    value,
                });
                live.insert(key.clone(), object);
            }
            Err(e) if e.is_acl_disabled() => {
                acl_disabled = true;
                acl_answered = Some(Some(now));
            }
            Err(e) => {
                unreadable.insert(key.clone(), format!("cannot read it from Nomad: {e}"));
            }
        }
    }
    if acl_disabled {
        tracing::warn!(source = %source.name, "the cluster has no ACLs (ACL support disabled): the source's ACL policies and roles do not apply there");
    }
    let skipped =
        |kind: Kind, key: &str| unreadable.contains_key(key) || (acl_disabled && is_acl(kind));
    let specs: Vec<Spec> = set
        .specs
        .iter()
        .filter(|s| !skipped(s.kind, &s.key()))
        .cloned()
        .collect();
    for spec in set.specs.iter().filter(|s| skipped(s.kind, &s.key())) {
        let what = display(spec.kind, &spec.name, spec.namespace.as_deref());
        let report = match unreadable.get(&spec.key()) {
            Some(why) => ObjectReport::new(&what, &spec.path, Status::Failed, why.clone()),
            None => ObjectReport::new(
                &what,
                &spec.path,
                Status::Kept,
                "not applicable: the cluster has no ACLs (ACL support disabled)".to_owned(),
            ),
        };
        pass.reports.push(report);
    }
    known.retain(|key, record| !skipped(record.kind, key));
    let actions = reconcile_objects(&specs, &known, &live, &set.unparsed, &settings);
    let claims: Owned = actions
        .iter()
        .filter(|a| !a.kind.has_meta() && !owned.contains_key(&a.key))
        .filter(|a| matches!(a.decision, Decision::Create | Decision::Adopt(_)))
        .map(|a| (a.key.clone(), a.path.clone()))
        .collect();
    let claim_error = match claims.is_empty() {
        true => None,
        false => pass
            .registry
            .change(&claims, &BTreeSet::new())
            .await
            .err()
            .map(|e| e.to_string()),
    };
    let specs_by_key: BTreeMap<String, &Spec> = specs.iter().map(|s| (s.key(), s)).collect();
    let mut failed_policies = BTreeSet::new();
    let mut changes: Vec<(String, Option<ObjectRecord>)> = Vec::new();
    let stamp = BTreeMap::from([
        (META_SOURCE.to_owned(), source.name.clone()),
        (META_COMMIT.to_owned(), commit.to_owned()),
    ]);
    for kind in Kind::ALL {
        for action in actions.iter().filter(|a| a.kind == kind) {
            let what = display(kind, &action.name, action.namespace.as_deref());
            let live_value = live
                .get(&action.key)
                .and_then(|l| l.as_ref())
                .map(|l| &l.value);
            let Some(spec) = specs_by_key.get(&action.key) else {
                match &action.decision {
                    Decision::Prune => {
                        if let Some(value) = live_value {
                            pass.prunes.push((action.clone(), value.clone()));
                        }
                    }
                    Decision::Forget => {
                        changes.push((action.key.clone(), None));
                        pass.registry_forget(&action.key);
                    }
                    Decision::Kept(why) => pass.reports.push(ObjectReport::new(
                        &what,
                        &action.path,
                        Status::Kept,
                        why.clone(),
                    )),
                    Decision::DeleteRefused(why) => pass.reports.push(ObjectReport::new(
                        &what,
                        &action.path,
                        Status::Blocked,
                        format!("its file left Git, but it stays: {why}"),
                    )),
                    _ => {}
                }
                continue;
            };
            if let Some(why) = blocked_by(spec, &pass.failed_namespaces, &failed_policies) {
                pass.reports
                    .push(ObjectReport::new(&what, &action.path, Status::Blocked, why));
                continue;
            }
            let record = |id: Option<String>| ObjectRecord {
                kind,
                name: spec.name.clone(),
                namespace: spec.namespace.clone(),
                path: spec.path.clone(),
                fingerprint: Some(spec.fingerprint()),
                id,
                delete_refused: None,
            };
            let (verb, event) = match &action.decision {
                Decision::Unchanged => {
                    if live.contains_key(&action.key) || !known.contains_key(&action.key) {
                        changes.push((action.key.clone(), Some(record(None))));
                    }
                    pass.reports.push(ObjectReport::new(
                        &what,
                        &action.path,
                        Status::Unchanged,
                        String::new(),
                    ));
                    continue;
                }
                Decision::Drift {
                    changes: fields,
                    heal: false,
                } => {
                    let detail = format!(
                        "changed outside Git: {}; self_heal is off, so it stays",
                        fields_text(fields)
                    );
                    announce(
                        ctx,
                        &source.name,
                        EventKind::DriftFound,
                        &action.key,
                        commit,
                        &detail,
                    );
                    pass.reports.push(ObjectReport::new(
                        &what,
                        &action.path,
                        Status::Drifted,
                        detail,
                    ));
                    continue;
                }
                Decision::NotOwned(owner) => {
                    let whose = match owner {
                        Owner::Other(name) => format!("drover source {name:?}"),
                        _ => "nobody drover knows (made by hand or by another tool)".to_owned(),
                    };
                    let detail = format!(
                        "already exists in Nomad and belongs to {whose}: not touched; set adopt = true on the source to take it over"
                    );
                    announce(
                        ctx,
                        &source.name,
                        EventKind::Blocked,
                        &action.key,
                        commit,
                        &detail,
                    );
                    fail(
                        kind,
                        &action.name,
                        &detail,
                        &mut pass.failed_namespaces,
                        &mut failed_policies,
                    );
                    pass.reports.push(ObjectReport::new(
                        &what,
                        &action.path,
                        Status::Blocked,
                        detail,
                    ));
                    continue;
                }
                Decision::Create => ("created".to_owned(), EventKind::Applied),
                Decision::Update(fields) => (
                    format!("updated: {}", fields_text(fields)),
                    EventKind::Applied,
                ),
                Decision::Adopt(fields) => {
                    tracing::warn!(source = %source.name, object = %action.key, "adopting an object drover did not create (adopt = true)");
                    (
                        format!("adopted: {}", fields_text(fields)),
                        EventKind::Applied,
                    )
                }
                Decision::Drift {
                    changes: fields,
                    heal: true,
                } => (
                    format!("changed outside Git ({}); put back", fields_text(fields)),
                    EventKind::DriftCorrected,
                ),
                Decision::Prune
                | Decision::Forget
                | Decision::Kept(_)
                | Decision::DeleteRefused(_) => continue,
            };
            let error = if let Some(why) = halted(ctx) {
                Some(why.to_owned())
            } else if let (Some(e), false) = (&claim_error, kind.has_meta()) {
                Some(e.clone())
            } else {
                let mut meta = stamp.clone();
                meta.insert(META_PATH.to_owned(), spec.path.clone());
                match nomad_objects::write(client, spec, live_value, &meta).await {
                    Ok(id) => {
                        let id = id.or_else(|| known.get(&action.key).and_then(|r| r.id.clone()));
                        changes.push((action.key.clone(), Some(record(id))));
                        None
                    }
                    Err(e) => Some(e.to_string()),
                }
            };
            match error {
                None => {
                    announce(ctx, &source.name, event, &action.key, commit, &verb);
                    pass.reports
                        .push(ObjectReport::new(&what, &action.path, Status::Synced, verb));
                }
                Some(why) => {
                    let detail = format!("not applied, what Nomad has stays: {why}");
                    announce(
                        ctx,
                        &source.name,
                        EventKind::Blocked,
                        &action.key,
                        commit,
                        &detail,
                    );
                    pass.reports.push(ObjectReport::new(
                        &what,
                        &action.path,
                        Status::Failed,
                        detail.clone(),
                    ));
                    fail(
                        kind,
                        &action.name,
                        &detail,
                        &mut pass.failed_namespaces,
                        &mut failed_policies,
                    );
                }
            }
        }
    }
    let name = source.name.clone();
    let check_all = settings.check_all;
    ctx.recorder
        .record(Save::Now, move |state| {
            let s = state.source_mut(&name);
            for (key, record) in changes {
                match record {
                    Some(r) => s.objects.insert(key, r),
                    None => s.objects.remove(&key),
                };
            }
            if check_all {
                s.objects_checked = Some(now);
            }
            if let Some(disabled) = acl_answered {
                s.acl_disabled = disabled;
            }
        })
        .await;
    pass
}

impl ObjectPass {
    fn registry_forget(&mut self, key: &str) {
        if kind_of(key).is_some_and(|k| !k.has_meta()) {
            self.forgotten.insert(key.to_owned());
        }
    }
}

/// Deletes the objects whose files left Git, in the reverse order of their kinds, after the
/// jobs' prunes. A deletion Nomad refuses (a namespace that still holds jobs or variables, a
/// node pool with nodes) leaves the object and is reported blocked.
pub(crate) async fn prune(inputs: &Inputs<'_>, pass: &mut ObjectPass) {
    let Inputs {
        source,
        ctx,
        client,
        commit,
        ..
    } = *inputs;
    let mut removed = Vec::new();
    let mut refused = Vec::new();
    let mut unclaim: BTreeSet<String> = std::mem::take(&mut pass.forgotten);
    for kind in Kind::ALL.into_iter().rev() {
        for (action, value) in pass.prunes.iter().filter(|(a, _)| a.kind == kind) {
            let what = display(kind, &action.name, action.namespace.as_deref());
            let record = ObjectRecord {
                kind,
                name: action.name.clone(),
                namespace: action.namespace.clone(),
                path: action.path.clone(),
                fingerprint: None,
                id: None,
                delete_refused: None,
            };
            // In use (Nomad refuses) or halted: blocked until that changes; any other error
            // is a failure the next pass tries again.
            let result = match halted(ctx) {
                Some(why) => Err((Status::Blocked, why.to_owned())),
                None => nomad_objects::delete(client, &record, value)
                    .await
                    .map_err(|e| {
                        let in_use = matches!(&e, ObjectError::Nomad(n) if n.is_in_use());
                        let status = if in_use {
                            Status::Blocked
                        } else {
                            Status::Failed
                        };
                        (status, e.to_string())
                    }),
            };
            match result {
                Ok(()) => {
                    let detail = "its file left Git: deleted".to_owned();
                    announce(
                        ctx,
                        &source.name,
                        EventKind::Pruned,
                        &action.key,
                        commit,
                        &detail,
                    );
                    pass.reports.push(ObjectReport::new(
                        &what,
                        &action.path,
                        Status::Pruned,
                        detail,
                    ));
                    removed.push(action.key.clone());
                    if !kind.has_meta() {
                        unclaim.insert(action.key.clone());
                    }
                }
                Err((status, why)) => {
                    if status == Status::Blocked && halted(ctx).is_none() {
                        refused.push((action.key.clone(), record, why.clone()));
                    }
                    let detail = format!("its file left Git, but it stays: {why}");
                    pass.reports
                        .push(ObjectReport::new(&what, &action.path, status, detail));
                }
            }
        }
    }
    if !unclaim.is_empty()
        && let Err(e) = pass.registry.change(&Owned::new(), &unclaim).await
    {
        tracing::warn!(source = %source.name, error = %e, "cannot remove deleted objects from the registry; the next pass tries again");
    }
    if !removed.is_empty() || !refused.is_empty() {
        let name = source.name.clone();
        ctx.recorder
            .record(Save::Now, move |state| {
                let s = state.source_mut(&name);
                for key in removed {
                    s.objects.remove(&key);
                }
                for (key, record, why) in refused {
                    s.objects.entry(key).or_insert(record).delete_refused = Some(why);
                }
            })
            .await;
    }
}

/// Why the object cannot be applied in this pass because something it needs failed.
fn blocked_by(
    spec: &Spec,
    failed_namespaces: &BTreeMap<String, String>,
    failed_policies: &BTreeSet<String>,
) -> Option<String> {
    if let Some(ns) = &spec.namespace
        && let Some(why) = failed_namespaces.get(ns)
    {
        return Some(format!("its namespace {ns:?} was not applied: {why}"));
    }
    if spec.kind == Kind::AclRole {
        let names = spec.fields.get("Policies").and_then(Value::as_array);
        let failed = names
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("Name").and_then(Value::as_str).or(p.as_str()));
        let failed: Vec<&str> = failed.filter(|n| failed_policies.contains(*n)).collect();
        if !failed.is_empty() {
            return Some(format!(
                "its ACL policies {} were not applied",
                failed.join(", ")
            ));
        }
    }
    None
}

fn fail(
    kind: Kind,
    name: &str,
    why: &str,
    failed_namespaces: &mut BTreeMap<String, String>,
    failed_policies: &mut BTreeSet<String>,
) {
    match kind {
        Kind::Namespace => {
            failed_namespaces.insert(name.to_owned(), why.to_owned());
        }
        Kind::AclPolicy => {
            failed_policies.insert(name.to_owned());
        }
        _ => {}
    }
}

/// Why no write may start now, if none may (see `job::halted`).
fn halted(ctx: &Context) -> Option<&'static str> {
    if ctx.shutdown.is_cancelled() {
        Some("drover is shutting down")
    } else if ctx.fence.as_ref().is_some_and(|f| !f.holds()) {
        Some("this instance is no longer the leader")
    } else {
        None
    }
}

fn announce(ctx: &Context, source: &str, kind: EventKind, key: &str, commit: &str, detail: &str) {
    let event = Event::new(kind, source, "", key)
        .commit(Some(commit))
        .detail(detail.to_owned());
    ctx.recorder.publish(event);
}

fn is_acl(kind: Kind) -> bool {
    matches!(kind, Kind::AclPolicy | Kind::AclRole)
}

/// `namespace prod`, `variable prod/nomad/jobs/web`: an object as reports name it.
fn display(kind: Kind, name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{} {ns}/{name}", kind.noun()),
        None => format!("{} {name}", kind.noun()),
    }
}

fn fields_text(changes: &[kinds::Change]) -> String {
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    fields.join(", ")
}

/// Who owns `value`: its `drover.source` meta for the kinds with meta; the registry, or the
/// state's record, for the others.
fn owner(
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
fn kind_of(key: &str) -> Option<Kind> {
    let (kind, _) = key.split_once('/')?;
    serde_json::from_value(Value::String(kind.to_owned())).ok()
}

/// The record a registry entry stands for (its fingerprint unknown).
fn record_from_key(key: &str, path: &str) -> Option<ObjectRecord> {
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
fn identity(
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
