//! `/v1/namespaces` and `/v1/namespace/:name`: list, read, create or update, delete, with
//! Nomad CE's validation and its refusals to delete a namespace still in use
//! (`command/agent/namespace_endpoint.go`, `nomad/namespace_endpoint.go`). Never models quotas:
//! a namespace naming one is refused as naming a quota that does not exist, as in CE.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::Method;
use serde_json::{Map, Value, json};

use super::Req;
use super::records::{list, prefix, read_one, written};
use crate::acl::Acl;
use crate::http::{ApiError, ApiResult, field, field_str, multierror};
use crate::server::Shared;
use crate::state::{Store, Table, upsert_record};

const NAME_PATTERN: &str = "^[a-zA-Z0-9-]{1,128}$";
const MAX_DESCRIPTION: usize = 256;

pub(crate) async fn namespaces(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_get()?;
    let caller = req.caller.clone();
    let prefix = prefix(&req);
    list(&shared, &req, Table::Namespaces, |s| {
        s.namespaces
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix) && s.acl.sees_namespace(&caller, name))
            .map(|(_, ns)| ns.clone())
            .collect()
    })
    .await
}

pub(crate) async fn namespace(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    req: Req,
) -> ApiResult {
    match req.method {
        Method::GET => {
            if !shared.with_store(|s| s.acl.sees_namespace(&req.caller, &name)) {
                return Err(ApiError::permission_denied());
            }
            read_one(
                &shared,
                &req,
                Table::Namespaces,
                "Namespace not found",
                |s| s.namespaces.get(&name).cloned(),
            )
            .await
        }
        Method::DELETE => shared.with_store(|s| delete(s, &req, &name)),
        _ if req.is_write() => upsert(&shared, &req, &name),
        _ => Err(ApiError::invalid_method()),
    }
}

fn upsert(shared: &Shared, req: &Req, path_name: &str) -> ApiResult {
    let body = req.json_body()?;
    let name = field_str(&body, "Name").unwrap_or_default().to_owned();
    if name != path_name {
        return Err(ApiError::bad_request(
            "Namespace name does not match request path",
        ));
    }
    Acl::require_management(&req.caller)?;
    shared.with_store(|s| {
        let ns = record_from(&body, &name);
        let errors = validate(&ns, &name, s.enterprise);
        if !errors.is_empty() {
            return Err(ApiError::internal(format!(
                "Invalid namespace \"{name}\": {}",
                multierror(&errors)
            )));
        }
        let quota = field_str(&ns, "Quota").unwrap_or_default();
        if !quota.is_empty() {
            return Err(ApiError::internal(format!(
                "namespace \"{name}\" using non-existent quota \"{quota}\""
            )));
        }
        let index = s.write(&[Table::Namespaces]);
        let ns = upsert_record(s.namespaces.get(&name), ns, index);
        s.namespaces.insert(name, ns);
        Ok(written(index))
    })
}

/// The namespace as Nomad keeps it: the fields it decodes, absent ones zero or `null`.
/// Nomad also returns a `Hash` of the fields; the simulator leaves it out.
fn record_from(body: &Value, name: &str) -> Value {
    let text = |key| field_str(body, key).unwrap_or_default();
    let object = |key, keys: &[&str]| {
        field(body, key).map_or(Value::Null, |v| {
            let map: Map<String, Value> = keys
                .iter()
                .map(|k| ((*k).to_owned(), field(v, k).cloned().unwrap_or(Value::Null)))
                .collect();
            Value::Object(map)
        })
    };
    let choices = ["Default", "Allowed", "Denied"];
    json!({
        "Name": name,
        "Description": text("Description"),
        "Quota": text("Quota"),
        "Capabilities": object("Capabilities", &["EnabledTaskDrivers", "DisabledTaskDrivers",
            "EnabledNetworkModes", "DisabledNetworkModes"]),
        "NodePoolConfiguration": object("NodePoolConfiguration", &choices),
        "VaultConfiguration": object("VaultConfiguration", &choices),
        "ConsulConfiguration": object("ConsulConfiguration", &choices),
        "Meta": field(body, "Meta").cloned().unwrap_or(Value::Null),
    })
}

/// `Namespace.Validate` of `nomad/structs/structs.go`, with CE's refusal of the Enterprise
/// blocks (`nomad/structs/structs_ce.go`).
fn validate(ns: &Value, name: &str, enterprise: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let valid_name = regex_lite::Regex::new(NAME_PATTERN).is_ok_and(|re| re.is_match(name));
    if !valid_name {
        errors.push(format!(
            "invalid name \"{name}\". Must match regex {NAME_PATTERN}"
        ));
    }
    if field_str(ns, "Description").unwrap_or_default().len() > MAX_DESCRIPTION {
        errors.push(format!("description longer than {MAX_DESCRIPTION}"));
    }
    let unlicensed = [
        (
            "NodePoolConfiguration",
            "node pool",
            "Node Pools Governance",
        ),
        ("VaultConfiguration", "vault", "Multi-Cluster Vault"),
        ("ConsulConfiguration", "consul", "Multi-Cluster Consul"),
    ];
    for (key, what, feature) in unlicensed {
        if !enterprise && !ns[key].is_null() {
            errors.push(format!(
                "invalid {what} configuration: {feature} is unlicensed."
            ));
        }
    }
    errors
}

/// Nomad refuses to delete `default`, and a namespace that still has non-terminal jobs or
/// allocations, or variables: each reason one item of a multi-error naming the regions
/// (`nomad/namespace_endpoint.go`); an unknown namespace fails in the state store.
fn delete(s: &mut Store, req: &Req, name: &str) -> ApiResult {
    Acl::require_management(&req.caller)?;
    if name == "default" {
        return Err(ApiError::internal("can not delete default namespace"));
    }
    if !s.has_namespace(name) {
        return Err(ApiError::internal("namespace not found"));
    }
    let jobs = || s.jobs.iter().filter(|((ns, _), _)| ns == name);
    let in_use = [
        (jobs().any(|(_, e)| e.is_live()), "non-terminal jobs"),
        (
            jobs().any(|(_, e)| e.has_live_allocs()),
            "non-terminal allocations",
        ),
        (
            s.variables.keys().any(|(ns, _)| ns == name),
            "variables associated with it",
        ),
    ];
    let errors: Vec<String> = in_use
        .iter()
        .filter(|(used, _)| *used)
        .map(|(_, what)| format!("namespace \"{name}\" has {what} in regions: [{}]", s.region))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::internal(multierror(&errors)));
    }
    let index = s.write(&[Table::Namespaces]);
    s.namespaces.remove(name);
    Ok(written(index))
}
