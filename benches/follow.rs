//! Following many deployments at once: the way drover's deployment follower watches them
//! (`src/follow/watch.rs`) against two plainer ones, measured against the Nomad simulator.
//!
//! `DROVER_BENCH_FOLLOW_DEPLOYMENTS` (default 1,000) service jobs are registered, each group
//! turning healthy after its own `min_healthy_time`, so that their deployments are all in
//! flight at once and finish one after another over `DROVER_BENCH_FOLLOW_SECS` (default 20)
//! seconds. Once every registration's evaluation has made its deployment, they are followed
//! until every one has ended, on a fresh simulator with the same jobs for each strategy:
//!
//! - (a) list: ONE blocking query on `GET /v1/deployments?namespace=*`, re-sent with the last
//!   index as soon as it returns, each answer checked for every followed deployment. Every
//!   answer carries every deployment of the cluster, followed or not, ended or not;
//! - (b) per deployment: one watch loop per deployment, each a blocking query on
//!   `GET /v1/deployment/:id` with its own index. Every answer carries one deployment, but
//!   every loop holds a connection of its own while it waits (Nomad allows 100 per client
//!   address by default);
//! - (c) the follower's: ONE blocking query on the list of the deployments not ended
//!   (`filter=Status != "successful" and ...`), sent at most once every 250 ms. A followed
//!   deployment missing from an answer taken at an index at or after its `CreateIndex` has
//!   ended, and is read once by ID (`GET /v1/deployment/:id`, not blocking); those reads are
//!   requests too. Every answer carries only what is still in flight, and the pause bounds how
//!   often it is sent while Nomad's index moves many times a second.
//!
//! Per strategy, over the watch: HTTP requests (as drover sent them and as the simulator logged
//! them); bytes of the answers, headers included, counted by a proxy between drover and the
//! simulator; CPU time (user + system) of the whole process, which includes the simulator, and
//! of drover's runtime alone; the delay from a deployment's final `ModifyTime` in the
//! simulator to the follower knowing it ended (median and max); wall time. Then each of (b) and
//! (a) divided by (c): what the follower saves, and what its pause costs in delay.
//!
//! `DROVER_BENCH_FOLLOW_OTHERS` (default 0) more jobs' deployments, finished before the watch
//! starts, stand for the rest of the cluster's history: only (a) pays for them.
//!
//! `cargo bench --bench follow`; also `DROVER_BENCH_LATENCY_MS` (default 2). A quick run:
//! `DROVER_BENCH_FOLLOW_DEPLOYMENTS=20 DROVER_BENCH_FOLLOW_SECS=2 cargo bench --bench follow`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use drover::config::{Cluster, Retry, Tls};
use drover::nomad::{Client, Deployment, IndexTracker, Query, RegisterRequest};
use nomad_sim::Sim;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Simulated time runs this much faster than real time: minutes of `min_healthy_time` last
/// seconds.
const TIME_SCALE: f64 = 60.0;
/// drover's default `blocking_wait`.
const WAIT: Duration = Duration::from_secs(30);
/// Prefix of the followed jobs' IDs; the others' start with `other-`.
const FOLLOWED: &str = "follow-";
/// The follower's least time between two list queries (`MIN_INTERVAL` in
/// `src/follow/watch.rs`).
const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// The follower's filter: deployments that have not ended (`ACTIVE` in `src/follow/watch.rs`).
const ACTIVE: &str = r#"Status != "successful" and Status != "failed" and Status != "cancelled""#;

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The bench's knobs, from the environment.
struct Settings {
    deployments: usize,
    others: usize,
    spread: Duration,
    latency: Duration,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            deployments: var("DROVER_BENCH_FOLLOW_DEPLOYMENTS", 1000usize).max(1),
            others: var("DROVER_BENCH_FOLLOW_OTHERS", 0),
            spread: Duration::from_secs(var("DROVER_BENCH_FOLLOW_SECS", 20)),
            latency: Duration::from_millis(var("DROVER_BENCH_LATENCY_MS", 2)),
        }
    }

    /// How long after its registration the first followed deployment finishes: room for
    /// registering them all and waiting for their deployments.
    fn lead(&self) -> Duration {
        Duration::from_secs(3) + Duration::from_millis(5) * self.deployments as u32
    }

    /// The real time followed deployment `i` runs: from the lead to the lead plus the spread.
    fn lifetime(&self, i: usize) -> Duration {
        self.lead() + self.spread.mul_f64(i as f64 / self.deployments as f64)
    }
}

