//! High availability: several `drover run` processes against one simulated Nomad elect one
//! leader through a variable lock; only it registers, and the lock passes on when it stops,
//! dies or is cut off. Lock leases lapse by `Sim::advance`, not by waiting real TTLs.

mod common;
mod git;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::local::{self, free_port};
use git::repo::Repo;
use nomad_sim::{Fault, Sim};

const TTL: Duration = Duration::from_secs(10);
/// What lets a dead leader's lock go on the server: 2 × TTL, then the lock delay (= TTL).
const LAPSE: Duration = Duration::from_secs(31);

fn job(image: &str) -> String {
    format!(
        "job \"web\" {{\n  datacenters = [\"dc1\"]\n  group \"app\" {{\n    task \"app\" {{\n      \
         driver = \"docker\"\n      config {{\n        image = \"{image}\"\n      }}\n    }}\n  }}\n}}\n"
    )
}

struct Instance {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

fn config(sim: &Sim, repo: &Repo, dir: &Path, port: u16, ttl: &str) -> std::path::PathBuf {
    let text = format!(
        "[nomad]\naddress = \"{}\"\nretry_min_delay = \"10ms\"\nretry_max_delay = \"50ms\"\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{}\"\n\
         [sync]\nshutdown_timeout = \"10s\"\n[ha]\nenabled = true\nttl = \"{ttl}\"\n\
         [[source]]\nname = \"apps\"\nurl = \"{}\"\npaths = [\"*.nomad.hcl\"]\npoll = \"1h\"\n",
        sim.url(),
        dir.join("state").display(),
        repo.path().display()
    );
    let path = dir.join("drover.toml");
    std::fs::write(&path, text).expect("config");
    path
}

impl Instance {
    fn start(sim: &Sim, repo: &Repo) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = config(sim, repo, dir.path(), port, "10s");
        let log = std::fs::File::create(dir.path().join("drover.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("drover run starts");
        let addr = format!("http://127.0.0.1:{port}");
        Self { child, addr, dir }
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        local::get(&format!("{}{path}", self.addr)).await
    }

    async fn status(&self) -> Option<serde_json::Value> {
        match self.get("/status").await {
            Some((200, body)) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    async fn role(&self) -> Option<String> {
        let doc = self.status().await?;
        doc["role"].as_str().map(str::to_owned)
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("drover did not exit in time");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("drover.log"));
            eprintln!("--- {} ---\n{}", self.addr, log.unwrap_or_default());
        }
    }
}

/// Registrations of job `web` in the simulator's request log.
fn registers(sim: &Sim) -> usize {
    let log = sim.requests();
    let is_register = |r: &&nomad_sim::RequestRecord| {
        r.method == "POST" && (r.path == "/v1/jobs" || r.path == "/v1/job/web")
    };
    log.iter().filter(is_register).count()
}

/// The roles of the instances that answer, in order (`None` for one that does not).
async fn roles(instances: &[&Instance]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for i in instances {
        out.push(i.role().await);
    }
    out
}

/// Waits until exactly one instance leads and returns its index; panics on two leaders.
async fn one_leader(instances: &[&Instance], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let roles = roles(instances).await;
        let leaders: Vec<usize> = (0..roles.len())
            .filter(|&i| roles[i].as_deref() == Some("leader"))
            .collect();
        assert!(leaders.len() <= 1, "two leaders at once: {roles:?}");
        if let [leader] = leaders.as_slice() {
            return *leader;
        }
        assert!(Instant::now() < deadline, "no leader: {roles:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until(what: &str, within: Duration, mut pred: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !pred().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn synced(instance: &Instance, image: &str, sim: &Sim) -> bool {
    let live = sim.job("default", "web");
    let image_ok = live.is_some_and(|j| j.to_string().contains(image));
    let status = instance.status().await.unwrap_or_default();
    let job_ok = status["sources"][0]["jobs"].as_array().is_some_and(|jobs| {
        jobs.iter()
            .any(|j| j["id"] == "web" && j["state"] == "synced")
    });
    image_ok && job_ok
}

fn repo_with_web() -> Repo {
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job("nginx:1"));
    repo.commit("web");
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_elect_one_leader_that_registers_once() {
    let sim = Sim::builder().time_scale(1000.0).start().await.unwrap();
    let repo = repo_with_web();
    let all: Vec<Instance> = (0..3).map(|_| Instance::start(&sim, &repo)).collect();
    let refs: Vec<&Instance> = all.iter().collect();
    let leader = one_leader(&refs, Duration::from_secs(20)).await;
    until("the job synced", Duration::from_secs(20), async || {
        synced(&all[leader], "nginx:1", &sim).await
    })
    .await;
    // Let the followers' loops run too: none of them registers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(registers(&sim), 1, "registered once, not once per instance");
    assert_eq!(one_leader(&refs, Duration::ZERO).await, leader);
    let me = all[leader].status().await.expect("status")["leader"].clone();
    assert!(
        me["hostname"].is_string() && me["since"].is_string(),
        "{me}"
    );
    for (i, follower) in all.iter().enumerate().filter(|(i, _)| *i != leader) {
        assert_eq!(follower.get("/healthz").await.map(|r| r.0), Some(200));
        assert_eq!(follower.get("/readyz").await.map(|r| r.0), Some(200), "{i}");
        let doc = follower.status().await.expect("status");
        assert_eq!(doc["leader"]["instance"], me["instance"], "{doc}");
    }
    let metrics = all[leader].get("/metrics").await.expect("metrics").1;
    assert!(metrics.lines().any(|l| l == "drover_leader 1"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l == "drover_leader_changes_total 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_once_its_lock_lapses() {
    let sim = Sim::builder().time_scale(1000.0).start().await.unwrap();
    let repo = repo_with_web();
    let mut all = vec![Instance::start(&sim, &repo), Instance::start(&sim, &repo)];
    let leader = one_leader(&[&all[0], &all[1]], Duration::from_secs(20)).await;
    until("the job synced", Duration::from_secs(20), async || {
        synced(&all[leader], "nginx:1", &sim).await
    })
    .await;
    let mut dead = all.remove(leader);
    dead.signal("-KILL");
    dead.wait_exit();
    let survivor = &all[0];
    // The lock outlives its holder on the server: no takeover before it lapses.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(survivor.role().await.as_deref(), Some("follower"));
    sim.advance(LAPSE);
    until("the takeover", TTL, async || {
        survivor.role().await.as_deref() == Some("leader")
    })
    .await;

    let before = registers(&sim);
    repo.write("web.nomad.hcl", &job("nginx:2"));
    repo.commit("web v2");
    until("v2 synced", Duration::from_secs(20), async || {
        synced(survivor, "nginx:2", &sim).await
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        registers(&sim) - before,
        1,
        "the next commit applied exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_leader_hands_over_within_one_retry_interval() {
    let sim = Sim::builder().time_scale(1000.0).start().await.unwrap();
    let repo = repo_with_web();
    let mut all = vec![Instance::start(&sim, &repo), Instance::start(&sim, &repo)];
    let leader = one_leader(&[&all[0], &all[1]], Duration::from_secs(20)).await;
    let mut old = all.remove(leader);
    old.signal("-TERM");
    let stopped = Instant::now();
    assert_eq!(old.wait_exit(), Some(0));
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.query.contains("lock-release") && r.status == 200),
        "the lock was released"
    );
    let survivor = &all[0];
    until("the handover", TTL.mul_f64(1.1), async || {
        survivor.role().await.as_deref() == Some("leader")
    })
    .await;
    eprintln!("handover took {:?}", stopped.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_stops_applying_before_another_leads() {
    let sim = Sim::builder().time_scale(1000.0).start().await.unwrap();
    let repo = repo_with_web();
    let all = [Instance::start(&sim, &repo), Instance::start(&sim, &repo)];
    let refs = [&all[0], &all[1]];
    let leader = one_leader(&refs, Duration::from_secs(20)).await;
    until("the job synced", Duration::from_secs(20), async || {
        synced(&all[leader], "nginx:1", &sim).await
    })
    .await;
    // Every lock operation fails: the leader cannot renew (and no one can acquire).
    sim.inject(
        Fault::new("/v1/var/drover/leader")
            .method("PUT")
            .status(500, "rpc error: EOF"),
    );
    // The leader gives up on its own clock, within one TTL of its last renew; meanwhile never
    // two leaders (one_leader panics on two).
    let cut = Instant::now();
    until(
        "the leader to step down",
        TTL + Duration::from_secs(3),
        async || {
            roles(&refs)
                .await
                .iter()
                .all(|r| r.as_deref() != Some("leader"))
        },
    )
    .await;
    eprintln!("stepped down after {:?}", cut.elapsed());
    let metrics = all[leader].get("/metrics").await.expect("metrics").1;
    assert!(metrics.lines().any(|l| l == "drover_leader 0"), "{metrics}");
    // Only now can the server let the lock go.
    sim.clear_faults();
    sim.advance(LAPSE);
    let new = one_leader(&refs, TTL + Duration::from_secs(3)).await;

    let before = registers(&sim);
    repo.write("web.nomad.hcl", &job("nginx:3"));
    repo.commit("web v3");
    until("v3 synced", Duration::from_secs(20), async || {
        synced(&all[new], "nginx:3", &sim).await
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(registers(&sim) - before, 1, "one instance registered");
}

#[test]
fn a_ttl_outside_nomads_bounds_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::new();
    for ttl in ["5s", "25h"] {
        let text = format!(
            "[ha]\nenabled = true\nttl = \"{ttl}\"\n[[source]]\nname = \"a\"\nurl = \"{}\"\n",
            repo.path().display()
        );
        let path = dir.path().join("drover.toml");
        std::fs::write(&path, text).expect("config");
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["run", "--config"])
            .arg(&path)
            .output()
            .expect("drover run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("ha.ttl"), "{stderr}");
    }
}
