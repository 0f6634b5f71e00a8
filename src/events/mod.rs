//! Events: every outcome drover reaches about a job — registered, a deployment's progress,
//! promoted, succeeded, failed, rolled back, superseded, blocked, pruned, drift found or
//! corrected — and the end of a pass that submitted jobs, as one type that the state's
//! history, `/status`, `/metrics`, the logs and the notifier share.
//!
//! Owns the event type, how a registration ended ([`Outcome`], [`Tracked`]), the bounded
//! per-job [`History`] and the in-process subscription ([`Bus`]). Never decides anything and
//! never stores itself: whoever reaches an outcome publishes it through the state's
//! `Recorder`, which keeps the history with the rest of the state.

mod history;
mod outcome;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use history::History;
pub use outcome::{Outcome, Tracked};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new version was registered; its evaluation and deployment are being followed.
    Registered,
    /// A deployment moved: allocations placed, healthy or unhealthy, canaries.
    Progress,
    /// Canaries were promoted (by drover).
    Promoted,
    /// The deployment succeeded, or a job without a deployment was placed.
    Succeeded,
    /// The deployment or its evaluation failed; the spec is known-bad until its inputs change.
    Failed,
    /// A failed deployment was reverted to the latest stable version (by drover or by Nomad's
    /// `auto_revert`).
    RolledBack,
    /// A newer registration replaced the deployment before it ended.
    Superseded,
    /// Nothing was submitted for the job; the detail says why.
    Blocked,
    /// The job was deregistered because its file left Git.
    Pruned,
    /// A drift check found the job changed outside Git (`self_heal` off).
    DriftFound,
    /// A drift check found the job changed outside Git and registered Git's version again.
    DriftCorrected,
    /// A cluster object besides a job (namespace, node pool, ACL policy or role, variable)
    /// was created or updated from its file. `job` names the object as `<kind>/<name>`
    /// (`namespace/prod`, `variable/prod/nomad/jobs/web`), as every event about an object does.
    Applied,
    /// A pass over a source ended after submitting (or blocking) jobs of its commit: every
    /// registration of that commit by that pass is known. About the source, not one job
    /// (`namespace` and `job` are empty); not kept in the history.
    PassEnded,
    /// A source's fetched commit (or tag) was not deployed: its signature is missing, bad, or
    /// by a key not allowed. About the source (`namespace` and `job` are empty); the detail
    /// says why; not kept in the history.
    VerificationFailed,
}

impl EventKind {
    /// Every kind, so that a count of zero still shows in `/metrics`.
    pub const ALL: [EventKind; 14] = [
        Self::Registered,
        Self::Progress,
        Self::Promoted,
        Self::Succeeded,
        Self::Failed,
        Self::RolledBack,
        Self::Superseded,
        Self::Blocked,
        Self::Pruned,
        Self::DriftFound,
        Self::DriftCorrected,
        Self::Applied,
        Self::PassEnded,
        Self::VerificationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Progress => "progress",
            Self::Promoted => "promoted",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
            Self::Superseded => "superseded",
            Self::Blocked => "blocked",
            Self::Pruned => "pruned",
            Self::DriftFound => "drift_found",
            Self::DriftCorrected => "drift_corrected",
            Self::Applied => "applied",
            Self::PassEnded => "pass_ended",
            Self::VerificationFailed => "verification_failed",
        }
    }

    /// Whether a person should look: logged as a warning.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            Self::Failed
                | Self::RolledBack
                | Self::Blocked
                | Self::DriftFound
                | Self::VerificationFailed
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One group's progress in a deployment, as Nomad counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProgress {
    pub group: String,
    pub desired: u64,
    pub placed: u64,
    pub healthy: u64,
    pub unhealthy: u64,
    /// Canaries wanted; 0 without a canary update.
    pub canaries: u64,
    pub promoted: bool,
}

