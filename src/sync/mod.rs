//! One pass over one source, the work `drover sync --once` does and the daemon repeats: fetch,
//! prepare every job file locally (no Nomad call), reconcile against the live jobs (listed
//! only when the state cannot stand in for them: see [`reconcile::live_from_state`]) and the
//! state, then render and apply only the jobs that need it, hand every registration to the
//! cluster's deployment follower, and record every outcome in the state. Owns the order of the
//! stages and nothing else: each decision belongs to its stage (`reconcile` decides, `apply`
//! plans and registers, `follow` follows). A pass ends when its registrations are submitted;
//! it waits for their deployments only when asked to (`sync --once` without `--detach`).
//!
//! Prunes run last, and only when no file failed to render during the pass, so that a parse
//! error found late cannot let a job be deleted (invariant 2).

mod cache;
mod job;
mod objects;
pub mod once;
mod prepare;
mod refused;
mod report;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

pub use cache::PrepareCache;
pub use report::{JobReport, ObjectReport, PassReport, Status};

pub(crate) use objects::read_files as read_object_files;

use crate::apply::Limits;
use crate::config::Source;
use crate::events::{Event, EventKind};
use crate::follow::Followers;
use crate::nomad::{Client, ObserveFn, Query};
use crate::reconcile::{self, ActionKind};
use crate::source::{self, Mirror};
use crate::state::{LiveJob, PassRecord, Recorder, Save, State, Store};

/// How a pass runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Re-plan every managed job (a drift check of all of them).
    pub full: bool,
    /// Submit without following deployments at all (`sync --once --detach`).
    pub detach: bool,
    /// Hand every registration to the cluster's deployment follower and end the pass without
    /// waiting for the deployments (the daemon). Without it (and without `detach`) the pass
    /// waits for them, as `sync --once` does.
    pub hand_over: bool,
    /// Allow pruning past `max_prune_fraction`.
    pub allow_mass_prune: bool,
}

/// What every pass shares.
#[derive(Clone)]
pub struct Context {
    /// The state, its file and the events.
    pub recorder: Recorder,
    /// Jobs a pass applies at once (and prepares, which bounds its memory).
    pub max_parallel: usize,
    /// Jobs applied at once against each cluster, over every source.
    pub limits: Limits,
    /// The deployment follower of each cluster, which every registration is handed to.
    pub followers: Followers,
    pub drift_interval: Duration,
    pub shutdown: CancellationToken,
    /// Told of every Nomad request (for the metrics), when set.
    pub observer: Option<Arc<ObserveFn>>,
    /// With high availability: lowered when this instance stops leading; no register or prune
    /// starts then (those in flight finish), and the rest of the pass reports pending.
    pub fence: Option<crate::leader::Fence>,
    /// What earlier passes learned from each job file.
    pub prepared: PrepareCache,
}

impl Context {
    /// A context as a one-off pass needs it: the loaded state and its store, the `[sync]`
    /// settings, and no shutdown, metrics observer or leadership fence.
    pub fn new(state: State, store: Store, sync: &crate::config::SyncSettings) -> Self {
        let recorder = Recorder::new(state, store);
        let shutdown = CancellationToken::new();
        Self {
            followers: Followers::new(recorder.clone(), shutdown.clone()),
            recorder,
            max_parallel: sync.max_parallel,
            limits: Limits::new(sync.max_parallel),
            drift_interval: sync.drift_interval,
            shutdown,
            observer: None,
            fence: None,
            prepared: PrepareCache::default(),
        }
    }
}

