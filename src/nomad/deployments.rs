//! Deployment and evaluation endpoints (docs/nomad-api.md): what happened after a register.
//!
//! Owns the calls and their retry safety. Never decides whether to promote, fail or roll back.

use reqwest::Method;
use serde::Serialize;

use super::transport::{Call, Retry};
use super::types::{Deployment, DeploymentUpdateResponse, Evaluation};
use super::{Client, Error, Queried, Query};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PromoteBody<'a> {
    #[serde(rename = "DeploymentID")]
    deployment_id: &'a str,
    all: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<&'a [String]>,
}

impl Client {
    /// `GET /v1/job/:id/deployment`: the job's latest deployment, `None` when it has none (or
    /// the job does not exist: Nomad answers 200 `null` for both). Blocking on the cluster-wide
    /// deployment table, so it also wakes for other jobs' deployments. Retried.
    pub async fn latest_deployment(
        &self,
        job_id: &str,
        query: &Query,
    ) -> Result<Queried<Option<Deployment>>, Error> {
        self.read(Call::get("latest deployment", &["job", job_id, "deployment"]).query(query))
            .await
    }

    /// `GET /v1/deployments`: the deployments of the client's namespace (`*` for all), oldest
    /// first, only those matching `filter` (Nomad's filter expression on the whole deployment)
    /// when given; blocking on the cluster-wide deployment table: one query wakes for a change
    /// of any of them. Retried.
    pub async fn list_deployments(
        &self,
        filter: Option<&str>,
        query: &Query,
    ) -> Result<Queried<Vec<Deployment>>, Error> {
        let mut call = Call::get("deployments", &["deployments"]);
        if let Some(filter) = filter {
            call = call.param("filter", filter);
        }
        self.read(call.query(query)).await
    }

    /// `GET /v1/deployment/:id` (blocking on the deployment). Retried.
    pub async fn read_deployment(
        &self,
        id: &str,
        query: &Query,
    ) -> Result<Queried<Deployment>, Error> {
        self.read(Call::get("deployment", &["deployment", id]).query(query))
            .await
    }

    /// `POST /v1/deployment/promote/:id`: promote the canaries of `groups`, or of every group
    /// when `None`. Never retried: whether to promote again is the caller's decision. Canaries
    /// that are not healthy yet give an [`Error::Validation`] (`... healthy allocations`).
    pub async fn promote_deployment(
        &self,
        id: &str,
        groups: Option<&[String]>,
    ) -> Result<DeploymentUpdateResponse, Error> {
        let body = PromoteBody {
            deployment_id: id,
            all: groups.is_none(),
            groups,
        };
        let call = Call::new(
            "promote",
            Method::POST,
            &["deployment", "promote", id],
            Retry::Never,
        );
        self.send(call.json(&body)?).await?.json()
    }

    /// `POST /v1/deployment/fail/:id`: mark the deployment failed, which rolls back groups
    /// with `auto_revert`. Never retried: a replay could fail the revert's own deployment.
    pub async fn fail_deployment(&self, id: &str) -> Result<DeploymentUpdateResponse, Error> {
        let call = Call::new(
            "fail",
            Method::POST,
            &["deployment", "fail", id],
            Retry::Never,
        );
        self.send(call).await?.json()
    }

    /// `GET /v1/evaluation/:id` (blocking on the evaluation). Retried.
    pub async fn read_evaluation(
        &self,
        id: &str,
        query: &Query,
    ) -> Result<Queried<Evaluation>, Error> {
        self.read(Call::get("evaluation", &["evaluation", id]).query(query))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promote_body_names_all_or_groups() {
        let all = PromoteBody {
            deployment_id: "d",
            all: true,
            groups: None,
        };
        assert_eq!(
            serde_json::to_value(&all).expect("encode"),
            serde_json::json!({"DeploymentID": "d", "All": true})
        );
        let groups = ["web".to_owned()];
        let some = PromoteBody {
            deployment_id: "d",
            all: false,
            groups: Some(&groups),
        };
        assert_eq!(
            serde_json::to_value(&some).expect("encode"),
            serde_json::json!({"DeploymentID": "d", "All": false, "Groups": ["web"]})
        );
    }
}
