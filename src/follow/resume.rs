//! What is in flight, found from Nomad itself (after a restart, or when this instance becomes
//! leader): for every job one of the cluster's sources owns, its latest deployment. One that is
//! still running is followed to its end; one that failed while nobody followed it, and that
//! nothing replaced since, is handed to the follower to be rolled back and marked known-bad as
//! if drover had never stopped; one that succeeded while nobody followed it is recorded when
//! the state says this instance registered it. Two list calls per cluster, no local file
//! needed.

use std::collections::HashMap;

use super::{AUTO_PROMOTE_META, Handle, Registration, Settings, Start};
use crate::config::Source;
use crate::nomad::{self, Client, Deployment, DeploymentStatus, Query};
use crate::state::{JobKey, META_FINGERPRINT, META_SIGNER, Ownership, Recorder};

/// Hands every deployment in flight for `sources` (all on the cluster of `client`) to
/// `follower`; returns how many.
pub async fn resume(
    client: &Client,
    sources: &[&Source],
    recorder: &Recorder,
    follower: &Handle,
) -> Result<usize, nomad::Error> {
    let all = client.in_namespace("*");
    let deployments = all.list_deployments(None, &Query::now()).await?.value;
    let mut latest: HashMap<JobKey, Deployment> = HashMap::new();
    for d in deployments {
        let key = JobKey::new(d.namespace.clone(), d.job_id.clone());
        if latest
            .get(&key)
            .is_none_or(|l| l.create_index < d.create_index)
        {
            latest.insert(key, d);
        }
    }
    let jobs = all.list_jobs(None, &Query::now()).await?.value;
    let mut resumed = 0;
    for stub in jobs {
        let meta = stub.meta.clone().unwrap_or_default();
        let Some(owner) = Ownership::from_meta(&meta) else {
            continue;
        };
        let Some(source) = sources.iter().find(|s| s.name == owner.source) else {
            continue;
        };
        let key = crate::state::LiveJob::from_stub(&stub).key;
        let Some(d) = latest.remove(&key) else {
            continue;
        };
        let fingerprint = meta.get(META_FINGERPRINT).cloned();
        let unfinished = !d.status.is_terminal();
        // An end nobody recorded, of the spec the job still runs: a failure to act on, or a
        // success of a registration this instance made (a new leader that never applied the
        // spec has nothing to correct, and would read every job's deployment).
        let current = d.job_spec_modify_index == stub.job_modify_index
            && !recorded(recorder, &owner.source, &key, &d.id);
        let ended_unseen = current
            && match d.status {
                DeploymentStatus::Failed => true,
                DeploymentStatus::Successful => applied(recorder, &owner.source, &key)
                    .is_some_and(|a| Some(&a) == fingerprint.as_ref()),
                _ => false,
            };
        if !(unfinished || ended_unseen) {
            continue;
        }
        let fingerprint = fingerprint
            .or_else(|| applied(recorder, &owner.source, &key))
            .unwrap_or_default();
        follower.follow(Registration {
            source: owner.source.clone(),
            job: key,
            path: owner.path.clone(),
            start: Start::Deployment(d.id.clone()),
            fingerprint,
            commit: owner.commit.clone(),
            signer: meta.get(META_SIGNER).cloned(),
            settings: Settings::of(source, meta.get(AUTO_PROMOTE_META).map(String::as_str)),
        });
        resumed += 1;
    }
    Ok(resumed)
}

/// The fingerprint the state says was applied: for jobs registered before drover stamped it
/// in their meta.
fn applied(recorder: &Recorder, source: &str, job: &JobKey) -> Option<String> {
    let state = recorder.lock();
    state
        .source(source)
        .jobs
        .get(job)?
        .applied_fingerprint
        .clone()
}

/// Whether the state already holds this deployment's outcome.
fn recorded(recorder: &Recorder, source: &str, job: &JobKey, deployment: &str) -> bool {
    let state = recorder.lock();
    state
        .source(source)
        .jobs
        .get(job)
        .and_then(|r| r.outcome.as_ref())
        .is_some_and(|o| o.tracked.deployment_id.as_deref() == Some(deployment))
}
