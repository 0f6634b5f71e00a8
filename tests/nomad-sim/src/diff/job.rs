//! The contextual JobDiff of a plan: nomad/structs/diff.go `Job.Diff`, `TaskGroup.Diff`,
//! `Task.Diff` and their object diffs, annotated as scheduler/annotate.go does.
//!
//! Owns: which struct fields become flattened Fields and which nested structs become Objects,
//! and in which order. Never: deciding the desired updates (they are passed in).

use serde_json::{Map, Value, json};

use super::model::{
    DiffType, FieldDiff, ObjectDiff, field_diffs, flatten, flatten_full, list_json, object,
    primitive_object_diff, primitive_set_diff, string_set_diff, struct_diff,
};
use super::nested::{network_diffs, resources_diff, service_diffs, template_diffs};
use crate::canonical::json::{arr_in, arr_of, get, str_of};

const CONTEXTUAL: bool = true;

/// Job fields the diff never reports (Job.Diff's filter).
const JOB_SKIP: &[&str] = &[
    "ID",
    "Status",
    "StatusDescription",
    "Version",
    "Stable",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "Update",
    "SubmitTime",
    "NomadTokenID",
    "VaultToken",
];
/// Pointer-typed primitives that flatmap skips inside a struct.
const GROUP_SKIP: &[&str] = &[
    "Name",
    "ShutdownDelay",
    "MaxRunDuration",
    "StopAfterClientDisconnect",
    "MaxClientDisconnect",
];
const TASK_SKIP: &[&str] = &["Name", "Config"];

struct GroupDiff {
    typ: DiffType,
    name: String,
    fields: Vec<FieldDiff>,
    objects: Vec<ObjectDiff>,
    tasks: Vec<TaskDiff>,
}

struct TaskDiff {
    typ: DiffType,
    name: String,
    fields: Vec<FieldDiff>,
    objects: Vec<ObjectDiff>,
    annotations: Vec<String>,
}

pub fn job_diff(old: Option<&Value>, new: &Value, updates: &Map<String, Value>) -> Value {
    let old_v = old.unwrap_or(&Value::Null);
    let old_flat = old.map(|o| flatten(o, JOB_SKIP)).unwrap_or_default();
    let fields = field_diffs(&old_flat, &flatten(new, JOB_SKIP), false);
    let mut objects = Vec::new();
    let dcs = string_set_diff(
        arr_of(old_v, "Datacenters"),
        arr_of(new, "Datacenters"),
        "Datacenters",
        CONTEXTUAL,
    );
    objects.extend(dcs.filter(|d| d.typ != DiffType::None));
    objects.extend(sets(old_v, new, "Constraints", "Constraint"));
    objects.extend(sets(old_v, new, "Affinities", "Affinity"));
    let mut groups = group_pairs(old_v, new);
    groups.iter_mut().for_each(annotate_group);
    objects.extend(periodic_diff(old_v, new));
    objects.extend(struct_diff(
        get(old_v, "ParameterizedJob"),
        get(new, "ParameterizedJob"),
        &[],
        "ParameterizedJob",
        CONTEXTUAL,
    ));
    let typ = match old {
        None => DiffType::Added,
        Some(_)
            if any_change(&fields, &objects) || groups.iter().any(|g| g.typ != DiffType::None) =>
        {
            DiffType::Edited
        }
        Some(_) => DiffType::None,
    };
    object([
        ("Type", typ.as_str().into()),
        ("ID", str_of(new, "ID").into()),
        ("Fields", list_json(&fields, FieldDiff::to_json)),
        ("Objects", list_json(&objects, ObjectDiff::to_json)),
        ("TaskGroups", list_json(&groups, |g| group_json(g, updates))),
    ])
}

fn any_change(fields: &[FieldDiff], objects: &[ObjectDiff]) -> bool {
    fields.iter().any(|f| f.typ != DiffType::None)
        || objects.iter().any(|o| o.typ != DiffType::None)
}

fn sets(old: &Value, new: &Value, key: &str, name: &str) -> Vec<ObjectDiff> {
    primitive_set_diff(arr_of(old, key), arr_of(new, key), &[], name, CONTEXTUAL)
}

fn periodic_diff(old: &Value, new: &Value) -> Option<ObjectDiff> {
    let (o, n) = (get(old, "Periodic"), get(new, "Periodic"));
    let mut diff = struct_diff(o, n, &[], "Periodic", CONTEXTUAL)?;
    let set = string_set_diff(arr_in(o, "Specs"), arr_in(n, "Specs"), "Specs", CONTEXTUAL);
    diff.objects.extend(set.filter(|s| s.typ != DiffType::None));
    Some(diff)
}

/// Every group of either job, sorted by name (taskGroupDiffs).
fn group_pairs(old: &Value, new: &Value) -> Vec<GroupDiff> {
    let find = |job: &Value, name: &str| {
        arr_of(job, "TaskGroups")
            .iter()
            .find(|g| str_of(g, "Name") == name)
            .cloned()
    };
    let mut names: Vec<String> = arr_of(old, "TaskGroups")
        .iter()
        .chain(arr_of(new, "TaskGroups"))
        .map(|g| str_of(g, "Name").to_string())
        .collect();
    names.sort();
    names.dedup();
    names
        .iter()
        .map(|n| group_diff(find(old, n).as_ref(), find(new, n).as_ref(), n))
        .collect()
}

