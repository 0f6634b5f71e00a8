//! A whole pass at scale: a jobs repository of N realistic job files served by `git daemon`,
//! the Nomad simulator answering every request a latency L after it arrived. For each N, the
//! median of several runs of:
//!
//! 1. cold sync: an empty state, all N jobs created (`--detach`), against the lower bound
//!    N × (Nomad calls per new job) × L / max_parallel;
//! 2. no-op pass: a commit that changes no job file, its Nomad calls (target: no parse, plan
//!    or register) and its ratio to a bare `git fetch` of the same commit;
//! 3. one-file change: a commit that changes one job in N, its Nomad calls (target: one parse,
//!    one plan, one register) and its ratio to the no-op pass;
//! 4. webhook to register: `drover run` (the binary, synced, polling hourly) gets a signed
//!    GitHub push for a commit that changes one job; the time from sending the webhook until
//!    the simulator has the job's register in its log (it logs a request once handled, before
//!    the latency passes). The log has no timestamps: it is polled every millisecond, so the
//!    figure is up to 1 ms late;
//!
//!    4b. the same while a long deployment of another job is in flight: a commit gives one job
//!    a rollout of an hour of the simulator's time (3.6 s of real time), it is pushed, and once
//!    its register is in the log, its deployment runs and its pass has ended, a commit that
//!    changes another job is pushed and timed to its register. A pass ends when its
//!    registrations are submitted and the deployment follower watches the rollout apart, so
//!    this should equal 4;
//! 5. the peak RSS of the `drover` binary's `sync --once --detach` making the cold sync;
//!
//!    5b. the steady RSS (`VmRSS`) of the `drover run` of 4 after `DROVER_BENCH_IDLE_PASSES`
//!    (default 60: an hour of the default 60 s poll) passes of commits that change no job
//!    file, each triggered by a webhook and waited for;
//! 6. idle CPU: `drover run` restarted on the same state with the default 60 s poll, its user
//!    plus system CPU time over `DROVER_BENCH_IDLE_SECS` (default 60) with nothing changing,
//!    as a share of one core. A window of a full poll interval or longer starts half an
//!    interval after the first pass, so that it holds exactly one poll; a shorter one starts
//!    right after it and holds none. Drift checks are off (hourly) throughout.
//!
//! Passes 1–3 run in-process through `drover::sync::pass` with `detach`; 4–6 run the release
//! binary (`drover run` follows deployments, as it does in production).
//!
//! `cargo bench --bench sync`; `DROVER_BENCH_SIZES` (default `100,1000,5000`),
//! `DROVER_BENCH_LATENCY_MS` (default 2), `DROVER_BENCH_RUNS` (default 3),
//! `DROVER_BENCH_IDLE_PASSES` (default 60), `DROVER_BENCH_IDLE_SECS` (default 60);
//! `DROVER_BENCH_WRITE=1` also writes the table to `BENCHMARKS.md`.

#[path = "../tests/git/mod.rs"]
mod git;
// A blocking GET of a JSON document, as the integration tests read the simulator.
#[allow(dead_code)]
#[path = "../tests/common/local.rs"]
mod local;
// The webhook secret, its signature and an HTTP client, as the endpoint's tests use them.
#[allow(dead_code)]
#[path = "../tests/common/serve.rs"]
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drover::config::{Config, Env};
use drover::source::Mirror;
use drover::state::Store;
use drover::sync::{self, Context, Options, PassReport};
use git::daemon::Daemon;
use git::repo::Repo;
use nomad_sim::Sim;
use tokio::runtime::Runtime;

const DETACH: Options = Options {
    full: false,
    detach: true,
    hand_over: false,
    allow_mass_prune: false,
};

/// drover's default poll interval, which the idle CPU is measured with.
const DEFAULT_POLL: Duration = Duration::from_secs(60);
/// How much faster than real time the simulator's clock runs (deployments' progress).
const TIME_SCALE: f64 = 1000.0;
/// The rollout in flight during item 4b, in the simulator's time: 3.6 s of real time, many
/// passes long at every N. Ended early with `Sim::advance` once measured.
const LONG_ROLLOUT: Duration = Duration::from_secs(3600);
/// The longest `drover run` may take to finish a pass (the cold sync follows deployments).
const PASS_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The bench's knobs, from the environment.
struct Settings {
    latency: Duration,
    runs: usize,
    idle_passes: usize,
    idle_window: Duration,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            latency: Duration::from_millis(var("DROVER_BENCH_LATENCY_MS", 2)),
            runs: var("DROVER_BENCH_RUNS", 3usize).max(1),
            idle_passes: var("DROVER_BENCH_IDLE_PASSES", 60),
            idle_window: Duration::from_secs(var("DROVER_BENCH_IDLE_SECS", 60)),
        }
    }
}

