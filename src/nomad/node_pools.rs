//! Node pools: list, read, create or update, delete, as drover applies them from Git before
//! the jobs placed in them.
//!
//! Owns the calls and their retry safety; bodies are Nomad's JSON as is (`Name`,
//! `Description`, `Meta`, `SchedulerConfiguration`). Never decides whether a pool should exist,
//! and never touches the built-in `all` and `default`, which Nomad refuses to change.

use reqwest::Method;
use serde_json::Value;

use super::namespaces::found;
use super::transport::{Call, Retry};
use super::{Client, Error, Query};

impl Client {
    /// `GET /v1/node/pools`: the pools the token may read, built-in ones included. Retried.
    pub async fn node_pools(&self) -> Result<Vec<Value>, Error> {
        let call = Call::get("node pools", &["node", "pools"]).query(&Query::now());
        Ok(self.read(call).await?.value)
    }

    /// `GET /v1/node/pool/:name`; `None` when it does not exist. Retried.
    pub async fn node_pool(&self, name: &str) -> Result<Option<Value>, Error> {
        let call = Call::get("node pool", &["node", "pool", name]).query(&Query::now());
        found(self.read(call).await.map(|r| r.value))
    }

    /// `PUT /v1/node/pools`: creates the pool named by `pool`'s `Name` or replaces all its
    /// settings. Needs the pool's `write` capability. A built-in pool or an invalid one is
    /// [`Error::Validation`] (400); Nomad CE refuses a `SchedulerConfiguration` with
    /// [`Error::Api`] (500). Retried: writing the same record twice leaves the same pool.
    pub async fn put_node_pool(&self, pool: &Value) -> Result<(), Error> {
        let call = Call::new(
            "put node pool",
            Method::PUT,
            &["node", "pools"],
            Retry::Transient,
        );
        self.send(call.json(pool)?).await.map(drop)
    }

    /// `DELETE /v1/node/pool/:name`. Needs the pool's `delete` capability. A pool that still
    /// has nodes or non-terminal jobs is refused with [`Error::Validation`] whose text names
    /// each reason ([`Error::is_in_use`]); a built-in or unknown pool with [`Error::Api`]
    /// (500). Never retried: a replay after a delete that went through would report the pool
    /// missing; the caller reads the pools again instead.
    pub async fn delete_node_pool(&self, name: &str) -> Result<(), Error> {
        let call = Call::new(
            "delete node pool",
            Method::DELETE,
            &["node", "pool", name],
            Retry::Never,
        );
        self.send(call).await.map(drop)
    }
}
