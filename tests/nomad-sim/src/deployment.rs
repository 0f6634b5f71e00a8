//! Deployments and the part of the scheduler that drives them (docs/nomad-api.md):
//! processing pending evaluations, creating a deployment for a changed service job, allocations
//! turning healthy after `MinHealthyTime` (simulated time), canaries waiting for promotion,
//! failure when a job asks for it (`sim.fail = "true"` in job or group meta), auto-revert to
//! the latest stable version, and `Stable` on success. Allocations themselves are not modelled:
//! only the counters a deployment reports.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::diff::{self, GroupChange};
use crate::register::{self, RegisterRequest};
use crate::state::{Store, Table, num, text};

pub(crate) const RUNNING: &str = "Deployment is running";
const NEEDS_PROMOTION: &str = "Deployment is running but requires manual promotion";
const AUTO_PROMOTION: &str = "Deployment is running pending automatic promotion";
const SUCCESSFUL: &str = "Deployment completed successfully";
const UNHEALTHY: &str = "Failed due to unhealthy allocations";
pub(crate) const MARKED_FAILED: &str = "Deployment marked as failed";

pub(crate) struct Deployment {
    pub json: Value,
    groups: BTreeMap<String, Progress>,
}

/// What the simulator tracks per group beyond the JSON counters.
struct Progress {
    /// Simulated time at which the allocations placed last turn healthy (or unhealthy).
    due: Duration,
    min_healthy: Duration,
    fail: bool,
}

impl Deployment {
    pub(crate) fn is_active(&self) -> bool {
        matches!(
            text(&self.json, "Status"),
            "running" | "paused" | "pending" | "initializing"
        )
    }
    fn job_key(&self) -> (String, String) {
        (
            text(&self.json, "Namespace").to_owned(),
            text(&self.json, "JobID").to_owned(),
        )
    }
}

/// Times the scheduler needs: scaled time for progress, Unix nanoseconds for timestamps.
#[derive(Clone, Copy)]
pub(crate) struct Now {
    pub sim: Duration,
    pub unix: i64,
}

/// Processes every pending evaluation and moves every active deployment forward.
pub(crate) fn tick(store: &mut Store, now: Now) -> bool {
    let pending = std::mem::take(&mut store.pending_evals);
    let mut changed = !pending.is_empty();
    for (_, id) in pending {
        process_eval(store, &id, now);
    }
    for id in std::mem::take(&mut store.active_deployments) {
        if store
            .deployments
            .get(&id)
            .is_some_and(Deployment::is_active)
        {
            changed |= progress(store, &id, now);
            store.active_deployments.insert(id);
        }
    }
    changed
}

fn process_eval(store: &mut Store, eval_id: &str, now: Now) {
    let Some(eval) = store.evals.get(eval_id).cloned() else {
        return;
    };
    let (ns, job_id) = (
        text(&eval, "Namespace").to_owned(),
        text(&eval, "JobID").to_owned(),
    );
    let job = store.job(&ns, &job_id).map(|e| e.job.clone());
    let index = store.write(&[
        Table::Evals,
        Table::Deployment,
        Table::Jobs,
        Table::JobSummary,
    ]);
    let mut deployment_id = None;
    if let Some(job) = job.filter(|j| j["Stop"].as_bool() != Some(true)) {
        deployment_id = schedule(store, &job, index, now);
        if let Some(entry) = store.job_mut(&ns, &job_id) {
            entry.job["Status"] = json!("running");
            entry.job["ModifyIndex"] = json!(index);
            entry.summary_index = index;
        }
    }
    let queued: serde_json::Map<String, Value> = group_names(job_groups(store, &ns, &job_id))
        .map(|n| (n, json!(0)))
        .collect();
    if let Some(e) = store.evals.get_mut(eval_id) {
        e["Status"] = json!("complete");
        e["ModifyIndex"] = json!(index);
        e["ModifyTime"] = json!(now.unix);
        if let Some(d) = deployment_id {
            e["DeploymentID"] = json!(d);
        }
        e["QueuedAllocations"] = json!(queued);
    }
}

fn job_groups<'a>(store: &'a Store, ns: &str, id: &str) -> &'a [Value] {
    store
        .job(ns, id)
        .and_then(|e| e.job["TaskGroups"].as_array())
        .map_or(&[], Vec::as_slice)
}

