//! The Go api package's `Job.Canonicalize()` (api/jobs.go, api/tasks.go, api/services.go,
//! api/resources.go) over api-shaped job JSON: nil pointers become defaults.
//!
//! Owns: api-level defaults and the job → group inheritance of Update, Reschedule and Migrate.
//! Never: server-side conversion (see `server`), validation.

use serde_json::{Map, Value, json};

use super::json::{SEC, each_obj_mut, is_empty, set_default};
use super::services::service;

/// What a group needs to know about its job while being canonicalised.
struct JobCtx {
    name: String,
    kind: String,
    update: Option<Value>,
    reschedule: Option<Value>,
    migrate: Option<Value>,
}

pub fn canonicalize_api(job: &mut Value) {
    let Some(m) = job.as_object_mut() else { return };
    job_scalars(m);
    let kind = m
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("service")
        .to_string();
    if let Some(Value::Object(p)) = m.get_mut("Periodic") {
        periodic(p);
    }
    match m.get_mut("Update") {
        Some(Value::Object(u)) => update(u),
        _ if kind == "service" || kind == "system" => {
            m.insert("Update".into(), default_update());
        }
        _ => {}
    }
    let ctx = JobCtx {
        name: m
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        kind,
        update: get_obj(m, "Update"),
        reschedule: get_obj(m, "Reschedule"),
        migrate: get_obj(m, "Migrate"),
    };
    each_obj_mut(m, "TaskGroups", |g| group(g, &ctx));
    each_obj_mut(m, "Spreads", weight);
    each_obj_mut(m, "Affinities", weight);
}

fn job_scalars(m: &mut Map<String, Value>) {
    set_default(m, "ID", json!(""));
    let id = m.get("ID").cloned().unwrap_or(json!(""));
    set_default(m, "Name", id);
    for (key, val) in [
        ("ParentID", json!("")),
        ("Namespace", json!("default")),
        ("Priority", json!(50)),
        ("Stop", json!(false)),
        ("Region", json!("global")),
        ("NodePool", json!("")),
        ("Type", json!("service")),
        ("AllAtOnce", json!(false)),
        ("ConsulNamespace", json!("")),
        ("VaultNamespace", json!("")),
        ("NomadTokenID", json!("")),
        ("Status", json!("")),
        ("StatusDescription", json!("")),
        ("Stable", json!(false)),
        ("Version", json!(0)),
        ("CreateIndex", json!(0)),
        ("ModifyIndex", json!(0)),
        ("JobModifyIndex", json!(0)),
    ] {
        set_default(m, key, val);
    }
}

fn periodic(p: &mut Map<String, Value>) {
    for (key, val) in [
        ("Enabled", json!(true)),
        ("SpecType", json!("cron")),
        ("ProhibitOverlap", json!(false)),
        ("TimeZone", json!("UTC")),
    ] {
        set_default(p, key, val);
    }
}

fn default_update() -> Value {
    json!({
        "Stagger": 30 * SEC, "MaxParallel": 1, "HealthCheck": "checks",
        "MinHealthyTime": 10 * SEC, "HealthyDeadline": 300 * SEC,
        "ProgressDeadline": 600 * SEC, "AutoRevert": false, "AutoPromote": false, "Canary": 0
    })
}

fn update(u: &mut Map<String, Value>) {
    if let Value::Object(d) = default_update() {
        for (key, val) in d {
            set_default(u, &key, val);
        }
    }
}

/// api UpdateStrategy.Empty(): no field set to a non-zero value.
fn update_is_empty(u: &Value) -> bool {
    u.as_object().is_none_or(|m| {
        m.values()
            .all(|v| is_empty(Some(v)) || *v == json!(0) || *v == json!("") || *v == json!(false))
    })
}

