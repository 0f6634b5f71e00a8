//! Cluster objects besides jobs — namespaces, node pools, ACL policies and roles, variables —
//! from real Git into the simulator, as a pass applies them: created, left alone, updated,
//! drift reported and put back, objects made by hand left alone, pruning opt-in, variables
//! written with check-and-set, the order of the kinds and the jobs, and job waves.

mod git;

use std::collections::BTreeMap;
use std::time::Duration;

use drover::events::EventKind;
use drover::nomad::{Client, Query};
use drover::sync::{Options, PassReport, Status};
use git::world::World;
use nomad_sim::Fault;
use serde_json::{Value, json};

/// Every kind, each from its own directory.
const KINDS: &str = "namespaces = [\"cluster/ns/*.hcl\"]\n\
    node_pools = [\"cluster/pools/*.hcl\"]\n\
    acl_policies = [\"cluster/acl/*.policy.hcl\"]\n\
    acl_roles = [\"cluster/acl/*.role.hcl\"]\n\
    nomad_variables = [\"cluster/vars/*.hcl\"]\n";

fn job_file(id: &str, namespace: &str, meta: &str) -> String {
    format!(
        r#"job "{id}" {{
  namespace   = "{namespace}"
  datacenters = ["dc1"]
  meta = {{ {meta} }}
  group "app" {{
    update {{
      min_healthy_time = "1s"
    }}
    task "app" {{
      driver = "docker"
      config {{
        image = "nginx:1"
      }}
    }}
  }}
}}
"#
    )
}

/// One object of each kind, every description (and the variable's item) set to `v`.
fn write_objects(w: &World, v: &str) {
    w.repo
        .write(
            "cluster/ns/team.hcl",
            &format!("name = \"team\"\ndescription = \"{v}\"\nmeta {{\n  owner = \"a\"\n}}\n"),
        )
        .write(
            "cluster/pools/gpu.hcl",
            &format!("node_pool \"gpu\" {{\n  description = \"{v}\"\n}}\n"),
        )
        .write(
            "cluster/acl/ops.policy.hcl",
            &format!(
                "name = \"ops\"\ndescription = \"{v}\"\nrules = <<EOT\nnamespace \"team\" {{\n  policy = \"read\"\n}}\nEOT\n"
            ),
        )
        .write(
            "cluster/acl/ops.role.hcl",
            &format!("name = \"ops\"\ndescription = \"{v}\"\npolicies = [\"ops\"]\n"),
        )
        .write(
            "cluster/vars/web.hcl",
            &format!(
                "path = \"nomad/jobs/web\"\nnamespace = \"team\"\nitems {{\n  greeting = \"{v}\"\n}}\n"
            ),
        );
}

const OBJECTS: [&str; 5] = [
    "namespace team",
    "node pool gpu",
    "ACL policy ops",
    "ACL role ops",
    "variable team/nomad/jobs/web",
];

fn object_status(report: &PassReport, object: &str) -> (Status, String) {
    let found = report.objects.iter().find(|o| o.object == object);
    let found = found.unwrap_or_else(|| panic!("no report for {object}: {report:#?}"));
    (found.status, found.detail.clone())
}

fn client(w: &World) -> Client {
    Client::new(&w.config().sources[0].cluster).expect("client")
}

/// What Nomad holds of each object, by the report's name for it.
async fn live(w: &World) -> BTreeMap<&'static str, Option<Value>> {
    let c = client(w);
    let var = match c
        .in_namespace("team")
        .variable("nomad/jobs/web", &Query::now())
        .await
    {
        Ok(v) => Some(json!(v.value.items)),
        Err(_) => None,
    };
    BTreeMap::from([
        (
            OBJECTS[0],
            c.read_namespace("team").await.expect("namespace"),
        ),
        (OBJECTS[1], c.node_pool("gpu").await.expect("pool")),
        (OBJECTS[2], c.acl_policy("ops").await.expect("policy")),
        (OBJECTS[3], c.acl_role_by_name("ops").await.expect("role")),
        (OBJECTS[4], var),
    ])
}

