//! apply and follow against the simulator: submit only what changed, never clobber, follow
//! deployments to the end through the deployment follower, promote, roll back.

mod common;

use common::sim::{client, cluster, job};
use drover::apply::{self, Applied, Intent, Submit};
use drover::config::PreserveCounts;
use drover::events::{Outcome, Tracked};
use drover::follow::{Followers, Registration, Settings, Start};
use drover::state::{JobKey, Recorder, State, Store};
use nomad_sim::{Fault, Sim};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const FOLLOW: Settings = Settings {
    auto_promote: false,
    rollback_on_failure: true,
};

async fn sim() -> Sim {
    Sim::builder()
        .time_scale(1000.0)
        .start()
        .await
        .expect("sim")
}

fn submit(job: Value) -> Submit {
    Submit {
        job,
        submission: None,
        preserve_counts: PreserveCounts::Scaled,
        live_commit: None,
    }
}

/// Nothing holds a registration back.
fn no_hold() -> Option<String> {
    None
}

fn registers(sim: &Sim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/jobs")
        .count()
}

/// Applies and follows to the end; panics unless something was registered.
async fn deploy(sim: &Sim, job: Value, settings: Settings) -> Tracked {
    let id = job["ID"].as_str().unwrap().to_owned();
    match apply::apply(&client(sim), &submit(job), Intent::Apply, no_hold)
        .await
        .expect("apply")
    {
        Applied::Registered { eval_id, .. } => follow_to_end(sim, &id, eval_id, settings).await,
        other => panic!("expected a registration, got {other:?}"),
    }
}

/// What a cluster's follower tells of the registration's end (or of its wait for a person).
async fn follow_to_end(sim: &Sim, id: &str, eval_id: String, settings: Settings) -> Tracked {
    let dir = tempfile::tempdir().expect("state dir");
    let recorder = Recorder::new(State::default(), Store::new(dir.path()));
    let followers = Followers::new(recorder, CancellationToken::new());
    let registration = Registration {
        source: "test".into(),
        job: JobKey::new("default", id),
        path: format!("jobs/{id}.nomad.hcl"),
        start: Start::Evaluation(eval_id),
        fingerprint: "fp".into(),
        commit: "c1".into(),
        signer: None,
        settings,
    };
    followers
        .of(&cluster(&sim.url()))
        .expect("follower")
        .follow_and_wait(registration)
        .await
        .expect("the follower tells how it ended")
        .tracked
}

#[tokio::test]
async fn registers_a_change_once_and_nothing_when_only_the_commit_moved() {
    let sim = sim().await;
    let c = client(&sim);
    let tracked = deploy(&sim, job("web", "nginx:1"), FOLLOW).await;
    assert_eq!(tracked.outcome, Outcome::Successful);
    assert_eq!(tracked.healthy, 1);

    let mut moved = job("web", "nginx:1");
    moved["Meta"]["drover.commit"] = json!("c2");
    assert_eq!(
        apply::apply(&c, &submit(moved), Intent::Apply, no_hold)
            .await
            .unwrap(),
        Applied::Unchanged
    );
    assert_eq!(registers(&sim), 1, "a moved branch alone is not a change");
    assert_eq!(sim.job("default", "web").unwrap()["Version"], 0);

    let tracked = deploy(&sim, job("web", "nginx:2"), FOLLOW).await;
    assert_eq!(tracked.outcome, Outcome::Successful);
    assert_eq!(tracked.job_version, Some(1));
}

#[tokio::test]
async fn a_conflict_is_planned_again_and_never_forced() {
    let sim = sim().await;
    let c = client(&sim);
    deploy(&sim, job("web", "nginx:1"), FOLLOW).await;
    let conflict = "Enforcing job modify index 5: job exists with conflicting job modify index: 9";
    sim.inject(
        Fault::new("/v1/jobs")
            .method("POST")
            .status(500, conflict)
            .times(1),
    );
    let applied = apply::apply(&c, &submit(job("web", "nginx:2")), Intent::Apply, no_hold)
        .await
        .unwrap();
    assert!(matches!(applied, Applied::Registered { .. }), "{applied:?}");
    let plans = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/plan"))
        .count();
    assert_eq!(
        plans, 3,
        "the first deploy, then a plan before each register attempt"
    );

    sim.inject(
        Fault::new("/v1/jobs")
            .method("POST")
            .status(500, conflict)
            .times(2),
    );
    let applied = apply::apply(&c, &submit(job("web", "nginx:3")), Intent::Apply, no_hold)
        .await
        .unwrap();
    assert_eq!(applied, Applied::Contended);
    assert_eq!(
        sim.job("default", "web").unwrap()["Version"],
        1,
        "nothing forced"
    );
}

