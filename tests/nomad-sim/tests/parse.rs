//! `/v1/jobs/parse` over HTTP: real job files become jobs Nomad accepts; bad ones get Nomad's 400.

mod common;

use common::sim;
use serde_json::json;

fn example(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn example_jobs_parse_register_and_deploy() {
    let (_sim, api) = sim().await;
    for (file, id) in [
        ("web.nomad.hcl", "web"),
        ("api.nomad.hcl", "api"),
        ("cleanup.nomad.hcl", "cleanup"),
    ] {
        let r = api
            .post(
                "/v1/jobs/parse",
                json!({"JobHCL": example(file), "Canonicalize": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{file}: {}", r.body);
        assert!(
            r.header("X-Nomad-Index").is_none(),
            "parse carries no index"
        );
        let job = r.json();
        assert_eq!(job["ID"], id);
        assert_eq!(job["Namespace"], "default", "canonicalised");
        let reg = api.register(job).await;
        assert_eq!(reg.status, 200, "{file}: {}", reg.body);
    }
    let web = api.wait_job("web", |j| j["Stable"] == true).await;
    assert_eq!(web["TaskGroups"][0]["Count"], 2);
    assert_eq!(
        web["TaskGroups"][0]["Update"]["AutoRevert"], true,
        "job-level update merged into the group"
    );
    assert_eq!(
        web["Update"]["AutoRevert"], false,
        "job-level update keeps only Stagger and MaxParallel"
    );
    let api_job = api.wait_job("api", |j| j["Stable"] == true).await;
    let task = &api_job["TaskGroups"][0]["Tasks"][0];
    assert_eq!(
        task["Config"]["image"], "ghcr.io/example/api:1.4.2",
        "var and local evaluated"
    );
    assert_eq!(
        task["Env"]["LISTEN_ADDR"], "0.0.0.0:${NOMAD_PORT_http}",
        "runtime interpolation kept"
    );
    assert_eq!(
        task["Templates"][0]["EmbeddedTmpl"],
        "DATACENTER={{ env \"node.datacenter\" }}\nLOG_LEVEL=info\n"
    );
    assert_eq!(
        api.get("/v1/job/cleanup/deployment").await.body,
        "null",
        "periodic: no deployment"
    );
}

#[tokio::test]
async fn variables_override_defaults_non_strictly() {
    let (_sim, api) = sim().await;
    let vars = "image_tag = \"2.0.0\"\nunused = \"ignored\"\n";
    let r = api
        .post(
            "/v1/jobs/parse",
            json!({"JobHCL": example("api.nomad.hcl"), "Variables": vars}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "ghcr.io/example/api:2.0.0"
    );
}

#[tokio::test]
async fn bad_job_files_get_nomads_400_texts() {
    let (_sim, api) = sim().await;
    let r = api.post("/v1/jobs/parse", json!({"JobHCL": ""})).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Job spec is empty"));
    let hcl = "job \"web\" {\n  group \"g\" {\n    foo = 1\n  }\n}\n";
    let r = api.post("/v1/jobs/parse", json!({"JobHCL": hcl})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "Failed to parse job: input.hcl:3,5-8: Unsupported argument; An argument named \"foo\" is not expected here."
    );
    let r = api
        .post(
            "/v1/jobs/parse",
            json!({"JobHCL": "job \"web\" {\n  bogus \"x\" {}\n}\n"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .starts_with("Failed to parse job: input.hcl:2,3-8: Unsupported block type;"),
        "{}",
        r.body
    );
}
