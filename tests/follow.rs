//! Following deployments end to end: `drover run` (a child process, see `common::daemon`)
//! against the Nomad simulator and a real Git repository, as an operator relies on it.
//!
//! - A pass ends once it has registered: a rollout many polls long leaves `/healthz` and the
//!   systemd watchdog healthy, and is followed to its end (registered → progress → succeeded).
//! - A fix committed while a failing rollout runs replaces it at once: Nomad cancels the old
//!   deployment, drover records it as superseded and follows the fix to success.
//! - A deployment that fails while drover is down (kill -9), or that drover finds still running
//!   when it starts again, is rolled back, and its spec is known-bad: not registered again.
//! - With `[ha]`, a new leader follows the deployment the dead one left in flight, and never
//!   deploys a spec known to have failed, even one only the shared Nomad variable records.
//! - `[sync] max_parallel` bounds the jobs applied at once against a cluster over every source
//!   (measured by a recording proxy in front of the simulator, whose own request log has no
//!   timings).
//! - `/status` shows the deployment of a job new in a pass still running, and a pass that races
//!   a rollback never registers the spec that just failed.
//! - A job's page shows the plan of its last registration.
//!
//! `DROVER_TEST_LOG=1` prints every daemon's log, not only a failing test's.
//!
//! The simulator's time runs at `time_scale` × real time; where a deployment must outlast a
//! step of the test it is long in simulated time, and is ended by `Sim::advance` or a faster
//! time scale rather than by waiting.

mod common;
mod git;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::daemon::{Daemon, NotifySocket, until};
use common::local;
use git::repo::Repo;
use http_body_util::{BodyExt, Full};
use nomad_sim::{Fault, Sim};
use serde_json::Value;

/// A service job file: one group of one task. `min_healthy` is in the simulator's (scaled)
/// time; with `fail`, the simulator fails the deployment when that time has passed.
fn job_file(id: &str, image: &str, min_healthy: &str, fail: bool) -> String {
    let meta = if fail {
        "  meta = { \"sim.fail\" = \"true\" }\n"
    } else {
        ""
    };
    format!(
        "job \"{id}\" {{\n  datacenters = [\"dc1\"]\n{meta}  group \"app\" {{\n    update {{\n      \
         max_parallel      = 1\n      min_healthy_time  = \"{min_healthy}\"\n      \
         healthy_deadline  = \"1h\"\n      progress_deadline = \"2h\"\n    }}\n    \
         task \"app\" {{\n      driver = \"docker\"\n      config {{\n        image = \"{image}\"\n      }}\n    }}\n  }}\n}}\n"
    )
}

/// The configuration (without `[server]` and `[state]`, which the harness adds): the cluster
/// at `nomad`, `[sync]` with `sync` added, then `rest` (sources, `[ha]`).
fn config(nomad: &str, sync: &str, rest: &str) -> String {
    format!(
        "[nomad]\naddress = \"{nomad}\"\nretry_min_delay = \"10ms\"\nretry_max_delay = \"50ms\"\n\
         [sync]\nshutdown_timeout = \"10s\"\n{sync}\n{rest}"
    )
}

/// A `[[source]]` on `repo` (a local path, so commits are also seen by the ref watch).
fn source(name: &str, repo: &Repo, poll: &str, paths: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nurl = \"{}\"\npaths = [\"{paths}\"]\npoll = \"{poll}\"\n",
        repo.path().display()
    )
}

/// `GET path` on the simulator's API, as JSON.
async fn sim_json(sim: &Sim, path: &str) -> Value {
    match local::get(&format!("{}{path}", sim.url())).await {
        Some((200, body)) => serde_json::from_str(&body).expect("simulator JSON"),
        other => panic!("GET {path} on the simulator: {other:?}"),
    }
}

/// Requests `method path` in the simulator's log.
fn count(sim: &Sim, method: &str, path: &str) -> usize {
    let log = sim.requests();
    log.iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

/// Registrations of any job (`POST /v1/jobs`; a revert is `POST /v1/job/<id>/revert`).
fn registers(sim: &Sim) -> usize {
    count(sim, "POST", "/v1/jobs")
}

/// The kinds of `events`, in order; only those of `commit` when given.
fn kinds(events: &[Value], commit: Option<&str>) -> Vec<String> {
    events
        .iter()
        .filter(|e| commit.is_none_or(|c| e["commit"] == c))
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect()
}

/// The first event of `kind` (and `commit`, when given).
fn event<'a>(events: &'a [Value], kind: &str, commit: Option<&str>) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e["kind"] == kind && commit.is_none_or(|c| e["commit"] == c))
}

/// `job`'s history once it holds an event of `kind` (of `commit`, when given).
async fn until_event(
    daemon: &Daemon,
    job: &str,
    kind: &str,
    commit: Option<&str>,
    within: Duration,
) -> Vec<Value> {
    let what = format!("a {kind} event of {job}");
    until(&what, within, async || {
        let events = daemon.history("default", job).await;
        event(&events, kind, commit).is_some().then_some(events)
    })
    .await
}

/// The ID of the deployment of `commit`'s registration of `job`, once drover follows it.
async fn followed_deployment(daemon: &Daemon, job: &str, commit: &str) -> String {
    until(
        &format!("{job}'s deployment of {commit} followed"),
        Duration::from_secs(30),
        async || {
            let events = daemon.history("default", job).await;
            let progress = event(&events, "progress", Some(commit))?;
            progress["deployment"].as_str().map(str::to_owned)
        },
    )
    .await
}