/// One pass over `source`.
pub async fn pass(source: &Source, mirror: &Mirror, ctx: &Context, options: Options) -> PassReport {
    let mut report = PassReport::new(&source.name);
    let started = std::time::Instant::now();
    let fetched = mirror.fetch_async(&ctx.shutdown).await;
    report.fetch_duration = Some(started.elapsed());
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(e) => {
            report.error = Some(format!(
                "fetch of {} failed, keeping what runs: {e}",
                source.url
            ));
            return report;
        }
    };
    let commit = fetched.commit.to_string();
    report.commit = Some(commit.clone());
    report.commit_summary = mirror.commit_summary(fetched.commit);
    tracing::Span::current().record("commit", commit.as_str());
    if let Some(verify) = &source.verify {
        match source::verify::verify(mirror, fetched.commit, verify) {
            Ok(signer) => {
                tracing::debug!(source = %source.name, signer = %signer, "signature verified");
                report.signer = Some(signer);
            }
            Err(refusal) => {
                refused(source, ctx, &mut report, refusal).await;
                return report;
            }
        }
    }
    let client = match Client::new(&source.cluster) {
        Ok(c) => match &ctx.observer {
            Some(o) => c.with_observer(o.clone()),
            None => c,
        },
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let mut prepared = match prepare::prepare(mirror, fetched.commit, source, &ctx.prepared) {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    // A new leader learns the specs that failed under earlier ones before it deploys anything.
    if let Some(known_bad) = ctx.followers.known_bad() {
        let defined: Vec<_> = prepared
            .desired
            .jobs
            .iter()
            .map(|j| (j.key.clone(), j.path.clone()))
            .collect();
        if let Err(e) = known_bad
            .merge_once(&source.name, &defined, &ctx.recorder)
            .await
        {
            report.error = Some(format!(
                "cannot read the known-bad specs shared in Nomad: {e}"
            ));
            return report;
        }
    }
    let object_inputs = objects::Inputs {
        source,
        ctx,
        client: &client,
        options,
        commit: &commit,
    };
    let object_set = std::mem::take(&mut prepared.objects);
    let mut object_pass = objects::apply(&object_inputs, object_set).await;
    block_dependents(&mut prepared.desired, &object_pass.failed_namespaces);
    refused::hold_back(source, ctx, &client, &mut prepared.desired, options.full).await;
    let settings = reconcile_settings(source, ctx, options);
    let known = {
        let state = ctx.recorder.lock();
        let state = state.source(&source.name);
        reconcile::live_from_state(&prepared.desired, state, &settings, SystemTime::now())
    };
    let live = match known {
        Some(live) => live,
        None => match live_jobs(&client).await {
            Ok(live) => live,
            Err(e) => {
                report.error = Some(format!("cannot list the jobs in Nomad: {e}"));
                return report;
            }
        },
    };
    let actions = plan_actions(source, ctx, &settings, &prepared.desired, &live);
    report.jobs = job::execute(job::Inputs {
        source,
        client: client.clone(),
        ctx,
        options,
        commit: &commit,
        signer: report.signer.as_deref(),
        prepared,
        live,
        actions,
    })
    .await;
    objects::prune(&object_inputs, &mut object_pass).await;
    report.objects = object_pass.reports;
    finish(source, ctx, &report).await;
    report
}

/// Blocks the jobs of every namespace that failed to apply in this pass: they wait for it.
fn block_dependents(desired: &mut reconcile::Desired, failed: &BTreeMap<String, String>) {
    if failed.is_empty() {
        return;
    }
    let (waiting, ready) = std::mem::take(&mut desired.jobs)
        .into_iter()
        .partition(|j| failed.contains_key(&j.key.namespace));
    desired.jobs = ready;
    for job in waiting {
        let why = &failed[&job.key.namespace];
        let message = format!(
            "its namespace {:?} was not applied: {why}",
            job.key.namespace
        );
        desired.blocked.push(prepare::blocked_file(
            &job.path,
            Some(job.key),
            reconcile::Problem::Dependency,
            message,
        ));
    }
}

async fn live_jobs(client: &Client) -> Result<Vec<LiveJob>, crate::nomad::Error> {
    let stubs = client
        .in_namespace("*")
        .list_jobs(None, &Query::now())
        .await?
        .value;
    Ok(stubs.iter().map(LiveJob::from_stub).collect())
}

fn reconcile_settings(source: &Source, ctx: &Context, options: Options) -> reconcile::Settings {
    reconcile::Settings {
        source: source.name.clone(),
        prune: source.prune,
        max_prune_fraction: source.max_prune_fraction,
        allow_mass_prune: options.allow_mass_prune,
        drift_interval: ctx.drift_interval,
        full: options.full,
    }
}

fn plan_actions(
    source: &Source,
    ctx: &Context,
    settings: &reconcile::Settings,
    desired: &reconcile::Desired,
    live: &[LiveJob],
) -> Vec<reconcile::Action> {
    let mut state = ctx.recorder.lock();
    let rebuilt = state
        .source_mut(&source.name)
        .rebuild_from_live(&source.name, live);
    if rebuilt > 0 {
        tracing::warn!(source = %source.name, jobs = rebuilt, "state had no record of jobs this source owns; rebuilt from their meta");
    }
    let actions = reconcile::reconcile(
        desired,
        live,
        state.source(&source.name),
        settings,
        SystemTime::now(),
    );
    let kinds: HashMap<&str, usize> = actions.iter().fold(HashMap::new(), |mut m, a| {
        *m.entry(kind_name(a.kind())).or_default() += 1;
        m
    });
    tracing::info!(source = %source.name, ?kinds, "reconciled");
    actions
}

fn kind_name(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Create => "create",
        ActionKind::Update => "update",
        ActionKind::Unchanged => "unchanged",
        ActionKind::Plan => "plan",
        ActionKind::Prune => "prune",
        ActionKind::PruneRefused => "prune_refused",
        ActionKind::Blocked => "blocked",
    }
}

