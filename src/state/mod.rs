//! State: what drover applied, from which commit and file, and how it ended — per source and
//! per job — and each job's last events, kept in one JSON file in the state directory and
//! written atomically.
//!
//! Owns the records, the history's place in the file, the file, and the [`Recorder`] through
//! which the passes and the deployment follower change the state and publish events. Never
//! calls Nomad or Git: when the file is lost or unreadable, the caller lists the live jobs and
//! [`SourceState::rebuild_from_live`] recovers the records from their ownership meta. Never
//! decides what to do with a job (`reconcile` reads these records; `sync` and `follow` write
//! them).
//!
//! # Concurrency
//! The daemon holds one [`State`] behind a mutex (in the [`Recorder`]) and changes it after
//! each job's outcome through [`Store::change_and_save`] (on disk when it returns) or
//! [`Store::change_and_save_within`] (written at once unless a write began within an interval,
//! else with the next write: for what Nomad's ownership meta restores). Saves are group
//! commits: one is written at a time, encoded under the state lock so that an older snapshot
//! never replaces a newer one, and the changes made meanwhile go into the next. A save encodes
//! the whole state and costs two `fsync`s: measured with 5,000 jobs (before the history was
//! kept), the file is 2.3 MB (about 460 bytes a job) and a save takes about 95 ms in a debug
//! build, nearly all of it encoding (an optimised build encodes several times faster); the
//! fsyncs were a few milliseconds on ext4. Only jobs that were registered or re-planned change
//! the state, so an unchanged pass saves once. A save blocks: async code calls it from
//! `spawn_blocking`.

mod ownership;
mod recorder;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use ownership::{
    JobKey, LiveJob, META_COMMIT, META_FINGERPRINT, META_PATH, META_PRUNE, META_SIGNER,
    META_SOURCE, Ownership,
};
pub use recorder::{Recorder, Save};
pub use store::{
    FORMAT_VERSION, LoadWarning, Loaded, MAX_STATE_BYTES, STATE_FILE, StateError, Store,
};

use crate::events::{History, Outcome, Tracked};

/// Everything drover remembers, by source name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub sources: BTreeMap<String, SourceState>,
    /// The last events of every job, bounded (see [`History`]).
    #[serde(default, skip_serializing_if = "History::is_empty")]
    pub history: History,
    /// Keys of what the notifier delivered, oldest first, at most [`NOTIFIED_KEPT`].
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub notified: VecDeque<String>,
}

/// Keys of notifications kept: some days of outcomes, about 100 KiB of state.
pub const NOTIFIED_KEPT: usize = 4_096;

/// A source never synced has this state.
static EMPTY_SOURCE: SourceState = SourceState {
    last_synced_commit: None,
    last_fetched_commit: None,
    last_pass: None,
    jobs: BTreeMap::new(),
    refused: BTreeMap::new(),
    nomad_version: None,
    objects: BTreeMap::new(),
    objects_checked: None,
    acl_disabled: None,
    waves_stopped: None,
};

impl State {
    /// The source's state; an empty one when it was never synced.
    pub fn source(&self, name: &str) -> &SourceState {
        self.sources.get(name).unwrap_or(&EMPTY_SOURCE)
    }

    /// The source's state for changing, created empty when missing.
    pub fn source_mut(&mut self, name: &str) -> &mut SourceState {
        self.sources.entry(name.to_owned()).or_default()
    }
}

/// What drover remembers of one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceState {
    /// The commit whose jobs were last all applied or found unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_synced_commit: Option<String>,
    /// The newest commit fetched, synced or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fetched_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<PassRecord>,
    pub jobs: BTreeMap<JobKey, JobRecord>,
    /// Job files whose inputs Nomad refused, by path.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, Refusal>,
    /// The Nomad version the source's cluster last answered with, for judging refusals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nomad_version: Option<SeenVersion>,
    /// The cluster objects besides jobs this source applied, by key (`namespace/web`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, ObjectRecord>,
    /// When every object of the source was last compared with Nomad (the drift check).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub objects_checked: Option<SystemTime>,
    /// When the cluster last answered `ACL support disabled`: its ACL objects are not asked
    /// for again within the drift interval.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub acl_disabled: Option<SystemTime>,
    /// A wave of jobs that did not succeed: the later waves of that commit wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waves_stopped: Option<WavesStopped>,
}

/// The later waves of a commit do not start: a job of an earlier one did not succeed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WavesStopped {
    pub commit: String,
    /// The wave that did not succeed; every higher one waits.
    pub wave: i64,
    /// For people: which job, and how it ended.
    pub reason: String,
}

/// A cluster object besides a job (namespace, node pool, ACL policy or role, variable) that a
/// source applied: the record that lets a pass whose files did not change skip Nomad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub kind: crate::kinds::Kind,
    /// The namespace, pool, policy or role name, or the variable's path.
    pub name: String,
    /// A variable's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The file it comes from.
    pub path: String,
    /// Of the file's object as last applied (or found equal); `None`: not known to be in step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// An ACL role's ID, which Nomad assigns and updates and deletes go by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Nomad refused to delete it (still in use), in Nomad's words: not asked again before the
    /// drift check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_refused: Option<String>,
}

