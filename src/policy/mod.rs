//! Policy: the rules of the config (`[policy]`, `[source.policy]`) evaluated on a job before any
//! plan. Pure: a [`Policy`] and a [`JobView`] in, [`Violation`]s out; no I/O, no Nomad.
//!
//! A violation blocks that job only. Each names the rule (its config key), the job, and the
//! group and task where it applies.

mod view;

use std::fmt;

pub use view::{GroupView, JobView, TaskView};

use crate::config::Policy;

/// Drivers whose `config.image` names a container image.
const IMAGE_DRIVERS: [&str; 2] = ["docker", "podman"];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The config key of the rule, e.g. `forbidden_drivers`.
    pub rule: &'static str,
    pub job: String,
    pub group: Option<String>,
    pub task: Option<String>,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {}: job {:?}", self.rule, self.job)?;
        if let Some(group) = &self.group {
            write!(f, ", group {group:?}")?;
        }
        if let Some(task) = &self.task {
            write!(f, ", task {task:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every rule `job` breaks, in a stable order.
pub fn check(policy: &Policy, job: &JobView) -> Vec<Violation> {
    let mut out = Vec::new();
    let violation = |rule, group: Option<&str>, task: Option<&str>, message: String| Violation {
        rule,
        job: job.id.clone(),
        group: group.map(str::to_owned),
        task: task.map(str::to_owned),
        message,
    };
    if let Some(ns) = &job.namespace
        && !policy.allowed_namespaces.is_empty()
        && !policy.allowed_namespaces.contains(ns)
    {
        let message = format!(
            "namespace {ns:?} is not allowed (allowed: {})",
            policy.allowed_namespaces.join(", ")
        );
        out.push(violation("allowed_namespaces", None, None, message));
    }
    if let Some(meta) = &job.meta {
        for key in policy.required_meta.iter().filter(|k| !meta.contains(*k)) {
            let message = format!("the job must set meta {key:?}");
            out.push(violation("required_meta", None, None, message));
        }
    }
    for group in &job.groups {
        let g = Some(group.name.as_str());
        if let (Some(max), Some(count)) = (policy.max_count, group.count)
            && count > max
        {
            let message = format!("count {count} is over the maximum of {max}");
            out.push(violation("max_count", g, None, message));
        }
        for task in &group.tasks {
            let t = Some(task.name.as_str());
            for (rule, message) in task_problems(policy, task) {
                out.push(violation(rule, g, t, message));
            }
        }
    }
    out
}

fn task_problems(policy: &Policy, task: &TaskView) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(driver) = &task.driver
        && policy.forbidden_drivers.contains(driver)
    {
        out.push((
            "forbidden_drivers",
            format!("driver {driver:?} is forbidden"),
        ));
    }
    let uses_images = task
        .driver
        .as_deref()
        .is_some_and(|d| IMAGE_DRIVERS.contains(&d));
    if let Some(image) = task.image.as_deref().filter(|_| uses_images)
        && !policy.allowed_registries.is_empty()
        && let Some(name) = normalized_image(image)
        && !policy.allowed_registries.iter().any(|r| allowed(&name, r))
    {
        let message = format!(
            "image {image:?} is not from an allowed registry ({})",
            policy.allowed_registries.join(", ")
        );
        out.push(("allowed_registries", message));
    }
    if let Some(declared) = &task.resources {
        let missing: Vec<&str> = policy
            .required_resources
            .iter()
            .filter(|r| !declared.contains(*r))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "the task must set resources {} (Nomad's defaults do not count)",
                missing.join(", ")
            );
            out.push(("required_resources", message));
        }
    }
    out
}

/// `registry/path` of an image reference as Docker reads it (`nginx` is
/// `docker.io/library/nginx`); `None` when an unresolved interpolation hides the registry.
fn normalized_image(image: &str) -> Option<String> {
    let image = image.trim();
    let (first, rest) = match image.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (image, None),
    };
    if first.contains("${") {
        return None;
    }
    let is_registry = first.contains('.') || first.contains(':') || first == "localhost";
    Some(match rest {
        Some(_) if is_registry => image.to_owned(),
        Some(_) => format!("docker.io/{image}"),
        None => format!("docker.io/library/{image}"),
    })
}

/// `entry` is a registry (`ghcr.io`) or a registry with a path prefix (`ghcr.io/acme`).
fn allowed(image: &str, entry: &str) -> bool {
    let entry = entry.trim_end_matches('/');
    image
        .strip_prefix(entry)
        .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests;
