//! `drover run` as systemd runs it: signals, reloads, notifications, health, and a clean stop
//! that lets a registration in flight finish.

mod common;
mod git;

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::local::{self, free_port};
use git::repo::Repo;
use nomad_sim::Sim;

const JOB: &str = r#"job "web" {
  datacenters = ["dc1"]
  group "app" {
    update {
      max_parallel     = 1
      min_healthy_time = "1s"
    }
    task "app" {
      driver = "docker"
      config {
        image = "nginx:1"
      }
    }
  }
}
"#;

struct Daemon {
    child: Child,
    addr: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

fn config_text(sim: &Sim, repo: &Repo, state: &std::path::Path, port: u16, poll: &str) -> String {
    format!(
        "[nomad]\naddress = \"{}\"\nretry_min_delay = \"10ms\"\nretry_max_delay = \"50ms\"\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{}\"\n[sync]\nshutdown_timeout = \"10s\"\n\
         [[source]]\nname = \"apps\"\nurl = \"{}\"\npaths = [\"*.nomad.hcl\"]\npoll = \"{poll}\"\n",
        sim.url(),
        state.display(),
        repo.path().display()
    )
}

impl Daemon {
    fn start(sim: &Sim, repo: &Repo, poll: &str, notify_socket: Option<&std::path::Path>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = dir.path().join("drover.toml");
        std::fs::write(
            &config,
            config_text(sim, repo, &dir.path().join("state"), port, poll),
        )
        .expect("config");
        let mut command = Command::new(env!("CARGO_BIN_EXE_drover"));
        let log = std::fs::File::create(dir.path().join("drover.log")).expect("log file");
        command
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(socket) = notify_socket {
            command
                .env("NOTIFY_SOCKET", socket)
                .env("WATCHDOG_USEC", "400000");
        }
        let child = command.spawn().expect("drover run starts");
        Self {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            config,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        local::get(&format!("{}{path}", self.addr)).await
    }

    /// Polls `/status` until `pred` holds.
    async fn wait_status(&self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some((200, body)) = self.get("/status").await {
                let doc: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
                if pred(&doc) {
                    return doc;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("status never reached the expected state");
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(25);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("drover did not exit in time");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self._dir.path().join("drover.log")).unwrap_or_default();
            eprintln!("--- drover's log ---\n{log}");
        }
    }
}

fn job_synced(doc: &serde_json::Value) -> bool {
    doc["sources"][0]["jobs"].as_array().is_some_and(|jobs| {
        jobs.iter()
            .any(|j| j["id"] == "web" && j["state"] == "synced")
    })
}

// Multi-threaded: the simulator shares the test's runtime, and some steps below block a thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_reloads_and_stops_cleanly() {
    let sim = Sim::builder().time_scale(1000.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", JOB);
    repo.commit("web");
    let mut daemon = Daemon::start(&sim, &repo, "1h", None);
    daemon.wait_status(job_synced).await;
    assert_eq!(daemon.get("/readyz").await.map(|r| r.0), Some(200));
    assert_eq!(daemon.get("/healthz").await.map(|r| r.0), Some(200));

    // A broken configuration is rejected; the running one keeps working.
    let good = std::fs::read_to_string(&daemon.config).unwrap();
    std::fs::write(&daemon.config, "[nomad\n").unwrap();
    daemon.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        daemon.get("/healthz").await.map(|r| r.0),
        Some(200),
        "still running"
    );