/// A commit whose signature is refused is not deployed: the pass ends here, what runs stays,
/// and the next fetch tries again. The refusal is announced once per commit (a source that
/// stays on it is not told again at every poll), and recorded as the fetched commit.
async fn refused(
    source: &Source,
    ctx: &Context,
    report: &mut PassReport,
    refusal: source::verify::Refusal,
) {
    let commit = report.commit.clone();
    tracing::warn!(source = %source.name, commit = ?commit, reason = refusal.reason(), error = %refusal, "signature refused: not deploying, keeping what runs");
    report.error = Some(format!(
        "commit {} not deployed, keeping what runs: {refusal}",
        commit.as_deref().unwrap_or_default()
    ));
    let told = ctx.recorder.lock().source(&source.name).last_fetched_commit == commit;
    if !told {
        let event = Event::new(EventKind::VerificationFailed, &source.name, "", "")
            .commit(commit.as_deref())
            .detail(refusal.to_string());
        ctx.recorder.announce(event);
    }
    report.refused = Some(refusal);
    let name = source.name.clone();
    ctx.recorder
        .record(Save::Now, move |state| {
            state.source_mut(&name).last_fetched_commit = commit;
        })
        .await;
}

/// Records the pass itself, and announces its end when it submitted or blocked anything.
async fn finish(source: &Source, ctx: &Context, report: &PassReport) {
    let acted = report
        .jobs
        .iter()
        .any(|j| !matches!(j.status, Status::Unchanged | Status::Kept));
    if acted {
        let event = Event::new(EventKind::PassEnded, &source.name, "", "")
            .commit(report.commit.as_deref())
            .detail(report.summary());
        ctx.recorder.announce(event);
    }
    let (name, commit, converged, summary) = (
        source.name.clone(),
        report.commit.clone(),
        report.converged(),
        report.summary(),
    );
    ctx.recorder
        .record(Save::Now, move |state| {
            let s = state.source_mut(&name);
            s.last_fetched_commit.clone_from(&commit);
            if converged {
                s.last_synced_commit.clone_from(&commit);
            }
            s.last_pass = Some(PassRecord {
                at: SystemTime::now(),
                commit,
                converged,
                summary,
            });
        })
        .await;
}
