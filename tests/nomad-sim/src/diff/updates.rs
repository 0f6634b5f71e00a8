//! What the scheduler would do to each group: scheduler/util.go `tasksUpdated` (destructive vs
//! in-place) and the counting of scheduler/reconciler/reconcile_cluster.go `computeGroup` for
//! the simple world of a plan where every existing allocation runs the old job, healthy.
//!
//! Owns: DesiredUpdates per group. Never: failed, lost, disconnected or migrating
//! allocations, deployments in progress, placement feasibility.

use serde_json::{Map, Value, json};

use crate::canonical::json::{arr_of, bool_of, get, int_of, str_of};
use crate::canonical::spec_changed;

/// Whether a group changed destructively (tasksUpdated), in place, or not at all.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GroupChange {
    Unchanged,
    InPlace,
    Destructive,
}

/// How a group changes between two versions of its job, as Nomad's scheduler sees it: the jobs'
/// Meta counts too, since tasksUpdated compares each task's combined job + group + task meta.
pub fn group_change(old_job: &Value, old: &Value, new_job: &Value, new: &Value) -> GroupChange {
    if group_destructive(old, new) || tasks_destructive(old_job, old, new_job, new) {
        GroupChange::Destructive
    } else if old != new {
        GroupChange::InPlace
    } else {
        GroupChange::Unchanged
    }
}

fn differs(a: &Value, b: &Value, key: &str) -> bool {
    get(a, key) != get(b, key)
}

fn render_templates(v: &Value) -> bool {
    v.get("RestartPolicy")
        .is_some_and(|r| bool_of(r, "RenderTemplates"))
}

/// Consul namespace, cluster and partition changes break networking: destructive.
fn consul_differs(a: &Value, b: &Value) -> bool {
    let (ca, cb) = (get(a, "Consul"), get(b, "Consul"));
    let field = |c: Option<&Value>, k: &str| c.map_or("", |c| str_of(c, k)).to_string();
    if field(ca, "Namespace") != field(cb, "Namespace") {
        return true;
    }
    ca.is_some()
        && cb.is_some()
        && ["Cluster", "Partition"]
            .iter()
            .any(|k| field(ca, k) != field(cb, k))
}

/// Connect services changed: the sidecar plumbing must be rebuilt.
fn connect_differs(a: &Value, b: &Value) -> bool {
    arr_of(a, "Services")
        .iter()
        .filter(|s| get(s, "Connect").is_some())
        .any(|sa| {
            arr_of(b, "Services")
                .iter()
                .filter(|sb| str_of(sb, "Name") == str_of(sa, "Name"))
                .any(|sb| {
                    ["Connect", "PortLabel", "Cluster"]
                        .iter()
                        .any(|k| differs(sa, sb, k))
                })
        })
}

fn group_destructive(a: &Value, b: &Value) -> bool {
    arr_of(a, "Tasks").len() != arr_of(b, "Tasks").len()
        || ["EphemeralDisk", "Networks", "Volumes"]
            .iter()
            .any(|k| differs(a, b, k))
        || consul_differs(a, b)
        || connect_differs(a, b)
        || render_templates(a) != render_templates(b)
}