/// A job file whose exact inputs Nomad refused: a parse, plan or register answered with a
/// refusal (an error in the request, not in the cluster or the connection). The same inputs
/// are not sent to the same Nomad again by the same drover (see `sync::refused`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The inputs refused.
    pub fingerprint: String,
    pub by: RefusedBy,
    /// Nomad's words for it and what drover does about it, as the pass that met it told
    /// them (what later passes report, so that the blocked job is told once).
    pub message: String,
    /// The same in full, when the message folds Nomad's warnings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full: Option<String>,
    /// The Nomad version that refused, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nomad_version: Option<String>,
    /// The drover version that sent the inputs (its rendering may change).
    pub drover_version: String,
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
}

/// Which call Nomad refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedBy {
    Parse,
    Plan,
    Register,
}

/// A Nomad version read from the cluster, and when; `None` when the token may not read it
/// (`agent:read`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenVersion {
    pub version: Option<String>,
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
}

/// How the latest pass over a source went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassRecord {
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
    pub commit: Option<String>,
    /// Every job of the source reached what Git asks for.
    pub converged: bool,
    /// One line for people, e.g. `12 unchanged, 1 updated, 1 blocked`.
    pub summary: String,
}

/// What drover remembers of one job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRecord {
    /// The job file's path in the repository.
    pub path: String,
    /// The fingerprint of the rendered job that is live, as far as drover knows; `None` when
    /// it does not know (a record rebuilt from meta, or a failed deployment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_fingerprint: Option<String>,
    /// The commit stamped as `drover.commit` when it was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_commit: Option<String>,
    /// The Nomad job version drover's latest registration made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<JobOutcome>,
    /// Fingerprints whose deployment failed since the last success, newest last, at most
    /// [`KNOWN_BAD_PER_JOB`]: none is submitted again until the inputs change (invariant 4).
    #[serde(
        alias = "failed_fingerprint",
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub failed_fingerprints: Vec<String>,
    /// A registration of this job is being followed (its deployment has not ended). Not kept
    /// in the file: after a restart the follower finds from Nomad what is in flight.
    #[serde(skip)]
    pub deploying: bool,
    /// The latest plan of this job (for a change or a drift check).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub last_drift_check: Option<SystemTime>,
}

/// Known-bad fingerprints kept per job: enough for a few failed fixes in a row.
pub const KNOWN_BAD_PER_JOB: usize = 3;

/// Reads the list, or the single fingerprint older state files hold.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(f) => vec![f],
        OneOrMany::Many(fs) => fs,
    })
}

/// How the latest registration ended, and when that was known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    #[serde(flatten)]
    pub tracked: Tracked,
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
}

impl JobRecord {
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }

    /// The rendered job `fingerprint`, stamped with `commit`, is live: registered, or found
    /// equal to the live job by a plan. A plan is also a drift check.
    pub fn applied(&mut self, fingerprint: &str, commit: &str, now: SystemTime) {
        self.applied_fingerprint = Some(fingerprint.to_owned());
        self.applied_commit = Some(commit.to_owned());
        self.last_drift_check = Some(now);
    }

    /// Whether a deployment of `fingerprint` failed since the job's last success.
    pub fn is_known_bad(&self, fingerprint: &str) -> bool {
        self.failed_fingerprints.iter().any(|f| f == fingerprint)
    }

    /// Remembers that a deployment of `fingerprint` failed (here or, with high availability,
    /// under another instance). Returns whether it was new.
    pub fn mark_known_bad(&mut self, fingerprint: &str) -> bool {
        if self.is_known_bad(fingerprint) {
            return false;
        }
        self.failed_fingerprints.push(fingerprint.to_owned());
        let excess = self
            .failed_fingerprints
            .len()
            .saturating_sub(KNOWN_BAD_PER_JOB);
        self.failed_fingerprints.drain(..excess);
        true
    }

    /// Records how the registration of the rendered job `fingerprint` ended.
    ///
    /// A failed deployment marks that fingerprint known-bad and forgets the applied one: the
    /// live spec may be the failed one or a rolled-back one, and the next change of inputs is
    /// planned against whichever it is. A converged outcome makes it the applied fingerprint
    /// and clears every known-bad mark. Others (cancelled, superseded, awaiting promotion,
    /// paused, a failed evaluation) change neither.
    pub fn finished(&mut self, fingerprint: &str, tracked: Tracked, at: SystemTime) {
        match &tracked.outcome {
            Outcome::Failed { .. } => {
                self.applied_fingerprint = None;
                self.mark_known_bad(fingerprint);
            }
            outcome if outcome.converged() => {
                self.applied_fingerprint = Some(fingerprint.to_owned());
                self.failed_fingerprints.clear();
            }
            _ => {}
        }
        if tracked.job_version.is_some() {
            self.version = tracked.job_version;
        }
        self.outcome = Some(JobOutcome { tracked, at });
    }
}