/// A service job of two or three allocations whose deployment succeeds `lifetime` (real time)
/// after it starts.
fn job(id: &str, i: usize, lifetime: Duration) -> Value {
    let min_healthy = u64::try_from(lifetime.mul_f64(TIME_SCALE).as_nanos()).expect("nanos");
    json!({
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "web", "Count": 2 + i % 2,
            "Update": {"MaxParallel": 1, "MinHealthyTime": min_healthy},
            "Tasks": [{
                "Name": "app", "Driver": "docker",
                "Config": {"image": format!("registry.example.com/app{i}:1.0.0")},
                "Resources": {"CPU": 100, "MemoryMB": 128}
            }]
        }]
    })
}

/// drover's default settings for a cluster at `url`.
fn cluster(url: &str) -> Cluster {
    Cluster {
        name: "bench".into(),
        address: url.parse().expect("url"),
        token: None,
        region: None,
        namespace: None,
        tls: Tls::default(),
        request_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        max_response_bytes: 16 * 1024 * 1024,
        blocking_wait: WAIT,
        ui_url: None,
        retry: Retry {
            max_retries: 4,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        },
    }
}

#[derive(Clone, Copy)]
enum Strategy {
    List,
    PerDeployment,
    Active,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Self::List => "(a) list, one query",
            Self::PerDeployment => "(b) one query per deployment",
            Self::Active => "(c) list not ended, paced; reads",
        }
    }
}

/// The followed deployments: ID and `CreateIndex`.
type Followed = HashMap<String, u64>;

/// One blocking query on the list of every deployment; returns when each followed deployment
/// was seen terminal.
async fn follow_list(client: Client, ids: Followed) -> HashMap<String, SystemTime> {
    let mut tracker = IndexTracker::new();
    let mut seen = HashMap::new();
    while seen.len() < ids.len() {
        let reply = client
            .list_deployments(None, &tracker.query(WAIT))
            .await
            .expect("list deployments");
        if !tracker.observe(&reply.meta) {
            continue;
        }
        let now = SystemTime::now();
        for d in reply.value {
            if d.status.is_terminal() && ids.contains_key(&d.id) {
                seen.entry(d.id).or_insert(now);
            }
        }
    }
    seen
}

/// One blocking query per deployment; returns when each was seen terminal.
async fn follow_each(client: Client, ids: Followed) -> HashMap<String, SystemTime> {
    let mut loops = JoinSet::new();
    for id in ids.into_keys() {
        let client = client.clone();
        loops.spawn(async move {
            let mut tracker = IndexTracker::new();
            loop {
                let reply = client
                    .read_deployment(&id, &tracker.query(WAIT))
                    .await
                    .expect("read deployment");
                if tracker.observe(&reply.meta) && reply.value.status.is_terminal() {
                    return (id, SystemTime::now());
                }
            }
        });
    }
    loops.join_all().await.into_iter().collect()
}

/// The deployments not ended, as of a Nomad index: one answer of the follower's watch.
#[derive(Default)]
struct Snapshot {
    index: u64,
    deployments: Vec<Deployment>,
}

/// The follower's watch: one blocking query on the list of the deployments not ended, at most
/// one every [`MIN_INTERVAL`], each changed answer published as the latest snapshot.
async fn watch_active(client: Client, snapshots: watch::Sender<Arc<Snapshot>>) {
    let mut tracker = IndexTracker::new();
    loop {
        let reply = client
            .list_deployments(Some(ACTIVE), &tracker.query(WAIT))
            .await
            .expect("list deployments not ended");
        if tracker.observe(&reply.meta) {
            snapshots.send_replace(Arc::new(Snapshot {
                index: reply.meta.index,
                deployments: reply.value,
            }));
        }
        tokio::time::sleep(MIN_INTERVAL).await;
    }
}

