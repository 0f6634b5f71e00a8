//! A whole pass — real Git, the simulator — as `drover sync --once` makes it: the invariants of
//! docs/architecture.md checked on the simulator's request log and live jobs.

mod git;

use std::time::Duration;

use drover::sync::{Options, PassReport, Status};
use git::world::{World, job_file};
use nomad_sim::{Fault, Sim};

fn count(calls: &[String], what: &str) -> usize {
    calls
        .iter()
        .filter(|c| {
            c.as_str() == what || (what.ends_with('*') && c.starts_with(&what[..what.len() - 1]))
        })
        .count()
}

fn status_of(report: &PassReport, id: &str) -> Status {
    report
        .jobs
        .iter()
        .find(|j| {
            j.job.as_ref().is_some_and(|k| k.id == id) || j.path == format!("jobs/{id}.nomad.hcl")
        })
        .unwrap_or_else(|| panic!("no report for {id}: {report:#?}"))
        .status
}

#[tokio::test]
async fn first_pass_creates_everything_and_a_second_makes_no_nomad_call() {
    let w = World::new("").await;
    for i in 0..5 {
        w.repo.write(
            &format!("jobs/app{i}.nomad.hcl"),
            &job_file(&format!("app{i}"), "nginx:1"),
        );
    }
    w.repo.commit("five jobs");
    let first = w.pass(Options::default()).await;
    assert!(first.converged(), "{first:#?}");
    assert!(
        first.jobs.iter().all(|j| j.status == Status::Synced),
        "{first:#?}"
    );
    let calls = w.calls();
    assert_eq!(
        (
            count(&calls, "POST /v1/jobs/parse"),
            count(&calls, "POST /v1/jobs")
        ),
        (5, 5)
    );
    let job = w.sim.job("default", "app0").expect("registered");
    assert_eq!(job["Meta"]["drover.source"], "apps");
    assert_eq!(job["Meta"]["drover.path"], "jobs/app0.nomad.hcl");

    let second = w.pass(Options::default()).await;
    assert!(
        second.jobs.iter().all(|j| j.status == Status::Unchanged),
        "{second:#?}"
    );
    assert_eq!(w.calls(), Vec::<String>::new(), "not even the job list");

    w.repo.write("README.md", "unrelated\n");
    w.repo.commit("a commit that touches no job");
    w.pass(Options::default()).await;
    assert_eq!(w.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn one_changed_file_of_fifty_is_one_parse_one_plan_one_register() {
    let w = World::new("").await;
    for i in 0..50 {
        w.repo.write(
            &format!("jobs/app{i}.nomad.hcl"),
            &job_file(&format!("app{i}"), "nginx:1"),
        );
    }
    w.repo.commit("fifty jobs");
    assert!(
        w.pass(Options {
            detach: true,
            ..Options::default()
        })
        .await
        .converged()
    );
    w.calls();
    w.repo
        .write("jobs/app7.nomad.hcl", &job_file("app7", "nginx:2"));
    w.repo.commit("app7 to nginx:2");
    let report = w.pass(Options::default()).await;
    assert_eq!(status_of(&report, "app7"), Status::Synced);
    let calls = w.calls();
    let (submit, tracking) = calls.split_at(3.min(calls.len()));
    assert_eq!(
        submit,
        [
            "POST /v1/jobs/parse",
            "POST /v1/job/app7/plan",
            "POST /v1/jobs"
        ],
        "no job list, no read of the live job: {calls:?}"
    );
    assert!(
        tracking.iter().all(|c| c.starts_with("GET /v1/evaluation/")
            || c.starts_with("GET /v1/deployment/")
            || c.starts_with("GET /v1/deployments")
            || c.starts_with("GET /v1/job/app7/")),
        "only the deployment is followed after registering: {tracking:?}"
    );
    assert_eq!(w.sim.job("default", "app7").unwrap()["Version"], 1);
    assert_eq!(w.sim.job("default", "app8").unwrap()["Version"], 0);
}

#[tokio::test]
async fn a_job_another_source_took_over_is_never_registered_over() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    let detach = Options {
        detach: true,
        ..Options::default()
    };
    assert!(w.pass(detach).await.converged());
    assert!(w.sim.edit_job("default", "web", |j| {
        j["Meta"]["drover.source"] = "payments".into();
    }));
    w.calls();
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:2"));
    w.repo.commit("web to nginx:2");
    let report = w.pass(detach).await;
    assert_eq!(status_of(&report, "web"), Status::Blocked, "{report:#?}");
    let detail = &report.jobs[0].detail;
    assert!(detail.contains("`payments`"), "{detail}");
    assert_eq!(count(&w.calls(), "POST /v1/jobs"), 0, "nothing registered");
    let live = w.sim.job("default", "web").expect("still there");
    assert_eq!(live["Meta"]["drover.source"], "payments");
}

#[tokio::test]
async fn a_comment_only_change_is_planned_but_not_registered() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    w.pass(Options::default()).await;
    w.calls();
    w.repo.write(
        "jobs/web.nomad.hcl",
        &format!("# reviewed\n\n{}", job_file("web", "nginx:1")),
    );
    w.repo.commit("a comment");
    let report = w.pass(Options::default()).await;
    assert_eq!(status_of(&report, "web"), Status::Unchanged, "{report:#?}");
    let calls = w.calls();
    assert_eq!(count(&calls, "POST /v1/job/web/plan"), 1);
    assert_eq!(
        count(&calls, "POST /v1/jobs"),
        0,
        "no register, no new version"
    );
    assert_eq!(w.sim.job("default", "web").unwrap()["Version"], 0);
    assert!(
        w.pass(Options::default())
            .await
            .jobs
            .iter()
            .all(|j| j.status == Status::Unchanged)
    );
    assert_eq!(
        count(&w.calls(), "POST /v1/job/web/plan"),
        0,
        "the new fingerprint was recorded"
    );
}

