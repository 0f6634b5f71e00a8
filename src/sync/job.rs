//! The Nomad half of a pass: each action carried out (render through Nomad, policy, apply)
//! with bounded concurrency, within the cluster's limit over every source; every registration
//! handed to the cluster's deployment follower; every outcome recorded in the state as it
//! happens (on disk at once when Nomad could not tell it again, see [`Save`]) and published as
//! an event; prunes last.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use tracing::Instrument;

use super::prepare::PreparedSet;
use super::refused;
use super::{Context, JobReport, Options, Status};
use crate::apply::{self, Applied, Intent, Submit};
use crate::config::Source;
use crate::events::{Event, EventKind, Outcome};
use crate::follow::{self, AUTO_PROMOTE_META, Registration, Start, Told};
use crate::nomad::Client;
use crate::reconcile::{Action, ActionKind, Block, Problem, PruneRefusal, Reason};
use crate::render::{self, Detail, Prepared, RenderedJob};
use crate::state::{JobKey, JobRecord, LiveJob, RefusedBy, Save, WavesStopped};

pub(super) struct Inputs<'a> {
    pub source: &'a Source,
    pub client: Client,
    pub ctx: &'a Context,
    pub options: Options,
    pub commit: &'a str,
    /// Who signed the commit, when the source verifies signatures.
    pub signer: Option<&'a str>,
    pub prepared: PreparedSet,
    pub live: Vec<LiveJob>,
    pub actions: Vec<Action>,
}

/// Everything one job's work needs, owned so that it can run on its own task.
#[derive(Clone)]
struct Env {
    source: Arc<Source>,
    client: Client,
    ctx: Context,
    detach: bool,
    hand_over: bool,
    commit: String,
    signer: Option<String>,
    /// The live jobs' `drover.commit`, by job.
    live_commits: Arc<HashMap<JobKey, String>>,
}

struct Done {
    report: JobReport,
    /// A file failed to render through Nomad: pruning is off for the rest of this pass.
    render_failed: bool,
}

impl Done {
    fn new(report: JobReport) -> Self {
        Self {
            report,
            render_failed: false,
        }
    }
}

pub(super) async fn execute(inputs: Inputs<'_>) -> Vec<JobReport> {
    let live_commits = inputs
        .live
        .iter()
        .filter_map(|l| l.owner.as_ref().map(|o| (l.key.clone(), o.commit.clone())))
        .collect();
    let env = Env {
        source: Arc::new(inputs.source.clone()),
        client: inputs.client,
        ctx: inputs.ctx.clone(),
        detach: inputs.options.detach,
        hand_over: inputs.options.hand_over,
        commit: inputs.commit.to_owned(),
        signer: inputs.signer.map(str::to_owned),
        live_commits: Arc::new(live_commits),
    };
    let prepared = inputs.prepared;
    let (prunes, others): (Vec<Action>, Vec<Action>) = inputs
        .actions
        .into_iter()
        .partition(|a| a.kind() == ActionKind::Prune);
    let (submitting, rest): (Vec<Action>, Vec<Action>) = others.into_iter().partition(submits);
    let mut waves: BTreeMap<i64, Vec<Action>> = BTreeMap::new();
    for action in submitting {
        let wave = prepared.waves.get(&action.path).copied().unwrap_or(0);
        waves.entry(wave).or_default().push(action);
    }
    let mut done = run_wave(&env, &prepared, rest).await;
    let mut stopped = earlier_stop(&env);
    let last = waves.keys().next_back().copied();
    for (wave, actions) in waves {
        if let Some(stop) = stopped.as_ref().filter(|s| wave > s.wave) {
            let why = stop.reason.as_str();
            done.extend(
                actions
                    .iter()
                    .map(|a| Done::new(report(a, Status::Blocked, why))),
            );
            continue;
        }
        // A wave with a later one after it is followed to its end, even by the daemon.
        let mut env = env.clone();
        if Some(wave) != last && !env.detach {
            env.hand_over = false;
        }
        let ended = run_wave(&env, &prepared, actions).await;
        if Some(wave) != last
            && let Some(failed) = ended.iter().find(|d| stops_waves(&d.report))
        {
            let what = failed
                .report
                .job
                .as_ref()
                .map_or_else(|| failed.report.path.clone(), ToString::to_string);
            let stop = WavesStopped {
                commit: env.commit.clone(),
                wave,
                reason: format!(
                    "wave {wave} of commit {} did not succeed ({what}: {}), so the later waves of this commit wait",
                    crate::reconcile::short(&env.commit),
                    failed.report.status.word()
                ),
            };
            let (source, kept) = (env.source.name.clone(), stop.clone());
            env.ctx
                .recorder
                .record(Save::Now, move |state| {
                    state.source_mut(&source).waves_stopped = Some(kept);
                })
                .await;
            stopped = Some(stop);
        }
        done.extend(ended);
    }
    let render_failed = done.iter().any(|d| d.render_failed);
    let mut reports: Vec<JobReport> = done.into_iter().map(|d| d.report).collect();
    for action in prunes {
        reports.push(prune(&env, action, render_failed).await);
    }
    for report in &reports {
        publish_problem(&env, report);
    }
    reports
}

