//! When a pass can decide without Nomad's job list: every rendered job has a record of inputs
//! drover applied, no record lacks a file, no file is blocked (but for files held back for a
//! refusal Nomad gave their very inputs), and no drift check is due. The
//! list could then change no decision but one — a job stopped, removed or taken over outside
//! Git — and finding those is what the drift check is for: it comes due within
//! `drift_interval`, and that pass lists the jobs. Skipping the list is what makes a pass over
//! an unchanged repository cost no Nomad call.

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::{BlockedFile, Desired, Problem, Settings, drift_check_due};
use crate::state::{LiveJob, Ownership, SourceState};

/// A file held back for a refusal Nomad gave its very inputs: its job is known, and nothing
/// about it is decided from the list.
fn held_back(file: &BlockedFile) -> bool {
    matches!(file.problem, Problem::Refused(_)) && file.job.is_some()
}

/// The live jobs as the state records them, or `None` when the pass must list them.
pub fn live_from_state(
    desired: &Desired,
    state: &SourceState,
    settings: &Settings,
    now: SystemTime,
) -> Option<Vec<LiveJob>> {
    // No job file at all: the list finds what the source's jobs were, unless the state knows
    // there were none since a pass that listed them (a source of cluster objects only).
    let nothing_known =
        desired.jobs.is_empty() && (!state.jobs.is_empty() || state.last_pass.is_none());
    let list_needed = settings.full
        || desired.fetch_error.is_some()
        || nothing_known
        || desired.blocked.iter().any(|b| !held_back(b));
    if list_needed {
        return None;
    }
    // A held-back job keeps whatever runs (its record, if any, says what that is) and is
    // never planned, so its record's drift check is never due here.
    let held = desired.blocked.iter().filter_map(|b| b.job.as_ref());
    let held = held.filter(|key| state.jobs.contains_key(*key));
    let keys: BTreeSet<_> = desired.jobs.iter().map(|j| &j.key).chain(held).collect();
    if keys.len() != state.jobs.len() {
        return None;
    }
    for job in &desired.jobs {
        let record = state.jobs.get(&job.key)?;
        let known_bad = record.is_known_bad(&job.fingerprint);
        if record.applied_fingerprint.is_none() && !known_bad {
            return None;
        }
        if drift_check_due(record, settings.drift_interval, now) {
            return None;
        }
    }
    let live = state.jobs.iter().map(|(key, record)| LiveJob {
        key: key.clone(),
        owner: Some(Ownership {
            source: settings.source.clone(),
            path: record.path.clone(),
            commit: record.applied_commit.clone().unwrap_or_default(),
            prunable: true,
        }),
        stopped: false,
        version: record.version,
    });
    Some(live.collect())
}
