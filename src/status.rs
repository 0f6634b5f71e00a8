//! The daemon's view of itself, written by the source loops and read by `/status`, `/healthz`,
//! `/readyz`, the metrics and `STATUS=` lines: per source its latest passes, per job where it
//! stands. Owns that model and the health rules; never calls Nomad or Git.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::config::{RepoUrl, Revision, Source};
use crate::leader::Holder;
use crate::state::SourceState;
use crate::sync::{PassReport, Status};
use crate::track::Outcome;

/// A source that has not finished a pass within this many intervals is stuck.
const STUCK_INTERVALS: u32 = 3;
/// Nomad must have answered within this long for `/readyz`.
const NOMAD_FRESHNESS: Duration = Duration::from_secs(300);

/// Where a job stands, as `/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Synced,
    Pending,
    Deploying,
    Failed,
    Blocked,
    Drifted,
    Pruned,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synced => "synced",
            Self::Pending => "pending",
            Self::Deploying => "deploying",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Drifted => "drifted",
            Self::Pruned => "pruned",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub id: Option<String>,
    pub namespace: Option<String>,
    pub file: String,
    pub state: JobState,
    pub applied_commit: Option<String>,
    pub version: Option<u64>,
    pub deployment_status: Option<&'static str>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    pub name: String,
    /// The repository, without credentials.
    pub url: String,
    /// `branch main`, `tag v1.2`, `commit 3f2a...`.
    pub revision: String,
    pub interval_seconds: u64,
    pub last_fetched_commit: Option<String>,
    pub last_synced_commit: Option<String>,
    #[serde(with = "humantime_serde")]
    pub last_pass_at: Option<SystemTime>,
    /// `converged`, `problems` or `error`.
    pub last_pass_result: Option<String>,
    pub last_pass_summary: Option<String>,
    pub last_error: Option<String>,
    pub passes: u64,
    pub jobs: Vec<JobStatus>,
    #[serde(skip)]
    interval: Duration,
    #[serde(skip)]
    last_progress: Instant,
}

/// The `/status` document, borrowed from the board: with thousands of jobs a copy of it was
/// megabytes made and dropped at every request.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub version: &'static str,
    /// `leader` or `follower` (always `leader` without high availability).
    pub role: &'a str,
    /// Who leads (hostname, instance, since), with high availability on and when known.
    pub leader: Option<&'a Holder>,
    pub sources: Vec<&'a SourceStatus>,
}

/// The shared board. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Board(Arc<RwLock<Inner>>);

#[derive(Debug)]
struct Inner {
    role: String,
    leader: Option<Holder>,
    sources: BTreeMap<String, SourceStatus>,
    nomad_answered: Option<Instant>,
}

impl Default for Board {
    fn default() -> Self {
        Self::new()
    }
}

