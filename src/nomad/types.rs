//! Typed requests and responses of the endpoints drover uses, in Nomad's JSON field names.
//!
//! Jobs themselves stay `serde_json::Value`: drover passes Nomad's canonical JSON through
//! untouched, and a typed job would drop fields this code does not know about. Every response
//! field that Nomad may omit or send as `null` has a default, so a newer Nomad does not break
//! decoding. Owns shapes only; never decides anything from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/jobs/parse`: HCL to Nomad's API JSON.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParseRequest {
    #[serde(rename = "JobHCL")]
    pub job_hcl: String,
    /// HCL2 var-file content (`name = "value"` lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<String>,
    /// Fill Nomad's API defaults (region, type, update strategy, counts...).
    pub canonicalize: bool,
}

/// The job source stored with a registration, so that the Nomad UI shows the HCL it came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Submission {
    pub source: String,
    /// Always `hcl2` for drover.
    pub format: String,
    /// Variables given one by one (`-var`); drover passes none.
    #[serde(default)]
    pub variable_flags: BTreeMap<String, String>,
    /// Var-file content.
    #[serde(default)]
    pub variables: String,
}

impl Submission {
    pub fn hcl2(source: impl Into<String>, variables: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            format: "hcl2".to_owned(),
            variable_flags: BTreeMap::new(),
            variables: variables.into(),
        }
    }
}

/// A registration. With `enforce_index`, Nomad registers only if the job's `JobModifyIndex` is
/// still that value (0: the job must not exist yet), which also makes the call safe to retry.
#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    pub job: Value,
    pub enforce_index: Option<u64>,
    /// Keep the live count of every group (for groups scaled by an autoscaler or a person).
    pub preserve_counts: bool,
    pub submission: Option<Submission>,
}

/// Response of register and revert.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub warnings: String,
    pub index: u64,
}

/// Response of deregister. An unknown job gives an empty `eval_id` and zero indexes.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeregisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub index: u64,
}

/// Response of `POST /v1/job/:id/plan`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlanResponse {
    /// The live job's `JobModifyIndex` (0 for a new job): the check-and-set token for register.
    pub job_modify_index: u64,
    pub diff: Option<JobDiff>,
    pub annotations: Option<PlanAnnotations>,
    /// Groups that could not be placed, with Nomad's placement metrics.
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: Option<BTreeMap<String, Value>>,
    pub warnings: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates")]
    pub desired_tg_updates: Option<BTreeMap<String, DesiredUpdates>>,
}

/// What the scheduler would do to one group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DesiredUpdates {
    pub ignore: u64,
    pub place: u64,
    pub migrate: u64,
    pub stop: u64,
    pub in_place_update: u64,
    pub destructive_update: u64,
    pub canary: u64,
}

/// `Added`, `Deleted`, `Edited` or `None` (no change).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum DiffType {
    Added,
    Deleted,
    Edited,
    #[default]
    None,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDiff {
    pub r#type: DiffType,
    #[serde(rename = "ID")]
    pub id: String,
    pub fields: Option<Vec<FieldDiff>>,
    pub objects: Option<Vec<ObjectDiff>>,
    pub task_groups: Option<Vec<GroupDiff>>,
}

/// A task group's or a task's diff (tasks have no `Tasks` and no `Updates`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupDiff {
    pub r#type: DiffType,
    pub name: String,
    pub fields: Option<Vec<FieldDiff>>,
    pub objects: Option<Vec<ObjectDiff>>,
    pub tasks: Option<Vec<GroupDiff>>,
    pub updates: Option<BTreeMap<String, u64>>,
    pub annotations: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ObjectDiff {
    pub r#type: DiffType,
    pub name: String,
    pub fields: Option<Vec<FieldDiff>>,
    pub objects: Option<Vec<ObjectDiff>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct FieldDiff {
    pub r#type: DiffType,
    pub name: String,
    pub old: String,
    pub new: String,
    pub annotations: Option<Vec<String>>,
}

/// One entry of `GET /v1/jobs` (no `Version`: read the job for that).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub r#type: String,
    pub status: String,
    pub stop: bool,
    pub create_index: u64,
    pub modify_index: u64,
    pub job_modify_index: u64,
    /// Present only when listed with `meta = true`.
    pub meta: Option<BTreeMap<String, String>>,
}

/// `GET /v1/job/:id/versions`, newest first.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobVersions {
    pub versions: Vec<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentStatus {
    #[default]
    Running,
    Paused,
    Failed,
    Successful,
    Cancelled,
    /// Enterprise multi-region states (`pending`, `blocked`, ...) and any future ones.
    #[serde(other)]
    Other,
}