fn primitive_flats(
    old: Option<&Value>,
    new: Option<&Value>,
    skip: &[&str],
) -> (super::model::Flat, super::model::Flat) {
    let flat = |v: Option<&Value>| v.map(|v| flatten(v, skip)).unwrap_or_default();
    (flat(old), flat(new))
}

fn group_diff(old: Option<&Value>, new: Option<&Value>, name: &str) -> GroupDiff {
    let typ = if old == new {
        DiffType::None
    } else {
        DiffType::of(old, new)
    };
    let (mut of, mut nf) = primitive_flats(old, new, GROUP_SKIP);
    if let (Some(o), Some(n)) = (old, new) {
        let delay = |g: &Value| {
            get(g, "ShutdownDelay")
                .and_then(super::model::go_string)
                .unwrap_or_default()
        };
        of.insert("ShutdownDelay".into(), delay(o));
        nf.insert("ShutdownDelay".into(), delay(n));
    }
    let fields = field_diffs(&of, &nf, false);
    let (o, n) = (old.unwrap_or(&Value::Null), new.unwrap_or(&Value::Null));
    let mut objects = sets(o, n, "Constraints", "Constraint");
    objects.extend(sets(o, n, "Affinities", "Affinity"));
    for (key, skip) in [
        ("RestartPolicy", &[][..]),
        ("Migrate", &[]),
        ("ReschedulePolicy", &[]),
        ("EphemeralDisk", &[]),
        ("Consul", &[]),
        ("Update", &["Stagger"][..]),
    ] {
        objects.extend(primitive_object_diff(
            get(o, key),
            get(n, key),
            skip,
            key,
            CONTEXTUAL,
        ));
    }
    objects.extend(full_struct_diff(
        get(o, "Disconnect"),
        get(n, "Disconnect"),
        "Disconnect",
    ));
    objects.extend(network_diffs(arr_of(o, "Networks"), arr_of(n, "Networks")));
    objects.extend(service_diffs(arr_of(o, "Services"), arr_of(n, "Services")));
    let tasks = task_pairs(o, n);
    GroupDiff {
        typ,
        name: name.into(),
        fields,
        objects,
        tasks,
    }
}

/// diff.go's diffs built with flatmap.Flatten(obj, nil, false) (Disconnect, template Wait).
pub(crate) fn full_struct_diff(
    old: Option<&Value>,
    new: Option<&Value>,
    name: &str,
) -> Option<ObjectDiff> {
    if old == new {
        return None;
    }
    let flat = |v: Option<&Value>| {
        let mut out = super::model::Flat::new();
        if let Some(v) = v {
            flatten_full(v, "", &mut out);
        }
        out
    };
    let fields = field_diffs(&flat(old), &flat(new), CONTEXTUAL);
    Some(ObjectDiff {
        typ: DiffType::of(old, new),
        name: name.into(),
        fields,
        objects: Vec::new(),
    })
}

fn task_pairs(old: &Value, new: &Value) -> Vec<TaskDiff> {
    let find = |g: &Value, name: &str| {
        arr_of(g, "Tasks")
            .iter()
            .find(|t| str_of(t, "Name") == name)
            .cloned()
    };
    let mut names: Vec<String> = arr_of(old, "Tasks")
        .iter()
        .chain(arr_of(new, "Tasks"))
        .map(|t| str_of(t, "Name").to_string())
        .collect();
    names.sort();
    names.dedup();
    names
        .iter()
        .map(|n| task_diff(find(old, n).as_ref(), find(new, n).as_ref(), n))
        .collect()
}

fn task_diff(old: Option<&Value>, new: Option<&Value>, name: &str) -> TaskDiff {
    let typ = if old == new {
        DiffType::None
    } else {
        DiffType::of(old, new)
    };
    let (of, nf) = primitive_flats(old, new, TASK_SKIP);
    let fields = field_diffs(&of, &nf, false);
    let (o, n) = (old.unwrap_or(&Value::Null), new.unwrap_or(&Value::Null));
    let mut objects = sets(o, n, "Constraints", "Constraint");
    objects.extend(sets(o, n, "Affinities", "Affinity"));
    objects.extend(config_diff(get(o, "Config"), get(n, "Config")));
    objects.extend(resources_diff(get(o, "Resources"), get(n, "Resources")));
    objects.extend(primitive_object_diff(
        get(o, "LogConfig"),
        get(n, "LogConfig"),
        &[],
        "LogConfig",
        CONTEXTUAL,
    ));
    objects.extend(primitive_object_diff(
        get(o, "DispatchPayload"),
        get(n, "DispatchPayload"),
        &[],
        "DispatchPayload",
        CONTEXTUAL,
    ));
    objects.extend(sets(o, n, "Artifacts", "Artifact"));
    objects.extend(service_diffs(arr_of(o, "Services"), arr_of(n, "Services")));
    objects.extend(struct_diff(
        get(o, "Vault"),
        get(n, "Vault"),
        &[],
        "Vault",
        CONTEXTUAL,
    ));
    objects.extend(primitive_object_diff(
        get(o, "Consul"),
        get(n, "Consul"),
        &[],
        "Consul",
        CONTEXTUAL,
    ));
    objects.extend(template_diffs(
        arr_of(o, "Templates"),
        arr_of(n, "Templates"),
    ));
    objects.extend(identity_diff(get(o, "Identity"), get(n, "Identity")));
    TaskDiff {
        typ,
        name: name.into(),
        fields,
        objects,
        annotations: Vec::new(),
    }
}