fn group_names(groups: &[Value]) -> impl Iterator<Item = String> + '_ {
    groups.iter().map(|g| text(g, "Name").to_owned())
}

/// Creates the deployment for this job version if one is due; returns its ID.
fn schedule(store: &mut Store, job: &Value, index: u64, now: Now) -> Option<String> {
    let ns = text(job, "Namespace").to_owned();
    let id = text(job, "ID").to_owned();
    let spec_index = num(job, "JobModifyIndex");
    let has_deployment = store
        .deployments_of(&ns, &id)
        .any(|d| num(&d.json, "JobSpecModifyIndex") == spec_index);
    if has_deployment
        || !matches!(text(job, "Type"), "service" | "system")
        || !register::creates_eval(job)
    {
        return None;
    }
    let previous = store
        .job(&ns, &id)
        .and_then(|e| e.versions.get(1))
        .filter(|v| v["Stop"].as_bool() != Some(true));
    let groups: Vec<(String, Value, Progress)> = job["TaskGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| num(&g["Update"], "MaxParallel") > 0)
        .map(|g| group_state(job, g, previous, now))
        .collect();
    if groups.is_empty() {
        return None;
    }
    cancel_active(
        store,
        &ns,
        &id,
        "Cancelled due to newer version of job",
        index,
    );
    let deployment_id = uuid::Uuid::new_v4().to_string();
    let mut task_groups = serde_json::Map::new();
    let mut progress = BTreeMap::new();
    for (name, state, p) in groups {
        task_groups.insert(name.clone(), state);
        progress.insert(name, p);
    }
    let description = running_description(&task_groups);
    let json = json!({
        "ID": deployment_id, "Namespace": ns, "JobID": id, "JobVersion": num(job, "Version"),
        "JobModifyIndex": index, "JobSpecModifyIndex": spec_index, "JobCreateIndex": num(job, "CreateIndex"),
        "IsMultiregion": false, "TaskGroups": task_groups, "Status": "running",
        "StatusDescription": description, "EvalPriority": num(job, "Priority"),
        "CreateIndex": index, "ModifyIndex": index, "CreateTime": now.unix, "ModifyTime": now.unix,
    });
    store.add_deployment(
        &ns,
        &id,
        deployment_id.clone(),
        Deployment {
            json,
            groups: progress,
        },
    );
    Some(deployment_id)
}

fn group_state(
    job: &Value,
    group: &Value,
    previous: Option<&Value>,
    now: Now,
) -> (String, Value, Progress) {
    let name = text(group, "Name").to_owned();
    let update = &group["Update"];
    let old_group = previous
        .and_then(|p| p["TaskGroups"].as_array())
        .and_then(|gs| gs.iter().find(|g| text(g, "Name") == name));
    let destructive = old_group.zip(previous).is_some_and(|(old, old_job)| {
        matches!(
            diff::group_change(old_job, old, job, group),
            GroupChange::Destructive
        )
    });
    let canaries = if destructive {
        num(update, "Canary")
    } else {
        0
    };
    let count = num(group, "Count");
    let placed = if canaries > 0 { canaries } else { count };
    let canary_ids: Vec<String> = (0..canaries)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let deadline = num(update, "ProgressDeadline");
    let require_by = (deadline > 0).then(|| {
        rfc3339(
            now.unix
                .saturating_add(i64::try_from(deadline).unwrap_or(0)),
        )
    });
    let state = json!({
        "AutoRevert": update["AutoRevert"].as_bool().unwrap_or(false),
        "AutoPromote": update["AutoPromote"].as_bool().unwrap_or(false),
        "ProgressDeadline": deadline,
        "RequireProgressBy": require_by,
        "Promoted": false,
        "PlacedCanaries": if canary_ids.is_empty() { Value::Null } else { json!(canary_ids) },
        "DesiredCanaries": canaries,
        "DesiredTotal": count,
        "PlacedAllocs": placed,
        "HealthyAllocs": 0,
        "UnhealthyAllocs": 0,
    });
    let min_healthy = Duration::from_nanos(num(update, "MinHealthyTime"));
    let progress = Progress {
        due: now.sim + min_healthy,
        min_healthy,
        fail: asks_to_fail(job, group),
    };
    (name, state, progress)
}

fn asks_to_fail(job: &Value, group: &Value) -> bool {
    [&job["Meta"], &group["Meta"]]
        .iter()
        .any(|m| text(m, "sim.fail") == "true")
}

fn running_description(groups: &serde_json::Map<String, Value>) -> &'static str {
    let canary_groups: Vec<&Value> = groups
        .values()
        .filter(|g| num(g, "DesiredCanaries") > 0)
        .collect();
    if canary_groups.is_empty() {
        RUNNING
    } else if canary_groups
        .iter()
        .all(|g| g["AutoPromote"].as_bool() == Some(true))
    {
        AUTO_PROMOTION
    } else {
        NEEDS_PROMOTION
    }
}

