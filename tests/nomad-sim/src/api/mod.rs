//! The HTTP routes: Nomad's API under `/v1/` and the simulator's control routes under `/sim/`.
//! Each handler checks the method, the ACL capability, decodes the request the way Nomad's HTTP
//! layer does, and calls into the state; every unknown route is a `404` with an empty body.

mod acl_policies;
mod acl_roles;
mod agent;
mod control;
mod deployments;
mod job_reads;
mod jobs;
mod namespaces;
mod node_pools;
mod records;
mod variables;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use serde_json::Value;

use crate::acl::Caller;
use crate::http::{ApiError, Query};
use crate::server::Shared;

/// Largest request body read (a job with inlined files is far smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/jobs", any(jobs::jobs))
        .route("/v1/jobs/parse", any(jobs::parse))
        .route("/v1/job/{id}", any(jobs::job))
        .route("/v1/job/{id}/plan", any(jobs::plan))
        .route("/v1/job/{id}/revert", any(jobs::revert))
        .route("/v1/job/{id}/versions", any(job_reads::versions))
        .route("/v1/job/{id}/summary", any(job_reads::summary))
        .route("/v1/job/{id}/submission", any(job_reads::submission))
        .route("/v1/job/{id}/evaluations", any(job_reads::evaluations))
        .route("/v1/job/{id}/deployment", any(job_reads::latest_deployment))
        .route("/v1/job/{id}/deployments", any(job_reads::deployments))
        .route("/v1/evaluation/{id}", any(deployments::evaluation))
        .route("/v1/deployments", any(deployments::list))
        .route("/v1/deployment/{id}", any(deployments::read))
        .route("/v1/deployment/promote/{id}", any(deployments::promote))
        .route("/v1/deployment/fail/{id}", any(deployments::fail))
        .route("/v1/vars", any(variables::list))
        .route("/v1/var/{*path}", any(variables::variable))
        .route("/v1/namespaces", any(namespaces::namespaces))
        .route("/v1/namespace/{name}", any(namespaces::namespace))
        .route("/v1/node/pools", any(node_pools::pools))
        .route("/v1/node/pool/{name}", any(node_pools::pool))
        .route("/v1/acl/policies", any(acl_policies::policies))
        .route("/v1/acl/policy/{name}", any(acl_policies::policy))
        .route("/v1/acl/roles", any(acl_roles::roles))
        .route("/v1/acl/role", any(acl_roles::create))
        .route("/v1/acl/role/{id}", any(acl_roles::role))
        .route("/v1/acl/role/name/{name}", any(acl_roles::by_name))
        .route("/v1/status/leader", any(agent::leader))
        .route("/v1/agent/self", any(agent::agent_self))
        .route("/v1/agent/health", any(agent::health))
        .merge(control::routes())
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::control::middleware,
        ))
        .with_state(shared)
}

/// What every handler needs from a request.
pub(crate) struct Req {
    pub method: Method,
    pub query: Query,
    pub caller: Caller,
    pub body: Bytes,
}

impl Req {
    pub(crate) fn is_write(&self) -> bool {
        self.method == Method::PUT || self.method == Method::POST
    }

    pub(crate) fn require_write(&self) -> Result<(), ApiError> {
        if self.is_write() {
            Ok(())
        } else {
            Err(ApiError::invalid_method())
        }
    }

    pub(crate) fn require_get(&self) -> Result<(), ApiError> {
        if self.method == Method::GET {
            Ok(())
        } else {
            Err(ApiError::invalid_method())
        }
    }

    pub(crate) fn json_body(&self) -> Result<Value, ApiError> {
        crate::http::decode_body(&self.body)
    }
}

impl FromRequest<Arc<Shared>> for Req {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        let raw: HashMap<String, String> = axum::extract::Query::try_from_uri(req.uri())
            .map(|q| q.0)
            .unwrap_or_default();
        let query = Query::parse(raw).map_err(IntoResponse::into_response)?;
        let method = req.method().clone();
        let headers = req.headers().clone();
        let caller = shared.with_store(|s| s.acl.caller(&headers));
        let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()).into_response())?;
        Ok(Self {
            method,
            query,
            caller,
            body,
        })
    }
}

pub(crate) use agent::NOMAD_VERSION;
pub(crate) use jobs::edit_job;
