//! Reconcile: for one source at one commit, the desired jobs (what the files rendered to), the
//! live jobs (what Nomad lists) and the saved state (what drover applied) become a list of
//! [`Action`]s, each with a [`Reason`] a person can read.
//!
//! A pure function: no I/O, no clock (the time is an argument), no async. It decides only what
//! fingerprints, ownership meta and timestamps can tell; whether a planned job actually changed
//! or drifted is decided by `apply` from Nomad's plan.
//!
//! # Output
//! At most one non-blocked action per job key. Blocked actions are one per blocked file (a
//! key may appear in several, e.g. both files of a duplicate ID), plus one per live job whose
//! file is blocked. Order: blocked files, then desired jobs (input order), then prunes.

mod action;
mod known;
pub mod objects;
mod prune;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_blocked;
#[cfg(test)]
mod tests_known;
#[cfg(test)]
mod tests_objects;
#[cfg(test)]
mod tests_prune;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

pub(crate) use action::short;
pub use action::{Action, ActionKind, Block, Problem, PruneRefusal, Reason};
pub use known::live_from_state;

use crate::state::{JobKey, JobRecord, LiveJob, SourceState};

/// What the source's files rendered to in this pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub jobs: Vec<DesiredJob>,
    pub blocked: Vec<BlockedFile>,
    /// Set when this pass could not fetch (the files are from the last fetched commit).
    /// Pruning is refused; a render failure among `blocked` refuses it too.
    pub fetch_error: Option<String>,
}

/// A file that rendered to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredJob {
    pub key: JobKey,
    pub path: String,
    /// Of the rendered job and everything it was rendered from.
    pub fingerprint: String,
}

/// A file that did not become a submittable job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedFile {
    pub path: String,
    /// The job it defines, when that was known before the problem.
    pub job: Option<JobKey>,
    pub problem: Problem,
    /// Names the file, and the line and column where there is one (invariant 5).
    pub message: String,
}

/// The source's settings and the pass's flags that decisions depend on.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The source's name, as stamped in `drover.source`.
    pub source: String,
    pub prune: bool,
    pub max_prune_fraction: f64,
    /// Lifts `max_prune_fraction` for this pass (an operator's explicit choice).
    pub allow_mass_prune: bool,
    pub drift_interval: Duration,
    /// Re-plan every job whatever its last drift check (`--full`).
    pub full: bool,
}

/// Decides what to do for every job of one source. See the module documentation.
pub fn reconcile(
    desired: &Desired,
    live: &[LiveJob],
    state: &SourceState,
    settings: &Settings,
    now: SystemTime,
) -> Vec<Action> {
    let live_by_key: BTreeMap<&JobKey, &LiveJob> = live.iter().map(|j| (&j.key, j)).collect();
    let claims = claims(desired);
    let mut actions = Vec::new();
    for file in &desired.blocked {
        actions.extend(blocked_file(file, desired, live, &settings.source));
    }
    for job in &desired.jobs {
        let reason = if claims[&job.key].len() > 1 {
            duplicate(job, &claims[&job.key])
        } else {
            let live = live_by_key.get(&job.key).copied();
            decide(job, live, state.jobs.get(&job.key), settings, now)
        };
        actions.push(Action {
            job: Some(job.key.clone()),
            path: job.path.clone(),
            reason,
        });
    }
    actions.extend(prune::decide(desired, live, settings, &claims));
    actions
}

/// The files claiming each job key: desired jobs and blocked files that name one.
fn claims(desired: &Desired) -> BTreeMap<&JobKey, Vec<&str>> {
    let mut claims: BTreeMap<&JobKey, Vec<&str>> = BTreeMap::new();
    let jobs = desired.jobs.iter().map(|j| (&j.key, j.path.as_str()));
    let blocked = desired.blocked.iter();
    let blocked = blocked.filter_map(|b| b.job.as_ref().map(|k| (k, b.path.as_str())));
    for (key, path) in jobs.chain(blocked) {
        claims.entry(key).or_default().push(path);
    }
    claims
}

/// A rendered job whose key another file also claims: neither is submitted.
fn duplicate(job: &DesiredJob, paths: &[&str]) -> Reason {
    let others: Vec<&str> = paths.iter().copied().filter(|p| *p != job.path).collect();
    let message = format!("{} is also defined in {}", job.key, others.join(", "));
    Reason::Blocked(Block::File {
        problem: Problem::Duplicate,
        message,
    })
}

/// The blocked file's own action, and one for each live job of this source that came from
/// the same path and that no rendered file claims: it stays as it is, never pruned.
fn blocked_file(
    file: &BlockedFile,
    desired: &Desired,
    live: &[LiveJob],
    source: &str,
) -> Vec<Action> {
    let rendered = |key: &JobKey| desired.jobs.iter().any(|j| &j.key == key);
    let from_path = live.iter().filter(|j| {
        j.owned_by(source).is_some_and(|o| o.path == file.path)
            && file.job.as_ref() != Some(&j.key)
            && !rendered(&j.key)
    });
    let mut keys: Vec<Option<JobKey>> = from_path.map(|j| Some(j.key.clone())).collect();
    if file.job.is_some() || keys.is_empty() {
        keys.insert(0, file.job.clone());
    }
    let reason = Reason::Blocked(Block::File {
        problem: file.problem,
        message: file.message.clone(),
    });
    keys.into_iter()
        .map(|job| Action {
            job,
            path: file.path.clone(),
            reason: reason.clone(),
        })
        .collect()
}

/// The decision for a rendered job that only its own file claims.
fn decide(
    job: &DesiredJob,
    live: Option<&LiveJob>,
    record: Option<&JobRecord>,
    settings: &Settings,
    now: SystemTime,
) -> Reason {
    if let Some(owner) = live.and_then(|l| l.owner.as_ref())
        && owner.source != settings.source
    {
        let source = owner.source.clone();
        return Reason::Blocked(Block::OwnedElsewhere { source });
    }
    let empty = JobRecord::default();
    let record = record.unwrap_or(&empty);
    if record.is_known_bad(&job.fingerprint) {
        let fingerprint = job.fingerprint.clone();
        return Reason::Blocked(Block::KnownBad { fingerprint });
    }
    let applied = record.applied_fingerprint.as_ref() == Some(&job.fingerprint);
    let running = live.filter(|l| !l.stopped);
    match (running, applied) {
        // Drover put these exact inputs there: someone else stopped or removed the job.
        (None, true) => Reason::GoneFromNomad {
            stopped: live.is_some(),
        },
        (None, false) if live.is_some() => Reason::StoppedInNomad,
        (None, false) => Reason::NotInNomad,
        (Some(l), false) if l.owner.is_none() => Reason::Adopt,
        (Some(_), false) if record.applied_fingerprint.is_none() => Reason::NotRecorded,
        (Some(_), false) => Reason::InputsChanged {
            applied_commit: record.applied_commit.clone(),
        },
        (Some(_), true) if settings.full => Reason::FullPass,
        (Some(_), true) if drift_check_due(record, settings.drift_interval, now) => {
            Reason::DriftCheckDue
        }
        (Some(_), true) => Reason::Unchanged,
    }
}

/// Due when never checked, when the interval has elapsed, or when the last check is in the
/// future (the clock went back: a plan is harmless, waiting could be long).
fn drift_check_due(record: &JobRecord, interval: Duration, now: SystemTime) -> bool {
    record.last_drift_check.is_none_or(|last| {
        now.duration_since(last)
            .map_or(true, |elapsed| elapsed >= interval)
    })
}
