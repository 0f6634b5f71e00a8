//! What following a registration found, in a form the state file, `/status` and the logs share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::nomad::{Deployment, DeploymentStatus, Evaluation};

/// How a registration ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// Periodic and parameterized jobs get no evaluation when registered.
    NoEvaluation,
    /// The evaluation did not complete (`failed` or `canceled`).
    EvaluationFailed {
        status: String,
    },
    /// Batch and system jobs without an update strategy: the evaluation is the result.
    NoDeployment,
    Successful,
    Failed {
        description: String,
    },
    Cancelled {
        description: String,
    },
    /// Canaries are healthy and wait for a promotion (auto-promotion is off).
    AwaitingPromotion,
    Paused,
}

impl Outcome {
    /// Whether the job reached what Git asked for.
    pub fn converged(&self) -> bool {
        matches!(
            self,
            Self::NoEvaluation | Self::NoDeployment | Self::Successful
        )
    }
}

/// A tracked registration: its outcome and the figures behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    pub outcome: Outcome,
    pub deployment_id: Option<String>,
    pub job_version: Option<u64>,
    pub healthy: u64,
    pub unhealthy: u64,
    /// Why allocations failed, as Nomad explains it (placement failures per group).
    pub reasons: Vec<String>,
    /// The version a failed deployment was rolled back to, by drover.
    pub reverted_to: Option<u64>,
}

impl Tracked {
    pub(crate) fn new(outcome: Outcome) -> Self {
        Self {
            outcome,
            deployment_id: None,
            job_version: None,
            healthy: 0,
            unhealthy: 0,
            reasons: Vec::new(),
            reverted_to: None,
        }
    }

    pub(crate) fn from_deployment(d: &Deployment) -> Self {
        let description = d.status_description.clone();
        let outcome = match d.status {
            DeploymentStatus::Successful => Outcome::Successful,
            DeploymentStatus::Failed => Outcome::Failed { description },
            DeploymentStatus::Cancelled => Outcome::Cancelled { description },
            DeploymentStatus::Paused => Outcome::Paused,
            _ => Outcome::AwaitingPromotion,
        };
        let mut tracked = Self::new(outcome);
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
}

/// The groups an evaluation could not place, with Nomad's counts of why.
pub(crate) fn placement_failures(eval: &Evaluation) -> Vec<String> {
    let Some(failed) = &eval.failed_tg_allocs else {
        return Vec::new();
    };
    failed
        .iter()
        .map(|(group, metric)| {
            let exhausted = metric.get("NodesExhausted").and_then(serde_json::Value::as_u64).unwrap_or(0);
            let filtered = metric.get("NodesFiltered").and_then(serde_json::Value::as_u64).unwrap_or(0);
            let dims: BTreeMap<String, serde_json::Value> = metric
                .get("DimensionExhausted")
                .and_then(|d| serde_json::from_value(d.clone()).ok())
                .unwrap_or_default();
            let dims: Vec<String> = dims.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("group {group} not placed: {exhausted} node(s) exhausted, {filtered} filtered {dims:?}")
        })
        .collect()
}