/// A person writes the web variable's greeting, with check-and-set as the CLI does.
async fn greet_by_hand(w: &World) {
    let var = client(w).in_namespace("team");
    let read = var.variable("nomad/jobs/web", &Query::now()).await;
    let index = read.expect("variable").value.modify_index;
    let items = BTreeMap::from([("greeting".to_owned(), "by hand".to_owned())]);
    var.put_variable("nomad/jobs/web", &items, index)
        .await
        .expect("the person's write");
}

fn description(object: &Option<Value>) -> &str {
    object
        .as_ref()
        .and_then(|o| o["Description"].as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_kind_is_created_then_costs_nothing_then_is_updated_in_the_fields_that_changed() {
    let w = World::with_acls(KINDS).await;
    write_objects(&w, "v1");
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "team", ""));
    w.repo.commit("a namespace, its job, and the rest");
    let first = w.pass(Options::default()).await;
    assert!(first.converged(), "{first:#?}");
    for object in OBJECTS {
        assert_eq!(object_status(&first, object).0, Status::Synced, "{object}");
    }
    // The namespace came first: its job registered in the same pass.
    assert!(w.sim.job("team", "web").is_some(), "{first:#?}");
    let now = live(&w).await;
    for object in &OBJECTS[..4] {
        assert_eq!(
            description(&now[object]),
            "v1",
            "{object}: {:?}",
            now[object]
        );
    }
    assert_eq!(now[OBJECTS[4]], Some(json!({"greeting": "v1"})));
    let ns = now[OBJECTS[0]].clone().expect("namespace");
    assert_eq!(ns["Meta"]["drover.source"], "apps", "{ns}");
    assert_eq!(ns["Meta"]["owner"], "a", "{ns}");
    let role = now[OBJECTS[3]].clone().expect("role");
    assert_eq!(role["Policies"], json!([{"Name": "ops"}]), "{role}");
    // What the source owns without meta is in Nomad, for another instance to find.
    let c = client(&w);
    let (owned, _) = c
        .variable_item::<BTreeMap<String, String>>("drover/owned/apps", "objects")
        .await
        .expect("registry");
    let keys: Vec<&str> = owned.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "acl_policy/ops",
            "acl_role/ops",
            "variable/team/nomad/jobs/web"
        ]
    );

    w.calls();
    let again = w.pass(Options::default()).await;
    assert!(again.converged(), "{again:#?}");
    assert_eq!(
        w.calls(),
        Vec::<String>::new(),
        "a pass over unchanged files asks nothing"
    );
    for object in OBJECTS {
        assert_eq!(
            object_status(&again, object).0,
            Status::Unchanged,
            "{object}"
        );
    }

    write_objects(&w, "v2");
    w.repo.commit("v2 everywhere");
    let changed = w.pass(Options::default()).await;
    assert!(changed.converged(), "{changed:#?}");
    for object in OBJECTS {
        let (status, detail) = object_status(&changed, object);
        assert_eq!(status, Status::Synced, "{object}");
        let field = if object.starts_with("variable") {
            "Items.greeting"
        } else {
            "Description"
        };
        assert_eq!(detail, format!("updated: {field}"), "{object}");
    }
    let calls = w.calls();
    assert!(
        !calls.iter().any(|c| c.contains("/v1/job/web")),
        "the job's inputs did not change: {calls:#?}"
    );
    let now = live(&w).await;
    assert_eq!(description(&now[OBJECTS[1]]), "v2");
    assert_eq!(now[OBJECTS[4]], Some(json!({"greeting": "v2"})));
    // The role kept its ID: updated, never made twice.
    assert_eq!(now[OBJECTS[3]].as_ref().expect("role")["ID"], role["ID"]);
    let roles = c.acl_roles().await.expect("roles");
    assert_eq!(roles.len(), 1, "{roles:?}");
}