/// The `drover.fingerprint` meta of a job (or a job version) as Nomad holds it.
fn fingerprint(job: &Value) -> String {
    job["Meta"]["drover.fingerprint"]
        .as_str()
        .expect("fingerprint meta")
        .to_owned()
}

fn image(job: &Value) -> &Value {
    &job["TaskGroups"][0]["Tasks"][0]["Config"]["image"]
}

/// The job's versions in the simulator, newest first.
async fn versions(sim: &Sim, id: &str) -> Vec<Value> {
    let doc = sim_json(sim, &format!("/v1/job/{id}/versions")).await;
    doc["Versions"].as_array().cloned().unwrap_or_default()
}

/// The fingerprints the state file holds as known-bad for `source`'s job `default/<id>`.
fn known_bad_in_state(state: &Value, source: &str, id: &str) -> Vec<String> {
    let record = &state["sources"][source]["jobs"][format!("default/{id}")];
    let list = record["failed_fingerprints"].as_array().cloned();
    list.unwrap_or_default()
        .iter()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect()
}

/// The shared known-bad record of `source` in Nomad (`drover/known-bad/<source>`, item
/// `specs`); empty when the variable does not exist.
async fn shared_known_bad(sim: &Sim, source: &str) -> BTreeMap<String, Vec<String>> {
    let url = format!("{}/v1/var/drover/known-bad/{source}", sim.url());
    match local::get(&url).await {
        Some((200, body)) => {
            let var: Value = serde_json::from_str(&body).expect("variable JSON");
            let specs = var["Items"]["specs"].as_str().expect("item specs");
            serde_json::from_str(specs).expect("specs JSON")
        }
        _ => BTreeMap::new(),
    }
}

const WATCHDOG: Duration = Duration::from_secs(4);

// Multi-threaded: the simulator shares the test's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_longer_than_three_polls_keeps_drover_healthy() {
    // Real time is the point: one simulated second is one second, and the rollout lasts 30 s,
    // ten times three polls of 1 s.
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "30s", false));
    let commit = repo.commit("web");
    let notify = NotifySocket::bind();
    let text = config(&sim.url(), "", &source("apps", &repo, "1s", "*.nomad.hcl"));
    let daemon = Daemon::start_with_env(&text, &notify.env(WATCHDOG));

    until("web registered", Duration::from_secs(30), async || {
        let events = daemon.history("default", "web").await;
        event(&events, "registered", Some(commit.as_str())).map(|_| ())
    })
    .await;
    let watched_from = Instant::now();
    let passes = async || {
        let status = daemon.source_status("apps").await.expect("status");
        status["passes"].as_u64().expect("passes")
    };
    let passes_before = passes().await;
    let mut deploying = false;
    let mut checks = 0;
    let events = loop {
        let (code, body) = daemon.get("/healthz").await.expect("/healthz answers");
        assert_eq!(
            code,
            200,
            "unhealthy {:?} into the rollout: {body}",
            watched_from.elapsed()
        );
        checks += 1;
        if let Some(job) = daemon.job_status("web").await {
            deploying |= job["state"] == "deploying" && job["progress"].is_string();
        }
        let events = daemon.history("default", "web").await;
        if ["succeeded", "failed"]
            .iter()
            .any(|k| event(&events, k, None).is_some())
        {
            break events;
        }
        assert!(
            watched_from.elapsed() < Duration::from_secs(120),
            "the rollout never ended: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let watched_until = Instant::now();
    let rollout = watched_until - watched_from;
    eprintln!("rollout followed for {rollout:?}, /healthz 200 at {checks} checks");
    assert!(
        rollout >= Duration::from_secs(10),
        "the rollout outlasted three polls several times over: {rollout:?}"
    );
    let passes_after = passes().await;
    assert!(
        passes_after >= passes_before + 5,
        "passes kept finishing during the rollout: {passes_before} → {passes_after}"
    );

    // The watchdog was pinged throughout, never leaving systemd's WatchdogSec without a ping.
    let pings: Vec<Instant> = notify
        .pings()
        .into_iter()
        .filter(|t| *t >= watched_from && *t <= watched_until)
        .collect();
    let mut marks = vec![watched_from];
    marks.extend(&pings);
    marks.push(watched_until);
    let longest = marks.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest < WATCHDOG,
        "{} pings; the longest silence was {longest:?}, past WATCHDOG_USEC ({WATCHDOG:?})",
        pings.len()
    );

    // The history tells the rollout: registered, progress, succeeded.
    let all = kinds(&events, None);
    assert_eq!(
        all.first().map(String::as_str),
        Some("registered"),
        "{all:?}"
    );
    assert_eq!(all.last().map(String::as_str), Some("succeeded"), "{all:?}");
    assert!(all.iter().any(|k| k == "progress"), "{all:?}");
    assert!(!all.iter().any(|k| k == "failed"), "{all:?}");
    let succeeded = event(&events, "succeeded", Some(commit.as_str())).expect("succeeded");
    let deployment = succeeded["deployment"].as_str().expect("deployment id");
    let nomad = sim_json(&sim, &format!("/v1/deployment/{deployment}")).await;
    assert_eq!(nomad["Status"], "successful", "{nomad}");
    // Its groups as the deployment ended: every allocation healthy, not the last progress seen.
    let groups = succeeded["groups"].as_array().expect("groups at the end");
    assert!(
        !groups.is_empty() && groups.iter().all(|g| g["healthy"] == g["desired"]),
        "{succeeded}"
    );

    // /status showed the rollout while it ran, and shows the job synced after it.
    // (Its deployment ID and progress there: see
    // status_shows_the_deployment_of_a_new_job_while_it_runs.)
    assert!(
        deploying,
        "/status showed web deploying, with its progress, during the rollout"
    );
    let job = until(
        "web synced in /status",
        Duration::from_secs(10),
        async || {
            daemon
                .job_status("web")
                .await
                .filter(|j| j["state"] == "synced")
        },
    )
    .await;
    assert_eq!(job["deployment_status"], "successful", "{job}");
    assert_eq!(job["version"], 0, "{job}");
    assert_eq!(sim.job("default", "web").unwrap()["Stable"], true);
}

