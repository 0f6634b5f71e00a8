//! drover's HTTP endpoint end to end: `/healthz` and `/readyz` from the board, the `/status`
//! document, `/metrics` as Prometheus text, HTTPS, the `[server]` keys, and `drover status`
//! (the binary) printing a running endpoint's status.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::serve::{Server, start, start_with};
use drover::config::{Config, Env};
use drover::metrics::Metrics;
use drover::nomad::{Client, Query};
use drover::state::{JobKey, JobRecord, SourceState};
use drover::status::JobState;
use drover::sync::{JobReport, PassReport, Status};

const COMMIT: &str = "3f2a1b2c3d4e5f60718293a4b5c6d7e8f9012345";

/// The report of `bad.nomad.hcl`: its error, then its two warnings folded into one line.
const BAD: &str = "bad.nomad.hcl:3:1: unexpected token\nbad.nomad.hcl: warning: 2 variables of the source are not declared by this job (a, b)";
/// The same in full.
const BAD_FULL: &str = "bad.nomad.hcl:3:1: unexpected token\nbad.nomad.hcl: warning: Undefined variable; A \"a\" ...\nbad.nomad.hcl: warning: Undefined variable; A \"b\" ...";

/// A pass over `source`: `api` synced at [`COMMIT`] (version 4), `bad.nomad.hcl` blocked.
fn pass(server: &Server, source: &str, error: Option<&str>) {
    let key = JobKey::new("prod", "api");
    let jobs = vec![
        JobReport {
            job: Some(key.clone()),
            path: "api.nomad.hcl".to_owned(),
            status: Status::Synced,
            detail: "registered".to_owned(),
            full_detail: None,
            followed: false,
        },
        JobReport {
            job: None,
            path: "bad.nomad.hcl".to_owned(),
            status: Status::Blocked,
            detail: BAD.to_owned(),
            full_detail: Some(BAD_FULL.to_owned()),
            followed: false,
        },
    ];
    let mut report = PassReport::new(source);
    report.commit = Some(COMMIT.to_owned());
    report.jobs = jobs;
    report.error = error.map(str::to_owned);
    let mut record = JobRecord::new("api.nomad.hcl");
    record.applied_commit = Some(COMMIT.to_owned());
    record.version = Some(4);
    let state = SourceState {
        last_synced_commit: Some(COMMIT.to_owned()),
        last_fetched_commit: Some(COMMIT.to_owned()),
        jobs: BTreeMap::from([(key, record)]),
        ..SourceState::default()
    };
    server
        .board
        .pass_finished(&report, &state, Duration::from_millis(250));
}

#[tokio::test]
async fn health_follows_loop_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::serve::config(dir.path(), "");
    config.sources.truncate(1);
    config.sources[0].poll = Duration::from_secs(1);
    let server = start_with(dir, config).await;
    assert_eq!(server.get("/healthz").await, (200, "ok\n".to_owned()));
    // No pass within 3 × 1s: the loop is stuck.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (code, text) = server.get("/healthz").await;
    assert_eq!(code, 503);
    assert!(
        text.starts_with("source web has not finished a pass"),
        "{text}"
    );
    pass(&server, "web", Some("fetch failed"));
    assert_eq!(
        server.get("/healthz").await.0,
        200,
        "a failed pass is progress"
    );
    server.stop().await;
}

#[tokio::test]
async fn ready_once_every_source_synced() {
    let server = start("").await;
    let (code, text) = server.get("/readyz").await;
    assert_eq!(code, 503);
    for reason in [
        "source web has not synced yet",
        "source tags has not synced yet",
        "Nomad has not answered recently",
    ] {
        assert!(text.lines().any(|l| l == reason), "{reason:?} in {text}");
    }
    pass(&server, "web", None);
    pass(&server, "tags", None);
    let (code, text) = server.get("/readyz").await;
    assert_eq!(
        (code, text.trim()),
        (503, "source gitea has not synced yet")
    );
    pass(&server, "gitea", None);
    assert_eq!(server.get("/readyz").await, (200, "ok\n".to_owned()));
    server.stop().await;
}

