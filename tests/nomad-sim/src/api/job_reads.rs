//! Read-only job sub-resources: versions, summary, submission, evaluations and deployments of a
//! job (docs/nomad-api.md). All are blocking queries.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::Req;
use crate::eval_json;
use crate::http::{ApiError, ApiResult, Meta, json as respond, set_meta};
use crate::server::Shared;
use crate::state::{Table, num, text};

fn meta(index: u64) -> Option<Meta> {
    Some(Meta {
        index,
        known_leader: true,
    })
}

/// A 404 that still carries the metadata headers, as Nomad's `setMeta` runs first.
fn not_found_with_meta(text: &str, index: u64) -> ApiResult {
    let mut resp = ApiError::not_found(text).into_response();
    set_meta(
        resp.headers_mut(),
        Meta {
            index,
            known_leader: true,
        },
    );
    Ok(resp)
}

pub(crate) async fn versions(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    let ns = req.query.ns();
    shared.with_store(|s| s.acl.check(&req.caller, ns, "read-job"))?;
    let (index, versions) = shared
        .blocking(&req.query, |s| match s.job(ns, &id) {
            Some(e) => (
                e.versions
                    .iter()
                    .map(|v| num(v, "ModifyIndex"))
                    .max()
                    .unwrap_or(0),
                Some(e.versions.clone()),
            ),
            None => (s.table_index(Table::JobVersion), None),
        })
        .await;
    let Some(versions) = versions else {
        return not_found_with_meta("job versions not found", index);
    };
    let diffs = if req.query.bool("diffs")? {
        version_diffs(&versions)
    } else {
        Value::Null
    };
    let body = json!({"Versions": versions, "Diffs": diffs, "Index": index, "LastContact": 0,
        "KnownLeader": true, "NextToken": ""});
    Ok(respond(&body, meta(index), req.query.pretty))
}

/// `Diffs[i]` is the diff from `Versions[i+1]` to `Versions[i]`.
fn version_diffs(versions: &[Value]) -> Value {
    let diffs: Vec<Value> = versions
        .windows(2)
        .map(|pair| crate::diff::job_diff(Some(&pair[1]), &pair[0], &serde_json::Map::new()))
        .collect();
    json!(diffs)
}

pub(crate) async fn summary(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    let ns = req.query.ns();
    shared.with_store(|s| s.acl.check(&req.caller, ns, "read-job"))?;
    let (index, summary) = shared
        .blocking(&req.query, |s| match s.job(ns, &id) {
            Some(e) => (e.summary_index, Some(s.summary(e))),
            None => (s.table_index(Table::JobSummary), None),
        })
        .await;
    match summary {
        Some(body) => Ok(respond(&body, meta(index), req.query.pretty)),
        None => not_found_with_meta("job not found", index),
    }
}

pub(crate) async fn submission(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    let ns = req.query.ns();
    let version: u64 = req
        .query
        .raw
        .get("version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("Unable to parse job submission version parameter"))?;
    shared.with_store(|s| {
        s.acl.check(&req.caller, ns, "read-job")?;
        let sub = s
            .job(ns, &id)
            .and_then(|e| e.submissions.get(&version).map(|sub| (e, sub)));
        let (entry, sub) = sub.ok_or_else(|| ApiError::not_found("job source not found"))?;
        let mut body = sub.clone();
        body["Namespace"] = json!(ns);
        body["JobID"] = json!(id);
        body["Version"] = json!(version);
        body["JobModifyIndex"] = entry.job["JobModifyIndex"].clone();
        Ok(respond(
            &body,
            meta(s.table_index(Table::Jobs)),
            req.query.pretty,
        ))
    })
}

pub(crate) async fn evaluations(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    let ns = req.query.ns();
    shared.with_store(|s| s.acl.check(&req.caller, ns, "read-job"))?;
    let (index, evals) = shared
        .blocking(&req.query, |s| {
            let mut evals: Vec<&Value> = s
                .evals
                .values()
                .filter(|e| text(e, "JobID") == id && text(e, "Namespace") == ns)
                .collect();
            evals.sort_by_key(|e| std::cmp::Reverse(num(e, "CreateIndex")));
            (
                s.table_index(Table::Evals),
                evals.into_iter().map(eval_json).collect::<Vec<_>>(),
            )
        })
        .await;
    Ok(respond(&json!(evals), meta(index), req.query.pretty))
}

/// The job's deployments of its current incarnation, newest first.
fn job_deployments(s: &crate::state::Store, ns: &str, id: &str, all: bool) -> Vec<Value> {
    let create_index = s.job(ns, id).map(|e| num(&e.job, "CreateIndex"));
    let mut list: Vec<Value> = s
        .deployments_of(ns, id)
        .map(|d| &d.json)
        .filter(|d| all || Some(num(d, "JobCreateIndex")) == create_index)
        .cloned()
        .collect();
    list.sort_by_key(|d| std::cmp::Reverse(num(d, "CreateIndex")));
    list
}

pub(crate) async fn latest_deployment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    let ns = req.query.ns();
    shared.with_store(|s| s.acl.check(&req.caller, ns, "read-job"))?;
    let (index, latest) = shared
        .blocking(&req.query, |s| {
            (
                s.table_index(Table::Deployment),
                job_deployments(s, ns, &id, false).into_iter().next(),
            )
        })
        .await;
    Ok(respond(
        &latest.unwrap_or(Value::Null),
        meta(index),
        req.query.pretty,
    ))
}

pub(crate) async fn deployments(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    let ns = req.query.ns();
    let all = req.query.bool("all")?;
    shared.with_store(|s| s.acl.check(&req.caller, ns, "read-job"))?;
    let (index, list) = shared
        .blocking(&req.query, |s| {
            (
                s.table_index(Table::Deployment),
                job_deployments(s, ns, &id, all),
            )
        })
        .await;
    Ok(respond(&json!(list), meta(index), req.query.pretty))
}
