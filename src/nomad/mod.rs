//! The HTTP client for Nomad's API (see docs/nomad-api.md).
//!
//! Owns talking to one cluster, over TCP or over the Task API socket Nomad gives a task
//! (`unix:///…/secrets/api.sock`): TLS (custom CA, mTLS, server name, skip-verify), the ACL
//! token or workload identity (re-read on each request), `?namespace=`/`?region=`, timeouts, response size limits, retries
//! of transient failures with backoff, blocking queries, and typed errors. Never makes a
//! business decision: whether to register, when to re-plan after a conflict, or what a failed
//! deployment means belongs to `apply` and `track`.
//!
//! # Layout
//! - [`Client`] (this file): construction and the namespace a handle works in.
//! - `jobs.rs`: parse, plan, register, read, list, deregister, versions, revert.
//! - `deployments.rs`: a job's latest deployment, read/promote/fail, evaluations.
//! - `agent.rs`: leader status and agent version.
//! - `variables.rs`: variable locks for leader election, check-and-set writes and deletes.
//! - `namespaces.rs`, `node_pools.rs`, `acl.rs` (policies and roles): the cluster objects
//!   applied before jobs, as Nomad's JSON.
//! - `blocking.rs`: [`Query`], [`QueryMeta`], [`IndexTracker`].
//! - `transport.rs`: URL, headers, timeout, body limit, retry loop, the [`Observer`] hook.
//! - `needs.rs`: the capability each call needs, named in a permission-denied error.
//! - `error.rs`, `types.rs`; `tls.rs` ([`client_config`], also used by `drover status`).
//!
//! # Retries
//! Reads retry transient failures ([`Error::is_transient`]). A write retries only where a replay
//! cannot act twice; each method's documentation says which it is.

mod acl;
mod agent;
mod blocking;
mod deployments;
mod error;
mod jobs;
mod namespaces;
mod needs;
mod node_pools;
mod tls;
mod transport;
mod types;
mod variables;

use std::sync::Arc;
use std::time::Duration;

pub use blocking::{IndexTracker, MAX_WAIT, Queried, Query, QueryMeta};
pub use error::{Error, MAX_ERROR_TEXT, TokenError, TransportKind};
pub use tls::{TlsError, client_config};
pub use transport::{ObserveFn, Observer};
pub use types::*;
pub use variables::LockRequest;

use crate::config::Cluster;
use transport::{Call, Reply, Transport};

/// Why a [`Client`] cannot be built from a cluster's settings.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cluster {cluster}: address {address} must be http://, https:// or unix:///path")]
    Scheme { cluster: String, address: String },
    #[error("cluster {cluster}: {source}")]
    Tls {
        cluster: String,
        #[source]
        source: TlsError,
    },
    #[error("cluster {cluster}: cannot build the HTTP client: {source}")]
    Http {
        cluster: String,
        #[source]
        source: reqwest::Error,
    },
}

/// The URL requests over the Task API socket are written against: plain HTTP with the
/// loopback host, as Nomad's own API client rewrites a `unix://` address (`api/api.go`).
fn task_api_base() -> url::Url {
    url::Url::parse("http://127.0.0.1/").expect("a constant, valid URL")
}

/// A handle on one Nomad cluster, working in one namespace. Cheap to clone; clones share the
/// connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    transport: Arc<Transport>,
    namespace: Option<String>,
    observer: Option<Observer>,
}

impl Client {
    /// Builds a client from a cluster's settings; reads the TLS files now, the token on each
    /// request.
    pub fn new(cluster: &Cluster) -> Result<Self, BuildError> {
        let socket = cluster.unix_socket();
        let (https, base) = match (cluster.address.scheme(), &socket) {
            ("https", _) => (true, cluster.address.clone()),
            ("http", _) => (false, cluster.address.clone()),
            (_, Some(_)) => (false, task_api_base()),
            _ => {
                let address = cluster.address.to_string();
                return Err(BuildError::Scheme {
                    cluster: cluster.name.clone(),
                    address,
                });
            }
        };
        let tls = tls::client_config(&cluster.tls, https).map_err(|source| BuildError::Tls {
            cluster: cluster.name.clone(),
            source,
        })?;
        let mut builder = reqwest::Client::builder();
        if let Some(path) = socket {
            // Every connection goes to the socket; the URL only gives the path and the Host.
            builder = builder.unix_socket(path);
        }
        let http = builder
            .tls_backend_preconfigured(tls)
            .connect_timeout(cluster.connect_timeout)
            .user_agent(concat!("drover/", env!("CARGO_PKG_VERSION")))
            // Nomad's API never redirects, and reqwest would carry `X-Nomad-Token` (a custom
            // header it does not know is sensitive) to whatever host a redirect names.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| BuildError::Http {
                cluster: cluster.name.clone(),
                source,
            })?;
        let transport = Transport {
            http,
            cluster: cluster.name.clone(),
            base,
            token: cluster.token.clone(),
            region: cluster.region.clone(),
            request_timeout: cluster.request_timeout,
            retry: cluster.retry.clone(),
            max_body: cluster.max_response_bytes,
            blocking_wait: cluster.blocking_wait,
        };
        Ok(Self {
            transport: Arc::new(transport),
            namespace: cluster.namespace.clone(),
            observer: None,
        })
    }

    /// The cluster's `blocking_wait`: how long a watch's blocking query waits for a change.
    pub fn blocking_wait(&self) -> Duration {
        self.transport.blocking_wait
    }

    /// Reports every HTTP attempt of this handle and of the handles made from it to `observer`
    /// (see [`Observer`]); the daemon passes its request-duration metric.
    pub fn with_observer(mut self, observer: Arc<ObserveFn>) -> Self {
        self.observer = Some(Observer(observer));
        self
    }

    /// A handle on the same cluster working in `namespace` (`*` lists jobs of every namespace
    /// the token may list).
    pub fn in_namespace(&self, namespace: impl Into<String>) -> Self {
        Self {
            transport: self.transport.clone(),
            namespace: Some(namespace.into()),
            observer: self.observer.clone(),
        }
    }

    /// The namespace this handle sends (`None`: Nomad's `default`).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    async fn send(&self, call: Call) -> Result<Reply, Error> {
        self.transport
            .execute(self.namespace.as_deref(), &call, self.observer.as_ref())
            .await
    }

    /// Sends a read and decodes its body with the response's metadata.
    async fn read<T: serde::de::DeserializeOwned>(&self, call: Call) -> Result<Queried<T>, Error> {
        let reply = self.send(call).await?;
        Ok(Queried {
            value: reply.json()?,
            meta: reply.meta,
        })
    }
}