/// configDiff: the driver config flattened completely (`args[0]`, `port_map[0][http]`).
fn config_diff(old: Option<&Value>, new: Option<&Value>) -> Option<ObjectDiff> {
    let mut diff = full_struct_diff(old, new, "Config")?;
    let empty = |v: Option<&Value>| v.and_then(Value::as_object).is_none_or(|m| m.is_empty());
    diff.typ = match (empty(old), empty(new)) {
        (true, _) => DiffType::Added,
        (_, true) => DiffType::Deleted,
        _ => DiffType::Edited,
    };
    Some(diff)
}

fn identity_diff(old: Option<&Value>, new: Option<&Value>) -> Option<ObjectDiff> {
    let mut diff = struct_diff(old, new, &[], "Identity", CONTEXTUAL)?;
    diff.objects.extend(string_set_diff(
        arr_in(old, "Audience"),
        arr_in(new, "Audience"),
        "Audience",
        CONTEXTUAL,
    ));
    Some(diff)
}

/// scheduler/annotate.go annotateCountChange and annotateTask.
fn annotate_group(g: &mut GroupDiff) {
    let int = |s: &str| s.parse::<i64>().unwrap_or(0);
    if let Some(count) = g.fields.iter_mut().find(|f| f.name == "Count") {
        let (old, new) = (int(&count.old), int(&count.new));
        if old < new {
            count.annotations.push("forces create".into());
        } else if new < old {
            count.annotations.push("forces destroy".into());
        }
    }
    let parent = g.typ;
    for t in g.tasks.iter_mut().filter(|t| t.typ != DiffType::None) {
        t.annotations.push(task_annotation(t, parent).into());
    }
}

fn task_annotation(t: &TaskDiff, parent: DiffType) -> &'static str {
    if matches!(parent, DiffType::Added | DiffType::Deleted) {
        match t.typ {
            DiffType::Added => return "forces create",
            DiffType::Deleted => return "forces destroy",
            _ => {}
        }
    }
    let field_destructive = t.fields.iter().any(|f| f.name != "KillTimeout");
    let object_destructive = t.objects.iter().any(|o| match o.name.as_str() {
        "Service" | "Constraint" | "Affinity" | "Spread" => false,
        // Like annotate.go, any Disabled field counts, even an unchanged contextual one.
        "LogConfig" => o.fields.iter().any(|f| f.name == "Disabled"),
        _ => true,
    });
    if field_destructive || object_destructive {
        "forces create/destroy update"
    } else {
        "forces in-place update"
    }
}

/// TaskGroupDiff.Updates from the group's DesiredUpdates (annotateTaskGroup).
fn updates_json(desired: Option<&Value>) -> Value {
    let Some(d) = desired else { return Value::Null };
    let keys = [
        ("Ignore", "ignore"),
        ("Place", "create"),
        ("Migrate", "migrate"),
        ("Stop", "destroy"),
        ("Canary", "canary"),
        ("InPlaceUpdate", "in-place update"),
        ("DestructiveUpdate", "create/destroy update"),
    ];
    let mut out: Vec<(&str, u64)> = keys
        .iter()
        .filter_map(|(k, label)| {
            d.get(*k)
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map(|n| (*label, n))
        })
        .collect();
    out.sort_unstable();
    Value::Object(
        out.into_iter()
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect(),
    )
}

fn group_json(g: &GroupDiff, updates: &Map<String, Value>) -> Value {
    let task = |t: &TaskDiff| {
        object([
            ("Type", t.typ.as_str().into()),
            ("Name", t.name.as_str().into()),
            ("Fields", list_json(&t.fields, FieldDiff::to_json)),
            ("Objects", list_json(&t.objects, ObjectDiff::to_json)),
            (
                "Annotations",
                list_json(&t.annotations, |a| a.as_str().into()),
            ),
        ])
    };
    object([
        ("Type", g.typ.as_str().into()),
        ("Name", g.name.as_str().into()),
        ("Fields", list_json(&g.fields, FieldDiff::to_json)),
        ("Objects", list_json(&g.objects, ObjectDiff::to_json)),
        ("Tasks", list_json(&g.tasks, task)),
        ("Updates", updates_json(updates.get(&g.name))),
    ])
}