#[tokio::test]
async fn a_change_by_hand_is_reported_and_put_back_with_self_heal() {
    let mut w = World::with_acls(KINDS).await;
    write_objects(&w, "v1");
    w.repo.commit("objects");
    assert!(w.pass(Options::default()).await.converged());
    let c = client(&w);
    let mut ns = c
        .read_namespace("team")
        .await
        .expect("read")
        .expect("namespace");
    ns["Description"] = json!("by hand");
    c.put_namespace("team", &ns).await.expect("edit namespace");
    let mut policy = c.acl_policy("ops").await.expect("read").expect("policy");
    policy["Description"] = json!("by hand");
    c.put_acl_policy("ops", &policy).await.expect("edit policy");
    greet_by_hand(&w).await;

    // Between drift checks nothing is read: the files did not change.
    let quiet = w.pass(Options::default()).await;
    assert_eq!(object_status(&quiet, OBJECTS[0]).0, Status::Unchanged);

    let checked = w
        .pass(Options {
            full: true,
            ..Options::default()
        })
        .await;
    for (object, field) in [
        (OBJECTS[0], "Description"),
        (OBJECTS[2], "Description"),
        (OBJECTS[4], "Items.greeting"),
    ] {
        let (status, detail) = object_status(&checked, object);
        assert_eq!(status, Status::Drifted, "{object}: {detail}");
        assert!(
            detail.contains(field) && detail.contains("self_heal is off"),
            "{detail}"
        );
    }
    assert_eq!(object_status(&checked, OBJECTS[1]).0, Status::Unchanged);
    let state = w.state();
    let told = state
        .history
        .of("", "namespace/team")
        .expect("the namespace's events")
        .any(|e| e.kind == EventKind::DriftFound);
    assert!(told, "a drift_found event");
    // Its values are secret: a variable's events say which items differ, and hold no plan.
    let variable: Vec<_> = state
        .history
        .of("", "variable/team/nomad/jobs/web")
        .expect("the variable's events")
        .collect();
    assert!(variable.iter().any(|e| e.kind == EventKind::DriftFound));
    assert!(variable.iter().all(|e| e.plan.is_none()), "{variable:?}");
    assert_eq!(
        description(&live(&w).await[OBJECTS[0]]),
        "by hand",
        "reported, not put back"
    );

    w.extra.push_str("self_heal = true\n");
    let healed = w
        .pass(Options {
            full: true,
            ..Options::default()
        })
        .await;
    for object in [OBJECTS[0], OBJECTS[2], OBJECTS[4]] {
        let (status, detail) = object_status(&healed, object);
        assert_eq!(status, Status::Synced, "{object}: {detail}");
        assert!(detail.contains("put back"), "{detail}");
    }
    let now = live(&w).await;
    assert_eq!(description(&now[OBJECTS[0]]), "v1");
    assert_eq!(description(&now[OBJECTS[2]]), "v1");
    assert_eq!(now[OBJECTS[4]], Some(json!({"greeting": "v1"})));
}