impl Board {
    pub fn new() -> Self {
        let inner = Inner {
            role: "leader".to_owned(),
            leader: None,
            sources: BTreeMap::new(),
            nomad_answered: None,
        };
        Self(Arc::new(RwLock::new(inner)))
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a source (or updates its settings after a reload), keeping what it already knows.
    pub fn add_source(&self, source: &Source) {
        let mut inner = self.write();
        let entry = inner
            .sources
            .entry(source.name.clone())
            .or_insert_with(|| SourceStatus {
                name: source.name.clone(),
                url: String::new(),
                revision: String::new(),
                interval_seconds: 0,
                last_fetched_commit: None,
                last_synced_commit: None,
                last_pass_at: None,
                last_pass_result: None,
                last_pass_summary: None,
                last_error: None,
                passes: 0,
                jobs: Vec::new(),
                interval: source.poll,
                last_progress: Instant::now(),
            });
        entry.url = display_url(&source.url);
        entry.revision = match &source.revision {
            Revision::Branch(b) => format!("branch {b}"),
            Revision::Tag(t) => format!("tag {t}"),
            Revision::Commit(c) => format!("commit {c}"),
        };
        entry.interval = source.poll;
        entry.interval_seconds = source.poll.as_secs();
    }

    pub fn remove_source(&self, name: &str) {
        self.write().sources.remove(name);
    }

    pub fn set_role(&self, role: &str, leader: Option<Holder>) {
        let mut inner = self.write();
        inner.role = role.to_owned();
        inner.leader = leader;
    }

    pub fn role(&self) -> String {
        self.read().role.clone()
    }

    /// Nomad answered a request made outside a pass (a follower's election traffic), which
    /// counts for readiness.
    pub fn nomad_answered(&self) {
        self.write().nomad_answered = Some(Instant::now());
    }

    /// A follower fetched `report.source` without applying: the loop made progress and the
    /// mirror is fresh; the jobs keep what was last known of them.
    pub fn fetched(&self, report: &PassReport) {
        let mut inner = self.write();
        let Some(s) = inner.sources.get_mut(&report.source) else {
            return;
        };
        s.passes += 1;
        s.last_progress = Instant::now();
        s.last_pass_at = Some(SystemTime::now());
        s.last_error.clone_from(&report.error);
        s.last_pass_result = Some(
            if report.error.is_some() {
                "error"
            } else {
                "fetched"
            }
            .to_owned(),
        );
        if report.commit.is_some() {
            s.last_fetched_commit.clone_from(&report.commit);
        }
    }

    /// Records a finished pass (successful or not): the loop made progress.
    pub fn pass_finished(&self, report: &PassReport, state: &SourceState) {
        let mut inner = self.write();
        if report.error.is_none() {
            inner.nomad_answered = Some(Instant::now());
        }
        let Some(s) = inner.sources.get_mut(&report.source) else {
            return;
        };
        s.passes += 1;
        s.last_progress = Instant::now();
        s.last_pass_at = Some(SystemTime::now());
        s.last_pass_summary = Some(report.summary());
        s.last_error.clone_from(&report.error);
        s.last_pass_result = Some(
            if report.error.is_some() {
                "error"
            } else if report.converged() {
                "converged"
            } else {
                "problems"
            }
            .to_owned(),
        );
        s.last_fetched_commit.clone_from(&state.last_fetched_commit);
        s.last_synced_commit.clone_from(&state.last_synced_commit);
        if report.error.is_none() {
            s.jobs = jobs(report, state);
        }
    }

    /// What `f` makes of the `/status` document; the board is read-locked meanwhile.
    pub fn with_document<T>(&self, f: impl FnOnce(&Document<'_>) -> T) -> T {
        let inner = self.read();
        f(&Document {
            version: env!("CARGO_PKG_VERSION"),
            role: &inner.role,
            leader: inner.leader.as_ref(),
            sources: inner.sources.values().collect(),
        })
    }

    /// `/healthz`: every source finished a pass within [`STUCK_INTERVALS`] of its interval.
    pub fn health(&self) -> Result<(), Vec<String>> {
        let inner = self.read();
        let stuck: Vec<String> = inner
            .sources
            .values()
            .filter(|s| s.last_progress.elapsed() > s.interval * STUCK_INTERVALS)
            .map(|s| {
                format!(
                    "source {} has not finished a pass for {}s",
                    s.name,
                    s.last_progress.elapsed().as_secs()
                )
            })
            .collect();
        if stuck.is_empty() { Ok(()) } else { Err(stuck) }
    }

    /// `/readyz`: every source synced at least once and Nomad answered recently.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let inner = self.read();
        let mut reasons: Vec<String> = inner
            .sources
            .values()
            .filter(|s| {
                s.passes == 0
                    || s.last_pass_result.as_deref() == Some("error")
                        && s.last_synced_commit.is_none()
            })
            .map(|s| format!("source {} has not synced yet", s.name))
            .collect();
        if inner
            .nomad_answered
            .is_none_or(|t| t.elapsed() >= NOMAD_FRESHNESS)
        {
            reasons.push("Nomad has not answered recently".to_owned());
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    /// Jobs per state, over every source (for metrics and `STATUS=`).
    pub fn job_counts(&self) -> BTreeMap<JobState, u64> {
        let inner = self.read();
        let mut counts = BTreeMap::new();
        for job in inner.sources.values().flat_map(|s| &s.jobs) {
            *counts.entry(job.state).or_default() += 1;
        }
        counts
    }
}

/// The URL as people may see it: no user name or password.
fn display_url(url: &RepoUrl) -> String {
    match url {
        RepoUrl::Url(u) => {
            let mut u = u.clone();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        RepoUrl::Scp(s) => s
            .split_once('@')
            .map_or_else(|| s.clone(), |(_, host)| host.to_owned()),
        RepoUrl::Local(p) => p.display().to_string(),
    }
}

fn jobs(report: &PassReport, state: &SourceState) -> Vec<JobStatus> {
    report
        .jobs
        .iter()
        .map(|j| {
            let record = j.job.as_ref().and_then(|k| state.jobs.get(k));
            let outcome = record.and_then(|r| r.outcome.as_ref());
            JobStatus {
                id: j.job.as_ref().map(|k| k.id.clone()),
                namespace: j.job.as_ref().map(|k| k.namespace.clone()),
                file: j.path.clone(),
                state: job_state(j.status, outcome.map(|o| &o.tracked.outcome)),
                applied_commit: record.and_then(|r| r.applied_commit.clone()),
                version: record.and_then(|r| r.version),
                deployment_status: outcome.map(|o| outcome_word(&o.tracked.outcome)),
                last_error: matches!(j.status, Status::Blocked | Status::Failed)
                    .then(|| j.detail.clone()),
            }
        })
        .collect()
}

fn job_state(status: Status, outcome: Option<&Outcome>) -> JobState {
    match status {
        Status::Synced | Status::Unchanged | Status::Kept => match outcome {
            Some(Outcome::Failed { .. }) => JobState::Failed,
            _ => JobState::Synced,
        },
        Status::Submitted => JobState::Deploying,
        Status::Pending => JobState::Pending,
        Status::Drifted => JobState::Drifted,
        Status::Pruned => JobState::Pruned,
        Status::Blocked => JobState::Blocked,
        Status::Failed => JobState::Failed,
    }
}

fn outcome_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::NoEvaluation => "none",
        Outcome::EvaluationFailed { .. } => "evaluation failed",
        Outcome::NoDeployment => "none",
        Outcome::Successful => "successful",
        Outcome::Failed { .. } => "failed",
        Outcome::Cancelled { .. } => "cancelled",
        Outcome::AwaitingPromotion => "awaiting promotion",
        Outcome::Paused => "paused",
    }
}
