//! `drover run` as a child process, for end-to-end tests: started from a configuration text,
//! asked over its HTTP listener, waited on with deadlines, stopped with SIGTERM or killed with
//! SIGKILL, and started again on the same state directory. Its log (stderr) goes to a file
//! that is printed when a test fails (or always, with `DROVER_TEST_LOG` set); dropping a
//! [`Daemon`] kills the process.
//!
//! [`NotifySocket`] stands in for systemd's notification socket (`READY=1`, `WATCHDOG=1`...).

use std::ffi::OsString;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::local::{self, free_port};

/// How often [`until`] probes.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// One `drover run` process, in a temporary directory of its own (config, state, log).
pub struct Daemon {
    child: Child,
    /// `http://127.0.0.1:<port>`: drover's HTTP listener.
    pub url: String,
    /// The configuration as given to [`Daemon::start`], without `[server]` and `[state]`.
    config: String,
    /// Keys added to the `[server]` table after `listen` (e.g. `public_url`).
    server: String,
    env: Vec<(String, OsString)>,
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `drover run` with `config`: every table but `[server]` and `[state]`, which this
    /// appends (a free loopback port, and `state/` in the daemon's own directory).
    pub fn start(config: &str) -> Self {
        Self::start_with_env(config, &[])
    }

    /// [`Daemon::start`] with extra environment variables (e.g. `NOTIFY_SOCKET`).
    pub fn start_with_env(config: &str, env: &[(String, OsString)]) -> Self {
        Self::start_with(config, "", env)
    }

    /// [`Daemon::start_with_env`] with `server` (TOML lines, e.g. `public_url = "..."`) added
    /// to the `[server]` table, which the harness writes.
    pub fn start_with(config: &str, server: &str, env: &[(String, OsString)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (child, url) = spawn(dir.path(), config, server, env);
        Self {
            child,
            url,
            config: config.to_owned(),
            server: server.to_owned(),
            env: env.to_vec(),
            dir,
        }
    }

    /// Starts the process again with the same configuration and state directory, on a new
    /// port (the old process must have exited: see [`Daemon::kill9`], [`Daemon::terminate`]).
    pub fn restart(&mut self) {
        let (child, url) = spawn(self.dir.path(), &self.config, &self.server, &self.env);
        self.child = child;
        self.url = url;
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The state directory (`[state] dir`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The state file as JSON; `Null` when there is none (yet).
    pub fn state(&self) -> Value {
        std::fs::read_to_string(self.state_dir().join("state.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null)
    }

    /// Where the daemon's stderr goes; restarts append to it.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("drover.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `GET path` on the listener: status and body, `None` when nothing answered.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        local::get(&format!("{}{path}", self.url)).await
    }

    /// The JSON body of `GET path` when it answers 200.
    pub async fn json(&self, path: &str) -> Option<Value> {
        match self.get(path).await {
            Some((200, body)) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    /// The `/status` document.
    pub async fn status(&self) -> Option<Value> {
        self.json("/status").await
    }

    /// The `/status` entry of job `id`, whichever source has it.
    pub async fn job_status(&self, id: &str) -> Option<Value> {
        let doc = self.status().await?;
        let sources = doc["sources"].as_array()?;
        let mut jobs = sources
            .iter()
            .flat_map(|s| s["jobs"].as_array().into_iter().flatten());
        jobs.find(|j| j["id"] == id).cloned()
    }

    /// The `/status` entry of source `name`.
    pub async fn source_status(&self, name: &str) -> Option<Value> {
        let doc = self.status().await?;
        let sources = doc["sources"].as_array()?;
        sources.iter().find(|s| s["name"] == name).cloned()
    }

    /// The job's events from `/status/jobs/<namespace>/<id>`, oldest first; empty on 404 or
    /// when the daemon does not answer.
    pub async fn history(&self, namespace: &str, id: &str) -> Vec<Value> {
        let doc = self.json(&format!("/status/jobs/{namespace}/{id}")).await;
        let mut events = doc
            .and_then(|d| d["events"].as_array().cloned())
            .unwrap_or_default();
        events.reverse();
        events
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process.
    pub fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid");
        // SAFETY: kill(2) on our own child's pid; it has not been reaped (we hold the Child).
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }

    /// SIGTERM, then waits up to 30 s for the exit; the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
    }

    /// SIGKILL, and reaps the process.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Waits for the process to exit; its exit code (`None` when killed by a signal).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "drover did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || std::env::var_os("DROVER_TEST_LOG").is_some() {
            eprintln!("--- drover's log ({}) ---\n{}", self.url, self.log());
        }
    }
}

fn spawn(dir: &Path, config: &str, server: &str, env: &[(String, OsString)]) -> (Child, String) {
    let port = free_port();
    let text = format!(
        "{config}\n[server]\nlisten = \"127.0.0.1:{port}\"\n{server}\n[state]\ndir = \"{}\"\n",
        dir.join("state").display()
    );
    let path = dir.join("drover.toml");
    std::fs::write(&path, text).expect("config");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("drover.log"))
        .expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["run", "--config"])
        .arg(&path)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("drover run starts");
    (child, format!("http://127.0.0.1:{port}"))
}

/// Probes every 100 ms until `probe` gives a value, and returns it; panics naming `what`
/// once `within` has passed.
pub async fn until<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// A stand-in for systemd's notification socket: every datagram received, with when it came.
pub struct NotifySocket {
    path: PathBuf,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    /// Binds a socket in a temporary directory and reads it on a thread of its own.
    pub fn bind() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notification socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopped) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock().unwrap().push((Instant::now(), text));
                }
            }
        });
        Self {
            path,
            received,
            stop,
            _dir: dir,
        }
    }

    /// The environment systemd gives a `Type=notify` service with `WatchdogSec=watchdog`.
    pub fn env(&self, watchdog: Duration) -> Vec<(String, OsString)> {
        vec![
            ("NOTIFY_SOCKET".into(), self.path.clone().into_os_string()),
            (
                "WATCHDOG_USEC".into(),
                watchdog.as_micros().to_string().into(),
            ),
        ]
    }

    /// Every datagram so far, in arrival order.
    pub fn received(&self) -> Vec<(Instant, String)> {
        self.received.lock().unwrap().clone()
    }

    /// When each `WATCHDOG=1` ping arrived.
    pub fn pings(&self) -> Vec<Instant> {
        let received = self.received();
        let pings = received
            .iter()
            .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"));
        pings.map(|(at, _)| *at).collect()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
