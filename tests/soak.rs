//! Chaos soak: `drover run` against the simulator while a seeded sequence of commits lands
//! (new, edited, removed jobs; comment-only edits; var-file changes; a broken file fixed two
//! commits later; a force-push), the simulator injects faults (5xx, no leader, dropped
//! connections, latency spikes, a person changing a job by hand) and drover is killed with
//! SIGKILL at random moments and started again. At the end DESIGN.md's invariants are checked
//! against the simulator's jobs, evaluations and request log, the state file and the logs.
//!
//! `DROVER_SOAK_COMMITS` (default 50) and `DROVER_SOAK_SEED` (default 7) make longer or other
//! runs: `DROVER_SOAK_COMMITS=500 cargo test --release --test soak -- --nocapture`.

mod common;
mod git;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::local;
use git::repo::Repo;
use nomad_sim::{Fault, Sim};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const NOMAD_TOKEN: &str = "soak-nomad-token-3f9c1e";
const WEBHOOK_SECRET: &str = "soak-webhook-secret-8d2b7a";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What Git says about one job.
#[derive(Clone, Debug)]
struct Spec {
    image: String,
    uses_var: bool,
    comment: u32,
}

fn job_file(id: &str, spec: &Spec) -> String {
    let (decl, image) = if spec.uses_var {
        (
            "variable \"tag\" {\n  type = string\n}\n".to_owned(),
            format!("{}:${{var.tag}}", spec.image),
        )
    } else {
        (String::new(), spec.image.clone())
    };
    format!(
        "# revision note {}\n{decl}job \"{id}\" {{\n  datacenters = [\"dc1\"]\n  group \"app\" {{\n    \
         update {{\n      max_parallel     = 1\n      min_healthy_time = \"1s\"\n    }}\n    \
         task \"app\" {{\n      driver = \"docker\"\n      config {{\n        image = \"{image}\"\n      }}\n    }}\n  }}\n}}\n",
        spec.comment
    )
}

/// The jobs repository and the truth it holds.
struct Git {
    repo: Repo,
    jobs: BTreeMap<String, Spec>,
    tag: u32,
    broken: Option<(String, u32)>,
    removed: BTreeSet<String>,
    next_id: u32,
}

impl Git {
    fn new() -> Self {
        let mut git = Self {
            repo: Repo::new(),
            jobs: BTreeMap::new(),
            tag: 1,
            broken: None,
            removed: BTreeSet::new(),
            next_id: 0,
        };
        for i in 0..6 {
            git.add(i % 2 == 0);
        }
        git.repo.write("vars.hcl", "tag = \"1\"\n");
        git.write_all();
        git.repo.commit("initial jobs");
        git
    }

    fn add(&mut self, uses_var: bool) {
        let id = format!("j{}", self.next_id);
        self.next_id += 1;
        self.jobs.insert(
            id,
            Spec {
                image: "nginx".into(),
                uses_var,
                comment: 0,
            },
        );
    }

    fn write_all(&self) {
        for (id, spec) in &self.jobs {
            if self.broken.as_ref().is_none_or(|(b, _)| b != id) {
                self.repo
                    .write(&format!("jobs/{id}.nomad.hcl"), &job_file(id, spec));
            }
        }
    }