/// `/status` shows the deployment of a new job while it runs: its ID and progress. Here the
/// pass that registered it ends late (another job's plan is answered three seconds late), after
/// the deployment's first progress was told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_deployment_of_a_new_job_while_it_runs() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "10m", false));
    repo.write("slow.nomad.hcl", &job_file("slow", "nginx:1", "1s", false));
    repo.commit("web and slow");
    sim.inject(
        Fault::new("/v1/job/slow/plan")
            .method("POST")
            .delay(Duration::from_secs(3))
            .times(1),
    );
    let text = config(&sim.url(), "", &source("apps", &repo, "1h", "*.nomad.hcl"));
    let daemon = Daemon::start(&text);
    let deployment = until(
        "web's deployment followed",
        Duration::from_secs(30),
        async || {
            let events = daemon.history("default", "web").await;
            let progress = event(&events, "progress", None)?;
            progress["deployment"].as_str().map(str::to_owned)
        },
    )
    .await;
    until(
        "the first pass finished",
        Duration::from_secs(30),
        async || {
            let source = daemon.source_status("apps").await?;
            (source["passes"].as_u64()? >= 1).then_some(())
        },
    )
    .await;
    let running = sim_json(&sim, &format!("/v1/deployment/{deployment}")).await;
    assert_eq!(running["Status"], "running", "{running}");
    let job = until(
        "/status showing web's deployment",
        Duration::from_secs(5),
        async || {
            let job = daemon.job_status("web").await?;
            (job["deployment_id"] == deployment.as_str()).then_some(job)
        },
    )
    .await;
    assert_eq!(job["state"], "deploying", "{job}");
    assert!(
        job["progress"]
            .as_str()
            .is_some_and(|p| p.contains("0/1 healthy")),
        "{job}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_committed_during_a_failing_rollout_supersedes_it() {
    const POLL: Duration = Duration::from_secs(2);
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let repo = Repo::new();
    // Fails after ten simulated minutes: far beyond this test, unless something waits for it.
    repo.write(
        "web.nomad.hcl",
        &job_file("web", "nginx:broken", "10m", true),
    );
    let bad = repo.commit("web, failing");
    let text = config(&sim.url(), "", &source("apps", &repo, "2s", "*.nomad.hcl"));
    let daemon = Daemon::start(&text);
    until(
        "the failing spec registered",
        Duration::from_secs(30),
        async || {
            let events = daemon.history("default", "web").await;
            event(&events, "registered", Some(bad.as_str())).map(|_| ())
        },
    )
    .await;
    let first = sim_json(&sim, "/v1/job/web/deployment").await;
    assert_eq!(first["Status"], "running", "{first}");
    let first_id = first["ID"].as_str().expect("deployment id").to_owned();

    // The scenario, not an assertion: the fix lands a second after the failing registration.
    tokio::time::sleep(Duration::from_secs(1)).await;
    repo.write("web.nomad.hcl", &job_file("web", "nginx:2", "2s", false));
    let fix = repo.commit("fix web");
    let committed = Instant::now();
    until(
        "the fix registered within a poll",
        POLL + Duration::from_secs(10),
        async || {
            let events = daemon.history("default", "web").await;
            event(&events, "registered", Some(fix.as_str())).map(|_| ())
        },
    )
    .await;
    eprintln!(
        "the fix was registered {:?} after its commit",
        committed.elapsed()
    );

    // Nomad cancelled the first deployment for the newer version: it had not failed yet.
    let first = sim_json(&sim, &format!("/v1/deployment/{first_id}")).await;
    assert_eq!(first["Status"], "cancelled", "{first}");
    assert!(
        first["StatusDescription"]
            .as_str()
            .is_some_and(|d| d.contains("newer version")),
        "{first}"
    );

    let events = until("the fix deployed", Duration::from_secs(30), async || {
        let events = daemon.history("default", "web").await;
        event(&events, "succeeded", Some(fix.as_str()))
            .is_some()
            .then_some(events)
    })
    .await;
    let old = kinds(&events, Some(bad.as_str()));
    assert_eq!(
        old.first().map(String::as_str),
        Some("registered"),
        "{old:?}"
    );
    assert_eq!(
        old.last().map(String::as_str),
        Some("superseded"),
        "{events:#?}"
    );
    assert!(!old.iter().any(|k| k == "failed"), "{old:?}");
    let superseded = event(&events, "superseded", Some(bad.as_str())).unwrap();
    assert_eq!(superseded["deployment"], first_id.as_str(), "{superseded}");
    let new = kinds(&events, Some(fix.as_str()));
    assert_eq!(
        new.first().map(String::as_str),
        Some("registered"),
        "{new:?}"
    );
    assert_eq!(new.last().map(String::as_str), Some("succeeded"), "{new:?}");
    assert!(!new.iter().any(|k| k == "failed" || k == "superseded"));

    // The job's page shows the fix's plan as `drover diff` prints it, changed lines marked.
    let (code, page) = daemon.get("/ui/jobs/default/web").await.expect("job page");
    assert_eq!(code, 200, "{page}");
    let head = format!(">{}</code> (version 1), ", &fix.as_str()[..7]);
    assert!(page.contains(&head), "{head} in {page}");
    let line = r#"<span class="diff-edit">      +/- image: &quot;nginx:broken&quot; =&gt; &quot;nginx:2&quot;</span>"#;
    assert!(page.contains(line), "{line} in {page}");

    // The fixed version runs, stable; its deployment succeeded.
    let live = sim.job("default", "web").expect("web");
    assert_eq!(live["Version"], 1, "{live}");
    assert_eq!(image(&live), "nginx:2");
    assert!(live["Meta"].get("sim.fail").is_none(), "{live}");
    assert_eq!(live["Stable"], true);
    let latest = sim_json(&sim, "/v1/job/web/deployment").await;
    assert_eq!(latest["Status"], "successful", "{latest}");
    assert_eq!(latest["JobVersion"], 1, "{latest}");
    let job = until(
        "web synced in /status",
        Duration::from_secs(10),
        async || {
            daemon
                .job_status("web")
                .await
                .filter(|j| j["state"] == "synced")
        },
    )
    .await;
    assert_eq!(job["applied_commit"], fix.as_str(), "{job}");
    assert!(known_bad_in_state(&daemon.state(), "apps", "web").is_empty());
}

