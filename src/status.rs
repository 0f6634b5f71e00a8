//! The daemon's view of itself, written by the source loops and read by `/status`, `/healthz`,
//! `/readyz`, the metrics and `STATUS=` lines: per source its latest passes, per job where it
//! stands. Owns that model and the health rules; never calls Nomad or Git.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::config::{RepoUrl, Revision, Source};
use crate::events::{Event, EventKind, Outcome};
use crate::leader::Holder;
use crate::source::CommitSummary;
use crate::state::SourceState;
use crate::state::{JobKey, JobRecord};
use crate::sync::{ObjectReport, PassReport, Status};

/// A source that has not finished a pass within this many intervals is stuck.
const STUCK_INTERVALS: u32 = 3;
/// Nomad must have answered within this long for `/readyz`.
const NOMAD_FRESHNESS: Duration = Duration::from_secs(300);
/// Pass durations kept per source, for the pages' sparkline.
const PASS_DURATIONS_KEPT: usize = 30;

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
    pub const ALL: [JobState; 7] = [
        Self::Synced,
        Self::Pending,
        Self::Deploying,
        Self::Failed,
        Self::Blocked,
        Self::Drifted,
        Self::Pruned,
    ];

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
    /// The deployment being followed or last followed.
    pub deployment_id: Option<String>,
    /// A running deployment's progress, e.g. `running 3/5 healthy, 1 canary`.
    pub progress: Option<String>,
    /// The same progress as healthy and desired allocations, for the pages' progress bar.
    #[serde(skip)]
    pub progress_counts: Option<(u64, u64)>,
    /// Why the job is blocked or failed, as the pass's report and the events tell it: a file's
    /// errors first and its warnings folded by kind.
    pub last_error: Option<String>,
    /// Every diagnostic of that error in full when `last_error` folds some, else null.
    pub last_error_full: Option<String>,
}

impl JobStatus {
    /// An event's error: its detail is the folded text, and a full text from an earlier pass
    /// would belong to another error (the pass's end sets both again).
    fn set_error(&mut self, error: Option<String>) {
        self.last_error = error;
        self.last_error_full = None;
    }
}

/// A cluster object of a source (a namespace, node pool, ACL policy or role, variable) as the
/// source's last pass left it; a file of objects that did not parse stands for them.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectStatus {
    /// `namespace prod`, `ACL policy ops-read`, `variable prod/nomad/jobs/web`, or the kind of
    /// a file that did not parse.
    pub object: String,
    pub file: String,
    /// `synced` (in step with its file), `drifted`, `kept`, `pruned`, `blocked` or `failed`.
    pub state: &'static str,
    /// Why, for a problem; what was done, for a change. Never a variable's value.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl ObjectStatus {
    fn from_report(report: &ObjectReport) -> Self {
        let state = match report.status {
            Status::Unchanged => Status::Synced.word(),
            other => other.word(),
        };
        Self {
            object: report.object.clone(),
            file: report.path.clone(),
            state,
            detail: report.detail.clone(),
        }
    }

    pub fn is_problem(&self) -> bool {
        matches!(self.state, "blocked" | "failed" | "drifted")
    }
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
    /// The subject and author of the last fetched commit, when the mirror could read them.
    pub fetched_summary: Option<CommitSummary>,
    /// The same of the last synced commit, when it was fetched while this daemon ran.
    pub synced_summary: Option<CommitSummary>,
    #[serde(with = "humantime_serde")]
    pub last_pass_at: Option<SystemTime>,
    /// `converged`, `problems` or `error`.
    pub last_pass_result: Option<String>,
    pub last_pass_summary: Option<String>,
    pub last_error: Option<String>,
    /// With `[source.verify]`: `verified`, or why the last fetched commit was refused
    /// (`unsigned`, `unknown_key`, `bad_signature`, `expired_key`, `not_allowed_at`,
    /// `unreadable`); null without it.
    pub verification: Option<&'static str>,
    /// Who signed the last commit that passed verification.
    pub signer: Option<String>,
    pub passes: u64,
    pub jobs: Vec<JobStatus>,
    /// The source's cluster objects, as its last pass that read them left them.
    pub objects: Vec<ObjectStatus>,
    /// Where each job is in `jobs`, for the events.
    #[serde(skip)]
    index: HashMap<JobKey, usize>,
    #[serde(skip)]
    interval: Duration,
    #[serde(skip)]
    last_progress: Instant,
    /// How long the last passes took, oldest first.
    #[serde(skip)]
    pass_durations: VecDeque<Duration>,
}