fn combined_meta(job: &Value, group: &Value, task: &Value) -> Map<String, Value> {
    let mut meta = Map::new();
    for layer in [job, group, task] {
        if let Some(m) = layer.get("Meta").and_then(Value::as_object) {
            meta.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    meta
}

const TASK_DESTRUCTIVE: &[&str] = &[
    "Driver",
    "User",
    "Config",
    "Env",
    "Artifacts",
    "Vault",
    "Secrets",
    "Templates",
    "CSIPluginConfig",
    "VolumeMounts",
    "Identity",
    "Identities",
];
const RESOURCES_DESTRUCTIVE: &[&str] = &[
    "Networks",
    "CPU",
    "Cores",
    "MemoryMB",
    "MemoryMaxMB",
    "Devices",
    "NUMA",
    "SecretsMB",
];

fn tasks_destructive(old_job: &Value, a: &Value, new_job: &Value, b: &Value) -> bool {
    arr_of(a, "Tasks").iter().any(|at| {
        let name = str_of(at, "Name");
        let Some(bt) = arr_of(b, "Tasks")
            .iter()
            .find(|t| str_of(t, "Name") == name)
        else {
            return true;
        };
        let (ra, rb) = (
            at.get("Resources").unwrap_or(&Value::Null),
            bt.get("Resources").unwrap_or(&Value::Null),
        );
        let log_disabled = |t: &Value| t.get("LogConfig").is_some_and(|l| bool_of(l, "Disabled"));
        TASK_DESTRUCTIVE.iter().any(|k| differs(at, bt, k))
            || consul_differs(at, bt)
            || combined_meta(old_job, a, at) != combined_meta(new_job, b, bt)
            || RESOURCES_DESTRUCTIVE.iter().any(|k| differs(ra, rb, k))
            || log_disabled(at) != log_disabled(bt)
            || render_templates(at) != render_templates(bt)
    })
}

fn find_group<'a>(job: &'a Value, name: &str) -> Option<&'a Value> {
    arr_of(job, "TaskGroups")
        .iter()
        .find(|g| str_of(g, "Name") == name)
}

/// DesiredUpdates with all twelve keys, in structs.DesiredUpdates order.
fn desired(
    ignore: i64,
    place: i64,
    stop: i64,
    inplace: i64,
    destructive: i64,
    canary: i64,
) -> Value {
    json!({"Ignore": ignore, "Place": place, "Migrate": 0, "Stop": stop,
        "InPlaceUpdate": inplace, "DestructiveUpdate": destructive, "Canary": canary,
        "Preemptions": 0, "Disconnect": 0, "Reconnect": 0, "RescheduleNow": 0, "RescheduleLater": 0})
}

pub fn desired_updates(old: Option<&Value>, new: &Value) -> Map<String, Value> {
    let changed = old.is_none_or(|o| spec_changed(o, new));
    let old_job = old.unwrap_or(&Value::Null);
    let mut names: Vec<&str> = arr_of(new, "TaskGroups")
        .iter()
        .map(|g| str_of(g, "Name"))
        .collect();
    names.extend(
        arr_of(old_job, "TaskGroups")
            .iter()
            .map(|g| str_of(g, "Name")),
    );
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let (og, ng) = (find_group(old_job, name), find_group(new, name));
            (
                name.to_string(),
                group_updates(old_job, og, new, ng, changed),
            )
        })
        .collect()
}

fn group_updates(
    old_job: &Value,
    og: Option<&Value>,
    new_job: &Value,
    ng: Option<&Value>,
    changed: bool,
) -> Value {
    let existing = og.map_or(0, |g| int_of(g, "Count").max(0));
    let count = ng.map_or(0, |g| int_of(g, "Count").max(0));
    let (Some(og), Some(ng)) = (og, ng) else {
        return desired(0, count, existing, 0, 0, 0);
    };
    if count == 0 {
        return desired(0, 0, existing, 0, 0, 0);
    }
    let kept = existing.min(count);
    let (place, stop) = (count - kept, existing - kept);
    if !changed {
        return desired(kept, place, stop, 0, 0, 0);
    }
    if group_change(old_job, og, new_job, ng) != GroupChange::Destructive || kept == 0 {
        // The job's JobModifyIndex moved, so every surviving allocation is updated in place.
        return desired(0, place, stop, kept, 0, 0);
    }
    let update = get(ng, "Update");
    let max_parallel = update.map_or(0, |u| int_of(u, "MaxParallel"));
    let canary = update.map_or(0, |u| int_of(u, "Canary"));
    if max_parallel > 0 && canary > 0 {
        // Unpromoted canaries hold back both placements and destructive updates.
        return desired(kept, 0, stop, 0, 0, canary);
    }
    // computeUnderProvisionedBy: MaxParallel bounds the new placements plus destructive updates.
    let limit = if max_parallel == 0 {
        count
    } else {
        max_parallel
    };
    let budget = (limit - place.min(limit)).max(0);
    let destructive = kept.min(budget);
    desired(kept - destructive, place, stop, 0, destructive, 0)
}