impl DeploymentStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Failed | Self::Successful | Self::Cancelled)
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Deployment {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_version: u64,
    /// The job's `JobModifyIndex` when the deployment started: equals the register response's.
    pub job_spec_modify_index: u64,
    pub task_groups: BTreeMap<String, DeploymentState>,
    pub status: DeploymentStatus,
    pub status_description: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// One group's progress in a deployment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeploymentState {
    pub auto_revert: bool,
    pub auto_promote: bool,
    pub promoted: bool,
    pub desired_canaries: u64,
    pub desired_total: u64,
    pub placed_allocs: u64,
    pub healthy_allocs: u64,
    pub unhealthy_allocs: u64,
}

/// Response of promote and fail.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeploymentUpdateResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub deployment_modify_index: u64,
    /// The version an auto-revert went back to, if any.
    pub reverted_job_version: Option<u64>,
    pub index: u64,
}

/// Evaluation statuses; note `canceled` with one "l", unlike deployments.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EvalStatus {
    #[default]
    Pending,
    Blocked,
    Complete,
    Failed,
    Canceled,
    #[serde(other)]
    Other,
}

impl EvalStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Canceled)
    }
}

/// An evaluation. Nomad omits every zero-valued field, hence the defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Evaluation {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub triggered_by: String,
    pub status: EvalStatus,
    pub status_description: String,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    pub blocked_eval: String,
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: Option<BTreeMap<String, Value>>,
    pub modify_index: u64,
}

/// The parts of `GET /v1/agent/self` drover reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentSelf {
    /// Nomad's version, e.g. `1.9.3`.
    pub version: String,
    /// The agent's name (its node name).
    pub name: String,
}

/// A variable as the lock endpoints return it (items are not returned by renew/release).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Variable {
    pub namespace: String,
    pub path: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock: Option<VariableLock>,
    pub items: Option<BTreeMap<String, String>>,
}

/// A lock on a variable. TTL and lock delay are Go duration strings (`"15s"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VariableLock {
    #[serde(rename = "TTL", skip_serializing_if = "String::is_empty")]
    pub ttl: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lock_delay: String,
    #[serde(rename = "ID", skip_serializing_if = "String::is_empty")]
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluations_decode_with_omitted_fields() {
        let eval: Evaluation = serde_json::from_str(
            r#"{"ID":"e1","Namespace":"default","JobID":"web","Status":"complete","ModifyIndex":9}"#,
        )
        .expect("decode");
        assert!(eval.status.is_terminal());
        assert_eq!(eval.deployment_id, "");
        assert_eq!(eval.failed_tg_allocs, None);
    }

    #[test]
    fn unknown_statuses_and_nulls_are_tolerated() {
        let d: Deployment = serde_json::from_str(
            r#"{"ID":"d","Status":"unblocking","TaskGroups":{"web":{"PlacedCanaries":null}}}"#,
        )
        .expect("decode");
        assert_eq!(d.status, DeploymentStatus::Other);
        assert!(!d.status.is_terminal());
        let e: Evaluation = serde_json::from_str(r#"{"Status":"canceled"}"#).expect("decode");
        assert_eq!(e.status, EvalStatus::Canceled);
    }

    #[test]
    fn plan_diff_decodes() {
        let plan: PlanResponse = serde_json::from_str(
            r#"{"JobModifyIndex":7,"Warnings":"","FailedTGAllocs":null,"Annotations":
            {"DesiredTGUpdates":{"web":{"Place":1,"Ignore":0}},"PreemptedAllocs":null},
            "Diff":{"Type":"Edited","ID":"web","Fields":null,"Objects":null,"TaskGroups":[
            {"Type":"Edited","Name":"web","Updates":{"in-place update":1},"Fields":[
            {"Type":"Edited","Name":"Count","Old":"1","New":"2","Annotations":["forces create"]}],
            "Objects":null,"Tasks":[{"Type":"None","Name":"app","Fields":null,"Objects":null,
            "Annotations":null}]}]}}"#,
        )
        .expect("decode");
        let diff = plan.diff.expect("diff");
        assert_eq!(diff.r#type, DiffType::Edited);
        let group = &diff.task_groups.expect("groups")[0];
        assert_eq!(group.fields.as_ref().expect("fields")[0].new, "2");
        assert_eq!(
            plan.annotations
                .expect("ann")
                .desired_tg_updates
                .expect("u")["web"]
                .place,
            1
        );
    }

    #[test]
    fn submission_serializes_in_nomads_names() {
        let s = serde_json::to_value(Submission::hcl2("job \"x\" {}", "a = 1")).expect("encode");
        assert_eq!(s["Format"], "hcl2");
        assert_eq!(s["Variables"], "a = 1");
        assert_eq!(s["VariableFlags"], serde_json::json!({}));
        let p = serde_json::to_value(ParseRequest {
            job_hcl: "x".into(),
            ..Default::default()
        })
        .expect("encode");
        assert_eq!(p, serde_json::json!({"JobHCL": "x", "Canonicalize": false}));
    }
}
