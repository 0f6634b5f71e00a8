//! `drover run`: the long-running agent. One loop per source (see `source_loop`), one
//! deployment follower per cluster (`follow`), the events' consumers (status board, metrics,
//! logs), the HTTP endpoints, systemd notifications, configuration reloads (`SIGHUP` or a
//! change of the file) and one shutdown authority: a root cancellation token and a task
//! tracker. On `SIGTERM` or `SIGINT` it stops taking triggers, lets registrations in flight
//! finish and record their state, drops blocking queries and fetches, and exits 0 within
//! `shutdown_timeout`. Deployments still running are found again from Nomad at the next start.
//!
//! With `[ha]` on, an election (`leader`) decides whether this instance applies: the loops of a
//! follower only fetch, and becoming leader resumes the deployments in flight and triggers a
//! pass of every source. On shutdown the lock is released only after the registrations in
//! flight have finished.
//!
//! Owns the wiring only; each pass is `sync::pass`, following is `follow`.

mod events;
mod reload;
mod source_loop;
mod supervisor;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::apply::Limits;
use crate::config::{Config, HaSettings, Source, SyncSettings};
use crate::follow::{self, Followers, SharedKnownBad};
use crate::leader::{Election, Fence, Role};
use crate::metrics::Metrics;
use crate::nomad::Client;
use crate::state::{Recorder, Store};
use crate::status::{Board, JobState};
use crate::sync::{self, PassReport, Status};
use crate::systemd::ServiceManager;
use crate::trigger::Reason;
use supervisor::Supervisor;

/// How long the start-up check waits for each Nomad cluster.
const NOMAD_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// What every loop shares.
#[derive(Clone)]
pub(crate) struct Shared {
    board: Board,
    metrics: Arc<Metrics>,
    service_manager: Arc<ServiceManager>,
    recorder: Recorder,
    state_dir: PathBuf,
    sync: SyncSettings,
    /// With high availability: raised while this instance leads.
    fence: Option<Fence>,
    prepared: sync::PrepareCache,
    limits: Limits,
    followers: Followers,
}

impl Shared {
    fn sync_context(&self, cancel: CancellationToken) -> sync::Context {
        sync::Context {
            recorder: self.recorder.clone(),
            max_parallel: self.sync.max_parallel,
            limits: self.limits.clone(),
            followers: self.followers.clone(),
            drift_interval: self.sync.drift_interval,
            shutdown: cancel,
            observer: Some(observer(&self.metrics)),
            fence: self.fence.clone(),
            prepared: self.prepared.clone(),
        }
    }

    /// Publishes a finished pass: status board, metrics, logs and systemd's `STATUS=`.
    fn pass_finished(&self, source: &Source, report: &PassReport, took: Duration) {
        self.board
            .pass_finished(report, self.recorder.lock().source(&source.name), took);
        let result = if report.error.is_some() {
            "error"
        } else if report.converged() {
            "converged"
        } else {
            "problems"
        };
        self.metrics.pass_finished(&source.name, result, took);
        if source.verify.is_some() {
            let refused = report.refused.as_ref().map(|r| r.reason());
            self.metrics
                .verification(&source.name, refused, report.commit.is_some());
        }
        if let Some(fetch) = report.fetch_duration {
            self.metrics.fetch_finished(&source.name, fetch);
        }
        self.metrics.jobs(&self.board.job_counts());
        for job in &report.jobs {
            let name = job
                .job
                .as_ref()
                .map_or_else(|| job.path.clone(), ToString::to_string);
            self.metrics.job_drift(&name, job.status == Status::Drifted);
            // What an event tells (a registration, a block, a drift, a prune, a refusal) is
            // logged once, by the events' consumer.
            let told_by_event = job.job.is_some()
                && matches!(
                    job.status,
                    Status::Submitted
                        | Status::Blocked
                        | Status::Drifted
                        | Status::Pruned
                        | Status::Failed
                );
            match job.status {
                Status::Unchanged => {}
                _ if told_by_event => {}
                s if s.is_problem() => {
                    tracing::warn!(source = %source.name, job = %name, status = ?s, detail = %job.detail, "job")
                }
                s => {
                    tracing::info!(source = %source.name, job = %name, status = ?s, detail = %job.detail, "job")
                }
            }
        }
        match &report.error {
            Some(e) => {
                tracing::warn!(source = %source.name, error = %e, "pass failed; keeping what runs")
            }
            None => {
                tracing::info!(source = %source.name, commit = report.commit.as_deref().unwrap_or("-"), summary = %report.summary(), "pass finished")
            }
        }
        self.service_manager.status(&self.status_line());
    }

