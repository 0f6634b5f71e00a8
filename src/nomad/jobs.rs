//! Job endpoints (docs/nomad-api.md): parse, plan, register, read, list, deregister, versions,
//! revert.
//!
//! Owns the request shapes and each call's retry safety. Never decides whether a job should be
//! registered or what a plan's diff means.

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::transport::{Call, Retry};
use super::types::{
    DeregisterResponse, JobStub, JobVersions, ParseRequest, PlanResponse, RegisterRequest,
    RegisterResponse, Submission,
};
use super::{Client, Error, Queried, Query};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PlanBody<'a> {
    job: &'a Value,
    diff: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterBody<'a> {
    job: &'a Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    enforce_index: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_modify_index: Option<u64>,
    preserve_counts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    submission: Option<&'a Submission>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RevertBody<'a> {
    #[serde(rename = "JobID")]
    job_id: &'a str,
    job_version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    enforce_prior_version: Option<u64>,
}

impl Client {
    /// `POST /v1/jobs/parse`: HCL to API JSON. Retried: parsing has no side effects.
    /// A syntax or decoding problem is [`Error::Parse`] with Nomad's `input.hcl:L,C` text.
    pub async fn parse_job(&self, req: &ParseRequest) -> Result<Value, Error> {
        let call = Call::new("parse", Method::POST, &["jobs", "parse"], Retry::Transient);
        self.send(call.json(req)?).await?.json()
    }

    /// `POST /v1/job/:id/plan` with `Diff: true`. Retried: a plan is a dry run that writes
    /// nothing. The response's `job_modify_index` is the check-and-set token for
    /// [`Client::register_job`].
    pub async fn plan_job(&self, job: &Value) -> Result<PlanResponse, Error> {
        let id = job_id(job)?;
        let call = Call::new("plan", Method::POST, &["job", id, "plan"], Retry::Transient);
        self.send(call.json(&PlanBody { job, diff: true })?)
            .await?
            .json()
    }

    /// `POST /v1/jobs`. Retried only with `enforce_index` set: a replay of a registration that
    /// did go through then fails with [`Error::Conflict`] (the index moved) instead of creating
    /// a second version; the caller re-plans and finds nothing to do. Without it, never retried.
    pub async fn register_job(&self, req: &RegisterRequest) -> Result<RegisterResponse, Error> {
        let retry = if req.enforce_index.is_some() {
            Retry::Transient
        } else {
            Retry::Never
        };
        let body = RegisterBody {
            job: &req.job,
            enforce_index: req.enforce_index.is_some(),
            job_modify_index: req.enforce_index,
            preserve_counts: req.preserve_counts,
            submission: req.submission.as_ref(),
        };
        let call = Call::new("register", Method::POST, &["jobs"], retry).json(&body)?;
        self.send(call).await?.json()
    }

    /// `GET /v1/job/:id` (blocking on the job's `ModifyIndex`). Retried.
    /// A missing job is [`Error::NotFound`].
    pub async fn read_job(&self, id: &str, query: &Query) -> Result<Queried<Value>, Error> {
        self.read(Call::get("job", &["job", id]).query(query)).await
    }

    /// `GET /v1/jobs?meta=true`, in this handle's namespace (`*`: all it may list), optionally
    /// limited to IDs starting with `prefix`. Blocking on the jobs table. Retried.
    pub async fn list_jobs(
        &self,
        prefix: Option<&str>,
        query: &Query,
    ) -> Result<Queried<Vec<JobStub>>, Error> {
        let mut call = Call::get("jobs", &["jobs"]).param("meta", "true");
        if let Some(prefix) = prefix {
            call = call.param("prefix", prefix);
        }
        self.read(call.query(query)).await
    }

    /// `DELETE /v1/job/:id`: stop the job (a new version with `Stop: true`) or, with `purge`,
    /// remove it and its history. Never retried: a replayed stop would add another version and
    /// eval. An unknown job is not an error (Nomad answers 200 with an empty `eval_id`).
    pub async fn deregister_job(&self, id: &str, purge: bool) -> Result<DeregisterResponse, Error> {
        let mut call = Call::new("deregister", Method::DELETE, &["job", id], Retry::Never);
        if purge {
            call = call.param("purge", "true");
        }
        self.send(call).await?.json()
    }

    /// `GET /v1/job/:id/versions`: the retained versions, newest first. Retried.
    pub async fn job_versions(
        &self,
        id: &str,
        query: &Query,
    ) -> Result<Queried<JobVersions>, Error> {
        self.read(Call::get("versions", &["job", id, "versions"]).query(query))
            .await
    }

    /// `POST /v1/job/:id/revert` to `version`, which Nomad registers as a *new* version. With
    /// `enforce_prior_version`, only if the current version is still that one. Never retried:
    /// a replay would register yet another version (rollback decisions belong to the caller).
    pub async fn revert_job(
        &self,
        id: &str,
        version: u64,
        enforce_prior_version: Option<u64>,
    ) -> Result<RegisterResponse, Error> {
        let body = RevertBody {
            job_id: id,
            job_version: version,
            enforce_prior_version,
        };
        let call = Call::new("revert", Method::POST, &["job", id, "revert"], Retry::Never);
        self.send(call.json(&body)?).await?.json()
    }
}

/// The job's `ID`, needed in the plan URL; Nomad itself rejects a plan without one.
fn job_id(job: &Value) -> Result<&str, Error> {
    job.get("ID")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::Validation {
            text: "Job must have a valid ID (the job JSON has no \"ID\")".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn register_body_carries_check_and_set_only_when_asked() {
        let job = json!({"ID": "web"});
        let sub = Submission::hcl2("job \"web\" {}", "");
        let body = RegisterBody {
            job: &job,
            enforce_index: true,
            job_modify_index: Some(0),
            preserve_counts: true,
            submission: Some(&sub),
        };
        let v = serde_json::to_value(&body).expect("encode");
        assert_eq!(v["EnforceIndex"], true);
        assert_eq!(v["JobModifyIndex"], 0);
        assert_eq!(v["PreserveCounts"], true);
        assert_eq!(v["Submission"]["Format"], "hcl2");
        let plain = RegisterBody {
            job: &job,
            enforce_index: false,
            job_modify_index: None,
            preserve_counts: false,
            submission: None,
        };
        let v = serde_json::to_value(&plain).expect("encode");
        assert_eq!(v, json!({"Job": {"ID": "web"}, "PreserveCounts": false}));
    }

    #[test]
    fn plan_needs_a_job_id() {
        assert_eq!(job_id(&json!({"ID": "web"})).expect("id"), "web");
        assert!(matches!(
            job_id(&json!({"Name": "web"})),
            Err(Error::Validation { .. })
        ));
        assert!(matches!(
            job_id(&json!({"ID": ""})),
            Err(Error::Validation { .. })
        ));
    }
}