/// The follower's way: the watch of the deployments not ended, and one read by ID of each
/// followed deployment that a snapshot taken at or after its `CreateIndex` no longer lists;
/// returns when each was read terminal.
async fn follow_active(client: Client, ids: Followed) -> HashMap<String, SystemTime> {
    let (snapshots_tx, mut snapshots) = watch::channel(Arc::default());
    let watcher = tokio::spawn(watch_active(client.clone(), snapshots_tx));
    let mut seen = HashMap::new();
    let mut looking_up = HashSet::new();
    let mut reads = JoinSet::new();
    while seen.len() < ids.len() {
        tokio::select! {
            changed = snapshots.changed() => {
                changed.expect("the watch runs until the end");
                let snapshot: Arc<Snapshot> = snapshots.borrow_and_update().clone();
                let listed: HashSet<&str> =
                    snapshot.deployments.iter().map(|d| d.id.as_str()).collect();
                for (id, &created) in &ids {
                    let ended = snapshot.index >= created && !listed.contains(id.as_str());
                    if ended && !seen.contains_key(id) && looking_up.insert(id.clone()) {
                        let (client, id) = (client.clone(), id.clone());
                        reads.spawn(async move {
                            let read = client
                                .read_deployment(&id, &Query::now())
                                .await
                                .expect("read deployment");
                            (id, read.value)
                        });
                    }
                }
            }
            Some(read) = reads.join_next() => {
                let (id, d) = read.expect("read task");
                looking_up.remove(&id);
                // Not listed among those not ended, so ended; were it not, the next snapshot
                // would have it read again.
                if d.status.is_terminal() {
                    seen.insert(id, SystemTime::now());
                }
            }
        }
    }
    watcher.abort();
    seen
}

/// Forwards connections to `target`, adding the bytes of its answers to `received`: the wire
/// between drover and Nomad.
async fn proxy(target: SocketAddr, received: Arc<AtomicU64>) -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let answers = async {
                    let mut buf = vec![0; 64 * 1024];
                    loop {
                        let n = server_read.read(&mut buf).await?;
                        if n == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        received.fetch_add(n as u64, Ordering::Relaxed);
                        client_write.write_all(&buf[..n]).await?;
                    }
                };
                tokio::select! {
                    _ = tokio::io::copy(&mut client_read, &mut server_write) => {}
                    _ = answers => {}
                }
            });
        }
    });
    addr
}

/// User plus system CPU time of the process or of the calling thread.
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live, writable local.
    let done = unsafe { libc::getrusage(who, &raw mut usage) };
    assert_eq!(done, 0, "getrusage: {}", std::io::Error::last_os_error());
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs `work` on a runtime of its own, as drover's daemon would; returns its output and the
/// CPU time of the runtime's threads, each read as the thread ends.
fn on_own_runtime<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> (T, Duration) {
    let cpu = Arc::new(Mutex::new(Duration::ZERO));
    let total = cpu.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_stop(move || {
            *total.lock().expect("cpu total") += cpu_time(libc::RUSAGE_THREAD);
        })
        .build()
        .expect("runtime");
    let out = rt.block_on(rt.spawn(work)).expect("watch");
    // Joins the runtime's threads, so that each has added its time.
    drop(rt);
    let cpu = *cpu.lock().expect("cpu total");
    (out, cpu)
}

/// What following the deployments cost with one strategy.
struct Figures {
    strategy: Strategy,
    requests: u64,
    /// drover's requests by call.
    calls: BTreeMap<String, u64>,
    sim_requests: usize,
    bytes: u64,
    cpu: Duration,
    drover_cpu: Duration,
    /// From each deployment's terminal `ModifyTime` to the follower seeing it, sorted.
    delays: Vec<Duration>,
    wall: Duration,
}

impl Figures {
    /// The process's CPU time outside drover's runtime: the simulator and the proxy.
    fn rest_cpu(&self) -> Duration {
        self.cpu.saturating_sub(self.drover_cpu)
    }

    fn delay(&self, quantile: f64) -> Duration {
        let last = self.delays.len() - 1;
        self.delays[(last as f64 * quantile).round() as usize]
    }
}