/// Whether the action may register the job (and so takes its place in the waves).
fn submits(action: &Action) -> bool {
    matches!(
        action.kind(),
        ActionKind::Create | ActionKind::Update | ActionKind::Plan
    )
}

/// Runs the actions of one wave with bounded concurrency.
async fn run_wave(env: &Env, prepared: &PreparedSet, actions: Vec<Action>) -> Vec<Done> {
    apply::bounded(actions, env.ctx.max_parallel, |action| {
        let file = submits(&action)
            .then(|| prepared.prepared(&action.path))
            .flatten();
        let what = action
            .job
            .as_ref()
            .map_or_else(|| action.path.clone(), ToString::to_string);
        let span = tracing::info_span!("job", job = %what, path = %action.path);
        run(env.clone(), action, file).instrument(span)
    })
    .await
}

/// The stop an earlier pass over the same commit recorded, if any: its later waves still wait.
fn earlier_stop(env: &Env) -> Option<WavesStopped> {
    let state = env.ctx.recorder.lock();
    let stop = state.source(&env.source.name).waves_stopped.clone();
    stop.filter(|s| s.commit == env.commit)
}

/// Whether a job's end in a wave keeps the later waves from starting: anything but a
/// success, a job found unchanged, or one that needed nothing.
fn stops_waves(report: &JobReport) -> bool {
    matches!(
        report.status,
        Status::Failed | Status::Blocked | Status::Pending | Status::Drifted
    )
}

/// A job blocked, refused or pruned in this pass is an event (a drift is told where it is found,
/// with its plan); one that was blocked for the same reason in the last pass too is not told
/// again.
fn publish_problem(env: &Env, report: &JobReport) {
    let Some(job) = &report.job else {
        return;
    };
    let kind = match report.status {
        Status::Blocked => EventKind::Blocked,
        Status::Pruned => EventKind::Pruned,
        // A deployment's failure is the follower's event; this is a refusal or an error.
        Status::Failed if !report.followed => EventKind::Failed,
        _ => return,
    };
    let event = job_event(env, kind, job).detail(report.detail.clone());
    env.ctx.recorder.publish_change(event);
}

/// An event about `job` from this pass's commit.
fn job_event(env: &Env, kind: EventKind, job: &JobKey) -> Event {
    Event::new(kind, &env.source.name, &job.namespace, &job.id)
        .commit(Some(&env.commit))
        .signer(env.signer.as_deref())
}

fn report(action: &Action, status: Status, detail: impl Into<String>) -> JobReport {
    JobReport {
        job: action.job.clone(),
        path: action.path.clone(),
        status,
        detail: detail.into(),
        full_detail: None,
        followed: false,
    }
}

