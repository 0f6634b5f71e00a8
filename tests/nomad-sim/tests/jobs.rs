//! Fidelity of the job endpoints: response shapes, indexes, versions, check-and-set texts.

mod common;

use common::{service_job, sim};
use serde_json::json;

const REGISTER_KEYS: [&str; 8] = [
    "EvalID",
    "EvalCreateIndex",
    "JobModifyIndex",
    "Warnings",
    "Index",
    "LastContact",
    "KnownLeader",
    "NextToken",
];

const JOB_KEYS: [&str; 14] = [
    "Stop",
    "Region",
    "Namespace",
    "ID",
    "Name",
    "Type",
    "Priority",
    "Datacenters",
    "TaskGroups",
    "Status",
    "Stable",
    "Version",
    "SubmitTime",
    "JobModifyIndex",
];

#[tokio::test]
async fn register_answers_like_nomad_and_stores_every_field() {
    let (_sim, api) = sim().await;
    let r = api.register(service_job("web", "nginx:1", 2)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, REGISTER_KEYS);
    assert_eq!(body["EvalCreateIndex"], body["Index"]);
    assert_eq!(body["JobModifyIndex"], body["Index"]);
    assert_eq!(r.index(), body["Index"].as_u64().unwrap());
    assert_eq!(body["EvalID"].as_str().unwrap().len(), 36);

    let job = api.get("/v1/job/web").await;
    assert_eq!(job.status, 200);
    assert!(
        job.header("X-Nomad-KnownLeader").is_some() && job.header("X-Nomad-LastContact").is_some()
    );
    let job = job.json();
    for key in JOB_KEYS {
        assert!(job.get(key).is_some(), "job JSON lacks {key}");
    }
    assert_eq!(job["Version"], 0);
    assert_eq!(job["Namespace"], "default");
    assert_eq!(job["Region"], "global");
    assert_eq!(job["Priority"], 50);
    assert_eq!(job["CreateIndex"], body["Index"]);
    assert_eq!(job["JobModifyIndex"], body["Index"]);
}

#[tokio::test]
async fn unchanged_reregister_creates_an_eval_but_no_version() {
    let (_sim, api) = sim().await;
    let first = api.register(service_job("web", "nginx:1", 2)).await.json();
    let second = api.register(service_job("web", "nginx:1", 2)).await.json();
    assert_ne!(
        first["EvalID"], second["EvalID"],
        "a new evaluation every time"
    );
    assert_eq!(second["JobModifyIndex"], first["JobModifyIndex"]);
    assert!(second["Index"].as_u64() > first["Index"].as_u64());
    let job = api.get("/v1/job/web").await.json();
    assert_eq!(job["Version"], 0);

    let third = api.register(service_job("web", "nginx:2", 2)).await.json();
    assert!(third["JobModifyIndex"].as_u64() > first["JobModifyIndex"].as_u64());
    assert_eq!(api.get("/v1/job/web").await.json()["Version"], 1);
}

#[tokio::test]
async fn enforce_index_conflicts_are_500s_with_nomads_texts() {
    let (_sim, api) = sim().await;
    let reg = |index: u64| json!({"Job": service_job("web", "nginx:1", 1), "EnforceIndex": true, "JobModifyIndex": index});
    let missing = api.post("/v1/jobs", reg(7)).await;
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (500, "Enforcing job modify index 7: job does not exist")
    );
    assert_eq!(
        missing.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let created = api.post("/v1/jobs", reg(0)).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let index = created.json()["JobModifyIndex"].as_u64().unwrap();

    let exists = api.post("/v1/jobs", reg(0)).await;
    assert_eq!(
        (exists.status, exists.body.as_str()),
        (500, "Enforcing job modify index 0: job already exists")
    );
    let stale = api.post("/v1/jobs", reg(index - 1)).await;
    assert_eq!(stale.status, 500);
    assert_eq!(
        stale.body,
        format!(
            "Enforcing job modify index {}: job exists with conflicting job modify index: {index}",
            index - 1
        )
    );
    assert_eq!(api.post("/v1/jobs", reg(index)).await.status, 200);
}

