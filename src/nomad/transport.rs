//! One Nomad API call on the wire: the URL with `namespace`/`region`, the token header, the
//! timeout, the size limit on the response body, and retries of transient failures.
//!
//! Owns *how* a request is sent; the endpoint files say *what* is sent and whether a replay is
//! safe ([`Retry`]). Never interprets a response beyond its status (see `error.rs`).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::blocking::QueryMeta;
use super::error::{Error, TokenError};
use crate::config::{self, Secret};

/// How much of an error response is read: its text is truncated for reports anyway.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Told about every HTTP attempt, retries included: the call's name (`plan`, `register`, `job`,
/// ...: a fixed word, safe as a metric label), the response status (0 when none came: a
/// connection error or a timeout) and how long the attempt took, body included. A blocking
/// query's time includes its wait. Set with [`super::Client::with_observer`]; for metrics.
#[derive(Clone)]
pub struct Observer(pub(crate) Arc<ObserveFn>);

/// What an [`Observer`] calls: `(call, status, duration)`.
pub type ObserveFn = dyn Fn(&str, u16, Duration) + Send + Sync;

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

/// Whether a call may be sent again after a transient failure. A transport error after the
/// request left leaves its outcome unknown, so only calls whose replay cannot do harm retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads, and writes whose replay is harmless (documented on each method).
    Transient,
    /// Writes whose replay could act twice; the caller decides.
    Never,
}

/// A request to make, independent of namespace and attempt.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub what: &'static str,
    pub method: Method,
    /// Path segments after `/v1/`, each percent-encoded when the URL is built.
    pub segments: Vec<String>,
    pub params: Vec<(&'static str, String)>,
    /// Parameters that count by presence, such as `lock-acquire`.
    pub flags: Vec<&'static str>,
    /// The JSON body, serialized once so that every attempt sends the same bytes.
    pub body: Option<Vec<u8>>,
    pub retry: Retry,
    /// The blocking wait requested, added to the request's timeout.
    pub wait: Duration,
}

impl Call {
    pub fn new(what: &'static str, method: Method, segments: &[&str], retry: Retry) -> Self {
        Self {
            what,
            method,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            params: Vec::new(),
            flags: Vec::new(),
            body: None,
            retry,
            wait: Duration::ZERO,
        }
    }

    pub fn get(what: &'static str, segments: &[&str]) -> Self {
        Self::new(what, Method::GET, segments, Retry::Transient)
    }

    pub fn param(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.params.push((key, value.into()));
        self
    }

    pub fn flag(mut self, key: &'static str) -> Self {
        self.flags.push(key);
        self
    }

    pub fn query(mut self, query: &super::Query) -> Self {
        self.params.extend(query.params());
        self.wait = query.wait();
        self
    }

    pub fn json(mut self, body: &impl Serialize) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Decode {
            what: self.what,
            detail: format!("encoding: {e}"),
        })?;
        self.body = Some(bytes);
        Ok(self)
    }
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub meta: QueryMeta,
    pub body: Vec<u8>,
    pub what: &'static str,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            what: self.what,
            detail: format!("{e}; body starts with {:?}", preview(&self.body)),
        })
    }
}

fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

/// The connection to one cluster, shared by every [`super::Client`] handle.
#[derive(Debug)]
pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub cluster: String,
    pub base: Url,
    pub token: Option<Secret>,
    pub region: Option<String>,
    pub request_timeout: Duration,
    pub retry: config::Retry,
    /// The cluster's `max_response_bytes`: the largest successful body read.
    pub max_body: usize,
    /// The cluster's `blocking_wait`, for the watches that use this connection.
    pub blocking_wait: Duration,
}

impl Transport {
    /// Sends `call`, retrying transient failures when the call allows it.
    pub async fn execute(
        &self,
        namespace: Option<&str>,
        call: &Call,
        observer: Option<&Observer>,
    ) -> Result<Reply, Error> {
        let url = self.url(namespace, call);
        let retries = if call.retry == Retry::Transient {
            self.retry.max_retries
        } else {
            0
        };
        let max_delay = self.retry.max_delay;
        (|| self.observed(namespace, &url, call, observer))
            .retry(backoff(&self.retry).with_max_times(retries))
            .when(Error::is_transient)
            .adjust(move |_, delay| delay.map(|d| d.min(max_delay)))
            .notify(|err, delay| {
                tracing::warn!(
                    cluster = %self.cluster, call = call.what, path = url.path(),
                    error = %err, delay_ms = delay.as_millis() as u64, "retrying Nomad request"
                );
            })
            .await
    }

