//! The HTTP endpoint of `drover run` (default `127.0.0.1:9315`, `[server]` in the config), and
//! `drover status`, its client.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /healthz` | 200 while every source's loop finishes passes (within 3× its interval) and no deployment follower has a query out past its bound; 503 and the reasons otherwise ([`Board::health`]) |
//! | `GET /readyz` | 200 once every source synced and Nomad answered recently; 503 and the reasons before ([`Board::readiness`]) |
//! | `GET /status` | the status document as JSON ([`Board::with_document`]) |
//! | `GET /status/jobs/<namespace>/<job>` | the job's last events, newest first; 404 for a job without any |
//! | `GET /metrics` | [`Metrics::encode`], Prometheus text format |
//! | `POST /webhook`, `POST /webhook/<source>` | a forge's push → passes (see `webhook.rs`) |
//! | `GET /`, `GET /ui/...` | the web pages ([`crate::web`]), behind `ui_auth_token` when set |
//!
//! Owns routing, HTTP status codes, TLS and graceful shutdown. Never decides anything about
//! jobs: it reads the board the loops write and hands triggers to them.
//!
//! # Layout
//! - this file: [`ServeContext`], [`serve`], the read-only routes.
//! - `webhook.rs`: the webhook route; `forge.rs`: signatures and event names; `push.rs`:
//!   push payloads matched to sources.
//! - `tls.rs`: HTTPS. `client.rs`: `drover status`.
//!
//! [`Board::health`]: crate::status::Board::health
//! [`Board::readiness`]: crate::status::Board::readiness
//! [`Board::with_document`]: crate::status::Board::with_document
//! [`Metrics::encode`]: crate::metrics::Metrics::encode

mod client;
mod forge;
mod push;
mod tls;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use client::run as status_command;

/// What the endpoint reads and where it sends triggers. Cheap to clone (once per request).
#[derive(Debug, Clone)]
pub struct ServeContext {
    pub board: crate::status::Board,
    /// The state, for the jobs' histories.
    pub recorder: crate::state::Recorder,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The current configuration (swapped on reload): sources to match pushes against, webhook
    /// secrets, body limit. The listen address, TLS files and `max_concurrent_requests` are read
    /// once, at start.
    pub config: tokio::sync::watch::Receiver<Arc<crate::config::Config>>,
    pub triggers: crate::trigger::Sender,
}

/// Serves until `shutdown` is cancelled (graceful: in-flight requests finish). Fails at once if
/// the TLS certificate or key cannot be loaded.
pub async fn serve(
    listener: TcpListener,
    ctx: ServeContext,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let (tls, timeout) = {
        let config = ctx.config.borrow();
        (config.server.tls.clone(), config.server.request_timeout)
    };
    let addr = listener.local_addr()?;
    let app = router(ctx);
    let signal = shutdown.clone().cancelled_owned();
    match tls {
        None => {
            tracing::info!(%addr, "HTTP endpoint listening");
            axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
        }
        Some(settings) => {
            let acceptor = tls::acceptor(&settings)?;
            let listener = tls::TlsListener::spawn(listener, acceptor, timeout, shutdown)?;
            tracing::info!(%addr, "HTTPS endpoint listening");
            axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
        }
    }
}

fn router(ctx: ServeContext) -> Router {
    let slots = Arc::new(Semaphore::new(
        ctx.config.borrow().server.max_concurrent_requests,
    ));
    let webhooks = Router::new()
        .route("/webhook", post(webhook::any))
        .route("/webhook/{source}", post(webhook::targeted))
        .route_layer(middleware::from_fn_with_state(slots, one_of_few));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/status/jobs/{namespace}/{*job}", get(history))
        .route("/metrics", get(metrics))
        .merge(webhooks)
        .merge(crate::web::routes(ctx.clone()))
        .with_state(ctx)
}

/// Lets a delivery in only while fewer than `max_concurrent_requests` are in hand; the next
/// one gets 503 at once rather than a queue, so that a flood holds neither memory (each
/// delivery may buffer `max_webhook_body`) nor the health routes, which stay outside the cap.
async fn one_of_few(State(slots): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    let Ok(_slot) = slots.try_acquire_owned() else {
        let message = "too many webhook deliveries at once (max_concurrent_requests)\n";
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            message,
        )
            .into_response();
    };
    next.run(request).await
}

async fn healthz(State(ctx): State<ServeContext>) -> Response {
    verdict(ctx.board.health())
}

async fn readyz(State(ctx): State<ServeContext>) -> Response {
    verdict(ctx.board.readiness())
}

/// `ok`, or one reason per line with 503 (what a person running `curl` wants to read).
fn verdict(result: Result<(), Vec<String>>) -> Response {
    match result {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(reasons) => {
            let body: String = reasons.iter().map(|r| format!("{r}\n")).collect();
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

async fn status(State(ctx): State<ServeContext>) -> Response {
    ctx.board
        .with_document(|doc| axum::Json(doc).into_response())
}

/// A job's history. Job IDs may hold `/`, so the ID is the rest of the path.
async fn history(
    State(ctx): State<ServeContext>,
    Path((namespace, job)): Path<(String, String)>,
) -> Response {
    let state = ctx.recorder.lock();
    let Some(events) = state.history.of(&namespace, &job) else {
        let message = format!("no events for job {namespace}/{job}\n");
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    let document = JobHistory {
        namespace: &namespace,
        job: &job,
        events: events.collect(),
    };
    axum::Json(document).into_response()
}

#[derive(serde::Serialize)]
struct JobHistory<'a> {
    namespace: &'a str,
    job: &'a str,
    /// Newest first.
    events: Vec<&'a crate::events::Event>,
}

async fn metrics(State(ctx): State<ServeContext>) -> Response {
    let headers = [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)];
    (headers, ctx.metrics.encode()).into_response()
}
