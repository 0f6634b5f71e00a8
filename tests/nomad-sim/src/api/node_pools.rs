//! `/v1/node/pools` and `/v1/node/pool/:name`: list, read, create or update, delete, with
//! Nomad CE's validation, the built-in pools `all` and `default` that cannot change, and the
//! refusal to delete a pool that has nodes or non-terminal jobs
//! (`command/agent/node_pool_endpoint.go`, `nomad/node_pool_endpoint.go`,
//! `nomad/state/state_store_node_pools.go`). Never lists a pool's nodes or jobs.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::Method;
use serde_json::{Value, json};

use super::Req;
use super::records::{list, prefix, read_one, written};
use crate::http::{ApiError, ApiResult, field, field_str, multierror};
use crate::server::Shared;
use crate::state::{BUILT_IN_POOLS, Store, Table, text, upsert_record};

const NAME_PATTERN: &str = "^[a-zA-Z0-9-_]{1,128}$";
const MAX_DESCRIPTION: usize = 256;

pub(crate) async fn pools(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    match req.method {
        Method::GET => {
            let caller = req.caller.clone();
            let prefix = prefix(&req);
            list(&shared, &req, Table::NodePools, |s| {
                s.node_pools
                    .iter()
                    .filter(|(name, _)| name.starts_with(&prefix))
                    .filter(|(name, _)| s.acl.allows(&caller, name, "pool:read"))
                    .map(|(_, pool)| pool.clone())
                    .collect()
            })
            .await
        }
        _ if req.is_write() => upsert(&shared, &req, None),
        _ => Err(ApiError::invalid_method()),
    }
}

pub(crate) async fn pool(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    req: Req,
) -> ApiResult {
    match req.method {
        Method::GET => {
            shared.with_store(|s| s.acl.check(&req.caller, &name, "pool:read"))?;
            read_one(
                &shared,
                &req,
                Table::NodePools,
                "node pool not found",
                |s| s.node_pools.get(&name).cloned(),
            )
            .await
        }
        Method::DELETE => shared.with_store(|s| delete(s, &req, &name)),
        _ if req.is_write() => upsert(&shared, &req, Some(&name)),
        _ => Err(ApiError::invalid_method()),
    }
}

fn upsert(shared: &Shared, req: &Req, path_name: Option<&str>) -> ApiResult {
    let body = req.json_body()?;
    let name = field_str(&body, "Name").unwrap_or_default().to_owned();
    if path_name.is_some_and(|p| p != name) {
        return Err(ApiError::bad_request(
            "Node pool name does not match request path",
        ));
    }
    shared.with_store(|s| {
        s.acl.check(&req.caller, &name, "pool:write")?;
        let pool = json!({
            "Name": name,
            "Description": field_str(&body, "Description").unwrap_or_default(),
            "Meta": field(&body, "Meta").cloned().unwrap_or(Value::Null),
            "SchedulerConfiguration": field(&body, "SchedulerConfiguration").cloned().unwrap_or(Value::Null),
        });
        let scheduler = !pool["SchedulerConfiguration"].is_null();
        if scheduler && !s.enterprise {
            return Err(ApiError::internal(
                "Feature \"Node Pools Governance\" is unlicensed",
            ));
        }
        let errors = validate(&pool, &name);
        if !errors.is_empty() {
            return Err(ApiError::bad_request(format!(
                "invalid node pool \"{name}\": {}",
                multierror(&errors)
            )));
        }
        if is_built_in(&name) {
            return Err(ApiError::bad_request(format!(
                "modifying node pool \"{name}\" is not allowed"
            )));
        }
        let index = s.write(&[Table::NodePools]);
        let pool = upsert_record(s.node_pools.get(&name), pool, index);
        s.node_pools.insert(name, pool);
        Ok(written(index))
    })
}

/// `NodePool.Validate` (`nomad/structs/node_pool.go`); the scheduler configuration's own
/// checks are not modelled.
fn validate(pool: &Value, name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if !regex_lite::Regex::new(NAME_PATTERN).is_ok_and(|re| re.is_match(name)) {
        errors.push(format!(
            "invalid name \"{name}\", must match regex {NAME_PATTERN}"
        ));
    }
    if text(pool, "Description").len() > MAX_DESCRIPTION {
        errors.push(format!("description longer than {MAX_DESCRIPTION}"));
    }
    errors
}

fn is_built_in(name: &str) -> bool {
    BUILT_IN_POOLS.iter().any(|(n, _)| *n == name)
}

/// The endpoint refuses a pool in use (one multi-error item per reason, naming the regions);
/// the state store then refuses an unknown or built-in pool.
fn delete(s: &mut Store, req: &Req, name: &str) -> ApiResult {
    s.acl.check(&req.caller, name, "pool:delete")?;
    let live_jobs = s
        .jobs
        .values()
        .any(|e| e.is_live() && text(&e.job, "NodePool") == name);
    let nodes = s.nodes.values().any(|pool| pool == name);
    let in_use = [(live_jobs, "non-terminal jobs"), (nodes, "nodes")];
    let errors: Vec<String> = in_use
        .iter()
        .filter(|(used, _)| *used)
        .map(|(_, what)| format!("node pool \"{name}\" has {what} in regions: [{}]", s.region))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::internal(multierror(&errors)));
    }
    if !s.node_pools.contains_key(name) {
        return Err(ApiError::internal(format!("node pool {name} not found")));
    }
    if is_built_in(name) {
        return Err(ApiError::internal(format!(
            "deleting node pool \"{name}\" is not allowed"
        )));
    }
    let index = s.write(&[Table::NodePools]);
    s.node_pools.remove(name);
    Ok(written(index))
}
