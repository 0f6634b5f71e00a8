//! The follower's one watch of a cluster: a blocking query on the list of the deployments that
//! have not ended (`GET /v1/deployments?namespace=*&filter=...`), re-sent with the last index
//! each time it returns, that runs only while a deployment is being followed. One query wakes
//! for a change of any of them, so a thousand deployments in flight cost one open connection,
//! not a thousand (Nomad allows 100 per client address by default); each answer is a snapshot
//! of all of them, handed to the follower as the latest (an older one is never needed once a
//! newer one is there). A followed deployment missing from a snapshot has ended: the follower
//! reads it once.
//!
//! Measured against one blocking query per deployment, at 1,000 deployments in flight: the
//! list cost ten times the CPU and far more bytes, because every answer repeats every
//! deployment; the filter keeps ended ones (and other jobs' history) out of it, and
//! [`MIN_INTERVAL`] bounds how often it is sent.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::nomad::{Client, Deployment, IndexTracker};
use crate::status::Heartbeat;

/// The least time between two queries: while deployments move, Nomad's index changes many
/// times a second, and every answer lists every deployment.
const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// The longest wait after a failed query (Nomad unreachable, no leader): doubled from
/// [`MIN_INTERVAL`] per failure in a row. Short, so that what ended during an outage is known
/// soon after it; a refused query costs next to nothing.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Deployments that have not ended: every status but Nomad's three terminal ones.
const ACTIVE: &str = r#"Status != "successful" and Status != "failed" and Status != "cancelled""#;

/// The deployments not ended, as of a Nomad index.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    pub index: u64,
    pub deployments: Vec<Deployment>,
}

/// Starts the watch: it queries while `active` is true and publishes every changed list.
pub(super) fn spawn(
    client: Client,
    heartbeat: Option<Heartbeat>,
    cancel: CancellationToken,
) -> (watch::Sender<bool>, watch::Receiver<Arc<Snapshot>>) {
    let (active_tx, active) = watch::channel(false);
    let (lists, lists_rx) = watch::channel(Arc::default());
    tokio::spawn(run(
        client.in_namespace("*"),
        heartbeat,
        active,
        lists,
        cancel,
    ));
    (active_tx, lists_rx)
}

async fn run(
    client: Client,
    heartbeat: Option<Heartbeat>,
    mut active: watch::Receiver<bool>,
    lists: watch::Sender<Arc<Snapshot>>,
    cancel: CancellationToken,
) {
    let mut tracker = IndexTracker::new();
    let mut failures: u32 = 0;
    loop {
        while !*active.borrow_and_update() {
            tokio::select! {
                changed = active.changed() => if changed.is_err() { return },
                () = cancel.cancelled() => return,
            }
        }
        if let Some(h) = &heartbeat {
            h.waiting();
        }
        let query = tracker.query(client.blocking_wait());
        let read = tokio::select! {
            read = client.list_deployments(Some(ACTIVE), &query) => read,
            () = cancel.cancelled() => return,
        };
        let pause = match read {
            Ok(read) => {
                if let Some(h) = &heartbeat {
                    h.returned();
                }
                failures = 0;
                if tracker.observe(&read.meta) {
                    lists.send_replace(Arc::new(Snapshot {
                        index: read.meta.index,
                        deployments: read.value,
                    }));
                }
                MIN_INTERVAL
            }
            Err(e) => {
                if let Some(h) = &heartbeat {
                    h.failed(&e.to_string());
                }
                failures = failures.saturating_add(1);
                let pause = MIN_INTERVAL
                    .saturating_mul(2u32.saturating_pow(failures.min(8)))
                    .min(MAX_BACKOFF);
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "cannot watch Nomad's deployments; what is in flight stays followed");
                pause
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = cancel.cancelled() => return,
        }
    }
}