    /// One random commit; returns what it did.
    fn step(&mut self, rng: &mut StdRng, n: u32) -> &'static str {
        if let Some((id, fix_at)) = self.broken.clone()
            && n >= fix_at
        {
            self.broken = None;
            self.repo.write(
                &format!("jobs/{id}.nomad.hcl"),
                &job_file(&id, &self.jobs[&id]),
            );
            self.repo.commit("fix the broken file");
            return "fix";
        }
        let ids: Vec<String> = self
            .jobs
            .keys()
            .filter(|id| self.broken.as_ref().is_none_or(|(b, _)| b != *id))
            .cloned()
            .collect();
        let pick = |rng: &mut StdRng| ids[rng.random_range(0..ids.len())].clone();
        let what = match rng.random_range(0..100) {
            0..25 => {
                let id = pick(rng);
                let spec = self.jobs.get_mut(&id).expect("job");
                spec.image = format!("nginx-{n}");
                "edit"
            }
            25..40 => {
                self.add(rng.random_bool(0.5));
                "add"
            }
            40..50 if ids.len() > 3 => {
                let id = pick(rng);
                self.jobs.remove(&id);
                self.repo.remove(&format!("jobs/{id}.nomad.hcl"));
                self.removed.insert(id);
                "remove"
            }
            50..65 => {
                let id = pick(rng);
                self.jobs.get_mut(&id).expect("job").comment += 1;
                "comment"
            }
            65..78 => {
                self.tag += 1;
                self.repo
                    .write("vars.hcl", &format!("tag = \"{}\"\n", self.tag));
                "var-file"
            }
            78..86 if self.broken.is_none() => {
                let id = pick(rng);
                self.repo.write(
                    &format!("jobs/{id}.nomad.hcl"),
                    &format!("job \"{id}\" {{\n  group \"app\" {{\n    count = \n"),
                );
                self.broken = Some((id, n + 2));
                "break"
            }
            86..92 => return self.force_push(n),
            _ => {
                let id = pick(rng);
                self.jobs.get_mut(&id).expect("job").image = format!("nginx-{n}");
                "edit"
            }
        };
        self.write_all();
        self.repo.commit(what);
        what
    }

    /// Rewrites the last commit: the same work tree committed again with another message.
    fn force_push(&mut self, n: u32) -> &'static str {
        self.repo.git(&["reset", "-q", "--soft", "HEAD~1"]);
        self.write_all();
        self.repo.commit(&format!("rewritten at step {n}"));
        "force-push"
    }

    /// The image Git says a job runs.
    fn image(&self, id: &str) -> String {
        let spec = &self.jobs[id];
        if spec.uses_var {
            format!("{}:{}", spec.image, self.tag)
        } else {
            spec.image.clone()
        }
    }
}

struct Drover {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
    addr: String,
    restarts: u32,
}

impl Drover {
    fn new(dir: &Path, sim: &Sim, repo: &Repo) -> Self {
        let port = local::free_port();
        std::fs::write(dir.join("nomad-token"), NOMAD_TOKEN).unwrap();
        std::fs::write(dir.join("webhook-secret"), WEBHOOK_SECRET).unwrap();
        let text = format!(
            "[nomad]\naddress = \"{}\"\ntoken_file = \"nomad-token\"\nretry_min_delay = \"10ms\"\nretry_max_delay = \"100ms\"\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\nwebhook_secret_file = \"webhook-secret\"\n\
             [state]\ndir = \"state\"\n[sync]\ndrift_interval = \"2s\"\nshutdown_timeout = \"5s\"\n\
             [[source]]\nname = \"soak\"\nurl = \"{}\"\npaths = [\"jobs/*.nomad.hcl\"]\nvar_files = [\"vars.hcl\"]\n\
             poll = \"1s\"\nprune = true\nmax_prune_fraction = 1.0\nself_heal = true\n",
            sim.url(),
            repo.path().display()
        );
        let config = dir.join("drover.toml");
        std::fs::write(&config, text).unwrap();
        let mut d = Self {
            child: None,
            config,
            log: dir.join("drover.log"),
            addr: format!("http://127.0.0.1:{port}"),
            restarts: 0,
        };
        d.start();
        d
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["run", "--config"])
            .arg(&self.config)
            .env(
                "DROVER_LOG",
                "debug,hyper=info,reqwest=info,h2=info,gix=info,globset=info",
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("drover run starts");
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.restarts += 1;
        self.start();
    }

