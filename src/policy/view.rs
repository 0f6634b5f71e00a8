//! What the rules look at, as one small shape built either from a rendered job (Nomad's API
//! JSON) or, offline, from the job file's literal values. `None` means "not known here": a rule
//! never fails on a value it cannot see (the server-side check will see it).

use std::collections::BTreeSet;

use serde_json::Value;

/// The parts of a job the rules read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobView {
    pub id: String,
    pub namespace: Option<String>,
    /// Meta keys the job sets; `None` when unknown.
    pub meta: Option<BTreeSet<String>>,
    pub groups: Vec<GroupView>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupView {
    pub name: String,
    pub count: Option<u64>,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskView {
    pub name: String,
    pub driver: Option<String>,
    /// `config.image`; interpolations the view cannot resolve stay as `${...}`.
    pub image: Option<String>,
    /// Resource keys the job file sets for the task (`cpu`, `memory`...); `None` when unknown.
    /// Nomad fills defaults, so this can only come from the job file.
    pub resources: Option<BTreeSet<String>>,
}

impl JobView {
    /// The view of an API job (e.g. from `POST /v1/jobs/parse`). Resources are unknown: take
    /// them from the job file's view with [`JobView::declared_resources_from`].
    pub fn from_api(job: &Value) -> Self {
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let list = |v: &Value, key: &str| {
            v.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let meta = match job.get("Meta") {
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            _ => BTreeSet::new(),
        };
        let groups = list(job, "TaskGroups")
            .iter()
            .map(|g| GroupView {
                name: text(g, "Name").unwrap_or_default(),
                count: g.get("Count").and_then(Value::as_u64),
                tasks: list(g, "Tasks")
                    .iter()
                    .map(|t| TaskView {
                        name: text(t, "Name").unwrap_or_default(),
                        driver: text(t, "Driver"),
                        image: t.get("Config").and_then(|c| text(c, "image")),
                        resources: None,
                    })
                    .collect(),
            })
            .collect();
        Self {
            id: text(job, "ID").unwrap_or_default(),
            namespace: text(job, "Namespace"),
            meta: Some(meta),
            groups,
        }
    }

    /// Takes each task's declared resources from `file`, the job file's view, matching groups
    /// and tasks by name (a task made by a `dynamic` block stays unknown).
    pub fn declared_resources_from(&mut self, file: &JobView) {
        for group in &mut self.groups {
            let Some(fg) = file.groups.iter().find(|g| g.name == group.name) else {
                continue;
            };
            for task in &mut group.tasks {
                task.resources = fg
                    .tasks
                    .iter()
                    .find(|t| t.name == task.name)
                    .and_then(|t| t.resources.clone());
            }
        }
    }
}
