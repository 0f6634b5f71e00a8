//! The simulator's own routes under `/sim/`, for tests that drive it over HTTP (a standalone
//! `nomad-sim` process): the request log, faults, latency, time, namespaces, nodes in node
//! pools, ACL tokens, workload identities, and editing a live job behind drover's back.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control::Fault;
use crate::server::Shared;

/// A JSON body read whatever its `Content-Type` (so `curl -d` works without `-H`).
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = (StatusCode, String);

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sim/requests", get(requests).delete(clear_requests))
        .route("/sim/faults", post(inject).delete(clear_faults))
        .route("/sim/latency", post(latency))
        .route("/sim/leader", post(leader))
        .route("/sim/time/advance", post(advance))
        .route("/sim/time/scale", post(scale))
        .route("/sim/namespaces/{name}", post(namespace))
        .route("/sim/nodes", post(node))
        .route("/sim/nodes/{id}", delete(remove_node))
        .route("/sim/acl/tokens", post(token))
        .route("/sim/identities", post(identity))
        .route("/sim/identities/{secret}", delete(expire_identity))
        .route("/sim/jobs/{namespace}/{id}/edit", post(edit))
}

async fn requests(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(s.requests()))
}

async fn clear_requests(State(s): State<Arc<Shared>>) -> StatusCode {
    s.clear_requests();
    StatusCode::NO_CONTENT
}

async fn inject(State(s): State<Arc<Shared>>, Body(fault): Body<Fault>) -> StatusCode {
    s.inject(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(s): State<Arc<Shared>>) -> StatusCode {
    s.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Millis {
    millis: u64,
}

async fn latency(State(s): State<Arc<Shared>>, Body(m): Body<Millis>) -> StatusCode {
    s.set_latency(Duration::from_millis(m.millis));
    StatusCode::NO_CONTENT
}

async fn advance(State(s): State<Arc<Shared>>, Body(m): Body<Millis>) -> StatusCode {
    s.clock.advance(Duration::from_millis(m.millis));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Leader {
    present: bool,
}

async fn leader(State(s): State<Arc<Shared>>, Body(b): Body<Leader>) -> StatusCode {
    s.set_leader(b.present);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Scale {
    scale: f64,
}

async fn scale(State(s): State<Arc<Shared>>, Body(b): Body<Scale>) -> StatusCode {
    s.clock.set_scale(b.scale);
    StatusCode::NO_CONTENT
}

async fn namespace(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> StatusCode {
    s.with_store(|st| st.add_namespace(&name));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct NodeRequest {
    node_pool: String,
}

/// Registers a node in a node pool (created if missing, as a node's registration does).
async fn node(State(s): State<Arc<Shared>>, Body(b): Body<NodeRequest>) -> Json<Value> {
    Json(json!({"ID": s.add_node(&b.node_pool)}))
}

async fn remove_node(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> StatusCode {
    if s.remove_node(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    rules: Vec<String>,
}

async fn token(State(s): State<Arc<Shared>>, Body(b): Body<TokenRequest>) -> Json<Value> {
    let secret = uuid::Uuid::new_v4().to_string();
    let rules: Vec<&str> = b.rules.iter().map(String::as_str).collect();
    s.with_store(|st| st.acl.add_token(&secret, &rules));
    Json(json!({"SecretID": secret}))
}

#[derive(Deserialize)]
struct IdentityRequest {
    namespace: String,
    job: String,
}

/// A workload identity for a job; asking again for the same job renews it (see
/// [`crate::Sim::workload_identity`]).
async fn identity(State(s): State<Arc<Shared>>, Body(b): Body<IdentityRequest>) -> Json<Value> {
    Json(json!({"Token": s.issue_identity(&b.namespace, &b.job)}))
}

async fn expire_identity(State(s): State<Arc<Shared>>, Path(secret): Path<String>) -> StatusCode {
    if s.with_store(|st| st.acl.expire_identity(&secret)) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

/// Applies the body's top-level fields to the live job and registers it again.
async fn edit(
    State(s): State<Arc<Shared>>,
    Path((ns, id)): Path<(String, String)>,
    Body(patch): Body<Value>,
) -> StatusCode {
    let changed = crate::api::edit_job(&s, &ns, &id, |job| {
        for (k, v) in patch.as_object().into_iter().flatten() {
            job[k.as_str()] = v.clone();
        }
    });
    if changed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}