async fn run(env: Env, action: Action, prepared: Option<Prepared>) -> Done {
    let done = Done::new;
    match (action.kind(), prepared) {
        (ActionKind::Unchanged, _) => done(report(
            &action,
            Status::Unchanged,
            action.reason.to_string(),
        )),
        (ActionKind::Blocked, _) => {
            let full_detail = refused::full_detail(&env.source, &env.ctx, &action);
            done(JobReport {
                full_detail,
                ..report(&action, Status::Blocked, action.reason.to_string())
            })
        }
        (ActionKind::PruneRefused, _) => {
            let kept = matches!(
                action.reason,
                Reason::PruneRefused(PruneRefusal::Disabled | PruneRefusal::OptedOut)
            );
            let status = if kept { Status::Kept } else { Status::Blocked };
            done(report(&action, status, action.reason.to_string()))
        }
        (ActionKind::Create | ActionKind::Update, Some(p)) => {
            deploy(&env, &action, &p, Intent::Apply).await
        }
        (ActionKind::Plan, Some(p)) => {
            let intent = Intent::DriftCheck {
                self_heal: env.source.self_heal,
            };
            deploy(&env, &action, &p, intent).await
        }
        (_, _) => done(report(
            &action,
            Status::Failed,
            "internal: no prepared job file for this action",
        )),
    }
}

/// Why no register or prune may start now, if none may: a shutdown, or this instance no longer
/// leads (high availability). Those in flight finish either way.
pub(super) fn halted(ctx: &Context) -> Option<&'static str> {
    if ctx.shutdown.is_cancelled() {
        Some("drover is shutting down")
    } else if ctx.fence.as_ref().is_some_and(|f| !f.holds()) {
        Some("this instance is no longer the leader")
    } else {
        None
    }
}

/// Renders through Nomad, checks the policy, applies, and follows what was registered.
async fn deploy(env: &Env, action: &Action, prepared: &Prepared, intent: Intent) -> Done {
    if let Some(why) = halted(&env.ctx) {
        let report = report(action, Status::Pending, format!("not started: {why}"));
        return Done::new(report);
    }
    let _place = env.ctx.limits.acquire(&env.source.cluster.name).await;
    let key = prepared.key();
    let client = env.client.in_namespace(key.namespace.clone());
    let rendered =
        match render::render(&client, prepared, Some(&env.commit), env.signer.as_deref()).await {
            Ok(r) => r,
            Err(errors) => {
                let text = render::report(&errors, Detail::Folded);
                let full = render::report(&errors, Detail::Full);
                let full = (full != text).then_some(full);
                if errors.iter().any(render::RenderError::is_transient) {
                    let report = JobReport {
                        full_detail: full,
                        ..report(action, Status::Failed, text)
                    };
                    return Done::new(report);
                }
                let inputs = (prepared.path.as_str(), prepared.fingerprint.as_str());
                let (detail, full_detail) =
                    report_refusal(env, inputs, RefusedBy::Parse, &text, full).await;
                return Done {
                    report: JobReport {
                        full_detail,
                        ..report(action, Status::Blocked, detail)
                    },
                    render_failed: true,
                };
            }
        };
    refused::forget(&env.source, &env.ctx, &prepared.path).await;
    let violations = crate::policy::check(&env.source.policy, &rendered.view);
    if !violations.is_empty() {
        let detail = violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        return Done::new(report(action, Status::Blocked, detail));
    }
    // Fencing: checked again just before registering, after the renders' round trips.
    if let Some(why) = halted(&env.ctx) {
        let report = report(action, Status::Pending, format!("not registered: {why}"));
        return Done::new(report);
    }
    let report = match apply_and_hand_over(env, &client, &rendered, intent).await {
        Ok((status, detail, followed)) => JobReport {
            followed,
            ..report(action, status, detail)
        },
        Err(apply::Failed { call, error }) if error.is_refusal() => {
            let by = match call {
                apply::Call::Plan => RefusedBy::Plan,
                apply::Call::Register => RefusedBy::Register,
            };
            let inputs = (rendered.path.as_str(), rendered.fingerprint.as_str());
            let (detail, full_detail) =
                report_refusal(env, inputs, by, &error.to_string(), None).await;
            JobReport {
                full_detail,
                ..report(action, Status::Blocked, detail)
            }
        }
        Err(failed) => report(action, Status::Failed, failed.to_string()),
    };
    Done::new(report)
}

