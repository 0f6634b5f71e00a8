//! The daemon's consumer of events: each one moves the status board, counts in `/metrics` and
//! is logged — at WARN when a person should look (failed, rolled back, blocked, drift found).

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventKind};
use crate::metrics::Metrics;
use crate::status::Board;

pub(super) async fn consume(
    mut events: broadcast::Receiver<Arc<Event>>,
    board: Board,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = cancel.cancelled() => return,
        };
        match event {
            Ok(event) => {
                board.on_event(&event);
                metrics.event(event.kind);
                if let Some(status) = deployment_end(&event) {
                    metrics.deployment_finished(status);
                }
                log(&event);
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "events came faster than the status board took them; some were not shown"
                )
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// The final status of a followed deployment, when the event is one's end.
fn deployment_end(event: &Event) -> Option<&'static str> {
    event.deployment.as_ref()?;
    match event.kind {
        EventKind::Succeeded => Some("successful"),
        EventKind::Failed => Some("failed"),
        EventKind::Superseded => Some("superseded"),
        _ => None,
    }
}

fn log(e: &Event) {
    // An object besides a job is named `<kind>/<name>` with no namespace.
    let job = if e.namespace.is_empty() {
        e.job.clone()
    } else {
        format!("{}/{}", e.namespace, e.job)
    };
    let (commit, deployment) = (
        e.commit.as_deref().unwrap_or("-"),
        e.deployment.as_deref().unwrap_or("-"),
    );
    match e.kind {
        EventKind::VerificationFailed => {
            tracing::warn!(source = %e.source, commit, detail = %e.detail, "verification failed")
        }
        EventKind::PassEnded => {
            tracing::debug!(source = %e.source, commit, detail = %e.detail, "pass ended")
        }
        EventKind::Progress => {
            tracing::debug!(source = %e.source, job = %job, deployment, detail = %e.detail, "deployment progress")
        }
        kind if kind.is_problem() => {
            tracing::warn!(source = %e.source, job = %job, commit, version = ?e.version, deployment, detail = %e.detail, "{kind}")
        }
        kind => {
            tracing::info!(source = %e.source, job = %job, commit, version = ?e.version, deployment, detail = %e.detail, "{kind}")
        }
    }
}
