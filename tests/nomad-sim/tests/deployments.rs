//! Fidelity of evaluations and deployments: shapes, status texts, stability, canaries,
//! failure with auto-revert.

mod common;

use common::{canary_job, service_job, sim};
use serde_json::{Value, json};

#[tokio::test]
async fn evaluation_omits_zero_fields_and_completes_with_a_deployment() {
    let (_sim, api) = sim().await;
    let reg = api.register(service_job("web", "nginx:1", 2)).await.json();
    let eval_id = reg["EvalID"].as_str().unwrap();
    let mut eval = Value::Null;
    for _ in 0..200 {
        eval = api.get(&format!("/v1/evaluation/{eval_id}")).await.json();
        if eval["Status"] == "complete" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(eval["Status"], "complete");
    assert_eq!(eval["TriggeredBy"], "job-register");
    for absent in [
        "BlockedEval",
        "NodeID",
        "FailedTGAllocs",
        "StatusDescription",
        "NextEval",
    ] {
        assert!(
            eval.get(absent).is_none(),
            "an eval omits zero-valued {absent}"
        );
    }
    let deployment_id = eval["DeploymentID"]
        .as_str()
        .expect("a deployment for a new service job");

    let d = api
        .get(&format!("/v1/deployment/{deployment_id}"))
        .await
        .json();
    for key in [
        "ID",
        "Namespace",
        "JobID",
        "JobVersion",
        "JobModifyIndex",
        "JobSpecModifyIndex",
        "JobCreateIndex",
        "IsMultiregion",
        "TaskGroups",
        "Status",
        "StatusDescription",
        "EvalPriority",
        "CreateIndex",
        "ModifyIndex",
    ] {
        assert!(d.get(key).is_some(), "deployment JSON lacks {key}");
    }
    assert_eq!(d["JobSpecModifyIndex"], reg["JobModifyIndex"]);
    assert_eq!(d["TaskGroups"]["web"]["DesiredTotal"], 2);
    assert!(d["TaskGroups"]["web"]["PlacedCanaries"].is_null());

    let done = api.wait_deployment("web", "successful").await;
    assert_eq!(
        done["StatusDescription"],
        "Deployment completed successfully"
    );
    assert_eq!(done["TaskGroups"]["web"]["HealthyAllocs"], 2);
    let job = api.wait_job("web", |j| j["Stable"] == true).await;
    assert_eq!(job["Version"], 0);
    assert_eq!(
        job["JobModifyIndex"], reg["JobModifyIndex"],
        "stability does not change the spec index"
    );

    let r = api.get("/v1/evaluation/not-a-uuid").await;
    assert_eq!(r.status, 500);
    let r = api
        .get("/v1/evaluation/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!((r.status, r.body.as_str()), (404, "eval not found"));
}

#[tokio::test]
async fn a_newer_version_cancels_the_active_deployment() {
    let (sim, api) = sim().await;
    sim.set_time_scale(0.0);
    api.register(service_job("web", "nginx:1", 2)).await;
    let first = api.wait_deployment("web", "running").await;
    api.register(service_job("web", "nginx:2", 2)).await;
    let mut old = Value::Null;
    for _ in 0..200 {
        old = api
            .get(&format!("/v1/deployment/{}", first["ID"].as_str().unwrap()))
            .await
            .json();
        if old["Status"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        old["Status"], "cancelled",
        "deployments spell it with two l's"
    );
    assert_eq!(
        old["StatusDescription"],
        "Cancelled due to newer version of job"
    );
    let list = api.get("/v1/job/web/deployments").await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn failing_job_fails_its_deployment_and_auto_reverts_to_the_stable_version() {
    let (_sim, api) = sim().await;
    api.register(service_job("web", "nginx:1", 1)).await;
    api.wait_job("web", |j| j["Stable"] == true).await;
    let mut bad = service_job("web", "nginx:broken", 1);
    bad["Meta"]["sim.fail"] = json!("true");
    api.register(bad).await;
    let mut failed = Value::Null;
    for _ in 0..300 {
        let list = api.get("/v1/job/web/deployments").await.json();
        if let Some(d) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["Status"] == "failed")
        {
            failed = d.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        failed["StatusDescription"],
        "Failed due to unhealthy allocations - rolling back to job version 0"
    );
    let job = api.wait_job("web", |j| j["Version"] == 2).await;
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Config"]["image"], "nginx:1",
        "reverted as a new version"
    );
}

/// The second version's deployment, once its one canary is healthy.
fn canary_healthy(d: &Value) -> bool {
    d["JobVersion"] == 1 && d["TaskGroups"]["web"]["HealthyAllocs"] == 1
}

/// A job's own Meta reaches every task (as `NOMAD_META_*`), so Nomad's scheduler counts its
/// change as destructive (`tasksUpdated` compares each task's combined meta): the new version
/// places a canary, as its plan said.
#[tokio::test]
async fn a_job_meta_change_places_canaries_as_its_plan_says() {
    let (_sim, api) = sim().await;
    api.register(canary_job("web", "nginx:1", 3, 1)).await;
    api.wait_job("web", |j| j["Stable"] == true).await;
    let mut changed = canary_job("web", "nginx:1", 3, 1);
    changed["Meta"] = json!({"owner": "web-team"});
    let plan = api
        .post("/v1/job/web/plan", json!({"Job": changed, "Diff": true}))
        .await;
    assert_eq!(
        plan.json()["Annotations"]["DesiredTGUpdates"]["web"]["Canary"],
        1
    );
    api.register(changed).await;
    let d = api.wait_for("/v1/job/web/deployment", canary_healthy).await;
    assert_eq!(d["TaskGroups"]["web"]["DesiredCanaries"], 1, "{d}");
}

#[tokio::test]
async fn canaries_wait_for_promotion() {
    let (_sim, api) = sim().await;
    api.register(canary_job("web", "nginx:1", 3, 1)).await;
    api.wait_job("web", |j| j["Stable"] == true).await;
    api.register(canary_job("web", "nginx:2", 3, 1)).await;
    let d = api.wait_for("/v1/job/web/deployment", canary_healthy).await;
    assert_eq!(
        d["StatusDescription"],
        "Deployment is running but requires manual promotion"
    );
    assert_eq!(d["TaskGroups"]["web"]["DesiredCanaries"], 1);
    assert_eq!(
        d["TaskGroups"]["web"]["PlacedCanaries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let id = d["ID"].as_str().unwrap();

    let r = api
        .post(
            &format!("/v1/deployment/promote/{id}"),
            json!({"DeploymentID": "other", "All": true}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Deployment ID does not match")
    );
    let r = api
        .post(
            &format!("/v1/deployment/promote/{id}"),
            json!({"DeploymentID": id, "All": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for key in [
        "EvalID",
        "EvalCreateIndex",
        "DeploymentModifyIndex",
        "RevertedJobVersion",
        "Index",
    ] {
        assert!(r.json().get(key).is_some(), "promote response lacks {key}");
    }
    let done = api.wait_deployment("web", "successful").await;
    assert_eq!(done["TaskGroups"]["web"]["Promoted"], true);
    let r = api
        .post(
            &format!("/v1/deployment/promote/{id}"),
            json!({"DeploymentID": id, "All": true}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "can't promote terminal deployment")
    );
}

#[tokio::test]
async fn batch_and_periodic_jobs_get_no_deployment() {
    let (_sim, api) = sim().await;
    let mut batch = service_job("report", "report:1", 1);
    batch["Type"] = json!("batch");
    batch["TaskGroups"][0]["Update"] = Value::Null;
    let r = api.register(batch).await;
    assert_eq!(r.status, 200, "{}", r.body);
    api.wait_job("report", |j| j["Status"] == "running").await;
    assert_eq!(api.get("/v1/job/report/deployment").await.body, "null");

    let mut periodic = service_job("nightly", "prune:1", 1);
    periodic["Type"] = json!("batch");
    periodic["TaskGroups"][0]["Update"] = Value::Null;
    periodic["Periodic"] =
        json!({"Enabled": true, "Spec": "0 3 * * *", "SpecType": "cron", "ProhibitOverlap": true});
    let r = api.register(periodic).await.json();
    assert_eq!(
        r["EvalID"], "",
        "periodic jobs get no evaluation on register"
    );
}

#[tokio::test]
async fn manual_fail_marks_the_deployment() {
    let (sim, api) = sim().await;
    sim.set_time_scale(0.0);
    api.register(service_job("web", "nginx:1", 1)).await;
    let d = api.wait_deployment("web", "running").await;
    let id = d["ID"].as_str().unwrap();
    let r = api
        .post(&format!("/v1/deployment/fail/{id}"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = api.get(&format!("/v1/deployment/{id}")).await.json();
    assert_eq!(d["Status"], "failed");
    assert_eq!(
        d["StatusDescription"],
        "Deployment marked as failed - no stable job version to auto revert to"
    );
    let r = api
        .post(&format!("/v1/deployment/fail/{id}"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "can't fail terminal deployment")
    );
}

#[tokio::test]
async fn promoting_canaries_that_are_the_whole_count_completes_the_deployment() {
    let (_sim, api) = sim().await;
    api.register(canary_job("web", "nginx:1", 1, 1)).await;
    api.wait_job("web", |j| j["Stable"] == true).await;
    api.register(canary_job("web", "nginx:2", 1, 1)).await;
    let d = api.wait_for("/v1/job/web/deployment", canary_healthy).await;
    let id = d["ID"].as_str().unwrap();
    let r = api
        .post(
            &format!("/v1/deployment/promote/{id}"),
            json!({"DeploymentID": id, "All": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = api.get(&format!("/v1/deployment/{id}")).await.json();
    assert_eq!(d["Status"], "successful");
}
