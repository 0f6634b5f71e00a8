//! Agent and status endpoints: `/v1/status/leader`, `/v1/agent/self`, `/v1/agent/health`
//! (docs/nomad-api.md). None carries index headers.

use std::sync::Arc;

use axum::extract::State;
use serde_json::json;

use super::Req;
use crate::http::{ApiError, ApiResult, json as respond};
use crate::server::Shared;

/// The Nomad version the simulator models, and reports until a test upgrades it.
pub(crate) const NOMAD_VERSION: &str = "1.10.5";

pub(crate) async fn leader(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_get()?;
    let leader = shared.with_store(|s| s.leader.clone()).unwrap_or_default();
    Ok(respond(&json!(leader), None, req.query.pretty))
}

pub(crate) async fn agent_self(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_get()?;
    let (region, version_text) = shared.with_store(|s| {
        if s.acl.allows(&req.caller, "default", "agent:read") {
            Ok((s.region.clone(), s.version.clone()))
        } else {
            Err(ApiError::permission_denied())
        }
    })?;
    let version = json!({"BuildDate": "2025-01-01T00:00:00Z", "Revision": "nomad-sim", "Version": version_text,
        "VersionPrerelease": "", "VersionMetadata": ""});
    let body = json!({
        "config": {"Region": region, "Datacenter": "dc1", "NodeName": "nomad-sim", "Version": version},
        "member": {"Name": "nomad-sim.global", "Addr": "127.0.0.1", "Port": 4648, "Status": "alive",
            "Tags": {"build": version_text, "region": region, "dc": "dc1", "role": "nomad"}},
        "stats": {},
    });
    Ok(respond(&body, None, req.query.pretty))
}

pub(crate) async fn health(State(shared): State<Arc<Shared>>, req: Req) -> ApiResult {
    req.require_get()?;
    let has_leader = shared.with_store(|s| s.leader.is_some());
    if has_leader {
        Ok(respond(
            &json!({"server": {"ok": true, "message": "ok"}}),
            None,
            false,
        ))
    } else {
        Err(ApiError::internal(
            json!({"server": {"ok": false, "message": "no leader"}}).to_string(),
        ))
    }
}
