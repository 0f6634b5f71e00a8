//! What a pass did, job by job, in the words the `sync` command prints and the state records.

use std::fmt;

use crate::state::JobKey;

/// Where one job (or file) ended up in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Registered and deployed (or, detached, submitted), or found equal by a plan.
    Synced,
    /// No Nomad call was needed.
    Unchanged,
    /// Changed outside Git; reported, not put back.
    Drifted,
    /// Registered without following it (`--detach`).
    Submitted,
    /// Registered and still waiting: canaries for a promotion.
    Pending,
    /// Deregistered because its file left Git.
    Pruned,
    /// A file left Git but its job stays, by configuration (`prune` off, `drover.prune`).
    Kept,
    /// Render error, policy violation, duplicate ID, known-bad spec, refused prune.
    Blocked,
    /// The deployment or the evaluation failed, the job was contended, or Nomad refused it.
    Failed,
}

impl Status {
    /// Whether this job keeps the pass from converging (exit code 1 of `sync --once`).
    pub fn is_problem(self) -> bool {
        matches!(self, Self::Blocked | Self::Failed | Self::Pending)
    }

    fn word(self) -> &'static str {
        match self {
            Self::Synced => "synced",
            Self::Unchanged => "unchanged",
            Self::Drifted => "drifted",
            Self::Submitted => "submitted",
            Self::Pending => "pending",
            Self::Pruned => "pruned",
            Self::Kept => "kept",
            Self::Blocked => "blocked",
            Self::Failed => "failed",
        }
    }
}

/// One line of a pass's report.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub job: Option<JobKey>,
    pub path: String,
    pub status: Status,
    pub detail: String,
    /// The status and detail are the deployment's outcome, as the follower told it.
    pub followed: bool,
}

impl fmt::Display for JobReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self
            .job
            .as_ref()
            .map_or_else(|| self.path.clone(), ToString::to_string);
        write!(f, "{what:<28} {:<9} {}", self.status.word(), self.detail)
    }
}

/// A whole pass over one source.
#[derive(Debug, Clone)]
pub struct PassReport {
    pub source: String,
    pub commit: Option<String>,
    pub jobs: Vec<JobReport>,
    /// The pass could not run (fetch failed, Nomad unreachable): exit code 2.
    pub error: Option<String>,
    /// How long the fetch took, when there was one.
    pub fetch_duration: Option<std::time::Duration>,
}

impl PassReport {
    pub fn new(source: &str) -> Self {
        Self {
            source: source.to_owned(),
            commit: None,
            jobs: Vec::new(),
            error: None,
            fetch_duration: None,
        }
    }

    /// A pass that could not run at all.
    pub fn failed(source: &str, error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::new(source)
        }
    }

    pub fn converged(&self) -> bool {
        self.error.is_none() && !self.jobs.iter().any(|j| j.status.is_problem())
    }

    /// `12 unchanged, 1 synced, 1 blocked`, in a fixed order.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("pass failed: {e}");
        }
        let all = [
            Status::Synced,
            Status::Unchanged,
            Status::Drifted,
            Status::Submitted,
            Status::Pending,
            Status::Pruned,
            Status::Kept,
            Status::Blocked,
            Status::Failed,
        ];
        let counts: Vec<String> = all
            .iter()
            .map(|s| (s, self.jobs.iter().filter(|j| j.status == *s).count()))
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{n} {}", s.word()))
            .collect();
        if counts.is_empty() {
            "no jobs".to_owned()
        } else {
            counts.join(", ")
        }
    }
}
