//! Chaos soak: `drover run` against the simulator while a seeded sequence of commits lands
//! (new, edited, removed jobs; comment-only edits; var-file changes; a broken file fixed two
//! commits later; a spec whose deployment fails, fixed two commits later; a force-push), the
//! simulator injects faults (5xx, no leader, dropped connections, latency spikes, a person
//! changing a job by hand) and drover is killed with SIGKILL at random moments and started
//! again. Some jobs deploy slowly ([`SLOW`]): their deployments outlive the pass that
//! registered them by several polls, run across kills, and are superseded when the next commit
//! changes the job again. An epilogue without faults then plays each way a deployment ends
//! once, in an order whose outcome is known: a slow deployment superseded by the next commit,
//! a slow one that fails (rolled back, its spec blocked until a fix), one stopped by a prune,
//! a failing one superseded by its fix before it fails, and one that ends while drover is
//! down.
//!
//! At the end the invariants in docs/architecture.md, and what following deployments adds to
//! them, are checked against the simulator's jobs, job versions, evaluations, deployments and
//! request log, drover's job histories (`/status/jobs/...`) and `/status`, the state file and
//! the logs.
//!
//! `DROVER_SOAK_COMMITS` (default 50) and `DROVER_SOAK_SEED` (default 7) make longer or other
//! runs: `DROVER_SOAK_COMMITS=500 cargo test --release --test soak -- --nocapture`.