    // A valid one is applied: the new poll interval shows in /status.
    std::fs::write(
        &daemon.config,
        good.replace("poll = \"1h\"", "poll = \"2h\""),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon
        .wait_status(|d| d["sources"][0]["interval_seconds"] == 7200)
        .await;

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_register_lets_it_finish_and_records_it() {
    let sim = Sim::builder().time_scale(1000.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", JOB);
    repo.commit("web");
    sim.inject(
        nomad_sim::Fault::new("/v1/jobs")
            .method("POST")
            .delay(Duration::from_millis(1500)),
    );
    let mut daemon = Daemon::start(&sim, &repo, "1h", None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sim.requests().iter().any(|r| r.path.ends_with("/plan")) {
        assert!(Instant::now() < deadline, "no plan");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0));
    let live = sim
        .job("default", "web")
        .expect("the register in flight completed");
    assert_eq!(live["Version"], 0);
    let state = std::fs::read_to_string(daemon._dir.path().join("state/state.json"))
        .expect("state written");
    assert!(
        state.contains("\"web\"") || state.contains("default/web"),
        "{state}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifies_systemd_and_pings_the_watchdog_only_while_loops_progress() {
    let sim = Sim::builder().time_scale(1000.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", JOB);
    repo.commit("web");
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut daemon = Daemon::start(&sim, &repo, "1s", Some(&socket_path));
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !(seen.contains("STATUS=") && seen.contains("WATCHDOG=1")) {
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('\n');
        }
    }
    assert!(seen.contains("READY=1"), "{seen}");
    assert!(seen.contains("STATUS="), "{seen}");
    assert!(seen.contains("WATCHDOG=1"), "{seen}");

    // Nomad holds every request, and a change needs Nomad: the loop stops finishing passes, the
    // watchdog goes quiet and /healthz turns 503 with the reason. (An unchanged repository
    // needs no Nomad call, so its passes would go on finishing.)
    sim.inject(nomad_sim::Fault::new(".*").delay(Duration::from_secs(60)));
    repo.write("web.nomad.hcl", &JOB.replace("nginx:1", "nginx:2"));
    repo.commit("web to nginx:2");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut unhealthy = None;
    while Instant::now() < deadline {
        if let Some((503, body)) = daemon.get("/healthz").await {
            unhealthy = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = unhealthy.expect("healthz turned 503");
    assert!(body.contains("apps"), "{body}");
    while socket.recv(&mut buf).is_ok() {}
    let mut quiet = String::new();
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if let Ok(n) = socket.recv(&mut buf) {
            quiet.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(
        !quiet.contains("WATCHDOG=1"),
        "no watchdog ping while stuck: {quiet}"
    );
    sim.clear_faults();

    daemon.signal("TERM");
    let mut stopping = String::new();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && !stopping.contains("STOPPING=1") {
        if let Ok(n) = socket.recv(&mut buf) {
            stopping.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(stopping.contains("STOPPING=1"), "{stopping}");
    daemon.wait_exit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drover_status_prints_the_running_daemons_table() {
    let sim = Sim::builder().time_scale(1000.0).start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", JOB);
    repo.commit("web");
    let daemon = Daemon::start(&sim, &repo, "1h", None);
    daemon.wait_status(job_synced).await;
    let addr = daemon.addr.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["status", "--addr", &addr])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("apps") && text.contains("web") && text.contains("synced"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_cannot_reach_nomad_says_so_and_is_not_ready() {
    let sim = Sim::builder().start().await.unwrap();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", JOB);
    repo.commit("web");
    let mut daemon = Daemon::start(&sim, &repo, "1h", None);
    let text = std::fs::read_to_string(&daemon.config).unwrap();
    // Point at a port where nothing listens, and restart.
    let closed = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(&daemon.config, text.replace(&sim.url(), &closed)).unwrap();
    daemon.signal("TERM");
    daemon.wait_exit();
    let log = daemon._dir.path().join("drover.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_drover"));
    command
        .args(["run", "--config"])
        .arg(&daemon.config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    daemon.child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut readyz = None;
    while Instant::now() < deadline {
        if let Some((503, body)) = daemon.get("/readyz").await {
            readyz = Some(body);
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("cannot reach Nomad")
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(readyz.expect("readyz answered 503").contains("Nomad"));
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("cannot reach Nomad")
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0));
}
