//! `POST /webhook` and `POST /webhook/<source>`: a forge's push turned into passes.
//!
//! In this order, so that nothing of an unauthenticated body is ever interpreted: no secret
//! configured → 404; body over `max_webhook_body` → 413 (or 408 when it does not arrive within
//! `request_timeout`); no or a bad signature → 401, logged without the body; GitHub's ping →
//! 200; another event, or a push no source follows → 202, ignored; a push → one trigger per
//! matching source, 200 with their names. `/webhook/<source>` skips the repository match but
//! still needs the source's branch or tag. Never runs a pass itself and never logs a secret or
//! a body.

use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ServeContext;
use super::forge::{self, Event, Verdict};
use super::push;
use crate::config::{Config, Source};
use crate::trigger::{Reason, Trigger};

/// What a delivery led to, as JSON for the forge's delivery log.
#[derive(Serialize)]
struct Outcome<'a> {
    /// The sources whose pass was triggered.
    triggered: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<String>,
}

pub(super) async fn any(
    State(ctx): State<ServeContext>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(&ctx, None, &headers, body).await
}

pub(super) async fn targeted(
    State(ctx): State<ServeContext>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(&ctx, Some(&source), &headers, body).await
}

async fn receive(
    ctx: &ServeContext,
    target: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    // One snapshot for the whole delivery, so that a reload halfway cannot mix two configs.
    let config = ctx.config.borrow().clone();
    let server = &config.server;
    let Some(secret) = &server.webhook_secret else {
        let message =
            "webhooks are disabled: set [server] webhook_secret_file or webhook_secret_credential";
        return text(StatusCode::NOT_FOUND, message);
    };
    let limit = server.max_webhook_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let bytes = match tokio::time::timeout(server.request_timeout, to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return too_large(limit),
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long to arrive",
            );
        }
    };
    let secret = match secret.read() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the webhook secret; refusing the delivery");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the webhook secret cannot be read",
            );
        }
    };
    let delivery = forge::delivery_id(headers);
    let forge = match forge::verify(headers, &bytes, secret.as_bytes()) {
        Verdict::Authentic(forge) => forge,
        Verdict::Missing => {
            tracing::warn!(?delivery, "webhook refused: no signature header");
            return text(StatusCode::UNAUTHORIZED, "missing signature");
        }
        Verdict::Invalid(forge) => {
            tracing::warn!(
                forge = forge.as_str(),
                ?delivery,
                "webhook refused: bad signature"
            );
            return text(StatusCode::UNAUTHORIZED, "bad signature");
        }
    };
    match forge::event(headers) {
        Event::Ping => return text(StatusCode::OK, "pong"),
        Event::Other(name) => return ignored(format!("event {name:?} is not a push")),
        Event::Push => {}
    }
    let push = match push::parse(&bytes) {
        Ok(push) => push,
        Err(message) => return text(StatusCode::BAD_REQUEST, &message),
    };
    let Some(sources) = select(&config, target, &push) else {
        return text(StatusCode::NOT_FOUND, "no such source");
    };
    if sources.is_empty() {
        return ignored(format!(
            "no source follows {:?} of this repository",
            push.git_ref
        ));
    }
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    for name in &names {
        let trigger = Trigger {
            source: (*name).to_owned(),
            reason: Reason::Webhook,
        };
        if ctx.triggers.send(trigger).is_err() {
            return text(StatusCode::SERVICE_UNAVAILABLE, "drover is shutting down");
        }
    }
    tracing::info!(
        forge = forge.as_str(), ?delivery, git_ref = ?push.git_ref, sources = ?names,
        "webhook push: passes triggered"
    );
    let outcome = Outcome {
        triggered: names,
        ignored: None,
    };
    (StatusCode::OK, axum::Json(outcome)).into_response()
}

/// The sources a push concerns: the named one if it follows the pushed ref, else every source
/// that follows the pushed repository and ref. `None` when the named source does not exist.
fn select<'a>(
    config: &'a Config,
    target: Option<&str>,
    push: &push::Push,
) -> Option<Vec<&'a Source>> {
    let Some(name) = target else {
        return Some(push::matching(push, &config.sources));
    };
    let source = config.sources.iter().find(|s| s.name == name)?;
    Some(
        push::follows_ref(source, &push.git_ref)
            .then_some(source)
            .into_iter()
            .collect(),
    )
}

fn ignored(reason: String) -> Response {
    let outcome = Outcome {
        triggered: Vec::new(),
        ignored: Some(reason),
    };
    (StatusCode::ACCEPTED, axum::Json(outcome)).into_response()
}

fn too_large(limit: usize) -> Response {
    let message = format!("the body is larger than max_webhook_body ({limit} bytes)");
    text(StatusCode::PAYLOAD_TOO_LARGE, &message)
}

fn text(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}
