use std::collections::BTreeSet;

use serde_json::json;

use super::*;

fn strict() -> Policy {
    Policy {
        forbidden_drivers: vec!["raw_exec".into()],
        allowed_registries: vec!["ghcr.io/acme".into(), "docker.io/library".into()],
        required_meta: vec!["owner".into()],
        allowed_namespaces: vec!["prod".into()],
        max_count: Some(5),
        required_resources: vec!["cpu".into(), "memory".into()],
    }
}

fn job() -> serde_json::Value {
    json!({
        "ID": "web", "Namespace": "prod", "Meta": {"owner": "ops"},
        "TaskGroups": [{
            "Name": "g", "Count": 2,
            "Tasks": [
                {"Name": "app", "Driver": "docker", "Config": {"image": "ghcr.io/acme/app:1"}},
                {"Name": "side", "Driver": "docker", "Config": {"image": "nginx:1.27"}}
            ]
        }]
    })
}

#[test]
fn a_compliant_job_passes() {
    let mut view = JobView::from_api(&job());
    assert!(check(&strict(), &view).is_empty());
    // Unknown resources are not held against the job; declared ones are checked.
    let mut file = view.clone();
    file.groups[0].tasks[0].resources = Some(BTreeSet::from(["cpu".into()]));
    view.declared_resources_from(&file);
    let v = check(&strict(), &view);
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].to_string(),
        "policy required_resources: job \"web\", group \"g\", task \"app\": the task must set resources memory (Nomad's defaults do not count)"
    );
}

#[test]
fn each_rule_names_rule_job_group_and_task() {
    let mut j = job();
    j["Namespace"] = json!("dev");
    j["Meta"] = json!(null);
    j["TaskGroups"][0]["Count"] = json!(9);
    j["TaskGroups"][0]["Tasks"][0]["Driver"] = json!("raw_exec");
    j["TaskGroups"][0]["Tasks"][1]["Config"]["image"] = json!("quay.io/x/y");
    let rules: Vec<&str> = check(&strict(), &JobView::from_api(&j))
        .iter()
        .map(|v| v.rule)
        .collect();
    assert_eq!(
        rules,
        [
            "allowed_namespaces",
            "required_meta",
            "max_count",
            "forbidden_drivers",
            "allowed_registries"
        ]
    );
}

#[test]
fn images_are_normalized_like_docker() {
    assert_eq!(
        normalized_image("nginx").as_deref(),
        Some("docker.io/library/nginx")
    );
    assert_eq!(
        normalized_image("grafana/grafana:11").as_deref(),
        Some("docker.io/grafana/grafana:11")
    );
    assert_eq!(
        normalized_image("localhost:5000/a").as_deref(),
        Some("localhost:5000/a")
    );
    assert_eq!(normalized_image("${var.registry}/a"), None);
    assert!(allowed("ghcr.io/acme/app:1", "ghcr.io/acme"));
    assert!(!allowed("ghcr.io/acmevil/app", "ghcr.io/acme"));
    assert!(allowed("ghcr.io/x", "ghcr.io/"));
}

#[test]
fn empty_policy_allows_everything() {
    let mut j = job();
    j["TaskGroups"][0]["Tasks"][0]["Driver"] = json!("raw_exec");
    assert!(check(&Policy::default(), &JobView::from_api(&j)).is_empty());
}
