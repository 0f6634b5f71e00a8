//! The simulator process: shared state, the HTTP(S) accept loop, the Task API socket's, the
//! scheduler's background tick, blocking-query waits, and [`Sim`], the handle tests hold.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::acl::Acl;
use crate::clock::Clock;
use crate::control::{ConnKill, Fault, FaultKind, RequestRecord, TaskApi};
use crate::deployment::{self, Now};
use crate::http::Query;
use crate::state::{Store, Table};

/// How often the scheduler looks at evaluations, deployments and lock leases (real time).
const TICK: Duration = Duration::from_millis(10);

pub(crate) struct Shared {
    store: Mutex<Store>,
    /// Carries the latest write index; blocking queries wait on it.
    changed: watch::Sender<u64>,
    pub(crate) clock: Clock,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<RequestRecord>>,
    latency: Mutex<Duration>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the whole simulator down with a poisoned lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Runs `f` on the store and wakes blocking queries if it wrote anything.
    pub(crate) fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut store = lock(&self.store);
        let before = store.index;
        let out = f(&mut store);
        let after = store.index;
        drop(store);
        if after != before {
            self.changed.send_replace(after);
        }
        out
    }

    pub(crate) fn now(&self) -> Now {
        Now {
            sim: self.clock.sim_now(),
            unix: self.clock.unix_nanos(),
        }
    }

    /// A blocking query (docs/nomad-api.md): answers at once without `index`, else as soon as the
    /// index `f` reports exceeds it, or when the wait (plus up to 1/16 jitter) runs out.
    pub(crate) async fn blocking<T>(&self, q: &Query, f: impl Fn(&Store) -> (u64, T)) -> (u64, T) {
        let mut rx = self.changed.subscribe();
        rx.borrow_and_update();
        let jitter = q.wait.mul_f64(rand::random::<f64>() / 16.0);
        let deadline = tokio::time::Instant::now() + q.wait + jitter;
        loop {
            let (index, value) = f(&lock(&self.store));
            if q.index == 0 || index > q.index {
                return (index, value);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return f(&lock(&self.store));
            }
        }
    }

    pub(crate) fn has_leader(&self) -> bool {
        lock(&self.store).leader.is_some()
    }

    pub(crate) fn set_leader(&self, present: bool) {
        self.with_store(|s| s.leader = present.then(|| crate::state::LEADER_ADDR.to_owned()));
    }

    pub(crate) fn latency(&self) -> Duration {
        *lock(&self.latency)
    }

    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultKind> {
        crate::control::take_fault(&mut lock(&self.faults), method, path)
    }

    pub(crate) fn record(&self, r: RequestRecord) {
        lock(&self.log).push(r);
    }

    pub(crate) fn set_latency(&self, d: Duration) {
        *lock(&self.latency) = d;
    }
    pub(crate) fn inject(&self, f: Fault) {
        lock(&self.faults).push(f);
    }
    pub(crate) fn clear_faults(&self) {
        lock(&self.faults).clear();
    }
    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }
    pub(crate) fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    /// Registers a node in `pool`, creating the pool as a node's registration does in Nomad
    /// (`fetchOrCreateNodePoolTxn`); returns the node's ID.
    pub(crate) fn add_node(&self, pool: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.with_store(|s| {
            let tables: &[Table] = if s.node_pools.contains_key(pool) {
                &[]
            } else {
                &[Table::NodePools]
            };
            let index = s.write(tables);
            s.node_pools.entry(pool.to_owned()).or_insert_with(|| {
                crate::state::record(json!({"Name": pool, "Description": ""}), index)
            });
            s.nodes.insert(id.clone(), pool.to_owned());
        });
        id
    }

    /// A new workload identity for `job` in `namespace`.
    pub(crate) fn issue_identity(&self, namespace: &str, job: &str) -> String {
        let secret = uuid::Uuid::new_v4().to_string();
        self.with_store(|s| s.acl.issue_identity(&secret, namespace, job));
        secret
    }

    /// Removes a node; false when there is none with that ID.
    pub(crate) fn remove_node(&self, id: &str) -> bool {
        self.with_store(|s| s.nodes.remove(id).is_some())
    }

    fn tick(&self) {
        let now = self.now();
        let lease_now = self.clock.lease_now();
        self.with_store(|s| {
            deployment::tick(s, now);
            crate::variables::expire_locks(s, lease_now, now.unix);
        });
    }
}

/// Builds a simulator: ACLs, TLS, time scale, latency, listen address, Task API socket.
#[derive(Default)]
pub struct SimBuilder {
    listen: Option<SocketAddr>,
    socket: Option<PathBuf>,
    acl_token: Option<String>,
    tls: Option<Arc<rustls::ServerConfig>>,
    time_scale: Option<f64>,
    latency: Duration,
    enterprise: bool,
}