fn sizes() -> Vec<usize> {
    std::env::var("DROVER_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,5000".to_owned())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect()
}

/// How long a job's deployments take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rollout {
    /// Healthy after 5 s of the simulator's time: 5 ms of real time.
    Quick,
    /// Healthy after [`LONG_ROLLOUT`] of the simulator's time.
    Long,
}

impl Rollout {
    /// The update block's `min_healthy_time` and, for a long rollout, the deadlines, which
    /// Nomad wants longer than it (their defaults are 5 and 10 minutes).
    fn update_settings(self) -> String {
        match self {
            Self::Quick => "min_healthy_time = \"5s\"".to_owned(),
            Self::Long => {
                let secs = LONG_ROLLOUT.as_secs();
                format!(
                    "min_healthy_time = \"{secs}s\"\n      healthy_deadline = \"{}s\"\n      \
                     progress_deadline = \"{}s\"",
                    2 * secs,
                    3 * secs
                )
            }
        }
    }
}

/// A job file of realistic size: one to three groups, each with a service and its check, an
/// update block, a task with a template, env and resources.
fn job_file(i: usize, version: usize, rollout: Rollout) -> String {
    let update = rollout.update_settings();
    let mut groups = String::new();
    for g in 0..=(i % 3) {
        groups.push_str(&format!(
            r#"
  group "g{g}" {{
    count = {count}

    network {{
      port "http" {{}}
    }}

    update {{
      max_parallel     = 1
      {update}
    }}

    service {{
      name     = "svc{i}-g{g}"
      port     = "http"
      provider = "nomad"
      tags     = ["team-{team}", "bench"]

      check {{
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }}
    }}

    task "app" {{
      driver = "docker"

      config {{
        image = "registry.example.com/team-{team}/app{i}:1.{version}.0"
        ports = ["http"]
      }}

      env {{
        LOG_LEVEL = "info"
        SERVICE   = "svc{i}-g{g}"
      }}

      template {{
        destination = "local/app.env"
        env         = true
        data        = <<-EOT
          DATACENTER={{{{ env "node.datacenter" }}}}
          UPSTREAM=svc{up}-g0
        EOT
      }}

      resources {{
        cpu    = {cpu}
        memory = {memory}
      }}
    }}
  }}
"#,
            count = 1 + g,
            team = i % 17,
            up = (i + 1) % 100,
            cpu = 100 + 50 * g,
            memory = 128 * (g + 1),
        ));
    }
    format!(
        "# job {i}: generated by benches/sync.rs\njob \"job{i}\" {{\n  datacenters = [\"dc1\"]\n  meta {{\n    owner = \"team-{}\"\n  }}\n{groups}}}\n",
        i % 17
    )
}

fn job_path(i: usize) -> String {
    format!("jobs/d{:02}/job{i}.nomad.hcl", i % 50)
}

/// The jobs repository, its bare copy that `git daemon` serves, and the daemon.
struct Served {
    repo: Repo,
    bare: PathBuf,
    url: String,
    _daemon: Daemon,
    _root: tempfile::TempDir,
}

impl Served {
    fn new(n: usize) -> Self {
        let repo = Repo::new();
        for i in 0..n {
            repo.write(&job_path(i), &job_file(i, 0, Rollout::Quick));
        }
        repo.write("README.md", "jobs\n");
        repo.commit("jobs");
        let root = tempfile::tempdir().expect("served");
        let bare = repo.bare_clone(root.path());
        let daemon = Daemon::start(root.path());
        let url = daemon.url("repo.git");
        Self {
            repo,
            bare,
            url,
            _daemon: daemon,
            _root: root,
        }
    }

    /// Commits in the work tree and updates the served copy; returns the commit.
    fn commit(&self, message: &str) -> String {
        let commit = self.repo.commit(message);
        let work = self.repo.path().display().to_string();
        git::repo::git(&self.bare, &["fetch", "-q", &work, "main:main"]);
        commit
    }
}

/// A simulator, a state directory, and a context as `drover sync --once` builds it.
struct World {
    sim: Sim,
    state_dir: tempfile::TempDir,
    config: Config,
    ctx: Context,
}

impl World {
    fn new(rt: &Runtime, url: &str, latency: Duration) -> Self {
        let sim = rt
            .block_on(
                Sim::builder()
                    .latency(latency)
                    .time_scale(TIME_SCALE)
                    .start(),
            )
            .expect("sim");
        let state_dir = tempfile::tempdir().expect("state");
        let config = config(&sim.url(), state_dir.path(), url);
        let store = Store::new(&config.state.dir);
        let state = store.load().expect("state").state;
        let ctx = Context::new(state, store, &config.sync);
        Self {
            sim,
            state_dir,
            config,
            ctx,
        }
    }