mod common;
mod git;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::until;
use common::local;
use git::repo::Repo;
use nomad_sim::{Fault, Sim};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const NOMAD_TOKEN: &str = "soak-nomad-token-3f9c1e";
const WEBHOOK_SECRET: &str = "soak-webhook-secret-8d2b7a";
/// A slow job's `min_healthy_time`: 40 minutes of the simulator's time, 2.4 s at its time
/// scale of 1,000. drover polls every second and a pass takes a fraction of one.
const SLOW: &str = "40m";
/// The events that end a deployment drover followed.
const ENDS: [&str; 3] = ["succeeded", "failed", "superseded"];

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
    /// Deploys in [`SLOW`] instead of a simulated second.
    slow: bool,
    /// Its deployment fails (`sim.fail`, after the same time).
    fails: bool,
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
    let meta = if spec.fails {
        "  meta = { \"sim.fail\" = \"true\" }\n"
    } else {
        ""
    };
    let min_healthy = if spec.slow { SLOW } else { "1s" };
    format!(
        "# revision note {}\n{decl}job \"{id}\" {{\n  datacenters = [\"dc1\"]\n{meta}  group \"app\" {{\n    \
         update {{\n      max_parallel      = 1\n      min_healthy_time  = \"{min_healthy}\"\n      \
         healthy_deadline  = \"1h\"\n      progress_deadline = \"2h\"\n    }}\n    \
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
    /// A job whose spec fails to deploy, and the step that fixes it.
    failing: Option<(String, u32)>,
    /// The slow job the last step changed: a slow edit changes it again while it deploys.
    last_slow: Option<String>,
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
            failing: None,
            last_slow: None,
            removed: BTreeSet::new(),
            next_id: 0,
        };
        for i in 0..6 {
            git.add(i % 2 == 0, i % 3 == 1);
        }
        git.repo.write("vars.hcl", "tag = \"1\"\n");
        git.write_all();
        git.repo.commit("initial jobs");
        git
    }

    fn add(&mut self, uses_var: bool, slow: bool) {
        let id = format!("j{}", self.next_id);
        self.next_id += 1;
        self.jobs.insert(
            id,
            Spec {
                image: "nginx".into(),
                uses_var,
                comment: 0,
                slow,
                fails: false,
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

    /// A new image for `id`, remembered when the job is slow.
    fn edit(&mut self, id: &str, n: u32) {
        let spec = self.jobs.get_mut(id).expect("job");
        spec.image = format!("nginx-{n}");
        if spec.slow {
            self.last_slow = Some(id.to_owned());
        }
    }

    fn remove(&mut self, id: &str) {
        self.jobs.remove(id);
        self.repo.remove(&format!("jobs/{id}.nomad.hcl"));
        self.removed.insert(id.to_owned());
    }

    /// Changes one job's spec and commits; returns the commit.
    fn change(&mut self, id: &str, message: &str, change: impl FnOnce(&mut Spec)) -> String {
        change(self.jobs.get_mut(id).expect("job"));
        self.write_all();
        self.repo.commit(message)
    }

    /// At step `n`, fixes the broken file or the failing spec if its step has come; returns
    /// what it did.
    fn fix_due(&mut self, n: u32) -> Option<&'static str> {
        if let Some((id, fix_at)) = self.broken.clone()
            && n >= fix_at
        {
            self.broken = None;
            self.change(&id, "fix the broken file", |_| {});
            return Some("fix");
        }
        if let Some((id, fix_at)) = self.failing.clone()
            && n >= fix_at
        {
            self.failing = None;
            self.change(&id, "fix the failing spec", |spec| {
                spec.fails = false;
                spec.image = format!("nginx-{n}");
            });
            return Some("fix-failure");
        }
        None
    }

    /// One random commit; returns what it did.
    fn step(&mut self, rng: &mut StdRng, n: u32) -> &'static str {
        if let Some(fixed) = self.fix_due(n) {
            return fixed;
        }
        let last_slow = self.last_slow.take();
        let ids: Vec<String> = self
            .jobs
            .keys()
            .filter(|id| self.broken.as_ref().is_none_or(|(b, _)| b != *id))
            .filter(|id| self.failing.as_ref().is_none_or(|(f, _)| f != *id))
            .cloned()
            .collect();
        let pick =
            |rng: &mut StdRng, among: &[String]| among[rng.random_range(0..among.len())].clone();
        let slow: Vec<String> = ids
            .iter()
            .filter(|id| self.jobs[*id].slow)
            .cloned()
            .collect();
        let what = match rng.random_range(0..100) {
            0..20 => {
                let id = pick(rng, &ids);
                self.edit(&id, n);
                "edit"
            }
            20..32 => {
                self.add(rng.random_bool(0.5), rng.random_bool(0.3));
                "add"
            }
            32..40 if ids.len() > 3 => {
                let id = pick(rng, &ids);
                self.remove(&id);
                "remove"
            }
            40..52 => {
                let id = pick(rng, &ids);
                self.jobs.get_mut(&id).expect("job").comment += 1;
                "comment"
            }
            52..62 => {
                self.tag += 1;
                self.repo
                    .write("vars.hcl", &format!("tag = \"{}\"\n", self.tag));
                "var-file"
            }
            62..70 if self.broken.is_none() => {
                let id = pick(rng, &ids);
                self.repo.write(
                    &format!("jobs/{id}.nomad.hcl"),
                    &format!("job \"{id}\" {{\n  group \"app\" {{\n    count = \n"),
                );
                self.broken = Some((id, n + 2));
                "break"
            }
            70..77 if self.failing.is_none() => {
                let id = pick(rng, &ids);
                let spec = self.jobs.get_mut(&id).expect("job");
                spec.fails = true;
                spec.image = format!("nginx-bad-{n}");
                self.failing = Some((id, n + 2));
                "fail"
            }
            // The first step's commit has no parent to rewrite onto.
            77..83 if n > 1 => return self.force_push(n),
            83..100 if !slow.is_empty() => {
                // The slow job changed last most likely still deploys: this supersedes it.
                let again = last_slow.filter(|id| slow.contains(id));
                let what = if again.is_some() {
                    "supersede"
                } else {
                    "slow-edit"
                };
                let id = again.unwrap_or_else(|| pick(rng, &slow));
                self.edit(&id, n);
                what
            }
            _ => {
                let id = pick(rng, &ids);
                self.edit(&id, n);
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

    /// Every job Git ever had.
    fn all_ids(&self) -> BTreeSet<String> {
        self.jobs.keys().chain(&self.removed).cloned().collect()
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

    /// SIGKILL; [`Drover::start`] starts it again on the same state.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.restarts += 1;
    }

    fn kill9(&mut self) {
        self.kill();
        self.start();
    }

    async fn json(&self, path: &str) -> Option<Value> {
        match local::get(&format!("{}{path}", self.addr)).await {
            Some((200, body)) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    async fn status(&self) -> Option<Value> {
        self.json("/status").await
    }

    /// The job's events, newest first; none when it has no history (or drover does not answer).
    async fn history(&self, id: &str) -> Vec<Value> {
        let doc = self.json(&format!("/status/jobs/default/{id}")).await;
        doc.and_then(|d| d["events"].as_array().cloned())
            .unwrap_or_default()
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

/// `GET path` on the simulator's API, as JSON. Only once no fault is pending: a request of the
/// test's own would use one up.
async fn sim_json(sim: &Sim, path: &str) -> Value {
    match local::get(&format!("{}{path}", sim.url())).await {
        Some((200, body)) => serde_json::from_str(&body).expect("simulator JSON"),
        other => panic!("GET {path} on the simulator: {other:?}"),
    }
}

/// Every version of every job the simulator held, by job and version number. Nomad keeps only
/// the last six, so the simulator is read every 2 ms in-process (a request would use up faults
/// injected for drover); a version replaced sooner than that is missed, which only leaves a
/// gap between the versions compared.
#[derive(Clone, Default)]
struct VersionLog {
    ids: Arc<Mutex<BTreeSet<String>>>,
    seen: Arc<Mutex<BTreeMap<String, BTreeMap<u64, Value>>>>,
}

impl VersionLog {
    /// Reads the jobs it tracks until the returned task is aborted.
    fn start(sim: Arc<Sim>) -> (Self, tokio::task::JoinHandle<()>) {
        let log = Self::default();
        let reader = log.clone();
        let task = tokio::spawn(async move {
            loop {
                reader.read(&sim);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        (log, task)
    }

    fn track(&self, ids: BTreeSet<String>) {
        self.ids.lock().unwrap().extend(ids);
    }

    fn read(&self, sim: &Sim) {
        let ids = self.ids.lock().unwrap().clone();
        let mut seen = self.seen.lock().unwrap();
        for id in ids {
            if let Some(job) = sim.job("default", &id)
                && let Some(version) = job["Version"].as_u64()
            {
                seen.entry(id).or_default().entry(version).or_insert(job);
            }
        }
    }

    fn versions(&self) -> BTreeMap<String, BTreeMap<u64, Value>> {
        self.seen.lock().unwrap().clone()
    }
}

/// What a version asks of Nomad, without what changes at every registration: two versions
/// alike here are the same spec registered twice.
fn spec_of(version: &Value) -> Value {
    let mut meta = version["Meta"].clone();
    if let Some(meta) = meta.as_object_mut() {
        meta.remove("drover.commit");
    }
    serde_json::json!([meta, version["TaskGroups"], version["Stop"]])
}

fn meta<'a>(version: &'a Value, key: &str) -> Option<&'a str> {
    version["Meta"][key].as_str()
}

/// Waits until the simulator runs `id` as registered at `commit` and has started that
/// version's deployment; the deployment's ID.
async fn deployment_of(sim: &Sim, id: &str, commit: &str) -> String {
    let what = format!("{id} registered at {commit} and deploying");
    until(&what, Duration::from_secs(30), async || {
        let job = sim.job("default", id)?;
        if meta(&job, "drover.commit") != Some(commit) {
            return None;
        }
        let latest = sim_json(sim, &format!("/v1/job/{id}/deployment")).await;
        if latest["JobVersion"] != job["Version"] {
            return None;
        }
        latest["ID"].as_str().map(str::to_owned)
    })
    .await
}

/// Waits until no deployment runs in Nomad.
async fn nothing_deploys(sim: &Sim) {
    until(
        "every deployment ended",
        Duration::from_secs(30),
        async || {
            let all = sim_json(sim, "/v1/deployments?namespace=*").await;
            let list = all.as_array().cloned().unwrap_or_default();
            (!list.iter().any(|d| d["Status"] == "running")).then_some(())
        },
    )
    .await;
}

/// A deployment of the epilogue, what happened to it, and the one event that must end it in
/// the job's history.
struct Expected {
    job: String,
    deployment: String,
    what: &'static str,
    end: &'static str,
}

impl Expected {
    fn new(job: &str, deployment: &str, what: &'static str, end: &'static str) -> Self {
        Self {
            job: job.to_owned(),
            deployment: deployment.to_owned(),
            what,
            end,
        }
    }
}

/// The histories of `ids`, by job.
async fn histories(drover: &Drover, ids: &BTreeSet<String>) -> BTreeMap<String, Vec<Value>> {
    let mut all = BTreeMap::new();
    for id in ids {
        all.insert(id.clone(), drover.history(id).await);
    }
    all
}

/// The kinds, among `kinds`, of the events about `deployment`.
fn kinds_of<'a>(events: &'a [Value], deployment: &str, kinds: &[&str]) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["deployment"] == deployment)
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| kinds.contains(k))
        .collect()
}

/// The epilogue: no faults, no random kills; three slow jobs `a`, `b` and `c`. Returns each
/// deployment it made with how drover must report its end.
async fn epilogue(sim: &Sim, git: &mut Git, drover: &mut Drover) -> Vec<Expected> {
    // A known start: nothing broken or failing, three slow jobs, nothing deploying.
    while git.fix_due(u32::MAX).is_some() {}
    let ids: Vec<String> = git.jobs.keys().take(3).cloned().collect();
    let [a, b, c] = <[String; 3]>::try_from(ids).expect("three jobs");
    git.jobs.get_mut(&a).expect("a").slow = true;
    git.jobs.get_mut(&b).expect("b").slow = true;
    let start = git.change(&c, "three slow jobs for the epilogue", |s| s.slow = true);
    assert!(
        wait_for(drover, &start, true, Duration::from_secs(60)).await,
        "drover never converged before the epilogue"
    );
    nothing_deploys(sim).await;
    let mut expected = Vec::new();

    // A slow deployment superseded by the next commit: the pass that registered it has ended.
    let first = git.change(&a, "a: a slow rollout", |s| s.image = "nginx-e1".into());
    let d1 = deployment_of(sim, &a, &first).await;
    let second = git.change(&a, "a: changed again while it deploys", |s| {
        s.image = "nginx-e2".into()
    });
    let d2 = deployment_of(sim, &a, &second).await;
    let nomad = sim_json(sim, &format!("/v1/deployment/{d1}")).await;
    assert!(
        nomad["Status"] == "cancelled"
            && nomad["StatusDescription"]
                .as_str()
                .is_some_and(|d| d.contains("newer version")),
        "{a}: the commit made while deployment {d1} ran was registered only after it ended \
         (a pass waited for its deployment): {nomad}"
    );
    expected.push(Expected::new(
        &a,
        &d1,
        "superseded by the next commit",
        "superseded",
    ));
    expected.push(Expected::new(&a, &d2, "the newer one", "succeeded"));

    // A slow deployment that fails: rolled back, and its spec blocked until it changes.
    let bad = git.change(&b, "b: a spec that fails", |s| {
        s.fails = true;
        s.image = "nginx-bad-e3".into();
    });
    let d3 = deployment_of(sim, &b, &bad).await;
    expected.push(Expected::new(&b, &d3, "failed", "failed"));

    // Meanwhile, a slow job removed from Git while it deploys: pruned, and Nomad cancels its
    // deployment because the job stopped. drover stopped it: a newer version replaced the
    // deployment, which did not fail.
    let last = git.change(&c, "c: a last slow rollout", |s| {
        s.image = "nginx-e4".into()
    });
    let d4 = deployment_of(sim, &c, &last).await;
    git.remove(&c);
    let removed = git.repo.commit("c: removed while it deploys");
    until("c pruned", Duration::from_secs(10), async || {
        (sim.job("default", &c)?["Stop"] == true).then_some(())
    })
    .await;
    assert!(
        wait_for(drover, &removed, false, Duration::from_secs(10)).await,
        "no pass after c was removed"
    );
    expected.push(Expected::new(&c, &d4, "stopped by a prune", "superseded"));

    let events = until(
        "b's failure reported",
        Duration::from_secs(30),
        async || {
            let events = drover.history(&b).await;
            events
                .iter()
                .any(|e| e["kind"] == "rolled_back" && e["deployment"] == d3.as_str())
                .then_some(events)
        },
    )
    .await;
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "failed" && e["deployment"] == d3.as_str()),
        "{b}: rolled back but never reported failed: {events:#?}"
    );
    let other = git.change(&a, "a: a comment", |s| s.comment += 1);
    assert!(
        wait_for(drover, &other, false, Duration::from_secs(10)).await,
        "no pass after the failure"
    );
    let events = drover.history(&b).await;
    let since_failure: Vec<&str> = events
        .iter()
        .take_while(|e| !(e["kind"] == "failed" && e["deployment"] == d3.as_str()))
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        since_failure.contains(&"blocked") && !since_failure.contains(&"registered"),
        "{b}: its known-bad spec was not blocked in the next pass: {events:#?}"
    );
    let fixed = git.change(&b, "b: fixed", |s| {
        s.fails = false;
        s.image = "nginx-e5".into();
    });
    let d5 = deployment_of(sim, &b, &fixed).await;
    expected.push(Expected::new(&b, &d5, "a fix after a failure", "succeeded"));

    // A failing deployment superseded by its fix before it fails: not failed, not rolled back.
    let bad = git.change(&a, "a: a spec that fails", |s| {
        s.fails = true;
        s.image = "nginx-bad-e6".into();
    });
    let d6 = deployment_of(sim, &a, &bad).await;
    let fixed = git.change(&a, "a: fixed before it failed", |s| {
        s.fails = false;
        s.image = "nginx-e7".into();
    });
    let d7 = deployment_of(sim, &a, &fixed).await;
    expected.push(Expected::new(
        &a,
        &d6,
        "failing, superseded by its fix",
        "superseded",
    ));
    expected.push(Expected::new(&a, &d7, "the fix", "succeeded"));

    // A slow deployment that ends while drover is down: found in Nomad at the next start and
    // recorded as if drover had never stopped (invariant 7). First every end so far is
    // reported (b's last deployment must not supersede its fix; c's end, if any, is checked
    // with the others), then drover is killed once the pass that registered the new one has
    // saved the state.
    let ids = BTreeSet::from([a.clone(), b.clone()]);
    until(
        "the ends so far reported",
        Duration::from_secs(30),
        async || {
            let all = histories(drover, &ids).await;
            let ended = |e: &Expected| !kinds_of(&all[&e.job], &e.deployment, &ENDS).is_empty();
            expected
                .iter()
                .filter(|e| e.job != c)
                .all(ended)
                .then_some(())
        },
    )
    .await;
    let last = git.change(&b, "b: a rollout that ends while drover is down", |s| {
        s.image = "nginx-e8".into()
    });
    assert!(
        wait_for(drover, &last, false, Duration::from_secs(10)).await,
        "no pass registered b's last rollout"
    );
    let d8 = deployment_of(sim, &b, &last).await;
    drover.kill();
    nothing_deploys(sim).await;
    drover.start();
    expected.push(Expected::new(
        &b,
        &d8,
        "ended while drover was down",
        "succeeded",
    ));
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariants_hold_under_faults_and_kills() {
    let commits = env_number("DROVER_SOAK_COMMITS", 50) as u32;
    let mut rng = StdRng::seed_from_u64(env_number("DROVER_SOAK_SEED", 7));
    let sim = Arc::new(
        Sim::builder()
            .time_scale(1000.0)
            .start()
            .await
            .expect("sim"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut git = Git::new();
    let (versions, reader) = VersionLog::start(sim.clone());
    versions.track(git.all_ids());
    let mut drover = Drover::new(dir.path(), &sim, &git.repo);
    let mut faults: BTreeMap<&str, u32> = BTreeMap::new();
    let mut steps: BTreeMap<&str, u32> = BTreeMap::new();
    let started = Instant::now();
    for n in 1..=commits {
        *steps.entry(git.step(&mut rng, n)).or_default() += 1;
        versions.track(git.all_ids());
        *faults.entry(inject(&sim, &git, &mut rng, n)).or_default() += 1;
        if n % 9 == 4 || rng.random_bool(0.05) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
            drover.kill9();
        }
        wait_for(&drover, &git.repo.head(), false, Duration::from_secs(10)).await;
    }
    sim.clear_faults();
    let chaos = started.elapsed();
    let expected = epilogue(&sim, &mut git, &mut drover).await;
    let converged = wait_for(&drover, &git.repo.head(), true, Duration::from_secs(60)).await;
    let log = std::fs::read_to_string(&drover.log).unwrap_or_default();
    assert!(
        converged,
        "drover never converged on the last commit\n{}",
        &log[log.len().saturating_sub(4000)..]
    );
    let mut checks = 0;

    // Each deployment of the epilogue ended with exactly the one event expected, and only a
    // failed one was rolled back.
    let all = git.all_ids();
    nothing_deploys(&sim).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let histories = loop {
        let histories = histories(&drover, &all).await;
        let ended = |e: &Expected| !kinds_of(&histories[&e.job], &e.deployment, &ENDS).is_empty();
        if expected.iter().all(ended) || Instant::now() > deadline {
            break histories;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|e| {
            let events = &histories[&e.job];
            let ends = kinds_of(events, &e.deployment, &ENDS);
            let rolled_back = !kinds_of(events, &e.deployment, &["rolled_back"]).is_empty();
            (ends != [e.end] || rolled_back != (e.end == "failed")).then(|| {
                format!(
                    "{} {} ({}): ended {ends:?}{}, expected [{:?}]",
                    e.job,
                    e.deployment,
                    e.what,
                    if rolled_back { " and rolled back" } else { "" },
                    e.end
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "deployments of the epilogue reported otherwise than they ended:\n{}",
        wrong.join("\n")
    );
    checks += expected.len();

    // Nothing deploys now, and `/status` says so: every job of Git synced, at the version
    // Nomad runs. Also for deployments that ran across a kill, or ended while drover was down.
    let passes = |doc: &Value| doc["sources"][0]["passes"].as_u64().unwrap_or(0);
    let before = passes(&drover.status().await.expect("/status"));
    let status = until(
        "a pass after the last deployment",
        Duration::from_secs(10),
        async || drover.status().await.filter(|doc| passes(doc) > before),
    )
    .await;
    let jobs = status["sources"][0]["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for id in git.jobs.keys() {
        let job = jobs.iter().find(|j| j["id"] == id.as_str());
        let live = sim.job("default", id).expect("live");
        assert!(
            job.is_some_and(|j| j["state"] == "synced" && j["version"] == live["Version"]),
            "{id}: /status says {job:?}, Nomad runs v{}",
            live["Version"]
        );
        checks += 1;
    }

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
    for id in git.jobs.keys() {
        let evals = sim_json(&sim, &format!("/v1/job/{id}/evaluations")).await;
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
    // No duplicate versions: no version is the one before it registered again, with only its
    // `drover.commit` changed.
    reader.abort();
    let versions = versions.versions();
    let mut gaps = 0;
    for (id, seen) in &versions {
        for (v, version) in seen {
            let Some(before) = v.checked_sub(1).and_then(|b| seen.get(&b)) else {
                gaps += usize::from(*v > 0);
                continue;
            };
            assert_ne!(
                spec_of(before),
                spec_of(version),
                "{id}: v{v} is v{} registered again, only its drover.commit changed",
                v - 1
            );
            checks += 1;
        }
    }
    // What drover says of a deployment's end is what Nomad says, and said once: a deployment
    // Nomad cancelled for a newer version is never reported failed or rolled back.
    let deployments: BTreeMap<String, Value> = sim_json(&sim, "/v1/deployments?namespace=*")
        .await
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| Some((d["ID"].as_str()?.to_owned(), d.clone())))
        .collect();
    let mut ends: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, events) in &histories {
        for e in events {
            let (Some(kind), Some(d)) = (e["kind"].as_str(), e["deployment"].as_str()) else {
                continue;
            };
            let nomad = deployments.get(d).unwrap_or_else(|| {
                panic!("{id}: {kind} names deployment {d}, which Nomad never had")
            });
            let truth = match kind {
                "succeeded" => Some("successful"),
                "failed" | "rolled_back" => Some("failed"),
                _ => None,
            };
            if let Some(truth) = truth {
                assert_eq!(
                    nomad["Status"], truth,
                    "{id}: drover reported deployment {d} {kind}, Nomad says {}: {}",
                    nomad["Status"], nomad["StatusDescription"]
                );
                checks += 1;
            }
            if ENDS.contains(&kind) {
                ends.entry(d).or_default().push(kind);
            }
        }
    }
    for (d, kinds) in &ends {
        assert_eq!(
            kinds.len(),
            1,
            "deployment {d} ended more than once: {kinds:?}"
        );
        checks += 1;
    }
    // A known-bad spec is never registered again: no running version after one whose
    // deployment failed carries its fingerprint, unless a person made it.
    for (id, events) in &histories {
        for d in events
            .iter()
            .filter(|e| e["kind"] == "failed")
            .filter_map(|e| e["deployment"].as_str())
        {
            let failed = deployments[d]["JobVersion"].as_u64().expect("JobVersion");
            let Some(fingerprint) = versions
                .get(id)
                .and_then(|seen| seen.get(&failed))
                .and_then(|v| meta(v, "drover.fingerprint"))
            else {
                continue;
            };
            for (v, later) in versions[id].range(failed + 1..) {
                assert!(
                    meta(later, "drover.fingerprint") != Some(fingerprint)
                        || meta(later, "edited-by").is_some()
                        || later["Stop"] == true,
                    "{id}: v{v} registers again the spec of v{failed}, whose deployment {d} failed"
                );
            }
            checks += 1;
        }
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
    let log = std::fs::read_to_string(&drover.log).unwrap_or_default();
    for secret in [NOMAD_TOKEN, WEBHOOK_SECRET] {
        assert!(!log.contains(secret), "a secret reached the log");
        checks += 1;
    }
    let injected: u32 = faults
        .iter()
        .filter(|(k, _)| **k != "none")
        .map(|(_, v)| v)
        .sum();
    let mut reported: BTreeMap<&str, usize> = BTreeMap::new();
    for kinds in ends.values() {
        *reported.entry(kinds[0]).or_default() += 1;
    }
    println!(
        "soak: {commits} commits {steps:?}, {injected} faults {faults:?}, {} restarts in {chaos:?}; \
         {} deployments in Nomad, ends reported {reported:?}; {gaps} gaps in {} versions seen; \
         {checks} invariant checks passed, {:?}",
        drover.restarts,
        deployments.len(),
        versions.values().map(BTreeMap::len).sum::<usize>(),
        started.elapsed()
    );
    assert!(drover.restarts >= 5, "at least five restarts");
}
