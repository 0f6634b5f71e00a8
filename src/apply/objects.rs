//! Cluster objects besides jobs in Nomad: read one as Nomad holds it, write the file's version
//! of it, delete it. Variables are written and deleted with check-and-set on the index they
//! were read at, so that a change made meanwhile by hand is never overwritten blindly; an ACL
//! role is created once and then updated by the ID Nomad gave it.
//!
//! Never decides whether to write (`reconcile` does) nor which object is the source's.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::kinds::{Kind, Spec};
use crate::nomad::{self, Client, Query};
use crate::state::ObjectRecord;

/// Why a write or delete did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Nomad(#[from] nomad::Error),
    /// A variable changed in Nomad between drover's read and its write (check-and-set).
    #[error(
        "changed in Nomad between drover's read and its write; not overwritten (the next pass compares again)"
    )]
    Conflict,
}

/// The object named by `kind`, `name` and `namespace` as Nomad holds it; `None` when absent.
pub async fn read(
    client: &Client,
    kind: Kind,
    name: &str,
    namespace: Option<&str>,
) -> Result<Option<Value>, nomad::Error> {
    match kind {
        Kind::Namespace => client.read_namespace(name).await,
        Kind::NodePool => client.node_pool(name).await,
        Kind::AclPolicy => client.acl_policy(name).await,
        Kind::AclRole => client.acl_role_by_name(name).await,
        Kind::Variable => {
            let client = client.in_namespace(namespace.unwrap_or("default"));
            match client.variable(name, &Query::now()).await {
                // What the comparison and check-and-set need, in Nomad's field names.
                Ok(read) => Ok(Some(serde_json::json!({
                    "Items": read.value.items.unwrap_or_default(),
                    "ModifyIndex": read.value.modify_index,
                }))),
                Err(nomad::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        }
    }
}

/// Writes the file's version of `spec`; `live` is what was read before deciding (`None`: the
/// object does not exist). `meta` is drover's ownership stamp, for the kinds that carry meta.
/// Returns an ACL role's ID.
pub async fn write(
    client: &Client,
    spec: &Spec,
    live: Option<&Value>,
    meta: &BTreeMap<String, String>,
) -> Result<Option<String>, ObjectError> {
    let body = spec.body(meta);
    match spec.kind {
        Kind::Namespace => client.put_namespace(&spec.name, &body).await?,
        Kind::NodePool => client.put_node_pool(&body).await?,
        Kind::AclPolicy => client.put_acl_policy(&spec.name, &body).await?,
        Kind::AclRole => return write_role(client, body, live).await.map(Some),
        Kind::Variable => write_variable(client, spec, &body, live).await?,
    }
    Ok(None)
}

async fn write_role(
    client: &Client,
    mut body: Value,
    live: Option<&Value>,
) -> Result<String, ObjectError> {
    let written = match live.and_then(|l| l.get("ID")).and_then(Value::as_str) {
        Some(id) => {
            body["ID"] = Value::String(id.to_owned());
            client.update_acl_role(id, &body).await?
        }
        None => client.create_acl_role(&body).await?,
    };
    Ok(written
        .get("ID")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}

async fn write_variable(
    client: &Client,
    spec: &Spec,
    body: &Value,
    live: Option<&Value>,
) -> Result<(), ObjectError> {
    let items: BTreeMap<String, String> = body
        .get("Items")
        .and_then(|i| serde_json::from_value(i.clone()).ok())
        .unwrap_or_default();
    let client = client.in_namespace(spec.namespace.as_deref().unwrap_or("default"));
    match client
        .put_variable(&spec.name, &items, modify_index(live))
        .await
    {
        Ok(_) => Ok(()),
        Err(nomad::Error::LockConflict { .. }) => Err(ObjectError::Conflict),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the object `record` names; `live` is what was read before deciding.
pub async fn delete(
    client: &Client,
    record: &ObjectRecord,
    live: &Value,
) -> Result<(), ObjectError> {
    let name = record.name.as_str();
    match record.kind {
        Kind::Namespace => client.delete_namespace(name).await?,
        Kind::NodePool => client.delete_node_pool(name).await?,
        Kind::AclPolicy => client.delete_acl_policy(name).await?,
        Kind::AclRole => {
            let id = live.get("ID").and_then(Value::as_str).unwrap_or_default();
            client.delete_acl_role(id).await?;
        }
        Kind::Variable => {
            let client = client.in_namespace(record.namespace.as_deref().unwrap_or("default"));
            match client.delete_variable(name, modify_index(Some(live))).await {
                Ok(()) => {}
                Err(nomad::Error::LockConflict { .. }) => return Err(ObjectError::Conflict),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// The index a variable was read at (0: it does not exist), for check-and-set.
fn modify_index(live: Option<&Value>) -> u64 {
    live.and_then(|l| l.get("ModifyIndex"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}