/// Registers the jobs with a fresh simulator, waits for their deployments, follows them with
/// `strategy`.
fn measure(cluster_rt: &Runtime, settings: &Settings, strategy: Strategy) -> Figures {
    let received = Arc::new(AtomicU64::new(0));
    let (sim, proxied) = cluster_rt.block_on(async {
        let sim = Sim::builder()
            .latency(settings.latency)
            .time_scale(TIME_SCALE)
            .start()
            .await
            .expect("sim");
        let proxied = proxy(sim.addr(), received.clone()).await;
        (sim, proxied)
    });
    let started = Instant::now();
    let ids = cluster_rt.block_on(register(&sim, settings));
    eprintln!(
        "{}: {} deployments running after {:?}",
        strategy.name(),
        ids.len(),
        started.elapsed()
    );

    sim.clear_requests();
    let calls = Arc::new(Mutex::new(BTreeMap::new()));
    let counted = calls.clone();
    let client = Client::new(&cluster(&format!("http://{proxied}")))
        .expect("client")
        .with_observer(Arc::new(move |call, _, _| {
            *counted
                .lock()
                .expect("calls")
                .entry(call.to_owned())
                .or_insert(0) += 1;
        }))
        .in_namespace("*");
    let cpu_before = cpu_time(libc::RUSAGE_SELF);
    let started = Instant::now();
    let (seen, drover_cpu) = on_own_runtime(async move {
        match strategy {
            Strategy::List => follow_list(client, ids).await,
            Strategy::PerDeployment => follow_each(client, ids).await,
            Strategy::Active => follow_active(client, ids).await,
        }
    });
    let wall = started.elapsed();
    let cpu = cpu_time(libc::RUSAGE_SELF) - cpu_before;
    let calls = calls.lock().expect("calls").clone();
    let requests = calls.values().sum();
    let bytes = received.load(Ordering::Relaxed);
    let sim_requests = sim.requests().len();

    let finished = cluster_rt.block_on(terminal_times(&sim));
    let mut delays: Vec<Duration> = seen
        .iter()
        .map(|(id, at)| at.duration_since(finished[id]).unwrap_or_default())
        .collect();
    delays.sort();
    Figures {
        strategy,
        requests,
        calls,
        sim_requests,
        bytes,
        cpu,
        drover_cpu,
        delays,
        wall,
    }
}

/// Registers the other jobs, waits for their deployments to finish, registers the followed
/// jobs and waits for theirs to start; returns the followed deployments.
async fn register(sim: &Sim, settings: &Settings) -> Followed {
    let client = Client::new(&cluster(&sim.url())).expect("client");
    let others = (0..settings.others).map(|i| job(&format!("other-{i}"), i, Duration::ZERO));
    register_all(&client, others).await;
    let everywhere = client.in_namespace("*");
    wait_for_deployments(&everywhere, settings.others).await;
    let followed =
        (0..settings.deployments).map(|i| job(&format!("{FOLLOWED}{i}"), i, settings.lifetime(i)));
    register_all(&client, followed).await;
    let all = wait_for_deployments(&everywhere, settings.others + settings.deployments).await;
    let running: Followed = all
        .iter()
        .filter(|d| d.job_id.starts_with(FOLLOWED) && !d.status.is_terminal())
        .map(|d| (d.id.clone(), d.create_index))
        .collect();
    assert_eq!(
        running.len(),
        settings.deployments,
        "followed deployments finished before the watch: registering took longer than the lead"
    );
    running
}

async fn register_all(client: &Client, jobs: impl Iterator<Item = Value>) {
    let mut registers = JoinSet::new();
    for job in jobs {
        let client = client.clone();
        registers.spawn(async move {
            let req = RegisterRequest {
                job,
                ..RegisterRequest::default()
            };
            client.register_job(&req).await.expect("register");
        });
    }
    registers.join_all().await;
}

