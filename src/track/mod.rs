//! Track: follows a registration to its end with blocking queries — the evaluation, then the
//! deployment — promotes canaries when asked to, and rolls a failed deployment back to the
//! latest stable version when the job does not revert itself. Never registers a new spec and
//! never retries a failed one (the caller remembers the failed fingerprint).

mod outcome;

use crate::nomad::{
    self, Client, Deployment, DeploymentStatus, EvalStatus, Evaluation, IndexTracker, Query,
};

pub use outcome::{Outcome, Tracked};

/// What the source asks of a deployment.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Promote canaries once every canary group is healthy.
    pub auto_promote: bool,
    /// Revert a failed deployment to the latest stable version when the job does not
    /// `auto_revert` itself.
    pub rollback_on_failure: bool,
}

/// Follows the evaluation `eval_id` of job `job_id` and the deployment it started to the end.
pub async fn follow(
    client: &Client,
    job_id: &str,
    eval_id: &str,
    settings: Settings,
) -> Result<Tracked, nomad::Error> {
    if eval_id.is_empty() {
        return Ok(Tracked::new(Outcome::NoEvaluation));
    }
    let eval = finished_evaluation(client, eval_id).await?;
    let reasons = outcome::placement_failures(&eval);
    if eval.status != EvalStatus::Complete {
        let mut tracked = Tracked::new(Outcome::EvaluationFailed {
            status: format!("{:?}", eval.status).to_lowercase(),
        });
        tracked.reasons = reasons;
        return Ok(tracked);
    }
    if eval.deployment_id.is_empty() {
        let mut tracked = Tracked::new(Outcome::NoDeployment);
        tracked.reasons = reasons;
        return Ok(tracked);
    }
    let deployment = watch_deployment(client, &eval.deployment_id, settings).await?;
    let mut tracked = Tracked::from_deployment(&deployment);
    tracked.reasons.extend(reasons);
    if deployment.status == DeploymentStatus::Failed
        && settings.rollback_on_failure
        && !reverts_itself(&deployment)
    {
        tracked.reverted_to = rollback(client, job_id).await?;
    }
    Ok(tracked)
}

async fn finished_evaluation(client: &Client, eval_id: &str) -> Result<Evaluation, nomad::Error> {
    let mut tracker = IndexTracker::new();
    loop {
        let read = client
            .read_evaluation(eval_id, &tracker.query(client.blocking_wait()))
            .await?;
        tracker.observe(&read.meta);
        if read.value.status.is_terminal() {
            return Ok(read.value);
        }
    }
}

/// Watches until the deployment ends, or until it waits for a promotion nobody will make.
async fn watch_deployment(
    client: &Client,
    id: &str,
    settings: Settings,
) -> Result<Deployment, nomad::Error> {
    let mut tracker = IndexTracker::new();
    loop {
        let read = client
            .read_deployment(id, &tracker.query(client.blocking_wait()))
            .await?;
        tracker.observe(&read.meta);
        let d = read.value;
        if d.status.is_terminal() || d.status == DeploymentStatus::Paused {
            return Ok(d);
        }
        if canaries_ready(&d) {
            if !settings.auto_promote {
                return Ok(d);
            }
            promote(client, &d).await?;
        }
    }
}

/// Every canary group has its canaries placed and healthy, and is not promoted yet.
fn canaries_ready(d: &Deployment) -> bool {
    let canary_groups: Vec<_> = d
        .task_groups
        .values()
        .filter(|g| g.desired_canaries > 0)
        .collect();
    !canary_groups.is_empty()
        && canary_groups
            .iter()
            .all(|g| !g.promoted && g.healthy_allocs >= g.desired_canaries)
}

async fn promote(client: &Client, d: &Deployment) -> Result<(), nomad::Error> {
    match client.promote_deployment(&d.id, None).await {
        Ok(_) => {
            tracing::info!(deployment = %d.id, job = %d.job_id, "canaries healthy; promoted");
            Ok(())
        }
        // Health can lag between our read and Nomad's check: not yet, not an error.
        Err(nomad::Error::Validation { text }) if text.contains("healthy allocations") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Nomad rolls back by itself when a group has `auto_revert`.
fn reverts_itself(d: &Deployment) -> bool {
    d.task_groups.values().any(|g| g.auto_revert)
}

/// Reverts to the latest stable version other than the current one; `None` when there is none.
async fn rollback(client: &Client, job_id: &str) -> Result<Option<u64>, nomad::Error> {
    let versions = client
        .job_versions(job_id, &Query::now())
        .await?
        .value
        .versions;
    let version = |v: &serde_json::Value| v.get("Version").and_then(serde_json::Value::as_u64);
    let Some(current) = versions.first().and_then(version) else {
        return Ok(None);
    };
    let stable = versions
        .iter()
        .filter(|v| v.get("Stable").and_then(serde_json::Value::as_bool) == Some(true))
        .filter_map(version)
        .find(|v| *v != current);
    let Some(target) = stable else {
        tracing::warn!(
            job = job_id,
            "deployment failed and there is no stable version to roll back to"
        );
        return Ok(None);
    };
    client.revert_job(job_id, target, Some(current)).await?;
    tracing::warn!(
        job = job_id,
        from = current,
        to = target,
        "deployment failed; rolled back"
    );
    Ok(Some(target))
}
