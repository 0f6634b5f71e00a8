//! The stored server job: command/agent/job_endpoint.go `ApiJobToStructJob` followed by
//! nomad/structs/structs.go `Job.Canonicalize` and the node-pool admission mutator.
//!
//! Owns: the structs.Job JSON shape (every field, Go field order, zero values, empty → null).
//! Never: api defaults (the input is already api-canonical), server-owned values beyond zero.

use serde_json::{Map, Value, json};

use super::json::{Zero, Zero::*, arr_of, get, int_of, map_list, nil_if_empty, shape, str_of};

#[rustfmt::skip]
const JOB: &[(&str, Zero)] = &[
    ("Stop", Bool), ("Region", Str), ("Namespace", Str), ("ID", Str), ("ParentID", Str),
    ("Name", Str), ("Type", Str), ("Priority", Int), ("AllAtOnce", Bool), ("Datacenters", Null),
    ("NodePool", Str), ("Constraints", Null), ("Affinities", Null), ("Spreads", Null),
    ("TaskGroups", Null), ("Update", Null), ("Multiregion", Null), ("Periodic", Null),
    ("ParameterizedJob", Null), ("Dispatched", Bool), ("DispatchIdempotencyToken", Str),
    ("Payload", Null), ("Meta", Null), ("ConsulNamespace", Str), ("VaultNamespace", Str),
    ("NomadTokenID", Str), ("Status", Str), ("StatusDescription", Str), ("Stable", Bool),
    ("Version", Int), ("SubmitTime", Int), ("CreateIndex", Int), ("ModifyIndex", Int),
    ("JobModifyIndex", Int), ("UI", Null), ("VersionTag", Null),
];

/// The api fields ApiJobToStructJob does not copy: they keep their zero value.
#[rustfmt::skip]
const NOT_COPIED: &[&str] = &[
    "ParentID",
    "Dispatched",
    "DispatchIdempotencyToken",
    "ConsulNamespace",
    "NomadTokenID",
    "Status",
    "StatusDescription",
    "Stable",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
];

#[rustfmt::skip]
const GROUP: &[(&str, Zero)] = &[
    ("Name", Str), ("Count", Int), ("Update", Null), ("Migrate", Null), ("Constraints", Null),
    ("Scaling", Null), ("RestartPolicy", Null), ("Disconnect", Null), ("Tasks", Null),
    ("EphemeralDisk", Null), ("Meta", Null), ("ReschedulePolicy", Null), ("Affinities", Null),
    ("Spreads", Null), ("Networks", Null), ("Consul", Null), ("Services", Null), ("Volumes", Null),
    ("ShutdownDelay", Null), ("MaxRunDuration", Null), ("StopAfterClientDisconnect", Null),
    ("MaxClientDisconnect", Null), ("PreventRescheduleOnLost", Bool),
];

#[rustfmt::skip]
const TASK: &[(&str, Zero)] = &[
    ("Name", Str), ("Driver", Str), ("User", Str), ("Config", Null), ("Env", Null),
    ("Services", Null), ("Vault", Null), ("Secrets", Null), ("Consul", Null), ("Templates", Null),
    ("Constraints", Null), ("Affinities", Null), ("Resources", Null), ("RestartPolicy", Null),
    ("DispatchPayload", Null), ("Lifecycle", Null), ("Meta", Null), ("KillTimeout", Int),
    ("LogConfig", Null), ("Artifacts", Null), ("Leader", Bool), ("ShutdownDelay", Int),
    ("VolumeMounts", Null), ("ScalingPolicies", Null), ("KillSignal", Str), ("Kind", Str),
    ("CSIPluginConfig", Null), ("Identity", Null), ("Identities", Null), ("Actions", Null),
    ("Schedule", Null),
];

