//! Apply: plans a rendered job against the live one and registers it with check-and-set when,
//! and only when, the plan shows a change (invariants 1 and 3 in docs/architecture.md); runs
//! many jobs with bounded concurrency. Never forces a registration, never deregisters because
//! something failed (pruning is decided by `reconcile`), and never follows deployments
//! (`follow` does).
//!
//! The plan is made with the live job's `drover.commit`, as drover knows it, and drover's own
//! meta is ignored when reading the diff: a branch that moved without touching this job's
//! inputs is not a change. Counts the autoscaler owns are copied from the live job before
//! planning, the only case where the live job is read. The plan's diff is also written out as
//! text here, for `drover diff` and for the events that keep it (the job page shows it).

mod counts;
mod diff;
pub mod objects;
pub mod registry;
mod text;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use serde_json::Value;

pub use counts::{apply_live_counts, keeps_live_counts};
pub use diff::{is_change, other_owner, summary, without_own_meta};
pub use text::{Style, job as job_text};

use crate::config::PreserveCounts;
use crate::nomad::{
    self, Client, DiffType, JobDiff, PlanResponse, Query, RegisterRequest, Submission,
};
use crate::state::META_COMMIT;

/// A rendered job ready to be applied.
#[derive(Debug, Clone)]
pub struct Submit {
    /// Nomad's canonical job JSON, with drover's ownership meta.
    pub job: Value,
    /// The HCL and variables it came from, stored by Nomad for its UI.
    pub submission: Option<Submission>,
    pub preserve_counts: PreserveCounts,
    /// The live job's `drover.commit` as far as drover knows it (the job list's meta, or the
    /// state): the plan is made with it, so that a moved branch alone shows no change in
    /// Nomad's diff either. The registration carries the new commit.
    pub live_commit: Option<String>,
}

/// Why the job is being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Its inputs changed (or it is new): register when the plan shows a change.
    Apply,
    /// A periodic drift check: a change means someone changed the job outside Git. It is
    /// registered again only with `self_heal`; otherwise only reported.
    DriftCheck { self_heal: bool },
}

/// What applying one job did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The plan showed no change: nothing was registered.
    Unchanged,
    /// Registered; `summary` says what the plan changed, `plan` shows it (see [`plan_text`]).
    Registered {
        eval_id: String,
        job_modify_index: u64,
        summary: String,
        plan: String,
    },
    /// A drift check found a change and `self_heal` is off: reported, not registered.
    Drifted { summary: String, plan: String },
    /// Someone else changed the job between our plan and our registration, twice.
    Contended,
    /// The live job's `drover.source` names another source: not registered, whatever the
    /// intent.
    OwnedElsewhere { source: String },
    /// The plan showed a change, but the caller's `hold` said not to register now.
    Held { reason: String },
}

/// A job planned against the live one.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The job to register: the rendered one with the live counts it must keep.
    pub job: Value,
    pub plan: PlanResponse,
}

impl Planned {
    /// Whether the plan shows a change other than drover's own meta.
    pub fn is_change(&self) -> bool {
        is_change(self.plan.diff.as_ref())
    }
}

/// Plans `submit` against the live job without registering anything (`drover diff`, and the
/// first half of [`apply`]). The live job is read first only when a group of `submit` keeps
/// its live count: otherwise the plan alone says all there is to know.
pub async fn plan(client: &Client, submit: &Submit) -> Result<Planned, nomad::Error> {
    let mut job = submit.job.clone();
    if keeps_live_counts(submit.preserve_counts, &job) {
        let id = job.get("ID").and_then(Value::as_str).unwrap_or_default();
        let live = read_live(client, id).await?;
        apply_live_counts(submit.preserve_counts, &mut job, live.as_ref());
    }
    let plan = client
        .plan_job(&with_commit(&job, submit.live_commit.as_deref()))
        .await?;
    Ok(Planned { job, plan })
}

/// `job` with `commit` as its `drover.commit`, when there is one.
fn with_commit(job: &Value, commit: Option<&str>) -> Value {
    let mut planned = job.clone();
    if let (Some(commit), Some(meta)) = (
        commit,
        planned.get_mut("Meta").and_then(Value::as_object_mut),
    ) {
        meta.insert(META_COMMIT.to_owned(), Value::from(commit));
    }
    planned
}

/// Applies one job. Conflicts are answered by re-reading the live job and planning again,
/// once; a second conflict leaves the job to the next pass. `hold` is asked right before each
/// register: a reason it gives stops the registration (the job's spec became known-bad while
/// it was planned, this instance stopped leading, ...).
pub async fn apply(
    client: &Client,
    submit: &Submit,
    intent: Intent,
    hold: impl Fn() -> Option<String>,
) -> Result<Applied, Failed> {
    for attempt in 0..2 {
        let Planned { job, plan } = plan(client, submit).await.map_err(Failed::plan)?;
        if let Some(source) = other_owner(plan.diff.as_ref()) {
            let source = source.to_owned();
            return Ok(Applied::OwnedElsewhere { source });
        }
        if !is_change(plan.diff.as_ref()) {
            return Ok(Applied::Unchanged);
        }
        let summary = summary(plan.diff.as_ref());
        let text = plan_text(plan.diff.as_ref());
        if intent == (Intent::DriftCheck { self_heal: false }) {
            return Ok(Applied::Drifted {
                summary,
                plan: text,
            });
        }
        if let Some(reason) = hold() {
            return Ok(Applied::Held { reason });
        }
        let request = RegisterRequest {
            job,
            enforce_index: Some(plan.job_modify_index),
            preserve_counts: submit.preserve_counts == PreserveCounts::Always,
            submission: submit.submission.clone(),
        };
        match client.register_job(&request).await {
            Ok(r) => {
                return Ok(Applied::Registered {
                    eval_id: r.eval_id,
                    job_modify_index: r.job_modify_index,
                    summary,
                    plan: text,
                });
            }
            Err(nomad::Error::Conflict { text }) => {
                let id = submit
                    .job
                    .get("ID")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                tracing::info!(job = id, attempt, conflict = %text, "job changed in Nomad since the plan; planning again");
            }
            Err(error) => {
                return Err(Failed {
                    call: Call::Register,
                    error,
                });
            }
        }
    }
    Ok(Applied::Contended)
}

