//! The HTTP endpoint of `drover run` (default `127.0.0.1:9315`, `[server]` in the config), and
//! `drover status`, its client.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /healthz` | 200 while every source's loop finishes passes (within 3× its interval); 503 and the reasons otherwise ([`Board::health`]) |
//! | `GET /readyz` | 200 once every source synced and Nomad answered recently; 503 and the reasons before ([`Board::readiness`]) |
//! | `GET /status` | the [`Board::document`] as JSON |
//! | `GET /metrics` | [`Metrics::encode`], Prometheus text format |
//! | `POST /webhook`, `POST /webhook/<source>` | a forge's push → passes (see `webhook.rs`) |
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
//! [`Board::document`]: crate::status::Board::document
//! [`Metrics::encode`]: crate::metrics::Metrics::encode

mod client;
mod forge;
mod push;
mod tls;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use client::run as status_command;

/// What the endpoint reads and where it sends triggers. Cheap to clone (once per request).
#[derive(Debug, Clone)]
pub struct ServeContext {
    pub board: crate::status::Board,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The current configuration (swapped on reload): sources to match pushes against, webhook
    /// secrets, body limit. The listen address and TLS files are read once, at start.
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
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/webhook", post(webhook::any))
        .route("/webhook/{source}", post(webhook::targeted))
        .with_state(ctx)
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
    axum::Json(ctx.board.document()).into_response()
}

async fn metrics(State(ctx): State<ServeContext>) -> Response {
    let headers = [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)];
    (headers, ctx.metrics.encode()).into_response()
}