/// Remembers Nomad's refusal of the inputs of the file at `path` and returns the report's
/// words for it, folded and (when they differ) in full: those every later pass tells while
/// the refusal holds.
async fn report_refusal(
    env: &Env,
    inputs: (&str, &str),
    by: RefusedBy,
    errors: &str,
    full: Option<String>,
) -> (String, Option<String>) {
    let (source, ctx, client) = (&env.source, &env.ctx, &env.client);
    let refusal = refused::remember(source, ctx, client, inputs, by, errors, full).await;
    let words = |message: String| {
        Reason::Blocked(Block::File {
            problem: Problem::Refused(by),
            message,
        })
        .to_string()
    };
    (words(refusal.message), refusal.full.map(words))
}

/// Plans and, when the plan shows a change, registers; hands the registration to the
/// follower and, unless the pass is detached, waits for its end. The flag says whether the
/// status is the follower's (the deployment's outcome).
async fn apply_and_hand_over(
    env: &Env,
    client: &Client,
    rendered: &RenderedJob,
    intent: Intent,
) -> Result<(Status, String, bool), apply::Failed> {
    let key = rendered.key();
    let submit = Submit {
        job: rendered.job.clone(),
        submission: Some(rendered.submission.clone()),
        preserve_counts: env.source.preserve_counts,
        live_commit: env.live_commits.get(&key).cloned(),
    };
    let fingerprint = rendered.fingerprint.clone();
    // Asked again right before registering: a deployment of this very spec may have failed
    // (and been rolled back) while it was planned, or this instance may have stopped leading.
    let hold = || {
        halted(&env.ctx).map(str::to_owned).or_else(|| {
            known_bad(env, &key, &fingerprint).then(|| {
                Reason::Blocked(Block::KnownBad {
                    fingerprint: fingerprint.clone(),
                })
                .to_string()
            })
        })
    };
    let (eval_id, summary, plan) = match apply::apply(client, &submit, intent, hold).await? {
        Applied::Unchanged => {
            let commit = submit
                .live_commit
                .clone()
                .unwrap_or_else(|| env.commit.clone());
            record(env, rendered, Save::Soon, move |r| {
                r.applied(&fingerprint, &commit, SystemTime::now())
            })
            .await;
            let detail = if intent == Intent::Apply {
                "plan shows no change; nothing registered"
            } else {
                "no drift"
            };
            return Ok((Status::Unchanged, detail.to_owned(), false));
        }
        Applied::Drifted { summary, plan } => {
            record(env, rendered, Save::Soon, |r| {
                r.last_drift_check = Some(SystemTime::now())
            })
            .await;
            let detail = format!("changed outside Git ({summary}); self_heal is off");
            // Told here, where the plan is known, rather than with the pass's other problems.
            let drift = job_event(env, EventKind::DriftFound, &key)
                .detail(detail.clone())
                .plan(&plan);
            env.ctx.recorder.publish_change(drift);
            return Ok((Status::Drifted, detail, false));
        }
        Applied::OwnedElsewhere { source } => {
            let block = Reason::Blocked(Block::OwnedElsewhere { source });
            return Ok((Status::Blocked, block.to_string(), false));
        }
        Applied::Held { reason } => {
            let status = if known_bad(env, &key, &fingerprint) {
                Status::Blocked
            } else {
                Status::Pending
            };
            return Ok((status, format!("not registered: {reason}"), false));
        }
        Applied::Contended => {
            let detail = "changed in Nomad twice while drover planned; left for the next pass";
            return Ok((Status::Failed, detail.to_owned(), false));
        }
        Applied::Registered {
            eval_id,
            summary,
            plan,
            ..
        } => (eval_id, summary, plan),
    };
    let (fp, commit, followed) = (fingerprint.clone(), env.commit.clone(), !env.detach);
    record(env, rendered, Save::Soon, move |r| {
        r.applied(&fp, &commit, SystemTime::now());
        r.deploying = followed;
    })
    .await;
    let kind = match intent {
        Intent::Apply => EventKind::Registered,
        Intent::DriftCheck { .. } => EventKind::DriftCorrected,
    };
    let event = job_event(env, kind, &key)
        .detail(format!("registered ({summary})"))
        .plan(&plan);
    env.ctx.recorder.publish(event);
    if env.detach {
        return Ok((Status::Submitted, format!("registered ({summary})"), false));
    }
    let registration = Registration {
        source: env.source.name.clone(),
        job: key,
        path: rendered.path.clone(),
        start: Start::Evaluation(eval_id),
        fingerprint,
        commit: env.commit.clone(),
        signer: env.signer.clone(),
        settings: follow::Settings::of(&env.source, auto_promote_meta(&rendered.job)),
    };
    let follower = match env.ctx.followers.of(&env.source.cluster) {
        Ok(follower) => follower,
        Err(e) => {
            let detail = format!("registered ({summary}), but cannot follow it: {e}");
            return Ok((Status::Failed, detail, false));
        }
    };
    if env.hand_over {
        follower.follow(registration);
        let detail = format!("registered ({summary}); following its deployment");
        return Ok((Status::Submitted, detail, false));
    }
    let waiter = follower.follow_and_wait(registration);
    let stopped = || {
        let detail =
            format!("registered ({summary}); stopped following before its deployment ended");
        Ok((Status::Submitted, detail, false))
    };
    let told = tokio::select! {
        told = waiter => match told {
            Ok(told) => told,
            Err(_) => return stopped(),
        },
        () = env.ctx.shutdown.cancelled() => return stopped(),
    };
    let status = match &told.tracked.outcome {
        o if o.converged() => Status::Synced,
        Outcome::AwaitingPromotion | Outcome::Paused => Status::Pending,
        _ => Status::Failed,
    };
    Ok((status, outcome_detail(&told, &summary), true))
}

