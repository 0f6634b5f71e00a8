//! The api package's Service.Canonicalize and check defaults (api/services.go).
//!
//! Owns: service names, address mode, provider, check restart inheritance. Never: the server-side
//! service canonicalisation (see `server`).

use serde_json::{Map, Value, json};

use super::api::merged;
use super::json::{SEC, each_obj_mut, is_empty, set_default};

/// api Service.Canonicalize; `default_name` is `<job>-<group>[-<task>]`.
pub(super) fn service(s: &mut Map<String, Value>, default_name: &str) {
    for (key, val) in [
        ("Name", json!(default_name)),
        ("AddressMode", json!("auto")),
        ("OnUpdate", json!("require_healthy")),
        ("Provider", json!("consul")),
        ("Cluster", json!("default")),
    ] {
        if s.get(key).and_then(Value::as_str).unwrap_or("").is_empty() {
            s.insert(key.into(), val);
        }
    }
    for key in ["Meta", "CanaryMeta", "TaggedAddresses"] {
        if is_empty(s.get(key)) {
            s.insert(key.into(), Value::Null);
        }
    }
    let on_update = s.get("OnUpdate").cloned().unwrap_or(Value::Null);
    let restart = s.get("CheckRestart").cloned().unwrap_or(Value::Null);
    each_obj_mut(s, "Checks", |c| check(c, &restart, &on_update));
}

fn check(c: &mut Map<String, Value>, service_restart: &Value, on_update: &Value) {
    let own = c.get("CheckRestart").cloned().unwrap_or(Value::Null);
    let mut cr = match (service_restart.is_object(), own.is_object()) {
        (_, true) => merged(service_restart, &own),
        (true, false) => service_restart.clone(),
        (false, false) => Value::Null,
    };
    if let Some(m) = cr.as_object_mut() {
        set_default(m, "Grace", json!(SEC));
    }
    c.insert("CheckRestart".into(), cr);
    for key in [
        "SuccessBeforePassing",
        "FailuresBeforeCritical",
        "FailuresBeforeWarning",
    ] {
        if c.get(key).and_then(Value::as_i64).is_some_and(|n| n < 0) {
            c.insert(key.into(), json!(0));
        }
    }
    if c.get("OnUpdate")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        c.insert("OnUpdate".into(), on_update.clone());
    }
}