/// The plan's diff as `drover diff` prints it, without colours or drover's own meta, for the
/// events that keep it; empty when Nomad gave no diff, and for a new job, whose plan is its
/// whole file added: thousands of new jobs would fill the bounded history (and the daemon's
/// memory) with copies of their files, and the file says it better.
fn plan_text(diff: Option<&JobDiff>) -> String {
    match diff {
        Some(diff) if diff.r#type != DiffType::Added => {
            job_text(&without_own_meta(diff.clone()), Style::Plain)
        }
        _ => String::new(),
    }
}

/// A Nomad call of [`apply`] failed: which one, and how.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failed {
    pub call: Call,
    #[source]
    pub error: nomad::Error,
}

/// The calls [`apply`] makes; reading the live job for its counts is part of planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Plan,
    Register,
}

impl Failed {
    fn plan(error: nomad::Error) -> Self {
        Self {
            call: Call::Plan,
            error,
        }
    }
}

/// The live job, `None` when Nomad has none.
async fn read_live(client: &Client, id: &str) -> Result<Option<Value>, nomad::Error> {
    match client.read_job(id, &Query::now()).await {
        Ok(read) => Ok(Some(read.value)),
        Err(nomad::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs `work` over `items` with at most `max_parallel` at a time, keeping the input order in
/// the output. Each item's work is made only when it can start, so that a pass over thousands
/// of jobs holds at most `max_parallel` of them in flight, not a future per job. Callers pass
/// one item per job, so no job is worked on twice at once.
pub async fn bounded<T, F, Fut, O>(items: Vec<T>, max_parallel: usize, mut work: F) -> Vec<O>
where
    O: Send + 'static,
    F: FnMut(T) -> Fut,
    Fut: Future<Output = O> + Send + 'static,
{
    let max = max_parallel.max(1);
    let mut items = items.into_iter().enumerate();
    let mut tasks = tokio::task::JoinSet::new();
    let mut out: Vec<(usize, O)> = Vec::new();
    loop {
        while tasks.len() < max {
            let Some((i, item)) = items.next() else { break };
            let fut = work(item);
            tasks.spawn(async move { (i, fut.await) });
        }
        match tasks.join_next().await {
            Some(Ok(pair)) => out.push(pair),
            Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Some(Err(_)) => {}
            None => break,
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, o)| o).collect()
}

/// One bound on the jobs being applied against each cluster at once, whichever source's pass
/// applies them: several sources on one cluster share `max_parallel`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Limits {
    max: usize,
    clusters: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Limits {
    pub fn new(max_parallel: usize) -> Self {
        Self {
            max: max_parallel.max(1),
            clusters: Arc::default(),
        }
    }

    /// Waits for a place among the jobs applied against `cluster`; held until dropped.
    pub async fn acquire(&self, cluster: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut clusters = self.clusters.lock().unwrap_or_else(|e| e.into_inner());
            clusters
                .entry(cluster.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.max)))
                .clone()
        };
        semaphore
            .acquire_owned()
            .await
            .expect("a cluster's semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_plan_carries_the_live_commit_and_the_job_keeps_its_own() {
        let job = json!({"ID": "web", "Meta": {"drover.commit": "c2", "owner": "ops"}});
        let planned = with_commit(&job, Some("c1"));
        assert_eq!(planned["Meta"]["drover.commit"], "c1");
        assert_eq!(planned["Meta"]["owner"], "ops");
        assert_eq!(job["Meta"]["drover.commit"], "c2");
        assert_eq!(
            with_commit(&job, None),
            job,
            "a new job is planned as it is"
        );
    }

    #[test]
    fn a_new_job_keeps_no_plan_and_an_edit_keeps_it_whole() {
        let added = |t: &str| json!({"Type": t, "Name": "Datacenters", "Old": "", "New": "dc1"});
        let diff = |t: &str| -> JobDiff {
            serde_json::from_value(json!({
                "Type": t, "ID": "web", "Fields": [added("Added")],
                "TaskGroups": [{"Type": t, "Name": "web", "Fields": [added("Added")],
                    "Tasks": [{"Type": t, "Name": "nginx", "Fields": [added("Added")]}]}]
            }))
            .expect("diff")
        };
        assert_eq!(plan_text(Some(&diff("Added"))), "");
        let edit = plan_text(Some(&diff("Edited")));
        assert!(edit.contains("Datacenters"), "{edit}");
        assert_eq!(plan_text(None), "");
    }
}