#[rustfmt::skip]
pub(crate) const UPDATE: &[(&str, Zero)] = &[
    ("Stagger", Int), ("MaxParallel", Int), ("HealthCheck", Str), ("MinHealthyTime", Int),
    ("HealthyDeadline", Int), ("ProgressDeadline", Int), ("AutoRevert", Bool),
    ("AutoPromote", Bool), ("Canary", Int),
];
#[rustfmt::skip]
const RESTART: &[(&str, Zero)] = &[
    ("Attempts", Int), ("Interval", Int), ("Delay", Int), ("Mode", Str), ("RenderTemplates", Bool),
];
#[rustfmt::skip]
const RESCHEDULE: &[(&str, Zero)] = &[
    ("Attempts", Int), ("Interval", Int), ("Delay", Int), ("DelayFunction", Str), ("MaxDelay", Int),
    ("Unlimited", Bool),
];
#[rustfmt::skip]
const MIGRATE: &[(&str, Zero)] = &[
    ("MaxParallel", Int), ("HealthCheck", Str), ("MinHealthyTime", Int), ("HealthyDeadline", Int),
];
#[rustfmt::skip]
const DISK: &[(&str, Zero)] = &[
    ("Sticky", Bool), ("SizeMB", Int), ("Migrate", Bool),
];
#[rustfmt::skip]
const LOG: &[(&str, Zero)] = &[
    ("MaxFiles", Int), ("MaxFileSizeMB", Int), ("Disabled", Bool),
];
#[rustfmt::skip]
const CONSTRAINT: &[(&str, Zero)] = &[
    ("LTarget", Str), ("RTarget", Str), ("Operand", Str),
];
#[rustfmt::skip]
const AFFINITY: &[(&str, Zero)] = &[
    ("LTarget", Str), ("RTarget", Str), ("Operand", Str), ("Weight", Int),
];
#[rustfmt::skip]
const RESOURCES: &[(&str, Zero)] = &[
    ("CPU", Int), ("Cores", Int), ("MemoryMB", Int), ("MemoryMaxMB", Int), ("DiskMB", Int),
    ("IOPS", Int), ("Networks", Null), ("Devices", Null), ("NUMA", Null), ("SecretsMB", Int),
];
#[rustfmt::skip]
const TEMPLATE: &[(&str, Zero)] = &[
    ("SourcePath", Str), ("DestPath", Str), ("EmbeddedTmpl", Str), ("ChangeMode", Str),
    ("ChangeSignal", Str), ("ChangeScript", Null), ("Once", Bool), ("Splay", Int), ("Perms", Str),
    ("Uid", Null), ("Gid", Null), ("LeftDelim", Str), ("RightDelim", Str), ("Envvars", Bool),
    ("VaultGrace", Int), ("Wait", Null), ("ErrMissingKey", Bool),
];
#[rustfmt::skip]
const ARTIFACT: &[(&str, Zero)] = &[
    ("GetterSource", Str), ("GetterOptions", Null), ("GetterHeaders", Null), ("GetterMode", Str),
    ("GetterInsecure", Bool), ("RelativeDest", Str), ("Chown", Bool),
];
#[rustfmt::skip]
const SERVICE: &[(&str, Zero)] = &[
    ("Name", Str), ("TaskName", Str), ("PortLabel", Str), ("AddressMode", Str), ("Address", Str),
    ("EnableTagOverride", Bool), ("Tags", Null), ("CanaryTags", Null), ("Checks", Null),
    ("Connect", Null), ("Meta", Null), ("CanaryMeta", Null), ("Weights", Null),
    ("TaggedAddresses", Null), ("Namespace", Str), ("OnUpdate", Str), ("Provider", Str),
    ("Cluster", Str), ("Identity", Null), ("Kind", Str),
];
#[rustfmt::skip]
const CHECK: &[(&str, Zero)] = &[
    ("Name", Str), ("Type", Str), ("Command", Str), ("Args", Null), ("Path", Str),
    ("Protocol", Str), ("PortLabel", Str), ("Expose", Bool), ("AddressMode", Str),
    ("Interval", Int), ("Timeout", Int), ("InitialStatus", Str), ("Notes", Str),
    ("TLSServerName", Str), ("TLSSkipVerify", Bool), ("Method", Str), ("Header", Null),
    ("CheckRestart", Null), ("GRPCService", Str), ("GRPCUseTLS", Bool), ("TaskName", Str),
    ("SuccessBeforePassing", Int), ("FailuresBeforeCritical", Int), ("FailuresBeforeWarning", Int),
    ("Body", Str), ("OnUpdate", Str),
];
#[rustfmt::skip]
pub(crate) const NETWORK: &[(&str, Zero)] = &[
    ("Mode", Str), ("Device", Str), ("CIDR", Str), ("IP", Str), ("Hostname", Str), ("MBits", Int),
    ("DNS", Null), ("ReservedPorts", Null), ("DynamicPorts", Null), ("CNI", Null),
];
#[rustfmt::skip]
pub(crate) const PORT: &[(&str, Zero)] = &[
    ("Label", Str), ("Value", Int), ("To", Int), ("HostNetwork", Str), ("IgnoreCollision", Bool),
];

