//! What reconcile decides for one job or file, and why, in words fit for a log line and the
//! status page.

use std::fmt;

use crate::state::{JobKey, RefusedBy};

/// One decision. The kind follows from the reason ([`Action::kind`]), so the two never
/// disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// `None` only for a file blocked before its job ID was known.
    pub job: Option<JobKey>,
    /// The job file in the repository (from the ownership meta for a job no longer in Git).
    pub path: String,
    pub reason: Reason,
}

/// What the caller does with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Not running in Nomad: plan (for the check-and-set index) and register.
    Create,
    /// The inputs changed, or drover does not know what it applied: plan with the live
    /// `drover.commit`; register only when the plan shows a change.
    Update,
    /// No Nomad call at all.
    Unchanged,
    /// A drift check: plan; a change was made outside Git and is put back only with
    /// `self_heal`, otherwise reported as drifted.
    Plan,
    /// Deregister: the file left Git.
    Prune,
    /// The file left Git but the job stays; the reason says why.
    PruneRefused,
    /// Nothing is submitted or deleted for this file or job; the reason says why.
    Blocked,
}

/// Why an action was chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Create: Nomad has no such job.
    NotInNomad,
    /// Create: the job is stopped in Nomad, and drover has not applied these inputs.
    StoppedInNomad,
    /// Update: the rendered job differs from the one drover applied.
    InputsChanged {
        applied_commit: Option<String>,
    },
    /// Update: the job runs, but drover has no fingerprint of what it applied (a record
    /// rebuilt from meta, or after a failed deployment).
    NotRecorded,
    /// Update: the job runs without any ownership meta; registering adopts it.
    Adopt,
    /// Unchanged: same inputs as applied, job running, no drift check due.
    Unchanged,
    /// Plan: the drift interval elapsed since the last plan (or there was none).
    DriftCheckDue,
    /// Plan: a full pass (`--full`) re-plans every job.
    FullPass,
    /// Plan: drover applied these inputs, but the job was stopped or removed outside Git.
    GoneFromNomad {
        stopped: bool,
    },
    /// Prune.
    LeftGit,
    PruneRefused(PruneRefusal),
    Blocked(Block),
}

/// Why a job whose file left Git is not pruned (invariant 2).
#[derive(Debug, Clone, PartialEq)]
pub enum PruneRefusal {
    /// The source's `prune` is off.
    Disabled,
    /// This pass could not fetch, so Git's view may be stale.
    FetchFailed { error: String },
    /// A file failed to render, so any job might be the one it defines.
    RenderFailed { files: usize, first: String },
    /// The job's meta sets `drover.prune = "false"`.
    OptedOut,
    /// The pass would prune more than `max_prune_fraction` of the source's jobs.
    TooMany {
        prunes: usize,
        managed: usize,
        max_fraction: f64,
    },
}

/// Why nothing is done for a file or a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A problem the caller found in the file.
    File { problem: Problem, message: String },
    /// This exact rendered job failed to deploy before (invariant 4).
    KnownBad { fingerprint: String },
    /// The live job carries another source's ownership meta.
    OwnedElsewhere { source: String },
}

/// What is wrong with a job file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// It does not parse or render (Nomad's parse, variables, inlined files...).
    Render,
    Policy,
    /// Another file defines the same job (namespace and ID).
    Duplicate,
    /// Nomad refused these very inputs before; they are not sent again (`sync::refused`).
    Refused(RefusedBy),
    /// Something it needs failed to apply in this pass (its namespace).
    Dependency,
}

impl Problem {
    /// The file did not render to a job (locally or in Nomad's parse), so it might define any
    /// job: no prune may go ahead (invariant 2).
    pub fn is_render(self) -> bool {
        matches!(self, Self::Render | Self::Refused(RefusedBy::Parse))
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self.reason {
            Reason::NotInNomad | Reason::StoppedInNomad => ActionKind::Create,
            Reason::InputsChanged { .. } | Reason::NotRecorded | Reason::Adopt => {
                ActionKind::Update
            }
            Reason::Unchanged => ActionKind::Unchanged,
            Reason::DriftCheckDue | Reason::FullPass | Reason::GoneFromNomad { .. } => {
                ActionKind::Plan
            }
            Reason::LeftGit => ActionKind::Prune,
            Reason::PruneRefused(_) => ActionKind::PruneRefused,
            Reason::Blocked(_) => ActionKind::Blocked,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.job {
            Some(job) => write!(f, "{} {job} ({}): {}", self.kind(), self.path, self.reason),
            None => write!(f, "{} {}: {}", self.kind(), self.path, self.reason),
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Plan => "plan",
            Self::Prune => "prune",
            Self::PruneRefused => "prune refused",
            Self::Blocked => "blocked",
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInNomad => f.write_str("not in Nomad yet"),
            Self::StoppedInNomad => f.write_str("stopped in Nomad; registering starts it"),
            Self::InputsChanged {
                applied_commit: Some(c),
            } => write!(f, "inputs changed since commit {}", short(c)),
            Self::InputsChanged { .. } => f.write_str("inputs changed since drover applied it"),
            Self::NotRecorded => {
                f.write_str("no record of what drover applied; a plan decides whether to register")
            }
            Self::Adopt => f.write_str("in Nomad without ownership meta; registering adopts it"),
            Self::Unchanged => f.write_str("inputs unchanged since drover applied them"),
            Self::DriftCheckDue => f.write_str("drift check due"),
            Self::FullPass => f.write_str("full pass"),
            Self::GoneFromNomad { stopped: true } => f.write_str("stopped outside Git"),
            Self::GoneFromNomad { stopped: false } => f.write_str("removed from Nomad outside Git"),
            Self::LeftGit => f.write_str("its file left Git"),
            Self::PruneRefused(why) => write!(f, "its file left Git, but {why}"),
            Self::Blocked(why) => write!(f, "{why}"),
        }
    }
}

impl fmt::Display for PruneRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("prune is off for this source"),
            Self::FetchFailed { error } => write!(f, "this pass's fetch failed ({error})"),
            Self::RenderFailed { files, first } => {
                write!(
                    f,
                    "{files} file(s) failed to render this pass (first: {first})"
                )
            }
            Self::OptedOut => f.write_str("its meta sets drover.prune = \"false\""),
            Self::TooMany {
                prunes,
                managed,
                max_fraction,
            } => write!(
                f,
                "this pass would prune {prunes} of {managed} jobs, more than max_prune_fraction = {max_fraction} (allow a mass prune to proceed)"
            ),
        }
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { problem, message } => {
                let what = match problem {
                    Problem::Render => "render error",
                    Problem::Policy => "policy violation",
                    Problem::Duplicate => "duplicate job ID",
                    Problem::Refused(RefusedBy::Parse) => "refused by Nomad's parse",
                    Problem::Refused(RefusedBy::Plan) => "refused by Nomad's plan",
                    Problem::Refused(RefusedBy::Register) => "refused by Nomad's register",
                    Problem::Dependency => "waiting for what it needs",
                };
                write!(f, "{what}: {message}")
            }
            Self::KnownBad { fingerprint } => write!(
                f,
                "these inputs (fingerprint {}) failed to deploy before; waiting for a change in Git",
                short(fingerprint)
            ),
            Self::OwnedElsewhere { source } => {
                write!(f, "the job in Nomad belongs to source `{source}`")
            }
        }
    }
}

/// A commit or fingerprint shortened for people, as `git log --oneline` does.
pub(crate) fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}