#[tokio::test]
async fn autoscaled_counts_are_kept_and_git_counts_deploy() {
    let sim = sim().await;
    let c = client(&sim);
    let mut scaled = job("web", "nginx:1");
    scaled["TaskGroups"][0]["Scaling"] = json!({"Min": 1, "Max": 10, "Enabled": true});
    deploy(&sim, scaled.clone(), FOLLOW).await;
    assert!(
        sim.edit_job("default", "web", |j| j["TaskGroups"][0]["Count"] = json!(5)),
        "the autoscaler scales up"
    );

    assert_eq!(
        apply::apply(&c, &submit(scaled.clone()), Intent::Apply, no_hold)
            .await
            .unwrap(),
        Applied::Unchanged
    );
    let mut new_image = scaled.clone();
    new_image["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = json!("nginx:2");
    deploy(&sim, new_image, FOLLOW).await;
    assert_eq!(
        sim.job("default", "web").unwrap()["TaskGroups"][0]["Count"],
        5
    );

    let mut plain = job("api", "api:1");
    deploy(&sim, plain.clone(), FOLLOW).await;
    plain["TaskGroups"][0]["Count"] = json!(3);
    deploy(&sim, plain, FOLLOW).await;
    assert_eq!(
        sim.job("default", "api").unwrap()["TaskGroups"][0]["Count"],
        3,
        "no scaling block: Git's count"
    );
}

#[tokio::test]
async fn drift_is_reported_or_healed() {
    let sim = sim().await;
    let c = client(&sim);
    deploy(&sim, job("web", "nginx:1"), FOLLOW).await;
    sim.edit_job("default", "web", |j| {
        j["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = json!("nginx:hotfix")
    });
    let report = apply::apply(
        &c,
        &submit(job("web", "nginx:1")),
        Intent::DriftCheck { self_heal: false },
        no_hold,
    )
    .await
    .unwrap();
    let Applied::Drifted { summary, plan } = report else {
        panic!("expected drift, got {report:?}")
    };
    assert!(summary.contains("group web"), "{summary}");
    assert!(
        plan.contains(r#"+/- image: "nginx:hotfix" => "nginx:1""#),
        "the plan as `drover diff` prints it: {plan}"
    );
    assert!(
        !plan.contains("drover."),
        "without drover's own meta: {plan}"
    );
    assert!(!plan.contains('\x1b'), "without colours: {plan}");
    assert_eq!(
        sim.job("default", "web").unwrap()["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx:hotfix"
    );

    let healed = apply::apply(
        &c,
        &submit(job("web", "nginx:1")),
        Intent::DriftCheck { self_heal: true },
        no_hold,
    )
    .await
    .unwrap();
    assert!(matches!(healed, Applied::Registered { .. }), "{healed:?}");
    assert_eq!(
        sim.job("default", "web").unwrap()["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx:1"
    );
}

#[tokio::test]
async fn a_failed_deployment_is_rolled_back_to_the_stable_version() {
    let sim = sim().await;
    deploy(&sim, job("web", "nginx:1"), FOLLOW).await;
    let mut bad = job("web", "nginx:broken");
    bad["Meta"]["sim.fail"] = json!("true");
    let tracked = deploy(&sim, bad, FOLLOW).await;
    assert!(
        matches!(tracked.outcome, Outcome::Failed { .. }),
        "{tracked:?}"
    );
    assert_eq!(tracked.reverted_to, Some(0));
    assert!(tracked.unhealthy > 0 && !tracked.reasons.is_empty());
    let live = sim.job("default", "web").unwrap();
    assert_eq!(
        (
            live["Version"].clone(),
            live["TaskGroups"][0]["Tasks"][0]["Config"]["image"].clone()
        ),
        (json!(2), json!("nginx:1"))
    );
}

#[tokio::test]
async fn a_job_that_reverts_itself_is_not_reverted_again() {
    let sim = sim().await;
    let with_auto_revert = |image: &str, fail: bool| {
        let mut j = job("web", image);
        j["TaskGroups"][0]["Update"] =
            json!({"MaxParallel": 1, "MinHealthyTime": 1_000_000_000u64, "AutoRevert": true});
        if fail {
            j["Meta"]["sim.fail"] = json!("true");
        }
        j
    };
    deploy(&sim, with_auto_revert("nginx:1", false), FOLLOW).await;
    let tracked = deploy(&sim, with_auto_revert("nginx:broken", true), FOLLOW).await;
    let Outcome::Failed { description } = &tracked.outcome else {
        panic!("{tracked:?}")
    };
    assert!(
        description.ends_with("rolling back to job version 0"),
        "{description}"
    );
    assert_eq!(tracked.reverted_to, None, "Nomad's own auto_revert did it");
    let reverts = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/revert"))
        .count();
    assert_eq!(reverts, 0);
}

#[tokio::test]
async fn canaries_are_promoted_only_when_asked() {
    let sim = sim().await;
    let canary = |image: &str| {
        let mut j = job("web", image);
        j["TaskGroups"][0]["Count"] = json!(2);
        j["TaskGroups"][0]["Update"] =
            json!({"MaxParallel": 1, "Canary": 1, "MinHealthyTime": 1_000_000_000u64});
        j
    };
    deploy(&sim, canary("nginx:1"), FOLLOW).await;
    let waiting = deploy(&sim, canary("nginx:2"), FOLLOW).await;
    assert_eq!(waiting.outcome, Outcome::AwaitingPromotion);
    assert!(!waiting.outcome.converged());

    let promote = Settings {
        auto_promote: true,
        ..FOLLOW
    };
    let tracked = deploy(&sim, canary("nginx:3"), promote).await;
    assert_eq!(tracked.outcome, Outcome::Successful);
}

#[tokio::test]
async fn batch_and_periodic_jobs_end_with_their_evaluation() {
    let sim = sim().await;
    let mut batch = job("report", "report:1");
    batch["Type"] = json!("batch");
    assert_eq!(
        deploy(&sim, batch.clone(), FOLLOW).await.outcome,
        Outcome::NoDeployment
    );
    batch["ID"] = json!("nightly");
    batch["Name"] = json!("nightly");
    batch["Periodic"] = json!({"Enabled": true, "Spec": "0 3 * * *", "SpecType": "cron"});
    assert_eq!(
        deploy(&sim, batch, FOLLOW).await.outcome,
        Outcome::NoEvaluation
    );
}

#[tokio::test]
async fn bounded_runs_every_item_in_order_and_at_most_n_at_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let out = apply::bounded((0..20).collect(), 3, |i: u64| {
        let (running, peak) = (running.clone(), peak.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20 - i)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        }
    })
    .await;
    assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}
