//! The cluster objects of a pass besides jobs: every file of each kind read and checked (no
//! Nomad call, `files`), the objects whose files changed (or all, when the drift check is due)
//! read from Nomad (`look`), decided by `reconcile`, and written kind by kind in dependency
//! order — namespaces and node pools, ACL policies, ACL roles, variables — before the jobs
//! (`write`); prunes run after the jobs', in the reverse order (`prune`). A failure blocks what
//! depends on it (the variables and jobs of a namespace that failed, the roles of a policy that
//! failed), not the rest.
//!
//! A cluster without ACLs answers the ACL endpoints `ACL support disabled`: the source's ACL
//! objects are then reported as not applicable there (one warning a pass) and the rest goes on.

mod files;
mod look;
mod ownership;
mod prune;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde_json::Value;

pub(crate) use files::{ObjectSet, read_files};
pub(crate) use prune::prune;

use super::{Context, ObjectReport, Options, Status};
use crate::apply::registry::{Owned, Registry};
use crate::config::Source;
use crate::events::{Event, EventKind};
use crate::kinds::Kind;
use crate::nomad::Client;
use crate::reconcile::objects::{Decision, ObjectAction, ObjectSettings, reconcile_objects};
use crate::state::Save;
use ownership::kind_of;

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

impl ObjectPass {
    fn registry_forget(&mut self, key: &str) {
        if kind_of(key).is_some_and(|k| !k.has_meta()) {
            self.forgotten.insert(key.to_owned());
        }
    }
}

/// Reads, decides and writes the source's objects (but prunes, see [`prune`]).
pub(crate) async fn apply(inputs: &Inputs<'_>, set: ObjectSet) -> ObjectPass {
    let Inputs {
        source,
        ctx,
        client,
        options,
        ..
    } = *inputs;
    let mut pass = ObjectPass {
        reports: set.broken,
        failed_namespaces: BTreeMap::new(),
        prunes: Vec::new(),
        forgotten: BTreeSet::new(),
        registry: Registry::new(client, &source.name),
    };
    let now = SystemTime::now();
    let (records, checked, acl_disabled_at) = {
        let state = ctx.recorder.lock();
        let s = state.source(&source.name);
        (s.objects.clone(), s.objects_checked, s.acl_disabled)
    };
    if set.specs.is_empty() && records.is_empty() {
        return pass;
    }
    let past = |at: SystemTime| now.duration_since(at).unwrap_or_default() >= ctx.drift_interval;
    let settings = ObjectSettings {
        adopt: source.objects.adopt,
        self_heal: source.self_heal,
        prune: source.objects.prune.clone(),
        max_prune_fraction: source.max_prune_fraction,
        allow_mass_prune: options.allow_mass_prune,
        check_all: options.full || checked.is_none_or(past),
    };
    // Known from an earlier pass within the drift interval: not asked again until then.
    let acl_disabled = acl_disabled_at.is_some_and(|at| !past(at));
    let looked = look::look(
        inputs,
        &pass.registry,
        &set.specs,
        &records,
        &settings,
        acl_disabled,
    )
    .await;
    let skipped = |kind: Kind, key: &str| {
        looked.unreadable.contains_key(key) || (looked.acl_disabled && is_acl(kind))
    };
    let (skip, specs): (Vec<_>, Vec<_>) = set
        .specs
        .into_iter()
        .partition(|s| skipped(s.kind, &s.key()));
    for spec in skip {
        let what = display(spec.kind, &spec.name, spec.namespace.as_deref());
        let report = match looked.unreadable.get(&spec.key()) {
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
    let mut known = looked.known.clone();
    known.retain(|key, record| !skipped(record.kind, key));
    let actions = reconcile_objects(&specs, &known, &looked.live, &set.unparsed, &settings);
    // Claimed before the first write, so that a crash never leaves an object nobody owns.
    let claims: Owned = actions
        .iter()
        .filter(|a| !a.kind.has_meta() && !looked.owned.contains_key(&a.key))
        .filter(|a| matches!(a.decision, Decision::Create | Decision::Adopt(_)))
        .map(|a| (a.key.clone(), a.path.clone()))
        .collect();
    let claim_error = if claims.is_empty() {
        None
    } else {
        let claimed = pass.registry.change(&claims, &BTreeSet::new()).await;
        claimed.err().map(|e| e.to_string())
    };
    let changes = write::write_all(inputs, &mut pass, &looked, &actions, &specs, claim_error).await;
    let (name, check_all, acl_answered) =
        (source.name.clone(), settings.check_all, looked.acl_answered);
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
