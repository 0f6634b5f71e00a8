//! The local half of a pass: the job files at the fetched commit, each prepared (checked,
//! `file()` inlined, fingerprinted) without any Nomad call — or, when its inputs are those of
//! an earlier pass, known from that pass — and what reconcile needs to know about them. A file
//! that cannot be prepared is blocked with every error found in it.

use std::collections::HashMap;

use super::cache::{Entry, PrepareCache};
use super::objects::{ObjectSet, read_files};
use crate::config::Source;
use crate::reconcile::{BlockedFile, Desired, DesiredJob, Problem};
use crate::render::{self, Detail, Prepared, RenderError, Variables};
use crate::source::{CommitId, Mirror, Snapshot, SourceError};
use crate::state::JobKey;

/// The job files of one commit, ready for reconcile and, where needed, for Nomad.
pub(crate) struct PreparedSet {
    pub desired: Desired,
    /// The commit's cluster objects besides jobs, read from their files.
    pub objects: ObjectSet,
    /// The `drover.wave` of every job file that sets one other than 0, by path.
    pub waves: HashMap<String, i64>,
    snapshot: Snapshot,
    settings: render::Settings,
    variables: Variables,
}

impl PreparedSet {
    /// The job file at `path` prepared for Nomad. Prepared again when it is needed rather than
    /// kept from the first look, so that a pass holds the text of only the jobs in flight.
    pub fn prepared(&self, path: &str) -> Option<Prepared> {
        match render::prepare(&self.snapshot, path, &self.settings, &self.variables) {
            Ok(prepared) => Some(prepared),
            Err(errors) => {
                tracing::error!(path, errors = %report(&errors), "a file that prepared before no longer does");
                None
            }
        }
    }
}

/// A file that prepared to a job, in this pass or an earlier one.
struct Ready {
    path: String,
    entry: Entry,
}

pub(crate) fn prepare(
    mirror: &Mirror,
    commit: CommitId,
    source: &Source,
    cache: &PrepareCache,
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
    let mut ready = Vec::new();
    let variables = match render::load_variables(&snapshot, &settings) {
        Err(errors) => {
            // No job can be rendered as configured: each is blocked (which also stops pruning).
            let message = report(&errors);
            blocked.extend(
                snapshot
                    .files
                    .iter()
                    .map(|f| blocked_file(&f.path, None, Problem::Render, message.clone())),
            );
            Variables::default()
        }
        Ok(variables) => {
            let mut known = cache.take(&source.name, &settings, &variables);
            for file in &snapshot.files {
                let path = file.path.clone();
                match known.remove(&path) {
                    Some(entry) if entry.holds(file.blob, &snapshot) => {
                        ready.push(Ready { path, entry });
                    }
                    _ => match render::prepare(&snapshot, &path, &settings, &variables) {
                        Ok(p) => ready.push(Ready {
                            path,
                            entry: Entry::new(&p, file.blob),
                        }),
                        Err(errors) => blocked.push(blocked_file(
                            &path,
                            None,
                            Problem::Render,
                            report(&errors),
                        )),
                    },
                }
            }
            let entries = ready.iter().map(|r| (r.path.clone(), r.entry.clone()));
            cache.put(
                &source.name,
                settings.clone(),
                variables.clone(),
                entries.collect(),
            );
            variables
        }
    };
    let keys: Vec<(JobKey, String)> = ready
        .iter()
        .map(|r| (r.entry.key.clone(), r.path.clone()))
        .collect();
    let mut duplicates = render::duplicates(&keys);
    let mut desired_jobs = Vec::new();
    let waves = ready
        .iter()
        .filter(|r| r.entry.wave != 0)
        .map(|r| (r.path.clone(), r.entry.wave))
        .collect();
    for (i, r) in ready.into_iter().enumerate() {
        let key = r.entry.key;
        if let Some(e) = duplicates.remove(&i) {
            blocked.push(blocked_file(
                &r.path,
                Some(key),
                Problem::Duplicate,
                e.to_string(),
            ));
            continue;
        }
        desired_jobs.push(DesiredJob {
            key,
            path: r.path,
            fingerprint: r.entry.fingerprint,
        });
    }
    let desired = Desired {
        jobs: desired_jobs,
        blocked,
        fetch_error: None,
    };
    Ok(PreparedSet {
        desired,
        objects: read_files(
            &snapshot,
            source.objects.age_identity.as_ref(),
            source.namespace.as_deref(),
        ),
        waves,
        snapshot,
        settings,
        variables,
    })
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

/// A file's errors as its report says them (no local check warns, so nothing is folded).
fn report(errors: &[RenderError]) -> String {
    render::report(errors, Detail::Folded)
}