pub fn server_job(api: &Value) -> Value {
    let mut j = shape(api, JOB);
    for key in NOT_COPIED {
        j.remove(*key);
    }
    let mut j = shape(&Value::Object(j), JOB);
    if arr_of(api, "Datacenters").is_empty() {
        j.insert("Datacenters".into(), json!(["*"]));
    }
    if str_of(api, "NodePool").is_empty() {
        j.insert("NodePool".into(), json!("default"));
    }
    j.insert(
        "Constraints".into(),
        map_list(api, "Constraints", |c| obj(c, CONSTRAINT)),
    );
    j.insert(
        "Affinities".into(),
        map_list(api, "Affinities", |a| obj(a, AFFINITY)),
    );
    j.insert("Spreads".into(), nil_if_empty(api, "Spreads"));
    j.insert("Meta".into(), nil_if_empty(api, "Meta"));
    j.insert("Update".into(), job_update(api));
    let kind = str_of(api, "Type");
    let ns = str_of(api, "Namespace");
    let job = (str_of(api, "Name"), ns);
    let groups = map_list(api, "TaskGroups", |g| group(g, kind, job));
    j.insert("TaskGroups".into(), groups);
    Value::Object(j)
}

/// Only Stagger and MaxParallel survive at job level, and only when MaxParallel > 0.
fn job_update(api: &Value) -> Value {
    let mut u = shape(&Value::Null, UPDATE);
    if let Some(src) = get(api, "Update").filter(|u| int_of(u, "MaxParallel") > 0) {
        u.insert("Stagger".into(), json!(int_of(src, "Stagger")));
        u.insert("MaxParallel".into(), json!(int_of(src, "MaxParallel")));
    }
    Value::Object(u)
}

fn obj(src: &Value, fields: &[(&str, Zero)]) -> Value {
    Value::Object(shape(src, fields))
}

fn opt_obj(src: &Value, key: &str, fields: &[(&str, Zero)]) -> Value {
    get(src, key).map_or(Value::Null, |v| obj(v, fields))
}

fn group(api: &Value, kind: &str, job: (&str, &str)) -> Value {
    let mut g = shape(api, GROUP);
    let name = str_of(api, "Name");
    g.insert("Update".into(), opt_obj(api, "Update", UPDATE));
    g.insert("Migrate".into(), opt_obj(api, "Migrate", MIGRATE));
    g.insert(
        "Constraints".into(),
        map_list(api, "Constraints", |c| obj(c, CONSTRAINT)),
    );
    g.insert(
        "RestartPolicy".into(),
        opt_obj(api, "RestartPolicy", RESTART),
    );
    g.insert("EphemeralDisk".into(), opt_obj(api, "EphemeralDisk", DISK));
    g.insert("Meta".into(), nil_if_empty(api, "Meta"));
    g.insert(
        "ReschedulePolicy".into(),
        opt_obj(api, "ReschedulePolicy", RESCHEDULE),
    );
    g.insert(
        "Affinities".into(),
        map_list(api, "Affinities", |a| obj(a, AFFINITY)),
    );
    g.insert("Spreads".into(), nil_if_empty(api, "Spreads"));
    g.insert("Networks".into(), map_list(api, "Networks", network));
    let svc = |s: &Value| service(s, (job.0, name, "group"), job.1);
    g.insert("Services".into(), map_list(api, "Services", svc));
    g.insert("Volumes".into(), nil_if_empty(api, "Volumes"));
    let restart = g.get("RestartPolicy").cloned().unwrap_or(Value::Null);
    let tasks = map_list(api, "Tasks", |t| task(t, &restart, (job.0, name), job.1));
    g.insert("Tasks".into(), tasks);
    if kind == "system" || kind == "sysbatch" {
        g.insert("Migrate".into(), Value::Null);
    }
    Value::Object(g)
}