#[tokio::test]
async fn http_layer_errors() {
    let (_sim, api) = sim().await;
    let r = api.get("/v1/nope").await;
    assert_eq!((r.status, r.body.as_str()), (404, ""));
    let r = api.call("PATCH", "/v1/jobs", None).await;
    assert_eq!((r.status, r.body.as_str()), (405, "Invalid method"));
    let r = api.call("POST", "/v1/jobs", None).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Request body is empty"));
    let r = api.post("/v1/jobs", json!({})).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Job must be specified"));
    let r = api
        .post(
            "/v1/job/other",
            json!({"Job": service_job("web", "nginx:1", 1)}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Job ID does not match name")
    );
    let r = api.get("/v1/job/web?wait=60&index=1").await;
    assert_eq!((r.status, r.body.as_str()), (400, "Invalid wait time"));
    let r = api.get("/v1/job/missing").await;
    assert_eq!((r.status, r.body.as_str()), (404, "job not found"));
    assert!(
        r.header("X-Nomad-Index").is_some(),
        "a 404 still carries the index"
    );
    let r = api.get("/v1/job/missing/deployment").await;
    assert_eq!((r.status, r.body.as_str()), (200, "null"));
    let r = api.get("/v1/job/missing/versions").await;
    assert_eq!((r.status, r.body.as_str()), (404, "job versions not found"));
}

#[tokio::test]
async fn registering_into_a_missing_namespace_fails() {
    let (sim, api) = sim().await;
    let r = api
        .post(
            "/v1/jobs?namespace=prod",
            json!({"Job": service_job("web", "nginx:1", 1)}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "job \"web\" is in nonexistent namespace \"prod\"")
    );
    sim.create_namespace("prod");
    let r = api
        .post(
            "/v1/jobs?namespace=prod",
            json!({"Job": service_job("web", "nginx:1", 1)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.get("/v1/job/web?namespace=prod").await.json()["Namespace"],
        "prod"
    );
    assert_eq!(
        api.get("/v1/job/web").await.status,
        404,
        "namespaces are separate"
    );
}

#[tokio::test]
async fn deregister_stops_as_a_new_version_and_purge_removes() {
    let (_sim, api) = sim().await;
    let unknown = api.call("DELETE", "/v1/job/ghost", None).await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.json()["EvalID"], "");
    assert_eq!(unknown.index(), 0);

    api.register(service_job("web", "nginx:1", 1)).await;
    let stop = api.call("DELETE", "/v1/job/web", None).await.json();
    assert_eq!(stop["EvalCreateIndex"], stop["Index"]);
    let job = api.get("/v1/job/web").await.json();
    assert_eq!(
        (job["Stop"].clone(), job["Version"].clone()),
        (json!(true), json!(1))
    );

    api.call("DELETE", "/v1/job/web?purge=true", None).await;
    assert_eq!(api.get("/v1/job/web").await.status, 404);
    let bad = api.call("DELETE", "/v1/job/web?purge=maybe", None).await;
    assert_eq!(bad.status, 500);
    assert!(
        bad.body
            .starts_with("Failed to parse value of \"purge\" (maybe) as a bool"),
        "{}",
        bad.body
    );
}

#[tokio::test]
async fn versions_are_newest_first_and_revert_makes_a_new_version() {
    let (_sim, api) = sim().await;
    for image in ["nginx:1", "nginx:2", "nginx:3"] {
        api.register(service_job("web", image, 1)).await;
    }
    let versions = api.get("/v1/job/web/versions").await.json();
    let numbers: Vec<u64> = versions["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1, 0]);
    assert!(versions["Diffs"].is_null());

    let r = api
        .post(
            "/v1/job/web/revert",
            json!({"JobID": "web", "JobVersion": 0, "EnforcePriorVersion": 1}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "Current job has version 2; enforcing version 1")
    );
    let r = api
        .post(
            "/v1/job/web/revert",
            json!({"JobID": "web", "JobVersion": 2}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "can't revert to current version")
    );
    let r = api
        .post(
            "/v1/job/web/revert",
            json!({"JobID": "web", "JobVersion": 0, "EnforcePriorVersion": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let job = api.get("/v1/job/web").await.json();
    assert_eq!(job["Version"], 3);
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx:1"
    );
}

#[tokio::test]
async fn list_stubs_have_no_version_and_meta_only_on_request() {
    let (_sim, api) = sim().await;
    api.register(service_job("web", "nginx:1", 1)).await;
    api.register(service_job("api", "api:1", 1)).await;
    let list = api.get("/v1/jobs").await.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["api", "web"]);
    assert!(list[0].get("Version").is_none() && list[0].get("Stable").is_none());
    assert!(list[0].get("Meta").is_none());
    assert_eq!(list[0]["Periodic"], false);
    let with_meta = api.get("/v1/jobs?meta=true&prefix=we").await.json();
    assert_eq!(with_meta.as_array().unwrap().len(), 1);
    assert_eq!(with_meta[0]["Meta"]["owner"], "platform");
}

#[tokio::test]
async fn blocking_query_returns_on_change_or_after_wait() {
    let (_sim, api) = sim().await;
    let first = api.register(service_job("web", "nginx:1", 1)).await.json();
    // Once the deployment succeeded nothing changes until the next register.
    let settled = api.wait_job("web", |j| j["Stable"] == true).await;
    let index = settled["ModifyIndex"].as_u64().unwrap();

    let timed_out = api
        .get(&format!("/v1/job/web?index={index}&wait=50ms"))
        .await;
    assert_eq!(timed_out.status, 200);
    assert_eq!(
        timed_out.index(),
        index,
        "a wait that runs out answers with the same index"
    );
    assert!(first["Index"].as_u64().unwrap() <= index);

    let base = api.base.clone();
    let waiter = tokio::spawn(async move {
        common::Api::new(base)
            .get(&format!("/v1/job/web?index={index}&wait=20s"))
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    api.register(service_job("web", "nginx:2", 1)).await;
    let woke = waiter.await.unwrap();
    assert!(woke.index() > index);
    assert_eq!(woke.json()["Version"], 1);
}