#[tokio::test]
async fn a_broken_file_blocks_only_itself_and_keeps_its_live_job() {
    let w = World::new("prune = true\n").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo
        .write("jobs/api.nomad.hcl", &job_file("api", "api:1"));
    w.repo.commit("two jobs");
    w.pass(Options::default()).await;
    w.repo.write(
        "jobs/web.nomad.hcl",
        "job \"web\" {\n  group \"app\" {\n    count = \n  }\n}\n",
    );
    w.repo
        .write("jobs/api.nomad.hcl", &job_file("api", "api:2"));
    w.repo.commit("break web, change api");
    let report = w.pass(Options::default()).await;
    assert!(!report.converged());
    assert_eq!(status_of(&report, "api"), Status::Synced);
    let web = report
        .jobs
        .iter()
        .find(|j| j.path == "jobs/web.nomad.hcl")
        .expect("web reported");
    assert_eq!(web.status, Status::Blocked);
    assert!(
        web.detail.contains("jobs/web.nomad.hcl:3:"),
        "line and column: {}",
        web.detail
    );
    let live = w.sim.job("default", "web").expect("web stays");
    assert_eq!(
        (live["Version"].as_u64(), live["Stop"].as_bool()),
        (Some(0), Some(false))
    );
}

#[tokio::test]
async fn prune_only_when_on_and_never_past_the_fraction() {
    let w = World::new("").await;
    for id in ["a", "b", "c", "d"] {
        w.repo
            .write(&format!("jobs/{id}.nomad.hcl"), &job_file(id, "nginx:1"));
    }
    w.repo.commit("four");
    w.pass(Options {
        detach: true,
        ..Options::default()
    })
    .await;
    w.repo.remove("jobs/a.nomad.hcl");
    w.repo.commit("drop a");
    let report = w.pass(Options::default()).await;
    assert_eq!(
        status_of(&report, "a"),
        Status::Kept,
        "prune is off by default"
    );
    assert_eq!(w.sim.job("default", "a").unwrap()["Stop"], false);

    let w2 = World {
        extra: "prune = true\n".into(),
        ..w
    };
    let report = w2.pass(Options::default()).await;
    assert_eq!(status_of(&report, "a"), Status::Pruned, "{report:#?}");
    assert_eq!(w2.sim.job("default", "a").unwrap()["Stop"], true);

    for id in ["b", "c", "d"] {
        w2.repo.remove(&format!("jobs/{id}.nomad.hcl"));
    }
    w2.repo.commit("drop the rest");
    let report = w2.pass(Options::default()).await;
    assert!(
        report.jobs.iter().all(|j| j.status == Status::Blocked),
        "{report:#?}"
    );
    assert!(
        ["b", "c", "d"]
            .iter()
            .all(|id| w2.sim.job("default", id).unwrap()["Stop"] == false)
    );
    let report = w2
        .pass(Options {
            allow_mass_prune: true,
            ..Options::default()
        })
        .await;
    assert!(
        report.jobs.iter().all(|j| j.status == Status::Pruned),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_failed_deployment_is_rolled_back_and_not_resubmitted() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    w.pass(Options::default()).await;
    let failing = job_file("web", "nginx:broken").replace(
        "datacenters",
        "meta = { \"sim.fail\" = \"true\" }\n  datacenters",
    );
    w.repo.write("jobs/web.nomad.hcl", &failing);
    w.repo.commit("a bad image");
    let report = w.pass(Options::default()).await;
    assert_eq!(status_of(&report, "web"), Status::Failed, "{report:#?}");
    let live = w.sim.job("default", "web").unwrap();
    assert_eq!(
        live["TaskGroups"][0]["Tasks"][0]["Config"]["image"], "nginx:1",
        "rolled back"
    );
    w.calls();

    let again = w.pass(Options::default()).await;
    assert_eq!(
        status_of(&again, "web"),
        Status::Blocked,
        "known-bad spec: {again:#?}"
    );
    assert_eq!(count(&w.calls(), "POST /v1/jobs"), 0, "no deploy loop");

    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:2"));
    w.repo.commit("fixed");
    let fixed = w.pass(Options::default()).await;
    assert_eq!(status_of(&fixed, "web"), Status::Synced, "{fixed:#?}");
}

#[tokio::test]
async fn drift_is_reported_and_healed_with_self_heal() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    w.pass(Options::default()).await;
    w.sim.edit_job("default", "web", |j| {
        j["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = "nginx:hotfix".into()
    });
    let report = w
        .pass(Options {
            full: true,
            ..Options::default()
        })
        .await;
    assert_eq!(status_of(&report, "web"), Status::Drifted, "{report:#?}");
    assert!(
        report.converged(),
        "drift that is only reported does not fail the pass"
    );

    let healing = World {
        extra: "self_heal = true\n".into(),
        ..w
    };
    let report = healing
        .pass(Options {
            full: true,
            ..Options::default()
        })
        .await;
    assert_eq!(status_of(&report, "web"), Status::Synced, "{report:#?}");
    assert_eq!(
        healing.sim.job("default", "web").unwrap()["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx:1"
    );
}

#[tokio::test]
async fn a_var_file_change_rerenders_the_jobs_that_use_it() {
    let w = World::new("var_files = [\"vars/prod.hcl\"]\n").await;
    let uses_var = "variable \"tag\" {\n  type = string\n}\n".to_owned()
        + &job_file("web", "nginx:${var.tag}");
    w.repo.write("jobs/web.nomad.hcl", &uses_var);
    w.repo.write("vars/prod.hcl", "tag = \"1\"\n");
    w.repo.commit("web with a var");
    w.pass(Options::default()).await;
    assert_eq!(
        w.sim.job("default", "web").unwrap()["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx:1"
    );
    w.repo.write("vars/prod.hcl", "tag = \"2\"\n");
    w.repo.commit("bump the tag");
    let report = w.pass(Options::default()).await;
    assert_eq!(status_of(&report, "web"), Status::Synced, "{report:#?}");
    assert_eq!(
        w.sim.job("default", "web").unwrap()["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx:2"
    );
}

#[tokio::test]
async fn source_variables_of_every_type_reach_the_job() {
    // A TOML list and table, a number, and strings read as Nomad's `-var` reads them.
    let w = World::new(
        "variables = { dcs = [\"dc1\", \"dc2\"], labels = { team = \"ops\", tier = \"web\" }, \
         replicas = 2, more_dcs = '[\"dc3\"]', more_labels = '{ owner = \"sre\" }' }\n",
    )
    .await;
    let job = r#"
variable "dcs" { type = list(string) }
variable "more_dcs" { type = list(string) }
variable "labels" { type = map(string) }
variable "more_labels" { type = map(string) }
variable "replicas" { type = number }
job "web" {
  datacenters = concat(var.dcs, var.more_dcs)
  meta        = merge(var.labels, var.more_labels)
  group "app" {
    count = var.replicas
    task "app" {
      driver = "docker"
      config {
        image = "nginx:1"
      }
    }
  }
}
"#;
    w.repo.write("jobs/web.nomad.hcl", job);
    w.repo.commit("web with typed variables");
    let report = w.pass(Options::default()).await;
    assert_eq!(status_of(&report, "web"), Status::Synced, "{report:#?}");
    let live = w.sim.job("default", "web").expect("registered");
    assert_eq!(
        live["Datacenters"],
        serde_json::json!(["dc1", "dc2", "dc3"])
    );
    assert_eq!(live["Meta"]["team"], "ops");
    assert_eq!(live["Meta"]["tier"], "web");
    assert_eq!(live["Meta"]["owner"], "sre");
    assert_eq!(live["TaskGroups"][0]["Count"], 2);
}

/// Parse calls since the last look, as (refused, taken).
fn parses(sim: &Sim) -> (usize, usize) {
    let requests = sim.requests();
    sim.clear_requests();
    let parses = requests.iter().filter(|r| r.path == "/v1/jobs/parse");
    let refused = parses.clone().filter(|r| r.status == 400).count();
    (refused, parses.count() - refused)
}

#[tokio::test]
async fn what_nomad_refused_is_not_sent_again_until_its_inputs_or_nomad_change() {
    let mut w = World::new("").await;
    // Nomad refuses both (an argument it does not know, two `update` blocks); drover's local
    // checks do not look that deep.
    let unknown_argument = job_file("typo", "nginx:1").replace("count = 1", "cont = 1");
    let two_updates = job_file("twice", "nginx:1").replace(
        "    update {",
        "    update {\n      max_parallel = 2\n    }\n    update {",
    );
    w.repo.write("jobs/typo.nomad.hcl", &unknown_argument);
    w.repo.write("jobs/twice.nomad.hcl", &two_updates);
    for id in ["web", "api", "db"] {
        w.repo
            .write(&format!("jobs/{id}.nomad.hcl"), &job_file(id, "nginx:1"));
    }
    w.repo.commit("three jobs and two that Nomad refuses");
    let first = w.pass(Options::default()).await;
    assert_eq!(parses(&w.sim), (2, 3), "every file parsed once");
    for id in ["typo", "twice"] {
        assert_eq!(status_of(&first, id), Status::Blocked, "{first:#?}");
    }
    let told = |report: &PassReport, id: &str| {
        let job = report
            .jobs
            .iter()
            .find(|j| j.job.as_ref().is_some_and(|k| k.id == id));
        job.expect("reported").detail.clone()
    };
    let typo_detail = told(&first, "typo");
    assert!(
        typo_detail.contains("Unsupported argument"),
        "{typo_detail}"
    );

    for n in 2..=11 {
        w.repo.write(
            "jobs/web.nomad.hcl",
            &job_file("web", &format!("nginx:{n}")),
        );
        w.repo.commit(&format!("web {n}"));
        let report = w.pass(Options::default()).await;
        assert_eq!(
            parses(&w.sim),
            (0, 1),
            "commit {n}: only the changed file is parsed"
        );
        assert_eq!(status_of(&report, "typo"), Status::Blocked);
        assert_eq!(told(&report, "typo"), typo_detail, "the remembered words");
        assert_eq!(status_of(&report, "web"), Status::Synced, "{report:#?}");
    }
    let calls = w.calls();
    assert!(calls.is_empty(), "nothing else was asked: {calls:?}");
    let report = w.pass(Options::default()).await;
    assert!(
        w.calls().is_empty(),
        "an unchanged pass makes no call: {report:#?}"
    );

    w.repo
        .write("jobs/typo.nomad.hcl", &job_file("typo", "nginx:1"));
    w.repo.commit("fix the typo");
    let report = w.pass(Options::default()).await;
    assert_eq!(parses(&w.sim), (0, 1), "the changed file is sent again");
    assert_eq!(status_of(&report, "typo"), Status::Synced, "{report:#?}");

    // A Nomad upgrade: the version is read again once the drift interval has passed.
    w.drift_interval = "1s";
    w.sim.set_version("1.11.0");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = w.pass(Options::default()).await;
    assert_eq!(parses(&w.sim).0, 1, "sent again to the new version");
    assert_eq!(status_of(&report, "twice"), Status::Blocked);
    let report = w.pass(Options::default()).await;
    assert_eq!(parses(&w.sim).0, 0, "and remembered again: {report:#?}");
}

#[tokio::test]
async fn a_plan_refusal_is_remembered_until_the_drift_interval() {
    let mut w = World::new("").await;
    w.drift_interval = "2s";
    w.sim.inject(Fault::new("/v1/job/web/plan").status(
        500,
        "1 error occurred:\n\t* Task group app validation failed: quota exceeded\n\n",
    ));
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    let report = w.pass(Options::default()).await;
    assert_eq!(status_of(&report, "web"), Status::Blocked, "{report:#?}");
    assert!(
        report.jobs[0]
            .detail
            .starts_with("refused by Nomad's plan: invalid request: 1 error occurred"),
        "{report:#?}"
    );
    w.calls();
    let report = w.pass(Options::default()).await;
    assert_eq!(status_of(&report, "web"), Status::Blocked);
    let calls = w.calls();
    assert_eq!(count(&calls, "POST /v1/job/web/plan"), 0, "{calls:?}");
    // The cluster's quota raised: the next drift check sends it again.
    w.sim.clear_faults();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let report = w.pass(Options::default()).await;
    assert_eq!(status_of(&report, "web"), Status::Synced, "{report:#?}");
    assert!(
        w.state().sources["apps"].refused.is_empty(),
        "forgotten once taken"
    );
}

#[tokio::test]
async fn a_change_of_an_inlined_file_alone_rerenders_the_job_that_reads_it() {
    let w = World::new("").await;
    let reads_files = job_file("web", "nginx:1").replace(
        "datacenters = [\"dc1\"]",
        "datacenters = [\"dc1\"]\n  meta {\n    conf     = file(\"../files/web.conf\")\n    optional = fileexists(\"../files/extra.conf\")\n  }",
    );
    w.repo.write("jobs/web.nomad.hcl", &reads_files);
    w.repo
        .write("jobs/api.nomad.hcl", &job_file("api", "nginx:1"));
    w.repo.write("files/web.conf", "workers = 1\n");
    w.repo.commit("web reads a file");
    let detach = Options {
        detach: true,
        ..Options::default()
    };
    assert!(w.pass(detach).await.converged());
    let meta = |key: &str| w.sim.job("default", "web").unwrap()["Meta"][key].clone();
    assert_eq!(meta("conf"), "workers = 1\n");

    w.repo.write("files/web.conf", "workers = 2\n");
    w.repo.commit("only the inlined file changes");
    let report = w.pass(detach).await;
    assert_eq!(status_of(&report, "web"), Status::Submitted, "{report:#?}");
    assert_eq!(status_of(&report, "api"), Status::Unchanged);
    assert_eq!(meta("conf"), "workers = 2\n");

    w.repo.write("files/extra.conf", "");
    w.repo.commit("a file fileexists() looks for appears");
    let report = w.pass(detach).await;
    assert_eq!(status_of(&report, "web"), Status::Submitted, "{report:#?}");
    assert_eq!(meta("optional"), "true");
}

#[tokio::test]
async fn nomad_without_a_leader_for_a_while_is_retried() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    w.sim
        .inject(Fault::new("/v1/jobs").method("GET").no_leader().times(2));
    w.sim
        .inject(Fault::new("/v1/job/web/plan").no_leader().times(1));
    let report = w.pass(Options::default()).await;
    assert!(report.converged(), "{report:#?}");
    assert_eq!(w.state().source("apps").jobs.len(), 1);
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// `drover sync --once` as a CI job or an operator runs it: one line per job, a count, and
/// the exit code.
#[tokio::test]
async fn the_command_prints_each_job_and_exits_by_outcome() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    let (code, out) = w.drover(&["sync", "--once"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("default/web") && out.contains("synced") && out.contains("1 synced"),
        "{out}"
    );

    w.repo.write("jobs/web.nomad.hcl", "job \"web\" {\n");
    w.repo.commit("broken");
    let (code, out) = w.drover(&["sync", "--once"]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("blocked") && out.contains("jobs/web.nomad.hcl:"),
        "{out}"
    );
}

/// The var file of a source that sets fifty variables, `v01` to `v50`, for all its jobs.
fn fifty_variables() -> String {
    (1..=50)
        .map(|i| format!("v{i:02} = \"value-{i}\"\n"))
        .collect()
}

/// A job that declares and uses `v07` of the source's fifty variables; `group_extra` goes into
/// its group (an argument Nomad does not know makes the one error).
fn job_using_one_variable(group_extra: &str) -> String {
    format!(
        r#"variable "v07" {{}}

job "web" {{
  datacenters = ["dc1"]
  meta {{
    tier = var.v07
  }}
  group "app" {{
    count = 1
{group_extra}
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

/// The lines of `out` from the one that starts the job `default/web` (its status and the first
/// line of its report) to the end.
fn from_job_line(out: &str) -> Vec<&str> {
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("default/web "))
        .unwrap_or_else(|| panic!("no line for default/web:\n{out}"));
    lines[at..].to_vec()
}

/// A source sets fifty variables, the job uses one: Nomad's warning for each of the other 49
/// never blocks it, and when the job has an error, the error leads its report and the warnings
/// are one line (all of them with `--verbose`).
#[tokio::test]
async fn a_blocked_jobs_report_leads_with_its_error_and_folds_the_warnings() {
    let w = World::new("var_files = [\"vars/all.hcl\"]\n").await;
    w.repo.write("vars/all.hcl", &fifty_variables());
    w.repo
        .write("jobs/web.nomad.hcl", &job_using_one_variable(""));
    w.repo.commit("web uses v07");
    let (code, out) = w.drover(&["sync", "--once"]).await;
    assert_eq!(code, Some(0), "undeclared variables block nothing: {out}");
    assert!(!out.contains("warning"), "{out}");

    w.repo.write(
        "jobs/web.nomad.hcl",
        &job_using_one_variable("    bogus = 1"),
    );
    w.repo.commit("one error");
    let (code, out) = w.drover(&["sync", "--once"]).await;
    assert_eq!(code, Some(1), "{out}");
    let lines = from_job_line(&out);
    let error = "jobs/web.nomad.hcl:10:5: Unsupported argument; An argument named \"bogus\" is not expected here.";
    assert!(
        lines[0].contains(" blocked ") && lines[0].ends_with(error),
        "the error is the first line of the report:\n{out}"
    );
    assert_eq!(
        lines[1].trim_start(),
        "jobs/web.nomad.hcl: warning: 49 variables of the source are not declared by this job (v01, v02, v03, v04, v05 and 44 more)",
        "{out}"
    );
    assert!(
        !out.contains("Undefined variable") && !out.contains("value-"),
        "folded, and never a value:\n{out}"
    );

    let (code, out) = w.drover(&["sync", "--once", "--verbose"]).await;
    assert_eq!(code, Some(1), "{out}");
    let lines = from_job_line(&out);
    assert!(lines[0].ends_with(error), "{out}");
    let warnings: Vec<&str> = lines[1..50].iter().map(|l| l.trim_start()).collect();
    for (i, line) in (1..=50).filter(|&i| i != 7).zip(&warnings) {
        let expected = format!(
            "jobs/web.nomad.hcl: warning: Undefined variable; A \"v{i:02}\" variable was set but was not found in known variables."
        );
        assert!(line.starts_with(&expected), "{line:?} in:\n{out}");
    }
    assert_eq!(out.matches("Undefined variable").count(), 49, "{out}");

    let (code, out) = w.drover(&["diff"]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "error: {error}\njobs/web.nomad.hcl: warning: 49 variables"
        )),
        "diff reports the same way:\n{out}"
    );
    let (_, out) = w.drover(&["diff", "--verbose"]).await;
    assert_eq!(out.matches("Undefined variable").count(), 49, "{out}");
    let live = w.sim.job("default", "web").expect("web stays");
    assert_eq!(live["Version"], 0, "the blocked change was not registered");
}

/// `drover diff` shows what the job file changes, not the `drover.*` meta that changes with
/// every commit (the sync's plan sets it aside too).
#[tokio::test]
async fn diff_hides_drovers_own_meta() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    assert_eq!(w.drover(&["sync", "--once"]).await.0, Some(0));
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:2"));
    w.repo.commit("nginx:2");

    let (code, out) = w.drover(&["diff"]).await;
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("+/- Job: \"web\""), "{out}");
    assert!(
        out.contains("+/- image: \"nginx:1\" => \"nginx:2\""),
        "{out}"
    );
    assert!(!out.contains("drover."), "no drover meta shown:\n{out}");
    let (_, out) = w.drover(&["diff", "--format", "json"]).await;
    assert!(out.contains("\"nginx:2\""), "{out}");
    assert!(!out.contains("Meta[drover."), "{out}");

    // Only a comment changes: the inputs' fingerprint, and with it the meta, is all that would.
    let with_comment = format!("# a comment\n{}", job_file("web", "nginx:1"));
    w.repo.write("jobs/web.nomad.hcl", &with_comment);
    w.repo.commit("back to nginx:1");
    assert_eq!(w.drover(&["sync", "--once"]).await.0, Some(0));
    w.repo.write(
        "jobs/web.nomad.hcl",
        &format!("# another comment\n{}", job_file("web", "nginx:1")),
    );
    w.repo.commit("comment");
    let (code, out) = w.drover(&["diff", "--format", "json"]).await;
    assert_eq!(code, Some(0), "{out}");
    let json_start = out.find('[').expect("JSON");
    let entries: serde_json::Value =
        serde_json::from_str(out[json_start..].trim()).expect("JSON output");
    assert_eq!(entries[0]["change"], false, "{out}");
    assert_eq!(entries[0]["diff"]["Type"], "None", "{out}");
    assert!(!out.contains("Meta[drover."), "{out}");
}

#[tokio::test]
async fn diff_shows_pending_changes_and_submits_nothing() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    assert_eq!(w.drover(&["sync", "--once"]).await.0, Some(0));
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:2"));
    w.repo.commit("nginx:2");
    w.calls();

    let (code, out) = w.drover(&["diff"]).await;
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("+/- image: \"nginx:1\" => \"nginx:2\""),
        "{out}"
    );
    assert!(out.contains("1 of 1 job(s) would change"), "{out}");
    let (code, out) = w.drover(&["diff", "--format", "json", "web"]).await;
    assert_eq!(code, Some(3));
    let json_start = out.find('[').expect("JSON");
    let entries: serde_json::Value =
        serde_json::from_str(out[json_start..].trim()).expect("JSON output");
    assert_eq!(entries[0]["job"], "web");
    assert_eq!(entries[0]["change"], true);
    assert_eq!(entries[0]["diff"]["Type"], "Edited");
    assert_eq!(
        count(&w.calls(), "POST /v1/jobs"),
        0,
        "diff registers nothing"
    );

    assert_eq!(w.drover(&["sync", "--once"]).await.0, Some(0));
    let (code, out) = w.drover(&["diff"]).await;
    assert_eq!(code, Some(0), "{out}");
}

/// Kill -9 while a registration is in flight, then run again: one new version, and the state
/// agrees with Nomad (invariant 7).
#[tokio::test]
async fn a_killed_sync_leaves_no_duplicate_version() {
    let w = World::new("").await;
    w.repo
        .write("jobs/web.nomad.hcl", &job_file("web", "nginx:1"));
    w.repo.commit("web");
    w.sim.set_latency(Duration::from_millis(150));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["sync", "--once", "--config"])
        .arg(w.config_file())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("drover starts");
    // Kill it as soon as the registration has reached Nomad, before the answer arrives.
    for _ in 0..400 {
        if w.sim
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/v1/jobs")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    w.sim.set_latency(Duration::ZERO);

    let (code, out) = w.drover(&["sync", "--once"]).await;
    assert_eq!(code, Some(0), "{out}");
    let live = w.sim.job("default", "web").expect("registered once");
    assert_eq!(live["Version"], 0, "no duplicate version");
    let state = w.state();
    let record = state
        .source("apps")
        .jobs
        .values()
        .next()
        .expect("a record")
        .clone();
    assert_eq!(
        record.applied_commit.as_deref(),
        live["Meta"]["drover.commit"].as_str()
    );
    let (_, out) = w.drover(&["sync", "--once"]).await;
    assert!(out.contains("1 unchanged"), "{out}");
}
