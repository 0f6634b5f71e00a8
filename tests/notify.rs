//! Telling how deployments went, end to end: `drover run` (a child process, see
//! `common::daemon`) against the Nomad simulator and a real Git repository, with local HTTP
//! servers playing the forges and the chat webhooks ([`Receiver`]).
//!
//! - GitHub: a deployed commit gets `pending`, then `success`, once each and in that order,
//!   with the token, the context, the description and a link to the job's page.
//! - GitLab: a failed deployment is `running`, then `failed` naming the job, in GitLab's words,
//!   with its token header and the project's path escaped.
//! - Gitea: a commit whose deployment a newer commit replaced gets `error` ("superseded by
//!   <short sha>"), and the newer commit `success`.
//! - A kill -9 of drover mid-deployment, after `pending` was sent: the restarted drover sends
//!   `pending` no second time and the final state once.
//! - Two instances with `[ha]`: the leader dies after `pending`, the other one takes over and
//!   finishes, and each state reaches the forge once (the record is the Nomad variable
//!   `drover/notified`).
//! - A webhook that answers 500 three times, then 200: the same signed message until it is
//!   taken, and never after; the signature is the HMAC-SHA256 of the body under the secret.
//! - A 429 with `Retry-After: 2` is sent again about two seconds later, not sooner.
//! - 300 jobs in one commit: one summary message per destination, naming 300 outcomes.
//! - No token, webhook URL or signing secret in drover's log (at debug level), `/status`,
//!   `/metrics` or state file, even when the receivers echo them back in their error answers.
//!
//! `DROVER_TEST_LOG=1` prints every daemon's log, not only a failing test's.
//!
//! The simulator's time runs at `time_scale` × real time; a deployment that must outlast a
//! step of the test is long in simulated time, and is ended by `Sim::advance` or a faster time
//! scale rather than by waiting.

mod common;
mod git;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::daemon::{Daemon, until};
use common::local;
use git::repo::Repo;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::HeaderMap;
use nomad_sim::Sim;
use serde_json::Value;
use sha2::Sha256;

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

/// A batch job file: it has no deployment, and succeeds once its evaluation placed it.
fn batch_file(id: &str) -> String {
    format!(
        "job \"{id}\" {{\n  datacenters = [\"dc1\"]\n  type = \"batch\"\n  group \"run\" {{\n    \
         task \"run\" {{\n      driver = \"docker\"\n      config {{\n        image = \"busybox:1\"\n      }}\n    }}\n  }}\n}}\n"
    )
}

/// The configuration (without `[server]` and `[state]`, which the harness adds): the
/// simulator, `[sync]` with `sync` added, one source `apps` on `repo` polled every second and
/// ending with `source_tables` (its `[source.commit_status]`), then `rest` (`[[notify]]`,
/// `[ha]`).
fn config(sim: &Sim, repo: &Repo, sync: &str, source_tables: &str, rest: &str) -> String {
    format!(
        "[nomad]\naddress = \"{}\"\nretry_min_delay = \"10ms\"\nretry_max_delay = \"50ms\"\n\
         [sync]\nshutdown_timeout = \"10s\"\n{sync}\n\
         [[source]]\nname = \"apps\"\nurl = \"{}\"\npaths = [\"*.nomad.hcl\"]\npoll = \"1s\"\n\
         {source_tables}\n{rest}",
        sim.url(),
        repo.path().display()
    )
}

/// A `[source.commit_status]` table; the token is read from `token_file`.
fn commit_status(provider: &str, api_url: &str, repository: &str, token_file: &Path) -> String {
    format!(
        "[source.commit_status]\nprovider = \"{provider}\"\napi_url = \"{api_url}\"\n\
         repository = \"{repository}\"\ntoken_file = \"{}\"\n",
        token_file.display()
    )
}

/// A `[[notify]]` table whose URL is read from `url_file`, with `extra` keys.
fn notify(name: &str, kind: &str, url_file: &Path, extra: &str) -> String {
    format!(
        "[[notify]]\nname = \"{name}\"\nkind = \"{kind}\"\nurl_file = \"{}\"\n{extra}\n",
        url_file.display()
    )
}

