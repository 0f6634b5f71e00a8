//! The loop of one cluster's follower. It holds every registration in flight by job: first its
//! evaluation (a blocking query of its own, which ends within moments of the register), then
//! its deployment, whose changes arrive from the cluster's one list watch. It acts when a
//! deployment moves (progress, promotion), and when it ends (outcome, rollback, known-bad);
//! every step is an event.

use std::collections::btree_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::watch::{self, Snapshot};
use super::{Command, Registration, Shared, Start, Told, act};
use crate::events::{Event, EventKind, GroupProgress, Outcome, Tracked, progress_line};
use crate::nomad::{self, Client, Deployment, EvalStatus, Evaluation, IndexTracker, Query};
use crate::state::{JobKey, JobOutcome, JobRecord, Save};

/// How long a registration whose evaluation or deployment cannot be read waits before the
/// next try (Nomad unreachable: the client's own retries are spent).
const RETRY_START: Duration = Duration::from_secs(5);

/// What a follower found where following starts.
enum Found {
    Evaluation {
        eval: Box<Evaluation>,
        deployment: Option<Deployment>,
    },
    Deployment(Deployment),
}

struct Started {
    job: JobKey,
    generation: u64,
    found: Result<Found, nomad::Error>,
}

/// One registration in flight.
struct Flight {
    registration: Registration,
    /// Tells a started lookup of an older registration of the same job from this one's.
    generation: u64,
    deployment: Option<String>,
    /// The deployment's `CreateIndex`: a snapshot older than that cannot list it yet.
    created: u64,
    /// The deployment's `ModifyIndex` last acted on.
    seen: u64,
    /// A read of the evaluation or the deployment is under way.
    looking_up: bool,
    version: Option<u64>,
    groups: Vec<GroupProgress>,
    /// Why allocations were not placed, from the evaluation.
    reasons: Vec<String>,
    waiter: Option<oneshot::Sender<Told>>,
    /// A person's action is awaited (promotion, resume), and that was said once.
    awaiting_said: bool,
}

pub(super) struct Follower {
    cluster: String,
    client: Client,
    shared: Shared,
    flights: HashMap<JobKey, Flight>,
    starts: JoinSet<Started>,
    generation: u64,
    /// The latest snapshot of the deployments not ended.
    last: Arc<Snapshot>,
}