/// Cancels the job's active deployments (a newer version or a stop supersedes them).
pub(crate) fn cancel_active(store: &mut Store, ns: &str, id: &str, why: &str, index: u64) {
    for deployment_id in store.deployment_ids_of(ns, id).to_vec() {
        let Some(d) = store
            .deployments
            .get_mut(&deployment_id)
            .filter(|d| d.is_active())
        else {
            continue;
        };
        d.json["Status"] = json!("cancelled");
        d.json["StatusDescription"] = json!(why);
        d.json["ModifyIndex"] = json!(index);
    }
}

/// Moves one deployment forward; true when it changed.
fn progress(store: &mut Store, id: &str, now: Now) -> bool {
    let Some(d) = store.deployments.get(id) else {
        return false;
    };
    if text(&d.json, "Status") != "running" {
        return false;
    }
    let due: Vec<String> = d
        .groups
        .iter()
        .filter(|(name, p)| {
            p.due <= now.sim && pending_health(&d.json["TaskGroups"][name.as_str()])
        })
        .map(|(name, _)| name.clone())
        .collect();
    if due.is_empty() {
        return false;
    }
    let index = store.write(&[Table::Deployment]);
    let mut failed = false;
    if let Some(d) = store.deployments.get_mut(id) {
        for name in &due {
            failed |= report_health(d, name);
        }
        d.json["ModifyIndex"] = json!(index);
        d.json["ModifyTime"] = json!(now.unix);
    }
    if failed {
        fail(store, id, UNHEALTHY, now);
    } else {
        auto_promote(store, id, now);
        finish_if_done(store, id);
    }
    true
}

/// Placed allocations whose health has not been reported yet.
fn pending_health(group: &Value) -> bool {
    num(group, "HealthyAllocs") + num(group, "UnhealthyAllocs") < num(group, "PlacedAllocs")
}

/// Reports the placed allocations of a group healthy or unhealthy; true when unhealthy.
fn report_health(d: &mut Deployment, name: &str) -> bool {
    let fail = d.groups.get(name).is_some_and(|p| p.fail);
    let group = &mut d.json["TaskGroups"][name];
    let placed = num(group, "PlacedAllocs");
    if fail {
        group["UnhealthyAllocs"] = json!(placed - num(group, "HealthyAllocs"));
    } else {
        group["HealthyAllocs"] = json!(placed - num(group, "UnhealthyAllocs"));
    }
    fail
}

