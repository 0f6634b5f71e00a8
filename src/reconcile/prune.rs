//! Which live jobs whose file left Git are pruned, and why the others are not (invariant 2).
//!
//! Only running jobs with this source's ownership meta are candidates; a stopped job is
//! already gone, and a job without the meta is not drover's to delete. A candidate whose path
//! is a blocked file's is not an orphan at all (its file is still there, just broken). Every
//! refused prune is reported, so the status page shows the jobs left behind.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Desired, PruneRefusal, Reason, Settings};
use crate::state::{JobKey, LiveJob, Ownership};

/// The prune or refusal for each orphan, by job key.
pub(super) fn decide(
    desired: &Desired,
    live: &[LiveJob],
    settings: &Settings,
    claims: &BTreeMap<&JobKey, Vec<&str>>,
) -> Vec<Action> {
    let managed: Vec<(&LiveJob, &Ownership)> = live
        .iter()
        .filter(|j| !j.stopped)
        .filter_map(|j| j.owned_by(&settings.source).map(|o| (j, o)))
        .collect();
    let blocked_paths: BTreeSet<&str> = desired.blocked.iter().map(|b| b.path.as_str()).collect();
    let mut orphans: Vec<&(&LiveJob, &Ownership)> = managed
        .iter()
        .filter(|(j, o)| !claims.contains_key(&j.key) && !blocked_paths.contains(o.path.as_str()))
        .collect();
    orphans.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    let gate = source_gate(desired, settings);
    let prunable = orphans.iter().filter(|(_, o)| o.prunable).count();
    let too_many = too_many(prunable, managed.len(), settings);
    orphans
        .into_iter()
        .map(|(job, owner)| {
            let refusal = gate
                .clone()
                .or_else(|| (!owner.prunable).then_some(PruneRefusal::OptedOut))
                .or_else(|| too_many.clone());
            Action {
                job: Some(job.key.clone()),
                path: owner.path.clone(),
                reason: refusal.map_or(Reason::LeftGit, Reason::PruneRefused),
            }
        })
        .collect()
}

/// A refusal that holds for the whole pass, the most fundamental first.
fn source_gate(desired: &Desired, settings: &Settings) -> Option<PruneRefusal> {
    if !settings.prune {
        return Some(PruneRefusal::Disabled);
    }
    if let Some(error) = &desired.fetch_error {
        let error = error.clone();
        return Some(PruneRefusal::FetchFailed { error });
    }
    let mut failed = desired.blocked.iter().filter(|b| b.problem.is_render());
    let first = failed.next()?;
    Some(PruneRefusal::RenderFailed {
        files: 1 + failed.count(),
        first: first.path.clone(),
    })
}

/// Set when pruning `prunes` of the source's `managed` jobs is more than it may in one pass.
fn too_many(prunes: usize, managed: usize, settings: &Settings) -> Option<PruneRefusal> {
    let over = prunes as f64 > settings.max_prune_fraction * managed as f64;
    (over && !settings.allow_mass_prune).then_some(PruneRefusal::TooMany {
        prunes,
        managed,
        max_fraction: settings.max_prune_fraction,
    })
}
