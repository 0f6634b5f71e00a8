//! What a pass did, job by job, in the words the `sync` command prints and the state records.

use crate::source::verify::Refusal;
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

    pub(crate) fn word(self) -> &'static str {
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
    /// Why, for people: a file's errors first and its warnings folded (see
    /// [`crate::render::report`]); what the events, the logs and `/status` tell.
    pub detail: String,
    /// Every diagnostic in full, when `detail` folds some (`--verbose`, `/status`).
    pub full_detail: Option<String>,
    /// The status and detail are the deployment's outcome, as the follower told it.
    pub followed: bool,
}

/// Where the detail starts in [`JobReport::line`]: after the job (28) and the status (9).
const DETAIL_COLUMN: usize = 28 + 1 + 9 + 1;

impl JobReport {
    /// The job, its status and its detail (in full with `verbose`), further lines of the
    /// detail aligned under its first.
    pub fn line(&self, verbose: bool) -> String {
        let what = self
            .job
            .as_ref()
            .map_or_else(|| self.path.clone(), ToString::to_string);
        let detail = match &self.full_detail {
            Some(full) if verbose => full,
            _ => &self.detail,
        };
        let detail = detail.replace('\n', &format!("\n{:DETAIL_COLUMN$}", ""));
        format!("{what:<28} {:<9} {detail}", self.status.word())
    }
}

/// One line of a pass's report about a cluster object besides a job.
#[derive(Debug, Clone)]
pub struct ObjectReport {
    /// `namespace prod`, `ACL policy ops-read`, `variable prod/nomad/jobs/web`.
    pub object: String,
    pub path: String,
    pub status: Status,
    pub detail: String,
}

impl ObjectReport {
    pub fn new(object: &str, path: &str, status: Status, detail: String) -> Self {
        Self {
            object: object.to_owned(),
            path: path.to_owned(),
            status,
            detail,
        }
    }

    /// The object, its status and its detail, further lines aligned under the first.
    pub fn line(&self) -> String {
        let detail = self
            .detail
            .replace('\n', &format!("\n{:DETAIL_COLUMN$}", ""));
        format!("{:<28} {:<9} {detail}", self.object, self.status.word())
    }
}

/// A whole pass over one source.
#[derive(Debug, Clone)]
pub struct PassReport {
    pub source: String,
    pub commit: Option<String>,
    pub jobs: Vec<JobReport>,
    /// The cluster objects besides jobs, in the order they were applied.
    pub objects: Vec<ObjectReport>,
    /// The pass could not run (fetch failed, Nomad unreachable): exit code 2.
    pub error: Option<String>,
    /// How long the fetch took, when there was one.
    pub fetch_duration: Option<std::time::Duration>,
    /// Who signed the commit (or tag) this pass deployed, when the source verifies signatures.
    pub signer: Option<String>,
    /// Why the fetched commit was not deployed, when its signature was refused.
    pub refused: Option<Refusal>,
    /// The fetched commit's subject and author, when the mirror could read them.
    pub commit_summary: Option<crate::source::CommitSummary>,
}

impl PassReport {
    pub fn new(source: &str) -> Self {
        Self {
            source: source.to_owned(),
            commit: None,
            jobs: Vec::new(),
            objects: Vec::new(),
            error: None,
            fetch_duration: None,
            signer: None,
            refused: None,
            commit_summary: None,
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
        self.error.is_none()
            && !self.jobs.iter().any(|j| j.status.is_problem())
            && !self.objects.iter().any(|o| o.status.is_problem())
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
        let statuses: Vec<Status> = self
            .jobs
            .iter()
            .map(|j| j.status)
            .chain(self.objects.iter().map(|o| o.status))
            .collect();
        let counts: Vec<String> = all
            .iter()
            .map(|s| (s, statuses.iter().filter(|t| *t == s).count()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reports_further_lines_align_under_its_first_and_verbose_shows_all() {
        let report = JobReport {
            job: Some(JobKey::new("default", "web")),
            path: "web.nomad.hcl".into(),
            status: Status::Blocked,
            detail: "web.nomad.hcl:3:1: the error\nweb.nomad.hcl: warning: 2 variables".into(),
            full_detail: Some("web.nomad.hcl:3:1: the error\nw1\nw2".into()),
            followed: false,
        };
        let pad = " ".repeat(DETAIL_COLUMN);
        assert_eq!(
            report.line(false),
            format!(
                "default/web                  blocked   web.nomad.hcl:3:1: the error\n{pad}web.nomad.hcl: warning: 2 variables"
            )
        );
        assert_eq!(
            report.line(true),
            format!(
                "default/web                  blocked   web.nomad.hcl:3:1: the error\n{pad}w1\n{pad}w2"
            )
        );
    }
}
