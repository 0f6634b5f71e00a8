//! `/v1/var/:path`: read, write, delete and the lock operations (docs/nomad-api.md).

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
        Method::DELETE => shared.with_store(|s| {
            s.acl.check(&req.caller, &ns, "var:destroy")?;
            if s.variables.remove(&(ns.clone(), path.clone())).is_some() {
                s.write(&[Table::Variables]);
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }),
        Method::PUT | Method::POST => write(&shared, &req, &ns, &path),
        _ => Err(ApiError::bad_request("Invalid method")),
    }
}

async fn read(shared: &Shared, req: &Req, ns: &str, path: &str) -> ApiResult {
    shared.with_store(|s| s.acl.check(&req.caller, ns, "var:read"))?;
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
    shared.with_store(|s| s.acl.check(&req.caller, ns, "var:write"))?;
    let body = req.json_body()?;
    let ns = field(&body, "Namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(ns);
    match ops.first() {
        Some(&"lock-acquire") => lock_op(shared, ns, path, |s, lease, unix| {
            let req = LockRequest::from_body(&body)?;
            variables::acquire(s, ns, path, req, items(&body), lease, unix)
                .map(|(v, i)| (v, Some(i)))
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
    let cas: Option<u64> = req.query.raw.get("cas").and_then(|c| c.parse().ok());
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
        var.items = items(body);
        var.modify_index = index;
        var.modify_time = unix;
        Ok(write_json(&var.to_json(ns, path, true, true), index))
    })
}