impl SimBuilder {
    /// Listen here instead of an ephemeral loopback port.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }
    /// Also answers on a unix socket at `path`, as a Nomad client's Task API does in a task's
    /// secrets directory: plain HTTP, every `/v1/` request authenticated first.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.socket = Some(path.into());
        self
    }
    /// Turns ACLs on; `secret` is the management token.
    pub fn acl_bootstrap_token(mut self, secret: &str) -> Self {
        self.acl_token = Some(secret.to_owned());
        self
    }
    /// Serves HTTPS with this configuration (client-certificate checks included, if it has them).
    pub fn tls(mut self, config: rustls::ServerConfig) -> Self {
        self.tls = Some(Arc::new(config));
        self
    }
    /// Deployments and allocations progress `scale` times faster than real time.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.time_scale = Some(scale);
        self
    }
    /// Accepts what only Nomad Enterprise accepts: a namespace's node pool configuration and a
    /// node pool's scheduler configuration (CE refuses them as unlicensed).
    pub fn enterprise(mut self) -> Self {
        self.enterprise = true;
        self
    }
    /// Every API request is answered no sooner than this after it arrived.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub async fn start(self) -> std::io::Result<Sim> {
        let acl = self
            .acl_token
            .as_deref()
            .map_or_else(Acl::default, Acl::bootstrap);
        let mut store = Store::new(acl);
        store.enterprise = self.enterprise;
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            changed: watch::channel(0).0,
            clock: Clock::new(self.time_scale.unwrap_or(1.0)),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            latency: Mutex::new(self.latency),
        });
        let listener = TcpListener::bind(
            self.listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let router = crate::api::router(shared.clone());
        let mut tasks = Vec::new();
        if let Some(path) = &self.socket {
            let socket = UnixListener::bind(path)?;
            tasks.push(tokio::spawn(task_api_loop(
                socket,
                router.clone(),
                stopped.clone(),
            )));
        }
        tasks.push(tokio::spawn(accept_loop(
            listener,
            router,
            self.tls.clone(),
            stopped.clone(),
        )));
        tasks.push(tokio::spawn(tick_loop(shared.clone(), stopped)));
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(Sim {
            shared,
            addr,
            scheme,
            socket: self.socket,
            stop,
            tasks,
        })
    }
}

async fn tick_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = interval.tick() => shared.tick(),
            _ = stopped.changed() => return,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stopped: watch::Receiver<bool>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let router = router.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(a) => match a.accept(tcp).await {
                    Ok(stream) => serve_connection(TokioIo::new(stream), router, false).await,
                    Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                },
                None => serve_connection(TokioIo::new(tcp), router, false).await,
            }
        });
    }
}

/// The Task API socket's accept loop: plain HTTP, each connection marked so that its requests
/// are authenticated first.
async fn task_api_loop(listener: UnixListener, router: Router, mut stopped: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        tokio::spawn(serve_connection(TokioIo::new(stream), router.clone(), true));
    }
}

/// Serves one connection; a `Drop` fault ends it without an answer.
async fn serve_connection<I>(io: I, router: Router, task_api: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let tag = ConnKill(kill.clone());
    let service = router.map_request(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(tag.clone());
        if task_api {
            req.extensions_mut().insert(TaskApi);
        }
        req
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, TowerToHyperService::new(service));
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    scheme: &'static str,
    socket: Option<PathBuf>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sim {
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Task API socket's address as `NOMAD_ADDR` takes it (`unix:///path/api.sock`), when
    /// [`SimBuilder::unix_socket`] asked for one.
    pub fn socket_url(&self) -> Option<String> {
        self.socket
            .as_deref()
            .map(|p| format!("unix://{}", p.display()))
    }

    /// The Task API socket's path.
    pub fn socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    /// Every API request received so far (control routes excluded).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }
    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault);
    }
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }
    /// Moves simulated time (deployments, lock leases, timestamps) forward.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.tick();
    }
    /// Takes the cluster's leader away (every consistent request then fails with
    /// `No cluster leader`) or gives it back.
    pub fn set_leader(&self, present: bool) {
        self.shared.set_leader(present);
    }
    /// Makes the agent report another Nomad version, as after an upgrade of the servers.
    pub fn set_version(&self, version: &str) {
        self.shared.with_store(|s| s.version = version.to_owned());
    }
    pub fn set_time_scale(&self, scale: f64) {
        self.shared.clock.set_scale(scale);
    }
    pub fn create_namespace(&self, name: &str) {
        self.shared.with_store(|s| s.add_namespace(name));
    }
    /// Registers a node in node pool `pool` (created if missing); returns the node's ID.
    pub fn add_node(&self, pool: &str) -> String {
        self.shared.add_node(pool)
    }
    /// A client token with rules such as `namespace:prod:read-job,submit-job`.
    pub fn acl_token(&self, rules: &[&str]) -> String {
        let secret = uuid::Uuid::new_v4().to_string();
        self.shared.with_store(|s| s.acl.add_token(&secret, rules));
        secret
    }
    /// A workload identity for `job` in `namespace`, as Nomad signs one for each of the job's
    /// tasks: its capabilities are those of the ACL policies whose `JobACL` names the job.
    /// Asking again for the same job is a renewal: a new token, and the old one stays valid,
    /// as a signed identity does until it expires, until [`Sim::expire_identity`].
    pub fn workload_identity(&self, namespace: &str, job: &str) -> String {
        self.shared.issue_identity(namespace, job)
    }
    /// An identity's token expires (or its allocation stops): requests with it are refused.
    /// False when there was no such identity.
    pub fn expire_identity(&self, token: &str) -> bool {
        self.shared.with_store(|s| s.acl.expire_identity(token))
    }
    /// Changes a live job as a person running `nomad job run` would (a new version).
    /// Returns false when the job does not exist or the edit changed nothing.
    pub fn edit_job(&self, namespace: &str, id: &str, edit: impl FnOnce(&mut Value)) -> bool {
        crate::api::edit_job(&self.shared, namespace, id, edit)
    }
    /// The current version of a job, as `GET /v1/job/:id` returns it.
    pub fn job(&self, namespace: &str, id: &str) -> Option<Value> {
        self.shared
            .with_store(|s| s.job(namespace, id).map(|e| e.job.clone()))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
        if let Some(path) = &self.socket {
            // A socket file left behind would make the next bind to the same path fail.
            let _ = std::fs::remove_file(path);
        }
    }
}