impl Follower {
    pub(super) fn new(cluster: &str, client: Client, shared: Shared) -> Self {
        Self {
            cluster: cluster.to_owned(),
            client,
            shared,
            flights: HashMap::new(),
            starts: JoinSet::new(),
            generation: 0,
            last: Arc::default(),
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let heartbeat = self.shared.board.as_ref().map(|board| {
            // One query may take its wait, then a full request timeout per retry on top.
            let bound = (self.client.blocking_wait() + Duration::from_secs(60)) * 2;
            board.heartbeat(
                format!("the deployment follower of cluster {}", self.cluster),
                bound,
            )
        });
        let cancel = self.shared.cancel.clone();
        let (active, mut lists) = watch::spawn(self.client.clone(), heartbeat, cancel.clone());
        // Replaced after a reload changed the cluster's settings: no new registrations come,
        // and the follower ends once those it has are over.
        let mut replaced = false;
        loop {
            if replaced && self.flights.is_empty() {
                return;
            }
            if !self.leads() && !self.flights.is_empty() {
                tracing::info!(cluster = %self.cluster, deployments = self.flights.len(), "no longer the leader; the new leader follows what is in flight");
                self.flights.clear();
            }
            active.send_if_modified(|on| {
                let wanted = self.flights.values().any(|f| f.deployment.is_some());
                std::mem::replace(on, wanted) != wanted
            });
            tokio::select! {
                command = commands.recv(), if !replaced => match command {
                    Some(Command::Follow(registration, waiter)) => self.follow(registration, waiter).await,
                    None => replaced = true,
                },
                Some(joined) = self.starts.join_next(), if !self.starts.is_empty() => {
                    if let Ok(started) = joined {
                        self.started(started).await;
                    }
                }
                Ok(()) = lists.changed() => {
                    let snapshot = lists.borrow_and_update().clone();
                    self.on_list(snapshot).await;
                }
                () = cancel.cancelled() => return,
            }
        }
    }

    fn leads(&self) -> bool {
        self.shared.fence.as_ref().is_none_or(|f| f.holds())
    }

    fn client_for(&self, job: &JobKey) -> Client {
        self.client.in_namespace(job.namespace.clone())
    }

    async fn follow(&mut self, registration: Registration, waiter: Option<oneshot::Sender<Told>>) {
        let job = registration.job.clone();
        if let Some(old) = self.flights.remove(&job) {
            if matches!(registration.start, Start::Deployment(_)) {
                // Found by a resume: what is followed already is that deployment or a newer one.
                self.flights.insert(job, old);
                return;
            }
            self.superseded(old, &registration).await;
        }
        self.generation += 1;
        let generation = self.generation;
        if registration.start == Start::Evaluation(String::new()) {
            let flight = self.flight(registration, generation, waiter);
            let tracked = Tracked::new(Outcome::NoEvaluation);
            let event = EventKind::Succeeded;
            self.finish(
                flight,
                tracked,
                event,
                "registered; runs on its schedule or when dispatched".to_owned(),
            )
            .await;
            return;
        }
        if matches!(registration.start, Start::Deployment(_)) {
            self.mark_deploying(&registration).await;
        }
        self.start(
            job.clone(),
            registration.start.clone(),
            generation,
            Duration::ZERO,
        );
        let flight = self.flight(registration, generation, waiter);
        self.flights.insert(job, flight);
    }

    fn flight(
        &self,
        registration: Registration,
        generation: u64,
        waiter: Option<oneshot::Sender<Told>>,
    ) -> Flight {
        Flight {
            registration,
            generation,
            deployment: None,
            created: 0,
            seen: 0,
            looking_up: true,
            version: None,
            groups: Vec::new(),
            reasons: Vec::new(),
            waiter,
            awaiting_said: false,
        }
    }

    /// Looks up where following starts, on a task of its own, after `delay`.
    fn start(&mut self, job: JobKey, start: Start, generation: u64, delay: Duration) {
        let client = self.client_for(&job);
        self.starts.spawn(async move {
            tokio::time::sleep(delay).await;
            let found = match start {
                Start::Evaluation(id) => finished_evaluation(&client, &id).await,
                Start::Deployment(id) => client
                    .read_deployment(&id, &Query::now())
                    .await
                    .map(|read| Found::Deployment(read.value)),
            };
            Started {
                job,
                generation,
                found,
            }
        });
    }

    async fn started(&mut self, started: Started) {
        let Some(flight) = self
            .flights
            .get_mut(&started.job)
            .filter(|f| f.generation == started.generation)
        else {
            return;
        };
        flight.looking_up = false;
        let deployment = match started.found {
            Err(nomad::Error::NotFound { .. }) if flight.deployment.is_some() => {
                // Nomad collects ended deployments (after an hour by default): nothing is left
                // to follow, and nothing to tell of how it ended.
                tracing::warn!(job = %started.job, "the deployment followed is no longer in Nomad; its outcome is unknown");
                if let Some(flight) = self.flights.remove(&started.job) {
                    self.forget(flight).await;
                }
                return;
            }
            Err(e) => {
                tracing::warn!(job = %started.job, error = %e, "cannot read the registration's evaluation or deployment; trying again");
                let start = match &flight.deployment {
                    Some(id) => Start::Deployment(id.clone()),
                    None => flight.registration.start.clone(),
                };
                flight.looking_up = true;
                self.start(started.job, start, started.generation, RETRY_START);
                return;
            }
            Ok(Found::Deployment(d)) => d,
            Ok(Found::Evaluation { eval, deployment }) => {
                flight.reasons = act::placement_failures(&eval);
                let done = match (eval.status, deployment) {
                    (EvalStatus::Complete, Some(d)) => Ok(d),
                    (EvalStatus::Complete, None) => Err((
                        Outcome::NoDeployment,
                        EventKind::Succeeded,
                        "placed; this job type has no deployment".to_owned(),
                    )),
                    (status, _) => {
                        let status = format!("{status:?}").to_lowercase();
                        let detail = format!("evaluation {status}");
                        Err((
                            Outcome::EvaluationFailed { status },
                            EventKind::Failed,
                            detail,
                        ))
                    }
                };
                match done {
                    Ok(d) => d,
                    Err((outcome, kind, detail)) => {
                        let Some(flight) = self.flights.remove(&started.job) else {
                            return;
                        };
                        let mut tracked = Tracked::new(outcome);
                        tracked.reasons = flight.reasons.clone();
                        self.finish(flight, tracked, kind, detail).await;
                        return;
                    }
                }
            }
        };
        flight.deployment = Some(deployment.id.clone());
        self.on_deployment(&started.job, &deployment).await;
        self.look_up_ended();
    }

    async fn on_list(&mut self, snapshot: Arc<Snapshot>) {
        self.last = snapshot.clone();
        let followed: HashMap<&str, &JobKey> = self
            .flights
            .iter()
            .filter_map(|(job, f)| f.deployment.as_deref().map(|d| (d, job)))
            .collect();
        let changed: Vec<(JobKey, &Deployment)> = snapshot
            .deployments
            .iter()
            .filter_map(|d| followed.get(d.id.as_str()).map(|job| ((*job).clone(), d)))
            .collect();
        for (job, d) in changed {
            self.on_deployment(&job, d).await;
        }
        self.look_up_ended();
    }

    /// Reads once each followed deployment that the latest snapshot, taken after it was
    /// created, no longer lists among those not ended: it ended (or Nomad collected it).
    fn look_up_ended(&mut self) {
        let listed: HashSet<&str> = self
            .last
            .deployments
            .iter()
            .map(|d| d.id.as_str())
            .collect();
        let ended: Vec<(JobKey, String, u64)> = self
            .flights
            .iter()
            .filter(|(_, f)| !f.looking_up && self.last.index >= f.created)
            .filter_map(|(job, f)| {
                let id = f.deployment.as_deref()?;
                (!listed.contains(id)).then(|| (job.clone(), id.to_owned(), f.generation))
            })
            .collect();
        for (job, id, generation) in ended {
            if let Some(flight) = self.flights.get_mut(&job) {
                flight.looking_up = true;
            }
            self.start(job, Start::Deployment(id), generation, Duration::ZERO);
        }
    }

    async fn on_deployment(&mut self, job: &JobKey, d: &Deployment) {
        let Some(flight) = self.flights.get_mut(job) else {
            return;
        };
        if flight.deployment.as_deref() != Some(d.id.as_str()) || d.modify_index <= flight.seen {
            return;
        }
        flight.seen = d.modify_index;
        flight.created = d.create_index;
        flight.version = Some(d.job_version);
        if d.status.is_terminal() {
            if let Some(flight) = self.flights.remove(job) {
                self.ended(flight, d).await;
            }
            return;
        }
        let groups = act::progress(d);
        if groups != flight.groups {
            flight.groups = groups.clone();
            let line = format!("{} {}", act::status_word(d), progress_line(&groups));
            let event = self
                .event(job, EventKind::Progress)
                .detail(line)
                .groups(groups);
            self.shared.recorder.publish(event);
        }
        self.act_on(job, d).await;
    }

    /// Promotes, or says once that a person must act.
    async fn act_on(&mut self, job: &JobKey, d: &Deployment) {
        let Some(flight) = self.flights.get(job) else {
            return;
        };
        let paused = d.status == nomad::DeploymentStatus::Paused;
        if !paused && !act::canaries_ready(d) {
            return;
        }
        if !paused && flight.registration.settings.auto_promote {
            match act::promote(&self.client_for(job), d).await {
                Ok(true) => {
                    let event = self
                        .event(job, EventKind::Promoted)
                        .detail("canaries healthy; promoted");
                    self.shared.recorder.publish(event);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(job = %job, deployment = %d.id, error = %e, "cannot promote the canaries; trying again at the next change")
                }
            }
            return;
        }
        let Some(flight) = self.flights.get_mut(job).filter(|f| !f.awaiting_said) else {
            return;
        };
        flight.awaiting_said = true;
        let mut tracked = act::tracked(d);
        if !paused {
            tracked.outcome = Outcome::AwaitingPromotion;
        }
        let detail = if paused {
            "deployment paused; waiting for it to be resumed"
        } else {
            "canaries healthy; waiting for promotion"
        };
        if let Some(waiter) = flight.waiter.take() {
            let detail = detail.to_owned();
            let _ = waiter.send(Told { tracked, detail });
        }
        let event = self.event(job, EventKind::Progress).detail(detail);
        self.shared.recorder.publish(event);
    }

    /// A deployment reached its end: roll back if it failed, record, tell.
    async fn ended(&mut self, mut flight: Flight, d: &Deployment) {
        // The end's own counts: the last progress seen may be older than the last healthy
        // allocation.
        flight.groups = act::progress(d);
        let mut tracked = act::tracked(d);
        tracked.reasons.extend(flight.reasons.iter().cloned());
        let job = flight.registration.job.clone();
        let version = d.job_version;
        match tracked.outcome.clone() {
            Outcome::Successful => {
                let detail = format!("deployed v{version}: {} healthy", tracked.healthy);
                self.finish(flight, tracked, EventKind::Succeeded, detail)
                    .await;
            }
            Outcome::Failed { description } => {
                if !self.leads() {
                    return;
                }
                // Known-bad before the rollback: a pass that plans against the rolled-back job
                // must find the spec refused, not register it again.
                self.mark_known_bad(&flight.registration).await;
                let settings = flight.registration.settings;
                let rollback = if !settings.rollback_on_failure {
                    String::new()
                } else if act::reverts_itself(d) {
                    "; the job's auto_revert rolls it back".to_owned()
                } else {
                    match act::rollback(&self.client_for(&job), d).await {
                        Ok(Some(to)) => {
                            tracked.reverted_to = Some(to);
                            format!("; rolled back to v{to}")
                        }
                        Ok(None) => "; no stable version to roll back to".to_owned(),
                        Err(e) => {
                            tracing::error!(job = %job, error = %e, "deployment failed and the rollback was refused");
                            "; the rollback failed".to_owned()
                        }
                    }
                };
                let reverted = tracked.reverted_to;
                let detail = format!("deployment of v{version} failed: {description}{rollback}");
                let registration = flight.registration.clone();
                self.finish(flight, tracked, EventKind::Failed, detail)
                    .await;
                if let Some(to) = reverted {
                    let event = self
                        .event_of(&registration, EventKind::RolledBack)
                        .version(Some(to))
                        .deployment(Some(&d.id))
                        .detail(format!("rolled back from v{version} to v{to}"));
                    self.shared.recorder.publish(event);
                }
                self.share_known_bad(&registration).await;
            }
            Outcome::Superseded => {
                let detail =
                    "superseded by a newer version registered outside this drover".to_owned();
                self.finish(flight, tracked, EventKind::Superseded, detail)
                    .await;
            }
            // Cancelled by a stop (a prune, or by hand): replaced by the job's absence, which
            // the passes deal with; not a failure of the spec.
            Outcome::Cancelled { description } => {
                let detail = format!("deployment cancelled: {description}");
                self.finish(flight, tracked, EventKind::Superseded, detail)
                    .await;
            }
            other => {
                let detail = format!("deployment ended: {other:?}");
                self.finish(flight, tracked, EventKind::Failed, detail)
                    .await;
            }
        }
    }

    /// An older registration replaced by `newer` before its deployment ended.
    async fn superseded(&mut self, old: Flight, newer: &Registration) {
        let short = &newer.commit[..newer.commit.len().min(12)];
        let detail = format!("superseded by commit {short} before it ended");
        let mut tracked = Tracked::new(Outcome::Superseded);
        tracked.deployment_id = old.deployment.clone();
        tracked.job_version = old.version;
        let event = self
            .event_of(&old.registration, EventKind::Superseded)
            .version(old.version)
            .deployment(old.deployment.as_deref())
            .detail(detail.clone());
        self.shared.recorder.publish(event);
        let outcome = tracked.clone();
        self.record(&old.registration, Save::Soon, true, move |record, _| {
            record.outcome = Some(JobOutcome {
                tracked: outcome,
                at: SystemTime::now(),
            });
        })
        .await;
        if let Some(waiter) = old.waiter {
            let _ = waiter.send(Told { tracked, detail });
        }
    }

    /// Records how `flight` ended (on disk at once when it failed: Nomad cannot tell that
    /// again), publishes it and tells whoever waits.
    async fn finish(&mut self, flight: Flight, tracked: Tracked, kind: EventKind, detail: String) {
        let registration = flight.registration;
        let event = self
            .event_of(&registration, kind)
            .version(tracked.job_version.or(flight.version))
            .deployment(tracked.deployment_id.as_deref())
            .detail(detail.clone())
            .groups(flight.groups);
        let save = if matches!(tracked.outcome, Outcome::Failed { .. }) {
            Save::Now
        } else {
            Save::Soon
        };
        // A job stopped or pruned while it deployed keeps no record because of it.
        let make = !matches!(
            tracked.outcome,
            Outcome::Cancelled { .. } | Outcome::Superseded
        );
        let outcome = tracked.clone();
        self.record(&registration, save, make, move |record, fingerprint| {
            record.deploying = false;
            record.finished(fingerprint, outcome, SystemTime::now());
        })
        .await;
        self.shared.recorder.publish(event);
        if let Some(waiter) = flight.waiter {
            let _ = waiter.send(Told { tracked, detail });
        }
    }

    /// Marks the registration's spec known-bad, on disk before anything else is done.
    async fn mark_known_bad(&self, registration: &Registration) {
        if registration.fingerprint.is_empty() {
            return;
        }
        self.record(registration, Save::Now, true, |record, fingerprint| {
            record.applied_fingerprint = None;
            record.mark_known_bad(fingerprint);
        })
        .await;
    }

    /// A deployment found in flight shows as deploying until it ends.
    async fn mark_deploying(&self, registration: &Registration) {
        self.record(registration, Save::Soon, true, |record, _| {
            record.deploying = true
        })
        .await;
    }

    /// Stops following `flight` without an outcome.
    async fn forget(&mut self, flight: Flight) {
        self.record(&flight.registration, Save::Soon, false, |record, _| {
            record.deploying = false
        })
        .await;
    }

    /// Changes the record of the registration's job (made from its file if there is none and
    /// `make` says so); `change` also gets the registration's fingerprint.
    async fn record(
        &self,
        registration: &Registration,
        save: Save,
        make: bool,
        change: impl FnOnce(&mut JobRecord, &str) + Send + 'static,
    ) {
        let (source, job, path, fingerprint) = (
            registration.source.clone(),
            registration.job.clone(),
            registration.path.clone(),
            registration.fingerprint.clone(),
        );
        self.shared
            .recorder
            .record(save, move |state| {
                let jobs = &mut state.source_mut(&source).jobs;
                let record = match jobs.entry(job) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) if make => e.insert(JobRecord::new(path)),
                    Entry::Vacant(_) => return,
                };
                change(record, &fingerprint);
            })
            .await;
    }

    /// With high availability: every instance learns that the spec failed.
    async fn share_known_bad(&self, registration: &Registration) {
        let Some(shared) = &self.shared.known_bad else {
            return;
        };
        if let Err(e) = shared.add(&self.shared.recorder, registration).await {
            tracing::error!(job = %registration.job, error = %e, "cannot share the known-bad spec with the other instances; this instance keeps it");
        }
    }

    fn event(&self, job: &JobKey, kind: EventKind) -> Event {
        match self.flights.get(job) {
            Some(f) => self
                .event_of(&f.registration, kind)
                .version(f.version)
                .deployment(f.deployment.as_deref()),
            None => Event::new(kind, "", &job.namespace, &job.id),
        }
    }

    fn event_of(&self, registration: &Registration, kind: EventKind) -> Event {
        Event::new(
            kind,
            &registration.source,
            &registration.job.namespace,
            &registration.job.id,
        )
        .commit(Some(&registration.commit))
        .signer(registration.signer.as_deref())
    }
}

/// Waits for the evaluation to finish, then reads the deployment it started, if any.
async fn finished_evaluation(client: &Client, eval_id: &str) -> Result<Found, nomad::Error> {
    let mut tracker = IndexTracker::new();
    let eval = loop {
        let read = client
            .read_evaluation(eval_id, &tracker.query(client.blocking_wait()))
            .await?;
        tracker.observe(&read.meta);
        if read.value.status.is_terminal() {
            break read.value;
        }
    };
    let deployment = match eval.deployment_id.as_str() {
        "" => None,
        id => Some(client.read_deployment(id, &Query::now()).await?.value),
    };
    Ok(Found::Evaluation {
        eval: Box::new(eval),
        deployment,
    })
}
