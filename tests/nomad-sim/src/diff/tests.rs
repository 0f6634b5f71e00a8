use serde_json::{Value, json};

use super::*;
use crate::canonical::{canonicalize_api, server_job};

/// A chainable builder of one-group, one-task service jobs, stored as the server keeps them.
#[derive(Clone)]
struct JobB(Value);

impl JobB {
    fn new() -> Self {
        JobB(json!({
            "ID": "web", "Meta": {"owner": "ops"},
            "TaskGroups": [{"Name": "web", "Count": 2, "Tasks": [{
                "Name": "app", "Driver": "docker", "Config": {"image": "nginx:1.25"},
                "Services": [{"Name": "web", "PortLabel": "http", "Tags": ["v1"]}]
            }]}]
        }))
    }
    /// Sets (or adds) the field at a JSON pointer whose parent exists.
    fn set(mut self, path: &str, val: Value) -> Self {
        let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
        if let Some(Value::Object(m)) = self.0.pointer_mut(parent) {
            m.insert(key.to_string(), val);
        }
        self
    }
    fn count(self, n: i64) -> Self {
        self.set("/TaskGroups/0/Count", json!(n))
    }
    fn image(self, image: &str) -> Self {
        self.set("/TaskGroups/0/Tasks/0/Config/image", json!(image))
    }
    fn canary(mut self, n: i64) -> Self {
        self.0["TaskGroups"][0]["Update"] = json!({"Canary": n});
        self
    }
    fn build(&self) -> Value {
        let mut job = self.0.clone();
        canonicalize_api(&mut job);
        server_job(&job)
    }
}

fn counts(updates: &serde_json::Map<String, Value>, group: &str) -> [i64; 7] {
    let get = |k: &str| {
        updates
            .get(group)
            .and_then(|g| g.get(k))
            .and_then(Value::as_i64)
            .unwrap_or(-1)
    };
    [
        "Ignore",
        "Place",
        "Stop",
        "InPlaceUpdate",
        "DestructiveUpdate",
        "Canary",
        "Migrate",
    ]
    .map(get)
}

#[test]
fn desired_updates_table() {
    let base = JobB::new();
    //                         Ignore Place Stop InPlace Destr Canary Migrate
    let cases: Vec<(&str, Option<Value>, Value, [i64; 7])> = vec![
        ("new job", None, base.build(), [0, 2, 0, 0, 0, 0, 0]),
        (
            "unchanged",
            Some(base.build()),
            base.build(),
            [2, 0, 0, 0, 0, 0, 0],
        ),
        (
            "count up",
            Some(base.build()),
            base.clone().count(3).build(),
            [0, 1, 0, 2, 0, 0, 0],
        ),
        (
            "count down",
            Some(base.build()),
            base.clone().count(1).build(),
            [0, 0, 1, 1, 0, 0, 0],
        ),
        // max_parallel 1 of the default update block: one at a time.
        (
            "image",
            Some(base.build()),
            base.clone().image("nginx:1.27").build(),
            [1, 0, 0, 0, 1, 0, 0],
        ),
        (
            "tag",
            Some(base.build()),
            base.clone()
                .set("/TaskGroups/0/Tasks/0/Services/0/Tags", json!(["v2"]))
                .build(),
            [0, 0, 0, 2, 0, 0, 0],
        ),
        (
            "job meta",
            Some(base.build()),
            base.clone().set("/Meta/owner", json!("dev")).build(),
            [1, 0, 0, 0, 1, 0, 0],
        ),
        (
            "canary",
            Some(base.clone().canary(1).build()),
            base.clone().canary(1).image("nginx:1.27").build(),
            [2, 0, 0, 0, 0, 1, 0],
        ),
    ];
    for (name, old, new, want) in cases {
        let got = desired_updates(old.as_ref(), &new);
        assert_eq!(counts(&got, "web"), want, "{name}");
        assert_eq!(
            got.get("web").and_then(Value::as_object).map(|m| m.len()),
            Some(12),
            "{name}"
        );
    }
}

#[test]
fn removed_group_is_stopped() {
    let old = JobB::new().build();
    let mut new = old.clone();
    new["TaskGroups"][0]["Name"] = json!("api");
    let got = desired_updates(Some(&old), &new);
    assert_eq!(counts(&got, "web"), [0, 0, 2, 0, 0, 0, 0]);
    assert_eq!(counts(&got, "api"), [0, 2, 0, 0, 0, 0, 0]);
}

#[test]
fn group_change_table() {
    let base = JobB::new();
    let group = |j: &Value| j["TaskGroups"][0].clone();
    let cases = [
        ("same", base.clone(), GroupChange::Unchanged),
        (
            "image",
            base.clone().image("nginx:1.27"),
            GroupChange::Destructive,
        ),
        (
            "env",
            base.clone()
                .set("/TaskGroups/0/Tasks/0/Env", json!({"A": "1"})),
            GroupChange::Destructive,
        ),
        (
            "cpu",
            base.clone()
                .set("/TaskGroups/0/Tasks/0/Resources", json!({"CPU": 200})),
            GroupChange::Destructive,
        ),
        (
            "tag",
            base.clone()
                .set("/TaskGroups/0/Tasks/0/Services/0/Tags", json!(["v2"])),
            GroupChange::InPlace,
        ),
        ("count", base.clone().count(5), GroupChange::InPlace),
        (
            "job meta",
            base.clone().set("/Meta", json!({"owner": "web-team"})),
            GroupChange::Destructive,
        ),
        (
            "kill",
            base.clone().set(
                "/TaskGroups/0/Tasks/0/KillTimeout",
                json!(9_000_000_000_i64),
            ),
            GroupChange::InPlace,
        ),
    ];
    for (name, new, want) in cases {
        let (old, new) = (base.build(), new.build());
        let change = group_change(&old, &group(&old), &new, &group(&new));
        assert_eq!(change, want, "{name}");
    }
}

