//! `/v1/acl/roles`, `/v1/acl/role` and `/v1/acl/role/:id`, `/v1/acl/role/name/:name`: list,
//! create (Nomad assigns the ID), update, read by ID or name, delete
//! (`command/agent/acl_endpoint.go`, `nomad/acl_endpoint.go`, `nomad/state/state_store_acl.go`).
//! Only management tokens write or read roles; a client token links no role here, so it lists
//! none. Never grants a role's policies to a token.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::Method;
use serde_json::{Value, json};

use super::Req;
use super::records::{list, prefix, read_one, written};
use crate::acl::{Acl, Caller};
use crate::http::{ApiError, ApiResult, field, field_str, multierror, write_json};
use crate::server::Shared;
use crate::state::{Store, Table, text, upsert_record};

const NAME_PATTERN: &str = "^[a-zA-Z0-9-]{1,128}$";
const MAX_DESCRIPTION: usize = 256;

pub(crate) async fn roles(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_get()?;
    shared.with_store(|s| s.acl.require_enabled())?;
    let management = req.caller == Caller::Management;
    let prefix = prefix(&req);
    list(&shared, &req, Table::AclRoles, |s| {
        s.acl_roles
            .values()
            .filter(|r| management && text(r, "ID").starts_with(&prefix))
            .cloned()
            .collect()
    })
    .await
}

/// `POST /v1/acl/role`: a new role.
pub(crate) async fn create(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_write()?;
    upsert(&shared, &req, None)
}

pub(crate) async fn role(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult {
    match req.method {
        Method::GET => read(&shared, &req, |s| s.acl_roles.get(&id).cloned()).await,
        Method::DELETE => shared.with_store(|s| {
            s.acl.require_enabled()?;
            Acl::require_management(&req.caller)?;
            if !s.acl_roles.contains_key(&id) {
                return Err(ApiError::internal("ACL role not found"));
            }
            let index = s.write(&[Table::AclRoles]);
            s.acl_roles.remove(&id);
            Ok(written(index))
        }),
        _ if req.is_write() => upsert(&shared, &req, Some(&id)),
        _ => Err(ApiError::invalid_method()),
    }
}

pub(crate) async fn by_name(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    req: Req,
) -> ApiResult {
    req.require_get()?;
    read(&shared, &req, |s| {
        s.acl_roles
            .values()
            .find(|r| text(r, "Name") == name)
            .cloned()
    })
    .await
}

async fn read(shared: &Shared, req: &Req, lookup: impl Fn(&Store) -> Option<Value>) -> ApiResult {
    shared.with_store(|s| s.acl.require_enabled())?;
    Acl::require_management(&req.caller)?;
    read_one(shared, req, Table::AclRoles, "ACL role not found", lookup).await
}

/// Creates (no ID in the body) or updates (the ID of an existing role) a role, as
/// `ACL.UpsertRoles` checks it; answers the role as stored.
fn upsert(shared: &Shared, req: &Req, path_id: Option<&str>) -> ApiResult {
    let body = req.json_body()?;
    let id = field_str(&body, "ID").unwrap_or_default().to_owned();
    if path_id.is_some_and(|p| p != id) {
        return Err(ApiError::bad_request(
            "ACL role ID does not match request path",
        ));
    }
    let name = field_str(&body, "Name").unwrap_or_default().to_owned();
    let description = field_str(&body, "Description")
        .unwrap_or_default()
        .to_owned();
    let links: Vec<String> = field(&body, "Policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| field_str(p, "Name").unwrap_or_default().to_owned())
        .collect();
    shared.with_store(|s| {
        s.acl.require_enabled()?;
        Acl::require_management(&req.caller)?;
        let errors = validate(&name, &description, &links);
        if !errors.is_empty() {
            return Err(ApiError::bad_request(format!(
                "role 0 invalid: {}",
                multierror(&errors)
            )));
        }
        let by_name = s.acl_roles.values().find(|r| text(r, "Name") == name);
        if id.is_empty() && by_name.is_some() {
            return Err(ApiError::bad_request(format!(
                "role with name {name} already exists"
            )));
        }
        if !id.is_empty() && !s.acl_roles.contains_key(&id) {
            return Err(ApiError::bad_request(format!("cannot find role {id}")));
        }
        if let Some(missing) = links.iter().find(|l| !s.acl_policies.contains_key(*l)) {
            return Err(ApiError::bad_request(format!(
                "cannot find policy {missing}"
            )));
        }
        // Renaming a role to another role's name passes the endpoint and fails in the state store.
        if by_name.is_some_and(|r| text(r, "ID") != id) {
            return Err(ApiError::internal(format!(
                "ACL role with name {name} already exists"
            )));
        }
        let mut seen = BTreeSet::new();
        let policies: Vec<Value> = links
            .iter()
            .filter(|l| seen.insert(l.as_str()))
            .map(|l| json!({"Name": l}))
            .collect();
        let id = if id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            id
        };
        let role =
            json!({"ID": id, "Name": name, "Description": description, "Policies": policies});
        let existing = s.acl_roles.get(&id).cloned();
        let unchanged = existing.as_ref().is_some_and(|e| {
            ["Name", "Description", "Policies"]
                .iter()
                .all(|k| e[*k] == role[*k])
        });
        // An identical update is still a raft write, but leaves the role and its table alone.
        let index = s.write(if unchanged { &[] } else { &[Table::AclRoles] });
        if !unchanged {
            let role = upsert_record(existing.as_ref(), role, index);
            s.acl_roles.insert(id.clone(), role);
        }
        Ok(write_json(&s.acl_roles[&id], index))
    })
}

/// `ACLRole.Validate` (`nomad/structs/acl.go`).
fn validate(name: &str, description: &str, links: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    if !regex_lite::Regex::new(NAME_PATTERN).is_ok_and(|re| re.is_match(name)) {
        errors.push(format!("invalid name '{name}'"));
    }
    if description.len() > MAX_DESCRIPTION {
        errors.push(format!("description longer than {MAX_DESCRIPTION}"));
    }
    if links.is_empty() {
        errors.push("at least one policy should be specified".to_owned());
    }
    errors
}
