//! `/v1/acl/policies` and `/v1/acl/policy/:name`: list, read, create or update, delete
//! (`command/agent/acl_endpoint.go`, `nomad/acl_endpoint.go`). Only management tokens write;
//! a client token links no policy here, so it lists none and may read only `anonymous`.
//! A policy with a `JobACL` grants its rules to that job's workload identities (`acl.rs`);
//! client tokens keep the simulator's own capability rules.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::Method;
use serde_json::{Value, json};

use super::Req;
use super::records::{list, prefix, read_one, written};
use crate::acl::{Acl, Caller};
use crate::http::{ApiError, ApiResult, field, field_str, multierror};
use crate::server::Shared;
use crate::state::{Table, text, upsert_record};

const NAME_PATTERN: &str = "^[a-zA-Z0-9-]{1,128}$";
const MAX_DESCRIPTION: usize = 256;
const ANONYMOUS: &str = "anonymous";

/// Whether `caller` may see policy `name`: management sees all; the anonymous token links the
/// `anonymous` policy only.
fn visible(caller: &Caller, name: &str) -> bool {
    *caller == Caller::Management || (*caller == Caller::Anonymous && name == ANONYMOUS)
}

pub(crate) async fn policies(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_get()?;
    shared.with_store(|s| s.acl.require_enabled())?;
    let prefix = prefix(&req);
    list(&shared, &req, Table::AclPolicies, |s| {
        s.acl_policies
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix) && visible(&req.caller, name))
            .map(|(_, p)| stub(p))
            .collect()
    })
    .await
}

/// A list entry: the policy without its rules.
fn stub(policy: &Value) -> Value {
    json!({
        "Name": policy["Name"], "Description": policy["Description"], "JobACL": policy["JobACL"],
        "CreateIndex": policy["CreateIndex"], "ModifyIndex": policy["ModifyIndex"],
    })
}

pub(crate) async fn policy(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    req: Req,
) -> ApiResult {
    match req.method {
        Method::GET => {
            shared.with_store(|s| s.acl.require_enabled())?;
            if name != ANONYMOUS && !visible(&req.caller, &name) {
                return Err(ApiError::permission_denied());
            }
            read_one(
                &shared,
                &req,
                Table::AclPolicies,
                "ACL policy not found",
                |s| s.acl_policies.get(&name).cloned(),
            )
            .await
        }
        Method::DELETE => shared.with_store(|s| {
            s.acl.require_enabled()?;
            Acl::require_management(&req.caller)?;
            let index = s.write(&[Table::AclPolicies]);
            s.acl_policies.remove(&name);
            s.acl.policy_written(&name, None);
            Ok(written(index))
        }),
        _ if req.is_write() => upsert(&shared, &req, &name),
        _ => Err(ApiError::invalid_method()),
    }
}

fn upsert(shared: &Shared, req: &Req, path_name: &str) -> ApiResult {
    let body = req.json_body()?;
    if field_str(&body, "Name").unwrap_or_default() != path_name {
        return Err(ApiError::bad_request(
            "ACL policy name does not match request path",
        ));
    }
    shared.with_store(|s| {
        s.acl.require_enabled()?;
        Acl::require_management(&req.caller)?;
        let policy = json!({
            "Name": path_name,
            "Description": field_str(&body, "Description").unwrap_or_default(),
            "Rules": field_str(&body, "Rules").unwrap_or_default(),
            "JobACL": field(&body, "JobACL").map_or(Value::Null, |j| json!({
                "Namespace": field_str(j, "Namespace").unwrap_or_default(),
                "JobID": field_str(j, "JobID").unwrap_or_default(),
                "Group": field_str(j, "Group").unwrap_or_default(),
                "Task": field_str(j, "Task").unwrap_or_default(),
            })),
        });
        let errors = validate(&policy);
        if !errors.is_empty() {
            return Err(ApiError::bad_request(format!(
                "policy 0 invalid: {}",
                multierror(&errors)
            )));
        }
        let index = s.write(&[Table::AclPolicies]);
        let policy = upsert_record(s.acl_policies.get(path_name), policy, index);
        s.acl.policy_written(path_name, Some(&policy));
        s.acl_policies.insert(path_name.to_owned(), policy);
        Ok(written(index))
    })
}

/// `ACLPolicy.Validate` (`nomad/structs/acl.go`).
fn validate(policy: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let name = text(policy, "Name");
    if !regex_lite::Regex::new(NAME_PATTERN).is_ok_and(|re| re.is_match(name)) {
        errors.push(format!("invalid name '{name}'"));
    }
    if let Err(e) = check_rules(text(policy, "Rules")) {
        errors.push(format!("failed to parse rules: {e}"));
    }
    if text(policy, "Description").len() > MAX_DESCRIPTION {
        errors.push(format!("description longer than {MAX_DESCRIPTION}"));
    }
    let job = &policy["JobACL"];
    let set = |key| !text(job, key).is_empty();
    let needs = [
        ("JobID", "Namespace", "namespace must be set to set job ID"),
        ("Group", "JobID", "job ID must be set to set group"),
        ("Task", "Group", "group must be set to set task"),
    ];
    for (key, parent, message) in needs {
        if set(key) && !set(parent) {
            errors.push(message.to_owned());
        }
    }
    errors
}

/// Nomad parses the rules (HCL or JSON) and checks every namespace, capability and policy word
/// in them. The simulator checks only the syntax and that something is declared; empty rules
/// pass, as in Nomad. Its syntax errors are the HCL parser's, not Nomad's (which uses HCL 1).
fn check_rules(rules: &str) -> Result<(), String> {
    if rules.is_empty() {
        return Ok(());
    }
    let declares = if rules.trim_start().starts_with('{') {
        let value: Value =
            serde_json::from_str(rules).map_err(|e| format!("Failed to parse ACL Policy: {e}"))?;
        value.as_object().is_some_and(|o| !o.is_empty())
    } else {
        let body = hcl::parse(rules).map_err(|e| format!("Failed to parse ACL Policy: {e}"))?;
        body.iter().next().is_some()
    };
    if declares {
        Ok(())
    } else {
        Err(format!("Invalid policy: {rules}"))
    }
}
