//! `/v1/vars` (list) and `/v1/var/:path`: read, write, delete (both with check-and-set) and the
//! lock operations (docs/nomad-api.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Req;
use crate::http::{ApiError, ApiResult, Meta, field, json as respond, write_json};
use crate::server::Shared;
use crate::state::Table;
use crate::variables::{self, LockError, LockRequest, Variable};

pub(crate) async fn variable(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    req: Req,
) -> ApiResult {
    let ns = req.query.ns().to_owned();
    match req.method {
        Method::GET => read(&shared, &req, &ns, &path).await,
        Method::DELETE => delete(&shared, &req, &ns, &path),
        Method::PUT | Method::POST => write(&shared, &req, &ns, &path),
        _ => Err(ApiError::bad_request("Invalid method")),
    }
}

/// `GET /v1/vars`: the metadata (no items, no lock) of the variables under `prefix` that the
/// caller may list, in the request's namespace or, with `*`, in all of them.
pub(crate) async fn list(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_get()?;
    let ns = req.query.ns().to_owned();
    let prefix = req.query.raw.get("prefix").cloned().unwrap_or_default();
    let (index, vars) = shared
        .blocking(&req.query, |s| {
            let vars: Vec<Value> = s
                .variables
                .iter()
                .filter(|((n, p), _)| (ns == "*" || *n == ns) && p.starts_with(&prefix))
                .filter(|((n, p), _)| s.acl.allows_var(&req.caller, n, p, "list"))
                .map(|((n, p), v)| v.to_json(n, p, false, false))
                .collect();
            (s.table_index(Table::Variables).max(1), vars)
        })
        .await;
    let meta = Meta {
        index,
        known_leader: true,
    };
    Ok(respond(&Value::Array(vars), Some(meta), req.query.pretty))
}

/// `DELETE /v1/var/:path`, with `?cas=<index>` only while the variable's `ModifyIndex` is still
/// that (0: only while it does not exist); a mismatch is a 409 with the current variable (a
/// zeroed one when it is gone) and its index (`nomad/state/state_store_variables.go`).
fn delete(shared: &Shared, req: &Req, ns: &str, path: &str) -> ApiResult {
    let cas = cas(req)?;
    shared.with_store(|s| {
        s.acl.check_var(&req.caller, ns, path, "destroy")?;
        let key = (ns.to_owned(), path.to_owned());
        let current = s.variables.get(&key);
        if let Some(cas) = cas
            && current.map_or(0, |v| v.modify_index) != cas
        {
            let readable = s.acl.allows_var(&req.caller, ns, path, "read");
            let (body, index) = current.map_or_else(
                || (variables::conflict_body(ns, path), 0),
                |v| (v.to_json(ns, path, readable, false), v.modify_index),
            );
            let mut resp = conflict(&body);
            resp.headers_mut()
                .insert("X-Nomad-Index", HeaderValue::from(index));
            return Ok(resp);
        }
        if s.variables.remove(&key).is_some() {
            s.write(&[Table::Variables]);
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// The `cas` parameter, as Nomad's HTTP layer parses it.
fn cas(req: &Req) -> Result<Option<u64>, ApiError> {
    match req.query.raw.get("cas").filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => c.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "can not parse cas: strconv.ParseUint: parsing \"{c}\": invalid syntax"
            ))
        }),
    }
}

/// Nomad caps a variable's items at 64 KiB, counting the bytes of every key and value
/// (`VariableItems.Size` in `nomad/structs/variables.go`).
const MAX_ITEMS_BYTES: usize = 65536;

fn check_size(items: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let size: usize = items.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ITEMS_BYTES {
        return Err(ApiError::bad_request(
            "variables are limited to 64KiB in total size",
        ));
    }
    Ok(())
}

async fn read(shared: &Shared, req: &Req, ns: &str, path: &str) -> ApiResult {
    shared.with_store(|s| s.acl.check_var(&req.caller, ns, path, "read"))?;
    let management = req.caller == crate::acl::Caller::Management;
    let (index, var) = shared
        .blocking(&req.query, |s| {
            match s.variables.get(&(ns.to_owned(), path.to_owned())) {
                Some(v) => (v.modify_index, Some(v.to_json(ns, path, true, management))),
                None => (s.table_index(Table::Variables), None),
            }
        })
        .await;
    match var {
        Some(v) => Ok(respond(
            &v,
            Some(Meta {
                index,
                known_leader: true,
            }),
            req.query.pretty,
        )),
        None => Err(ApiError::not_found("variable not found")),
    }
}