impl SourceStatus {
    /// How long the last passes (at most 30) took, oldest first.
    pub fn pass_durations(&self) -> impl ExactSizeIterator<Item = Duration> + '_ {
        self.pass_durations.iter().copied()
    }

    /// Keeps the summary of the fetched commit, and of the synced one when they are the same.
    fn set_summaries(&mut self, fetched: Option<&CommitSummary>) {
        if let Some(fetched) = fetched {
            self.fetched_summary = Some(fetched.clone());
        }
        let is_synced = |s: &CommitSummary| Some(&s.commit) == self.last_synced_commit.as_ref();
        if let Some(fetched) = self.fetched_summary.as_ref().filter(|s| is_synced(s)) {
            self.synced_summary = Some(fetched.clone());
        } else if !self.synced_summary.as_ref().is_some_and(is_synced) {
            self.synced_summary = None;
        }
    }
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

/// Whether drover reaches Nomad, as [`Board::nomad_reachability`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachability {
    /// Since Nomad last answered a pass or the election; `None` before it ever did.
    pub answered_ago: Option<Duration>,
    /// Why the parts that cannot reach Nomad cannot, one line each.
    pub unreachable: Vec<String>,
}

/// The progress of a part of the daemon that waits on Nomad (a deployment follower's watch):
/// healthy while idle or while each query it sends returns (with news or not, with an answer
/// or an error) within its bound; stuck once one has been out longer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Heartbeat(Arc<Mutex<Beat>>);

#[derive(Debug)]
struct Beat {
    name: String,
    bound: Duration,
    /// When the query now out was sent; `None` between queries.
    waiting_since: Option<Instant>,
    /// Why the last query failed, until one succeeds.
    failing: Option<String>,
}

impl Heartbeat {
    /// A query was sent.
    pub fn waiting(&self) {
        self.lock().waiting_since = Some(Instant::now());
    }

    /// The query returned an answer.
    pub fn returned(&self) {
        let mut beat = self.lock();
        beat.waiting_since = None;
        beat.failing = None;
    }

