//! The delivery of notifications: one queue per destination and one task that sends it, one
//! HTTP request at a time and in order, so that a commit's `pending` never lands after its
//! final status.
//!
//! Owns *how* a request reaches its destination: the HTTP client, retries with backoff, waiting
//! out the forges' rate limits, refusals, what counts as delivered (a 2xx answer), the queue's
//! bound and what it drops first, and what it counts in the `drover_notification*` metrics.
//! Never decides what is sent, to whom or in which words (the rest of `notifier`), never reads
//! a successful answer, and never logs a URL, a header value or a token: those are the
//! destination's secrets (a webhook URL *is* its credential). Every text it logs about a
//! request is redacted first, reqwest's errors included.
//!
//! - Server errors (5xx), timeouts and connection errors are retried 1 s, 2 s, 4 s, ... apart,
//!   doubling up to 60 s, each plus up to as much again of jitter (clamped at 60 s); a 503's
//!   `Retry-After` is honoured. At most 20 attempts and 15 minutes from the first: a quarter of
//!   an hour of outage is ridden out, then the notification is given up (`failed`, a WARN).
//! - Rate limits (a 429, or GitHub's 403 that says its quota is spent) are waited out as the
//!   answer says (`Retry-After`, else the reset time), between 1 s and 10 minutes at a time;
//!   an answer that says nothing waits a minute. The waits count within the 15 minutes.
//! - Any other answer (a 3xx, a 4xx) is refused: not sent again, counted `failed`, and logged
//!   at WARN once per status until a delivery succeeds.
//! - On cancellation the task finishes the request in flight, then stops: it starts no other
//!   and cuts a wait short. What is still queued is not sent.

use std::collections::{HashSet, VecDeque};
use std::error::Error as _;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// The most requests waiting per destination (the one being sent is not counted): enough for a
/// burst of deployments across many jobs, small enough that an unreachable destination holds
/// little memory.
const QUEUE_LEN: usize = 256;
/// The longest one request may take, answer included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one rate limit is waited out: GitHub's primary limit resets hourly, and a reset
/// far off is as likely a clock or a header misread as a real wait.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(10 * 60);
/// The least wait before a rate-limited request is sent again: a reset already past by our
/// clock (the forge's clock is ahead) must not turn into a burst of requests.
const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// The wait after a rate limit that says nothing of when it ends: GitHub's advice for its
/// secondary limits.
const UNSPECIFIED_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// How much of a refused or failed answer's body is logged.
const PREVIEW_BYTES: usize = 512;
/// How much of that body is read: more than is logged, so that a secret the server echoes
/// across the cut is still whole when it is redacted.
const PREVIEW_READ_BYTES: usize = 4096;
/// Parts of a URL or header values shorter than this are not redacted from logged text: they
/// are words such as `api` or `json`, and redacting them would garble the text, not hide a
/// secret.
const MIN_SECRET_LEN: usize = 8;

/// One HTTP request for a destination, built with the destination's secrets (a webhook URL, a
/// forge token) already in it: its Debug never shows the URL, the headers or the body.
pub struct Request {
    pub method: reqwest::Method,
    pub url: url::Url,
    /// Header name and value; a value may be a secret (an Authorization token).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What one request settles.
#[derive(Debug)]
pub struct Outgoing {
    /// The keys of what it tells (recorded as sent once it is delivered; opaque strings).
    pub keys: Vec<String>,
    /// A final word (a commit's final status, a failure message): dropped last when the
    /// queue overflows; a non-final one (a `pending` status) is dropped first.
    pub is_final: bool,
    pub request: Request,
}

/// A destination's queue and the task that delivers it, one request at a time, in order.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("destination", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// What [`Outbox::push`] and the delivery task share.
struct Shared {
    name: String,
    metrics: Arc<Metrics>,
    queue: Mutex<Queue>,
    /// Wakes the task after a push. `notify_one` keeps a permit while the task is busy, so a
    /// push made during a delivery is not missed.
    wake: Notify,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue stays consistent even if a holder panicked: every change is one call.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    /// Whether an overflow was logged since the last delivery: a destination that is down
    /// overflows with every push, and one line says it.
    overflow_logged: bool,
}

impl Queue {
    /// Adds `item` at the end. Past [`QUEUE_LEN`] it drops the oldest non-final item, `item`
    /// itself included (a new `pending` does not push out an older final word), or the oldest
    /// when all are final; it returns what it dropped.
    fn push(&mut self, item: Outgoing) -> Option<Outgoing> {
        self.items.push_back(item);
        if self.items.len() <= QUEUE_LEN {
            return None;
        }
        let victim = self.items.iter().position(|i| !i.is_final).unwrap_or(0);
        self.items.remove(victim)
    }
}

impl Outbox {
    /// Starts the delivery task of destination `name` (a config name, safe to log and to use as
    /// a metrics label). `delivered` is called with an Outgoing's keys once a 2xx answered it;
    /// it runs on the delivery task, so it must not block.
    pub fn start(
        name: &str,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
        delivered: Arc<dyn Fn(Vec<String>) + Send + Sync>,
        cancel: CancellationToken,
    ) -> Self {
        let task = Task {
            http,
            delivered,
            cancel,
            policy: POLICY,
        };
        Self::spawn(name, metrics, task).0
    }