    fn url(&self, namespace: Option<&str>, call: &Call) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v1").extend(&call.segments);
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(ns) = namespace {
                q.append_pair("namespace", ns);
            }
            if let Some(region) = &self.region {
                q.append_pair("region", region);
            }
            for (k, v) in &call.params {
                q.append_pair(k, v);
            }
            for flag in &call.flags {
                q.append_key_only(flag);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// A blocking query may legitimately take its whole wait plus Nomad's jitter (up to wait/16)
    /// before the server even starts answering.
    fn timeout(&self, wait: Duration) -> Duration {
        self.request_timeout + wait + wait / 16
    }

    async fn observed(
        &self,
        namespace: Option<&str>,
        url: &Url,
        call: &Call,
        observer: Option<&Observer>,
    ) -> Result<Reply, Error> {
        let Some(observer) = observer else {
            return self.attempt(namespace, url, call).await.1;
        };
        let started = Instant::now();
        let (status, result) = self.attempt(namespace, url, call).await;
        (observer.0)(call.what, status, started.elapsed());
        result
    }

    /// One attempt, and the status of its response (0 when none came).
    async fn attempt(
        &self,
        namespace: Option<&str>,
        url: &Url,
        call: &Call,
    ) -> (u16, Result<Reply, Error>) {
        let request = match self.request(url, call) {
            Ok(r) => r,
            Err(e) => return (0, Err(e)),
        };
        let started = Instant::now();
        let resp = match request.send().await {
            Ok(r) => r,
            Err(e) => return (0, Err(Error::transport(e))),
        };
        let status = resp.status().as_u16();
        (
            status,
            self.answer(namespace, url, call, resp, started).await,
        )
    }

    /// Reads and checks the response to an attempt that began at `started`.
    async fn answer(
        &self,
        namespace: Option<&str>,
        url: &Url,
        call: &Call,
        resp: Response,
        started: Instant,
    ) -> Result<Reply, Error> {
        let status = resp.status();
        let meta = QueryMeta::from_headers(resp.headers());
        let limit = if status.is_success() {
            self.max_body
        } else {
            MAX_ERROR_BODY
        };
        let (body, complete) = read_limited(resp, limit).await.map_err(Error::transport)?;
        tracing::debug!(
            cluster = %self.cluster, call = call.what, method = %call.method, path = url.path(),
            status = status.as_u16(), index = meta.index,
            elapsed_ms = started.elapsed().as_millis() as u64, "Nomad request"
        );
        if !status.is_success() {
            let error = Error::from_response(status, &String::from_utf8_lossy(&body));
            return Err(error.needing(|| super::needs::needs(call, namespace)));
        }
        if !complete {
            let detail = format!(
                "body larger than max_response_bytes ({} bytes)",
                self.max_body
            );
            return Err(Error::Decode {
                what: call.what,
                detail,
            });
        }
        Ok(Reply {
            meta,
            body,
            what: call.what,
        })
    }

    fn request(&self, url: &Url, call: &Call) -> Result<reqwest::RequestBuilder, Error> {
        let mut req = self
            .http
            .request(call.method.clone(), url.clone())
            .timeout(self.timeout(call.wait));
        // Nomad reads `X-Nomad-Token` first and `Authorization: Bearer` second
        // (`command/agent/http.go`, parseToken), on the Task API socket too, where a workload
        // identity's JWT is taken the same way as an ACL token's secret.
        if let Some(token) = self.token_header()? {
            req = req.header("X-Nomad-Token", token);
        }
        if let Some(body) = &call.body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        Ok(req)
    }

    /// Reads the token now, so that a rotated token file takes effect on the next request.
    fn token_header(&self) -> Result<Option<HeaderValue>, TokenError> {
        let Some(secret) = &self.token else {
            return Ok(None);
        };
        let mut value =
            HeaderValue::from_str(&secret.read()?).map_err(|_| TokenError::InvalidHeader {
                origin: secret.origin(),
            })?;
        // Keeps the value out of `Debug` output and lets HTTP/2 avoid indexing it.
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Reads at most `limit` bytes of the body; the flag says whether the body ended within it.
/// The rest is never read: the connection is dropped with the response.
async fn read_limited(mut resp: Response, limit: usize) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            body.extend_from_slice(&chunk[..limit - body.len()]);
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

/// Exponential backoff from `min_delay`, doubling up to `max_delay`, with jitter so that several
/// drover instances that lost the same leader do not retry in step. backon's jitter adds up to
/// 100 % of the delay; [`Transport::execute`] clamps the result to `max_delay`.
pub(crate) fn backoff(retry: &config::Retry) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(retry.min_delay)
        .with_max_delay(retry.max_delay)
        .with_factor(2.0)
        .with_jitter()
        // Without its `std` feature backon seeds every jitter generator with the same constant,
        // which would make all instances retry in step after all.
        .with_jitter_seed(rand::random())
        .with_max_times(retry.max_retries)
}

/// The delays a retry loop sleeps, clamped as in [`Transport::execute`]; for tests and docs.
#[cfg(test)]
fn delays(retry: &config::Retry) -> Vec<Duration> {
    use backon::BackoffBuilder;
    backoff(retry)
        .build()
        .map(|d| d.min(retry.max_delay))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(max_retries: usize, min_ms: u64, max_ms: u64) -> config::Retry {
        config::Retry {
            max_retries,
            min_delay: Duration::from_millis(min_ms),
            max_delay: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_stays_within_bounds() {
        let r = retry(6, 100, 1_000);
        for _ in 0..50 {
            let d = delays(&r);
            assert_eq!(d.len(), 6, "one delay per retry");
            for (i, delay) in d.iter().enumerate() {
                let base = Duration::from_millis(100 * 2u64.pow(i as u32)).min(r.max_delay);
                assert!(
                    *delay >= base && *delay <= (base * 2).min(r.max_delay),
                    "{i}: {delay:?}"
                );
            }
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| delays(&r)[0]).collect();
        assert!(spread.len() > 1, "jitter varies the delays");
        assert!(delays(&retry(0, 100, 1_000)).is_empty());
    }

    fn transport(base: &str, region: Option<&str>) -> Transport {
        Transport {
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(
                    super::super::tls::client_config(&config::Tls::default(), false).expect("tls"),
                )
                .build()
                .expect("client"),
            cluster: "test".into(),
            base: Url::parse(base).expect("url"),
            token: None,
            region: region.map(str::to_owned),
            request_timeout: Duration::from_secs(10),
            retry: retry(0, 1, 1),
            max_body: 1024,
            blocking_wait: Duration::from_secs(1),
        }
    }

    #[test]
    fn urls_carry_namespace_region_and_encoded_segments() {
        let t = transport("http://nomad:4646", Some("eu"));
        let call = Call::get("job", &["job", "web/api v2"]).param("meta", "true");
        assert_eq!(
            t.url(Some("prod"), &call).as_str(),
            "http://nomad:4646/v1/job/web%2Fapi%20v2?namespace=prod&region=eu&meta=true"
        );
        let t = transport("https://proxy.example/nomad/", None);
        let call = Call::get("lock", &["var", "drover", "leader"]).flag("lock-acquire");
        assert_eq!(
            t.url(None, &call).as_str(),
            "https://proxy.example/nomad/v1/var/drover/leader?lock-acquire"
        );
        assert_eq!(
            t.url(None, &Call::get("leader", &["status", "leader"]))
                .query(),
            None
        );
    }

    #[test]
    fn blocking_timeout_covers_wait_and_jitter() {
        let t = transport("http://nomad:4646", None);
        assert_eq!(t.timeout(Duration::ZERO), Duration::from_secs(10));
        assert_eq!(
            t.timeout(Duration::from_secs(160)),
            Duration::from_secs(180)
        );
    }
}