    async fn status(&self) -> Option<Value> {
        let url = format!("{}/status", self.addr);
        tokio::task::spawn_blocking(move || local::get_json(&url))
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Drover {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A fault for the next few requests, by kind.
fn inject(sim: &Sim, git: &Git, rng: &mut StdRng, n: u32) -> &'static str {
    match rng.random_range(0..7) {
        0 => {
            sim.inject(
                Fault::new("/v1/job/.*/plan")
                    .status(500, "rpc error: EOF")
                    .times(2),
            );
            "5xx"
        }
        1 => {
            sim.inject(Fault::new("/v1/jobs").method("GET").no_leader().times(2));
            "no-leader"
        }
        2 => {
            sim.inject(
                Fault::new("/v1/jobs")
                    .method("POST")
                    .drop_connection()
                    .times(1),
            );
            "dropped-connection"
        }
        3 => {
            sim.inject(
                Fault::new("/v1/.*")
                    .delay(Duration::from_millis(300))
                    .times(3),
            );
            "latency-spike"
        }
        4 => {
            let live: Vec<&String> = git
                .jobs
                .keys()
                .filter(|id| sim.job("default", id).is_some())
                .collect();
            if live.is_empty() {
                return "none";
            }
            let id = live[rng.random_range(0..live.len())];
            // Always a real change, so every evaluation it makes belongs to a new version.
            sim.edit_job("default", id, |j| {
                j["Meta"]["edited-by"] = format!("a person at step {n}").into()
            });
            "edited-by-hand"
        }
        _ => "none",
    }
}

/// Waits until drover has fetched `head` (and, with `converged`, synced it).
async fn wait_for(drover: &Drover, head: &str, converged: bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(doc) = drover.status().await {
            let source = &doc["sources"][0];
            let key = if converged {
                "last_synced_commit"
            } else {
                "last_fetched_commit"
            };
            if source[key] == head {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariants_hold_under_faults_and_kills() {
    let commits = env_number("DROVER_SOAK_COMMITS", 50) as u32;
    let mut rng = StdRng::seed_from_u64(env_number("DROVER_SOAK_SEED", 7));
    let sim = Sim::builder()
        .time_scale(1000.0)
        .start()
        .await
        .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut git = Git::new();
    let mut drover = Drover::new(dir.path(), &sim, &git.repo);
    let mut faults: BTreeMap<&str, u32> = BTreeMap::new();
    let mut steps: BTreeMap<&str, u32> = BTreeMap::new();
    let started = Instant::now();
    for n in 1..=commits {
        *steps.entry(git.step(&mut rng, n)).or_default() += 1;
        *faults.entry(inject(&sim, &git, &mut rng, n)).or_default() += 1;
        if n % 9 == 4 || rng.random_bool(0.05) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
            drover.kill9();
        }
        wait_for(&drover, &git.repo.head(), false, Duration::from_secs(10)).await;
    }
    sim.clear_faults();
    // A last commit after the faults, so the final pass starts from a clean slate.
    git.step(&mut rng, commits + 3);
    let converged = wait_for(&drover, &git.repo.head(), true, Duration::from_secs(60)).await;
    let log = std::fs::read_to_string(&drover.log).unwrap_or_default();
    assert!(
        converged,
        "drover never converged on the last commit\n{}",
        &log[log.len().saturating_sub(4000)..]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut checks = 0;
    // Every live job equals what Git says at the final commit.
    for id in git.jobs.keys() {
        let live = sim
            .job("default", id)
            .unwrap_or_else(|| panic!("{id} is in Git but not in Nomad"));
        assert_eq!(live["Stop"], false, "{id} is stopped");
        assert_eq!(
            live["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
            git.image(id).as_str(),
            "{id}"
        );
        assert!(
            live["Meta"].get("edited-by").is_none(),
            "{id}: a change made by hand was not put back"
        );
        checks += 1;
    }
    // Nothing deregistered that Git did not remove; everything Git removed is stopped.
    for r in sim.requests().iter().filter(|r| r.method == "DELETE") {
        let id = r.path.trim_start_matches("/v1/job/");
        assert!(
            git.removed.contains(id),
            "{id} was deregistered but Git never removed it"
        );
        checks += 1;
    }
    for id in &git.removed {
        if let Some(live) = sim.job("default", id) {
            assert_eq!(live["Stop"], true, "{id} left Git but still runs");
        }
        checks += 1;
    }
    // No job registered twice for the same inputs: two register evaluations never share the
    // JobModifyIndex they saw (an unchanged re-register makes an evaluation, not a version).
    let api = format!("{}/v1/job", sim.url());
    for id in git.jobs.keys() {
        let evals = local::get_json(&format!("{api}/{id}/evaluations")).expect("evaluations");
        let mut seen = BTreeSet::new();
        for e in evals
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["TriggeredBy"] == "job-register")
        {
            assert!(
                seen.insert(e["JobModifyIndex"].as_u64()),
                "{id} was registered twice with the same spec: {e}"
            );
        }
        checks += 1;
    }
    // The state file matches Nomad.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/state.json")).expect("state"),
    )
    .expect("JSON");
    let records = &state["sources"]["soak"]["jobs"];
    for id in git.jobs.keys() {
        let live = sim.job("default", id).expect("live");
        let record = &records[format!("default/{id}")];
        assert_eq!(
            record["applied_commit"], live["Meta"]["drover.commit"],
            "{id}: state and Nomad disagree"
        );
        checks += 1;
    }
    // No secret in any log line.
    for secret in [NOMAD_TOKEN, WEBHOOK_SECRET] {
        assert!(!log.contains(secret), "a secret reached the log");
        checks += 1;
    }
    let injected: u32 = faults
        .iter()
        .filter(|(k, _)| **k != "none")
        .map(|(_, v)| v)
        .sum();
    println!(
        "soak: {commits} commits {steps:?}, {injected} faults {faults:?}, {} restarts, {checks} invariant checks passed, {:?}",
        drover.restarts,
        started.elapsed()
    );
    assert!(drover.restarts >= 5, "at least five restarts");
}