#[tokio::test]
async fn status_document_describes_sources_and_jobs() {
    let server = start("").await;
    pass(&server, "tags", None);
    let (code, text) = server.get("/status").await;
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    let sources = doc["sources"].as_array().expect("sources");
    let tags = sources
        .iter()
        .find(|s| s["name"] == "tags")
        .expect("source tags");
    assert_eq!(tags["name"], "tags");
    assert_eq!(
        tags["url"], "gitlab.example.com:ops/deploy.git",
        "no user in the URL"
    );
    assert_eq!(tags["revision"], "tag v1");
    assert_eq!(tags["last_fetched_commit"], COMMIT);
    assert_eq!(tags["last_synced_commit"], COMMIT);
    assert_eq!(tags["last_pass_result"], "problems");
    assert!(tags["last_pass_at"].is_string());
    let jobs = tags["jobs"].as_array().expect("jobs");
    let fields = [
        "id",
        "namespace",
        "file",
        "state",
        "applied_commit",
        "version",
        "deployment_status",
        "deployment_id",
        "progress",
        "last_error",
        "last_error_full",
    ];
    for job in jobs {
        let keys: BTreeSet<&str> = job
            .as_object()
            .expect("job")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, fields.into_iter().collect());
    }
    assert_eq!(
        (&jobs[0]["id"], &jobs[0]["state"], &jobs[0]["version"]),
        (&"api".into(), &"synced".into(), &4.into())
    );
    assert_eq!(jobs[0]["applied_commit"], COMMIT);
    assert_eq!(jobs[1]["state"], "blocked");
    assert_eq!(jobs[0]["last_error_full"], serde_json::Value::Null);
    assert_eq!(
        jobs[1]["last_error"], BAD,
        "the error first, the warnings folded"
    );
    assert_eq!(
        jobs[1]["last_error_full"], BAD_FULL,
        "and every one in full"
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let server = start("").await;
    let m = &server.metrics;
    m.pass_finished("web", "converged", Duration::from_millis(250));
    m.fetch_finished("web", Duration::from_millis(40));
    m.jobs(&BTreeMap::from([
        (JobState::Synced, 2),
        (JobState::Blocked, 1),
    ]));
    m.job_drift("prod/api", true);
    m.deployment_finished("successful");
    m.nomad_request("plan", 200, Duration::from_millis(12));
    m.nomad_request("register", 0, Duration::from_secs(30));
    let resp = server
        .http
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.expect("body");
    let samples = common::serve::parse_prometheus(&text);
    for prefix in [
        "drover_source_last_sync_timestamp_seconds{source=\"web\"} ",
        "drover_source_sync_total{source=\"web\",result=\"converged\"} 1",
        "drover_jobs{state=\"blocked\"} 1",
        "drover_jobs{state=\"pending\"} 0",
        "drover_job_drift{job=\"prod/api\"} 1",
        "drover_deployments_total{status=\"successful\"} 1",
        "drover_git_fetch_duration_seconds_count{source=\"web\"} 1",
        "drover_nomad_request_duration_seconds_bucket{endpoint=\"plan\",code=\"200\",le=\"+Inf\"} 1",
        "drover_nomad_request_duration_seconds_count{endpoint=\"register\",code=\"0\"} 1",
        "drover_build_info{version=\"",
    ] {
        assert!(
            samples.iter().any(|s| s.starts_with(prefix)),
            "{prefix} in\n{text}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn nomad_requests_are_observed_per_call_and_status() {
    let sim = nomad_sim::Sim::builder().start().await.expect("simulator");
    let metrics = Arc::new(Metrics::new());
    let recorder = metrics.clone();
    let observer = Arc::new(move |call: &str, code: u16, took: Duration| {
        recorder.nomad_request(call, code, took);
    });
    let client = common::sim::client(&sim).with_observer(observer.clone());
    let fault = nomad_sim::Fault::new("/v1/status/leader").no_leader();
    sim.inject(fault.times(4));
    let err = client
        .status_leader()
        .await
        .expect_err("no leader four times");
    assert!(err.is_transient(), "{err}");
    client.status_leader().await.expect("leader");
    let in_ns = client.in_namespace("prod");
    in_ns
        .read_job("nope", &Query::now())
        .await
        .expect_err("no such job");
    let unreachable = Client::new(&common::sim::cluster("http://127.0.0.1:1")).expect("client");
    let unreachable = unreachable.with_observer(observer);
    unreachable
        .status_leader()
        .await
        .expect_err("nothing listens");

    let text = metrics.encode();
    let count = |endpoint: &str, code: &str| {
        let prefix = format!(
            "drover_nomad_request_duration_seconds_count{{endpoint=\"{endpoint}\",code=\"{code}\"}} "
        );
        let line = text.lines().find_map(|l| l.strip_prefix(&prefix));
        line.map(|n| n.parse::<u64>().expect("count"))
    };
    // Every attempt counts: the first and its three retries without a leader.
    assert_eq!(count("leader", "500"), Some(4), "{text}");
    assert_eq!(count("leader", "200"), Some(1), "{text}");
    assert_eq!(
        count("job", "404"),
        Some(1),
        "a handle in another namespace keeps it"
    );
    assert_eq!(count("leader", "0"), Some(4), "no response is code 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drover_status_prints_the_table() {
    let server = start("").await;
    pass(&server, "web", None);
    let run = |addr: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
                .args(["status", "--addr", &addr])
                .output()
                .expect("run drover status")
        })
    };
    let out = run(server.url.clone()).await.expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[2].starts_with("SOURCE "), "{stdout}");
    let web = lines
        .iter()
        .find(|l| l.starts_with("web "))
        .expect("web line");
    assert!(
        web.contains("github.com/Ops/Deploy.git") && web.contains("branch main"),
        "{web}"
    );
    assert!(
        web.contains("3f2a1b2c  3f2a1b2c") && web.contains("problems"),
        "{web}"
    );
    let api = lines
        .iter()
        .find(|l| l.starts_with("api "))
        .expect("api line");
    let cells: Vec<&str> = api.split_whitespace().collect();
    assert_eq!(
        cells,
        ["api", "prod", "synced", "4", "3f2a1b2c", "-", "-"],
        "{stdout}"
    );
    let bad = lines
        .iter()
        .find(|l| l.starts_with("bad.nomad.hcl"))
        .expect("bad line");
    assert!(
        bad.contains("blocked") && bad.ends_with("unexpected token…"),
        "the error leads the cell, the warnings are left to /status: {bad}"
    );
    server.stop().await;

    let out = run("http://127.0.0.1:1".to_owned()).await.expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot reach drover at http://127.0.0.1:1/status"),
        "{stderr}"
    );
}

