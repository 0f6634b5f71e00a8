//! Job writes as Nomad's `Job.Register`, `Job.Deregister` and `Job.Revert` perform them
//! (docs/nomad-api.md): check-and-set on `JobModifyIndex`, the unchanged-spec
//! shortcut that only creates an evaluation, version numbering, `PreserveCounts`, and the
//! version history. Never decides placement; the scheduler does that.

use serde_json::{Value, json};

use crate::canonical;
use crate::http::ApiError;
use crate::state::{JobEntry, Store, TRACKED_VERSIONS, Table, num, text};

pub(crate) struct RegisterRequest {
    /// A server job (canonicalised, validated) whose `Namespace` is already the effective one.
    pub job: Value,
    pub enforce_index: Option<u64>,
    pub preserve_counts: bool,
    pub submission: Option<Value>,
    pub eval_priority: Option<u64>,
}

impl RegisterRequest {
    pub(crate) fn plain(job: Value) -> Self {
        Self {
            job,
            enforce_index: None,
            preserve_counts: false,
            submission: None,
            eval_priority: None,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct RegisterOutcome {
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub index: u64,
}

impl RegisterOutcome {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "EvalID": self.eval_id,
            "EvalCreateIndex": self.eval_create_index,
            "JobModifyIndex": self.job_modify_index,
            "Warnings": "",
            "Index": self.index,
            "LastContact": 0,
            "KnownLeader": false,
            "NextToken": "",
        })
    }
}

/// Periodic and parameterized jobs get no evaluation on register.
pub(crate) fn creates_eval(job: &Value) -> bool {
    job["Periodic"].is_null() && job["ParameterizedJob"].is_null()
}

pub(crate) fn register(
    store: &mut Store,
    req: RegisterRequest,
    now: i64,
) -> Result<RegisterOutcome, ApiError> {
    let ns = text(&req.job, "Namespace").to_owned();
    let id = text(&req.job, "ID").to_owned();
    if !store.has_namespace(&ns) {
        return Err(ApiError::internal(format!(
            "job \"{id}\" is in nonexistent namespace \"{ns}\""
        )));
    }
    let existing = store.job(&ns, &id).map(|e| e.job.clone());
    if let Some(want) = req.enforce_index {
        check_enforce_index(existing.as_ref(), want)?;
    }
    if let Some(old) = &existing {
        check_transition(old, &req.job)?;
        if !canonical::spec_changed(old, &req.job) {
            return Ok(reregister_unchanged(store, old, &req, now));
        }
    }
    Ok(insert_version(store, existing.as_ref(), req, now))
}

fn check_enforce_index(existing: Option<&Value>, want: u64) -> Result<(), ApiError> {
    let prefix = format!("Enforcing job modify index {want}");
    match existing {
        Some(_) if want == 0 => Err(ApiError::internal(format!("{prefix}: job already exists"))),
        Some(job) if num(job, "JobModifyIndex") != want => Err(ApiError::internal(format!(
            "{prefix}: job exists with conflicting job modify index: {}",
            num(job, "JobModifyIndex")
        ))),
        None if want != 0 => Err(ApiError::internal(format!("{prefix}: job does not exist"))),
        _ => Ok(()),
    }
}