    /// One pass, its wall time and the simulator's requests during it.
    fn pass(&self, rt: &Runtime) -> (Duration, PassReport, Calls) {
        self.sim.clear_requests();
        let source = &self.config.sources[0];
        let started = Instant::now();
        let report = rt.block_on(async {
            let mirror = Mirror::open(source, &self.config.state.dir).expect("mirror");
            sync::pass(source, &mirror, &self.ctx, DETACH).await
        });
        let elapsed = started.elapsed();
        assert!(
            report.error.is_none() && report.converged(),
            "pass did not converge: {}",
            report.summary()
        );
        (elapsed, report, self.calls())
    }

    fn calls(&self) -> Calls {
        let mut calls = Calls::default();
        for r in self.sim.requests() {
            let (m, p) = (r.method.as_str(), r.path.as_str());
            if m == "POST" && p == "/v1/jobs/parse" {
                calls.parse += 1;
            } else if m == "POST" && p.ends_with("/plan") {
                calls.plan += 1;
            } else if m == "POST" && p == "/v1/jobs" {
                calls.register += 1;
            } else {
                calls.other += 1;
            }
        }
        calls
    }
}

fn config(nomad: &str, state: &Path, url: &str) -> Config {
    let text = config_text(nomad, state, url, "");
    Config::parse(&text, Path::new("drover.toml"), &Env::default()).expect("config")
}

/// The bench's configuration: drift checks hourly, one source `bench` of `url`, then `extra`
/// (more keys of the source, and tables after it).
fn config_text(nomad: &str, state: &Path, url: &str, extra: &str) -> String {
    format!(
        "[nomad]\naddress = \"{nomad}\"\n[state]\ndir = \"{}\"\n[sync]\ndrift_interval = \"1h\"\n\
         [[source]]\nname = \"bench\"\nurl = \"{url}\"\npaths = [\"jobs/**/*.nomad.hcl\"]\n{extra}",
        state.display()
    )
}

/// Writes the configuration of the `drover` binary in `world`'s directory, its state in
/// `state/` there, and returns the file.
fn write_config(world: &World, url: &str, extra: &str) -> PathBuf {
    let dir = world.state_dir.path();
    let file = dir.join("drover.toml");
    let text = config_text(&world.sim.url(), &dir.join("state"), url, extra);
    std::fs::write(&file, text).expect("config file");
    file
}

#[derive(Debug, Default, Clone, Copy)]
struct Calls {
    parse: usize,
    plan: usize,
    register: usize,
    other: usize,
}

impl Calls {
    fn total(self) -> usize {
        self.parse + self.plan + self.register + self.other
    }
}

impl std::fmt::Display for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}/{}/{}/{})",
            self.total(),
            self.parse,
            self.plan,
            self.register,
            self.other
        )
    }
}

struct Row {
    n: usize,
    cold: Duration,
    cold_fetch: Duration,
    cold_calls: Calls,
    bound: Duration,
    noop: Duration,
    noop_calls: Calls,
    git_fetch: Duration,
    one: Duration,
    one_calls: Calls,
    once: OnceFigures,
    run: RunFigures,
}