/// A secret no test output could hold by chance.
fn random_secret(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Secrets in files, as drover reads them, in a directory of their own.
struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes `value` to the file `name`; its path.
    fn file(&self, name: &str, value: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("secret file");
        path
    }
}

/// What a [`Receiver`] answers to one request.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    /// Whether the body repeats the request's path and header values, as some servers' error
    /// pages do.
    echo: bool,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        echo: false,
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn echo(mut self) -> Self {
        self.echo = true;
        self
    }
}

/// A request as a [`Receiver`] got it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// As sent: percent-escapes are kept.
    path: String,
    headers: HeaderMap,
    body: Bytes,
    /// When its head arrived.
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// An HTTP server on 127.0.0.1 that plays a forge or a chat webhook: it records every request
/// and answers the scripted replies in turn, then 200.
struct Receiver {
    /// `http://127.0.0.1:<port>`.
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(script: Vec<Reply>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (log, script) = (log.clone(), script.clone());
                let service =
                    hyper::service::service_fn(move |req| answer(req, log.clone(), script.clone()));
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Self { url, seen }
    }

    /// Every request so far, in arrival order.
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests to `path`.
    fn to(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// The commit statuses set on `sha`: every forge's path ends with `/statuses/<sha>`.
    fn statuses(&self, sha: &str) -> Vec<Seen> {
        let suffix = format!("/statuses/{sha}");
        let all = self.seen().into_iter();
        all.filter(|s| s.path.ends_with(&suffix)).collect()
    }

    /// The statuses of `sha` once there are at least `n`.
    async fn until_statuses(&self, sha: &str, n: usize, within: Duration) -> Vec<Seen> {
        let what = format!("{n} statuses of {}", &sha[..7]);
        until(&what, within, async || {
            let seen = self.statuses(sha);
            (seen.len() >= n).then_some(seen)
        })
        .await
    }

    /// The requests to `path` once there are at least `n`.
    async fn until_to(&self, path: &str, n: usize, within: Duration) -> Vec<Seen> {
        let what = format!("{n} requests to the receiver");
        until(&what, within, async || {
            let seen = self.to(path);
            (seen.len() >= n).then_some(seen)
        })
        .await
    }
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    log: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let next = script.lock().unwrap().pop_front();
    let reply = next.unwrap_or_else(|| reply(200));
    let text = if reply.echo {
        let values: Vec<&str> = parts
            .headers
            .values()
            .filter_map(|v| v.to_str().ok())
            .collect();
        format!("cannot {} {path} with {}", parts.method, values.join(", "))
    } else {
        "ok".to_owned()
    };
    log.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path,
        headers: parts.headers,
        body,
        at,
    });
    let mut response = hyper::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    Ok(response
        .body(Full::new(Bytes::from(text)))
        .expect("response"))
}