/// v1 deployed, then v2 fails across a kill -9 of drover: while drover is down
/// (`fails_while_down`), or after drover started again and found it running.
async fn a_failing_deployment_across_a_kill_9(fails_while_down: bool) {
    // Ten simulated minutes until v2 fails: `Sim::advance` brings it on.
    const FAIL_AFTER: Duration = Duration::from_secs(600);
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "1s", false));
    let v1 = repo.commit("web v1");
    let text = config(&sim.url(), "", &source("apps", &repo, "1s", "*.nomad.hcl"));
    let mut daemon = Daemon::start(&text);
    until("v1 deployed", Duration::from_secs(30), async || {
        let events = daemon.history("default", "web").await;
        event(&events, "succeeded", Some(v1.as_str())).map(|_| ())
    })
    .await;
    assert_eq!(sim.job("default", "web").unwrap()["Stable"], true);

    repo.write("web.nomad.hcl", &job_file("web", "nginx:2", "10m", true));
    let v2 = repo.commit("web v2, failing");
    let deployment = followed_deployment(&daemon, "web", &v2).await;
    let live = sim.job("default", "web").unwrap();
    assert_eq!(live["Version"], 1);
    let bad = fingerprint(&live);
    // The pass that registered v2 has ended and saved it (a kill before that save is
    // a_deployment_that_failed_between_leaders_is_not_deployed_again's race).
    until(
        "v2 in the state file",
        Duration::from_secs(10),
        async || {
            let state = daemon.state();
            let record = &state["sources"]["apps"]["jobs"]["default/web"];
            (record["applied_fingerprint"] == bad.as_str()).then_some(())
        },
    )
    .await;
    daemon.kill9();
    let registered = registers(&sim);
    assert_eq!(registered, 2, "v1 and v2");

    let failed_deployment = async || {
        let d = sim_json(&sim, &format!("/v1/deployment/{deployment}")).await;
        (d["Status"] == "failed").then_some(d)
    };
    if fails_while_down {
        sim.advance(FAIL_AFTER + Duration::from_secs(60));
        let d = until(
            "v2's deployment failed",
            Duration::from_secs(10),
            failed_deployment,
        )
        .await;
        assert!(
            d["StatusDescription"]
                .as_str()
                .is_some_and(|s| s.contains("unhealthy")),
            "{d}"
        );
        assert_eq!(
            sim.job("default", "web").unwrap()["Version"],
            1,
            "nobody rolled back while drover was down"
        );
        daemon.restart();
    } else {
        daemon.restart();
        until(
            "the restarted drover following v2's deployment",
            Duration::from_secs(30),
            async || {
                let log = daemon.log();
                log.contains("following deployments found in flight")
                    .then_some(())
            },
        )
        .await;
        until(
            "the restarted drover's first pass",
            Duration::from_secs(30),
            async || {
                let source = daemon.source_status("apps").await?;
                (source["passes"].as_u64()? >= 1).then_some(())
            },
        )
        .await;
        let d = sim_json(&sim, &format!("/v1/deployment/{deployment}")).await;
        assert_eq!(
            d["Status"], "running",
            "still running when drover came back"
        );
        sim.advance(FAIL_AFTER + Duration::from_secs(60));
        until(
            "v2's deployment failed",
            Duration::from_secs(10),
            failed_deployment,
        )
        .await;
    }

    let events = until("v2 rolled back", Duration::from_secs(30), async || {
        let events = daemon.history("default", "web").await;
        event(&events, "rolled_back", Some(v2.as_str()))
            .is_some()
            .then_some(events)
    })
    .await;
    let after = kinds(&events, Some(v2.as_str()));
    let failed_at = after.iter().position(|k| k == "failed").expect("failed");
    let rolled_at = after.iter().position(|k| k == "rolled_back").unwrap();
    assert!(failed_at < rolled_at, "{after:?}");
    let failed = event(&events, "failed", Some(v2.as_str())).unwrap();
    assert_eq!(failed["deployment"], deployment.as_str(), "{failed}");
    let rolled = event(&events, "rolled_back", Some(v2.as_str())).unwrap();
    assert_eq!(rolled["version"], 0, "{rolled}");

    // Nomad runs v1's spec again, as a new version; v1 is the stable one.
    let live = sim.job("default", "web").unwrap();
    assert_eq!(live["Version"], 2, "a new version reverting to v1: {live}");
    assert_eq!(image(&live), "nginx:1");
    let all = versions(&sim, "web").await;
    let v0 = all.iter().find(|v| v["Version"] == 0).expect("v0");
    assert_eq!(v0["Stable"], true);
    let v1_version = all.iter().find(|v| v["Version"] == 1).expect("v1");
    assert_eq!(v1_version["Stable"], false);
    assert_eq!(count(&sim, "POST", "/v1/job/web/revert"), 1);

    // The failed spec is known-bad in the state file.
    let state = daemon.state();
    assert_eq!(known_bad_in_state(&state, "apps", "web"), vec![bad.clone()]);

    // The next pass (a commit that touches no job file) does not register v2's spec again.
    repo.write("README.md", "notes\n");
    let docs = repo.commit("docs");
    let job = until(
        "a pass at the docs commit, web blocked",
        Duration::from_secs(30),
        async || {
            let source = daemon.source_status("apps").await?;
            if source["last_fetched_commit"] != docs.as_str() {
                return None;
            }
            let jobs = source["jobs"].as_array()?;
            jobs.iter()
                .find(|j| j["id"] == "web" && j["state"] == "blocked")
                .cloned()
        },
    )
    .await;
    let why = job["last_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("failed to deploy before") && why.contains(&bad[..12]),
        "{job}"
    );
    assert_eq!(
        registers(&sim),
        registered,
        "v2's spec was not registered again"
    );
    assert_eq!(image(&sim.job("default", "web").unwrap()), "nginx:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_a_failing_deployment_is_followed_then_restart() {
    a_failing_deployment_across_a_kill_9(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_a_failing_deployment_follows_it_to_its_end() {
    a_failing_deployment_across_a_kill_9(false).await;
}

/// What lets a dead leader's lock go with `ttl = "10s"`: 2 × TTL, then the lock delay (see
/// tests/ha.rs).
const LAPSE: Duration = Duration::from_secs(31);

/// Waits until exactly one instance leads; its index. Panics on two leaders at once.
async fn one_leader(instances: &[&Daemon], within: Duration) -> usize {
    until("one leader", within, async || {
        let mut leaders = Vec::new();
        for (i, d) in instances.iter().enumerate() {
            if d.status().await.is_some_and(|s| s["role"] == "leader") {
                leaders.push(i);
            }
        }
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        leaders.first().copied()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_follows_the_deployment_in_flight_and_knows_the_bad_specs() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "1s", false));
    repo.write("api.nomad.hcl", &job_file("api", "api:1", "1s", false));
    let c1 = repo.commit("web and api");
    let rest = format!(
        "[ha]\nenabled = true\nttl = \"10s\"\n{}",
        source("apps", &repo, "2s", "*.nomad.hcl")
    );
    let text = config(&sim.url(), "", &rest);
    let mut all = vec![Daemon::start(&text), Daemon::start(&text)];
    let leader = one_leader(&[&all[0], &all[1]], Duration::from_secs(30)).await;
    for id in ["web", "api"] {
        until(
            "web and api deployed",
            Duration::from_secs(30),
            async || {
                let events = all[leader].history("default", id).await;
                event(&events, "succeeded", Some(c1.as_str())).map(|_| ())
            },
        )
        .await;
    }

    // api v2 fails under the first leader, which rolls it back and shares its fingerprint.
    repo.write("api.nomad.hcl", &job_file("api", "api:2", "1s", true));
    let c2 = repo.commit("api v2, failing");
    until("api v2 rolled back", Duration::from_secs(30), async || {
        let events = all[leader].history("default", "api").await;
        event(&events, "rolled_back", Some(c2.as_str())).map(|_| ())
    })
    .await;
    let api_versions = versions(&sim, "api").await;
    let api_v1 = api_versions.iter().find(|v| v["Version"] == 1).unwrap();
    let api_bad = fingerprint(api_v1);
    until(
        "api v2 shared as known-bad",
        Duration::from_secs(10),
        async || {
            let specs = shared_known_bad(&sim, "apps").await;
            specs
                .get("default/api")
                .is_some_and(|fps| fps.contains(&api_bad))
                .then_some(())
        },
    )
    .await;

    // web v2 fails too, but only after ten simulated minutes: the leader dies before.
    repo.write("web.nomad.hcl", &job_file("web", "nginx:2", "10m", true));
    let c3 = repo.commit("web v2, failing");
    let deployment = followed_deployment(&all[leader], "web", &c3).await;
    let web_bad = fingerprint(&sim.job("default", "web").unwrap());
    let mut dead = all.remove(leader);
    let survivor = &all[0];
    assert!(
        known_bad_in_state(&survivor.state(), "apps", "api").is_empty(),
        "the second instance's own state does not know api v2 failed"
    );
    dead.kill9();
    let registered = registers(&sim);

    // The lock lapses; the survivor leads and takes up the deployment in flight.
    sim.advance(LAPSE);
    assert_eq!(
        one_leader(&[survivor], Duration::from_secs(15)).await,
        0,
        "the survivor leads"
    );
    until(
        "the new leader following web's deployment",
        Duration::from_secs(30),
        async || {
            let events = survivor.history("default", "web").await;
            events
                .iter()
                .any(|e| e["kind"] == "progress" && e["deployment"] == deployment.as_str())
                .then_some(())
        },
    )
    .await;
    let running = sim_json(&sim, &format!("/v1/deployment/{deployment}")).await;
    assert_eq!(running["Status"], "running", "{running}");
    // Its first pass: api's failed spec, known only from the shared variable, is blocked.
    let api = until(
        "api blocked by the new leader",
        Duration::from_secs(30),
        async || {
            survivor
                .job_status("api")
                .await
                .filter(|j| j["state"] == "blocked")
        },
    )
    .await;
    assert!(
        api["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("failed to deploy before")),
        "{api}"
    );

    // web v2's deployment fails now (simulated time only: the lock lease runs on real time).
    sim.set_time_scale(1000.0);
    let events = until_event(
        survivor,
        "web",
        "rolled_back",
        None,
        Duration::from_secs(30),
    )
    .await;
    let failed = event(&events, "failed", None).expect("failed");
    assert_eq!(failed["deployment"], deployment.as_str(), "{failed}");
    let failed_deployment = sim_json(&sim, &format!("/v1/deployment/{deployment}")).await;
    assert_eq!(failed_deployment["Status"], "failed");
    until(
        "web running v1's spec",
        Duration::from_secs(10),
        async || {
            let live = sim.job("default", "web")?;
            (image(&live) == "nginx:1").then_some(())
        },
    )
    .await;
    until(
        "web v2 shared as known-bad",
        Duration::from_secs(10),
        async || {
            let specs = shared_known_bad(&sim, "apps").await;
            let web = specs.get("default/web")?;
            let api = specs.get("default/api")?;
            (web.contains(&web_bad) && api.contains(&api_bad)).then_some(())
        },
    )
    .await;
    assert!(known_bad_in_state(&survivor.state(), "apps", "web").contains(&web_bad));

    // Its next pass deploys neither failed spec.
    repo.write("README.md", "notes\n");
    let docs = repo.commit("docs");
    until(
        "a pass at the docs commit with both jobs blocked",
        Duration::from_secs(30),
        async || {
            let source = survivor.source_status("apps").await?;
            let jobs = source["jobs"].as_array()?;
            let blocked = |id: &str| {
                jobs.iter()
                    .any(|j| j["id"] == id && j["state"] == "blocked")
            };
            (source["last_fetched_commit"] == docs.as_str() && blocked("web") && blocked("api"))
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        registers(&sim),
        registered,
        "no registration since the first leader died"
    );
    assert_eq!(image(&sim.job("default", "api").unwrap()), "api:1");
    assert_eq!(image(&sim.job("default", "web").unwrap()), "nginx:1");
}

/// The deployment fails while no instance leads (between a kill -9 of the leader and the lapse
/// of its lock). The new leader's first pass, which knows the job only from its meta, and its
/// rollback of the failed deployment it finds run at the same time: the pass must not register
/// the spec that just failed. Nomad answers a little late (a busy cluster), in an order that
/// makes the pass decide before the rollback and plan after it every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_failed_between_leaders_is_not_deployed_again() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "1s", false));
    let c1 = repo.commit("web");
    let rest = format!(
        "[ha]\nenabled = true\nttl = \"10s\"\n{}",
        source("apps", &repo, "2s", "*.nomad.hcl")
    );
    let text = config(&sim.url(), "", &rest);
    let mut all = vec![Daemon::start(&text), Daemon::start(&text)];
    let leader = one_leader(&[&all[0], &all[1]], Duration::from_secs(30)).await;
    until("web deployed", Duration::from_secs(30), async || {
        let events = all[leader].history("default", "web").await;
        event(&events, "succeeded", Some(c1.as_str())).map(|_| ())
    })
    .await;

    // v2 fails twenty simulated seconds after it starts: within the leader gap below.
    repo.write("web.nomad.hcl", &job_file("web", "nginx:2", "20s", true));
    let c2 = repo.commit("web v2, failing");
    let deployment = followed_deployment(&all[leader], "web", &c2).await;
    let bad = fingerprint(&sim.job("default", "web").unwrap());
    let mut dead = all.remove(leader);
    dead.kill9();
    let survivor = &all[0];
    let registered = registers(&sim);
    // The rollback reads the job's versions a second late, the pass's plan three seconds late:
    // the pass decides before the rollback, and plans after it.
    sim.inject(
        Fault::new("/v1/job/web/versions")
            .method("GET")
            .delay(Duration::from_secs(1))
            .times(1),
    );
    sim.inject(
        Fault::new("/v1/job/web/plan")
            .method("POST")
            .delay(Duration::from_secs(3))
            .times(1),
    );
    sim.advance(LAPSE);
    let failed = sim_json(&sim, &format!("/v1/deployment/{deployment}")).await;
    assert_eq!(
        failed["Status"], "failed",
        "failed while nobody led: {failed}"
    );
    assert_eq!(
        one_leader(&[survivor], Duration::from_secs(15)).await,
        0,
        "the survivor leads"
    );

    let events = until_event(
        survivor,
        "web",
        "rolled_back",
        None,
        Duration::from_secs(30),
    )
    .await;
    let failed = event(&events, "failed", None).expect("failed");
    assert_eq!(failed["deployment"], deployment.as_str(), "{failed}");
    until(
        "web v2 shared as known-bad",
        Duration::from_secs(10),
        async || {
            let specs = shared_known_bad(&sim, "apps").await;
            specs.get("default/web")?.contains(&bad).then_some(())
        },
    )
    .await;
    // A later pass: the new leader's first one has ended by then.
    repo.write("README.md", "notes\n");
    let docs = repo.commit("docs");
    until(
        "a pass at the docs commit with web blocked",
        Duration::from_secs(30),
        async || {
            let source = survivor.source_status("apps").await?;
            let jobs = source["jobs"].as_array()?;
            let blocked = jobs
                .iter()
                .any(|j| j["id"] == "web" && j["state"] == "blocked");
            (source["last_fetched_commit"] == docs.as_str() && blocked).then_some(())
        },
    )
    .await;
    assert_eq!(
        registers(&sim),
        registered,
        "v2's spec registered again after its rollback: {:#?}",
        survivor.history("default", "web").await
    );
    let live = sim.job("default", "web").unwrap();
    assert_eq!(image(&live), "nginx:1", "{live}");
}

/// One request through the [`Proxy`]: when it arrived and when its answer left, and the job
/// it is about (parse, plan, register).
#[derive(Debug, Clone)]
struct Span {
    method: String,
    path: String,
    job: Option<String>,
    start: Instant,
    end: Instant,
}

#[derive(Default)]
struct ProxyLog {
    spans: Mutex<Vec<Span>>,
    registers: AtomicUsize,
    max_registers: AtomicUsize,
}

/// A recording HTTP proxy in front of the simulator, whose own request log has no timings:
/// every request's span (from its arrival to its answer leaving the proxy, within what the
/// client waits) and how many registrations were in flight at most.
struct Proxy {
    url: String,
    log: Arc<ProxyLog>,
}

impl Proxy {
    async fn start(upstream: &str) -> Self {
        // reqwest's TLS support is compiled in without a chosen crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No timeout: blocking queries pass through.
        let client = reqwest::Client::builder().build().expect("client");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let log = Arc::new(ProxyLog::default());
        let (upstream, shared) = (upstream.to_owned(), log.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (client, upstream, log) = (client.clone(), upstream.clone(), shared.clone());
                let service = hyper::service::service_fn(move |req| {
                    forward(req, client.clone(), upstream.clone(), log.clone())
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Self { url, log }
    }

    fn spans(&self) -> Vec<Span> {
        self.log.spans.lock().unwrap().clone()
    }

    fn max_registers_in_flight(&self) -> usize {
        self.log.max_registers.load(Ordering::SeqCst)
    }
}

async fn forward(
    req: hyper::Request<hyper::body::Incoming>,
    client: reqwest::Client,
    upstream: String,
    log: Arc<ProxyLog>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let register = parts.method == hyper::Method::POST && path == "/v1/jobs";
    if register {
        let now = log.registers.fetch_add(1, Ordering::SeqCst) + 1;
        log.max_registers.fetch_max(now, Ordering::SeqCst);
    }
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let job = job_of(parts.method.as_str(), &path, &body);
    let target = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let hop = |name: &str| {
        matches!(
            name,
            "host" | "content-length" | "connection" | "transfer-encoding"
        )
    };
    let mut request = client.request(parts.method.clone(), target).body(body);
    for (name, value) in &parts.headers {
        if !hop(name.as_str()) {
            request = request.header(name.clone(), value.clone());
        }
    }
    let response = match request.send().await {
        Ok(answer) => {
            let mut response = hyper::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if !hop(name.as_str()) {
                    response = response.header(name.clone(), value.clone());
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            response.body(Full::new(bytes)).expect("response")
        }
        Err(e) => {
            let mut response = hyper::Response::new(Full::new(Bytes::from(e.to_string())));
            *response.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            response
        }
    };
    if register {
        log.registers.fetch_sub(1, Ordering::SeqCst);
    }
    log.spans.lock().unwrap().push(Span {
        method: parts.method.to_string(),
        path,
        job,
        start,
        end: Instant::now(),
    });
    Ok(response)
}

/// The job a parse, plan or register request is about.
fn job_of(method: &str, path: &str, body: &[u8]) -> Option<String> {
    if method != "POST" {
        return None;
    }
    if let Some(rest) = path.strip_prefix("/v1/job/") {
        return rest.strip_suffix("/plan").map(str::to_owned);
    }
    let json: Value = serde_json::from_slice(body).ok()?;
    match path {
        "/v1/jobs/parse" => {
            let hcl = json["JobHCL"].as_str()?;
            let (_, after) = hcl.split_once("job \"")?;
            after.split('"').next().map(str::to_owned)
        }
        "/v1/jobs" => json["Job"]["ID"].as_str().map(str::to_owned),
        _ => None,
    }
}

/// The most intervals that hold one instant together.
fn max_overlap(intervals: &[(Instant, Instant)]) -> usize {
    let mut edges: Vec<(Instant, i32)> = intervals
        .iter()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    // At one instant, an end before a start: touching intervals do not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sources_share_one_limit_on_the_cluster() {
    const JOBS: usize = 6;
    // 50 ms a request: each job's parse, plan and register take long enough to overlap.
    let sim = Sim::builder()
        .time_scale(1000.0)
        .latency(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let proxy = Proxy::start(&sim.url()).await;
    let repo = Repo::new();
    let mut ids = Vec::new();
    for i in 0..JOBS {
        for prefix in ["a", "b"] {
            let id = format!("{prefix}{i}");
            let dir = if prefix == "a" { "alpha" } else { "beta" };
            repo.write(
                &format!("{dir}/{id}.nomad.hcl"),
                &job_file(&id, "nginx:1", "1s", false),
            );
            ids.push(id);
        }
    }
    repo.commit("six jobs for each source");
    let sources = source("alpha", &repo, "1h", "alpha/*.nomad.hcl")
        + &source("beta", &repo, "1h", "beta/*.nomad.hcl");
    let text = config(&proxy.url, "max_parallel = 2", &sources);
    let daemon = Daemon::start(&text);

    until(
        "every job registered",
        Duration::from_secs(60),
        async || {
            ids.iter()
                .all(|id| sim.job("default", id).is_some())
                .then_some(())
        },
    )
    .await;
    until(
        "every job in /status",
        Duration::from_secs(30),
        async || {
            for id in &ids {
                let job = daemon.job_status(id).await?;
                if !(job["state"] == "synced" || job["state"] == "deploying") {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    let spans = proxy.spans();
    let mut work: BTreeMap<String, (Instant, Instant)> = BTreeMap::new();
    for span in &spans {
        let Some(job) = &span.job else { continue };
        let entry = work.entry(job.clone()).or_insert((span.start, span.end));
        entry.0 = entry.0.min(span.start);
        entry.1 = entry.1.max(span.end);
    }
    let register_spans = spans
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/v1/jobs")
        .count();
    assert_eq!(register_spans, 2 * JOBS, "each job registered once");
    assert_eq!(work.len(), 2 * JOBS, "{:?}", work.keys());

    let max_registers = proxy.max_registers_in_flight();
    let intervals: Vec<(Instant, Instant)> = work.values().copied().collect();
    let most = max_overlap(&intervals);
    eprintln!(
        "registers in flight at most: {max_registers}; jobs worked on at once at most: {most}"
    );
    assert!(max_registers <= 2, "{max_registers} registrations at once");
    assert!(
        most <= 2,
        "{most} jobs parsed, planned or registered at once"
    );
    // The bound was reached, while both sources' passes ran: a bound per source would have
    // let up to four jobs through at once.
    assert_eq!(most, 2, "the jobs' work overlapped up to the bound");
    let span_of = |prefix: &str| {
        let of_source = work.iter().filter(|(id, _)| id.starts_with(prefix));
        let (starts, ends): (Vec<Instant>, Vec<Instant>) = of_source.map(|(_, i)| *i).unzip();
        (*starts.iter().min().unwrap(), *ends.iter().max().unwrap())
    };
    let (alpha, beta) = (span_of("a"), span_of("b"));
    assert!(
        alpha.0 < beta.1 && beta.0 < alpha.1,
        "the two sources' passes applied at the same time"
    );
}

/// Nomad unreachable while a deployment is followed (every connection refused on arrival, for
/// longer than the client's retries), and the deployment ends meanwhile: the follower keeps
/// it, `/healthz` stays 200 (a query that fails is progress, not a hang), `/readyz` names the
/// follower and why, and once Nomad answers again the end is recorded, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nomad_unreachable_while_a_deployment_is_followed() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "1h", false));
    repo.commit("web");
    let text = config(&sim.url(), "", &source("apps", &repo, "1h", "*.nomad.hcl"));
    let daemon = Daemon::start(&text);
    until_event(&daemon, "web", "progress", None, Duration::from_secs(30)).await;

    sim.inject(Fault::new(".*").drop_connection());
    sim.advance(Duration::from_secs(3600));
    let reasons = until(
        "/readyz says Nomad cannot be reached",
        Duration::from_secs(30),
        async || match daemon.get("/readyz").await {
            Some((503, body)) if body.contains("cannot reach Nomad") => Some(body),
            _ => None,
        },
    )
    .await;
    assert!(
        reasons.contains("the deployment follower of cluster default cannot reach Nomad"),
        "{reasons}"
    );
    for _ in 0..10 {
        let (code, body) = daemon.get("/healthz").await.expect("/healthz answers");
        assert_eq!(code, 200, "Nomad unreachable is not a hang: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let events = daemon.history("default", "web").await;
    assert!(
        event(&events, "succeeded", None).is_none(),
        "nothing decided from an error"
    );

    sim.clear_faults();
    let events = until("the end recorded", Duration::from_secs(60), async || {
        let events = daemon.history("default", "web").await;
        event(&events, "succeeded", None).map(|_| events.clone())
    })
    .await;
    let ends = kinds(&events, None)
        .iter()
        .filter(|k| ["succeeded", "failed", "superseded"].contains(&k.as_str()))
        .count();
    assert_eq!(ends, 1, "{events:?}");
    until("ready again", Duration::from_secs(30), async || {
        matches!(daemon.get("/readyz").await, Some((200, _))).then_some(())
    })
    .await;
}