/// `running 3/5 healthy, 1 canary`: a deployment's progress in a few words.
pub fn progress_line(groups: &[GroupProgress]) -> String {
    let sum = |f: fn(&GroupProgress) -> u64| groups.iter().map(f).sum::<u64>();
    let (desired, healthy, unhealthy) =
        (sum(|g| g.desired), sum(|g| g.healthy), sum(|g| g.unhealthy));
    let canaries = groups
        .iter()
        .filter(|g| !g.promoted)
        .map(|g| g.canaries)
        .sum::<u64>();
    let mut line = format!("{healthy}/{desired} healthy");
    if unhealthy > 0 {
        line.push_str(&format!(", {unhealthy} unhealthy"));
    }
    match canaries {
        0 => {}
        1 => line.push_str(", 1 canary"),
        n => line.push_str(&format!(", {n} canaries")),
    }
    line
}

/// A commit shortened as `git log --oneline` does.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// One outcome about one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
    pub kind: EventKind,
    /// The configured source that owns the job.
    pub source: String,
    pub namespace: String,
    pub job: String,
    /// The commit the job's inputs come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Who signed that commit, when its source verifies signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The Nomad job version concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// For people: what happened, and why when it went wrong.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Per group, for a deployment's progress and its end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupProgress>,
    /// The plan's diff as `drover diff` prints it (plain), for a job's registration or drift;
    /// at most [`PLAN_MAX_BYTES`]. Cluster objects never carry one: a variable's values must
    /// not show anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// The most of a plan's text an event keeps. A job's diff is rarely more than a few KiB; one
/// huge job must not crowd every other job's events out of the bounded history.
pub const PLAN_MAX_BYTES: usize = 16 * 1024;

/// `plan` within [`PLAN_MAX_BYTES`], cut after a whole line, with a last line saying how many
/// were left out.
fn capped(plan: &str) -> String {
    if plan.len() <= PLAN_MAX_BYTES {
        return plan.to_owned();
    }
    let end = plan.as_bytes()[..PLAN_MAX_BYTES]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    let (kept, rest) = plan.split_at(end);
    format!(
        "{kept}… cut: {} more lines not kept (a plan keeps {} KiB)\n",
        rest.lines().count(),
        PLAN_MAX_BYTES / 1024
    )
}

impl Event {
    /// An event of `kind` about `namespace/job` of `source`, now, with nothing else known yet.
    pub fn new(kind: EventKind, source: &str, namespace: &str, job: &str) -> Self {
        Self {
            at: SystemTime::now(),
            kind,
            source: source.to_owned(),
            namespace: namespace.to_owned(),
            job: job.to_owned(),
            commit: None,
            signer: None,
            version: None,
            deployment: None,
            detail: String::new(),
            groups: Vec::new(),
            plan: None,
        }
    }

    pub fn commit(mut self, commit: Option<&str>) -> Self {
        self.commit = commit.map(str::to_owned);
        self
    }

    pub fn signer(mut self, signer: Option<&str>) -> Self {
        self.signer = signer.map(str::to_owned);
        self
    }

    pub fn version(mut self, version: Option<u64>) -> Self {
        self.version = version;
        self
    }