fn measure(rt: &Runtime, n: usize, settings: &Settings) -> Row {
    let (latency, runs) = (settings.latency, settings.runs);
    let started = Instant::now();
    let served = Served::new(n);
    eprintln!("N={n}: repository built in {:?}", started.elapsed());

    // 1. Cold sync: a new simulator and an empty state directory each run.
    let (mut cold, mut fetches, mut last) = (Vec::new(), Vec::new(), None);
    let mut cold_calls = Calls::default();
    for run in 0..runs {
        let world = World::new(rt, &served.url, latency);
        let (elapsed, report, calls) = world.pass(rt);
        assert_eq!(report.jobs.len(), n, "every job reported");
        eprintln!("N={n}: cold run {run}: {elapsed:?}, calls {calls}");
        cold.push(elapsed);
        fetches.push(report.fetch_duration.unwrap_or_default());
        cold_calls = calls;
        last = Some(world);
    }
    let world = last.expect("one run at least");
    let max_parallel = world.config.sync.max_parallel;
    let per_job = (cold_calls.parse + cold_calls.plan + cold_calls.register) as f64 / n as f64;
    let bound = latency.mul_f64(n as f64 * per_job / max_parallel as f64);

    // 2 and 3 on the synced world, against a `git` CLI mirror of the same repository.
    let cli = tempfile::tempdir().expect("cli");
    git::repo::git(cli.path(), &["clone", "-q", "--bare", &served.url, "m.git"]);
    let cli = cli.path().join("m.git");
    let (mut noop, mut noop_calls, mut git_fetch) = (Vec::new(), Calls::default(), Vec::new());
    let (mut one, mut one_calls) = (Vec::new(), Calls::default());
    for run in 0..runs {
        served
            .repo
            .write("README.md", &format!("jobs, run {run}\n"));
        served.commit("no job changes");
        let (elapsed, _, calls) = world.pass(rt);
        noop.push(elapsed);
        noop_calls = calls;
        let started = Instant::now();
        git::repo::git(
            &cli,
            &[
                "fetch",
                "-q",
                &served.url,
                "+refs/heads/main:refs/heads/main",
            ],
        );
        git_fetch.push(started.elapsed());

        let changed = (run * 7919) % n;
        served.repo.write(
            &job_path(changed),
            &job_file(changed, run + 1, Rollout::Quick),
        );
        served.commit("one job changes");
        let (elapsed, report, calls) = world.pass(rt);
        assert!(
            report.jobs.iter().any(|j| j.path == job_path(changed)),
            "the changed job is in the report"
        );
        one.push(elapsed);
        one_calls = calls;
        eprintln!(
            "N={n}: run {run}: no-op {:?} ({noop_calls}), git fetch {:?}, one file {elapsed:?} ({calls})",
            noop[run], git_fetch[run]
        );
    }
    drop(world);

    // 5. The binary's peak memory making the cold sync.
    let once = sync_once(rt, &served.url, latency);
    eprintln!(
        "N={n}: sync --once: {:?}, {:?} of drover's CPU, {:?} of the simulator's, peak RSS {} KiB",
        once.wall, once.cpu, once.sim_cpu, once.peak_rss_kib
    );

    // 4, 5b and 6: `drover run`.
    let run = drover_run(rt, &served, n, settings);

    Row {
        n,
        cold: mid(cold),
        cold_fetch: mid(fetches),
        cold_calls,
        bound,
        noop: mid(noop),
        noop_calls,
        git_fetch: mid(git_fetch),
        one: mid(one),
        one_calls,
        once,
        run,
    }
}

/// What the `drover` binary's `sync --once --detach` used making the cold sync from an empty
/// state: its peak RSS (`VmHWM`) and its own CPU time (user and system, `wait4`'s resource
/// usage); and the CPU time this process (the simulator, nearly alone) used
/// meanwhile. On two cores the two together bound how fast a cold sync can be.
struct OnceFigures {
    peak_rss_kib: u64,
    cpu: Duration,
    sim_cpu: Duration,
    wall: Duration,
}

fn cpu_time(usage: &libc::rusage) -> Duration {
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn own_cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live, writable local.
    let done = unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
    assert_eq!(done, 0, "getrusage: {}", std::io::Error::last_os_error());
    cpu_time(&usage)
}

