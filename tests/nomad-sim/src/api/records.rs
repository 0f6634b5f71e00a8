//! What the cluster-object endpoints (namespaces, node pools, ACL policies and roles) share:
//! a blocking read of one record, a blocking list, and the empty answer of a write.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Req;
use crate::http::{ApiError, ApiResult, Meta, json as respond, set_meta};
use crate::server::Shared;
use crate::state::{Store, Table, num};

/// A blocking read of one record: its `ModifyIndex` is the index, the table's while it is
/// absent, and an absent record is a 404 with `not_found` (and the index headers).
pub(crate) async fn read_one(
    shared: &Shared,
    req: &Req,
    table: Table,
    not_found: &str,
    lookup: impl Fn(&Store) -> Option<Value>,
) -> ApiResult {
    let (index, found) = shared
        .blocking(&req.query, |s| match lookup(s) {
            Some(v) => (num(&v, "ModifyIndex"), Some(v)),
            None => (s.table_index(table), None),
        })
        .await;
    let meta = Meta {
        index,
        known_leader: true,
    };
    match found {
        Some(v) => Ok(respond(&v, Some(meta), req.query.pretty)),
        None => {
            let mut resp = ApiError::not_found(not_found).into_response();
            set_meta(resp.headers_mut(), meta);
            Ok(resp)
        }
    }
}

/// A blocking list: answers when the table's index passes the query's (an empty table reports
/// 1, as Nomad's list endpoints do, so that a watch never spins).
pub(crate) async fn list(
    shared: &Shared,
    req: &Req,
    table: Table,
    items: impl Fn(&Store) -> Vec<Value>,
) -> ApiResult {
    let (index, items) = shared
        .blocking(&req.query, |s| (s.table_index(table).max(1), items(s)))
        .await;
    let meta = Meta {
        index,
        known_leader: true,
    };
    Ok(respond(&json!(items), Some(meta), req.query.pretty))
}

/// The answer of a write whose endpoint returns nothing: 200, no body, `X-Nomad-Index`.
pub(crate) fn written(index: u64) -> Response {
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert("X-Nomad-Index", HeaderValue::from(index));
    resp
}

/// The request's `prefix` parameter, `""` when absent.
pub(crate) fn prefix(req: &Req) -> String {
    req.query.raw.get("prefix").cloned().unwrap_or_default()
}
