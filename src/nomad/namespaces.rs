//! Namespaces: list, read, create or update, delete, as drover applies them from Git before
//! anything that lives in them.
//!
//! Owns the calls and their retry safety; bodies are Nomad's JSON as is (`Name`,
//! `Description`, `Quota`, `Meta`, `Capabilities`, `NodePoolConfiguration`, ...), since which
//! fields matter is the caller's business. Never decides whether a namespace should exist.

use reqwest::Method;
use serde_json::Value;

use super::transport::{Call, Retry};
use super::{Client, Error, Query};

impl Client {
    /// `GET /v1/namespaces`: the namespaces the token may see (a capability in them). Retried.
    pub async fn namespaces(&self) -> Result<Vec<Value>, Error> {
        let call = Call::get("namespaces", &["namespaces"]).query(&Query::now());
        Ok(self.read(call).await?.value)
    }

    /// `GET /v1/namespace/:name`; `None` when it does not exist. Retried. (Named apart from
    /// [`Client::namespace`], the namespace this handle works in.)
    pub async fn read_namespace(&self, name: &str) -> Result<Option<Value>, Error> {
        let call = Call::get("namespace", &["namespace", name]).query(&Query::now());
        found(self.read(call).await.map(|r| r.value))
    }

    /// `PUT /v1/namespace/:name`: creates the namespace or replaces all its settings with
    /// `namespace` (whose `Name` must be `name`). Needs a management token. Nomad CE refuses
    /// the Enterprise blocks (`NodePoolConfiguration`, ...) and any `Quota` with a 500
    /// [`Error::Validation`] or [`Error::Api`]. Retried: writing the same record twice leaves
    /// the same namespace.
    pub async fn put_namespace(&self, name: &str, namespace: &Value) -> Result<(), Error> {
        let call = Call::new(
            "put namespace",
            Method::PUT,
            &["namespace", name],
            Retry::Transient,
        );
        self.send(call.json(namespace)?).await.map(drop)
    }

    /// `DELETE /v1/namespace/:name`. Needs a management token. A namespace that still has
    /// non-terminal jobs or allocations, or variables, is refused with [`Error::Validation`]
    /// whose text names each reason ([`Error::is_in_use`]); `default` is refused, and an unknown
    /// namespace fails, with [`Error::Api`] (500, `can not delete default namespace`,
    /// `namespace not found`). Never retried: a replay after a delete that went through would
    /// report the namespace missing; the caller reads the namespaces again instead.
    pub async fn delete_namespace(&self, name: &str) -> Result<(), Error> {
        let call = Call::new(
            "delete namespace",
            Method::DELETE,
            &["namespace", name],
            Retry::Never,
        );
        self.send(call).await.map(drop)
    }
}

/// A read whose 404 means "absent" rather than an error.
pub(super) fn found(read: Result<Value, Error>) -> Result<Option<Value>, Error> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
