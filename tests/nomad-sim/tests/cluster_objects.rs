//! Fidelity of the cluster objects drover applies before jobs: namespaces, node pools, ACL
//! policies and roles, and the variable calls beyond locks (check-and-set delete, size limit,
//! listing), through HTTP.

mod common;

use std::time::Duration;

use common::{Api, service_job, sim};
use serde_json::{Value, json};

const ROOT: &str = "root-token";

async fn acl_sim() -> (nomad_sim::Sim, Api) {
    let sim = nomad_sim::Sim::builder()
        .acl_bootstrap_token(ROOT)
        .time_scale(1000.0)
        .start()
        .await
        .expect("sim");
    let mut api = Api::new(sim.url());
    api.token = Some(ROOT.into());
    (sim, api)
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v["Name"].as_str().expect("Name"))
        .collect()
}

fn multi(errors: &[&str]) -> String {
    let head = match errors.len() {
        1 => "1 error occurred:".to_owned(),
        n => format!("{n} errors occurred:"),
    };
    let items: String = errors.iter().map(|e| format!("\n\t* {e}")).collect();
    format!("{head}{items}\n\n")
}

#[tokio::test]
async fn namespaces_are_created_read_updated_listed_and_deleted() {
    let (_sim, api) = sim().await;
    let list = api.get("/v1/namespaces").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()[0]["Description"], "Default shared namespace");
    assert_eq!(names(&list.json()), ["default"]);
    let r = api.get("/v1/namespace/prod").await;
    assert_eq!((r.status, r.body.as_str()), (404, "Namespace not found"));

    let body = json!({"Name": "prod", "Description": "production", "Meta": {"team": "web"},
        "Capabilities": {"EnabledTaskDrivers": ["docker"]}});
    let r = api.call("PUT", "/v1/namespace/prod", Some(body)).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let created = r.index();
    let ns = api.get("/v1/namespace/prod").await;
    assert_eq!(ns.index(), created);
    let ns = ns.json();
    assert_eq!(ns["Description"], "production");
    assert_eq!(ns["Meta"], json!({"team": "web"}));
    assert_eq!(ns["Capabilities"]["EnabledTaskDrivers"], json!(["docker"]));
    assert_eq!(ns["Capabilities"]["DisabledTaskDrivers"], Value::Null);
    assert_eq!(ns["NodePoolConfiguration"], Value::Null);
    assert_eq!(
        (ns["CreateIndex"].as_u64(), ns["ModifyIndex"].as_u64()),
        (Some(created), Some(created))
    );

    let r = api
        .post(
            "/v1/namespace/prod",
            json!({"Name": "prod", "Description": "prod v2"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let ns = api.get("/v1/namespace/prod").await.json();
    assert_eq!(ns["Description"], "prod v2");
    assert_eq!(
        ns["Meta"],
        Value::Null,
        "an update replaces the whole record"
    );
    assert_eq!(ns["CreateIndex"].as_u64(), Some(created));
    assert!(ns["ModifyIndex"].as_u64() > Some(created));
    assert_eq!(
        names(&api.get("/v1/namespaces").await.json()),
        ["default", "prod"]
    );
    assert_eq!(
        names(&api.get("/v1/namespaces?prefix=pr").await.json()),
        ["prod"]
    );

    let r = api.delete("/v1/namespace/prod").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get("/v1/namespace/prod").await.status, 404);
    let r = api.delete("/v1/namespace/prod").await;
    assert_eq!((r.status, r.body.as_str()), (500, "namespace not found"));
    let r = api
        .register(json!({"Namespace": "prod", "ID": "web"}))
        .await;
    assert_eq!(
        r.status, 500,
        "a deleted namespace takes no job: {}",
        r.body
    );
}

#[tokio::test]
async fn namespace_writes_are_validated_as_nomad_ce_does() {
    let (_sim, api) = sim().await;
    let r = api
        .post("/v1/namespace/prod", json!({"Name": "other"}))
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Namespace name does not match request path")
    );
    let r = api.post("/v1/namespace/a_b", json!({"Name": "a_b"})).await;
    let want = format!(
        "Invalid namespace \"a_b\": {}",
        multi(&["invalid name \"a_b\". Must match regex ^[a-zA-Z0-9-]{1,128}$"])
    );
    assert_eq!((r.status, r.body.as_str()), (500, want.as_str()));
    let body = json!({"Name": "prod", "NodePoolConfiguration": {"Default": "gpu"}});
    let r = api.post("/v1/namespace/prod", body).await;
    let want = format!(
        "Invalid namespace \"prod\": {}",
        multi(&["invalid node pool configuration: Node Pools Governance is unlicensed."])
    );
    assert_eq!((r.status, r.body.as_str()), (500, want.as_str()));
    let r = api
        .post(
            "/v1/namespace/prod",
            json!({"Name": "prod", "Quota": "small"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "namespace \"prod\" using non-existent quota \"small\"")
    );

    let enterprise = nomad_sim::Sim::builder()
        .enterprise()
        .start()
        .await
        .expect("sim");
    let api = Api::new(enterprise.url());
    let body =
        json!({"Name": "prod", "NodePoolConfiguration": {"Default": "gpu", "Allowed": ["gpu"]}});
    assert_eq!(api.post("/v1/namespace/prod", body).await.status, 200);
    let ns = api.get("/v1/namespace/prod").await.json();
    assert_eq!(
        ns["NodePoolConfiguration"],
        json!({"Default": "gpu", "Allowed": ["gpu"], "Denied": null})
    );
}

#[tokio::test]
async fn a_namespace_in_use_or_default_is_not_deleted() {
    let (_sim, api) = sim().await;
    let r = api.delete("/v1/namespace/default").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "can not delete default namespace")
    );

    api.post("/v1/namespace/prod", json!({"Name": "prod"}))
        .await;
    let r = api
        .post(
            "/v1/jobs?namespace=prod",
            json!({"Job": service_job("web", "nginx:1", 1)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    api.wait_for("/v1/job/web?namespace=prod", |j| j["Status"] == "running")
        .await;
    let r = api.delete("/v1/namespace/prod").await;
    let want = multi(&[
        "namespace \"prod\" has non-terminal jobs in regions: [global]",
        "namespace \"prod\" has non-terminal allocations in regions: [global]",
    ]);
    assert_eq!((r.status, r.body.as_str()), (500, want.as_str()));

    assert_eq!(api.delete("/v1/job/web?namespace=prod").await.status, 200);
    let r = api
        .call(
            "PUT",
            "/v1/var/app/config?namespace=prod",
            Some(json!({"Items": {"a": "b"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = api.delete("/v1/namespace/prod").await;
    let want = multi(&["namespace \"prod\" has variables associated with it in regions: [global]"]);
    assert_eq!((r.status, r.body.as_str()), (500, want.as_str()));

    assert_eq!(
        api.delete("/v1/var/app/config?namespace=prod").await.status,
        204
    );
    let r = api.delete("/v1/namespace/prod").await;
    assert_eq!(
        r.status, 200,
        "a stopped job does not keep its namespace: {}",
        r.body
    );
}

#[tokio::test]
async fn namespace_list_blocks_until_a_namespace_changes() {
    let (_sim, api) = sim().await;
    let index = api.get("/v1/namespaces").await.index();
    let path = format!("/v1/namespaces?index={index}&wait=10s");
    let (list, _) = tokio::join!(api.get(&path), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        api.post("/v1/namespace/prod", json!({"Name": "prod"}))
            .await
    });
    assert!(list.index() > index);
    assert_eq!(names(&list.json()), ["default", "prod"]);
}

#[tokio::test]
async fn namespace_writes_need_management_and_reads_a_capability_in_it() {
    let (sim, mut api) = acl_sim().await;
    assert_eq!(
        api.post("/v1/namespace/prod", json!({"Name": "prod"}))
            .await
            .status,
        200
    );
    api.token = Some(sim.acl_token(&["namespace:prod:read-job"]));
    let r = api
        .post("/v1/namespace/prod", json!({"Name": "prod"}))
        .await;
    assert_eq!((r.status, r.body.as_str()), (403, "Permission denied"));
    assert_eq!(api.delete("/v1/namespace/prod").await.status, 403);
    assert_eq!(names(&api.get("/v1/namespaces").await.json()), ["prod"]);
    assert_eq!(api.get("/v1/namespace/prod").await.status, 200);
    assert_eq!(api.get("/v1/namespace/default").await.status, 403);
    api.token = None;
    assert_eq!(
        names(&api.get("/v1/namespaces").await.json()),
        Vec::<&str>::new()
    );
}

#[tokio::test]
async fn node_pools_are_created_read_updated_listed_and_deleted() {
    let (_sim, api) = sim().await;
    let list = api.get("/v1/node/pools").await.json();
    assert_eq!(names(&list), ["all", "default"]);
    assert_eq!(
        list[0]["Description"],
        "Node pool with all nodes in the cluster."
    );
    assert_eq!(list[1]["Description"], "Default node pool.");

    let body = json!({"Name": "gpu", "Description": "GPUs", "Meta": {"vendor": "nv"}});
    let r = api.call("PUT", "/v1/node/pools", Some(body)).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let created = r.index();
    let pool = api.get("/v1/node/pool/gpu").await;
    assert_eq!(pool.index(), created);
    let pool = pool.json();
    assert_eq!(
        (
            pool["Description"].as_str(),
            pool["Meta"]["vendor"].as_str()
        ),
        (Some("GPUs"), Some("nv"))
    );
    assert_eq!(pool["SchedulerConfiguration"], Value::Null);

    let r = api
        .post(
            "/v1/node/pool/gpu",
            json!({"Name": "gpu", "Description": "v2"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let pool = api.get("/v1/node/pool/gpu").await.json();
    assert_eq!(pool["Description"], "v2");
    assert_eq!(pool["CreateIndex"].as_u64(), Some(created));
    assert!(pool["ModifyIndex"].as_u64() > Some(created));
    assert_eq!(
        names(&api.get("/v1/node/pools").await.json()),
        ["all", "default", "gpu"]
    );

    assert_eq!(api.delete("/v1/node/pool/gpu").await.status, 200);
    let r = api.get("/v1/node/pool/gpu").await;
    assert_eq!((r.status, r.body.as_str()), (404, "node pool not found"));
    let r = api.delete("/v1/node/pool/gpu").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "node pool gpu not found")
    );
}

#[tokio::test]
async fn node_pool_refusals_keep_nomads_texts() {
    let (sim, api) = sim().await;
    let r = api.post("/v1/node/pool/gpu", json!({"Name": "cpu"})).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Node pool name does not match request path")
    );
    let r = api
        .post("/v1/node/pools", json!({"Name": "bad name"}))
        .await;
    let want = format!(
        "invalid node pool \"bad name\": {}",
        multi(&["invalid name \"bad name\", must match regex ^[a-zA-Z0-9-_]{1,128}$"])
    );
    assert_eq!((r.status, r.body.as_str()), (400, want.as_str()));
    for name in ["all", "default"] {
        let r = api
            .post("/v1/node/pools", json!({"Name": name, "Description": "x"}))
            .await;
        let want = format!("modifying node pool \"{name}\" is not allowed");
        assert_eq!((r.status, r.body.as_str()), (400, want.as_str()));
        let r = api.delete(&format!("/v1/node/pool/{name}")).await;
        let want = format!("deleting node pool \"{name}\" is not allowed");
        assert_eq!((r.status, r.body.as_str()), (500, want.as_str()));
    }
    let body = json!({"Name": "gpu", "SchedulerConfiguration": {"SchedulerAlgorithm": "spread"}});
    let r = api.post("/v1/node/pools", body).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "Feature \"Node Pools Governance\" is unlicensed")
    );

    // A node registered into a missing pool creates it, and keeps it from deletion.
    let node = api
        .post("/sim/nodes", json!({"node_pool": "gpu"}))
        .await
        .json();
    assert_eq!(api.get("/v1/node/pool/gpu").await.status, 200);
    let r = api.delete("/v1/node/pool/gpu").await;
    let want = multi(&["node pool \"gpu\" has nodes in regions: [global]"]);
    assert_eq!((r.status, r.body.as_str()), (500, want.as_str()));
    let mut job = service_job("web", "nginx:1", 1);
    job["NodePool"] = json!("gpu");
    assert_eq!(api.register(job).await.status, 200);
    let r = api.delete("/v1/node/pool/gpu").await;
    let want = multi(&[
        "node pool \"gpu\" has non-terminal jobs in regions: [global]",
        "node pool \"gpu\" has nodes in regions: [global]",
    ]);
    assert_eq!((r.status, r.body.as_str()), (500, want.as_str()));

    assert_eq!(api.delete("/v1/job/web").await.status, 200);
    let id = node["ID"].as_str().expect("node ID");
    assert_eq!(api.delete(&format!("/sim/nodes/{id}")).await.status, 204);
    assert_eq!(api.delete("/v1/node/pool/gpu").await.status, 200);
    sim.add_node("batch");
    assert_eq!(api.delete("/v1/node/pool/batch").await.status, 500);
}

#[tokio::test]
async fn node_pool_operations_need_their_capability() {
    let (sim, mut api) = acl_sim().await;
    assert_eq!(
        api.post("/v1/node/pools", json!({"Name": "gpu"}))
            .await
            .status,
        200
    );
    api.token = Some(sim.acl_token(&["node_pool:gpu:read"]));
    assert_eq!(names(&api.get("/v1/node/pools").await.json()), ["gpu"]);
    assert_eq!(api.get("/v1/node/pool/gpu").await.status, 200);
    assert_eq!(api.get("/v1/node/pool/default").await.status, 403);
    let r = api.post("/v1/node/pools", json!({"Name": "gpu"})).await;
    assert_eq!((r.status, r.body.as_str()), (403, "Permission denied"));
    assert_eq!(api.delete("/v1/node/pool/gpu").await.status, 403);
    api.token = Some(sim.acl_token(&["node_pool:gpu:write,delete"]));
    assert_eq!(
        api.post("/v1/node/pools", json!({"Name": "gpu"}))
            .await
            .status,
        200
    );
    assert_eq!(api.delete("/v1/node/pool/gpu").await.status, 200);
}

#[tokio::test]
async fn acl_endpoints_answer_acl_support_disabled_without_acls() {
    let (_sim, api) = sim().await;
    let policy = json!({"Name": "ro", "Rules": "namespace \"default\" { policy = \"read\" }"});
    let calls = [
        ("GET", "/v1/acl/policies", None),
        ("GET", "/v1/acl/policy/ro", None),
        ("PUT", "/v1/acl/policy/ro", Some(policy)),
        ("DELETE", "/v1/acl/policy/ro", None),
        ("GET", "/v1/acl/roles", None),
        (
            "POST",
            "/v1/acl/role",
            Some(json!({"Name": "ops", "Policies": [{"Name": "ro"}]})),
        ),
        ("GET", "/v1/acl/role/some-id", None),
        ("GET", "/v1/acl/role/name/ops", None),
        ("DELETE", "/v1/acl/role/some-id", None),
    ];
    for (method, path, body) in calls {
        let r = api.call(method, path, body).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (400, "ACL support disabled"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn acl_policies_are_written_by_management_only() {
    let (sim, mut api) = acl_sim().await;
    let rules = "namespace \"default\" {\n  policy = \"read\"\n}\n";
    let body = json!({"Name": "readonly", "Description": "read", "Rules": rules,
        "JobACL": {"Namespace": "default", "JobID": "web"}});
    let r = api.call("PUT", "/v1/acl/policy/readonly", Some(body)).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let created = r.index();
    let policy = api.get("/v1/acl/policy/readonly").await.json();
    assert_eq!(policy["Rules"], rules);
    assert_eq!(
        policy["JobACL"],
        json!({"Namespace": "default", "JobID": "web", "Group": "", "Task": ""})
    );
    assert_eq!(policy["CreateIndex"].as_u64(), Some(created));
    let list = api.get("/v1/acl/policies").await.json();
    assert_eq!(names(&list), ["readonly"]);
    assert!(list[0].get("Rules").is_none(), "list stubs carry no rules");

    let update = json!({"Name": "readonly", "Description": "v2", "Rules": rules});
    assert_eq!(
        api.post("/v1/acl/policy/readonly", update).await.status,
        200
    );
    let policy = api.get("/v1/acl/policy/readonly").await.json();
    assert_eq!(
        (policy["Description"].as_str(), &policy["JobACL"]),
        (Some("v2"), &Value::Null)
    );
    assert!(policy["ModifyIndex"].as_u64() > Some(created));

    let r = api
        .post("/v1/acl/policy/readonly", json!({"Name": "other"}))
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "ACL policy name does not match request path")
    );
    let r = api
        .post(
            "/v1/acl/policy/bad",
            json!({"Name": "bad", "Rules": "namespace \"x\" {"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.starts_with("policy 0 invalid: 1 error occurred:\n\t* failed to parse rules: Failed to parse ACL Policy: "),
        "{}",
        r.body
    );
    let r = api
        .post(
            "/v1/acl/policy/bad",
            json!({"Name": "bad", "Rules": "# nothing"}),
        )
        .await;
    let want = format!(
        "policy 0 invalid: {}",
        multi(&["failed to parse rules: Invalid policy: # nothing"])
    );
    assert_eq!((r.status, r.body.as_str()), (400, want.as_str()));
    let body = json!({"Name": "bad name", "JobACL": {"JobID": "web", "Task": "t"}});
    let r = api.post("/v1/acl/policy/bad%20name", body).await;
    let want = format!(
        "policy 0 invalid: {}",
        multi(&[
            "invalid name 'bad name'",
            "namespace must be set to set job ID",
            "group must be set to set task"
        ])
    );
    assert_eq!((r.status, r.body.as_str()), (400, want.as_str()));

    api.token = Some(sim.acl_token(&["namespace:*:submit-job"]));
    let r = api
        .post("/v1/acl/policy/readonly", json!({"Name": "readonly"}))
        .await;
    assert_eq!((r.status, r.body.as_str()), (403, "Permission denied"));
    assert_eq!(api.delete("/v1/acl/policy/readonly").await.status, 403);
    assert_eq!(api.get("/v1/acl/policy/readonly").await.status, 403);
    assert_eq!(api.get("/v1/acl/policies").await.json(), json!([]));

    api.token = None;
    let r = api.get("/v1/acl/policy/anonymous").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, "ACL policy not found"),
        "anyone may read the anonymous policy"
    );
    api.token = Some(ROOT.into());
    let anonymous = json!({"Name": "anonymous", "Rules": rules});
    assert_eq!(
        api.post("/v1/acl/policy/anonymous", anonymous).await.status,
        200
    );
    api.token = None;
    assert_eq!(
        names(&api.get("/v1/acl/policies").await.json()),
        ["anonymous"]
    );

    api.token = Some(ROOT.into());
    assert_eq!(api.delete("/v1/acl/policy/readonly").await.status, 200);
    assert_eq!(api.get("/v1/acl/policy/readonly").await.status, 404);
    assert_eq!(
        api.delete("/v1/acl/policy/readonly").await.status,
        200,
        "deleting nothing is no error"
    );
}

#[tokio::test]
async fn acl_roles_get_an_id_unique_names_and_existing_policies() {
    let (sim, mut api) = acl_sim().await;
    let rules = "namespace \"default\" { policy = \"read\" }";
    api.post(
        "/v1/acl/policy/readonly",
        json!({"Name": "readonly", "Rules": rules}),
    )
    .await;
    let body = json!({"Name": "ops", "Description": "operators",
        "Policies": [{"Name": "readonly"}, {"Name": "readonly"}]});
    let r = api.post("/v1/acl/role", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let role = r.json();
    let id = role["ID"].as_str().expect("an ID").to_owned();
    assert_eq!(id.len(), 36);
    assert_eq!(
        role["Policies"],
        json!([{"Name": "readonly"}]),
        "links are deduplicated"
    );
    assert_eq!(role["CreateIndex"].as_u64(), Some(r.index()));
    assert_eq!(api.get(&format!("/v1/acl/role/{id}")).await.json(), role);
    assert_eq!(api.get("/v1/acl/role/name/ops").await.json(), role);
    assert_eq!(api.get("/v1/acl/roles").await.json(), json!([role]));

    let update =
        json!({"ID": id, "Name": "ops", "Description": "v2", "Policies": [{"Name": "readonly"}]});
    let r = api
        .post(&format!("/v1/acl/role/{id}"), update.clone())
        .await;
    assert_eq!(r.status, 200);
    let updated = r.json();
    assert_eq!(
        (updated["Description"].as_str(), &updated["CreateIndex"]),
        (Some("v2"), &role["CreateIndex"])
    );
    assert!(updated["ModifyIndex"].as_u64() > role["ModifyIndex"].as_u64());
    let r = api.post(&format!("/v1/acl/role/{id}"), update).await;
    assert_eq!(
        r.json()["ModifyIndex"],
        updated["ModifyIndex"],
        "an identical update changes nothing"
    );

    let refusals = [
        (
            "/v1/acl/role/other-id".to_owned(),
            json!({"ID": id, "Name": "ops", "Policies": [{"Name": "readonly"}]}),
            400,
            "ACL role ID does not match request path".to_owned(),
        ),
        (
            "/v1/acl/role".to_owned(),
            json!({"Name": "ops", "Policies": [{"Name": "readonly"}]}),
            400,
            "role with name ops already exists".to_owned(),
        ),
        (
            "/v1/acl/role".to_owned(),
            json!({"Name": "dev", "Policies": [{"Name": "nope"}]}),
            400,
            "cannot find policy nope".to_owned(),
        ),
        (
            "/v1/acl/role".to_owned(),
            json!({"Name": "dev"}),
            400,
            format!(
                "role 0 invalid: {}",
                multi(&["at least one policy should be specified"])
            ),
        ),
        (
            "/v1/acl/role/missing".to_owned(),
            json!({"ID": "missing", "Name": "dev", "Policies": [{"Name": "readonly"}]}),
            400,
            "cannot find role missing".to_owned(),
        ),
    ];
    for (path, body, status, text) in refusals {
        let r = api.post(&path, body).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (status, text.as_str()),
            "{path}"
        );
    }
    let dev = api
        .post(
            "/v1/acl/role",
            json!({"Name": "dev", "Policies": [{"Name": "readonly"}]}),
        )
        .await
        .json();
    let dev_id = dev["ID"].as_str().expect("ID");
    let rename = json!({"ID": dev_id, "Name": "ops", "Policies": [{"Name": "readonly"}]});
    let r = api.post(&format!("/v1/acl/role/{dev_id}"), rename).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "ACL role with name ops already exists")
    );

    api.token = Some(sim.acl_token(&["namespace:*:submit-job"]));
    let r = api
        .post(
            "/v1/acl/role",
            json!({"Name": "x", "Policies": [{"Name": "readonly"}]}),
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (403, "Permission denied"));
    assert_eq!(api.get(&format!("/v1/acl/role/{id}")).await.status, 403);
    assert_eq!(api.get("/v1/acl/role/name/ops").await.status, 403);
    assert_eq!(api.get("/v1/acl/roles").await.json(), json!([]));
    assert_eq!(api.delete(&format!("/v1/acl/role/{id}")).await.status, 403);

    api.token = Some(ROOT.into());
    assert_eq!(api.delete(&format!("/v1/acl/role/{id}")).await.status, 200);
    let r = api.get(&format!("/v1/acl/role/{id}")).await;
    assert_eq!((r.status, r.body.as_str()), (404, "ACL role not found"));
    assert_eq!(api.get("/v1/acl/role/name/ops").await.status, 404);
    let r = api.delete(&format!("/v1/acl/role/{id}")).await;
    assert_eq!((r.status, r.body.as_str()), (500, "ACL role not found"));
}

#[tokio::test]
async fn variable_delete_checks_and_sets() {
    let (_sim, api) = sim().await;
    let r = api
        .call(
            "PUT",
            "/v1/var/app/db",
            Some(json!({"Items": {"user": "a"}})),
        )
        .await;
    let index = r.json()["ModifyIndex"].as_u64().expect("index");

    for cas in [index + 1, 0] {
        let r = api.delete(&format!("/v1/var/app/db?cas={cas}")).await;
        assert_eq!(r.status, 409, "cas={cas}");
        assert_eq!(r.index(), index);
        let current = r.json();
        assert_eq!(
            (current["ModifyIndex"].as_u64(), &current["Items"]),
            (Some(index), &json!({"user": "a"}))
        );
    }
    let r = api.delete("/v1/var/app/db?cas=x").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            "can not parse cas: strconv.ParseUint: parsing \"x\": invalid syntax"
        )
    );
    let r = api.delete(&format!("/v1/var/app/db?cas={index}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(api.get("/v1/var/app/db").await.status, 404);

    let r = api.delete(&format!("/v1/var/app/db?cas={index}")).await;
    assert_eq!(r.status, 409, "the variable the caller expected is gone");
    assert_eq!(
        r.json(),
        json!({"Namespace": "default", "Path": "app/db", "CreateIndex": 0, "CreateTime": 0, "ModifyIndex": 0, "ModifyTime": 0})
    );
    assert_eq!(
        api.delete("/v1/var/app/db?cas=0").await.status,
        204,
        "delete-if-absent"
    );
}

#[tokio::test]
async fn variables_are_limited_to_64_kib_of_keys_and_values() {
    let (_sim, api) = sim().await;
    let fits = json!({"Items": {"k": "x".repeat(65535)}});
    assert_eq!(api.call("PUT", "/v1/var/big", Some(fits)).await.status, 200);
    let over = json!({"Items": {"kk": "x".repeat(65535)}});
    let r = api.call("PUT", "/v1/var/big", Some(over.clone())).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "variables are limited to 64KiB in total size")
    );
    let mut lock = over;
    lock["Lock"] = json!({"TTL": "15s"});
    let r = api
        .call("PUT", "/v1/var/locked?lock-acquire", Some(lock))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn variables_are_listed_by_prefix_and_namespace() {
    let (sim, api) = sim().await;
    sim.create_namespace("prod");
    for path in [
        "/v1/var/app/a",
        "/v1/var/app/b",
        "/v1/var/other",
        "/v1/var/app/c?namespace=prod",
    ] {
        let r = api
            .call("PUT", path, Some(json!({"Items": {"k": "v"}})))
            .await;
        assert_eq!(r.status, 200, "{path}");
    }
    let list = api.get("/v1/vars?prefix=app/").await.json();
    let paths: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["app/a", "app/b"]);
    assert!(list[0].get("Items").is_none(), "metadata only");
    let all = api.get("/v1/vars?prefix=app/&namespace=*").await.json();
    let keys: Vec<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["Namespace"].as_str().unwrap().to_owned(),
                v["Path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.contains(&("prod".into(), "app/c".into())));
}
