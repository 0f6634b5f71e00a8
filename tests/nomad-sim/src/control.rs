//! The control surface tests use: a log of every request received, fault injection by path
//! pattern, and per-request latency. Applied to every request by [`middleware`] around the
//! Nomad API. The latency is a round trip's: an answer leaves no sooner than that after its
//! request arrived, the simulator's own work included, as a real cluster's time to answer
//! includes the server's.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::http::ApiError;
use crate::server::Shared;

/// One request as the simulator received it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
}

/// What a matching request gets instead of (or before) its normal answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and plain-text body.
    Status { code: u16, body: String },
    /// Wait this long, then answer normally.
    Delay { millis: u64 },
    /// Close the connection without answering.
    Drop,
}

/// A fault injected for requests whose path matches `path` (a regular expression anchored at
/// both ends) and, when set, whose method is `method`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    pub path: String,
    #[serde(default)]
    pub method: Option<String>,
    pub kind: FaultKind,
    /// How many requests it applies to; `None` for all.
    #[serde(default)]
    pub times: Option<usize>,
}

impl Fault {
    /// A fault on paths matching `path`; by default a `500 No cluster leader`.
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            method: None,
            kind: FaultKind::Status {
                code: 500,
                body: NO_LEADER.into(),
            },
            times: None,
        }
    }
    pub fn status(mut self, code: u16, body: &str) -> Self {
        self.kind = FaultKind::Status {
            code,
            body: body.to_owned(),
        };
        self
    }
    /// Nomad's answer while the servers have no leader.
    pub fn no_leader(self) -> Self {
        self.status(500, NO_LEADER)
    }
    pub fn delay(mut self, by: Duration) -> Self {
        self.kind = FaultKind::Delay {
            millis: u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
        };
        self
    }
    pub fn drop_connection(mut self) -> Self {
        self.kind = FaultKind::Drop;
        self
    }
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let pattern = format!("^(?:{})$", self.path);
        method_ok && regex_lite::Regex::new(&pattern).is_ok_and(|re| re.is_match(path))
    }
}

pub(crate) const NO_LEADER: &str = "No cluster leader";

/// Takes the first fault matching the request, counting it down.
pub(crate) fn take_fault(faults: &mut Vec<Fault>, method: &str, path: &str) -> Option<FaultKind> {
    let i = faults.iter().position(|f| f.matches(method, path))?;
    let kind = faults[i].kind.clone();
    if let Some(n) = faults[i].times.as_mut() {
        *n -= 1;
        if *n == 0 {
            faults.remove(i);
        }
    }
    Some(kind)
}

/// Without a leader, Nomad's servers answer every consistent read and every write with
/// `500 No cluster leader`; `?stale` reads, the agent's own endpoints and the leader lookup
/// (which then answers `""`) still work.
fn leaderless(shared: &Shared, path: &str, query: &str) -> Option<FaultKind> {
    let exempt = !path.starts_with("/v1/")
        || path.starts_with("/v1/agent/")
        || path == "/v1/status/leader"
        || query
            .split('&')
            .any(|p| p == "stale" || p.starts_with("stale="));
    (!exempt && !shared.has_leader()).then(|| FaultKind::Status {
        code: 500,
        body: NO_LEADER.into(),
    })
}

/// Marks a request that arrived on the Task API socket.
#[derive(Clone, Copy)]
pub(crate) struct TaskApi;

/// The Task API authenticates a request before anything else looks at it.
fn task_api_refusal(shared: &Shared, req: &Request, control: bool) -> Option<FaultKind> {
    if control || req.extensions().get::<TaskApi>().is_none() {
        return None;
    }
    let refusal = shared.with_store(|s| s.acl.task_api_auth(req.headers()).err())?;
    Some(FaultKind::Status {
        code: refusal.status.as_u16(),
        body: refusal.text,
    })
}

/// The connection a request arrived on; notified to close it without an answer.
#[derive(Clone)]
pub(crate) struct ConnKill(pub Arc<Notify>);

pub(crate) async fn middleware(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let control = path.starts_with("/sim/");
    let answer_at = tokio::time::Instant::now() + shared.latency();
    let fault = if control {
        None
    } else {
        shared.take_fault(&method, &path)
    };
    let fault = task_api_refusal(&shared, &req, control)
        .or(fault)
        .or_else(|| leaderless(&shared, &path, &query));
    let response = match fault {
        Some(FaultKind::Status { code, body }) => ApiError::new(code, body).into_response(),
        Some(FaultKind::Drop) => {
            // Status 0: no answer was sent.
            shared.record(RequestRecord {
                method: method.clone(),
                path: path.clone(),
                query: query.clone(),
                status: 0,
            });
            if let Some(kill) = req.extensions().get::<ConnKill>() {
                kill.0.notify_one();
            }
            // The connection task drops the connection; this answer is never sent.
            std::future::pending::<()>().await;
            Response::new(Body::empty())
        }
        Some(FaultKind::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(req).await
        }
        None => next.run(req).await,
    };
    if !control {
        shared.record(RequestRecord {
            method,
            path,
            query,
            status: response.status().as_u16(),
        });
        tokio::time::sleep_until(answer_at).await;
    }
    response
}
