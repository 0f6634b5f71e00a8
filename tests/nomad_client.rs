//! drover's Nomad client against the Nomad simulator, endpoint by endpoint: every typed error,
//! retries and their limits, blocking queries, token rotation, namespaces, and TLS.

mod common;

use common::sim::{client, cluster};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover::config::{Cluster, Secret, Tls};
use drover::nomad::{
    Client, DeploymentStatus, DiffType, Error, IndexTracker, LockRequest, ParseRequest, Query,
    RegisterRequest, Submission, TransportKind,
};
use nomad_sim::{Fault, Sim};
use serde_json::{Value, json};

const HCL: &str = r#"
job "web" {
  datacenters = ["dc1"]
  group "web" {
    count = 1
    task "app" {
      driver = "docker"
      config {
        image = "nginx:${var.tag}"
      }
    }
  }
}
variable "tag" {
  type = string
}
"#;

async fn sim() -> Sim {
    Sim::builder().start().await.expect("start simulator")
}

/// A job in Nomad's API JSON, as `/v1/jobs/parse` would return it.
fn job(id: &str, image: &str) -> Value {
    json!({
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["dc1"],
        "Meta": {"drover.commit": "abc"},
        "TaskGroups": [{"Name": "web", "Count": 1, "Tasks": [{
            "Name": "app", "Driver": "docker", "Config": {"image": image},
            "Resources": {"CPU": 100, "MemoryMB": 64}
        }]}]
    })
}

async fn register_new(c: &Client, job: Value) -> drover::nomad::RegisterResponse {
    let req = RegisterRequest {
        job,
        enforce_index: Some(0),
        ..RegisterRequest::default()
    };
    c.register_job(&req).await.expect("register")
}

/// The requests the simulator saw for `path`, as `METHOD status`.
fn seen(sim: &Sim, path: &str) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| format!("{} {}", r.method, r.status))
        .collect()
}

#[tokio::test]
async fn parse_returns_canonical_json_and_keeps_parse_errors_apart() {
    let sim = sim().await;
    let c = client(&sim);
    let req = ParseRequest {
        job_hcl: HCL.into(),
        variables: Some("tag = \"1.27\"\n".into()),
        canonicalize: true,
    };
    let job = c.parse_job(&req).await.expect("parse");
    assert_eq!(job["ID"], "web");
    assert_eq!(job["Type"], "service", "canonicalized");
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx:1.27"
    );

    let bad = ParseRequest {
        job_hcl: "job \"x\" {\n  nope = 1\n}\n".into(),
        ..req.clone()
    };
    let err = c.parse_job(&bad).await.expect_err("bad HCL");
    assert!(
        matches!(&err, Error::Parse { text } if text.contains("input.hcl:")),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let empty = ParseRequest {
        job_hcl: String::new(),
        ..req
    };
    assert!(matches!(
        c.parse_job(&empty).await,
        Err(Error::Parse { .. })
    ));
}

