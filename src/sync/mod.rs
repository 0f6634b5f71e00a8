//! One pass over one source, the work `drover sync --once` does and the daemon repeats: fetch,
//! prepare every job file locally (no Nomad call), reconcile against the live jobs (listed
//! only when the state cannot stand in for them: see [`reconcile::live_from_state`]) and the
//! state, then render, apply and track only the jobs that need it, and record every outcome in
//! the state. Owns the order of the stages and nothing else: each decision belongs to its stage
//! (`reconcile` decides, `apply` plans and registers, `track` follows).
//!
//! Prunes run last, and only when no file failed to render during the pass, so that a parse
//! error found late cannot let a job be deleted (invariant 2).

mod cache;
mod job;
pub mod once;
mod prepare;
mod report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

pub use cache::PrepareCache;
pub use prepare::join as join_errors;
pub use report::{JobReport, PassReport, Status};

use crate::config::Source;
use crate::nomad::{Client, ObserveFn, Query};
use crate::reconcile::{self, ActionKind};
use crate::source::Mirror;
use crate::state::{LiveJob, PassRecord, State, Store};

/// How a pass runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Re-plan every managed job (a drift check of all of them).
    pub full: bool,
    /// Submit without following deployments.
    pub detach: bool,
    /// Allow pruning past `max_prune_fraction`.
    pub allow_mass_prune: bool,
}

/// What every pass shares.
#[derive(Clone)]
pub struct Context {
    pub state: Arc<Mutex<State>>,
    pub store: Arc<Store>,
    pub max_parallel: usize,
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

/// When a change of the state must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Save {
    /// Before the pass goes on: what Nomad cannot tell again (a failed deployment's inputs, a
    /// prune, the pass itself).
    Now,
    /// Within [`SAVE_SOON`], or with the next save: what the ownership meta restores after a
    /// crash (a registration, the time of a plan). A cold sync of thousands of jobs writes the
    /// file a few times a second instead of once per job.
    Soon,
}

/// How long a [`Save::Soon`] change may wait for a write.
const SAVE_SOON: Duration = Duration::from_secs(1);

impl Context {
    /// A context as a one-off pass needs it: the loaded state and its store, the `[sync]`
    /// settings, and no shutdown, metrics observer or leadership fence.
    pub fn new(state: State, store: Store, sync: &crate::config::SyncSettings) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
            store: Arc::new(store),
            max_parallel: sync.max_parallel,
            drift_interval: sync.drift_interval,
            shutdown: CancellationToken::new(),
            observer: None,
            fence: None,
            prepared: PrepareCache::default(),
        }
    }

    /// Changes the state and returns once it is on disk or, for [`Save::Soon`], due to be.
    pub(crate) async fn record(
        &self,
        save: Save,
        change: impl FnOnce(&mut State) + Send + 'static,
    ) {
        let (state, store) = (self.state.clone(), self.store.clone());
        let saved = tokio::task::spawn_blocking(move || match save {
            Save::Now => store.change_and_save(&state, change),
            Save::Soon => store.change_and_save_within(&state, change, SAVE_SOON),
        })
        .await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot save the state"),
            Err(e) => tracing::error!(error = %e, "state save task failed"),
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
    tracing::Span::current().record("commit", commit.as_str());
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
    let prepared = match prepare::prepare(mirror, fetched.commit, source, &ctx.prepared) {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let settings = reconcile_settings(source, ctx, options);
    let known = {
        let state = ctx.state.lock().unwrap_or_else(|e| e.into_inner());
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
        client,
        ctx,
        options,
        commit: &commit,
        prepared,
        live,
        actions,
    })
    .await;
    finish(source, ctx, &report).await;
    report
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
    let mut state = ctx.state.lock().unwrap_or_else(|e| e.into_inner());
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

/// Records the pass itself.
async fn finish(source: &Source, ctx: &Context, report: &PassReport) {
    let (name, commit, converged, summary) = (
        source.name.clone(),
        report.commit.clone(),
        report.converged(),
        report.summary(),
    );
    ctx.record(Save::Now, move |state| {
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