    pub fn deployment(mut self, id: Option<&str>) -> Self {
        self.deployment = id.map(str::to_owned);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn groups(mut self, groups: Vec<GroupProgress>) -> Self {
        self.groups = groups;
        self
    }

    /// The plan's text, cut to [`PLAN_MAX_BYTES`]; none when empty (Nomad gave no diff).
    pub fn plan(mut self, plan: &str) -> Self {
        self.plan = (!plan.is_empty()).then(|| capped(plan));
        self
    }

    /// What the event holds in memory: itself, and each string and group on the heap with
    /// the allocator's own overhead.
    pub(crate) fn weight(&self) -> usize {
        const PER_ALLOCATION: usize = 16;
        let heap = |text: &str| match text.len() {
            0 => 0,
            n => n + PER_ALLOCATION,
        };
        let strings = [&self.source, &self.namespace, &self.job, &self.detail]
            .into_iter()
            .chain(self.commit.as_ref())
            .chain(self.signer.as_ref())
            .chain(self.deployment.as_ref())
            .chain(self.plan.as_ref())
            .map(|s| heap(s))
            .sum::<usize>();
        let groups = self
            .groups
            .iter()
            .map(|g| std::mem::size_of::<GroupProgress>() + heap(&g.group))
            .sum::<usize>();
        let group_list = if self.groups.is_empty() {
            0
        } else {
            PER_ALLOCATION
        };
        std::mem::size_of::<Self>() + strings + groups + group_list
    }
}

/// How many events a slow subscriber may fall behind before it misses some (it is told).
const BUS_CAPACITY: usize = 256;

/// The in-process subscription: every published event reaches every subscriber. Cheap to
/// clone. Publishing never waits: a subscriber that falls behind loses the oldest events.
#[derive(Debug, Clone)]
pub struct Bus(broadcast::Sender<Arc<Event>>);

impl Default for Bus {
    fn default() -> Self {
        Self(broadcast::channel(BUS_CAPACITY).0)
    }
}

impl Bus {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.0.subscribe()
    }

    pub(crate) fn send(&self, event: Arc<Event>) {
        // No subscriber is not an error: `sync --once` has none.
        let _ = self.0.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(desired: u64, healthy: u64, canaries: u64, promoted: bool) -> GroupProgress {
        GroupProgress {
            group: "web".into(),
            desired,
            healthy,
            canaries,
            promoted,
            ..GroupProgress::default()
        }
    }

    #[test]
    fn the_progress_line_counts_every_group_and_the_unpromoted_canaries() {
        let groups = [group(3, 2, 1, false), group(2, 1, 0, false)];
        assert_eq!(progress_line(&groups), "3/5 healthy, 1 canary");
        let promoted = [group(3, 3, 1, true)];
        assert_eq!(progress_line(&promoted), "3/3 healthy");
        let mut sick = group(2, 0, 2, false);
        sick.unhealthy = 1;
        assert_eq!(
            progress_line(&[sick]),
            "0/2 healthy, 1 unhealthy, 2 canaries"
        );
    }

    #[test]
    fn an_event_reads_back_as_it_was_written() {
        let event = Event::new(EventKind::RolledBack, "prod", "web", "api")
            .commit(Some("abc"))
            .version(Some(4))
            .deployment(Some("d-1"))
            .detail("rolled back to v3")
            .groups(vec![group(2, 0, 0, false)])
            .plan("+/- Job: \"api\"\n");
        let text = serde_json::to_string(&event).expect("encode");
        assert!(text.contains(r#""kind":"rolled_back""#), "{text}");
        let back: Event = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, event);
    }

    #[test]
    fn a_plan_weighs_what_it_holds_and_a_huge_one_is_cut_after_a_whole_line() {
        let line = "  +/- image: \"nginx:1\" => \"nginx:2\"\n";
        let huge = line.repeat(2 * PLAN_MAX_BYTES / line.len());
        let bare = Event::new(EventKind::Registered, "prod", "web", "api");
        let planned = bare.clone().plan(&huge);
        let kept = planned.plan.as_deref().expect("a plan");
        assert!(kept.len() < PLAN_MAX_BYTES + 100, "{}", kept.len());
        let (whole, last) = kept.trim_end().rsplit_once('\n').expect("lines");
        assert!(last.starts_with("… cut: "), "{last}");
        assert!(
            whole.lines().all(|l| format!("{l}\n") == line),
            "whole lines only"
        );
        let more = huge.lines().count() - whole.lines().count();
        assert!(last.contains(&format!("{more} more lines")), "{last}");
        assert!(planned.weight() >= bare.weight() + kept.len());
        assert_eq!(bare.clone().plan(line).plan.as_deref(), Some(line));
        assert_eq!(bare.clone().plan("").plan, None, "no diff, no plan");
    }
}