/// The pages ask for their token when one is set, in the two forms a browser or a script sends;
/// health, status and metrics keep their own rules; every page carries its security headers.
#[tokio::test]
async fn the_pages_ask_for_their_token_and_forbid_other_origins() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ui-token"), "page-token\n").expect("token file");
    let config = common::serve::config(dir.path(), "ui_auth_token_file = \"ui-token\"");
    let server = start_with(dir, config).await;
    let page = |auth: Option<(&str, &str)>| {
        let mut request = server.http.get(format!("{}/", server.url));
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        request.send()
    };
    let refused = page(None).await.expect("answer");
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=\"drover\""),
        "a browser asks for the token"
    );
    assert_eq!(page(Some(("me", "wrong"))).await.unwrap().status(), 401);
    let shown = page(Some(("anyone", "page-token"))).await.expect("answer");
    assert_eq!(shown.status(), 200);
    let csp = shown.headers()["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(shown.headers()["x-content-type-options"], "nosniff");
    let bearer = server
        .http
        .get(format!("{}/ui/sources/web", server.url))
        .bearer_auth("page-token")
        .send()
        .await
        .expect("answer");
    assert_eq!(bearer.status(), 200, "a script sends it as a bearer token");
    for open in ["/healthz", "/status", "/metrics"] {
        assert_eq!(server.get(open).await.0, 200, "{open} keeps its own rules");
    }
    server.stop().await;
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let cert_file = dir.path().join("drover.pem");
    std::fs::write(&cert_file, cert.cert.pem()).expect("cert file");
    std::fs::write(
        dir.path().join("drover-key.pem"),
        cert.signing_key.serialize_pem(),
    )
    .expect("key file");
    let keys = "tls_cert_file = \"drover.pem\"\ntls_key_file = \"drover-key.pem\"";
    let config = common::serve::config(dir.path(), keys);
    let mut server = start_with(dir, config).await;
    assert!(server.url.starts_with("https://"));
    server.http = common::serve::http_client(Some(&cert_file));
    assert_eq!(server.get("/healthz").await, (200, "ok\n".to_owned()));
    let plain = server.url.replacen("https://", "http://", 1);
    let refused = server.http.get(format!("{plain}/healthz")).send().await;
    assert!(refused.is_err(), "plain HTTP is not served: {refused:?}");
    server.stop().await;
}

#[test]
fn server_keys_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parse = |server: &str, env: &Env| {
        let text = format!("[server]\n{server}\n{}", common::serve::SOURCES);
        Config::parse(&text, &dir.path().join("drover.toml"), env)
    };
    let env = Env::default().with("CREDENTIALS_DIRECTORY", "/run/credentials/drover.service");
    let config = parse("webhook_secret_credential = \"hook\"", &env).expect("credential");
    let secret = config.server.webhook_secret.expect("a secret");
    assert_eq!(secret.origin(), "/run/credentials/drover.service/hook");
    assert_eq!(config.server.max_webhook_body, 1024 * 1024);
    for (keys, key) in [
        (
            "webhook_secret_file = \"a\"\nwebhook_secret_credential = \"hook\"",
            "`server.webhook_secret_credential`",
        ),
        ("tls_cert_file = \"c.pem\"", "`server.tls_key_file`"),
        ("tls_key_file = \"k.pem\"", "`server.tls_cert_file`"),
        ("max_webhook_body = 0", "`server.max_webhook_body`"),
        ("request_timeout = \"0s\"", "`server.request_timeout`"),
    ] {
        let err = parse(keys, &env).expect_err(keys).to_string();
        assert!(err.contains(key), "{keys}: {err}");
    }
}