#[tokio::test]
async fn an_object_made_by_hand_is_left_alone_unless_the_source_adopts_it() {
    let mut w = World::with_acls(KINDS).await;
    let c = client(&w);
    c.put_namespace("team", &json!({"Name": "team", "Description": "theirs"}))
        .await
        .expect("namespace by hand");
    let rules = "namespace \"team\" {\n  policy = \"write\"\n}\n";
    let theirs = json!({"Name": "ops", "Description": "theirs", "Rules": rules});
    c.put_acl_policy("ops", &theirs)
        .await
        .expect("policy by hand");
    write_objects(&w, "v1");
    w.repo.commit("objects of the same names");
    let report = w.pass(Options::default()).await;
    assert!(!report.converged());
    for object in [OBJECTS[0], OBJECTS[2]] {
        let (status, detail) = object_status(&report, object);
        assert_eq!(status, Status::Blocked, "{object}");
        assert!(detail.contains("adopt = true"), "{detail}");
    }
    // The variable lives in the namespace drover may not touch: it waits for it.
    let (status, detail) = object_status(&report, OBJECTS[4]);
    assert_eq!(status, Status::Blocked, "{detail}");
    assert!(detail.contains("namespace \"team\""), "{detail}");
    // The role names the policy that was not applied.
    assert_eq!(object_status(&report, OBJECTS[3]).0, Status::Blocked);
    assert_eq!(object_status(&report, OBJECTS[1]).0, Status::Synced);
    let now = live(&w).await;
    assert_eq!(description(&now[OBJECTS[0]]), "theirs");
    assert_eq!(now[OBJECTS[2]].as_ref().expect("policy")["Rules"], rules);

    w.extra.push_str("adopt = true\n");
    let adopted = w.pass(Options::default()).await;
    assert!(adopted.converged(), "{adopted:#?}");
    let (status, detail) = object_status(&adopted, OBJECTS[0]);
    assert_eq!(status, Status::Synced);
    assert!(detail.starts_with("adopted"), "{detail}");
    let now = live(&w).await;
    assert_eq!(description(&now[OBJECTS[0]]), "v1");
    let ns = now[OBJECTS[0]].clone().expect("namespace");
    assert_eq!(ns["Meta"]["drover.source"], "apps", "{ns}");
}