fn check_transition(old: &Value, new: &Value) -> Result<(), ApiError> {
    let (old_type, new_type) = (text(old, "Type"), text(new, "Type"));
    if old_type != new_type {
        return Err(ApiError::internal(format!(
            "cannot update job from type \"{old_type}\" to \"{new_type}\""
        )));
    }
    let checks = [
        ("Periodic", "periodic"),
        ("ParameterizedJob", "parameterized"),
    ];
    for (key, word) in checks {
        match (old[key].is_null(), new[key].is_null()) {
            (true, false) => {
                return Err(ApiError::internal(format!(
                    "cannot update non-{word} job to being {word}"
                )));
            }
            (false, true) => {
                return Err(ApiError::internal(format!(
                    "cannot update {word} job to being non-{word}"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Re-registering an identical spec: no new version, but a new evaluation (Nomad 1.x answers
/// with the existing `JobModifyIndex`).
fn reregister_unchanged(
    store: &mut Store,
    old: &Value,
    req: &RegisterRequest,
    now: i64,
) -> RegisterOutcome {
    if !creates_eval(old) {
        let index = num(old, "ModifyIndex");
        return RegisterOutcome {
            job_modify_index: num(old, "JobModifyIndex"),
            index,
            ..Default::default()
        };
    }
    let index = store.write(&[Table::Evals]);
    let mut eval_job = old.clone();
    if let Some(p) = req.eval_priority {
        eval_job["Priority"] = json!(p);
    }
    let eval_id = store.create_eval(&eval_job, "job-register", index, now);
    RegisterOutcome {
        eval_id,
        eval_create_index: index,
        job_modify_index: num(old, "JobModifyIndex"),
        index,
    }
}

fn insert_version(
    store: &mut Store,
    existing: Option<&Value>,
    req: RegisterRequest,
    now: i64,
) -> RegisterOutcome {
    let mut job = req.job;
    let submitted_version = num(&job, "Version");
    let index = store.write(&[
        Table::Jobs,
        Table::JobVersion,
        Table::JobSummary,
        Table::Evals,
    ]);
    match existing {
        None => {
            job["Version"] = json!(submitted_version);
            job["CreateIndex"] = json!(index);
        }
        Some(old) => {
            let next = num(old, "Version") + 1;
            job["Version"] = json!(submitted_version.max(next));
            job["CreateIndex"] = old["CreateIndex"].clone();
            if req.preserve_counts {
                preserve_counts(old, &mut job);
            }
        }
    }
    job["ModifyIndex"] = json!(index);
    job["JobModifyIndex"] = json!(index);
    job["SubmitTime"] = json!(now);
    job["Stable"] = json!(false);
    job["Status"] = json!(if job["Stop"].as_bool() == Some(true) {
        "dead"
    } else {
        "pending"
    });
    let mut outcome = RegisterOutcome {
        job_modify_index: index,
        index,
        ..Default::default()
    };
    if creates_eval(&job) {
        let mut eval_job = job.clone();
        if let Some(p) = req.eval_priority {
            eval_job["Priority"] = json!(p);
        }
        outcome.eval_id = store.create_eval(&eval_job, "job-register", index, now);
        outcome.eval_create_index = index;
    }
    store_version(store, job, req.submission, index);
    outcome
}

/// Keeps the live count of every group that exists in both versions.
fn preserve_counts(old: &Value, job: &mut Value) {
    let Some(groups) = job["TaskGroups"].as_array_mut() else {
        return;
    };
    for group in groups {
        let name = text(group, "Name").to_owned();
        let live = old["TaskGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| text(g, "Name") == name);
        if let Some(live) = live {
            group["Count"] = live["Count"].clone();
        }
    }
}

/// Makes `job` the current version and records it in the version history.
pub(crate) fn store_version(store: &mut Store, job: Value, submission: Option<Value>, index: u64) {
    let key = (
        text(&job, "Namespace").to_owned(),
        text(&job, "ID").to_owned(),
    );
    let version = num(&job, "Version");
    let entry = store.jobs.entry(key).or_insert_with(|| JobEntry {
        job: Value::Null,
        versions: Vec::new(),
        submissions: Default::default(),
        summary_index: index,
    });
    entry.versions.insert(0, job.clone());
    trim_versions(&mut entry.versions);
    if let Some(s) = submission {
        entry.submissions.insert(version, s);
    }
    entry.job = job;
    entry.summary_index = index;
}

/// Keeps the newest [`TRACKED_VERSIONS`], always retaining the most recent stable one.
fn trim_versions(versions: &mut Vec<Value>) {
    if versions.len() <= TRACKED_VERSIONS {
        return;
    }
    let stable = versions
        .iter()
        .position(|v| v["Stable"].as_bool() == Some(true));
    match stable {
        Some(i) if i >= TRACKED_VERSIONS - 1 => {
            let keep = versions.remove(i);
            versions.truncate(TRACKED_VERSIONS - 1);
            versions.push(keep);
        }
        _ => versions.truncate(TRACKED_VERSIONS),
    }
}

/// `DELETE /v1/job/:id`: stop (a new version with `Stop: true`) or purge.
pub(crate) fn deregister(store: &mut Store, ns: &str, id: &str, purge: bool, now: i64) -> Value {
    let Some(entry) = store.job(ns, id) else {
        return json!({"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0, "VolumeEvalID": "",
            "VolumeEvalIndex": 0, "Index": 0, "LastContact": 0, "KnownLeader": false, "NextToken": ""});
    };
    let mut job = entry.job.clone();
    let index = store.write(&[
        Table::Jobs,
        Table::JobVersion,
        Table::JobSummary,
        Table::Evals,
    ]);
    let eval_id = if creates_eval(&job) {
        store.create_eval(&job, "job-deregister", index, now)
    } else {
        String::new()
    };
    if purge {
        store.jobs.remove(&(ns.to_owned(), id.to_owned()));
    } else {
        job["Stop"] = json!(true);
        job["Version"] = json!(num(&job, "Version") + 1);
        job["ModifyIndex"] = json!(index);
        job["JobModifyIndex"] = json!(index);
        job["SubmitTime"] = json!(now);
        job["Stable"] = json!(false);
        job["Status"] = json!("dead");
        store_version(store, job, None, index);
    }
    crate::deployment::cancel_active(store, ns, id, "Cancelled because job is stopped", index);
    let eval_index = if eval_id.is_empty() { 0 } else { index };
    json!({"EvalID": eval_id, "EvalCreateIndex": eval_index, "JobModifyIndex": index, "VolumeEvalID": "",
        "VolumeEvalIndex": 0, "Index": index, "LastContact": 0, "KnownLeader": false, "NextToken": ""})
}

/// `POST /v1/job/:id/revert`: the old version goes through the register path as a new version.
pub(crate) fn revert(
    store: &mut Store,
    ns: &str,
    id: &str,
    to: u64,
    enforce_prior: Option<u64>,
    now: i64,
) -> Result<RegisterOutcome, ApiError> {
    let entry = store
        .job(ns, id)
        .ok_or_else(|| ApiError::internal(format!("job \"{id}\" not found")))?;
    let current = entry.version();
    if let Some(want) = enforce_prior.filter(|w| *w != current) {
        return Err(ApiError::internal(format!(
            "Current job has version {current}; enforcing version {want}"
        )));
    }
    if to == current {
        return Err(ApiError::internal("can't revert to current version"));
    }
    let old = entry
        .versions
        .iter()
        .find(|v| num(v, "Version") == to)
        .ok_or_else(|| {
            ApiError::internal(format!(
                "job \"{id}\" in namespace \"{ns}\" at version {to} not found"
            ))
        })?;
    let mut job = old.clone();
    job["VersionTag"] = Value::Null;
    job["Version"] = json!(0);
    let mut req = RegisterRequest::plain(job);
    req.enforce_index = enforce_prior.map(|_| num(&entry.job, "JobModifyIndex"));
    register(store, req, now)
}

/// Marks `version` of a job stable after its deployment succeeded: `ModifyIndex` moves,
/// `Version` and `JobModifyIndex` do not.
pub(crate) fn mark_stable(store: &mut Store, ns: &str, id: &str, version: u64) {
    if store.job(ns, id).is_none() {
        return;
    }
    let index = store.write(&[Table::Jobs, Table::JobVersion]);
    if let Some(entry) = store.job_mut(ns, id) {
        for v in entry
            .versions
            .iter_mut()
            .filter(|v| num(v, "Version") == version)
        {
            v["Stable"] = json!(true);
        }
        if entry.version() == version {
            entry.job["Stable"] = json!(true);
            entry.job["ModifyIndex"] = json!(index);
        }
    }
}
