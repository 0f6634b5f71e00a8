//! drover as a Nomad task: over the Task API socket, with the workload identity of its job as
//! the token, its capabilities those of the ACL policy attached to the job.

mod common;
mod git;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::daemon::{Daemon, until};
use common::sim::cluster;
use drover::config::Secret;
use drover::nomad::Client;
use git::repo::Repo;
use git::world::job_file;
use nomad_sim::Sim;
use serde_json::json;

const ROOT: &str = "root-secret";

/// The rules of `deploy/nomad/drover.policy.hcl`: what drover needs, and no more.
const RULES: &str = r#"
namespace "default" {
  capabilities = ["list-jobs", "read-job", "parse-job", "submit-job"]
  variables {
    path "drover/*" {
      capabilities = ["read", "write", "destroy", "list"]
    }
  }
}
agent {
  policy = "read"
}
"#;

const READ_ONLY: &str = r#"namespace "default" { policy = "read" }"#;

/// A simulator with ACLs and a Task API socket in `dir`, the policy `rules` attached to the
/// job `drover`, and an identity of that job.
async fn cluster_with_identity(dir: &Path, rules: &str) -> (Sim, String) {
    let sim = Sim::builder()
        .acl_bootstrap_token(ROOT)
        .unix_socket(dir.join("api.sock"))
        .start()
        .await
        .expect("sim");
    let mut management = cluster(&sim.url());
    management.token = Some(Secret::value(ROOT));
    let policy = json!({
        "Name": "drover-self", "Description": "", "Rules": rules,
        "JobACL": {"Namespace": "default", "JobID": "drover"},
    });
    Client::new(&management)
        .expect("client")
        .put_acl_policy("drover-self", &policy)
        .await
        .expect("policy");
    let token = sim.workload_identity("default", "drover");
    (sim, token)
}

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1"));
    repo.commit("web");
    repo
}

/// The `[nomad]` and `[[source]]` tables of a drover running as the job's task.
fn task_config(sim: &Sim, token_file: &Path, repo: &Repo, poll: &str) -> String {
    format!(
        "[nomad]\naddress = \"{}\"\ntoken_file = \"{}\"\nretry_min_delay = \"10ms\"\n\
         retry_max_delay = \"50ms\"\n\
         [[source]]\nname = \"apps\"\nurl = \"{}\"\npaths = [\"*.nomad.hcl\"]\npoll = \"{poll}\"\n",
        sim.socket_url().expect("socket"),
        token_file.display(),
        repo.path().display()
    )
}

/// Writes the token as Nomad does: a new file in place of the old one.
fn write_token(path: &Path, token: &str) {
    let next = path.with_extension("new");
    std::fs::write(&next, token).expect("token");
    std::fs::rename(&next, path).expect("rename");
}

/// `drover sync --once` with `config` (plus a state directory), in a blocking thread so that
/// the simulator keeps answering.
async fn sync_once(dir: &Path, config: &str) -> (Option<i32>, String) {
    let path: PathBuf = dir.join("drover.toml");
    let state = dir.join("state");
    std::fs::write(
        &path,
        format!("{config}\n[state]\ndir = \"{}\"\n", state.display()),
    )
    .expect("config");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["sync", "--once", "--config"])
            .arg(&path)
            .output()
            .expect("drover runs")
    })
    .await
    .expect("join");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_over_the_task_api_socket_with_the_jobs_identity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, token) = cluster_with_identity(dir.path(), RULES).await;
    let token_file = dir.path().join("nomad_token");
    write_token(&token_file, &token);
    let repo = repo();

    let (code, out) = sync_once(dir.path(), &task_config(&sim, &token_file, &repo, "1h")).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(sim.job("default", "web").is_some(), "{out}");
    assert!(
        sim.requests().iter().any(|r| r.path == "/v1/jobs"),
        "the socket answered the pass"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capability_the_policy_lacks_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, token) = cluster_with_identity(dir.path(), READ_ONLY).await;
    let token_file = dir.path().join("nomad_token");
    write_token(&token_file, &token);
    let repo = repo();

    let (code, out) = sync_once(dir.path(), &task_config(&sim, &token_file, &repo, "1h")).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("permission denied") && out.contains("needs submit-job in namespace default"),
        "{out}"
    );
    assert!(sim.job("default", "web").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_api_socket_refuses_a_request_without_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, _) = cluster_with_identity(dir.path(), RULES).await;
    let mut settings = cluster(&sim.socket_url().expect("socket"));
    settings.retry.max_retries = 0;
    let err = Client::new(&settings)
        .expect("client")
        .agent_self()
        .await
        .expect_err("no token");
    assert_eq!(err.kind(), "permission_denied", "{err}");
    assert!(err.to_string().contains("Unauthorized"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_identity_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, first) = cluster_with_identity(dir.path(), RULES).await;
    let token_file = dir.path().join("nomad_token");
    write_token(&token_file, &first);
    let repo = repo();
    let daemon = Daemon::start(&task_config(&sim, &token_file, &repo, "1s"));
    until("the first pass", Duration::from_secs(30), async || {
        sim.job("default", "web").map(drop)
    })
    .await;

    // Nomad signs a new identity and writes it over the file; the old one then expires.
    let renewed = sim.workload_identity("default", "drover");
    write_token(&token_file, &renewed);
    assert!(sim.expire_identity(&first));
    repo.write("web.nomad.hcl", &job_file("web", "nginx:2"));
    repo.commit("nginx 2");

    until(
        "a pass with the renewed identity",
        Duration::from_secs(30),
        async || {
            let job = sim.job("default", "web")?;
            (job["TaskGroups"][0]["Tasks"][0]["Config"]["image"] == "nginx:2").then_some(())
        },
    )
    .await;
    assert!(
        !daemon.log().contains("permission denied"),
        "{}",
        daemon.log()
    );
}
