//! Evaluations and deployments by ID: read, list, promote and fail (docs/nomad-api.md).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::Req;
use crate::deployment;
use crate::eval_json;
use crate::filter::Filter;
use crate::http::{
    ApiError, ApiResult, Meta, field, field_bool, field_str, json as respond, set_meta, write_json,
};
use crate::server::Shared;
use crate::state::{Table, num, text};

/// The memdb error Nomad returns for an ID that is not a UUID.
fn malformed(kind: &str) -> ApiError {
    ApiError::internal(format!(
        "failed to lookup {kind}: {kind} lookup failed: index error: UUID must be 36 characters"
    ))
}

pub(crate) async fn evaluation(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    if id.len() != 36 {
        return Err(malformed("eval"));
    }
    let (index, eval) = shared
        .blocking(&req.query, |s| match s.evals.get(&id) {
            Some(e) => (num(e, "ModifyIndex"), Some(e.clone())),
            None => (s.table_index(Table::Evals), None),
        })
        .await;
    let meta = Meta {
        index,
        known_leader: true,
    };
    let Some(eval) = eval else {
        let mut resp = ApiError::not_found("eval not found").into_response();
        set_meta(resp.headers_mut(), meta);
        return Ok(resp);
    };
    shared.with_store(|s| {
        s.acl
            .check(&req.caller, text(&eval, "Namespace"), "read-job")
    })?;
    Ok(respond(&eval_json(&eval), Some(meta), req.query.pretty))
}

pub(crate) async fn list(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_get()?;
    let ns = req.query.ns().to_owned();
    let prefix = req.query.raw.get("prefix").cloned().unwrap_or_default();
    let filter = match req.query.raw.get("filter") {
        Some(_) if !prefix.is_empty() => {
            return Err(ApiError::bad_request(
                "Filter expression cannot be used with other filter parameters",
            ));
        }
        Some(text) => Some(Filter::parse(text)?),
        None => None,
    };
    shared.with_store(|s| s.acl.check(&req.caller, &ns, "read-job"))?;
    let (index, list) = shared
        .blocking(&req.query, |s| {
            let mut list: Vec<Value> = s
                .deployments
                .values()
                .map(|d| &d.json)
                .filter(|d| {
                    (ns == "*" || text(d, "Namespace") == ns)
                        && text(d, "ID").starts_with(&prefix)
                        && filter.as_ref().is_none_or(|f| f.matches(d))
                })
                .cloned()
                .collect();
            list.sort_by_key(|d| num(d, "CreateIndex"));
            (s.table_index(Table::Deployment), list)
        })
        .await;
    Ok(respond(
        &json!(list),
        Some(Meta {
            index,
            known_leader: true,
        }),
        req.query.pretty,
    ))
}

pub(crate) async fn read(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    if id.len() != 36 {
        return Err(malformed("deployment"));
    }
    let (index, found) = shared
        .blocking(&req.query, |s| match s.deployments.get(&id) {
            Some(d) => (num(&d.json, "ModifyIndex"), Some(d.json.clone())),
            None => (s.table_index(Table::Deployment), None),
        })
        .await;
    let readable = found.as_ref().is_some_and(|d| {
        shared.with_store(|s| s.acl.allows(&req.caller, text(d, "Namespace"), "read-job"))
    });
    match found.filter(|_| readable) {
        Some(d) => Ok(respond(
            &d,
            Some(Meta {
                index,
                known_leader: true,
            }),
            req.query.pretty,
        )),
        None => Err(ApiError::not_found("deployment not found")),
    }
}

/// Checks the URL and body IDs of a deployment write, as the HTTP layer does.
fn check_ids(body: &Value, id: &str) -> Result<(), ApiError> {
    match field_str(body, "DeploymentID") {
        None | Some("") => Err(ApiError::bad_request("DeploymentID must be specified")),
        Some(b) if b != id => Err(ApiError::bad_request("Deployment ID does not match")),
        Some(_) => Ok(()),
    }
}

fn update_response(eval_id: &str, eval_index: u64, index: u64, reverted: Option<u64>) -> Value {
    json!({"EvalID": eval_id, "EvalCreateIndex": eval_index, "DeploymentModifyIndex": index,
        "RevertedJobVersion": reverted, "Index": index, "LastContact": 0, "KnownLeader": false})
}

/// Creates the deployment watcher's evaluation that follows a status change.
fn watcher_eval(s: &mut crate::state::Store, d: &Value, index: u64, unix: i64) -> String {
    let job = s
        .job(text(d, "Namespace"), text(d, "JobID"))
        .map(|e| e.job.clone());
    let Some(job) = job else { return String::new() };
    let id = s.create_eval(&job, "deployment-watcher", index, unix);
    if let Some(e) = s.evals.get_mut(&id) {
        e["DeploymentID"] = d["ID"].clone();
        e["Status"] = json!("complete");
    }
    id
}

pub(crate) async fn promote(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_write()?;
    let body = req.json_body()?;
    check_ids(&body, &id)?;
    let groups: Option<Vec<String>> = (!field_bool(&body, "All")).then(|| {
        field(&body, "Groups")
            .and_then(Value::as_array)
            .map(|gs| {
                gs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    });
    let now = shared.now();
    shared.with_store(|s| {
        let d = s
            .deployments
            .get(&id)
            .map(|d| d.json.clone())
            .ok_or_else(|| ApiError::internal("deployment not found"))?;
        s.acl
            .check(&req.caller, text(&d, "Namespace"), "submit-job")?;
        let index =
            deployment::promote(s, &id, groups.as_deref(), now).map_err(ApiError::internal)?;
        let eval_id = watcher_eval(s, &d, index, now.unix);
        Ok(write_json(
            &update_response(&eval_id, index, index, None),
            index,
        ))
    })
}

pub(crate) async fn fail(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_write()?;
    let now = shared.now();
    shared.with_store(|s| {
        let d = s
            .deployments
            .get(&id)
            .map(|d| d.json.clone())
            .ok_or_else(|| ApiError::internal("deployment not found"))?;
        s.acl
            .check(&req.caller, text(&d, "Namespace"), "submit-job")?;
        if !s
            .deployments
            .get(&id)
            .is_some_and(deployment::Deployment::is_active)
        {
            return Err(ApiError::internal("can't fail terminal deployment"));
        }
        let reverted = deployment::fail(s, &id, deployment::MARKED_FAILED, now);
        let index = s.index;
        let eval_id = watcher_eval(s, &d, index, now.unix);
        Ok(write_json(
            &update_response(&eval_id, index, index, reverted),
            index,
        ))
    })
}