    /// Whether this instance may apply now: always, unless high availability makes it a
    /// follower.
    fn leads(&self) -> bool {
        self.fence.as_ref().is_none_or(Fence::holds)
    }

    /// One line for `STATUS=`: the role with high availability, jobs per state over every source.
    fn status_line(&self) -> String {
        let role = if self.fence.is_some() {
            format!("{}; ", self.board.role())
        } else {
            String::new()
        };
        let counts = self.board.job_counts();
        let parts: Vec<String> = counts
            .iter()
            .map(|(state, n)| format!("{n} {}", state.as_str()))
            .collect();
        let failing = counts.get(&JobState::Failed).copied().unwrap_or(0);
        format!(
            "{role}{} jobs: {}{}",
            counts.values().sum::<u64>(),
            parts.join(", "),
            if failing > 0 { " (see /status)" } else { "" }
        )
    }
}

/// Runs the daemon with `config` (loaded from `config_path`, which is watched for changes)
/// until a termination signal; the exit code is 0 after a clean shutdown.
pub fn run(config_path: &Path, config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve_config(config_path.to_owned(), config))
}

/// The daemon on the current runtime (`drover demo` runs its simulator on the same one).
pub async fn serve_config(path: PathBuf, config: Config) -> anyhow::Result<ExitCode> {
    // Before anything answers (the HTTP endpoint, READY=1): a SIGTERM sent as soon as the
    // daemon looks up must not find the default action, which kills without a clean stop.
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let store = Store::new(&config.state.dir);
    let loaded = store.load().context("cannot read the state")?;
    if let Some(warning) = &loaded.warning {
        tracing::warn!(%warning, "state file unusable; starting from Nomad's ownership meta");
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
    check_nomad(&config).await;
    let service_manager = Arc::new(ServiceManager::from_env());
    let (board, metrics) = (Board::new(), Arc::new(Metrics::new()));
    let ha = match &config.ha {
        Some(settings) => Some(
            crate::leader::start(settings, board.clone())
                .context("cannot set up the leader election (ha.cluster)")?,
        ),
        None => None,
    };
    if ha.is_some() {
        board.set_role("follower", None);
        metrics.leader(false);
    }
    let root = CancellationToken::new();
    let tracker = TaskTracker::new();
    let recorder = Recorder::new(loaded.state, store);
    let fence = ha.as_ref().map(|(_, _, fence)| fence.clone());
    let mut followers = Followers::new(recorder.clone(), root.child_token())
        .with_board(board.clone())
        .with_observer(observer(&metrics));
    if let (Some(fence), Some(settings)) = (&fence, &config.ha) {
        followers = followers.with_leadership(fence.clone(), shared_known_bad(settings, &metrics)?);
    }
    tracker.spawn(events::consume(
        recorder.bus().subscribe(),
        board.clone(),
        metrics.clone(),
        root.child_token(),
    ));
    let shared = Shared {
        board,
        metrics,
        service_manager: service_manager.clone(),
        recorder,
        state_dir: config.state.dir.clone(),
        sync: config.sync.clone(),
        fence,
        prepared: sync::PrepareCache::default(),
        limits: Limits::new(config.sync.max_parallel),
        followers,
    };
    let shutdown_timeout = config.sync.shutdown_timeout;
    let (config_tx, config_rx) = watch::channel(Arc::new(config.clone()));
    let (triggers_tx, mut triggers) = mpsc::unbounded_channel();
    tracker.spawn(crate::notifier::run(
        notifier_setup(&config, &shared, config_rx.clone())?,
        root.child_token(),
    ));
    let serve_ctx = crate::serve::ServeContext {
        board: shared.board.clone(),
        recorder: shared.recorder.clone(),
        metrics: shared.metrics.clone(),
        config: config_rx,
        triggers: triggers_tx,
    };
    let serve_token = root.child_token();
    tracker.spawn(async move {
        if let Err(e) = crate::serve::serve(listener, serve_ctx, serve_token).await {
            tracing::error!(error = %e, "the HTTP endpoint stopped");
        }
    });
    let mut supervisor = Supervisor::new(shared.clone(), root.clone(), tracker.clone());
    supervisor.apply(&config);
    service_manager.ready();
    tracing::info!(sources = config.sources.len(), listen = %config.server.listen, "drover is running");
    tracker.spawn(watchdog(shared.clone(), root.child_token()));
    // Not under `root`: the lock is released only after the loops have finished.
    let ha_cancel = CancellationToken::new();
    let (election, mut roles) = match ha {
        Some((election, roles, _)) => (
            Some(tokio::spawn(Election::run(election, ha_cancel.clone()))),
            Some(roles),
        ),
        None => (None, None),
    };
    let mut leading = false;
    if shared.fence.is_none() {
        tracker.spawn(resume(
            shared.clone(),
            current_config(&config_tx),
            root.child_token(),
        ));
    }

    let mut reloads = reload::watch(&path);
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => reload(&path, &mut supervisor, &config_tx, &service_manager),
            Some(()) = reloads.changed() => reload(&path, &mut supervisor, &config_tx, &service_manager),
            Some(t) = triggers.recv() => supervisor.trigger(t),
            Some(role) = next_role(&mut roles) => {
                if on_role(&shared, &supervisor, &role, &mut leading) {
                    tracker.spawn(resume(shared.clone(), current_config(&config_tx), root.child_token()));
                }
            }
        }
    }
    service_manager.stopping();
    tracing::info!(
        timeout_s = shutdown_timeout.as_secs(),
        "shutting down: finishing registrations in flight"
    );
    root.cancel();
    tracker.close();
    // The followers too: an outcome being recorded is written before the process ends.
    let finished = async {
        tracker.wait().await;
        shared.followers.stopped().await;
    };
    if tokio::time::timeout(shutdown_timeout, finished)
        .await
        .is_err()
    {
        tracing::warn!("shutdown_timeout reached with work still running; exiting anyway");
    }
    ha_cancel.cancel();
    if let Some(election) = election {
        let _ = election.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Times every Nomad request into the metrics.
fn observer(metrics: &Arc<Metrics>) -> Arc<crate::nomad::ObserveFn> {
    let metrics = metrics.clone();
    Arc::new(move |call: &str, code: u16, took: Duration| metrics.nomad_request(call, code, took))
}

/// The next role the election publishes; never, without high availability.
async fn next_role(roles: &mut Option<watch::Receiver<Role>>) -> Option<Role> {
    match roles {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Publishes a role (status, metrics, `STATUS=`); a new leader passes over every source at
/// once. Returns whether this instance just became leader (and must resume what is in flight).
fn on_role(shared: &Shared, supervisor: &Supervisor, role: &Role, leading: &mut bool) -> bool {
    shared.board.set_role(role.as_str(), role.leader().cloned());
    if role.is_leader() == *leading {
        return false;
    }
    *leading = role.is_leader();
    shared.metrics.leader(*leading);
    shared.metrics.leader_changed();
    tracing::info!(role = role.as_str(), "role changed");
    shared.service_manager.status(&shared.status_line());
    if *leading {
        supervisor.trigger_all(Reason::Leadership);
    } else if let Some(known_bad) = shared.followers.known_bad() {
        known_bad.forget_merged();
    }
    *leading
}

/// The configuration running now (the last one a reload accepted).
fn current_config(config: &watch::Sender<Arc<Config>>) -> Arc<Config> {
    config.borrow().clone()
}

/// The shared known-bad record, next to the leader lock.
fn shared_known_bad(
    settings: &HaSettings,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<SharedKnownBad> {
    let client = lock_client(settings, metrics).context("the shared known-bad specs")?;
    Ok(SharedKnownBad::new(client))
}

/// A client on the leader lock's cluster and namespace, where what every instance must see
/// is kept.
fn lock_client(settings: &HaSettings, metrics: &Arc<Metrics>) -> anyhow::Result<Client> {
    let client = Client::new(&settings.cluster)
        .context("cannot set up a Nomad client for ha.cluster")?
        .with_observer(observer(metrics));
    Ok(match &settings.namespace {
        Some(ns) => client.in_namespace(ns.clone()),
        None => client,
    })
}

/// The notifier's parts. With high availability, what was sent is recorded next to the lock,
/// where every instance sees it.
fn notifier_setup(
    config: &Config,
    shared: &Shared,
    config_rx: watch::Receiver<Arc<Config>>,
) -> anyhow::Result<crate::notifier::Setup> {
    let record = match &config.ha {
        Some(settings) => {
            Some(lock_client(settings, &shared.metrics).context("the notifier's record")?)
        }
        None => None,
    };
    Ok(crate::notifier::Setup {
        config: config_rx,
        recorder: shared.recorder.clone(),
        sent: crate::notifier::Sent::new(shared.recorder.clone(), record),
        metrics: shared.metrics.clone(),
        state_dir: config.state.dir.clone(),
    })
}

/// How long the resume waits before trying again when Nomad does not answer.
const RESUME_RETRY: Duration = Duration::from_secs(10);

/// Finds the deployments in flight for every source, cluster by cluster, from Nomad itself,
/// and hands them to the followers; tries again until Nomad answers.
async fn resume(shared: Shared, config: Arc<Config>, cancel: CancellationToken) {
    let mut clusters: HashMap<&str, Vec<&Source>> = HashMap::new();
    for source in &config.sources {
        clusters
            .entry(source.cluster.name.as_str())
            .or_default()
            .push(source);
    }
    for (name, sources) in clusters {
        let Some(cluster) = config.cluster(name) else {
            continue;
        };
        let (client, follower) = match Client::new(cluster).and_then(|c| {
            let follower = shared.followers.of(cluster)?;
            Ok((c.with_observer(observer(&shared.metrics)), follower))
        }) {
            Ok(both) => both,
            Err(e) => {
                tracing::error!(cluster = name, error = %e, "cannot set up the Nomad client");
                continue;
            }
        };
        loop {
            if !shared.leads() {
                return;
            }
            let found = follow::resume(&client, &sources, &shared.recorder, &follower);
            let retry = tokio::select! {
                found = found => match found {
                    Ok(0) => false,
                    Ok(n) => {
                        tracing::info!(cluster = name, deployments = n, "following deployments found in flight");
                        false
                    }
                    Err(e) => {
                        tracing::warn!(cluster = name, error = %e, "cannot look for deployments in flight; trying again");
                        true
                    }
                },
                () = cancel.cancelled() => return,
            };
            if !retry {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(RESUME_RETRY) => {}
                () = cancel.cancelled() => return,
            }
        }
    }
}

/// Loads the configuration again; a broken file is rejected and the running one kept.
fn reload(
    path: &Path,
    supervisor: &mut Supervisor,
    config_tx: &watch::Sender<Arc<Config>>,
    service_manager: &ServiceManager,
) {
    service_manager.reloading();
    match Config::load(path).and_then(|c| c.verify_secrets().map(|()| c)) {
        Ok(config) => {
            if config.server.listen != config_tx.borrow().server.listen {
                tracing::warn!(
                    "server.listen changed; the new address takes effect after a restart"
                );
            }
            supervisor.apply(&config);
            supervisor.trigger_all(Reason::Reload);
            config_tx.send_replace(Arc::new(config));
            tracing::info!("configuration reloaded");
        }
        Err(e) => {
            tracing::error!(error = %e, "configuration reload rejected; the running configuration stays")
        }
    }
    service_manager.ready();
}

/// Says whether each cluster answers; a daemon that cannot reach Nomad says so, and keeps
/// trying in its loops.
async fn check_nomad(config: &Config) {
    let clusters: BTreeSet<&str> = config
        .sources
        .iter()
        .map(|s| s.cluster.name.as_str())
        .collect();
    for name in clusters {
        let Some(cluster) = config.cluster(name) else {
            continue;
        };
        let answer = match Client::new(cluster) {
            Ok(client) => tokio::time::timeout(NOMAD_CHECK_TIMEOUT, client.status_leader()).await,
            Err(e) => {
                tracing::error!(cluster = name, error = %e, "cannot set up the Nomad client");
                continue;
            }
        };
        match answer {
            Ok(Ok(Some(leader))) => {
                tracing::info!(cluster = name, address = %cluster.address, %leader, "Nomad answers")
            }
            Ok(Ok(None)) => {
                tracing::warn!(cluster = name, address = %cluster.address, "Nomad answers but has no leader")
            }
            Ok(Err(e)) => {
                tracing::error!(cluster = name, address = %cluster.address, error = %e, "cannot reach Nomad; will keep trying")
            }
            Err(_) => {
                tracing::error!(cluster = name, address = %cluster.address, "Nomad did not answer in time; will keep trying")
            }
        }
    }
}

/// Pings systemd's watchdog while the loops make progress (never from a timer alone).
async fn watchdog(shared: Shared, cancel: CancellationToken) {
    let Some(every) = shared.service_manager.watchdog_interval() else {
        return;
    };
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = cancel.cancelled() => return,
        }
        match shared.board.health() {
            Ok(()) => shared.service_manager.watchdog(),
            Err(stuck) => {
                tracing::warn!(reasons = ?stuck, "loops not making progress; withholding the watchdog ping")
            }
        }
    }
}