/// Whether the state marks `fingerprint` of `job` known-bad now.
fn known_bad(env: &Env, job: &JobKey, fingerprint: &str) -> bool {
    let state = env.ctx.recorder.lock();
    state
        .source(&env.source.name)
        .jobs
        .get(job)
        .is_some_and(|r| r.is_known_bad(fingerprint))
}

/// The job's own `drover.auto_promote` meta, if it has one.
fn auto_promote_meta(job: &serde_json::Value) -> Option<&str> {
    job.get("Meta")?.get(AUTO_PROMOTE_META)?.as_str()
}

/// What the follower told of the registration's end, with what the plan changed and why
/// allocations were not placed.
fn outcome_detail(told: &Told, summary: &str) -> String {
    let reasons = &told.tracked.reasons;
    let reasons = if reasons.is_empty() {
        String::new()
    } else {
        format!(" [{}]", reasons.join("; "))
    };
    format!("{} ({summary}){reasons}", told.detail)
}

/// Changes one job's record and saves the state.
async fn record(
    env: &Env,
    rendered: &RenderedJob,
    save: Save,
    change: impl FnOnce(&mut JobRecord) + Send + 'static,
) {
    let (source, key, path) = (
        env.source.name.clone(),
        rendered.key(),
        rendered.path.clone(),
    );
    env.ctx
        .recorder
        .record(save, move |state| {
            let jobs = &mut state.source_mut(&source).jobs;
            let rec = jobs
                .entry(key)
                .or_insert_with(|| JobRecord::new(path.clone()));
            rec.path = path;
            change(rec);
        })
        .await;
}

async fn prune(env: &Env, action: Action, render_failed: bool) -> JobReport {
    let Some(key) = action.job.clone() else {
        return report(&action, Status::Failed, "internal: a prune without a job");
    };
    if render_failed {
        return report(
            &action,
            Status::Blocked,
            "its file left Git, but a file failed to render during this pass; not pruned",
        );
    }
    if let Some(why) = halted(&env.ctx) {
        return report(&action, Status::Pending, format!("not pruned: {why}"));
    }
    match env
        .client
        .in_namespace(key.namespace.clone())
        .deregister_job(&key.id, false)
        .await
    {
        Ok(_) => {
            let source = env.source.name.clone();
            env.ctx
                .recorder
                .record(Save::Now, move |state| {
                    state.source_mut(&source).jobs.remove(&key);
                })
                .await;
            report(&action, Status::Pruned, "its file left Git; stopped")
        }
        Err(e) => report(&action, Status::Failed, format!("prune failed: {e}")),
    }
}