fn items(body: &Value) -> BTreeMap<String, String> {
    field(body, "Items")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn write(shared: &Shared, req: &Req, ns: &str, path: &str) -> ApiResult {
    let ops: Vec<&str> = ["lock-acquire", "lock-renew", "lock-release"]
        .into_iter()
        .filter(|o| req.query.has(o))
        .collect();
    if ops.len() > 1 {
        return Err(ApiError::bad_request("multiple lock operations"));
    }
    if !ops.is_empty() && req.query.has("cas") {
        return Err(ApiError::bad_request(
            "CAS can't be used with lock operations",
        ));
    }
    shared.with_store(|s| s.acl.check_var(&req.caller, ns, path, "write"))?;
    let body = req.json_body()?;
    let ns = field(&body, "Namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(ns);
    match ops.first() {
        Some(&"lock-acquire") => lock_op(shared, ns, path, |s, lease, unix| {
            let req = LockRequest::from_body(&body)?;
            let items = items(&body);
            check_size(&items)?;
            variables::acquire(s, ns, path, req, items, lease, unix).map(|(v, i)| (v, Some(i)))
        }),
        Some(&"lock-renew") => lock_op(shared, ns, path, |s, lease, _| {
            let id = LockRequest::from_body(&body)?.id.unwrap_or_default();
            Ok((variables::renew(s, ns, path, &id, lease)?, None))
        }),
        Some(_) => {
            if field(&body, "Items").is_some() {
                return Err(ApiError::bad_request(
                    "lock release operation doesn't take variable items",
                ));
            }
            let id = LockRequest::from_body(&body)?
                .id
                .ok_or_else(|| ApiError::bad_request("missing lock information"))?;
            lock_op(shared, ns, path, |s, _, unix| {
                variables::release(s, ns, path, &id, unix).map(|(v, i)| (v, Some(i)))
            })
        }
        None => put(shared, req, &body, ns, path),
    }
}

type LockResult = Result<(Value, Option<u64>), LockError>;

fn lock_op(
    shared: &Shared,
    ns: &str,
    path: &str,
    op: impl FnOnce(&mut crate::state::Store, std::time::Duration, i64) -> LockResult,
) -> ApiResult {
    let lease = shared.clock.lease_now();
    let unix = shared.now().unix;
    match shared.with_store(|s| op(s, lease, unix)) {
        Ok((v, Some(index))) => Ok(write_json(&v, index)),
        Ok((v, None)) => Ok(respond(&v, None, false)),
        Err(LockError::Api(e)) => Err(e),
        Err(LockError::Conflict) => Ok(conflict(&variables::conflict_body(ns, path))),
    }
}

/// A 409 whose body is the conflicting variable; no index header (the status line goes first).
fn conflict(body: &Value) -> Response {
    let mut resp = (StatusCode::CONFLICT, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn put(shared: &Shared, req: &Req, body: &Value, ns: &str, path: &str) -> ApiResult {
    if field(body, "Items").is_none() {
        return Err(ApiError::bad_request(
            "variable missing required Items object",
        ));
    }
    let lock = field(body, "Lock");
    if lock.is_some_and(|l| field(l, "TTL").is_some() || field(l, "LockDelay").is_some()) {
        return Err(ApiError::bad_request(
            "variable should not contain lock definition",
        ));
    }
    let lock_id = lock
        .and_then(|l| field(l, "ID"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let cas = cas(req)?;
    let items = items(body);
    check_size(&items)?;
    let unix = shared.now().unix;
    shared.with_store(|s| {
        let key = (ns.to_owned(), path.to_owned());
        let current = s.variables.get(&key);
        if let Some(cas) = cas {
            let actual = current.map_or(0, |v| v.modify_index);
            if actual != cas {
                let body = current.map_or_else(
                    || variables::conflict_body(ns, path),
                    |v| v.to_json(ns, path, true, false),
                );
                return Ok(conflict(&body));
            }
        }
        if current
            .and_then(|v| v.lock.as_ref())
            .is_some_and(|l| lock_id.as_deref() != Some(l.id.as_str()))
        {
            return Ok(conflict(&variables::conflict_body(ns, path)));
        }
        let index = s.write(&[Table::Variables]);
        let var = s
            .variables
            .entry(key)
            .or_insert_with(|| Variable::new(index, unix));
        var.items = items;
        var.modify_index = index;
        var.modify_time = unix;
        Ok(write_json(&var.to_json(ns, path, true, true), index))
    })
}