    fn spawn(name: &str, metrics: Arc<Metrics>, task: Task) -> (Self, JoinHandle<()>) {
        metrics.notification_destination(name);
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            metrics,
            queue: Mutex::default(),
            wake: Notify::new(),
        });
        let handle = tokio::spawn(task.run(shared.clone()));
        (Self { shared }, handle)
    }

    /// Queues `item` without waiting; when the queue is full (QUEUE_LEN = 256) the oldest
    /// non-final item is dropped (or, when all are final, the oldest), counted in /metrics.
    pub fn push(&self, item: Outgoing) {
        let shared = &self.shared;
        let (dropped, first) = {
            let mut queue = shared.queue();
            let dropped = queue.push(item).is_some();
            let first = dropped && !std::mem::replace(&mut queue.overflow_logged, true);
            (dropped, first)
        };
        if dropped {
            shared.metrics.notification(&shared.name, "dropped");
            if first {
                tracing::warn!(
                    destination = %shared.name, queued = QUEUE_LEN,
                    "notification queue full: dropping the oldest notifications, pending ones \
                     first (counted in drover_notifications_total, logged again after a delivery)"
                );
            }
        }
        shared.wake.notify_one();
    }
}

/// How hard one notification is tried.
#[derive(Debug, Clone, Copy)]
struct Policy {
    /// The first backoff, doubled after each retry up to `max_delay`.
    first_delay: Duration,
    max_delay: Duration,
    /// Requests sent for one notification, the first included.
    max_attempts: usize,
    /// No retry starts later than this after the first attempt.
    give_up_after: Duration,
}

/// See the module's doc. 20 attempts and 15 minutes agree: 1 + 2 + ... + 32 s, then 60 s
/// apart, make about 15 minutes.
const POLICY: Policy = Policy {
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(60),
    max_attempts: 20,
    give_up_after: Duration::from_secs(15 * 60),
};

impl Policy {
    fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            // Without its `std` feature backon seeds every jitter generator with the same
            // constant: destinations on the same forge would retry in step.
            .with_jitter_seed(rand::random())
            .without_max_times()
            .build()
    }
}

/// The delivery task of one destination, with what it needs besides the shared queue.
struct Task {
    http: reqwest::Client,
    delivered: Arc<dyn Fn(Vec<String>) + Send + Sync>,
    cancel: CancellationToken,
    policy: Policy,
}

/// How one attempt ended.
enum Answer {
    /// A 2xx.
    Delivered,
    /// To be sent again after `wait`, or after the next backoff when the answer named no time.
    Retry { wait: Option<Duration>, why: String },
    /// Not to be sent again: the answer's status (0 when the request could not be sent at
    /// all) and a description safe to log.
    Refused { status: u16, why: String },
}

impl Task {
    async fn run(self, shared: Arc<Shared>) {
        // The statuses refused since the last delivery, logged at WARN once each: a destination
        // that is misconfigured (a revoked token, a deleted webhook) refuses everything.
        let mut warned = HashSet::new();
        while !self.cancel.is_cancelled() {
            let next = shared.queue().items.pop_front();
            match next {
                Some(item) => self.deliver(&shared, item, &mut warned).await,
                None => {
                    tokio::select! {
                        biased;
                        () = self.cancel.cancelled() => {}
                        () = shared.wake.notified() => {}
                    }
                }
            }
        }
    }