#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives its resource usage"
)]
fn sync_once(rt: &Runtime, url: &str, latency: Duration) -> OnceFigures {
    let world = World::new(rt, url, latency);
    let config_file = write_config(&world, url, "");
    let (started, sim_started) = (Instant::now(), own_cpu_time());
    let child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("--config")
        .arg(&config_file)
        .args(["sync", "--once", "--detach"])
        .env("DROVER_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("drover runs");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    let (mut status, mut peak_rss_kib) = (0, 0);
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // The peak RSS is polled: `wait4`'s counts the memory of the benchmark's own process that
    // the child shared until it ran drover.
    loop {
        peak_rss_kib = peak_rss_kib.max(proc_kib(child.id(), "VmHWM:").unwrap_or(0));
        // SAFETY: reaps our own child only; both pointers are to live, writable locals.
        let waited = unsafe { libc::wait4(pid, &raw mut status, libc::WNOHANG, &raw mut usage) };
        assert!(waited >= 0, "wait4: {}", std::io::Error::last_os_error());
        if waited == pid {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (wall, sim_cpu) = (started.elapsed(), own_cpu_time() - sim_started);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "drover sync --once failed ({status})"
    );
    OnceFigures {
        peak_rss_kib,
        cpu: cpu_time(&usage),
        sim_cpu,
        wall,
    }
}

/// What `drover run` measures: 4, 4b, 5b and 6.
struct RunFigures {
    webhook: Duration,
    webhook_during_rollout: Duration,
    steady_rss_kib: Option<u64>,
    idle_cpu_percent: f64,
    idle_polls: u64,
}

/// `drover run` on a new simulator and an empty state: its cold sync, then 4, 4b and 5b in that
/// process, then 6 in a second one on the same state.
fn drover_run(rt: &Runtime, served: &Served, n: usize, settings: &Settings) -> RunFigures {
    let world = World::new(rt, &served.url, settings.latency);
    let started = Instant::now();
    let agent = Agent::start(&world, &served.url, "1h");
    agent.wait_synced(rt, &served.repo.head());
    eprintln!("N={n}: drover run: cold sync in {:?}", started.elapsed());
    let webhook = webhook_to_register(rt, &world.sim, served, &agent, n, settings.runs);
    let webhook_during_rollout =
        webhook_during_rollout(rt, &world.sim, served, &agent, n, settings.runs);
    let steady_rss_kib = steady_rss(rt, served, &agent, n, settings.idle_passes);
    drop(agent);

    let poll = format!("{}s", DEFAULT_POLL.as_secs());
    let agent = Agent::start(&world, &served.url, &poll);
    let (idle_cpu_percent, idle_polls) = idle_cpu(rt, served, &agent, n, settings.idle_window);
    RunFigures {
        webhook,
        webhook_during_rollout,
        steady_rss_kib,
        idle_cpu_percent,
        idle_polls,
    }
}

/// Webhook to register (item 4), the median of `runs`: per run, a commit that changes one job,
/// a webhook, the time until the simulator has handled its register; then the pass is waited
/// for.
fn webhook_to_register(
    rt: &Runtime,
    sim: &Sim,
    served: &Served,
    agent: &Agent,
    n: usize,
    runs: usize,
) -> Duration {
    let mut times = Vec::new();
    for run in 0..runs {
        // A version no earlier change used.
        let changed = (run * 7919 + 1) % n;
        let change = Change {
            job: changed,
            version: runs + run + 1,
            rollout: Rollout::Quick,
            message: "one job changes, pushed",
        };
        let (commit, elapsed) = push_timed(rt, sim, served, agent, &change);
        agent.wait_synced(rt, &commit);
        eprintln!("N={n}: webhook run {run}: register after {elapsed:?}");
        times.push(elapsed);
    }
    mid(times)
}

/// Webhook to register during a rollout (item 4b), the median of `runs`. Per run: a commit gives
/// one job a rollout [`LONG_ROLLOUT`] long and is pushed; once its register is in the log, its
/// deployment runs and its pass has ended (waited for up to half the rollout: a pass that
/// waits for the deployment is what this would show), a commit that changes another job is
/// pushed and timed as in [`webhook_to_register`]. Then the simulator's clock is moved past
/// the rollout and drover is waited for to report its end, so that nothing is in flight after.
fn webhook_during_rollout(
    rt: &Runtime,
    sim: &Sim,
    served: &Served,
    agent: &Agent,
    n: usize,
    runs: usize,
) -> Duration {
    assert!(
        n >= 2,
        "a rollout and a change of another job need two jobs"
    );
    let rollout_real = LONG_ROLLOUT.div_f64(TIME_SCALE);
    let mut times = Vec::new();
    for run in 0..runs {
        // A version no earlier change used, for two jobs half the repository apart.
        let version = 2 * runs + run + 1;
        let long = (run * 7919 + 2) % n;
        let other = (long + n / 2) % n;
        let change = Change {
            job: long,
            version,
            rollout: Rollout::Long,
            message: "one job's long rollout, pushed",
        };
        let (commit, _) = push_timed(rt, sim, served, agent, &change);
        let deployment = running_deployment(sim, long);
        let deadline = Instant::now() + rollout_real / 2;
        let pass_ended = loop {
            if agent.synced(rt, &commit).is_some() {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if !pass_ended {
            eprintln!(
                "N={n}: rollout run {run}: the pass that registered the rollout is still running {:?} into it",
                rollout_real / 2
            );
        }

        let change = Change {
            job: other,
            version,
            rollout: Rollout::Quick,
            message: "another job changes, pushed",
        };
        let (commit, elapsed) = push_timed(rt, sim, served, agent, &change);
        let status = deployment_status(sim, &deployment);
        agent.wait_synced(rt, &commit);
        sim.advance(LONG_ROLLOUT);
        agent.wait_ended(rt, &format!("job{long}"), &deployment);
        eprintln!(
            "N={n}: rollout run {run}: register after {elapsed:?}; the rollout was {status} then"
        );
        times.push(elapsed);
    }
    mid(times)
}

/// A new version of one job, committed and pushed by [`push_timed`].
struct Change {
    job: usize,
    version: usize,
    rollout: Rollout,
    message: &'static str,
}

/// Commits `change`, sends the webhook and waits for its register call in the simulator's log;
/// the commit and the time from the webhook to that register.
fn push_timed(
    rt: &Runtime,
    sim: &Sim,
    served: &Served,
    agent: &Agent,
    change: &Change,
) -> (String, Duration) {
    let file = job_file(change.job, change.version, change.rollout);
    served.repo.write(&job_path(change.job), &file);
    let commit = served.commit(change.message);
    sim.clear_requests();
    let started = Instant::now();
    agent.push(rt, &served.url);
    (commit, wait_register(sim, started))
}

/// Waits until the simulator runs the latest version of job `i` and its deployment; the
/// deployment's ID.
fn running_deployment(sim: &Sim, i: usize) -> String {
    let id = format!("job{i}");
    let started = Instant::now();
    loop {
        let version = sim.job("default", &id).map(|j| j["Version"].clone());
        let latest = local::get_json(&format!("{}/v1/job/{id}/deployment", sim.url()));
        if let Some(d) = latest.filter(|d| Some(&d["JobVersion"]) == version.as_ref())
            && d["Status"] == "running"
        {
            return d["ID"].as_str().expect("a deployment ID").to_owned();
        }
        assert!(
            started.elapsed() < PASS_TIMEOUT,
            "{id} registered, but its deployment never ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A deployment's status in the simulator (`running`, `successful`...).
fn deployment_status(sim: &Sim, id: &str) -> String {
    let d = local::get_json(&format!("{}/v1/deployment/{id}", sim.url())).expect("deployment");
    d["Status"].as_str().unwrap_or_default().to_owned()
}

/// Polls the simulator's log every millisecond until a job register is in it (the log has no
/// timestamps); returns the time since `started`.
fn wait_register(sim: &Sim, started: Instant) -> Duration {
    loop {
        let registered = sim
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/v1/jobs");
        if registered {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PASS_TIMEOUT,
            "no job registered after the webhook"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Steady RSS (item 5b): `passes` passes of commits that change no job file, each triggered by
/// a webhook and waited for; then `VmRSS`.
fn steady_rss(
    rt: &Runtime,
    served: &Served,
    agent: &Agent,
    n: usize,
    passes: usize,
) -> Option<u64> {
    let before = agent.rss_kib();
    let started = Instant::now();
    for pass in 0..passes {
        served
            .repo
            .write("README.md", &format!("jobs, idle pass {pass}\n"));
        let commit = served.commit("no job changes, pushed");
        agent.push(rt, &served.url);
        agent.wait_synced(rt, &commit);
    }
    let after = agent.rss_kib();
    eprintln!(
        "N={n}: {passes} idle passes in {:?}; RSS {} MiB before, {} MiB after",
        started.elapsed(),
        mib(before),
        mib(after)
    );
    after
}

/// Idle CPU (item 6): the share of one core `agent` (polling every [`DEFAULT_POLL`]) uses over
/// `window` with nothing changing, in percent, and the passes in the window. A window of a poll
/// interval or more starts half an interval after the first pass, so that it holds one poll
/// (they come an interval plus up to 10 % jitter after a pass ends).
fn idle_cpu(
    rt: &Runtime,
    served: &Served,
    agent: &Agent,
    n: usize,
    window: Duration,
) -> (f64, u64) {
    agent.wait_synced(rt, &served.repo.head());
    if window >= DEFAULT_POLL {
        std::thread::sleep(DEFAULT_POLL / 2);
    }
    let (started, cpu) = (Instant::now(), cpu_seconds(agent.pid()));
    let passes_before = agent.passes(rt);
    std::thread::sleep(window);
    let cpu = cpu_seconds(agent.pid()) - cpu;
    let elapsed = started.elapsed();
    let polls = agent.passes(rt).saturating_sub(passes_before);
    let percent = 100.0 * cpu / elapsed.as_secs_f64();
    eprintln!(
        "N={n}: idle: {cpu:.2} s CPU in {elapsed:?} ({percent:.3} % of a core), {polls} poll(s)"
    );
    (percent, polls)
}

/// `drover run` with the bench's configuration in a world's directory, its HTTP endpoint on a
/// loopback port, `DROVER_LOG=warn` into `drover.log` there. Stopped with `SIGTERM` when
/// dropped.
struct Agent {
    child: Child,
    url: String,
    http: reqwest::Client,
    log: PathBuf,
}

impl Agent {
    /// Starts `drover run` polling every `poll`, with the webhook secret of the endpoint's tests.
    fn start(world: &World, url: &str, poll: &str) -> Self {
        let dir = world.state_dir.path();
        let secret = dir.join("webhook-secret");
        std::fs::write(&secret, serve::SECRET).expect("secret file");
        let port = git::free_port();
        let extra = format!(
            "poll = \"{poll}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\nwebhook_secret_file = \"{}\"\n",
            secret.display()
        );
        let config = write_config(world, url, &extra);
        let log = dir.join("drover.log");
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("DROVER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("drover run starts");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: serve::http_client(None),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_kib(&self) -> Option<u64> {
        proc_kib(self.pid(), "VmRSS:")
    }

    /// The source's entry in `/status`, once the endpoint answers.
    fn status(&self, rt: &Runtime) -> Option<serde_json::Value> {
        let url = format!("{}/status", self.url);
        let doc: serde_json::Value = rt.block_on(async {
            let response = self.http.get(url).send().await.ok()?;
            response.json().await.ok()
        })?;
        doc["sources"].get(0).cloned()
    }

    /// The source's passes so far.
    fn passes(&self, rt: &Runtime) -> u64 {
        self.status(rt)
            .and_then(|s| s["passes"].as_u64())
            .expect("/status answers")
    }

    /// The source's passes so far, once a pass has converged on `commit`.
    fn synced(&self, rt: &Runtime, commit: &str) -> Option<u64> {
        let s = self.status(rt)?;
        (s["last_synced_commit"] == commit && s["last_pass_result"] == "converged")
            .then(|| s["passes"].as_u64().unwrap_or_default())
    }

    /// Waits until a pass has converged on `commit`; returns the source's passes so far.
    fn wait_synced(&self, rt: &Runtime, commit: &str) -> u64 {
        let started = Instant::now();
        loop {
            if let Some(passes) = self.synced(rt, commit) {
                return passes;
            }
            assert!(
                started.elapsed() < PASS_TIMEOUT,
                "drover run did not sync {commit}: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the history of job `id` (`/status/jobs/default/<id>`) tells the end of
    /// `deployment`: succeeded, failed or superseded.
    fn wait_ended(&self, rt: &Runtime, id: &str, deployment: &str) {
        let url = format!("{}/status/jobs/default/{id}", self.url);
        let started = Instant::now();
        loop {
            let history: Option<serde_json::Value> = rt.block_on(async {
                let response = self.http.get(&url).send().await.ok()?;
                response.json().await.ok()
            });
            let events = history.as_ref().and_then(|h| h["events"].as_array());
            let ended = events.into_iter().flatten().any(|e| {
                e["deployment"] == deployment
                    && ["succeeded", "failed", "superseded"]
                        .contains(&e["kind"].as_str().unwrap_or(""))
            });
            if ended {
                return;
            }
            assert!(
                started.elapsed() < PASS_TIMEOUT,
                "drover never reported the end of {id}'s deployment {deployment}: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A signed GitHub push of `main` of the repository at `url`.
    fn push(&self, rt: &Runtime, url: &str) {
        let body = serde_json::json!({
            "ref": "refs/heads/main",
            "repository": { "clone_url": url },
        })
        .to_string();
        let signature = format!("sha256={}", serve::sign(body.as_bytes()));
        let request = self
            .http
            .post(format!("{}/webhook", self.url))
            .header("x-github-event", "push")
            .header("x-hub-signature-256", signature)
            .header("content-type", "application/json")
            .body(body);
        // Sent inside the runtime: the request's timeout needs its timer.
        let status = rt
            .block_on(async { request.send().await })
            .expect("webhook delivered")
            .status();
        assert_eq!(status, 200, "the webhook triggered no pass");
    }

    /// The end of drover's log, for a failure message.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let skip = log.chars().count().saturating_sub(2000);
        log.chars().skip(skip).collect()
    }
}

impl Drop for Agent {
    /// `SIGTERM`, then up to 30 s for drover to exit, then `SIGKILL`.
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return,
                Ok(Some(status)) => {
                    eprintln!("drover run exited with {status}: {}", self.log_tail());
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        eprintln!("drover run did not stop on SIGTERM; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `key` line (`VmRSS:`, `VmHWM:`...) of `/proc/<pid>/status`, in KiB.
fn proc_kib(pid: u32, key: &str) -> Option<u64> {
    kib_line(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        key,
    )
}

/// The value of the line starting with `key` in a `/proc` file of `key value kB` lines.
fn kib_line(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The user plus system CPU time of `pid` so far, in seconds: fields 14 and 15 of
/// `/proc/<pid>/stat`, in clock ticks.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // Field 2, the command name in parentheses, may hold spaces; field 3 follows its `)`.
    let (_, rest) = stat.rsplit_once(')').expect("stat fields");
    let field = |n: usize| -> u64 {
        rest.split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse().ok())
            .expect("a numeric stat field")
    };
    // SAFETY: sysconf only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (field(14) + field(15)) as f64 / ticks.max(1) as f64
}

fn mid(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| N | cold sync ms (fetch) | calls | lower bound ms | ratio | `sync --once` ms (CPU ms: drover / sim) | no-op ms | calls | git fetch ms | ratio | one file ms | calls | ratio to no-op | webhook to register ms | webhook to register during a rollout ms | peak RSS MiB | steady RSS MiB | idle CPU % (polls) |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} ({}) | {} | {} | {:.2} | {} ({} / {}) | {} | {} | {} | {:.2} | {} | {} | {:.2} | {} | {} | {} | {} | {:.2} ({}) |\n",
            r.n,
            ms(r.cold),
            ms(r.cold_fetch),
            r.cold_calls,
            ms(r.bound),
            ratio(r.cold, r.bound),
            ms(r.once.wall),
            ms(r.once.cpu),
            ms(r.once.sim_cpu),
            ms(r.noop),
            r.noop_calls,
            ms(r.git_fetch),
            ratio(r.noop, r.git_fetch),
            ms(r.one),
            r.one_calls,
            ratio(r.one, r.noop),
            ms(r.run.webhook),
            ms(r.run.webhook_during_rollout),
            mib(Some(r.once.peak_rss_kib)),
            mib(r.run.steady_rss_kib),
            r.run.idle_cpu_percent,
            r.run.idle_polls,
        ));
    }
    out
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| kib_line(&s, "MemTotal:"))
        .map_or_else(
            || "?".to_owned(),
            |k| format!("{:.1} GiB", k as f64 / 1048576.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {kernel}")
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let sizes = sizes();
    let settings = Settings::from_env();
    let (latency, runs) = (settings.latency, settings.runs);
    let (idle_passes, idle_secs) = (settings.idle_passes, settings.idle_window.as_secs());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rows: Vec<Row> = sizes.iter().map(|&n| measure(&rt, n, &settings)).collect();
    let command = format!(
        "DROVER_BENCH_SIZES={} DROVER_BENCH_LATENCY_MS={} DROVER_BENCH_RUNS={runs} \
         DROVER_BENCH_IDLE_PASSES={idle_passes} DROVER_BENCH_IDLE_SECS={idle_secs} cargo bench --bench sync",
        sizes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        latency.as_millis()
    );
    let table = table(&rows);
    println!(
        "\nNomad latency {latency:?}, median of {runs} runs; calls: total (parse/plan/register/other)\n"
    );
    println!("{table}");
    if std::env::var("DROVER_BENCH_WRITE").as_deref() == Ok("1") {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = format!(
            "# Benchmarks\n\n\
             `benches/sync.rs`: a jobs repository of N generated job files (one to three groups, each \
             with a service, a check, a template) served by `git daemon` on loopback, the Nomad \
             simulator answering every request {latency:?} after it arrived. Each figure is the median of {runs} \
             runs. Passes run in-process through `drover::sync::pass` with `--detach`.\n\n\
             ```sh\n{command}\n```\n\n\
             Machine: {}.\n\n\
             - cold sync: an empty state, all N jobs created; the lower bound is \
             N × (parse + plan + register calls per job) × latency / max_parallel, ratio = wall time / bound \
             (the wall time includes the first clone, shown as fetch).\n\
             - `sync --once`: the release binary making the same cold sync from an empty state, its wall \
             time, its own CPU time (user + system, from `wait4`) and the simulator's meanwhile (the \
             benchmark's process, from `getrusage`): both share the machine's two cores.\n\
             - no-op: a commit that changes no job file; ratio = wall time / a bare `git fetch` of the same commit.\n\
             - one file: a commit that changes one job in N; ratio = wall time / the no-op pass.\n\
             - calls: Nomad requests in the simulator's log, total (parse/plan/register/other).\n\
             - webhook to register: `drover run` (the release binary, synced, polling hourly) gets a \
             signed GitHub push of a commit that changes one job; the time from sending it until the \
             simulator has handled the register (its log is polled every millisecond).\n\
             - webhook to register during a rollout: the same while another job's deployment is in \
             flight, an hour long in the simulator's time (3.6 s real): that job was pushed first, \
             and its pass had ended (waited for up to half the rollout). A pass ends when its \
             registrations are submitted, so both figures should be alike.\n\
             - peak RSS: `drover sync --once --detach` (the release binary) making the cold sync.\n\
             - steady RSS: the `drover run` of the webhook figure after {idle_passes} more passes (60 \
             are an hour at the default 60 s poll), each a webhook for a commit that changes no job file.\n\
             - idle CPU: `drover run` restarted on that state with the default 60 s poll, its user + \
             system CPU time over {idle_secs} s with nothing changing, in % of one core; a window of 60 s \
             or more starts 30 s after the first pass so that it holds one poll (the polls in it are \
             in parentheses). Drift checks are hourly, so none falls in the window.\n\n\
             {table}",
            machine()
        );
        std::fs::write(root.join("BENCHMARKS.md"), text).expect("write BENCHMARKS.md");
        eprintln!("wrote {}", root.join("BENCHMARKS.md").display());
    }
}