/// Promotes a deployment whose canary groups all auto-promote and are healthy.
fn auto_promote(store: &mut Store, id: &str, now: Now) {
    let Some(d) = store.deployments.get(id) else {
        return;
    };
    let groups = d.json["TaskGroups"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let canary: Vec<&Value> = groups
        .values()
        .filter(|g| num(g, "DesiredCanaries") > 0)
        .collect();
    let ready = !canary.is_empty()
        && canary.iter().all(|g| {
            g["AutoPromote"].as_bool() == Some(true)
                && g["Promoted"].as_bool() != Some(true)
                && num(g, "HealthyAllocs") >= num(g, "DesiredCanaries")
        });
    if ready {
        let _ = promote(store, id, None, now);
    }
}

/// `POST /v1/deployment/promote/:id`: promotes the named groups (all when `None`).
pub(crate) fn promote(
    store: &mut Store,
    id: &str,
    only: Option<&[String]>,
    now: Now,
) -> Result<u64, String> {
    let d = store.deployments.get(id).ok_or("deployment not found")?;
    if !d.is_active() {
        return Err("can't promote terminal deployment".into());
    }
    let targets: Vec<String> = d.json["TaskGroups"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, g)| num(g, "DesiredCanaries") > 0 && only.is_none_or(|o| o.contains(name)))
        .map(|(name, _)| name.clone())
        .collect();
    let errors: Vec<String> = targets
        .iter()
        .filter_map(|name| {
            let g = &d.json["TaskGroups"][name.as_str()];
            let (healthy, desired) = (num(g, "HealthyAllocs"), num(g, "DesiredCanaries"));
            (healthy < desired).then(|| {
                format!("Task group \"{name}\" has {healthy}/{desired} healthy allocations")
            })
        })
        .collect();
    if !errors.is_empty() {
        return Err(crate::http::multierror(&errors));
    }
    let index = store.write(&[Table::Deployment, Table::Evals]);
    if let Some(d) = store.deployments.get_mut(id) {
        for name in &targets {
            let group = &mut d.json["TaskGroups"][name.as_str()];
            group["Promoted"] = json!(true);
            group["PlacedAllocs"] = group["DesiredTotal"].clone();
            if let Some(p) = d.groups.get_mut(name) {
                p.due = now.sim + p.min_healthy;
            }
        }
        d.json["StatusDescription"] = json!(RUNNING);
        d.json["ModifyIndex"] = json!(index);
    }
    // A group whose canaries are its whole count has nothing left to place.
    finish_if_done(store, id);
    Ok(index)
}

/// Success once every group is healthy and promoted: the job version becomes stable.
fn finish_if_done(store: &mut Store, id: &str) {
    let Some(d) = store.deployments.get(id) else {
        return;
    };
    let done = d.json["TaskGroups"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(_, g)| {
            let promoted = num(g, "DesiredCanaries") == 0 || g["Promoted"].as_bool() == Some(true);
            promoted
                && num(g, "HealthyAllocs") >= num(g, "DesiredTotal").max(num(g, "DesiredCanaries"))
        });
    if !done {
        return;
    }
    let (ns, job_id) = d.job_key();
    let version = num(&d.json, "JobVersion");
    let index = store.write(&[Table::Deployment]);
    if let Some(d) = store.deployments.get_mut(id) {
        d.json["Status"] = json!("successful");
        d.json["StatusDescription"] = json!(SUCCESSFUL);
        d.json["ModifyIndex"] = json!(index);
    }
    register::mark_stable(store, &ns, &job_id, version);
}

/// Fails a deployment and, when a group asks for it, reverts the job to its latest stable
/// version (a new version). Returns the version reverted to.
pub(crate) fn fail(store: &mut Store, id: &str, why: &str, now: Now) -> Option<u64> {
    let d = store.deployments.get(id)?;
    let auto_revert = d.json["TaskGroups"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(_, g)| g["AutoRevert"] == json!(true));
    let (ns, job_id) = d.job_key();
    let (suffix, target) = if auto_revert {
        revert_target(store, &ns, &job_id)
    } else {
        (String::new(), None)
    };
    let index = store.write(&[Table::Deployment]);
    if let Some(d) = store.deployments.get_mut(id) {
        d.json["Status"] = json!("failed");
        d.json["StatusDescription"] = json!(format!("{why}{suffix}"));
        d.json["ModifyIndex"] = json!(index);
    }
    let target = target?;
    let version = num(&target, "Version");
    let mut job = target;
    job["Version"] = json!(0);
    register::register(store, RegisterRequest::plain(job), now.unix).ok()?;
    Some(version)
}

/// The latest stable version to roll back to, and the description suffix Nomad writes.
fn revert_target(store: &Store, ns: &str, id: &str) -> (String, Option<Value>) {
    let Some(entry) = store.job(ns, id) else {
        return (String::new(), None);
    };
    let current = entry.version();
    let stable = entry
        .versions
        .iter()
        .find(|v| num(v, "Version") != current && v["Stable"] == json!(true));
    match stable {
        None => (" - no stable job version to auto revert to".into(), None),
        Some(v) if !crate::canonical::spec_changed(&entry.job, v) => (
            format!(
                " - not rolling back to stable job version {} as current job has same specification",
                num(v, "Version")
            ),
            None,
        ),
        Some(v) => (
            format!(" - rolling back to job version {}", num(v, "Version")),
            Some(v.clone()),
        ),
    }
}
