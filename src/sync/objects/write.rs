//! Carries out the decisions on the objects kind by kind, in dependency order: writes what is
//! created, updated, adopted or put back; reports the rest; blocks what depends on an object
//! that failed; and collects what the state keeps. Prunes are left for after the jobs.

use std::collections::{BTreeMap, BTreeSet};

use super::look::Looked;
use super::{Inputs, ObjectPass, announce, display};
use crate::apply::objects as nomad_objects;
use crate::events::EventKind;
use crate::kinds::{self, Kind, Spec};
use crate::reconcile::objects::{Decision, ObjectAction, Owner};
use crate::state::{META_COMMIT, META_PATH, META_SOURCE, ObjectRecord};
use crate::sync::job::halted;
use crate::sync::{ObjectReport, Status};

/// What the state keeps of the objects after the writes: a record by key, or `None` to
/// forget it.
pub(super) type Changes = Vec<(String, Option<ObjectRecord>)>;

/// Writes every object of `actions` but the prunes, which it puts in `pass`. `claim_error`:
/// why the registry could not claim the new objects without meta (none of them is written).
pub(super) async fn write_all(
    inputs: &Inputs<'_>,
    pass: &mut ObjectPass,
    looked: &Looked,
    actions: &[ObjectAction],
    specs: &[Spec],
    claim_error: Option<String>,
) -> Changes {
    let specs: BTreeMap<String, &Spec> = specs.iter().map(|s| (s.key(), s)).collect();
    let mut writer = Writer {
        inputs,
        looked,
        claim_error,
        failed_policies: BTreeSet::new(),
        changes: Vec::new(),
    };
    for kind in Kind::ALL {
        for action in actions.iter().filter(|a| a.kind == kind) {
            match specs.get(&action.key) {
                Some(spec) => writer.desired(pass, action, spec).await,
                None => writer.leaving(pass, action),
            }
        }
    }
    writer.changes
}

struct Writer<'a> {
    inputs: &'a Inputs<'a>,
    looked: &'a Looked,
    claim_error: Option<String>,
    failed_policies: BTreeSet<String>,
    changes: Changes,
}