#[tokio::test]
async fn plan_register_read_list_and_versions() {
    let sim = sim().await;
    let c = client(&sim);
    let plan = c.plan_job(&job("web", "nginx:1")).await.expect("plan");
    assert_eq!(plan.job_modify_index, 0, "new job");
    assert_eq!(plan.diff.as_ref().expect("diff").r#type, DiffType::Added);

    let req = RegisterRequest {
        job: job("web", "nginx:1"),
        enforce_index: Some(plan.job_modify_index),
        preserve_counts: true,
        submission: Some(Submission::hcl2(HCL, "tag = \"1\"")),
    };
    let reg = c.register_job(&req).await.expect("register");
    assert!(!reg.eval_id.is_empty());
    assert!(reg.job_modify_index > 0);

    let read = c.read_job("web", &Query::now()).await.expect("read");
    assert_eq!(read.value["Version"], 0);
    assert_eq!(
        read.meta.index,
        read.value["ModifyIndex"].as_u64().expect("index")
    );
    assert!(read.meta.known_leader);

    let same = c
        .plan_job(&job("web", "nginx:1"))
        .await
        .expect("plan again");
    assert_eq!(same.job_modify_index, reg.job_modify_index);
    assert_eq!(same.diff.expect("diff").r#type, DiffType::None);
    let changed = c
        .plan_job(&job("web", "nginx:2"))
        .await
        .expect("plan change");
    assert_eq!(changed.diff.expect("diff").r#type, DiffType::Edited);

    let update = RegisterRequest {
        job: job("web", "nginx:2"),
        enforce_index: Some(changed.job_modify_index),
        ..RegisterRequest::default()
    };
    c.register_job(&update).await.expect("update");
    register_new(&c, job("api", "api:1")).await;

    let list = c.list_jobs(Some("we"), &Query::now()).await.expect("list");
    assert_eq!(list.value.len(), 1);
    assert_eq!(list.value[0].id, "web");
    assert_eq!(
        list.value[0].meta.as_ref().expect("meta")["drover.commit"],
        "abc"
    );
    assert!(list.meta.index > 0);
    assert_eq!(
        c.list_jobs(None, &Query::now())
            .await
            .expect("all")
            .value
            .len(),
        2
    );

    let versions = c
        .job_versions("web", &Query::now())
        .await
        .expect("versions");
    let numbers: Vec<_> = versions
        .value
        .versions
        .iter()
        .map(|v| v["Version"].clone())
        .collect();
    assert_eq!(numbers, vec![json!(1), json!(0)], "newest first");
}

#[tokio::test]
async fn stale_check_and_set_index_is_a_conflict() {
    let sim = sim().await;
    let c = client(&sim);
    let first = register_new(&c, job("web", "nginx:1")).await;
    // Someone changes the job behind drover's back.
    assert!(sim.edit_job("default", "web", |j| j["Meta"]["owner"] = json!("alice")));
    let req = RegisterRequest {
        job: job("web", "nginx:2"),
        enforce_index: Some(first.job_modify_index),
        ..RegisterRequest::default()
    };
    let err = c.register_job(&req).await.expect_err("stale index");
    assert!(
        matches!(&err, Error::Conflict { text } if text.contains("Enforcing job modify index"))
    );
    assert!(!err.is_transient());
    let again = c
        .register_job(&RegisterRequest {
            enforce_index: Some(0),
            ..req
        })
        .await;
    assert!(
        matches!(again, Err(Error::Conflict { .. })),
        "0 means: must not exist"
    );
}

#[tokio::test]
async fn invalid_job_is_a_validation_error() {
    let sim = sim().await;
    let c = client(&sim);
    let mut bad = job("web", "nginx:1");
    bad["Type"] = json!("nope");
    bad["Priority"] = json!(500);
    let err = c
        .register_job(&RegisterRequest {
            job: bad.clone(),
            ..Default::default()
        })
        .await;
    let Err(Error::Validation { text }) = err else {
        panic!("expected validation, got {err:?}")
    };
    assert!(
        text.contains("2 errors occurred") && text.contains("Invalid job type"),
        "{text}"
    );
    assert!(matches!(
        c.plan_job(&bad).await,
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        c.plan_job(&json!({"Name": "x"})).await,
        Err(Error::Validation { .. })
    ));
}

#[tokio::test]
async fn missing_objects_are_not_found() {
    let sim = sim().await;
    let c = client(&sim);
    let err = c.read_job("nope", &Query::now()).await.expect_err("no job");
    assert!(
        matches!(&err, Error::NotFound { text } if text == "job not found"),
        "{err:?}"
    );
    assert!(matches!(
        c.job_versions("nope", &Query::now()).await,
        Err(Error::NotFound { .. })
    ));
    let id = "00000000-0000-0000-0000-000000000000";
    assert!(matches!(
        c.read_deployment(id, &Query::now()).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        c.read_evaluation(id, &Query::now()).await,
        Err(Error::NotFound { .. })
    ));
    let latest = c
        .latest_deployment("nope", &Query::now())
        .await
        .expect("200 null");
    assert_eq!(latest.value, None);
    let gone = c
        .deregister_job("nope", false)
        .await
        .expect("unknown job is not an error");
    assert_eq!(gone.eval_id, "");
}

#[tokio::test]
async fn acl_denials_and_token_rotation() {
    let sim = Sim::builder()
        .acl_bootstrap_token("root-secret")
        .start()
        .await
        .expect("sim");
    let reader = sim.acl_token(&["namespace:default:read-job,list-jobs"]);
    let writer = sim.acl_token(&["namespace:default:submit-job"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "not-a-known-token\n").expect("write token");
    let mut settings = cluster(&sim.url());
    settings.token = Some(Secret::file(&token_file));
    let c = Client::new(&settings).expect("client");

    let err = c
        .list_jobs(None, &Query::now())
        .await
        .expect_err("unknown token");
    assert!(matches!(&err, Error::PermissionDenied { text, .. } if text == "Permission denied"));
    assert!(!err.is_transient());

    // Rotated on disk (as systemd credentials or Vault agent do): the next call uses it.
    std::fs::write(&token_file, format!("{reader}\n")).expect("rotate");
    c.list_jobs(None, &Query::now())
        .await
        .expect("reader may list");
    let denied = RegisterRequest {
        job: job("web", "x"),
        ..Default::default()
    };
    assert!(matches!(
        c.register_job(&denied).await,
        Err(Error::PermissionDenied { .. })
    ));

    std::fs::write(&token_file, &writer).expect("rotate again");
    register_new(&c, job("web", "nginx:1")).await;

    for secret in [&reader, &writer] {
        assert!(!format!("{c:?} {err} {err:?}").contains(secret.as_str()));
    }
    std::fs::remove_file(&token_file).expect("remove");
    let err = c
        .list_jobs(None, &Query::now())
        .await
        .expect_err("token file gone");
    assert!(matches!(err, Error::Token(_)), "{err:?}");
}

#[tokio::test]
async fn no_leader_is_retried_until_it_clears() {
    let sim = sim().await;
    let c = client(&sim);
    register_new(&c, job("web", "nginx:1")).await;
    sim.inject(Fault::new("/v1/job/web").no_leader().times(2));
    c.read_job("web", &Query::now())
        .await
        .expect("third attempt succeeds");
    assert_eq!(seen(&sim, "/v1/job/web"), ["GET 500", "GET 500", "GET 200"]);

    sim.clear_requests();
    sim.inject(Fault::new("/v1/job/web").status(503, "overloaded"));
    let err = c
        .read_job("web", &Query::now())
        .await
        .expect_err("gives up");
    assert!(matches!(err, Error::Unavailable { status: 503, .. }) && err.is_transient());
    assert_eq!(
        seen(&sim, "/v1/job/web").len(),
        4,
        "one try and max_retries = 3 retries"
    );
}

#[tokio::test]
async fn unsafe_writes_are_not_retried_but_check_and_set_writes_are() {
    let sim = sim().await;
    let c = client(&sim);
    register_new(&c, job("web", "nginx:1")).await;

    sim.inject(
        Fault::new("/v1/job/web")
            .method("DELETE")
            .no_leader()
            .times(1),
    );
    let err = c
        .deregister_job("web", false)
        .await
        .expect_err("not retried");
    assert!(matches!(err, Error::NoLeader { .. }));
    assert_eq!(seen(&sim, "/v1/job/web"), ["DELETE 500"]);

    sim.inject(Fault::new("/v1/jobs").method("POST").no_leader().times(1));
    let plain = RegisterRequest {
        job: job("web", "nginx:2"),
        ..Default::default()
    };
    assert!(matches!(
        c.register_job(&plain).await,
        Err(Error::NoLeader { .. })
    ));

    let index = c.read_job("web", &Query::now()).await.expect("read").value["JobModifyIndex"]
        .as_u64()
        .expect("index");
    sim.clear_requests();
    sim.inject(Fault::new("/v1/jobs").method("POST").no_leader().times(1));
    let cas = RegisterRequest {
        enforce_index: Some(index),
        ..plain
    };
    c.register_job(&cas)
        .await
        .expect("retried with EnforceIndex");
    assert_eq!(seen(&sim, "/v1/jobs"), ["POST 500", "POST 200"]);

    sim.inject(Fault::new("/v1/job/web/plan").no_leader().times(1));
    c.plan_job(&job("web", "nginx:3"))
        .await
        .expect("plan is retried");
}

#[tokio::test]
async fn dropped_connections_and_timeouts_are_transport_errors() {
    let sim = sim().await;
    let mut settings = cluster(&sim.url());
    settings.retry.max_retries = 0;
    settings.request_timeout = Duration::from_millis(300);
    let c = Client::new(&settings).expect("client");
    sim.inject(Fault::new("/v1/status/leader").drop_connection().times(1));
    let err = c.status_leader().await.expect_err("dropped");
    assert!(
        matches!(err, Error::Transport { .. }) && err.is_transient(),
        "{err:?}"
    );

    sim.inject(
        Fault::new("/v1/status/leader")
            .delay(Duration::from_secs(2))
            .times(1),
    );
    let err = c.status_leader().await.expect_err("too slow");
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );

    // With retries, one dropped connection is invisible to the caller.
    sim.inject(Fault::new("/v1/status/leader").drop_connection().times(1));
    assert!(
        client(&sim)
            .status_leader()
            .await
            .expect("retried")
            .is_some()
    );

    let closed = cluster("http://127.0.0.1:9"); // discard port: nothing listens
    let err = Client::new(&closed)
        .expect("client")
        .status_leader()
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn unexpected_and_oversized_bodies_are_decode_errors() {
    let sim = sim().await;
    let c = client(&sim);
    sim.inject(
        Fault::new("/v1/job/web")
            .status(200, "<html>captive portal</html>")
            .times(1),
    );
    let err = c
        .read_job("web", &Query::now())
        .await
        .expect_err("not JSON");
    assert!(matches!(&err, Error::Decode { detail, .. } if detail.contains("captive portal")));
    assert!(!err.is_transient());

    let huge = "x".repeat(common::sim::cluster("http://x").max_response_bytes + 1);
    sim.inject(Fault::new("/v1/job/web").status(200, &huge).times(1));
    let err = c
        .read_job("web", &Query::now())
        .await
        .expect_err("too large");
    assert!(matches!(&err, Error::Decode { detail, .. } if detail.contains("larger than")));

    sim.inject(Fault::new("/v1/job/web").status(500, &huge).times(1));
    let Err(Error::Api { status: 500, text }) = c.read_job("web", &Query::now()).await else {
        panic!("expected Api")
    };
    assert!(text.starts_with("xxxx"), "keeps the start of the text");
    assert!(
        text.len() <= drover::nomad::MAX_ERROR_TEXT + 32,
        "error text is bounded"
    );
}

#[tokio::test]
async fn blocking_query_returns_when_a_register_happens() {
    let sim = sim().await;
    let c = client(&sim);
    // An empty cluster: the jobs table's index may be 0, which must not make the watch spin.
    let mut tracker = IndexTracker::new();
    let first = c
        .list_jobs(None, &tracker.query(Duration::from_secs(10)))
        .await
        .expect("list");
    assert!(first.value.is_empty());
    assert!(tracker.observe(&first.meta));
    assert!(tracker.last() >= 1);

    // Nothing happens: the query waits its full time and reports no change.
    let started = Instant::now();
    let quiet = tracker.query(Duration::from_millis(300));
    let same = c.list_jobs(None, &quiet).await.expect("times out with 200");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(!tracker.observe(&same.meta), "same index is not a change");

    let waiting = {
        let (c, q) = (c.clone(), tracker.query(Duration::from_secs(10)));
        tokio::spawn(async move { c.list_jobs(None, &q).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    register_new(&c, job("api", "api:1")).await;
    let woke = waiting.await.expect("task").expect("blocking list");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "returned on the write, not the wait"
    );
    assert!(tracker.observe(&woke.meta));
    assert_eq!(woke.value.len(), 1);
    let query = sim
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/v1/jobs" && r.method == "GET");
    assert!(query.expect("logged").query.contains("wait=10000ms"));
}

#[tokio::test]
async fn deployments_and_evaluations() {
    let sim = Sim::builder()
        .time_scale(1000.0)
        .start()
        .await
        .expect("sim");
    let c = client(&sim);
    let reg = register_new(&c, job("web", "nginx:1")).await;

    let mut tracker = IndexTracker::new();
    let eval = loop {
        let e = c
            .read_evaluation(&reg.eval_id, &tracker.query(Duration::from_secs(5)))
            .await;
        let e = e.expect("eval");
        tracker.observe(&e.meta);
        if e.value.status.is_terminal() {
            break e.value;
        }
    };
    assert_eq!(eval.job_id, "web");
    assert!(!eval.deployment_id.is_empty(), "{eval:?}");

    let latest = c
        .latest_deployment("web", &Query::now())
        .await
        .expect("latest");
    let latest = latest.value.expect("a deployment");
    assert_eq!(latest.id, eval.deployment_id);
    assert_eq!(latest.job_spec_modify_index, reg.job_modify_index);

    let mut tracker = IndexTracker::new();
    let done = loop {
        let q = tracker.query(Duration::from_secs(5));
        let d = c.read_deployment(&latest.id, &q).await.expect("deployment");
        tracker.observe(&d.meta);
        if d.value.status.is_terminal() {
            break d.value;
        }
    };
    assert_eq!(done.status, DeploymentStatus::Successful, "{done:?}");
    let err = c.fail_deployment(&done.id).await.expect_err("terminal");
    assert!(
        matches!(&err, Error::Api { status: 500, text } if text.contains("terminal")),
        "{err:?}"
    );

    // A second version's deployment can be failed while it runs, and promoted only while it runs.
    sim.set_time_scale(0.0);
    let index = done.job_spec_modify_index;
    let update = RegisterRequest {
        job: job("web", "nginx:2"),
        enforce_index: Some(index),
        ..Default::default()
    };
    c.register_job(&update).await.expect("v1");
    let running = wait_for_deployment(&c, "web", 1).await;
    let failed = c.fail_deployment(&running).await.expect("fail");
    assert!(!failed.eval_id.is_empty());
    let d = c
        .read_deployment(&running, &Query::now())
        .await
        .expect("read");
    assert_eq!(d.value.status, DeploymentStatus::Failed);
    let err = c
        .promote_deployment(&running, None)
        .await
        .expect_err("terminal");
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err:?}");
}

/// Waits for the deployment of `version` of a job to appear; returns its ID.
async fn wait_for_deployment(c: &Client, job: &str, version: u64) -> String {
    let mut tracker = IndexTracker::new();
    for _ in 0..50 {
        let d = c
            .latest_deployment(job, &tracker.query(Duration::from_secs(2)))
            .await;
        let d = d.expect("latest deployment");
        tracker.observe(&d.meta);
        if let Some(d) = d.value.filter(|d| d.job_version == version) {
            return d.id;
        }
    }
    panic!("no deployment for version {version}");
}

#[tokio::test]
async fn promote_canaries_of_a_running_deployment() {
    let sim = Sim::builder()
        .time_scale(1000.0)
        .start()
        .await
        .expect("sim");
    let c = client(&sim);
    let mut v0 = job("web", "nginx:1");
    v0["TaskGroups"][0]["Count"] = json!(2);
    v0["TaskGroups"][0]["Update"] = json!({"Canary": 1, "AutoPromote": false});
    let reg = register_new(&c, v0.clone()).await;
    let mut v1 = v0;
    v1["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = json!("nginx:2");
    let update = RegisterRequest {
        job: v1,
        enforce_index: Some(reg.job_modify_index),
        ..Default::default()
    };
    // Version 0 must be deployed before version 1 gets canaries.
    wait_until(&c, "web", 0, |d| d.status.is_terminal()).await;
    sim.set_time_scale(0.0);
    c.register_job(&update).await.expect("v1");
    let id = wait_until(&c, "web", 1, |d| d.task_groups["web"].placed_allocs >= 1).await;
    let err = c
        .promote_deployment(&id, None)
        .await
        .expect_err("canary not healthy yet");
    assert!(matches!(&err, Error::Validation { text } if text.contains("healthy allocations")));
    sim.set_time_scale(1000.0);
    wait_until(&c, "web", 1, |d| d.task_groups["web"].healthy_allocs >= 1).await;
    let promoted = c
        .promote_deployment(&id, Some(&["web".to_owned()]))
        .await
        .expect("promote");
    assert!(!promoted.eval_id.is_empty());
    let done = wait_until(&c, "web", 1, |d| d.status.is_terminal()).await;
    let d = c.read_deployment(&done, &Query::now()).await.expect("read");
    assert_eq!(
        d.value.status,
        DeploymentStatus::Successful,
        "{:?}",
        d.value
    );
    assert!(d.value.task_groups["web"].promoted);
}

async fn wait_until(
    c: &Client,
    job: &str,
    version: u64,
    done: impl Fn(&drover::nomad::Deployment) -> bool,
) -> String {
    let mut tracker = IndexTracker::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let d = c
            .latest_deployment(job, &tracker.query(Duration::from_secs(1)))
            .await;
        let d = d.expect("latest deployment");
        tracker.observe(&d.meta);
        if let Some(d) = d.value.filter(|d| d.job_version == version && done(d)) {
            return d.id;
        }
    }
    let last = c
        .latest_deployment(job, &Query::now())
        .await
        .expect("latest")
        .value;
    panic!("deployment of version {version} never reached the expected state: {last:#?}");
}

#[tokio::test]
async fn revert_and_deregister() {
    let sim = sim().await;
    let c = client(&sim);
    let v0 = register_new(&c, job("web", "nginx:1")).await;
    let v1 = RegisterRequest {
        job: job("web", "nginx:2"),
        enforce_index: Some(v0.job_modify_index),
        ..Default::default()
    };
    c.register_job(&v1).await.expect("v1");
    let err = c
        .revert_job("web", 0, Some(5))
        .await
        .expect_err("wrong prior version");
    assert!(
        matches!(&err, Error::Api { text, .. } if text.contains("enforcing version 5")),
        "{err:?}"
    );
    let reverted = c.revert_job("web", 0, Some(1)).await.expect("revert");
    assert!(reverted.job_modify_index > v0.job_modify_index);
    let live = c.read_job("web", &Query::now()).await.expect("read").value;
    assert_eq!(live["Version"], 2, "a revert is a new version");
    assert_eq!(
        live["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx:1"
    );

    let stopped = c.deregister_job("web", false).await.expect("stop");
    assert!(!stopped.eval_id.is_empty());
    assert_eq!(
        c.read_job("web", &Query::now()).await.expect("read").value["Stop"],
        true
    );
    c.deregister_job("web", true).await.expect("purge");
    assert!(matches!(
        c.read_job("web", &Query::now()).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn namespaces_region_leader_and_agent() {
    let sim = sim().await;
    sim.create_namespace("prod");
    let mut settings = cluster(&sim.url());
    settings.region = Some("global".into());
    let c = Client::new(&settings).expect("client");
    let prod = c.in_namespace("prod");
    assert_eq!(prod.namespace(), Some("prod"));
    register_new(&prod, job("web", "nginx:1")).await;
    register_new(&c, job("api", "api:1")).await;
    assert!(matches!(
        c.read_job("web", &Query::now()).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        prod.read_job("web", &Query::now())
            .await
            .expect("read")
            .value["Namespace"],
        "prod"
    );
    let all = c
        .in_namespace("*")
        .list_jobs(None, &Query::now())
        .await
        .expect("list *");
    let mut names: Vec<_> = all
        .value
        .iter()
        .map(|j| format!("{}/{}", j.namespace, j.id))
        .collect();
    names.sort();
    assert_eq!(names, ["default/api", "prod/web"]);
    let nowhere = RegisterRequest {
        job: job("x", "x"),
        ..Default::default()
    };
    let err = c.in_namespace("nowhere").register_job(&nowhere).await;
    assert!(
        matches!(err, Err(Error::Api { status: 500, text }) if text.contains("nonexistent namespace"))
    );
    for r in sim.requests() {
        assert!(r.query.contains("region=global"), "{r:?}");
    }

    assert!(c.status_leader().await.expect("leader").is_some());
    let agent = c.agent_self().await.expect("agent");
    assert!(agent.version.starts_with("1."), "{agent:?}");
}

#[tokio::test]
async fn variable_locks_for_leader_election() {
    let sim = sim().await;
    let (a, b) = (client(&sim), client(&sim));
    let req = LockRequest {
        ttl: Duration::from_secs(15),
        lock_delay: Duration::from_secs(5),
        items: BTreeMap::from([("holder".to_owned(), "a".to_owned())]),
    };
    let held = a
        .lock_acquire("drover/leader", &req)
        .await
        .expect("acquire");
    let lock = held.lock.expect("lock");
    assert_eq!(lock.ttl, "15s");
    assert!(!lock.id.is_empty());

    let err = b
        .lock_acquire("drover/leader", &req)
        .await
        .expect_err("held");
    assert!(
        matches!(err, Error::LockConflict { .. }) && !err.is_transient(),
        "{err:?}"
    );
    a.lock_renew("drover/leader", &lock.id)
        .await
        .expect("renew");
    let err = b
        .lock_renew("drover/leader", "00000000-0000-0000-0000-000000000000")
        .await;
    assert!(matches!(err, Err(Error::LockConflict { .. })), "{err:?}");

    a.lock_release("drover/leader", &lock.id)
        .await
        .expect("release");
    let taken = b
        .lock_acquire("drover/leader", &req)
        .await
        .expect("b acquires");
    let b_lock = taken.lock.expect("lock");
    assert_ne!(b_lock.id, lock.id);
    b.lock_renew("drover/leader", &b_lock.id)
        .await
        .expect("b renews");

    // A holder that stops renewing loses the lease after 2 × TTL, even with the right ID.
    sim.advance(Duration::from_secs(31));
    let err = b.lock_renew("drover/leader", &b_lock.id).await;
    assert!(matches!(err, Err(Error::LockConflict { .. })), "{err:?}");
    // ... and, after the lock delay, someone else can take it.
    sim.advance(Duration::from_secs(6));
    a.lock_acquire("drover/leader", &req)
        .await
        .expect("a takes over");
}

/// A client of a simulator with ACLs on, holding its management token.
async fn acl_sim() -> (Sim, Client) {
    let sim = Sim::builder()
        .acl_bootstrap_token("root-secret")
        .start()
        .await
        .expect("sim");
    let mut settings = cluster(&sim.url());
    settings.token = Some(Secret::value("root-secret"));
    let c = Client::new(&settings).expect("client");
    (sim, c)
}

fn names(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(|v| v["Name"].as_str()).collect()
}

#[tokio::test]
async fn namespaces_are_put_read_listed_and_deleted() {
    let sim = sim().await;
    let c = client(&sim);
    assert_eq!(c.read_namespace("prod").await.expect("read"), None);
    let prod = json!({"Name": "prod", "Description": "production", "Meta": {"team": "web"}});
    c.put_namespace("prod", &prod).await.expect("create");
    c.put_namespace("prod", &prod)
        .await
        .expect("the same again");
    let read = c
        .read_namespace("prod")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read["Description"], "production");
    assert_eq!(
        names(&c.namespaces().await.expect("list")),
        ["default", "prod"]
    );

    let err = c
        .put_namespace("prod", &json!({"Name": "other"}))
        .await
        .expect_err("name mismatch");
    assert!(err.is_refusal(), "{err:?}");

    let jobs = c.in_namespace("prod");
    register_new(&jobs, job("web", "nginx:1")).await;
    let err = c.delete_namespace("prod").await.expect_err("in use");
    assert!(err.is_in_use(), "{err:?}");
    assert!(
        err.to_string()
            .contains("namespace \"prod\" has non-terminal jobs in regions: [global]"),
        "{err}"
    );
    let err = c.delete_namespace("default").await.expect_err("default");
    assert!(
        matches!(&err, Error::Api { status: 500, text } if text == "can not delete default namespace"),
        "{err:?}"
    );
    assert!(!err.is_in_use());

    jobs.deregister_job("web", true).await.expect("purge");
    c.delete_namespace("prod").await.expect("delete");
    assert_eq!(c.read_namespace("prod").await.expect("read"), None);
    assert_eq!(
        seen(&sim, "/v1/namespace/prod").last().map(String::as_str),
        Some("GET 404")
    );
}

#[tokio::test]
async fn node_pools_are_put_read_listed_and_deleted() {
    let sim = sim().await;
    let c = client(&sim);
    assert_eq!(
        names(&c.node_pools().await.expect("list")),
        ["all", "default"]
    );
    assert_eq!(c.node_pool("gpu").await.expect("read"), None);
    let gpu = json!({"Name": "gpu", "Description": "GPUs", "Meta": {"vendor": "nv"}});
    c.put_node_pool(&gpu).await.expect("create");
    let read = c.node_pool("gpu").await.expect("read").expect("exists");
    assert_eq!(read["Meta"]["vendor"], "nv");

    let err = c
        .put_node_pool(&json!({"Name": "default", "Description": "mine"}))
        .await
        .expect_err("built-in");
    assert!(
        matches!(&err, Error::Validation { text } if text == "modifying node pool \"default\" is not allowed"),
        "{err:?}"
    );

    let node = sim.add_node("gpu");
    let err = c.delete_node_pool("gpu").await.expect_err("has a node");
    assert!(err.is_in_use(), "{err:?}");
    assert!(
        err.to_string()
            .contains("node pool \"gpu\" has nodes in regions: [global]")
    );
    assert!(!node.is_empty());

    c.put_node_pool(&json!({"Name": "batch"}))
        .await
        .expect("create");
    c.delete_node_pool("batch").await.expect("delete");
    assert_eq!(c.node_pool("batch").await.expect("read"), None);
}

#[tokio::test]
async fn acl_policies_and_roles_need_acls_and_a_management_token() {
    let plain = sim().await;
    let err = client(&plain).acl_policies().await.expect_err("no ACLs");
    assert!(err.is_acl_disabled() && !err.is_transient(), "{err:?}");
    let err = client(&plain)
        .create_acl_role(&json!({"Name": "ops", "Policies": [{"Name": "ro"}]}))
        .await
        .expect_err("no ACLs");
    assert!(err.is_acl_disabled(), "{err:?}");

    let (sim, c) = acl_sim().await;
    let rules = "namespace \"default\" {\n  policy = \"read\"\n}\n";
    let policy = json!({"Name": "readonly", "Description": "read", "Rules": rules});
    c.put_acl_policy("readonly", &policy)
        .await
        .expect("put policy");
    let read = c
        .acl_policy("readonly")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read["Rules"], rules);
    assert_eq!(names(&c.acl_policies().await.expect("list")), ["readonly"]);
    assert_eq!(c.acl_policy("nope").await.expect("read"), None);

    let role =
        json!({"Name": "ops", "Description": "operators", "Policies": [{"Name": "readonly"}]});
    let created = c.create_acl_role(&role).await.expect("create role");
    let id = created["ID"].as_str().expect("an ID").to_owned();
    let err = c.create_acl_role(&role).await.expect_err("duplicate name");
    assert!(
        matches!(&err, Error::Validation { text } if text == "role with name ops already exists"),
        "{err:?}"
    );
    let err = c
        .create_acl_role(&json!({"Name": "dev", "Policies": [{"Name": "nope"}]}))
        .await
        .expect_err("missing policy");
    assert!(err.to_string().contains("cannot find policy nope"), "{err}");
    assert_eq!(
        c.acl_role_by_name("ops").await.expect("read"),
        Some(created.clone())
    );
    let mut update = created.clone();
    update["Description"] = json!("v2");
    let updated = c.update_acl_role(&id, &update).await.expect("update");
    assert_eq!(updated["Description"], "v2");
    assert_eq!(updated["ID"], created["ID"]);
    assert_eq!(c.acl_roles().await.expect("list").len(), 1);

    let mut settings = cluster(&sim.url());
    settings.token = Some(Secret::value(sim.acl_token(&["namespace:*:submit-job"])));
    let client_token = Client::new(&settings).expect("client");
    let err = client_token
        .put_acl_policy("readonly", &policy)
        .await
        .expect_err("not management");
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");

    c.delete_acl_role(&id).await.expect("delete role");
    assert_eq!(c.acl_role_by_name("ops").await.expect("read"), None);
    c.delete_acl_policy("readonly")
        .await
        .expect("delete policy");
    c.delete_acl_policy("readonly")
        .await
        .expect("deleting nothing");
    assert_eq!(c.acl_policy("readonly").await.expect("read"), None);
}

#[tokio::test]
async fn variables_are_deleted_with_check_and_set() {
    let sim = sim().await;
    let c = client(&sim);
    let items = BTreeMap::from([("user".to_owned(), "a".to_owned())]);
    let var = c.put_variable("app/db", &items, 0).await.expect("put");
    let err = c
        .delete_variable("app/db", var.modify_index + 1)
        .await
        .expect_err("stale index");
    assert!(matches!(err, Error::LockConflict { .. }), "{err:?}");
    c.delete_variable("app/db", var.modify_index)
        .await
        .expect("delete");
    let err = c.variable("app/db", &Query::now()).await.expect_err("gone");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    c.delete_variable("app/db", 0)
        .await
        .expect("delete if absent");
}

#[test]
fn construction_errors_name_the_cluster() {
    let err = Client::new(&cluster("ftp://127.0.0.1:4646")).expect_err("scheme");
    assert!(err.to_string().contains("cluster test"), "{err}");
    let mut missing_ca = cluster("https://127.0.0.1:4646");
    missing_ca.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let err = Client::new(&missing_ca).expect_err("no CA file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

mod tls {
    use super::*;
    use crate::common::pki::Pki;

    async fn https_sim(pki: &Pki) -> Sim {
        Sim::builder()
            .tls(pki.server_config())
            .start()
            .await
            .expect("https sim")
    }

    fn settings(sim: &Sim, pki: &Pki, server_name: Option<&str>) -> Cluster {
        let mut s = cluster(&sim.url());
        s.retry.max_retries = 0;
        s.tls = Tls {
            ca_file: Some(pki.ca_file.clone()),
            client_cert: Some(pki.client_cert.clone()),
            client_key: Some(pki.client_key.clone()),
            server_name: server_name.map(str::to_owned),
            ..Tls::default()
        };
        s
    }

    async fn leader(settings: &Cluster) -> Result<Option<String>, Error> {
        Client::new(settings).expect("client").status_leader().await
    }

    #[tokio::test]
    async fn mutual_tls_with_a_custom_ca() {
        let pki = Pki::new(&["127.0.0.1"]);
        let sim = https_sim(&pki).await;
        assert!(sim.url().starts_with("https://"));
        let ok = settings(&sim, &pki, None);
        assert!(leader(&ok).await.expect("mTLS").is_some());

        let mut no_client_cert = ok.clone();
        no_client_cert.tls.client_cert = None;
        no_client_cert.tls.client_key = None;
        let err = leader(&no_client_cert)
            .await
            .expect_err("server wants a client cert");
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn refuses_a_server_it_does_not_trust() {
        let pki = Pki::new(&["127.0.0.1"]);
        let other = Pki::new(&["127.0.0.1"]);
        let sim = https_sim(&pki).await;
        let mut wrong_ca = settings(&sim, &pki, None);
        wrong_ca.tls.ca_file = Some(other.ca_file.clone());
        let err = leader(&wrong_ca).await.expect_err("untrusted");
        assert!(
            matches!(
                err,
                Error::Transport {
                    kind: TransportKind::Connect,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("invalid peer certificate"),
            "says why: {err}"
        );

        // The same CA found through a directory (`ca_path`).
        let mut by_dir = settings(&sim, &pki, None);
        by_dir.tls.ca_file = None;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(&pki.ca_file, dir.path().join("ca.pem")).expect("copy");
        by_dir.tls.ca_path = Some(dir.path().to_owned());
        leader(&by_dir).await.expect("CA from ca_path");

        let mut skip = wrong_ca;
        skip.tls.skip_verify = true;
        leader(&skip).await.expect("skip_verify trusts anything");
    }

    #[tokio::test]
    async fn server_name_overrides_the_address_host() {
        // Nomad's certificates name the role and region, not the address.
        let pki = Pki::new(&["server.global.nomad"]);
        let sim = https_sim(&pki).await;
        let err = leader(&settings(&sim, &pki, None))
            .await
            .expect_err("127.0.0.1 not in cert");
        assert!(
            err.to_string().contains("not valid for name"),
            "says why: {err}"
        );
        let err = leader(&settings(&sim, &pki, Some("server.east.nomad"))).await;
        assert!(matches!(err, Err(Error::Transport { .. })), "{err:?}");
        leader(&settings(&sim, &pki, Some("server.global.nomad")))
            .await
            .expect("name matches");
    }
}