/// `base` with every non-null field of `over` written on top (the api `Merge` methods).
pub(super) fn merged(base: &Value, over: &Value) -> Value {
    let mut out = base.as_object().cloned().unwrap_or_default();
    if let Some(o) = over.as_object() {
        for (k, v) in o.iter().filter(|(_, v)| !v.is_null()) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn group(g: &mut Map<String, Value>, job: &JobCtx) {
    set_default(g, "Name", json!(""));
    let scaling_min = g
        .get("Scaling")
        .and_then(|s| s.get("Min"))
        .filter(|v| !v.is_null())
        .cloned();
    set_default(g, "Count", scaling_min.unwrap_or(json!(1)));
    disk(g);
    group_update(g, job);
    group_reschedule(g, job);
    group_migrate(g, job);
    let restart = restart_defaults(&job.kind);
    let own = g.get("RestartPolicy").cloned().unwrap_or(Value::Null);
    g.insert("RestartPolicy".into(), merged(&restart, &own));
    let group_name = g
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let group_restart = g.get("RestartPolicy").cloned().unwrap_or(Value::Null);
    each_obj_mut(g, "Tasks", |t| {
        task(t, &group_restart, &job.name, &group_name)
    });
    each_obj_mut(g, "Spreads", weight);
    each_obj_mut(g, "Affinities", weight);
    each_obj_mut(g, "Services", |s| {
        service(s, &format!("{}-{}", job.name, group_name))
    });
    if let Some(Value::Object(d)) = g.get_mut("Disconnect") {
        set_default(d, "Replace", json!(true));
        set_default(d, "Reconcile", json!("best_score"));
    }
}

fn disk(g: &mut Map<String, Value>) {
    let d = g.entry("EphemeralDisk").or_insert(Value::Null);
    if !d.is_object() {
        *d = json!({});
    }
    if let Some(d) = d.as_object_mut() {
        set_default(d, "Sticky", json!(false));
        set_default(d, "Migrate", json!(false));
        set_default(d, "SizeMB", json!(300));
    }
}

fn group_update(g: &mut Map<String, Value>, job: &JobCtx) {
    let own = get_obj(g, "Update");
    let next = match (&job.update, own) {
        (Some(ju), Some(tu)) => Some(merged(ju, &tu)),
        (Some(ju), None) if !update_is_empty(ju) => Some(ju.clone()),
        (_, own) => own,
    };
    if let Some(mut u) = next {
        if let Some(m) = u.as_object_mut() {
            update(m);
        }
        g.insert("Update".into(), u);
    }
}

fn group_reschedule(g: &mut Map<String, Value>, job: &JobCtx) {
    let own = get_obj(g, "ReschedulePolicy");
    let mut next = match (&job.reschedule, own) {
        (Some(jr), Some(tr)) => Some(merged(jr, &tr)),
        (Some(jr), None) => Some(jr.clone()),
        (None, own) => own,
    };
    if next.is_none() && job.kind != "sysbatch" && job.kind != "system" {
        next = Some(json!({}));
    }
    if let Some(r) = next {
        g.insert(
            "ReschedulePolicy".into(),
            merged(&reschedule_defaults(&job.kind), &r),
        );
    }
}

fn group_migrate(g: &mut Map<String, Value>, job: &JobCtx) {
    let own = get_obj(g, "Migrate");
    let mut next = match (&job.migrate, own) {
        (Some(jm), Some(tm)) => Some(merged(jm, &tm)),
        (Some(jm), None) => Some(jm.clone()),
        (None, own) => own,
    };
    if next.is_none() && job.kind == "service" {
        next = Some(json!({}));
    }
    if let Some(m) = next {
        let defaults = json!({"MaxParallel": 1, "HealthCheck": "checks",
            "MinHealthyTime": 10 * SEC, "HealthyDeadline": 300 * SEC});
        g.insert("Migrate".into(), merged(&defaults, &m));
    }
}

fn get_obj(m: &Map<String, Value>, key: &str) -> Option<Value> {
    m.get(key).filter(|v| v.is_object()).cloned()
}

/// api NewDefaultReschedulePolicy(jobType).
fn reschedule_defaults(kind: &str) -> Value {
    match kind {
        "service" => json!({"Attempts": 0, "Interval": 0, "Delay": 30 * SEC,
            "DelayFunction": "exponential", "MaxDelay": 3600 * SEC, "Unlimited": true}),
        "batch" => json!({"Attempts": 1, "Interval": 24 * 3600 * SEC, "Delay": 5 * SEC,
            "DelayFunction": "constant", "MaxDelay": 0, "Unlimited": false}),
        _ => json!({"Attempts": 0, "Interval": 0, "Delay": 0,
            "DelayFunction": "", "MaxDelay": 0, "Unlimited": false}),
    }
}

/// api defaultServiceJobRestartPolicy / defaultBatchJobRestartPolicy.
fn restart_defaults(kind: &str) -> Value {
    let (attempts, interval) = match kind {
        "service" | "system" => (2, 30 * 60 * SEC),
        _ => (3, 24 * 3600 * SEC),
    };
    json!({"Interval": interval, "Attempts": attempts, "Delay": 15 * SEC,
        "Mode": "fail", "RenderTemplates": false})
}

fn weight(m: &mut Map<String, Value>) {
    set_default(m, "Weight", json!(50));
}

fn task(t: &mut Map<String, Value>, group_restart: &Value, job: &str, group: &str) {
    resources(t.entry("Resources").or_insert(Value::Null));
    set_default(t, "KillTimeout", json!(5 * SEC));
    let log = t.entry("LogConfig").or_insert(Value::Null);
    if !log.is_object() {
        *log = json!({});
    }
    if let Some(l) = log.as_object_mut() {
        set_default(l, "MaxFiles", json!(10));
        set_default(l, "MaxFileSizeMB", json!(10));
        set_default(l, "Disabled", json!(false));
    }
    each_obj_mut(t, "Artifacts", artifact);
    if let Some(Value::Object(v)) = t.get_mut("Vault") {
        vault(v);
    }
    each_obj_mut(t, "Templates", template);
    let name = t
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    each_obj_mut(t, "Services", |s| {
        service(s, &format!("{job}-{group}-{name}"))
    });
    each_obj_mut(t, "Affinities", weight);
    each_obj_mut(t, "VolumeMounts", |vm| {
        set_default(vm, "PropagationMode", json!("private"));
        set_default(vm, "ReadOnly", json!(false));
        set_default(vm, "SELinuxLabel", json!(""));
    });
    let own = t.get("RestartPolicy").cloned().unwrap_or(Value::Null);
    t.insert("RestartPolicy".into(), merged(group_restart, &own));
}

fn resources(r: &mut Value) {
    if !r.is_object() {
        *r = json!({});
    }
    let Some(m) = r.as_object_mut() else { return };
    if m.get("Cores").is_none_or(Value::is_null) {
        m.insert("Cores".into(), json!(0));
        set_default(m, "CPU", json!(100));
    }
    set_default(m, "CPU", json!(0));
    set_default(m, "MemoryMB", json!(300));
}

fn artifact(a: &mut Map<String, Value>) {
    set_default(a, "GetterMode", json!("any"));
    set_default(a, "GetterInsecure", json!(false));
    set_default(a, "GetterSource", json!(""));
    for key in ["GetterOptions", "GetterHeaders"] {
        if is_empty(a.get(key)) {
            a.insert(key.into(), Value::Null);
        }
    }
    if a.get("RelativeDest").is_none_or(Value::is_null) {
        let dest = match a.get("GetterMode").and_then(Value::as_str) {
            Some("file") => {
                let src = a.get("GetterSource").and_then(Value::as_str).unwrap_or("");
                format!("local/{}", src.rsplit('/').next().unwrap_or(src))
            }
            _ => "local/".to_string(),
        };
        a.insert("RelativeDest".into(), json!(dest));
    }
}

fn vault(v: &mut Map<String, Value>) {
    for (key, val) in [
        ("Env", json!(true)),
        ("DisableFile", json!(false)),
        ("Namespace", json!("")),
        ("ChangeMode", json!("restart")),
        ("ChangeSignal", json!("SIGHUP")),
        ("AllowTokenExpiration", json!(false)),
    ] {
        set_default(v, key, val);
    }
    if v.get("Cluster")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        v.insert("Cluster".into(), json!("default"));
    }
}

fn template(t: &mut Map<String, Value>) {
    set_default(t, "SourcePath", json!(""));
    set_default(t, "DestPath", json!(""));
    set_default(t, "EmbeddedTmpl", json!(""));
    set_default(t, "ChangeMode", json!("restart"));
    let signal = match t.get("ChangeSignal").and_then(Value::as_str) {
        Some(s) => s.to_uppercase(),
        None if t.get("ChangeMode").and_then(Value::as_str) == Some("signal") => "SIGHUP".into(),
        None => String::new(),
    };
    t.insert("ChangeSignal".into(), json!(signal));
    if let Some(Value::Object(cs)) = t.get_mut("ChangeScript") {
        set_default(cs, "Command", json!(""));
        set_default(cs, "Args", json!([]));
        set_default(cs, "Timeout", json!(5 * SEC));
        set_default(cs, "FailOnError", json!(false));
        set_default(cs, "RunOnFirstRender", json!(false));
    }
    for (key, val) in [
        ("Once", json!(false)),
        ("Splay", json!(5 * SEC)),
        ("Perms", json!("0644")),
        ("LeftDelim", json!("{{")),
        ("RightDelim", json!("}}")),
        ("Envvars", json!(false)),
        ("ErrMissingKey", json!(false)),
        ("VaultGrace", json!(0)),
    ] {
        set_default(t, key, val);
    }
}
