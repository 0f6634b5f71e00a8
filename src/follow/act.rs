//! What the follower reads off a deployment and does to it: progress per group, canaries ready
//! for promotion, the promotion itself, and the rollback of a failed deployment to the latest
//! stable version when the job does not revert itself.

use std::collections::BTreeMap;

use crate::config::Source;
use crate::events::{GroupProgress, Outcome, Tracked};
use crate::nomad::{self, Client, Deployment, DeploymentStatus, Evaluation, Query};

/// What the source asks of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Promote canaries once every canary group is healthy.
    pub auto_promote: bool,
    /// Revert a failed deployment to the latest stable version when the job does not
    /// `auto_revert` itself.
    pub rollback_on_failure: bool,
}

/// The meta key a job file sets to ask for canary promotion regardless of the source.
pub const AUTO_PROMOTE_META: &str = "drover.auto_promote";

impl Settings {
    /// What `source` asks of its jobs' deployments, with the job's own `drover.auto_promote`
    /// (its meta value, if any): `"true"` promotes whatever the source says.
    pub fn of(source: &Source, auto_promote_meta: Option<&str>) -> Self {
        Self {
            auto_promote: source.auto_promote || auto_promote_meta == Some("true"),
            rollback_on_failure: source.rollback_on_failure,
        }
    }
}

/// Each group's counts, in the deployment's (alphabetical) group order.
pub(super) fn progress(d: &Deployment) -> Vec<GroupProgress> {
    d.task_groups
        .iter()
        .map(|(name, g)| GroupProgress {
            group: name.clone(),
            desired: g.desired_total,
            placed: g.placed_allocs,
            healthy: g.healthy_allocs,
            unhealthy: g.unhealthy_allocs,
            canaries: g.desired_canaries,
            promoted: g.promoted,
        })
        .collect()
}

/// `running`, `paused`, ...: the deployment's status as Nomad writes it.
pub(super) fn status_word(d: &Deployment) -> String {
    format!("{:?}", d.status).to_lowercase()
}

/// How the deployment stands, as an outcome: final when it is terminal.
pub(super) fn tracked(d: &Deployment) -> Tracked {
    let description = d.status_description.clone();
    let outcome = match d.status {
        DeploymentStatus::Successful => Outcome::Successful,
        DeploymentStatus::Failed => Outcome::Failed { description },
        DeploymentStatus::Cancelled if superseded(d) => Outcome::Superseded,
        DeploymentStatus::Cancelled => Outcome::Cancelled { description },
        DeploymentStatus::Paused => Outcome::Paused,
        _ => Outcome::AwaitingPromotion,
    };
    let mut tracked = Tracked::new(outcome);
    tracked.deployment_id = Some(d.id.clone());
    tracked.job_version = Some(d.job_version);
    tracked.healthy = d.task_groups.values().map(|g| g.healthy_allocs).sum();
    tracked.unhealthy = d.task_groups.values().map(|g| g.unhealthy_allocs).sum();
    if tracked.unhealthy > 0 {
        tracked.reasons.push(format!(
            "{} allocation(s) unhealthy: {}",
            tracked.unhealthy, d.status_description
        ));
    }
    tracked
}

/// Nomad cancels a job's running deployment when a newer version is registered, with this
/// description (`structs.DeploymentStatusDescriptionNewerJob`).
fn superseded(d: &Deployment) -> bool {
    d.status_description.contains("newer version")
}

/// The groups an evaluation could not place, with Nomad's counts of why.
pub(super) fn placement_failures(eval: &Evaluation) -> Vec<String> {
    let Some(failed) = &eval.failed_tg_allocs else {
        return Vec::new();
    };
    failed
        .iter()
        .map(|(group, metric)| {
            let count = |k: &str| {
                metric
                    .get(k)
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0)
            };
            let dims: BTreeMap<String, serde_json::Value> = metric
                .get("DimensionExhausted")
                .and_then(|d| serde_json::from_value(d.clone()).ok())
                .unwrap_or_default();
            let dims: Vec<String> = dims.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!(
                "group {group} not placed: {} node(s) exhausted, {} filtered {dims:?}",
                count("NodesExhausted"),
                count("NodesFiltered")
            )
        })
        .collect()
}

