//! ACL policies and roles: list, read, write, delete, as drover applies them from Git.
//!
//! Owns the calls and their retry safety; bodies are Nomad's JSON as is (a policy's `Name`,
//! `Description`, `Rules`, `JobACL`; a role's `ID`, `Name`, `Description`, `Policies`). Every
//! call needs a management token, and while the cluster runs without ACLs every one fails with
//! [`Error::is_acl_disabled`]. Never manages tokens, and never decides what a policy grants.

use reqwest::Method;
use serde_json::Value;

use super::namespaces::found;
use super::transport::{Call, Retry};
use super::{Client, Error, Query};

impl Client {
    /// `GET /v1/acl/policies`: the policies' stubs (no `Rules`). Retried.
    pub async fn acl_policies(&self) -> Result<Vec<Value>, Error> {
        let call = Call::get("acl policies", &["acl", "policies"]).query(&Query::now());
        Ok(self.read(call).await?.value)
    }

    /// `GET /v1/acl/policy/:name`, rules included; `None` when it does not exist. Retried.
    pub async fn acl_policy(&self, name: &str) -> Result<Option<Value>, Error> {
        let call = Call::get("acl policy", &["acl", "policy", name]).query(&Query::now());
        found(self.read(call).await.map(|r| r.value))
    }

    /// `PUT /v1/acl/policy/:name`: creates the policy or replaces it with `policy` (whose
    /// `Name` must be `name`). Rules Nomad cannot parse are [`Error::Validation`] (400,
    /// `policy 0 invalid: ...`). Retried: writing the same policy twice leaves the same policy.
    pub async fn put_acl_policy(&self, name: &str, policy: &Value) -> Result<(), Error> {
        let call = Call::new(
            "put acl policy",
            Method::PUT,
            &["acl", "policy", name],
            Retry::Transient,
        );
        self.send(call.json(policy)?).await.map(drop)
    }

    /// `DELETE /v1/acl/policy/:name`; deleting a missing policy succeeds. Retried: a replay
    /// deletes nothing more.
    pub async fn delete_acl_policy(&self, name: &str) -> Result<(), Error> {
        let call = Call::new(
            "delete acl policy",
            Method::DELETE,
            &["acl", "policy", name],
            Retry::Transient,
        );
        self.send(call).await.map(drop)
    }

    /// `GET /v1/acl/roles`: every role, with its policy links. Retried.
    pub async fn acl_roles(&self) -> Result<Vec<Value>, Error> {
        let call = Call::get("acl roles", &["acl", "roles"]).query(&Query::now());
        Ok(self.read(call).await?.value)
    }

    /// `GET /v1/acl/role/name/:name`; `None` when no role has that name. Retried.
    pub async fn acl_role_by_name(&self, name: &str) -> Result<Option<Value>, Error> {
        let call = Call::get("acl role", &["acl", "role", "name", name]).query(&Query::now());
        found(self.read(call).await.map(|r| r.value))
    }

    /// `POST /v1/acl/role`: creates a role from `role` (without `ID`) and returns it as stored,
    /// with the `ID` Nomad gave it. A name already taken or a link to a missing policy is
    /// [`Error::Validation`] (400). Never retried: if the first attempt went through, a replay
    /// is refused as a duplicate name and the new role's ID is lost; after a transport error
    /// the caller looks the role up by name instead.
    pub async fn create_acl_role(&self, role: &Value) -> Result<Value, Error> {
        let call = Call::new(
            "create acl role",
            Method::POST,
            &["acl", "role"],
            Retry::Never,
        );
        self.send(call.json(role)?).await?.json()
    }

    /// `POST /v1/acl/role/:id`: replaces role `id` with `role` (whose `ID` must be `id`) and
    /// returns it as stored. Retried: writing the same role twice leaves the same role.
    pub async fn update_acl_role(&self, id: &str, role: &Value) -> Result<Value, Error> {
        let call = Call::new(
            "update acl role",
            Method::POST,
            &["acl", "role", id],
            Retry::Transient,
        );
        self.send(call.json(role)?).await?.json()
    }

    /// `DELETE /v1/acl/role/:id`. An unknown role is [`Error::Api`] (500, `ACL role not
    /// found`). Never retried: a replay after a delete that went through would report the
    /// role missing; the caller reads the roles again instead.
    pub async fn delete_acl_role(&self, id: &str) -> Result<(), Error> {
        let call = Call::new(
            "delete acl role",
            Method::DELETE,
            &["acl", "role", id],
            Retry::Never,
        );
        self.send(call).await.map(drop)
    }
}
