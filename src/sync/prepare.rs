//! The local half of a pass: the job files at the fetched commit, each prepared (checked,
//! `file()` inlined, fingerprinted) without any Nomad call, and what reconcile needs to know
//! about them. A file that cannot be prepared is blocked with every error found in it.

use std::collections::HashMap;

use crate::config::Source;
use crate::reconcile::{BlockedFile, Desired, DesiredJob, Problem};
use crate::render::{self, Prepared, RenderError};
use crate::source::{CommitId, Mirror, SourceError};
use crate::state::JobKey;

/// The job files of one commit, ready for reconcile and, where needed, for Nomad.
pub(crate) struct PreparedSet {
    pub desired: Desired,
    /// The files that prepared cleanly, by job.
    pub jobs: HashMap<JobKey, Prepared>,
}

pub(crate) fn prepare(
    mirror: &Mirror,
    commit: CommitId,
    source: &Source,
) -> Result<PreparedSet, SourceError> {
    let snapshot = mirror.snapshot(commit)?;
    for submodule in &snapshot.submodules {
        tracing::warn!(source = %source.name, path = %submodule, "submodule not followed");
    }
    let settings = render::Settings::from_source(source);
    let mut blocked: Vec<BlockedFile> = snapshot
        .refused
        .iter()
        .map(|e| blocked_file(e.path(), None, Problem::Render, e.to_string()))
        .collect();
    let mut prepared = Vec::new();
    match render::load_variables(&snapshot, &settings) {
        Err(errors) => {
            // No job can be rendered as configured: each is blocked (which also stops pruning).
            let message = join(&errors);
            blocked.extend(
                snapshot
                    .files
                    .iter()
                    .map(|f| blocked_file(&f.path, None, Problem::Render, message.clone())),
            );
        }
        Ok(variables) => {
            for file in &snapshot.files {
                match render::prepare(&snapshot, &file.path, &settings, &variables) {
                    Ok(p) => prepared.push(p),
                    Err(errors) => blocked.push(blocked_file(
                        &file.path,
                        None,
                        Problem::Render,
                        join(&errors),
                    )),
                }
            }
        }
    }
    let keys: Vec<(JobKey, String)> = prepared.iter().map(|p| (p.key(), p.path.clone())).collect();
    let mut duplicates = render::duplicates(&keys);
    let mut jobs = HashMap::new();
    let mut desired_jobs = Vec::new();
    for (i, p) in prepared.into_iter().enumerate() {
        if let Some(e) = duplicates.remove(&i) {
            blocked.push(blocked_file(
                &p.path,
                Some(p.key()),
                Problem::Duplicate,
                e.to_string(),
            ));
            continue;
        }
        desired_jobs.push(DesiredJob {
            key: p.key(),
            path: p.path.clone(),
            fingerprint: p.fingerprint.clone(),
        });
        jobs.insert(p.key(), p);
    }
    let desired = Desired {
        jobs: desired_jobs,
        blocked,
        fetch_error: None,
    };
    Ok(PreparedSet { desired, jobs })
}

pub(crate) fn blocked_file(
    path: &str,
    job: Option<JobKey>,
    problem: Problem,
    message: String,
) -> BlockedFile {
    BlockedFile {
        path: path.to_owned(),
        job,
        problem,
        message,
    }
}

/// Every error of a file, one per line.
pub fn join(errors: &[RenderError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