/// Waits until the cluster has `n` deployments; those of the other jobs finish at once.
async fn wait_for_deployments(client: &Client, n: usize) -> Vec<Deployment> {
    loop {
        let all = client
            .list_deployments(None, &Query::now())
            .await
            .expect("list deployments")
            .value;
        let others_done = all
            .iter()
            .all(|d| d.job_id.starts_with(FOLLOWED) || d.status.is_terminal());
        if all.len() == n && others_done {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// When each deployment ended in the simulator: its `ModifyTime`, which the scheduler sets in
/// the write that makes it successful (drover's type does not carry it).
async fn terminal_times(sim: &Sim) -> HashMap<String, SystemTime> {
    let url = format!("{}/v1/deployments?namespace=*", sim.url());
    let all: Vec<Value> = reqwest::get(url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("deployments")
        .json()
        .await
        .expect("deployments JSON");
    all.iter()
        .map(|d| {
            let nanos = d["ModifyTime"].as_u64().expect("ModifyTime");
            let id = d["ID"].as_str().expect("ID").to_owned();
            (id, UNIX_EPOCH + Duration::from_nanos(nanos))
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn table(rows: &[Figures]) -> String {
    let mut out = String::from(
        "| strategy | requests (drover / sim) | answers MiB | bytes / answer | CPU s (process / drover / rest) | delay ms (median / max) | wall s |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for f in rows {
        out.push_str(&format!(
            "| {} | {} / {} | {:.1} | {} | {:.2} / {:.2} / {:.2} | {} / {} | {:.1} |\n",
            f.strategy.name(),
            f.requests,
            f.sim_requests,
            f.bytes as f64 / (1024.0 * 1024.0),
            f.bytes / f.requests.max(1),
            f.cpu.as_secs_f64(),
            f.drover_cpu.as_secs_f64(),
            f.rest_cpu().as_secs_f64(),
            ms(f.delay(0.5)),
            ms(f.delay(1.0)),
            f.wall.as_secs_f64(),
        ));
    }
    if let [a, b, c] = rows {
        out.push_str(&ratios("(b) / (c)", b, c));
        out.push_str(&ratios("(a) / (c)", a, c));
    }
    out
}

/// A row of `of` divided by `by`, figure by figure.
fn ratios(label: &str, of: &Figures, by: &Figures) -> String {
    let r = |of: f64, by: f64| format!("{:.2}", of / by);
    let secs = |d: Duration| d.as_secs_f64();
    let per_answer = |f: &Figures| (f.bytes / f.requests.max(1)) as f64;
    format!(
        "| {label} | {} / {} | {} | {} | {} / {} / {} | {} / {} | {} |\n",
        r(of.requests as f64, by.requests as f64),
        r(of.sim_requests as f64, by.sim_requests as f64),
        r(of.bytes as f64, by.bytes as f64),
        r(per_answer(of), per_answer(by)),
        r(secs(of.cpu), secs(by.cpu)),
        r(secs(of.drover_cpu), secs(by.drover_cpu)),
        r(secs(of.rest_cpu()), secs(by.rest_cpu())),
        r(secs(of.delay(0.5)), secs(by.delay(0.5))),
        r(secs(of.delay(1.0)), secs(by.delay(1.0))),
        r(secs(of.wall), secs(by.wall)),
    )
}

/// drover's requests of each strategy by call: `deployments` lists, `deployment` reads by ID.
fn calls(rows: &[Figures]) -> String {
    let mut out = String::new();
    for f in rows {
        let calls: Vec<String> = f
            .calls
            .iter()
            .map(|(call, n)| format!("{n} `{call}`"))
            .collect();
        out.push_str(&format!("{}: {}\n", f.strategy.name(), calls.join(" + ")));
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let settings = Settings::from_env();
    // For the one plain request that reads `ModifyTime`; drover's client brings its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rows: Vec<Figures> = [Strategy::List, Strategy::PerDeployment, Strategy::Active]
        .into_iter()
        .map(|strategy| {
            // A fresh simulator, its proxy and its runtime for each strategy.
            let cluster_rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime");
            measure(&cluster_rt, &settings, strategy)
        })
        .collect();
    println!(
        "\n{} deployments followed, {} others finished, finishing over {:?} from {:?} after \
         registration; Nomad latency {:?}, blocking wait {WAIT:?}\n",
        settings.deployments,
        settings.others,
        settings.spread,
        settings.lead(),
        settings.latency,
    );
    println!("{}", table(&rows));
    println!("{}", calls(&rows));
}