#[tokio::test]
async fn pruning_is_opt_in_per_kind_and_a_namespace_in_use_stays() {
    let mut w = World::with_acls(KINDS).await;
    write_objects(&w, "v1");
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "team", ""));
    w.repo.commit("objects and a job in the namespace");
    assert!(w.pass(Options::default()).await.converged());
    for path in [
        "cluster/ns/team.hcl",
        "cluster/acl/ops.policy.hcl",
        "cluster/acl/ops.role.hcl",
        "cluster/vars/web.hcl",
    ] {
        w.repo.remove(path);
    }
    w.repo.commit("the objects leave Git; the job stays");
    let kept = w.pass(Options::default()).await;
    for object in [OBJECTS[0], OBJECTS[2], OBJECTS[3], OBJECTS[4]] {
        let (status, detail) = object_status(&kept, object);
        assert_eq!(status, Status::Kept, "{object}");
        assert!(detail.contains("prune_kinds"), "{detail}");
    }
    assert!(live(&w).await.values().all(Option::is_some));

    w.extra.push_str(
        "prune_kinds = [\"namespaces\", \"acl_policies\", \"acl_roles\", \"nomad_variables\"]\nmax_prune_fraction = 1.0\n",
    );
    let pruned = w.pass(Options::default()).await;
    for object in [OBJECTS[2], OBJECTS[3], OBJECTS[4]] {
        assert_eq!(object_status(&pruned, object).0, Status::Pruned, "{object}");
    }
    // Nomad refuses to delete a namespace that still runs a job: reported, not retried blindly.
    let (status, detail) = object_status(&pruned, OBJECTS[0]);
    assert_eq!(status, Status::Blocked, "{detail}");
    assert!(detail.contains("non-terminal jobs"), "{detail}");
    let now = live(&w).await;
    assert!(now[OBJECTS[0]].is_some() && now[OBJECTS[1]].is_some());
    assert!(now[OBJECTS[2]].is_none() && now[OBJECTS[3]].is_none() && now[OBJECTS[4]].is_none());
    let (owned, _) = client(&w)
        .variable_item::<BTreeMap<String, String>>("drover/owned/apps", "objects")
        .await
        .expect("registry");
    assert!(owned.is_empty(), "{owned:?}");
    // The refusal is remembered: the next pass reports it without asking again.
    w.calls();
    let again = w.pass(Options::default()).await;
    let (status, detail) = object_status(&again, OBJECTS[0]);
    assert_eq!(status, Status::Blocked);
    assert!(detail.contains("non-terminal jobs"), "{detail}");
    assert_eq!(w.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_variable_changed_between_read_and_write_is_not_overwritten() {
    let w = World::with_acls(KINDS).await;
    write_objects(&w, "v1");
    w.repo.commit("objects");
    assert!(w.pass(Options::default()).await.converged());
    write_objects(&w, "v2");
    w.repo.commit("v2");
    // drover's write waits in the simulator while a person writes the variable first.
    w.sim.inject(
        Fault::new("/v1/var/nomad/jobs/web")
            .method("PUT")
            .times(1)
            .delay(Duration::from_secs(3)),
    );
    w.calls();
    let pass = tokio::spawn({
        let config = w.config();
        async move { git::world::pass_with(&config, Options::default()).await }
    });
    let read = async {
        while !w.calls().iter().any(|c| c == "GET /v1/var/nomad/jobs/web") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("drover read the variable");
    tokio::time::sleep(Duration::from_secs(1)).await;
    greet_by_hand(&w).await;
    let report = pass.await.expect("pass");
    let (status, detail) = object_status(&report, OBJECTS[4]);
    assert_eq!(status, Status::Failed, "{detail}");
    assert!(detail.contains("not overwritten"), "{detail}");
    assert_eq!(
        live(&w).await[OBJECTS[4]],
        Some(json!({"greeting": "by hand"}))
    );
    // The others of the commit went on.
    assert_eq!(object_status(&report, OBJECTS[0]).0, Status::Synced);
}

#[tokio::test]
async fn a_namespace_that_fails_blocks_its_own_jobs_only() {
    let w = World::with_acls("namespaces = [\"cluster/ns/*.hcl\"]\n").await;
    // Nomad's community edition refuses a quota that does not exist.
    w.repo
        .write(
            "cluster/ns/team.hcl",
            "name = \"team\"\nquota = \"missing\"\n",
        )
        .write("jobs/web.nomad.hcl", &job_file("web", "team", ""))
        .write("jobs/other.nomad.hcl", &job_file("other", "default", ""));
    w.repo
        .commit("a namespace Nomad refuses, a job in it, another job");
    let report = w.pass(Options::default()).await;
    let (status, detail) = object_status(&report, "namespace team");
    assert_eq!(status, Status::Failed, "{detail}");
    assert!(detail.contains("non-existent quota"), "{detail}");
    let web = report
        .jobs
        .iter()
        .find(|j| j.path == "jobs/web.nomad.hcl")
        .expect("web");
    assert_eq!(web.status, Status::Blocked, "{web:?}");
    assert!(
        web.detail.contains("namespace \"team\" was not applied"),
        "{}",
        web.detail
    );
    assert!(w.sim.job("team", "web").is_none());
    assert!(w.sim.job("default", "other").is_some(), "{report:#?}");
}

#[tokio::test]
async fn a_later_wave_waits_for_the_earlier_one_to_succeed_and_never_starts_after_a_failure() {
    let w = World::new("").await;
    w.repo
        .write("jobs/db.nomad.hcl", &job_file("db", "default", ""))
        .write(
            "jobs/api.nomad.hcl",
            &job_file("api", "default", "\"drover.wave\" = \"1\""),
        );
    w.repo.commit("a database and the API that needs it");
    let report = w.pass(Options::default()).await;
    assert!(report.converged(), "{report:#?}");
    let state = w.state();
    let at = |job: &str, kind: EventKind| {
        let events = state.history.of("default", job).expect("events");
        events
            .filter(|e| e.kind == kind)
            .map(|e| e.at)
            .min()
            .expect("event")
    };
    assert!(
        at("api", EventKind::Registered) >= at("db", EventKind::Succeeded),
        "api was registered before db's deployment succeeded"
    );

    w.repo
        .write(
            "jobs/db.nomad.hcl",
            &job_file("db", "default", "\"sim.fail\" = \"true\""),
        )
        .write(
            "jobs/api.nomad.hcl",
            &job_file("api", "default", "\"drover.wave\" = \"1\", owner = \"x\""),
        );
    w.repo
        .commit("a database change that fails, and an API change");
    let failed = w.pass(Options::default()).await;
    let status = |id: &str| {
        let found = failed
            .jobs
            .iter()
            .find(|j| j.job.as_ref().is_some_and(|k| k.id == id));
        found.map(|j| (j.status, j.detail.clone())).expect("report")
    };
    assert_eq!(status("db").0, Status::Failed);
    let (api, why) = status("api");
    assert_eq!(api, Status::Blocked, "{why}");
    assert!(
        why.contains("wave 0") && why.contains("default/db"),
        "{why}"
    );
    assert_eq!(
        w.sim.job("default", "api").expect("api")["Version"],
        0,
        "not registered again"
    );

    // Another pass over the same commit keeps the later wave waiting, without asking Nomad.
    let again = w.pass(Options::default()).await;
    let api = again
        .jobs
        .iter()
        .find(|j| j.job.as_ref().is_some_and(|k| k.id == "api"));
    assert_eq!(api.expect("api").status, Status::Blocked);
    assert_eq!(w.sim.job("default", "api").expect("api")["Version"], 0);
}

#[tokio::test]
async fn drover_diff_shows_every_kind_field_by_field_and_changes_nothing() {
    let w = World::with_acls(KINDS).await;
    write_objects(&w, "v1");
    w.repo.commit("objects");
    let (code, out) = w.drover(&["diff"]).await;
    assert_eq!(code, Some(3), "{out}");
    for line in [
        "cluster/ns/team.hcl (apps): namespace/team: namespace \"team\" would be created",
        "cluster/pools/gpu.hcl (apps): node_pool/gpu: node pool \"gpu\" would be created",
        "cluster/acl/ops.policy.hcl (apps): acl_policy/ops: ACL policy \"ops\" would be created",
        "cluster/acl/ops.role.hcl (apps): acl_role/ops: ACL role \"ops\" would be created",
        "cluster/vars/web.hcl (apps): variable/team/nomad/jobs/web: variable \"nomad/jobs/web\" would be created",
        "5 of 5 object(s) would change",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
    assert!(
        live(&w).await.values().all(Option::is_none),
        "diff writes nothing"
    );

    assert!(w.pass(Options::default()).await.converged());
    write_objects(&w, "v2");
    w.repo.commit("v2");
    let (code, out) = w.drover(&["diff"]).await;
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("namespace/team: would change\n  ~ Description: v1 => v2"),
        "{out}"
    );
    assert!(out.contains("  ~ Items.greeting: v1 => v2"), "{out}");
    assert_eq!(description(&live(&w).await[OBJECTS[0]]), "v1");
}

#[tokio::test]
async fn on_a_cluster_without_acls_the_acl_objects_do_not_apply_and_the_rest_does() {
    let w = World::new(KINDS).await;
    write_objects(&w, "v1");
    w.repo.commit("objects");
    let report = w.pass(Options::default()).await;
    assert!(report.converged(), "{report:#?}");
    for object in [OBJECTS[2], OBJECTS[3]] {
        let (status, detail) = object_status(&report, object);
        assert_eq!(status, Status::Kept, "{object}");
        assert!(detail.contains("ACL support disabled"), "{detail}");
    }
    for object in [OBJECTS[0], OBJECTS[1], OBJECTS[4]] {
        assert_eq!(object_status(&report, object).0, Status::Synced, "{object}");
    }
    let calls = w.calls();
    let acl_calls = calls.iter().filter(|c| c.contains("/v1/acl/")).count();
    assert_eq!(acl_calls, 1, "the first answer says it all: {calls:#?}");
    // Known until the drift check: a pass over the same files asks nothing.
    let again = w.pass(Options::default()).await;
    assert_eq!(object_status(&again, OBJECTS[2]).0, Status::Kept);
    assert_eq!(w.calls(), Vec::<String>::new());
}
