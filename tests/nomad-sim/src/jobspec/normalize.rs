//! jobspec2 parse_job.go `normalizeJob`, applied to the decoded JSON: ID/Name from the label,
//! periodic spec type, job-level tasks as their own groups, job `vault`/`secret` handed to tasks,
//! template and vault defaults, dynamic ports with a static value moved to `ReservedPorts`, and
//! the default workload identity moved to `Task.Identity`.
//!
//! It fills only what jobspec2 itself fills; api `Canonicalize()` defaults are not its business.

use super::schema::TASK_GROUP;
use serde_json::{Map, Value, json};

pub(super) struct JobExtras {
    pub id: String,
    pub vault: Option<Value>,
    pub secrets: Vec<Value>,
    pub tasks: Vec<Value>,
}

pub(super) fn job(j: &mut Map<String, Value>, mut extras: JobExtras) {
    for key in ["Name", "ID"] {
        if j.get(key).is_none_or(Value::is_null) {
            j.insert(key.into(), Value::String(extras.id.clone()));
        }
    }
    if let Some(p) = j.get_mut("Periodic").filter(|p| p.is_object())
        && (!p["Spec"].is_null() || !p["Specs"].is_null())
    {
        p["SpecType"] = json!("cron");
    }
    if let Some(v) = extras.vault.as_mut() {
        vault(v);
    }
    if !extras.tasks.is_empty() {
        let mut groups: Vec<Value> = extras.tasks.drain(..).map(alone_group).collect();
        if let Some(Value::Array(existing)) = j.get("TaskGroups") {
            groups.extend(existing.iter().cloned());
        }
        j.insert("TaskGroups".into(), Value::Array(groups));
    }
    if let Some(Value::Array(groups)) = j.get_mut("TaskGroups") {
        for g in groups.iter_mut() {
            group(g, &extras);
        }
    }
}

/// A job-level `task` becomes a group of its own name holding just that task.
fn alone_group(t: Value) -> Value {
    let mut g = Map::new();
    for fd in TASK_GROUP.fields {
        if let Some(z) = fd.zero.value() {
            g.insert(fd.json.into(), z);
        }
    }
    g.insert("Name".into(), t["Name"].clone());
    g.insert("Tasks".into(), Value::Array(vec![t]));
    Value::Object(g)
}

fn group(g: &mut Value, extras: &JobExtras) {
    ports(g.get_mut("Networks"));
    let Some(Value::Array(tasks)) = g.get_mut("Tasks") else {
        return;
    };
    for t in tasks.iter_mut() {
        if let Some(r) = t.get_mut("Resources").filter(|r| r.is_object()) {
            ports(r.get_mut("Networks"));
        }
        if let Some(Value::Array(ts)) = t.get_mut("Templates") {
            ts.iter_mut().for_each(template);
        }
        if t["Vault"].is_object() {
            vault(&mut t["Vault"]);
        } else if let Some(v) = &extras.vault {
            t["Vault"] = v.clone();
        }
        if !extras.secrets.is_empty() {
            match t.get_mut("Secrets") {
                Some(Value::Array(own)) if !own.is_empty() => {
                    own.extend(extras.secrets.iter().cloned())
                }
                _ => t["Secrets"] = Value::Array(extras.secrets.clone()),
            }
        }
        default_identity(t);
    }
}

fn set_if_null(v: &mut Value, key: &str, default: Value) {
    if v[key].is_null() {
        v[key] = default;
    }
}

fn vault(v: &mut Value) {
    set_if_null(v, "Env", json!(true));
    set_if_null(v, "DisableFile", json!(false));
    set_if_null(v, "ChangeMode", json!("restart"));
}

fn template(t: &mut Value) {
    set_if_null(t, "ChangeMode", json!("restart"));
    set_if_null(t, "Perms", json!("0644"));
    set_if_null(t, "Splay", json!(5_000_000_000_i64));
    set_if_null(t, "ErrMissingKey", json!(false));
    if let Some(cs) = t.get_mut("ChangeScript").filter(|c| c.is_object()) {
        set_if_null(cs, "Args", json!([]));
        set_if_null(cs, "Timeout", json!(5_000_000_000_i64));
        set_if_null(cs, "FailOnError", json!(false));
        set_if_null(cs, "RunOnFirstRender", json!(false));
    }
}

/// `port` blocks decode into DynamicPorts; those with a static value are reserved ports.
fn ports(networks: Option<&mut Value>) {
    let Some(Value::Array(nets)) = networks else {
        return;
    };
    for n in nets.iter_mut() {
        let Some(Value::Array(dynamic)) = n.get("DynamicPorts").cloned() else {
            continue;
        };
        if dynamic.is_empty() {
            continue;
        }
        let (reserved, dynamic): (Vec<Value>, Vec<Value>) = dynamic
            .into_iter()
            .partition(|p| p["Value"].as_i64().is_some_and(|v| v > 0));
        n["DynamicPorts"] = if dynamic.is_empty() {
            Value::Null
        } else {
            Value::Array(dynamic)
        };
        n["ReservedPorts"] = if reserved.is_empty() {
            Value::Null
        } else {
            Value::Array(reserved)
        };
    }
}

/// The identity named "" or "default" moves from Identities to Identity (pre-1.7 compatibility).
fn default_identity(t: &mut Value) {
    let Some(Value::Array(ids)) = t.get_mut("Identities") else {
        return;
    };
    let Some(i) = ids
        .iter()
        .position(|w| matches!(w["Name"].as_str(), Some("" | "default")))
    else {
        return;
    };
    let id = ids.remove(i);
    t["Identity"] = id;
}
