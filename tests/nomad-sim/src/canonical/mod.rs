//! Job canonicalisation: the api defaults Nomad's HTTP layer applies to a submitted job, the
//! stored server-side job built from it, change detection and validation.
//!
//! Owns: pure functions over `serde_json::Value` jobs with Nomad's field names.
//! Never: I/O, state, indexes or versions (the state store sets the server-owned fields).

pub(crate) mod json;

mod api;
mod server;
mod services;
#[cfg(test)]
mod tests;
mod validate;

use serde_json::Value;

pub use api::canonicalize_api;
pub use server::server_job;
pub(crate) use server::{NETWORK, PORT};
pub use validate::validate;

/// The fields Job.SpecChanged (nomad/structs/structs.go) copies from the old job before the
/// deep comparison, so that they never count as a change.
const SERVER_OWNED: &[&str] = &[
    "Status",
    "StatusDescription",
    "Stable",
    "Version",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "SubmitTime",
];

/// Nomad's Job.SpecChanged.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let mut candidate = new.clone();
    if let Some(m) = candidate.as_object_mut() {
        for key in SERVER_OWNED {
            match old.get(*key) {
                Some(v) => m.insert((*key).to_string(), v.clone()),
                None => m.remove(*key),
            };
        }
    }
    *old != candidate
}