    async fn deliver(&self, shared: &Shared, item: Outgoing, warned: &mut HashSet<u16>) {
        let name = &shared.name;
        let mut backoff = self.policy.backoff();
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (wait, why) = match self.attempt(&item.request).await {
                Answer::Delivered => {
                    shared.metrics.notification(name, "sent");
                    tracing::debug!(destination = %name, attempt, "notification delivered");
                    warned.clear();
                    shared.queue().overflow_logged = false;
                    (self.delivered)(item.keys);
                    return;
                }
                Answer::Refused { status, why } => {
                    shared.metrics.notification(name, "failed");
                    if warned.insert(status) {
                        tracing::warn!(
                            destination = %name, status, answer = %why,
                            "notification refused, not sent again (this status is logged once \
                             until a delivery succeeds)"
                        );
                    } else {
                        tracing::debug!(destination = %name, status, "notification refused");
                    }
                    return;
                }
                Answer::Retry { wait, why } => (wait, why),
            };
            let delay = wait.unwrap_or_else(|| {
                let next = backoff.next().unwrap_or(self.policy.max_delay);
                next.min(self.policy.max_delay)
            });
            if attempt >= self.policy.max_attempts
                || started.elapsed() + delay > self.policy.give_up_after
            {
                shared.metrics.notification(name, "failed");
                tracing::warn!(
                    destination = %name, attempts = attempt, error = %why,
                    "notification given up"
                );
                return;
            }
            shared.metrics.notification_retry(name);
            tracing::info!(
                destination = %name, attempt, error = %why, delay_ms = delay.as_millis() as u64,
                "notification to be sent again"
            );
            tokio::select! {
                biased;
                // Shutting down: what is still queued is lost either way.
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Sends `request` once. The request in flight is never cut short by the cancellation: it
    /// is bounded by [`TIMEOUT`], and an answered request is worth recording.
    async fn attempt(&self, request: &Request) -> Answer {
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone())
            .body(request.body.clone());
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes());
            let value = HeaderValue::from_str(value);
            let (Ok(name), Ok(mut value)) = (name, value) else {
                let why = "a header's name or value is not valid in HTTP".to_owned();
                return Answer::Refused { status: 0, why };
            };
            // Keeps the value out of reqwest's Debug output, and out of HTTP/2's index.
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(err) if err.is_builder() => {
                let why = redact(&describe(err), request);
                return Answer::Refused { status: 0, why };
            }
            Err(err) => {
                let why = redact(&describe(err), request);
                return Answer::Retry { wait: None, why };
            }
        };
        let status = response.status();
        let retry = match verdict(status, response.headers(), SystemTime::now()) {
            Verdict::Delivered => return Answer::Delivered,
            Verdict::Retry(wait) => Some(wait),
            Verdict::Refused => None,
        };
        let why = format!("HTTP {status}, body {:?}", preview(response, request).await);
        match retry {
            Some(wait) => Answer::Retry { wait, why },
            None => Answer::Refused {
                status: status.as_u16(),
                why,
            },
        }
    }
}

/// What an answer's status and headers ask of the sender.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Delivered,
    /// Send again after this wait, or after the next backoff.
    Retry(Option<Duration>),
    Refused,
}

/// Judges an answer received at `now`. A 3xx is refused: redirects are not followed (see
/// [`http_client`]).
fn verdict(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Verdict {
    if status.is_success() {
        return Verdict::Delivered;
    }
    if status.is_server_error() {
        // A 503 may say when to come back. The rate-limit reset headers are not read here:
        // GitHub sends them on every answer, a server error included.
        return Verdict::Retry(retry_after(headers, now).map(clamp_wait));
    }
    if !is_rate_limit(status, headers) {
        return Verdict::Refused;
    }
    let wait = retry_after(headers, now)
        .or_else(|| reset(headers, now))
        .map_or(UNSPECIFIED_RATE_LIMIT_WAIT, clamp_wait);
    Verdict::Retry(Some(wait))
}

/// A 429, or GitHub's 403 that is a rate limit rather than a permission error: it says the
/// quota is spent, or when to come back.
fn is_rate_limit(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (header(headers, "x-ratelimit-remaining") == Some("0")
                || headers.contains_key(RETRY_AFTER)))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// `Retry-After` in seconds or as an HTTP date; a date already past is no wait.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = header(headers, RETRY_AFTER.as_str())?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// When the spent quota comes back: GitHub's and Gitea's `X-RateLimit-Reset`, GitLab's
/// `RateLimit-Reset`, all Unix times. Read only when the matching `…-Remaining` says 0 or is
/// absent: GitHub's secondary limits send the primary limit's reset, which is not theirs.
fn reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    ["x-ratelimit", "ratelimit"].iter().find_map(|prefix| {
        let remaining = header(headers, &format!("{prefix}-remaining"));
        if remaining.is_some_and(|r| r != "0") {
            return None;
        }
        let value: u64 = header(headers, &format!("{prefix}-reset"))?.parse().ok()?;
        // The IETF draft's `RateLimit-Reset` is seconds from now, not a Unix time; no Unix
        // time of this century is below 10⁹.
        if value < 1_000_000_000 {
            return Some(Duration::from_secs(value));
        }
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(value);
        Some(at.duration_since(now).unwrap_or_default())
    })
}

fn clamp_wait(wait: Duration) -> Duration {
    wait.clamp(MIN_RATE_LIMIT_WAIT, MAX_RATE_LIMIT_WAIT)
}

/// A failed send in words, without the URL reqwest puts in its errors: what failed, then
/// each underlying cause (the OS's or TLS's reason).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else {
        err.to_string()
    };
    let mut cause = err.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// The start of an answer's body, at most [`PREVIEW_BYTES`], redacted: a server may echo the