impl Writer<'_> {
    /// An object whose file left Git: pruned later, forgotten, or reported.
    fn leaving(&mut self, pass: &mut ObjectPass, action: &ObjectAction) {
        let what = display(action.kind, &action.name, action.namespace.as_deref());
        let report = |status, detail| ObjectReport::new(&what, &action.path, status, detail);
        match &action.decision {
            Decision::Prune => {
                if let Some(Some(object)) = self.looked.live.get(&action.key) {
                    pass.prunes.push((action.clone(), object.value.clone()));
                }
            }
            Decision::Forget => {
                self.changes.push((action.key.clone(), None));
                pass.registry_forget(&action.key);
            }
            Decision::Kept(why) => pass.reports.push(report(Status::Kept, why.clone())),
            Decision::DeleteRefused(why) => pass.reports.push(report(
                Status::Blocked,
                format!("its file left Git, but it stays: {why}"),
            )),
            _ => {}
        }
    }

    /// An object its file defines.
    async fn desired(&mut self, pass: &mut ObjectPass, action: &ObjectAction, spec: &Spec) {
        let source = self.inputs.source;
        let what = display(action.kind, &action.name, action.namespace.as_deref());
        let report = |status, detail| ObjectReport::new(&what, &action.path, status, detail);
        if let Some(why) = blocked_by(spec, &pass.failed_namespaces, &self.failed_policies) {
            pass.reports.push(report(Status::Blocked, why));
            return;
        }
        let (verb, event) = match &action.decision {
            Decision::Unchanged => {
                let read = self.looked.live.contains_key(&action.key);
                if read || !self.looked.known.contains_key(&action.key) {
                    let id = self.known_id(action);
                    self.changes
                        .push((action.key.clone(), Some(record(spec, id))));
                }
                pass.reports.push(report(Status::Unchanged, String::new()));
                return;
            }
            Decision::Drift {
                changes,
                heal: false,
            } => {
                let detail = format!(
                    "changed outside Git: {}; self_heal is off, so it stays",
                    fields(changes)
                );
                self.announce(EventKind::DriftFound, action, &detail);
                pass.reports.push(report(Status::Drifted, detail));
                return;
            }
            Decision::NotOwned(owner) => {
                let whose = match owner {
                    Owner::Other(name) => format!("drover source {name:?}"),
                    _ => "nobody drover knows (made by hand or by another tool)".to_owned(),
                };
                let detail = format!(
                    "already exists in Nomad and belongs to {whose}: not touched; set adopt = true on the source to take it over"
                );
                self.failed(pass, action, &detail);
                pass.reports.push(report(Status::Blocked, detail));
                return;
            }
            Decision::Create => ("created".to_owned(), EventKind::Applied),
            Decision::Update(changes) => {
                (format!("updated: {}", fields(changes)), EventKind::Applied)
            }
            Decision::Adopt(changes) => {
                tracing::warn!(source = %source.name, object = %action.key, "adopting an object drover did not create (adopt = true)");
                (format!("adopted: {}", fields(changes)), EventKind::Applied)
            }
            Decision::Drift {
                changes,
                heal: true,
            } => (
                format!("changed outside Git ({}); put back", fields(changes)),
                EventKind::DriftCorrected,
            ),
            Decision::Prune | Decision::Forget | Decision::Kept(_) | Decision::DeleteRefused(_) => {
                return;
            }
        };
        match self.write(action, spec).await {
            Ok(()) => {
                self.announce(event, action, &verb);
                pass.reports.push(report(Status::Synced, verb));
            }
            Err(why) => {
                let detail = format!("not applied, what Nomad has stays: {why}");
                self.failed(pass, action, &detail);
                pass.reports.push(report(Status::Failed, detail));
            }
        }
    }

    async fn write(&mut self, action: &ObjectAction, spec: &Spec) -> Result<(), String> {
        let Inputs {
            source,
            client,
            commit,
            ctx,
            ..
        } = *self.inputs;
        if let Some(why) = halted(ctx) {
            return Err(why.to_owned());
        }
        if let (Some(e), false) = (&self.claim_error, spec.kind.has_meta()) {
            return Err(e.clone());
        }
        let meta = BTreeMap::from([
            (META_SOURCE.to_owned(), source.name.clone()),
            (META_PATH.to_owned(), spec.path.clone()),
            (META_COMMIT.to_owned(), commit.to_owned()),
        ]);
        let live = self.looked.live.get(&action.key).and_then(|l| l.as_ref());
        let live = live.map(|l| &l.value);
        let id = nomad_objects::write(client, spec, live, &meta)
            .await
            .map_err(|e| e.to_string())?;
        let id = id.or_else(|| self.known_id(action));
        self.changes
            .push((action.key.clone(), Some(record(spec, id))));
        Ok(())
    }

    /// An ACL role's ID as the state knows it.
    fn known_id(&self, action: &ObjectAction) -> Option<String> {
        self.looked
            .known
            .get(&action.key)
            .and_then(|r| r.id.clone())
    }

    fn announce(&self, kind: EventKind, action: &ObjectAction, detail: &str) {
        let Inputs {
            source,
            ctx,
            commit,
            ..
        } = *self.inputs;
        announce(ctx, &source.name, kind, &action.key, commit, detail);
    }

    /// The object was not applied: an event, and what depends on it waits.
    fn failed(&mut self, pass: &mut ObjectPass, action: &ObjectAction, why: &str) {
        self.announce(EventKind::Blocked, action, why);
        match action.kind {
            Kind::Namespace => {
                let why = why.to_owned();
                pass.failed_namespaces.insert(action.name.clone(), why);
            }
            Kind::AclPolicy => {
                self.failed_policies.insert(action.name.clone());
            }
            _ => {}
        }
    }
}

/// The state's record of an object in step with its file.
fn record(spec: &Spec, id: Option<String>) -> ObjectRecord {
    ObjectRecord {
        kind: spec.kind,
        name: spec.name.clone(),
        namespace: spec.namespace.clone(),
        path: spec.path.clone(),
        fingerprint: Some(spec.fingerprint()),
        id,
        delete_refused: None,
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
        let names = spec
            .fields
            .get("Policies")
            .and_then(serde_json::Value::as_array);
        let names = names.into_iter().flatten();
        let failed: Vec<&str> = names
            .filter_map(|p| p.get("Name").and_then(serde_json::Value::as_str))
            .filter(|n| failed_policies.contains(*n))
            .collect();
        if !failed.is_empty() {
            return Some(format!(
                "its ACL policies {} were not applied",
                failed.join(", ")
            ));
        }
    }
    None
}

/// `Description, Items.greeting`: the fields that differ, never their values.
fn fields(changes: &[kinds::Change]) -> String {
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    fields.join(", ")
}
