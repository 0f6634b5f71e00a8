//! Nomad's validation of a submitted job: `jobValidate` (nomad/job_endpoint_hooks.go) over
//! `Job.Validate`, `TaskGroup.Validate` and `Task.Validate` (nomad/structs/structs.go).
//!
//! Owns: the common error texts and go-multierror's formatting, including the nesting of a
//! group's and a task's own multierror inside the outer one. Never: driver config checks,
//! services, networks, constraints' operands, ACL or identity checks.

use std::collections::HashMap;

use serde_json::Value;

use super::json::{arr_of, int_of, str_of};

/// go-multierror's default format.
pub(crate) fn multierror(errors: &[String]) -> String {
    let points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
    if let [one] = points.as_slice() {
        return format!("1 error occurred:\n\t{one}\n\n");
    }
    format!(
        "{} errors occurred:\n\t{}\n\n",
        points.len(),
        points.join("\n\t")
    )
}

/// Validates a server job (`server_job` output).
pub fn validate(job: &Value) -> Result<(), String> {
    let mut errs = job_errors(job);
    let priority = int_of(job, "Priority");
    if !(1..=100).contains(&priority) {
        errs.push("job priority must be between [1, 100]".into());
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(multierror(&errs))
    }
}

fn job_errors(job: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let id = str_of(job, "ID");
    if str_of(job, "Region").is_empty() {
        errs.push("Missing job region".into());
    }
    if id.is_empty() {
        errs.push("Missing job ID".into());
    } else if id.contains(' ') {
        errs.push("Job ID contains a space".into());
    }
    if str_of(job, "Name").is_empty() {
        errs.push("Missing job name".into());
    }
    if str_of(job, "Namespace").is_empty() {
        errs.push("Job must be in a namespace".into());
    }
    match str_of(job, "Type") {
        "_core" | "service" | "batch" | "system" | "sysbatch" => {}
        "" => errs.push("Missing job type".into()),
        other => errs.push(format!("Invalid job type: {other:?}")),
    }
    let dcs = arr_of(job, "Datacenters");
    if dcs.is_empty() {
        errs.push("Missing job datacenters".into());
    } else if dcs.iter().any(|d| d.as_str().unwrap_or("").is_empty()) {
        errs.push("Job datacenter must be non-empty string".into());
    }
    let groups = arr_of(job, "TaskGroups");
    if groups.is_empty() {
        errs.push("Missing job task groups".into());
    }
    errs.extend(group_names(job, groups));
    for g in groups {
        let inner = group_errors(g, str_of(job, "Type"));
        if !inner.is_empty() {
            let name = str_of(g, "Name");
            errs.push(format!(
                "Task group {name} validation failed: {}",
                multierror(&inner)
            ));
        }
    }
    errs
}

fn group_names(job: &Value, groups: &[Value]) -> Vec<String> {
    let mut errs = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (idx, g) in groups.iter().enumerate() {
        let name = str_of(g, "Name");
        if name.is_empty() {
            errs.push(format!("Job task group {} missing name", idx + 1));
        } else if let Some(first) = seen.get(name) {
            errs.push(format!(
                "Job task group {} redefines '{name}' from group {}",
                idx + 1,
                first + 1
            ));
        } else {
            seen.insert(name, idx);
        }
        let count = int_of(g, "Count");
        if str_of(job, "Type") == "system" && count > 1 {
            errs.push(format!(
                "Job task group {name} has count {count}. Count cannot exceed 1 with system scheduler"
            ));
        }
    }
    errs
}

fn group_errors(g: &Value, kind: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if str_of(g, "Name").is_empty() {
        errs.push("Missing task group name".into());
    }
    if int_of(g, "Count") < 0 {
        errs.push("Task group count can't be negative".into());
    }
    let tasks = arr_of(g, "Tasks");
    if tasks.is_empty() {
        errs.push("Missing tasks for task group".into());
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (idx, t) in tasks.iter().enumerate() {
        let name = str_of(t, "Name");
        if name.is_empty() {
            errs.push(format!("Task {} missing name", idx + 1));
        } else if let Some(first) = seen.get(name) {
            errs.push(format!(
                "Task {} redefines '{name}' from task {}",
                idx + 1,
                first + 1
            ));
        } else {
            seen.insert(name, idx);
        }
    }
    for t in tasks {
        let inner = task_errors(t, g, kind);
        if !inner.is_empty() {
            let name = str_of(t, "Name");
            errs.push(format!(
                "Task {name} validation failed: {}",
                multierror(&inner)
            ));
        }
    }
    errs
}

fn task_errors(t: &Value, g: &Value, kind: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let name = str_of(t, "Name");
    if name.is_empty() {
        errs.push("Missing task name".into());
    }
    if name == "alloc" {
        errs.push("Task cannot be named \"alloc\"".into());
    }
    if name.contains(['/', '\\']) {
        errs.push("Task name cannot include slashes".into());
    }
    if str_of(t, "Driver").is_empty() {
        errs.push("Missing task driver".into());
    }
    let kill = int_of(t, "KillTimeout");
    let deadline = g.get("Update").map_or(0, |u| int_of(u, "ProgressDeadline"));
    if kill < 0 {
        errs.push("KillTimeout must be a positive value".into());
    } else if kind == "service" && deadline > 0 && kill > deadline {
        errs.push(format!(
            "KillTimout ({}) longer than the group's ProgressDeadline ({})",
            go_duration(kill),
            go_duration(deadline)
        ));
    }
    if t.get("Resources").is_none_or(Value::is_null) {
        errs.push("Missing task resources".into());
    }
    if t.get("LogConfig").is_none_or(Value::is_null) {
        errs.push("Missing Log Config".into());
    }
    errs
}

/// Go's `time.Duration.String()` for whole-second values, the common case in job files.
fn go_duration(ns: i64) -> String {
    let secs = ns / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}
