//! The simulator's test controls (request log, faults, latency) and ACLs.

mod common;

use std::time::Duration;

use common::{Api, service_job, sim};
use nomad_sim::Fault;
use serde_json::json;

#[tokio::test]
async fn request_log_and_status_faults() {
    let (sim, api) = sim().await;
    sim.inject(Fault::new("/v1/job/.*").method("GET").no_leader().times(2));
    for _ in 0..2 {
        let r = api.get("/v1/job/web").await;
        assert_eq!((r.status, r.body.as_str()), (500, "No cluster leader"));
    }
    assert_eq!(
        api.get("/v1/job/web").await.status,
        404,
        "the fault ran out"
    );
    sim.inject(Fault::new("/v1/jobs").status(503, "overloaded"));
    assert_eq!(
        api.register(service_job("web", "nginx:1", 1)).await.status,
        503
    );
    sim.clear_faults();
    assert_eq!(
        api.register(service_job("web", "nginx:1", 1)).await.status,
        200
    );

    let log = sim.requests();
    let summary: Vec<(String, String, u16)> = log
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.status))
        .collect();
    assert_eq!(
        summary[..3],
        [
            ("GET".into(), "/v1/job/web".into(), 500),
            ("GET".into(), "/v1/job/web".into(), 500),
            ("GET".into(), "/v1/job/web".into(), 404),
        ]
    );
    assert_eq!(
        summary.last().unwrap(),
        &("POST".into(), "/v1/jobs".into(), 200)
    );
}

#[tokio::test]
async fn dropped_connection_gives_no_answer() {
    let (sim, api) = sim().await;
    sim.inject(Fault::new("/v1/status/leader").drop_connection().times(1));
    let client = common::client();
    let err = client
        .get(format!("{}/v1/status/leader", api.base))
        .send()
        .await;
    assert!(err.is_err(), "expected a transport error, got {err:?}");
    assert_eq!(
        api.get("/v1/status/leader").await.body,
        "\"127.0.0.1:4647\""
    );
    assert_eq!(sim.requests()[0].status, 0);
}

#[tokio::test]
async fn latency_and_delay_faults_slow_answers() {
    let (sim, api) = sim().await;
    sim.set_latency(Duration::from_millis(30));
    let start = std::time::Instant::now();
    api.get("/v1/status/leader").await;
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[tokio::test]
async fn acl_tokens_are_checked_per_namespace() {
    let sim = nomad_sim::Sim::builder()
        .acl_bootstrap_token("root-token")
        .start()
        .await
        .unwrap();
    sim.create_namespace("prod");
    let mut api = Api::new(sim.url());
    let r = api.register(service_job("web", "nginx:1", 1)).await;
    assert_eq!((r.status, r.body.as_str()), (403, "Permission denied"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));

    api.token = Some(sim.acl_token(&["namespace:prod:submit-job"]));
    assert_eq!(
        api.register(service_job("web", "nginx:1", 1)).await.status,
        403,
        "default is not granted"
    );
    let r = api
        .post(
            "/v1/jobs?namespace=prod",
            json!({"Job": service_job("web", "nginx:1", 1)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get("/v1/job/web?namespace=prod").await.status, 200);

    api.token = Some("00000000-0000-0000-0000-000000000000".into());
    assert_eq!(api.get("/v1/job/web?namespace=prod").await.status, 403);
    api.token = Some("root-token".into());
    assert_eq!(api.get("/v1/job/web?namespace=prod").await.status, 200);
}

#[tokio::test]
async fn control_routes_drive_a_standalone_simulator() {
    let (sim, api) = sim().await;
    let r = api.post("/sim/faults", json!({"path": "/v1/jobs", "kind": {"status": {"code": 500, "body": "No cluster leader"}}, "times": 1})).await;
    assert_eq!(r.status, 204);
    assert_eq!(api.get("/v1/jobs").await.status, 500);
    assert_eq!(api.get("/v1/jobs").await.status, 200);
    api.register(service_job("web", "nginx:1", 1)).await;
    let r = api
        .post(
            "/sim/jobs/default/web/edit",
            json!({"Meta": {"owner": "someone-by-hand"}}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(sim.job("default", "web").unwrap()["Version"], 1);
    let log = api.get("/sim/requests").await.json();
    assert_eq!(
        log.as_array().unwrap().len(),
        3,
        "control routes are not logged: {log}"
    );
}

#[tokio::test]
async fn without_a_leader_only_stale_reads_and_agent_endpoints_answer() {
    let (sim, api) = sim().await;
    api.register(service_job("web", "nginx:1", 1)).await;
    sim.set_leader(false);
    let r = api.get("/v1/job/web").await;
    assert_eq!((r.status, r.body.as_str()), (500, "No cluster leader"));
    let r = api.register(service_job("web", "nginx:2", 1)).await;
    assert_eq!((r.status, r.body.as_str()), (500, "No cluster leader"));
    assert_eq!(api.get("/v1/job/web?stale").await.status, 200);
    assert_eq!(api.get("/v1/status/leader").await.body, "\"\"");
    assert_eq!(api.get("/v1/agent/health").await.status, 500);
    sim.set_leader(true);
    assert_eq!(api.get("/v1/job/web").await.status, 200);
}
