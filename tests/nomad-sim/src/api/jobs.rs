//! Job writes and the job read: `/v1/jobs` (list, register), `/v1/jobs/parse`, `/v1/job/:id`
//! (read, register, deregister), `/plan` and `/revert` (docs/nomad-api.md).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::Method;
use serde_json::{Value, json};

use super::Req;
use crate::http::{
    ApiError, ApiResult, Meta, field, field_bool, field_str, field_u64, json as respond, write_json,
};
use crate::register::{self, RegisterRequest};
use crate::server::Shared;
use crate::state::{Store, Table, num, text};
use crate::{canonical, diff, jobspec};

pub(crate) async fn parse(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_write()?;
    shared.with_store(|s| s.acl.check(&req.caller, req.query.ns(), "parse-job"))?;
    let body = req.json_body()?;
    let hcl = field_str(&body, "JobHCL").unwrap_or("");
    if hcl.is_empty() {
        return Err(ApiError::bad_request("Job spec is empty"));
    }
    let mut job = jobspec::parse(hcl, field_str(&body, "Variables").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    if field_bool(&body, "Canonicalize") {
        canonical::canonicalize_api(&mut job);
    }
    Ok(respond(&job, None, req.query.pretty))
}

pub(crate) async fn jobs(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    match req.method {
        Method::GET => list(&shared, &req).await,
        _ if req.is_write() => register_request(&shared, &req, None),
        _ => Err(ApiError::invalid_method()),
    }
}

pub(crate) async fn job(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    match req.method {
        Method::GET => read(&shared, &req, &id).await,
        Method::DELETE => deregister(&shared, &req, &id),
        _ if req.is_write() => register_request(&shared, &req, Some(&id)),
        _ => Err(ApiError::invalid_method()),
    }
}

async fn read(shared: &Shared, req: &Req, id: &str) -> ApiResult {
    let ns = req.query.ns();
    shared.with_store(|s| s.acl.check(&req.caller, ns, "read-job"))?;
    let (index, job) = shared
        .blocking(&req.query, |s| match s.job(ns, id) {
            Some(e) => (num(&e.job, "ModifyIndex"), Some(e.job.clone())),
            None => (s.table_index(Table::Jobs), None),
        })
        .await;
    let meta = Meta {
        index,
        known_leader: true,
    };
    match job {
        Some(job) => Ok(respond(&job, Some(meta), req.query.pretty)),
        None => {
            let mut resp =
                axum::response::IntoResponse::into_response(ApiError::not_found("job not found"));
            crate::http::set_meta(resp.headers_mut(), meta);
            Ok(resp)
        }
    }
}

async fn list(shared: &Shared, req: &Req) -> ApiResult {
    let ns = req.query.ns().to_owned();
    let with_meta = req.query.bool("meta")?;
    let prefix = req.query.raw.get("prefix").cloned().unwrap_or_default();
    let caller = req.caller.clone();
    let allowed = shared.with_store(|s| {
        if ns == "*" {
            s.namespaces
                .keys()
                .any(|n| s.acl.allows(&caller, n, "list-jobs"))
        } else {
            s.acl.allows(&caller, &ns, "list-jobs")
        }
    });
    if !allowed {
        return Err(ApiError::permission_denied());
    }
    let (index, stubs) = shared
        .blocking(&req.query, |s| {
            let index = s
                .table_index(Table::Jobs)
                .max(s.table_index(Table::JobSummary));
            let stubs: Vec<Value> = s
                .jobs
                .iter()
                .filter(|((n, id), _)| (ns == "*" || *n == ns) && id.starts_with(&prefix))
                .filter(|((n, _), _)| s.acl.allows(&caller, n, "list-jobs"))
                .map(|(_, e)| stub(s, e, with_meta))
                .collect();
            (index, stubs)
        })
        .await;
    Ok(respond(
        &json!(stubs),
        Some(Meta {
            index,
            known_leader: true,
        }),
        req.query.pretty,
    ))
}

/// The job list stub of §2.3: no `Version`, no `Stable`.
fn stub(store: &Store, entry: &crate::state::JobEntry, with_meta: bool) -> Value {
    let j = &entry.job;
    let mut v = json!({
        "ID": j["ID"], "ParentID": j["ParentID"], "Name": j["Name"], "Namespace": j["Namespace"],
        "Datacenters": j["Datacenters"], "NodePool": j["NodePool"], "Multiregion": j["Multiregion"],
        "Type": j["Type"], "Priority": j["Priority"], "Periodic": !j["Periodic"].is_null(),
        "ParameterizedJob": !j["ParameterizedJob"].is_null(), "Stop": j["Stop"], "Status": j["Status"],
        "StatusDescription": j["StatusDescription"], "JobSummary": store.summary(entry),
        "CreateIndex": j["CreateIndex"], "ModifyIndex": j["ModifyIndex"],
        "JobModifyIndex": j["JobModifyIndex"], "SubmitTime": j["SubmitTime"],
    });
    if with_meta && j["Meta"].as_object().is_some_and(|m| !m.is_empty()) {
        v["Meta"] = j["Meta"].clone();
    }
    v
}

/// The submitted job as the HTTP layer and admission controllers leave it: api defaults,
/// the effective namespace and region, server canonicalisation and validation.
fn submitted_job(shared: &Shared, req: &Req, body: &Value) -> Result<Value, ApiError> {
    let mut job = field(body, "Job")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("Job must be specified"))?;
    canonical::canonicalize_api(&mut job);
    let ns = req
        .query
        .namespace
        .clone()
        .or_else(|| {
            field_str(body, "Namespace")
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        })
        .or_else(|| {
            field_str(&job, "Namespace")
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "default".to_owned());
    job["Namespace"] = json!(ns);
    let agent_region = shared.with_store(|s| s.region.clone());
    let region = req
        .query
        .raw
        .get("region")
        .cloned()
        .or_else(|| field_str(body, "Region").map(str::to_owned))
        .or_else(|| {
            field_str(&job, "Region")
                .filter(|r| *r != "global")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| agent_region.clone());
    if region != agent_region && region != "global" {
        return Err(ApiError::internal("No path to region"));
    }
    job["Region"] = json!(agent_region);
    let server = canonical::server_job(&job);
    canonical::validate(&server).map_err(ApiError::internal)?;
    Ok(server)
}

fn register_request(shared: &Shared, req: &Req, url_id: Option<&str>) -> ApiResult {
    let body = req.json_body()?;
    let job = field(&body, "Job").ok_or_else(|| ApiError::bad_request("Job must be specified"))?;
    let id = field_str(job, "ID").unwrap_or("");
    if id.is_empty() {
        return Err(ApiError::bad_request("Job ID hasn't been provided"));
    }
    if url_id.is_some_and(|u| u != id) {
        return Err(ApiError::bad_request("Job ID does not match name"));
    }
    let priority = field_u64(&body, "EvalPriority");
    if field(&body, "EvalPriority").is_some() && !(1..=100).contains(&priority) {
        return Err(ApiError::bad_request(
            "Eval priority must be between 1 and 100 inclusively",
        ));
    }
    let job = submitted_job(shared, req, &body)?;
    let request = RegisterRequest {
        enforce_index: field_bool(&body, "EnforceIndex")
            .then(|| field_u64(&body, "JobModifyIndex")),
        preserve_counts: field_bool(&body, "PreserveCounts"),
        submission: field(&body, "Submission").cloned(),
        eval_priority: (priority > 0).then_some(priority),
        job,
    };
    let ns = text(&request.job, "Namespace").to_owned();
    let now = shared.now().unix;
    let outcome = shared.with_store(|s| {
        s.acl.check(&req.caller, &ns, "submit-job")?;
        register::register(s, request, now)
    })?;
    Ok(write_json(&outcome.to_json(), outcome.index))
}

fn deregister(shared: &Shared, req: &Req, id: &str) -> ApiResult {
    let ns = req.query.ns();
    let purge = req.query.bool("purge")?;
    let now = shared.now().unix;
    let body = shared.with_store(|s| {
        s.acl.check(&req.caller, ns, "submit-job")?;
        Ok::<_, ApiError>(register::deregister(s, ns, id, purge, now))
    })?;
    let index = num(&body, "Index");
    Ok(write_json(&body, index))
}

pub(crate) async fn plan(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_write()?;
    let body = req.json_body()?;
    let job = field(&body, "Job").ok_or_else(|| ApiError::bad_request("Job must be specified"))?;
    let job_id = field_str(job, "ID").unwrap_or("");
    if job_id.is_empty() {
        return Err(ApiError::bad_request("Job must have a valid ID"));
    }
    if job_id != id {
        return Err(ApiError::bad_request("Job ID does not match"));
    }
    let job = submitted_job(&shared, &req, &body)?;
    let ns = text(&job, "Namespace").to_owned();
    let response = shared.with_store(|s| {
        s.acl.check(&req.caller, &ns, "submit-job")?;
        let existing = s.job(&ns, &id).map(|e| &e.job);
        let updates = diff::desired_updates(existing, &job);
        let job_diff = if field_bool(&body, "Diff") {
            diff::job_diff(existing, &job, &updates)
        } else {
            Value::Null
        };
        let modify_index = existing.map_or(0, |e| num(e, "JobModifyIndex"));
        // Built by moving the diff in: `json!` would copy it, and a new job's diff is the
        // whole job.
        let annotations = diff::object([
            ("DesiredTGUpdates", Value::Object(updates)),
            ("PreemptedAllocs", Value::Null),
        ]);
        Ok::<_, ApiError>(diff::object([
            ("Annotations", annotations),
            ("FailedTGAllocs", Value::Null),
            ("JobModifyIndex", json!(modify_index)),
            ("CreatedEvals", Value::Null),
            ("Diff", job_diff),
            ("NextPeriodicLaunch", Value::Null),
            ("Warnings", json!("")),
            ("Index", json!(modify_index)),
        ]))
    })?;
    Ok(write_json(&response, num(&response, "Index")))
}

pub(crate) async fn revert(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_write()?;
    let body = req.json_body()?;
    let job_id = field_str(&body, "JobID").unwrap_or("");
    if job_id.is_empty() {
        return Err(ApiError::bad_request("JobID must be specified"));
    }
    if job_id != id {
        return Err(ApiError::bad_request("Job ID does not match"));
    }
    let ns = req.query.ns();
    let version = field_u64(&body, "JobVersion");
    let prior = field(&body, "EnforcePriorVersion").and_then(Value::as_u64);
    let now = shared.now().unix;
    let outcome = shared.with_store(|s| {
        s.acl.check(&req.caller, ns, "submit-job")?;
        register::revert(s, ns, &id, version, prior, now)
    })?;
    let mut resp = write_json(&outcome.to_json(), outcome.index);
    crate::http::set_meta(
        resp.headers_mut(),
        Meta {
            index: outcome.index,
            known_leader: true,
        },
    );
    Ok(resp)
}

/// A change made behind drover's back: the job is edited and registered again.
pub(crate) fn edit_job(shared: &Shared, ns: &str, id: &str, edit: impl FnOnce(&mut Value)) -> bool {
    let now = shared.now().unix;
    shared.with_store(|s| {
        let Some(mut job) = s.job(ns, id).map(|e| e.job.clone()) else {
            return false;
        };
        let before = num(&job, "JobModifyIndex");
        edit(&mut job);
        job["Version"] = json!(0);
        register::register(s, RegisterRequest::plain(job), now)
            .is_ok_and(|o| o.job_modify_index != before)
    })
}