fn plan_diff(old: Option<&Value>, new: &Value) -> Value {
    job_diff(old, new, &desired_updates(old, new))
}

fn field<'a>(fields: &'a Value, name: &str) -> &'a Value {
    fields
        .as_array()
        .and_then(|f| f.iter().find(|x| x["Name"] == name))
        .unwrap_or(&Value::Null)
}

#[test]
fn identical_job_diff_is_none() {
    let job = JobB::new().build();
    let d = plan_diff(Some(&job), &job);
    assert_eq!(d["Type"], "None");
    assert_eq!(d["ID"], "web");
    assert_eq!(d["Fields"], Value::Null);
    assert_eq!(d["Objects"], Value::Null);
    assert_eq!(d["TaskGroups"][0]["Type"], "None");
    assert_eq!(d["TaskGroups"][0]["Updates"], json!({"ignore": 2}));
    assert_eq!(d["TaskGroups"][0]["Tasks"][0]["Type"], "None");
    assert_eq!(d["TaskGroups"][0]["Tasks"][0]["Annotations"], Value::Null);
}

#[test]
fn new_job_diff_is_added() {
    let d = plan_diff(None, &JobB::new().build());
    assert_eq!(d["Type"], "Added");
    let priority = field(&d["Fields"], "Priority");
    assert_eq!(
        (&priority["Type"], &priority["Old"], &priority["New"]),
        (&json!("Added"), &json!(""), &json!("50"))
    );
    assert_eq!(field(&d["Fields"], "Meta[owner]")["New"], "ops");
    assert_eq!(d["Objects"][0]["Name"], "Datacenters");
    let g = &d["TaskGroups"][0];
    assert_eq!(g["Type"], "Added");
    assert_eq!(g["Updates"], json!({"create": 2}));
    assert_eq!(
        field(&g["Fields"], "Count")["Annotations"],
        json!(["forces create"])
    );
    assert_eq!(g["Tasks"][0]["Annotations"], json!(["forces create"]));
    let config = &g["Tasks"][0]["Objects"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["Name"] == "Config"))
        .cloned();
    assert_eq!(
        config.as_ref().map(|c| c["Type"].clone()),
        Some(json!("Added"))
    );
}

#[test]
fn meta_change_diff() {
    let old = JobB::new().build();
    let new = JobB::new().set("/Meta/owner", json!("dev")).build();
    let d = plan_diff(Some(&old), &new);
    assert_eq!(d["Type"], "Edited");
    assert_eq!(
        d["Fields"],
        json!([{"Type": "Edited", "Name": "Meta[owner]", "Old": "ops", "New": "dev", "Annotations": null}])
    );
    assert_eq!(d["TaskGroups"][0]["Type"], "None");
    assert_eq!(
        d["TaskGroups"][0]["Updates"],
        json!({"create/destroy update": 1, "ignore": 1})
    );
}

#[test]
fn image_change_diff() {
    let old = JobB::new().build();
    let new = JobB::new().image("nginx:1.27").build();
    let d = plan_diff(Some(&old), &new);
    let task = &d["TaskGroups"][0]["Tasks"][0];
    assert_eq!(d["TaskGroups"][0]["Type"], "Edited");
    assert_eq!(task["Type"], "Edited");
    assert_eq!(task["Fields"], Value::Null);
    assert_eq!(
        task["Objects"],
        json!([{"Type": "Edited", "Name": "Config", "Objects": null, "Fields": [
            {"Type": "Edited", "Name": "image", "Old": "nginx:1.25", "New": "nginx:1.27", "Annotations": null}]}])
    );
    assert_eq!(task["Annotations"], json!(["forces create/destroy update"]));
}

#[test]
fn count_change_diff() {
    let old = JobB::new().build();
    let d = plan_diff(Some(&old), &JobB::new().count(3).build());
    let g = &d["TaskGroups"][0];
    assert_eq!(
        g["Fields"],
        json!([{"Type": "Edited", "Name": "Count", "Old": "2", "New": "3", "Annotations": ["forces create"]}])
    );
    assert_eq!(g["Updates"], json!({"create": 1, "in-place update": 2}));
    assert_eq!(g["Tasks"][0]["Type"], "None");
    let down = plan_diff(Some(&old), &JobB::new().count(1).build());
    assert_eq!(
        field(&down["TaskGroups"][0]["Fields"], "Count")["Annotations"],
        json!(["forces destroy"])
    );
}

#[test]
fn service_tag_change_is_in_place() {
    let old = JobB::new().build();
    let new = JobB::new()
        .set("/TaskGroups/0/Tasks/0/Services/0/Tags", json!(["v2"]))
        .build();
    let task = &plan_diff(Some(&old), &new)["TaskGroups"][0]["Tasks"][0];
    assert_eq!(task["Annotations"], json!(["forces in-place update"]));
    let service = &task["Objects"][0];
    assert_eq!(service["Name"], "Service");
    assert_eq!(service["Objects"][0]["Name"], "Tags");
    assert_eq!(service["Objects"][0]["Type"], "Edited");
    assert_eq!(field(&service["Fields"], "PortLabel")["Type"], "None");
}