/// request (`Cannot POST /services/T0/B0/<secret>`).
async fn preview(mut response: reqwest::Response, request: &Request) -> String {
    let mut body = Vec::new();
    while body.len() < PREVIEW_READ_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            // What was read is enough to tell the answer; the rest is of no use.
            Ok(None) | Err(_) => break,
        }
    }
    let mut text = redact(&String::from_utf8_lossy(&body), request);
    let mut end = text.len().min(PREVIEW_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// `text` with every part of `request` that may be a secret replaced by `[redacted]`: the URL,
/// its user, password, path segments, query and query values, and the header values (and each
/// word of them: the token of `Bearer <token>`).
fn redact(text: &str, request: &Request) -> String {
    let url = &request.url;
    let mut secrets: Vec<String> = vec![url.as_str().to_owned(), url.username().to_owned()];
    secrets.extend(url.password().map(str::to_owned));
    secrets.extend(url.query().map(str::to_owned));
    secrets.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    secrets.extend(url.path_segments().into_iter().flatten().map(str::to_owned));
    for (_, value) in &request.headers {
        secrets.push(value.clone());
        secrets.extend(value.split_whitespace().map(str::to_owned));
    }
    secrets.retain(|s| s.len() >= MIN_SECRET_LEN);
    // The longest first, so that a whole URL goes before the segments inside it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut text = text.to_owned();
    for secret in &secrets {
        text = text.replace(secret.as_str(), "[redacted]");
    }
    text
}

/// The HTTP client the notifier uses: rustls (ring), the system's roots, a 10 s timeout per
/// request, no redirects followed (a webhook URL's secret must not be carried elsewhere).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    client(TIMEOUT)
}

fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config())
        .timeout(timeout)
        // GitHub's API refuses requests without a User-Agent.
        .user_agent(concat!("drover/", env!("CARGO_PKG_VERSION")))
        // reqwest would carry an `Authorization` header to another host of the same scheme,
        // and a redirect may be crafted to collect it; no forge API or webhook needs one.
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// TLS with the system's roots. Without any, the client is still built: notifications over
/// HTTPS then fail (logged with each), and drover itself keeps running, as it should when only
/// its notifications are at stake.
fn tls_config() -> rustls::ClientConfig {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::warn!(error = %err, "cannot load some system CA certificates for notifications");
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        tracing::warn!("no system CA certificates: notifications over HTTPS will fail");
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{Method, Uri};
    use axum::response::IntoResponse;
    use tokio::sync::Semaphore;
    use url::Url;

    use super::*;

    /// Retries 10 to 40 ms apart, so that the tests of retries take milliseconds.
    const FAST: Policy = Policy {
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_attempts: 5,
        give_up_after: Duration::from_secs(30),
    };

    /// What the test server answers to one request.
    #[derive(Clone)]
    struct Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        /// Answer only once the test releases the server's gate.
        held: bool,
        delay: Duration,
    }

    fn reply(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            held: false,
            delay: Duration::ZERO,
        }
    }

    impl Reply {
        fn header(mut self, name: &'static str, value: impl ToString) -> Self {
            self.headers.push((name, value.to_string()));
            self
        }

        fn body(mut self, body: &str) -> Self {
            self.body = body.to_owned();
            self
        }

        fn held(mut self) -> Self {
            self.held = true;
            self
        }

        fn delayed(mut self, delay: Duration) -> Self {
            self.delay = delay;
            self
        }
    }

    /// A request as the test server received it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: Method,
        uri: String,
        headers: HeaderMap,
        body: Vec<u8>,
        at: Instant,
    }

    /// An HTTP server on 127.0.0.1 that answers the scripted replies in turn, then 200, and
    /// records every request.
    #[derive(Clone)]
    struct Server {
        base: Url,
        script: Arc<Mutex<VecDeque<Reply>>>,
        seen: Arc<Mutex<Vec<Seen>>>,
        gate: Arc<Semaphore>,
    }

    impl Server {
        async fn start(script: Vec<Reply>) -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address");
            let server = Self {
                base: Url::parse(&format!("http://{address}/")).expect("url"),
                script: Arc::new(Mutex::new(script.into())),
                seen: Arc::default(),
                gate: Arc::new(Semaphore::new(0)),
            };
            let app = axum::Router::new()
                .fallback(answer)
                .with_state(server.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
            server
        }

        fn url(&self, path: &str) -> Url {
            self.base.join(path).expect("url")
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().expect("seen").clone()
        }

        fn bodies(&self) -> Vec<String> {
            let seen = self.seen();
            seen.iter()
                .map(|s| String::from_utf8_lossy(&s.body).into_owned())
                .collect()
        }
    }

    async fn answer(
        State(server): State<Server>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        server.seen.lock().expect("seen").push(Seen {
            method,
            uri: uri.to_string(),
            headers,
            body: body.to_vec(),
            at: Instant::now(),
        });
        let next = server.script.lock().expect("script").pop_front();
        let reply = next.unwrap_or_else(|| reply(200));
        if reply.held {
            server.gate.acquire().await.expect("gate").forget();
        }
        tokio::time::sleep(reply.delay).await;
        let status = StatusCode::from_u16(reply.status).expect("status");
        let mut response = (status, reply.body).into_response();
        for (name, value) in reply.headers {
            let value = HeaderValue::from_str(&value).expect("header");
            response.headers_mut().insert(name, value);
        }
        response
    }

    /// An outbox named `hooks` and what it reports.
    struct Harness {
        outbox: Outbox,
        task: JoinHandle<()>,
        metrics: Arc<Metrics>,
        delivered: Arc<Mutex<Vec<Vec<String>>>>,
        cancel: CancellationToken,
    }

    impl Harness {
        fn start(policy: Policy, http: reqwest::Client) -> Self {
            let metrics = Arc::new(Metrics::new());
            let delivered: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
            let record = delivered.clone();
            let cancel = CancellationToken::new();
            let task = Task {
                http,
                delivered: Arc::new(move |keys| record.lock().expect("delivered").push(keys)),
                cancel: cancel.clone(),
                policy,
            };
            let (outbox, task) = Outbox::spawn("hooks", metrics.clone(), task);
            Self {
                outbox,
                task,
                metrics,
                delivered,
                cancel,
            }
        }

        fn fast() -> Self {
            Self::start(FAST, http_client().expect("client"))
        }

        /// The value of one of the outbox's series in /metrics.
        fn metric(&self, series: &str) -> u64 {
            let prefix = format!("{series} ");
            let text = self.metrics.encode();
            let line = text.lines().find_map(|l| l.strip_prefix(&prefix));
            line.unwrap_or_else(|| panic!("{series} missing from\n{text}"))
                .parse()
                .expect("a count")
        }

        fn count(&self, result: &str) -> u64 {
            self.metric(&format!(
                "drover_notifications_total{{destination=\"hooks\",result=\"{result}\"}}"
            ))
        }

        fn retries(&self) -> u64 {
            self.metric("drover_notification_retries_total{destination=\"hooks\"}")
        }

        fn delivered(&self) -> Vec<Vec<String>> {
            self.delivered.lock().expect("delivered").clone()
        }
    }

    fn item(key: &str, is_final: bool, url: Url) -> Outgoing {
        Outgoing {
            keys: vec![key.to_owned()],
            is_final,
            request: Request {
                method: reqwest::Method::POST,
                url,
                headers: Vec::new(),
                body: key.as_bytes().to_vec(),
            },
        }
    }

    /// Waits until `done` holds, for at most 20 s.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Everything drover logs while the guard lives, on this thread (a `#[tokio::test]` runs
    /// its spawned tasks on it too).
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("logs").write(buf)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
        type Writer = Logs;

        fn make_writer(&'a self) -> Logs {
            self.clone()
        }
    }

    impl Logs {
        fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
            use tracing_subscriber::layer::SubscriberExt;
            let logs = Self::default();
            let subscriber = tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(logs.clone())
                        .with_ansi(false),
                )
                .with(
                    tracing_subscriber::filter::Targets::new()
                        .with_target("drover", tracing::Level::TRACE),
                );
            let guard = tracing::subscriber::set_default(subscriber);
            (logs, guard)
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
        }
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_delivered_once() {
        let server = Server::start(vec![reply(500), reply(502), reply(503)]).await;
        let h = Harness::fast();
        h.outbox.push(item("web@abc", true, server.url("/hook")));
        eventually("the delivery", || h.count("sent") == 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.seen().len(), 4, "three failures, then the success");
        assert_eq!(h.delivered(), vec![vec!["web@abc".to_owned()]]);
        assert_eq!(h.retries(), 3);
        assert_eq!(h.count("failed"), 0);
    }

    #[tokio::test]
    async fn retry_after_seconds_is_waited_out() {
        let server = Server::start(vec![reply(429).header("retry-after", 2)]).await;
        let h = Harness::fast();
        h.outbox.push(item("k", false, server.url("/hook")));
        eventually("the delivery", || h.count("sent") == 1).await;
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        let waited = seen[1].at - seen[0].at;
        assert!(waited >= Duration::from_millis(1900), "waited {waited:?}");
        assert_eq!(h.retries(), 1);
    }

    #[tokio::test]
    async fn github_rate_limit_reset_is_waited_out() {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
        // Whole seconds: the wait is between 2 and 3 s, whatever the fraction of now.
        let reset = now.expect("clock").as_secs() + 3;
        let limited = reply(403)
            .header("x-ratelimit-limit", 5000)
            .header("x-ratelimit-remaining", 0)
            .header("x-ratelimit-reset", reset)
            .body(r#"{"message":"API rate limit exceeded"}"#);
        let server = Server::start(vec![limited]).await;
        let h = Harness::fast();
        h.outbox
            .push(item("k", true, server.url("/repos/o/r/statuses/abc")));
        eventually("the delivery", || h.count("sent") == 1).await;
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        let waited = seen[1].at - seen[0].at;
        assert!(waited >= Duration::from_millis(1900), "waited {waited:?}");
        assert_eq!(h.delivered().len(), 1);
    }

    #[tokio::test]
    async fn timeouts_and_connection_errors_are_retried() {
        let server = Server::start(vec![reply(200).delayed(Duration::from_secs(2))]).await;
        let h = Harness::start(FAST, client(Duration::from_millis(200)).expect("client"));
        h.outbox.push(item("slow", true, server.url("/hook")));
        eventually("the delivery", || h.count("sent") == 1).await;
        assert_eq!(
            server.seen().len(),
            2,
            "the timed-out request, then its retry"
        );
        assert_eq!(h.retries(), 1);

        h.outbox
            .push(item("nowhere", true, closed_port_url().await));
        eventually("giving up", || h.count("failed") == 1).await;
        assert_eq!(h.retries(), 1 + (FAST.max_attempts as u64 - 1));
        assert_eq!(h.delivered(), vec![vec!["slow".to_owned()]]);
    }

    /// A URL on which nothing listens.
    async fn closed_port_url() -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let url =
            format!("http://{address}/services/T0000/B0000/s3cretHookToken?token=s3cretQuery");
        Url::parse(&url).expect("url")
    }

    #[tokio::test]
    async fn refusals_are_not_retried_and_logged_once_per_status() {
        let (logs, _guard) = Logs::capture();
        let server = Server::start(vec![
            reply(404).body("no such hook"),
            reply(404).body("no such hook"),
            reply(422).body("validation failed"),
            reply(201),
            reply(404).body("no such hook"),
        ])
        .await;
        let h = Harness::fast();
        for key in ["a", "b", "c", "d", "e"] {
            h.outbox.push(item(key, true, server.url("/hook")));
        }
        eventually("every answer", || h.count("failed") + h.count("sent") == 5).await;
        assert_eq!(
            server.bodies(),
            ["a", "b", "c", "d", "e"],
            "none sent twice"
        );
        assert_eq!(h.count("failed"), 4);
        assert_eq!(h.retries(), 0);
        assert_eq!(h.delivered(), vec![vec!["d".to_owned()]]);
        let text = logs.text();
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("notification refused"))
            .collect();
        assert_eq!(
            warnings.len(),
            3,
            "404 once, 422 once, 404 again after a success:\n{text}"
        );
        assert!(warnings[0].contains("destination=hooks"), "{text}");
        assert!(warnings[0].contains("status=404"), "{text}");
        assert!(warnings[0].contains("no such hook"), "{text}");
        assert!(warnings[1].contains("status=422"), "{text}");
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let moved = reply(302).header("location", "/elsewhere");
        let server = Server::start(vec![moved]).await;
        let h = Harness::fast();
        h.outbox.push(item("k", true, server.url("/hook")));
        eventually("the refusal", || h.count("failed") == 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].uri, "/hook");
    }

    #[tokio::test]
    async fn failures_never_log_the_url_headers_or_token() {
        let (logs, _guard) = Logs::capture();
        let path = "/services/T0000/B0000/s3cretHookToken";
        let token = "ghp_s3cretForgeToken";
        // Servers that echo the request back, secrets and all.
        let echo = format!("Cannot POST {path}?token=s3cretQuery (Bearer {token})");
        let server = Server::start(vec![reply(500).body(&echo), reply(404).body(&echo)]).await;
        let h = Harness::fast();
        let secret_url = server.url(&format!("{path}?token=s3cretQuery"));
        for url in [secret_url.clone(), closed_port_url().await] {
            let mut outgoing = item("k", true, url);
            let bearer = format!("Bearer {token}");
            outgoing.request.headers = vec![("Authorization".into(), bearer)];
            h.outbox.push(outgoing);
        }
        eventually("both failures", || h.count("failed") == 2).await;
        let text = logs.text();
        assert!(text.contains("notification refused"), "{text}");
        assert!(text.contains("notification given up"), "{text}");
        assert!(text.contains("cannot connect"), "{text}");
        assert!(
            text.contains("Cannot POST /[redacted]/T0000/B0000/[redacted]"),
            "{text}"
        );
        for secret in [secret_url.as_str(), "s3cret", token, "127.0.0.1:"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
    }

    #[tokio::test]
    async fn the_request_arrives_as_given() {
        let server = Server::start(Vec::new()).await;
        let h = Harness::fast();
        let body = br#"{"state":"success","context":"drover/web"}"#.to_vec();
        let headers = [
            ("Authorization", "token s3cret"),
            ("Content-Type", "application/json"),
            ("X-Drover-Test", "one"),
            ("X-Drover-Test", "two"),
        ];
        h.outbox.push(Outgoing {
            keys: vec!["web@abc:success".into(), "api@abc:success".into()],
            is_final: true,
            request: Request {
                method: reqwest::Method::PUT,
                url: server.url("/repos/o/r/statuses/abc?ref=main"),
                headers: headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
                body: body.clone(),
            },
        });
        eventually("the delivery", || h.count("sent") == 1).await;
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        let seen = &seen[0];
        assert_eq!(seen.method, Method::PUT);
        assert_eq!(seen.uri, "/repos/o/r/statuses/abc?ref=main");
        assert_eq!(seen.body, body);
        assert_eq!(seen.headers["authorization"], "token s3cret");
        assert_eq!(seen.headers["content-type"], "application/json");
        let repeated: Vec<_> = seen.headers.get_all("x-drover-test").iter().collect();
        assert_eq!(repeated, ["one", "two"]);
        let agent = seen.headers["user-agent"].to_str().expect("agent");
        assert!(agent.starts_with("drover/"), "{agent}");
        assert_eq!(
            h.delivered(),
            vec![vec![
                "web@abc:success".to_owned(),
                "api@abc:success".to_owned()
            ]]
        );
    }

    #[tokio::test]
    async fn an_overflowing_queue_drops_the_oldest_pending_first() {
        let (logs, _guard) = Logs::capture();
        let server = Server::start(vec![reply(200).held()]).await;
        let h = Harness::fast();
        let url = server.url("/hook");
        h.outbox.push(item("in-flight", true, url.clone()));
        eventually("the first request", || server.seen().len() == 1).await;
        // The queue fills behind the request the server holds: two pending, then finals.
        for i in 0..QUEUE_LEN {
            h.outbox.push(item(&format!("q{i}"), i >= 2, url.clone()));
        }
        assert_eq!(h.count("dropped"), 0);
        h.outbox.push(item("final-1", true, url.clone())); // drops q0, the oldest pending
        h.outbox.push(item("pending", false, url.clone())); // drops q1, the next pending
        h.outbox.push(item("final-2", true, url.clone())); // drops "pending", the last one
        h.outbox.push(item("final-3", true, url.clone())); // all final: drops q2, the oldest
        assert_eq!(h.count("dropped"), 4);
        server.gate.add_permits(1);
        eventually("the queue", || {
            h.count("sent") == 1 + QUEUE_LEN as u64 - 3 + 3
        })
        .await;
        let mut expected = vec!["in-flight".to_owned()];
        expected.extend((3..QUEUE_LEN).map(|i| format!("q{i}")));
        expected.extend(["final-1", "final-2", "final-3"].map(str::to_owned));
        assert_eq!(server.bodies(), expected, "in order, less what was dropped");
        assert_eq!(logs.text().matches("notification queue full").count(), 1);
    }

    #[test]
    fn a_full_queue_keeps_older_final_words_over_a_new_pending_one() {
        let url = Url::parse("http://hooks.example/").expect("url");
        let mut queue = Queue::default();
        for i in 0..QUEUE_LEN {
            assert!(
                queue
                    .push(item(&format!("f{i}"), true, url.clone()))
                    .is_none()
            );
        }
        let dropped = queue.push(item("pending", false, url.clone()));
        assert_eq!(dropped.expect("one dropped").keys, ["pending"]);
        let dropped = queue.push(item("final", true, url));
        assert_eq!(dropped.expect("one dropped").keys, ["f0"]);
        assert_eq!(queue.items.len(), QUEUE_LEN);
        assert_eq!(queue.items.back().expect("last").keys, ["final"]);
    }

    #[tokio::test]
    async fn cancel_lets_the_request_in_flight_finish_and_starts_no_other() {
        let server = Server::start(vec![reply(200).held()]).await;
        let h = Harness::fast();
        h.outbox.push(item("a", true, server.url("/hook")));
        h.outbox.push(item("b", true, server.url("/hook")));
        eventually("the first request", || server.seen().len() == 1).await;
        h.cancel.cancel();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!h.task.is_finished(), "the request in flight is waited for");
        server.gate.add_permits(1);
        tokio::time::timeout(Duration::from_secs(5), h.task)
            .await
            .expect("the task ends")
            .expect("no panic");
        assert_eq!(server.bodies(), ["a"]);
        assert_eq!(h.delivered.lock().expect("delivered").concat(), ["a"]);
    }

    #[tokio::test]
    async fn cancel_cuts_a_backoff_short() {
        let server = Server::start(vec![reply(500)]).await;
        let slow = Policy {
            first_delay: Duration::from_secs(60),
            ..FAST
        };
        let h = Harness::start(slow, http_client().expect("client"));
        h.outbox.push(item("a", true, server.url("/hook")));
        eventually("the retry's backoff", || h.retries() == 1).await;
        h.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(2), h.task)
            .await
            .expect("the task ends without waiting out its backoff")
            .expect("no panic");
        assert_eq!(server.seen().len(), 1);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                let name = HeaderName::from_static(n);
                (name, HeaderValue::from_str(v).expect("value"))
            })
            .collect()
    }

    #[test]
    fn verdicts_follow_status_and_rate_limit_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |secs: u64| (1_700_000_000 + secs).to_string();
        let judge = |status: u16, pairs: &[(&'static str, &str)]| {
            let status = StatusCode::from_u16(status).expect("status");
            verdict(status, &headers(pairs), now)
        };
        let secs = |s: u64| Verdict::Retry(Some(Duration::from_secs(s)));
        assert_eq!(judge(200, &[]), Verdict::Delivered);
        assert_eq!(judge(204, &[]), Verdict::Delivered);
        assert_eq!(judge(302, &[]), Verdict::Refused);
        assert_eq!(judge(404, &[]), Verdict::Refused);
        assert_eq!(judge(408, &[]), Verdict::Refused);
        assert_eq!(judge(500, &[]), Verdict::Retry(None));
        // GitHub sends its reset on every answer: a server error waits for the backoff.
        let github = [
            ("x-ratelimit-remaining", "4999"),
            ("x-ratelimit-reset", "1700000300"),
        ];
        assert_eq!(judge(502, &github), Verdict::Retry(None));
        assert_eq!(judge(503, &[("retry-after", "5")]), secs(5));
        // A 403 is a permission error unless it says the quota is spent or when to retry.
        assert_eq!(judge(403, &github), Verdict::Refused);
        let spent = [
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &at(90)),
        ];
        assert_eq!(judge(403, &spent), secs(90));
        assert_eq!(judge(429, &spent), secs(90));
        assert_eq!(judge(403, &[("retry-after", "30")]), secs(30));
        // Retry-After wins over the reset, as GitHub documents.
        let both = [
            ("retry-after", "7"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &at(90)),
        ];
        assert_eq!(judge(429, &both), secs(7));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(45));
        assert_eq!(judge(429, &[("retry-after", &date)]), secs(45));
        // GitLab and Gitea.
        let gitlab = [("ratelimit-remaining", "0"), ("ratelimit-reset", &at(20))];
        assert_eq!(judge(429, &gitlab), secs(20));
        assert_eq!(judge(429, &[("x-ratelimit-reset", &at(12))]), secs(12));
        // The IETF draft's seconds from now.
        assert_eq!(judge(429, &[("ratelimit-reset", "42")]), secs(42));
        // A secondary limit's 429 with the primary limit's reset: that reset is not its own.
        let secondary = [
            ("x-ratelimit-remaining", "4000"),
            ("x-ratelimit-reset", &at(3000)),
        ];
        assert_eq!(judge(429, &secondary), secs(60));
        assert_eq!(judge(429, &[]), secs(60));
        assert_eq!(judge(429, &[("retry-after", "soon")]), secs(60));
        // Capped, and never an immediate burst.
        assert_eq!(judge(429, &[("retry-after", "3600")]), secs(600));
        assert_eq!(judge(429, &[("x-ratelimit-reset", &at(7200))]), secs(600));
        assert_eq!(judge(429, &[("retry-after", "0")]), secs(1));
        let past = (1_700_000_000u64 - 30).to_string();
        assert_eq!(judge(429, &[("x-ratelimit-reset", &past)]), secs(1));
    }

    #[test]
    fn requests_show_no_secret_and_redaction_covers_url_and_headers() {
        let url = "https://user:p4ssw0rd-x@hooks.example/services/T0000/B0000/s3cretHookToken\
                   ?token=s3cretQuery&channel=ops";
        let request = Request {
            method: reqwest::Method::POST,
            url: Url::parse(url).expect("url"),
            headers: vec![("Authorization".into(), "Bearer ghp_s3cretForgeToken".into())],
            body: b"{\"text\":\"s3cretBody\"}".to_vec(),
        };
        let debug = format!("{:?}", item("k", true, request.url.clone()));
        assert!(!debug.contains("hooks.example"), "{debug}");
        let debug = format!("{request:?}");
        for secret in ["hooks.example", "s3cret", "p4ssw0rd", "Bearer"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("POST"), "{debug}");

        let echoed = format!(
            "{url} | /services/T0000/B0000/s3cretHookToken | token=s3cretQuery&channel=ops | \
             s3cretQuery | p4ssw0rd-x | Bearer ghp_s3cretForgeToken | ghp_s3cretForgeToken"
        );
        let redacted = redact(&echoed, &request);
        for secret in ["s3cret", "p4ssw0rd", "hooks.example"] {
            assert!(!redacted.contains(secret), "{secret} in {redacted}");
        }
        // Short words stay, so that the text still reads.
        assert!(
            redacted.contains("/[redacted]/T0000/B0000/[redacted]"),
            "{redacted}"
        );
    }
}