/// Every canary group has its canaries placed and healthy, and is not promoted yet.
pub(super) fn canaries_ready(d: &Deployment) -> bool {
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

/// Promotes every group; `false` when Nomad does not count the canaries healthy yet.
pub(super) async fn promote(client: &Client, d: &Deployment) -> Result<bool, nomad::Error> {
    match client.promote_deployment(&d.id, None).await {
        Ok(_) => Ok(true),
        // Health can lag between our read and Nomad's check: not yet, not an error.
        Err(nomad::Error::Validation { text }) if text.contains("healthy allocations") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Nomad rolls back by itself when a group has `auto_revert`.
pub(super) fn reverts_itself(d: &Deployment) -> bool {
    d.task_groups.values().any(|g| g.auto_revert)
}

/// Reverts to the latest stable version other than the current one, if the current one is
/// still the failed deployment's (a newer registration is never undone); `None` when there is
/// nothing to revert to.
pub(super) async fn rollback(client: &Client, d: &Deployment) -> Result<Option<u64>, nomad::Error> {
    let versions = client
        .job_versions(&d.job_id, &Query::now())
        .await?
        .value
        .versions;
    let version = |v: &serde_json::Value| v.get("Version").and_then(serde_json::Value::as_u64);
    let Some(current) = versions.first().and_then(version) else {
        return Ok(None);
    };
    if current != d.job_version {
        return Ok(None);
    }
    let stable = versions
        .iter()
        .filter(|v| v.get("Stable").and_then(serde_json::Value::as_bool) == Some(true))
        .filter_map(version)
        .find(|v| *v != current);
    let Some(target) = stable else {
        return Ok(None);
    };
    client.revert_job(&d.job_id, target, Some(current)).await?;
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nomad::DeploymentState;

    fn deployment(status: DeploymentStatus, description: &str) -> Deployment {
        let group = DeploymentState {
            desired_canaries: 1,
            desired_total: 3,
            placed_allocs: 1,
            healthy_allocs: 1,
            ..DeploymentState::default()
        };
        Deployment {
            id: "d-1".into(),
            job_version: 4,
            status,
            status_description: description.into(),
            task_groups: [("web".to_owned(), group)].into(),
            ..Deployment::default()
        }
    }

    #[test]
    fn a_cancellation_by_a_newer_version_is_a_supersession() {
        let newer = deployment(
            DeploymentStatus::Cancelled,
            "Cancelled due to newer version of job",
        );
        assert_eq!(tracked(&newer).outcome, Outcome::Superseded);
        let stopped = deployment(
            DeploymentStatus::Cancelled,
            "Cancelled because job is stopped",
        );
        assert!(matches!(
            tracked(&stopped).outcome,
            Outcome::Cancelled { .. }
        ));
        let failed = tracked(&deployment(
            DeploymentStatus::Failed,
            "Failed due to unhealthy allocations",
        ));
        assert_eq!(failed.job_version, Some(4));
        assert_eq!(failed.deployment_id.as_deref(), Some("d-1"));
    }

    #[test]
    fn canaries_are_ready_once_healthy_and_not_yet_promoted() {
        let mut d = deployment(DeploymentStatus::Running, "");
        assert!(canaries_ready(&d));
        assert_eq!(progress(&d)[0].canaries, 1);
        d.task_groups.get_mut("web").expect("web").promoted = true;
        assert!(!canaries_ready(&d), "promoted already");
        d.task_groups.get_mut("web").expect("web").desired_canaries = 0;
        assert!(!canaries_ready(&d), "no canaries at all");
    }
}
