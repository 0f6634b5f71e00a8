//! nomad-sim: a simulator of Nomad's HTTP API (targeting Nomad 1.10), faithful to the API
//! reference in paths, field names, status codes, error texts, blocking queries, check-and-set
//! and deployments that progress on their own, with switches for tests: a request log, fault
//! injection, latency, and simulated time.
//!
//! # Layout
//! - [`jobspec`]: HCL2 job files → API JSON (`/v1/jobs/parse`).
//! - [`canonical`]: defaults, server canonicalisation, validation, spec comparison.
//! - [`diff`]: plan annotations and the job diff.
//! - `state`, `register`, `deployment`, `variables`: the cluster state and how writes change it.
//! - `api`: the HTTP routes; `http`: Nomad's HTTP conventions; `acl`: tokens and workload
//!   identities; `policy`: what an ACL policy's rules grant an identity.
//! - `server`: the process, [`Sim`] and [`SimBuilder`]; `control`: faults and the request log.

mod acl;
mod api;
pub mod canonical;
mod clock;
mod control;
mod deployment;
pub mod diff;
mod filter;
mod http;
pub mod jobspec;
mod policy;
mod register;
mod server;
mod state;
mod variables;

pub use control::{Fault, FaultKind, RequestRecord};
pub use server::{Sim, SimBuilder};

/// An evaluation's JSON: Nomad omits every zero-valued field of an evaluation (docs/nomad-api.md).
pub(crate) fn eval_json(eval: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let zero = |v: &Value| match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    };
    let map = eval.as_object().map(|m| {
        m.iter()
            .filter(|(_, v)| !zero(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    map.map_or(Value::Null, Value::Object)
}
