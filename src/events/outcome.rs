//! How a registration ended, in a form the state file, `/status` and the logs share.

use serde::{Deserialize, Serialize};

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
    /// A newer registration of the job replaced it before it ended.
    Superseded,
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
}