    /// The query returned an error (Nomad unreachable, no leader, ...): still progress for
    /// `/healthz`, but `/readyz` says it.
    pub fn failed(&self, error: &str) {
        let mut beat = self.lock();
        beat.waiting_since = None;
        beat.failing = Some(error.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Beat> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the part cannot reach Nomad, if it cannot.
    fn unreachable(&self) -> Option<String> {
        let beat = self.lock();
        let error = beat.failing.as_ref()?;
        Some(format!("{} cannot reach Nomad: {error}", beat.name))
    }

    /// Why the part is stuck, if it is.
    fn stuck(&self) -> Option<String> {
        let beat = self.lock();
        let waited = beat.waiting_since?.elapsed();
        (waited > beat.bound).then(|| {
            format!(
                "{} has waited {}s for Nomad (bound {}s)",
                beat.name,
                waited.as_secs(),
                beat.bound.as_secs()
            )
        })
    }
}

/// The shared board. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Board(Arc<RwLock<Inner>>);

#[derive(Debug)]
struct Inner {
    /// Parts other than the source loops whose progress `/healthz` checks.
    parts: Vec<Heartbeat>,
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
            parts: Vec::new(),
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
                fetched_summary: None,
                synced_summary: None,
                last_pass_at: None,
                last_pass_result: None,
                last_pass_summary: None,
                last_error: None,
                verification: None,
                signer: None,
                passes: 0,
                jobs: Vec::new(),
                objects: Vec::new(),
                index: HashMap::new(),
                interval: source.poll,
                last_progress: Instant::now(),
                pass_durations: VecDeque::with_capacity(PASS_DURATIONS_KEPT),
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

    /// A part named `name` (e.g. `the deployment follower of cluster default`) that is stuck
    /// when one of its queries is out for longer than `bound`.
    pub fn heartbeat(&self, name: impl Into<String>, bound: Duration) -> Heartbeat {
        let beat = Heartbeat(Arc::new(Mutex::new(Beat {
            name: name.into(),
            bound,
            waiting_since: None,
            failing: None,
        })));
        self.write().parts.push(beat.clone());
        beat
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
        s.set_summaries(report.commit_summary.as_ref());
    }

    /// Records a finished pass (successful or not), which took `took`: the loop made progress.
    pub fn pass_finished(&self, report: &PassReport, state: &SourceState, took: Duration) {
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
        if s.pass_durations.len() == PASS_DURATIONS_KEPT {
            s.pass_durations.pop_front();
        }
        s.pass_durations.push_back(took);
        s.last_pass_summary = Some(report.summary());
        s.last_error.clone_from(&report.error);
        if let Some(refusal) = &report.refused {
            s.verification = Some(refusal.reason());
        } else if report.signer.is_some() {
            s.verification = Some("verified");
            s.signer.clone_from(&report.signer);
        }
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
        s.set_summaries(report.commit_summary.as_ref());
        if report.error.is_none() {
            let (jobs, index) = jobs(report, state, &s.jobs, &s.index);
            s.jobs = jobs;
            s.index = index;
        }
        // A pass that read the commit reports every object of it; one that stopped before
        // (a fetch error, a refused signature) leaves them as they were.
        if report.error.is_none() && report.refused.is_none() {
            s.objects = report
                .objects
                .iter()
                .map(ObjectStatus::from_report)
                .collect();
        }
    }

    /// Moves a job as an event says (a deployment's progress and end, between passes).
    pub fn on_event(&self, event: &Event) {
        let mut inner = self.write();
        let Some(s) = inner.sources.get_mut(&event.source) else {
            return;
        };
        let key = JobKey::new(&event.namespace, &event.job);
        if !s.index.contains_key(&key) {
            // A job new in a pass still running: shown from its first event, completed when
            // the pass ends.
            if !matches!(event.kind, EventKind::Registered | EventKind::Progress) {
                return;
            }
            s.index.insert(key.clone(), s.jobs.len());
            s.jobs.push(JobStatus {
                id: Some(event.job.clone()),
                namespace: Some(event.namespace.clone()),
                file: String::new(),
                state: JobState::Deploying,
                applied_commit: None,
                version: None,
                deployment_status: None,
                deployment_id: None,
                progress: None,
                progress_counts: None,
                last_error: None,
                last_error_full: None,
            });
        }
        let Some(job) = s.index.get(&key).and_then(|&i| s.jobs.get_mut(i)) else {
            return;
        };
        if event.deployment.is_some() {
            job.deployment_id.clone_from(&event.deployment);
        }
        match event.kind {
            EventKind::Registered | EventKind::DriftCorrected => {
                job.state = JobState::Deploying;
                job.progress = None;
                job.progress_counts = None;
                job.set_error(None);
            }
            EventKind::Progress | EventKind::Promoted => {
                job.state = JobState::Deploying;
                job.progress = Some(event.detail.clone());
                if !event.groups.is_empty() {
                    let healthy = event.groups.iter().map(|g| g.healthy).sum();
                    let desired = event.groups.iter().map(|g| g.desired).sum();
                    job.progress_counts = Some((healthy, desired));
                }
            }
            EventKind::Succeeded => {
                job.state = JobState::Synced;
                job.deployment_status = Some("successful");
                job.version = event.version.or(job.version);
                job.applied_commit.clone_from(&event.commit);
                job.progress = None;
                job.progress_counts = None;
            }
            EventKind::Failed => {
                job.state = JobState::Failed;
                job.deployment_status = Some("failed");
                job.set_error(Some(event.detail.clone()));
                job.progress = None;
                job.progress_counts = None;
            }
            EventKind::RolledBack => job.version = event.version,
            EventKind::Superseded => {
                job.progress = None;
                job.progress_counts = None;
            }
            EventKind::Blocked => {
                job.state = JobState::Blocked;
                job.set_error(Some(event.detail.clone()));
            }
            EventKind::Pruned => job.state = JobState::Pruned,
            EventKind::DriftFound => job.state = JobState::Drifted,
            // About the source; the pass's report moves the board.
            EventKind::PassEnded | EventKind::VerificationFailed => {}
            // About a cluster object besides a job, which the board does not list.
            EventKind::Applied => {}
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

    /// `/healthz`: every source finished a pass within [`STUCK_INTERVALS`] of its interval, and
    /// no deployment follower has a query out for longer than its bound. A pass registers and
    /// returns, so a long deployment keeps neither from progressing.
    pub fn health(&self) -> Result<(), Vec<String>> {
        let inner = self.read();
        let mut stuck: Vec<String> = inner
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
        stuck.extend(inner.parts.iter().filter_map(Heartbeat::stuck));
        if stuck.is_empty() { Ok(()) } else { Err(stuck) }
    }

    /// `/readyz`: every source synced at least once, Nomad answered recently, and no deployment
    /// follower's last query failed.
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
        reasons.extend(inner.parts.iter().filter_map(Heartbeat::unreachable));
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    /// How long ago Nomad last answered, and the parts that cannot reach it now (for the
    /// pages).
    pub fn nomad_reachability(&self) -> Reachability {
        let inner = self.read();
        Reachability {
            answered_ago: inner.nomad_answered.map(|t| t.elapsed()),
            unreachable: inner
                .parts
                .iter()
                .filter_map(Heartbeat::unreachable)
                .collect(),
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

/// The jobs of a finished pass and where each is among them; a deployment still followed
/// keeps the progress the events gave it (`before`, `index`: the board's jobs until now).
fn jobs(
    report: &PassReport,
    state: &SourceState,
    before: &[JobStatus],
    index: &HashMap<JobKey, usize>,
) -> (Vec<JobStatus>, HashMap<JobKey, usize>) {
    let jobs: Vec<JobStatus> = report
        .jobs
        .iter()
        .map(|j| {
            let record = j.job.as_ref().and_then(|k| state.jobs.get(k));
            let outcome = record.and_then(|r| r.outcome.as_ref());
            let state = job_state(j.status, record);
            let problem = matches!(j.status, Status::Blocked | Status::Failed);
            let earlier = j
                .job
                .as_ref()
                .and_then(|k| index.get(k))
                .and_then(|&i| before.get(i))
                .filter(|_| state == JobState::Deploying);
            JobStatus {
                id: j.job.as_ref().map(|k| k.id.clone()),
                namespace: j.job.as_ref().map(|k| k.namespace.clone()),
                file: j.path.clone(),
                state,
                applied_commit: record.and_then(|r| r.applied_commit.clone()),
                version: record.and_then(|r| r.version),
                deployment_status: outcome.map(|o| outcome_word(&o.tracked.outcome)),
                deployment_id: earlier
                    .and_then(|e| e.deployment_id.clone())
                    .or_else(|| outcome.and_then(|o| o.tracked.deployment_id.clone())),
                progress: earlier.and_then(|e| e.progress.clone()),
                progress_counts: earlier.and_then(|e| e.progress_counts),
                last_error: problem.then(|| j.detail.clone()),
                last_error_full: j.full_detail.clone().filter(|_| problem),
            }
        })
        .collect();
    let index = report
        .jobs
        .iter()
        .enumerate()
        .filter_map(|(i, j)| Some((j.job.clone()?, i)))
        .collect();
    (jobs, index)
}

fn job_state(status: Status, record: Option<&JobRecord>) -> JobState {
    let outcome = record
        .and_then(|r| r.outcome.as_ref())
        .map(|o| &o.tracked.outcome);
    let deploying = record.is_some_and(|r| r.deploying);
    match status {
        Status::Synced | Status::Unchanged | Status::Kept | Status::Submitted if deploying => {
            JobState::Deploying
        }
        Status::Synced | Status::Unchanged | Status::Kept | Status::Submitted => match outcome {
            Some(Outcome::Failed { .. }) => JobState::Failed,
            Some(Outcome::AwaitingPromotion | Outcome::Paused) => JobState::Pending,
            _ => JobState::Synced,
        },
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
        Outcome::Superseded => "superseded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::JobReport;

    /// A board that shows one source, `name`.
    fn board_with_source(name: &str) -> Board {
        let text = format!(
            "[nomad]\naddress = \"http://127.0.0.1:4646\"\n[[source]]\nname = \"{name}\"\nurl = \"/srv/jobs\"\n"
        );
        let config = crate::config::Config::parse(
            &text,
            std::path::Path::new("drover.toml"),
            &crate::config::Env::default(),
        )
        .expect("config");
        let board = Board::new();
        board.add_source(&config.sources[0]);
        board
    }

    #[test]
    fn a_blocked_job_shows_its_folded_error_and_the_full_one() {
        let board = board_with_source("apps");
        let key = JobKey::new("default", "web");
        let mut report = PassReport::new("apps");
        report.jobs.push(JobReport {
            job: Some(key.clone()),
            path: "web.nomad.hcl".into(),
            status: Status::Blocked,
            detail: "error\nfolded warnings".into(),
            full_detail: Some("error\nwarning 1\nwarning 2".into()),
            followed: false,
        });
        board.pass_finished(&report, &SourceState::default(), Duration::ZERO);
        let job = |board: &Board| board.with_document(|d| d.sources[0].jobs[0].clone());
        let shown = job(&board);
        assert_eq!(shown.last_error.as_deref(), Some("error\nfolded warnings"));
        assert_eq!(
            shown.last_error_full.as_deref(),
            Some("error\nwarning 1\nwarning 2")
        );
        let event =
            Event::new(EventKind::Blocked, "apps", &key.namespace, &key.id).detail("another error");
        board.on_event(&event);
        let shown = job(&board);
        assert_eq!(shown.last_error.as_deref(), Some("another error"));
        assert_eq!(
            shown.last_error_full, None,
            "a full text never belongs to another error"
        );
    }

    #[test]
    fn a_refused_commit_shows_why_and_a_verified_one_its_signer() {
        let board = board_with_source("apps");
        let source = |board: &Board| {
            board.with_document(|d| (d.sources[0].verification, d.sources[0].signer.clone()))
        };
        let mut verified = PassReport::new("apps");
        verified.signer = Some("alice@example.com".into());
        board.pass_finished(&verified, &SourceState::default(), Duration::ZERO);
        assert_eq!(
            source(&board),
            (Some("verified"), Some("alice@example.com".to_owned()))
        );
        let mut refused = PassReport::new("apps");
        refused.refused = Some(crate::source::verify::Refusal::UnknownKey {
            key: "SHA256:abc".into(),
        });
        board.pass_finished(&refused, &SourceState::default(), Duration::ZERO);
        let (verification, signer) = source(&board);
        assert_eq!(verification, Some("unknown_key"));
        assert_eq!(
            signer.as_deref(),
            Some("alice@example.com"),
            "the signer of what still runs"
        );
    }

    #[test]
    fn the_board_keeps_the_last_pass_durations_and_the_commits_it_read() {
        let board = board_with_source("apps");
        let summary = CommitSummary {
            commit: "c1".into(),
            subject: "Bump web".into(),
            author: "Alice".into(),
        };
        let state = SourceState {
            last_fetched_commit: Some("c1".into()),
            last_synced_commit: Some("c1".into()),
            ..SourceState::default()
        };
        for ms in 0..40 {
            let mut report = PassReport::new("apps");
            report.commit_summary = Some(summary.clone()).filter(|_| ms == 0);
            board.pass_finished(&report, &state, Duration::from_millis(ms));
        }
        board.with_document(|d| {
            let s = d.sources[0];
            let kept: Vec<_> = s.pass_durations().map(|d| d.as_millis()).collect();
            assert_eq!(
                kept,
                (10..40).collect::<Vec<_>>(),
                "the last 30, oldest first"
            );
            assert_eq!(s.fetched_summary.as_ref(), Some(&summary));
            assert_eq!(s.synced_summary.as_ref(), Some(&summary));
        });
        let moved = SourceState {
            last_synced_commit: Some("c0".into()),
            ..state
        };
        board.pass_finished(&PassReport::new("apps"), &moved, Duration::ZERO);
        board.with_document(|d| {
            assert_eq!(
                d.sources[0].synced_summary, None,
                "no summary of another commit"
            )
        });
    }

    #[test]
    fn a_follower_is_stuck_only_while_a_query_is_out_past_its_bound() {
        let board = Board::new();
        let beat = board.heartbeat("the deployment follower of cluster east", Duration::ZERO);
        assert_eq!(board.health(), Ok(()), "idle is healthy");
        beat.waiting();
        std::thread::sleep(Duration::from_millis(2));
        let stuck = board.health().expect_err("a query out past its bound");
        assert!(
            stuck[0].starts_with("the deployment follower of cluster east has waited"),
            "{stuck:?}"
        );
        beat.failed("connection refused");
        assert_eq!(board.health(), Ok(()), "an error returned is progress");
        let reasons = board.readiness().expect_err("not ready");
        assert!(
            reasons.contains(
                &"the deployment follower of cluster east cannot reach Nomad: connection refused"
                    .to_owned()
            ),
            "{reasons:?}"
        );
        beat.returned();
        let reasons = board.readiness().expect_err("Nomad never answered a pass");
        assert!(
            !reasons.iter().any(|r| r.contains("cannot reach")),
            "{reasons:?}"
        );
    }
}
