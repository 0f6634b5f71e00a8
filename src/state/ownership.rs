//! Job identity and the ownership meta drover stamps on every job it submits, read back from
//! Nomad. The meta is the state file's copy inside the cluster: when the file is lost, the
//! per-job records are rebuilt from it, so no job is created twice (invariant 7).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{JobRecord, SourceState};
use crate::nomad::JobStub;

/// The source (configured name) that owns a job.
pub const META_SOURCE: &str = "drover.source";
/// The job file's path in the repository.
pub const META_PATH: &str = "drover.path";
/// The commit at which the job's inputs last changed.
pub const META_COMMIT: &str = "drover.commit";
/// The fingerprint of the inputs the job was rendered from: what a restarted drover, or a new
/// leader, marks known-bad when the deployment it finds failed.
pub const META_FINGERPRINT: &str = "drover.fingerprint";
/// Who signed the commit deployed (an SSH principal or an OpenPGP key's fingerprint), when the
/// source verifies signatures: so that Nomad shows who approved what runs.
pub const META_SIGNER: &str = "drover.signer";
/// `"false"` forbids pruning the job, whatever the source's settings.
pub const META_PRUNE: &str = "drover.prune";

/// A job's identity in a cluster: its namespace and ID. Written `namespace/id`, which is
/// unambiguous because Nomad namespace names cannot contain `/` (job IDs can).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct JobKey {
    pub namespace: String,
    pub id: String,
}

impl JobKey {
    pub fn new(namespace: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            id: id.into(),
        }
    }
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.id)
    }
}

impl From<JobKey> for String {
    fn from(key: JobKey) -> Self {
        key.to_string()
    }
}

impl TryFrom<String> for JobKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.split_once('/') {
            Some((namespace, id)) if !namespace.is_empty() && !id.is_empty() => {
                Ok(Self::new(namespace, id))
            }
            _ => Err(format!("`{text}` is not a job key (namespace/id)")),
        }
    }
}

/// The ownership meta of a live job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub source: String,
    /// Empty when the meta lacks it.
    pub path: String,
    /// Empty when the meta lacks it.
    pub commit: String,
    /// False when the job's meta says `drover.prune = "false"`.
    pub prunable: bool,
}

impl Ownership {
    /// `None` unless the meta names a source: a job without `drover.source` is not drover's.
    pub fn from_meta(meta: &BTreeMap<String, String>) -> Option<Self> {
        let source = meta.get(META_SOURCE).filter(|s| !s.is_empty())?;
        let text = |key| meta.get(key).cloned().unwrap_or_default();
        // Any spelling of "false" opts out: erring towards keeping a job is the safe side.
        let prunable = meta
            .get(META_PRUNE)
            .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
        Some(Self {
            source: source.clone(),
            path: text(META_PATH),
            commit: text(META_COMMIT),
            prunable,
        })
    }
}

/// A job as Nomad lists it, with its ownership meta if it has any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveJob {
    pub key: JobKey,
    pub owner: Option<Ownership>,
    /// `Stop: true`: the job is stopped, which drover treats as absent.
    pub stopped: bool,
    /// The job's version when known (a list stub has none; a read job does).
    pub version: Option<u64>,
}

impl LiveJob {
    /// From an entry of `GET /v1/jobs?meta=true` (without `meta=true` no job looks owned).
    pub fn from_stub(stub: &JobStub) -> Self {
        // Nomad omits an empty namespace from the stub; that is `default`.
        let namespace = match stub.namespace.as_str() {
            "" => "default",
            ns => ns,
        };
        Self {
            key: JobKey::new(namespace, stub.id.clone()),
            owner: stub.meta.as_ref().and_then(Ownership::from_meta),
            stopped: stub.stop,
            version: None,
        }
    }

    /// The ownership meta when it names `source`.
    pub fn owned_by(&self, source: &str) -> Option<&Ownership> {
        self.owner.as_ref().filter(|o| o.source == source)
    }
}

impl SourceState {
    /// Adds a record for every running job that `source` owns and that has none, from its
    /// ownership meta: the path and commit it was applied from, and the version if known.
    /// Existing records are kept; a stopped job (pruned, or stopped by hand) gets none, so that
    /// no record outlives a job that left Git. Returns how many were added.
    ///
    /// A rebuilt record has no applied fingerprint, so the next pass plans the job once (with
    /// the live commit) instead of creating it: an unchanged job shows no diff and is not
    /// registered again.
    pub fn rebuild_from_live(&mut self, source: &str, live: &[LiveJob]) -> usize {
        let mut added = 0;
        for job in live {
            let Some(owner) = job.owned_by(source) else {
                continue;
            };
            if job.stopped || self.jobs.contains_key(&job.key) {
                continue;
            }
            let mut record = JobRecord::new(&owner.path);
            record.applied_commit = Some(owner.commit.clone()).filter(|c| !c.is_empty());
            record.version = job.version;
            self.jobs.insert(job.key.clone(), record);
            added += 1;
        }
        added
    }
}