/// The `state` of each status, in order.
fn states(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .map(|s| s.json()["state"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits for `daemon` to finish two more passes of `apps`, a second apart: whatever the
/// outcomes seen so far would make drover send has been sent by then.
async fn two_more_passes(daemon: &Daemon) {
    let passes = async || {
        let source = daemon.source_status("apps").await?;
        source["passes"].as_u64()
    };
    let before = until("a pass count", Duration::from_secs(10), passes).await;
    until("two more passes", Duration::from_secs(30), async || {
        (passes().await? >= before + 2).then_some(())
    })
    .await;
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

/// The keys of what was notified, as the shared record in Nomad holds them.
async fn shared_notified(sim: &Sim) -> Vec<String> {
    match local::get(&format!("{}/v1/var/drover/notified", sim.url())).await {
        Some((200, body)) => {
            let var: Value = serde_json::from_str(&body).expect("variable JSON");
            let sent = var["Items"]["sent"].as_str().expect("item sent");
            serde_json::from_str(sent).expect("keys JSON")
        }
        _ => Vec::new(),
    }
}

/// How many keys of what was notified the daemon's state file holds.
fn local_notified(daemon: &Daemon) -> usize {
    daemon.state()["notified"].as_array().map_or(0, Vec::len)
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `key`.
fn signed(key: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(bytes) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// The wait for what drover does within seconds: generous, for a loaded machine.
const WITHIN: Duration = Duration::from_secs(60);

// Multi-threaded: the simulator and the receivers share the test's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_sees_pending_then_success_for_a_deployed_commit() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let github = Receiver::start(Vec::new()).await;
    let secrets = Secrets::new();
    let token = random_secret("ghp_");
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "1s", false));
    let sha = repo.commit("web");
    let forge = commit_status(
        "github",
        &github.url,
        "acme/jobs",
        &secrets.file("token", &token),
    );
    let text = config(&sim, &repo, "", &forge, "");
    let daemon = Daemon::start_with(&text, "public_url = \"http://drover.example\"", &[]);

    github.until_statuses(&sha, 2, WITHIN).await;
    two_more_passes(&daemon).await;
    let seen = github.statuses(&sha);
    assert_eq!(states(&seen), ["pending", "success"], "{seen:#?}");
    assert_eq!(github.seen().len(), 2, "nothing else: {:#?}", github.seen());
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(s.path, format!("/repos/acme/jobs/statuses/{sha}"));
        let bearer = format!("Bearer {token}");
        assert_eq!(s.header("authorization"), Some(bearer.as_str()));
        assert_eq!(s.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(s.json()["context"], "drover/apps", "{}", s.json());
    }
    let pending = seen[0].json();
    assert_eq!(pending["target_url"], "http://drover.example/status");
    let success = seen[1].json();
    assert_eq!(success["description"], "1 job deployed", "{success}");
    assert_eq!(
        success["target_url"], "http://drover.example/status/jobs/default/web",
        "{success}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_sees_a_failed_deployment_fail_naming_the_job() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let gitlab = Receiver::start(Vec::new()).await;
    let secrets = Secrets::new();
    let token = random_secret("glpat-");
    let repo = Repo::new();
    repo.write(
        "web.nomad.hcl",
        &job_file("web", "nginx:broken", "1s", true),
    );
    let sha = repo.commit("web, failing");
    let api = format!("{}/api/v4", gitlab.url);
    let forge = commit_status("gitlab", &api, "infra/jobs", &secrets.file("token", &token));
    let daemon = Daemon::start(&config(&sim, &repo, "", &forge, ""));

    gitlab.until_statuses(&sha, 2, WITHIN).await;
    two_more_passes(&daemon).await;
    let seen = gitlab.statuses(&sha);
    assert_eq!(states(&seen), ["running", "failed"], "{seen:#?}");
    assert_eq!(gitlab.seen().len(), 2, "nothing else: {:#?}", gitlab.seen());
    for s in &seen {
        assert_eq!(s.method, "POST");
        // The project's path is one segment, its `/` escaped.
        assert_eq!(
            s.path,
            format!("/api/v4/projects/infra%2Fjobs/statuses/{sha}")
        );
        assert_eq!(s.header("private-token"), Some(token.as_str()));
        assert_eq!(s.header("authorization"), None);
        assert_eq!(s.json()["name"], "drover/apps", "{}", s.json());
    }
    let failed = seen[1].json();
    let description = failed["description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with("web: ") && description.contains("failed"),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_sees_a_superseded_commit_end_in_error() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let gitea = Receiver::start(Vec::new()).await;
    let secrets = Secrets::new();
    let token = random_secret("gitea-");
    let repo = Repo::new();
    // Ten simulated minutes: far beyond this test, unless something waits for it.
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "10m", false));
    let first = repo.commit("web v1, slow");
    let api = format!("{}/api/v1", gitea.url);
    let forge = commit_status("gitea", &api, "ops/jobs", &secrets.file("token", &token));
    let daemon = Daemon::start(&config(&sim, &repo, "", &forge, ""));
    gitea.until_statuses(&first, 1, WITHIN).await;

    repo.write("web.nomad.hcl", &job_file("web", "nginx:2", "1s", false));
    let second = repo.commit("web v2");
    gitea.until_statuses(&first, 2, WITHIN).await;
    gitea.until_statuses(&second, 2, WITHIN).await;
    two_more_passes(&daemon).await;

    let old = gitea.statuses(&first);
    assert_eq!(states(&old), ["pending", "error"], "{old:#?}");
    let superseded = old[1].json();
    assert_eq!(
        superseded["description"],
        format!("superseded by {}", &second[..7]),
        "{superseded}"
    );
    let new = gitea.statuses(&second);
    assert_eq!(states(&new), ["pending", "success"], "{new:#?}");
    assert_eq!(gitea.seen().len(), 4, "nothing else: {:#?}", gitea.seen());
    for s in old.iter().chain(&new) {
        let sha = s.path.rsplit('/').next().unwrap_or_default();
        assert_eq!(s.path, format!("/api/v1/repos/ops/jobs/statuses/{sha}"));
        let auth = format!("token {token}");
        assert_eq!(s.header("authorization"), Some(auth.as_str()));
        assert_eq!(s.json()["context"], "drover/apps");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_mid_deployment_sends_nothing_twice() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let github = Receiver::start(Vec::new()).await;
    let secrets = Secrets::new();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "10m", false));
    let sha = repo.commit("web, slow");
    let token_file = secrets.file("token", &random_secret("ghp_"));
    let forge = commit_status("github", &github.url, "acme/jobs", &token_file);
    let mut daemon = Daemon::start(&config(&sim, &repo, "", &forge, ""));

    github.until_statuses(&sha, 1, WITHIN).await;
    // Between a delivery and its record lies an instant that no sender can close: the test
    // kills drover after it.
    until(
        "pending recorded as sent",
        Duration::from_secs(10),
        async || (local_notified(&daemon) >= 1).then_some(()),
    )
    .await;
    daemon.kill9();
    daemon.restart();
    until(
        "the restarted drover following the deployment",
        WITHIN,
        async || {
            let log = daemon.log();
            log.contains("following deployments found in flight")
                .then_some(())
        },
    )
    .await;
    sim.advance(Duration::from_secs(11 * 60));

    github.until_statuses(&sha, 2, WITHIN).await;
    two_more_passes(&daemon).await;
    let seen = github.statuses(&sha);
    assert_eq!(states(&seen), ["pending", "success"], "{seen:#?}");
    assert_eq!(github.seen().len(), 2, "nothing else: {:#?}", github.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_tell_each_state_once_across_a_change_of_leader() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let github = Receiver::start(Vec::new()).await;
    let secrets = Secrets::new();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "10m", false));
    let sha = repo.commit("web, slow");
    let token_file = secrets.file("token", &random_secret("ghp_"));
    let forge = commit_status("github", &github.url, "acme/jobs", &token_file);
    let ha = "[ha]\nenabled = true\nttl = \"10s\"\n";
    let text = config(&sim, &repo, "", &forge, ha);
    let mut all = vec![Daemon::start(&text), Daemon::start(&text)];
    let leader = one_leader(&[&all[0], &all[1]], WITHIN).await;

    github.until_statuses(&sha, 1, WITHIN).await;
    until(
        "pending recorded in Nomad",
        Duration::from_secs(10),
        async || (shared_notified(&sim).await.len() == 1).then_some(()),
    )
    .await;
    let mut dead = all.remove(leader);
    dead.kill9();
    let survivor = &all[0];
    sim.advance(LAPSE);
    assert_eq!(
        one_leader(&[survivor], WITHIN).await,
        0,
        "the survivor leads"
    );
    until(
        "the new leader following the deployment",
        WITHIN,
        async || {
            let events = survivor.history("default", "web").await;
            events.iter().any(|e| e["kind"] == "progress").then_some(())
        },
    )
    .await;
    // The deployment ends now (simulated time only: the lock lease runs on real time).
    sim.set_time_scale(1000.0);

    github.until_statuses(&sha, 2, WITHIN).await;
    two_more_passes(survivor).await;
    let seen = github.statuses(&sha);
    assert_eq!(states(&seen), ["pending", "success"], "{seen:#?}");
    assert_eq!(github.seen().len(), 2, "nothing else: {:#?}", github.seen());
    assert_eq!(
        shared_notified(&sim).await.len(),
        2,
        "both recorded in Nomad"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_fails_three_times_gets_the_signed_message_once() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let hook = Receiver::start(vec![reply(500), reply(500), reply(500)]).await;
    let secrets = Secrets::new();
    let path = format!("/hook/{}", random_secret(""));
    let key = random_secret("whsec_");
    let url_file = secrets.file("hook-url", &format!("{}{path}", hook.url));
    let secret_file = secrets.file("hook-secret", &key);
    let extra = format!(
        "secret_file = \"{}\"\ngroup_window = \"1s\"",
        secret_file.display()
    );
    let rest = notify("ops", "webhook", &url_file, &extra);
    let repo = Repo::new();
    repo.write(
        "web.nomad.hcl",
        &job_file("web", "nginx:broken", "1s", true),
    );
    let sha = repo.commit("web, failing");
    let daemon = Daemon::start(&config(&sim, &repo, "", "", &rest));

    hook.until_to(&path, 4, WITHIN).await;
    two_more_passes(&daemon).await;
    let seen = hook.to(&path);
    assert_eq!(seen.len(), 4, "three 500s, then taken: {seen:#?}");
    assert_eq!(hook.seen().len(), 4, "nothing else: {:#?}", hook.seen());
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(s.body, seen[0].body, "the same message each time");
        let signature = s.header("x-drover-signature-256").expect("signed");
        assert!(signed(&key, &s.body, signature), "{signature}");
    }
    let doc = seen[3].json();
    assert_eq!(doc["source"], "apps", "{doc}");
    assert_eq!(doc["commit"], sha.as_str(), "{doc}");
    assert_eq!(doc["events"][0]["job"], "web", "{doc}");
    assert_eq!(doc["events"][0]["outcome"], "failed", "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_status_is_sent_again_after_retry_after() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let github = Receiver::start(vec![reply(429).header("Retry-After", "2")]).await;
    let secrets = Secrets::new();
    let repo = Repo::new();
    repo.write("web.nomad.hcl", &job_file("web", "nginx:1", "1s", false));
    let sha = repo.commit("web");
    let token_file = secrets.file("token", &random_secret("ghp_"));
    let forge = commit_status("github", &github.url, "acme/jobs", &token_file);
    let daemon = Daemon::start(&config(&sim, &repo, "", &forge, ""));

    github.until_statuses(&sha, 3, WITHIN).await;
    two_more_passes(&daemon).await;
    let seen = github.statuses(&sha);
    assert_eq!(
        states(&seen),
        ["pending", "pending", "success"],
        "pending refused once, then sent again before success: {seen:#?}"
    );
    let gap = seen[1].at - seen[0].at;
    eprintln!("sent again {gap:?} after the 429");
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After: 2 waited out: {gap:?}"
    );
    assert!(gap < Duration::from_secs(10), "not much longer: {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_jobs_in_one_commit_make_one_message_per_destination() {
    const JOBS: usize = 300;
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    let receiver = Receiver::start(Vec::new()).await;
    let secrets = Secrets::new();
    let (slack_path, hook_path) = ("/slack/T0/B0/x", "/hook/all");
    let slack_url = secrets.file("slack", &format!("{}{slack_path}", receiver.url));
    let hook_url = secrets.file("hook", &format!("{}{hook_path}", receiver.url));
    // A window opens at a destination's first outcome of the commit. Batch jobs have no
    // deployment: all 300 are registered and placed within about 1.5 s of each other (a debug
    // build, 16 at once); 10 s leaves room for a loaded machine.
    let rest = [
        notify(
            "chat",
            "slack",
            &slack_url,
            "events = [\"succeeded\"]\ngroup_window = \"10s\"",
        ),
        notify(
            "hook",
            "webhook",
            &hook_url,
            "events = [\"registered\"]\ngroup_window = \"10s\"",
        ),
    ]
    .concat();
    let repo = Repo::new();
    for i in 0..JOBS {
        let id = format!("batch-{i:03}");
        repo.write(&format!("{id}.nomad.hcl"), &batch_file(&id));
    }
    repo.commit("300 batch jobs");
    let started = Instant::now();
    let text = config(&sim, &repo, "max_parallel = 16", "", &rest);
    let daemon = Daemon::start(&text);

    let slack = receiver
        .until_to(slack_path, 1, Duration::from_secs(90))
        .await;
    let hook = receiver
        .until_to(hook_path, 1, Duration::from_secs(90))
        .await;
    eprintln!("both messages within {:?}", started.elapsed());
    two_more_passes(&daemon).await;
    assert_eq!(receiver.to(slack_path).len(), 1, "one Slack message");
    assert_eq!(receiver.to(hook_path).len(), 1, "one webhook message");
    assert_eq!(receiver.seen().len(), 2, "nothing else");

    let text = slack[0].json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(": 300 outcomes"), "{text}");
    assert!(lines[1].starts_with("300 succeeded: batch-"), "{text}");
    assert_eq!(lines.len(), 2, "{text}");

    let doc = hook[0].json();
    let events = doc["events"].as_array().expect("events");
    assert_eq!(events.len(), JOBS);
    assert!(events.iter().all(|e| e["outcome"] == "registered"), "{doc}");
    let mut jobs: Vec<&str> = events.iter().filter_map(|e| e["job"].as_str()).collect();
    jobs.sort_unstable();
    jobs.dedup();
    assert_eq!(jobs.len(), JOBS, "every job once");
    let text = doc["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("300 outcomes") && text.contains("300 registered"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_webhook_url_shows_in_any_output() {
    let sim = Sim::builder().time_scale(1.0).start().await.unwrap();
    // Every receiver repeats the request in its first answer, as some error pages do: the
    // forge's and the webhook's are retried, Slack's refused.
    let receiver = Receiver::start(vec![reply(500).echo()]).await;
    let hook_receiver = Receiver::start(vec![reply(502).echo()]).await;
    let slack_receiver = Receiver::start(vec![reply(404).echo()]).await;
    let secrets = Secrets::new();
    let token = random_secret("ghp_");
    let hook_secret = random_secret("");
    let slack_secret = random_secret("");
    let signing_key = random_secret("whsec_");
    let hook_path = format!("/hook/{hook_secret}");
    let slack_path = format!("/services/T0/B0/{slack_secret}");
    let forge = commit_status(
        "github",
        &receiver.url,
        "acme/jobs",
        &secrets.file("token", &token),
    );
    let hook_url = secrets.file("hook", &format!("{}{hook_path}", hook_receiver.url));
    let slack_url = secrets.file("slack", &format!("{}{slack_path}", slack_receiver.url));
    let signing = format!(
        "secret_file = \"{}\"\ngroup_window = \"1s\"",
        secrets.file("signing", &signing_key).display()
    );
    let rest = [
        notify("hook", "webhook", &hook_url, &signing),
        notify("chat", "slack", &slack_url, "group_window = \"1s\""),
    ]
    .concat();
    let repo = Repo::new();
    repo.write(
        "web.nomad.hcl",
        &job_file("web", "nginx:broken", "1s", true),
    );
    let sha = repo.commit("web, failing");
    let env = [("DROVER_LOG".to_owned(), "debug".into())];
    let text = config(&sim, &repo, "", &forge, &rest);
    let daemon = Daemon::start_with(&text, "public_url = \"http://drover.example\"", &env);

    // pending refused once then sent, then failure; the webhook's message twice; Slack's once.
    receiver.until_statuses(&sha, 3, WITHIN).await;
    hook_receiver.until_to(&hook_path, 2, WITHIN).await;
    slack_receiver.until_to(&slack_path, 1, WITHIN).await;
    until("the refusal logged", Duration::from_secs(10), async || {
        daemon.log().contains("notification refused").then_some(())
    })
    .await;
    two_more_passes(&daemon).await;

    let log = daemon.log();
    assert!(log.contains(" DEBUG "), "the log is at debug level");
    assert!(
        log.contains("[redacted]"),
        "the echoed answers reached the log, redacted"
    );
    let status = daemon.get("/status").await.expect("/status").1;
    let metrics = daemon.get("/metrics").await.expect("/metrics").1;
    assert!(
        metrics.contains("destination=\"hook\""),
        "the destinations are in /metrics by name: {metrics}"
    );
    let state = daemon.state().to_string();
    let secrets = [
        ("the token", &token),
        ("the webhook's URL", &hook_secret),
        ("Slack's URL", &slack_secret),
        ("the signing key", &signing_key),
    ];
    for (place, text) in [
        ("the log", &log),
        ("/status", &status),
        ("/metrics", &metrics),
        ("the state file", &state),
    ] {
        for (what, secret) in secrets {
            assert!(!text.contains(secret.as_str()), "{place} holds {what}");
        }
    }
}