fn task(api: &Value, group_restart: &Value, names: (&str, &str), ns: &str) -> Value {
    let mut t = shape(api, TASK);
    let name = str_of(api, "Name");
    for key in [
        "Config",
        "Env",
        "Meta",
        "VolumeMounts",
        "Secrets",
        "Identities",
        "Actions",
    ] {
        t.insert(key.into(), nil_if_empty(api, key));
    }
    let svc = |s: &Value| service(s, (names.0, names.1, name), ns);
    t.insert("Services".into(), map_list(api, "Services", svc));
    t.insert(
        "Templates".into(),
        map_list(api, "Templates", |x| obj(x, TEMPLATE)),
    );
    t.insert(
        "Constraints".into(),
        map_list(api, "Constraints", |c| obj(c, CONSTRAINT)),
    );
    t.insert(
        "Affinities".into(),
        map_list(api, "Affinities", |a| obj(a, AFFINITY)),
    );
    t.insert("Resources".into(), resources(api));
    let restart = get(api, "RestartPolicy").unwrap_or(group_restart);
    t.insert("RestartPolicy".into(), obj(restart, RESTART));
    t.insert("LogConfig".into(), opt_obj(api, "LogConfig", LOG));
    t.insert(
        "Artifacts".into(),
        map_list(api, "Artifacts", |a| obj(a, ARTIFACT)),
    );
    if t.get("KillTimeout").and_then(Value::as_i64) == Some(0) {
        t.insert("KillTimeout".into(), json!(5 * super::json::SEC));
    }
    // structs Task.Canonicalize always adds the default workload identity.
    if t.get("Identity").is_none_or(Value::is_null) {
        t.insert("Identity".into(), default_identity());
    }
    Value::Object(t)
}

fn default_identity() -> Value {
    json!({"Name": "default", "Audience": ["nomadproject.io"], "ChangeMode": "",
        "ChangeSignal": "", "Env": false, "File": false, "Filepath": "", "ServiceName": "",
        "TTL": 0, "ExtraClaims": null})
}

fn resources(task: &Value) -> Value {
    let Some(r) = get(task, "Resources") else {
        return json!({"CPU": 100, "Cores": 0, "MemoryMB": 300, "MemoryMaxMB": 0, "DiskMB": 0,
            "IOPS": 0, "Networks": null, "Devices": null, "NUMA": null, "SecretsMB": 0});
    };
    let mut out = shape(r, RESOURCES);
    out.insert("Networks".into(), map_list(r, "Networks", network));
    Value::Object(out)
}

/// NetworkResource and Port are `_struct omitempty` structs: zero fields are not encoded.
fn network(src: &Value) -> Value {
    let mut n = shape(src, NETWORK);
    for key in ["ReservedPorts", "DynamicPorts"] {
        n.insert(
            key.into(),
            map_list(src, key, |p| omit_zero(shape(p, PORT))),
        );
    }
    omit_zero(n)
}

fn omit_zero(m: Map<String, Value>) -> Value {
    let zero = |v: &Value| {
        matches!(v, Value::Null | Value::Bool(false)) || *v == json!(0) || *v == json!("")
    };
    Value::Object(m.into_iter().filter(|(_, v)| !zero(v)).collect())
}

/// structs Service.Canonicalize: empty lists → nil, TaskName, check names, namespace.
fn service(api: &Value, names: (&str, &str, &str), job_ns: &str) -> Value {
    let mut s = shape(api, SERVICE);
    for key in [
        "Tags",
        "CanaryTags",
        "Meta",
        "CanaryMeta",
        "TaggedAddresses",
    ] {
        s.insert(key.into(), nil_if_empty(api, key));
    }
    let task = names.2;
    if str_of(api, "TaskName").is_empty() && task != "group" {
        s.insert("TaskName".into(), json!(task));
    }
    let provider = str_of(api, "Provider");
    if provider == "nomad" {
        s.insert("Namespace".into(), json!(job_ns));
    } else if str_of(api, "Namespace").is_empty() {
        s.insert("Namespace".into(), json!("default"));
    }
    let svc_name = str_of(api, "Name").to_string();
    let checks = map_list(api, "Checks", |c| check(c, &svc_name, task));
    s.insert("Checks".into(), checks);
    Value::Object(s)
}

fn check(api: &Value, service: &str, task: &str) -> Value {
    let mut c = shape(api, CHECK);
    c.insert("Args".into(), nil_if_empty(api, "Args"));
    c.insert("Header".into(), nil_if_empty(api, "Header"));
    if str_of(api, "Name").is_empty() {
        c.insert("Name".into(), json!(format!("service: {service:?} check")));
    }
    if str_of(api, "TaskName").is_empty() && task != "group" {
        c.insert("TaskName".into(), json!(task));
    }
    Value::Object(c)
}
