//! The Prometheus metrics of the daemon: their names, labels and buckets, recorded by the source
//! loops and the Nomad client, and encoded for `GET /metrics` in the Prometheus text format
//! (version 0.0.4).
//!
//! Owns the registry and nothing else: never decides what counts as a pass or a drift (the
//! callers say), never reads the status board. Every label is low-cardinality: a source name,
//! a notification destination's name, a result or state word, a Nomad call name, a status code. The one per-job family,
//! `drover_job_drift`, only holds the jobs that are drifted right now.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::events::EventKind;
use crate::status::JobState;

fn event_labels(kind: EventKind) -> EventLabels {
    EventLabels {
        kind: kind.as_str().to_owned(),
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every job state, so that a state with no jobs shows as 0 instead of vanishing (a series
/// that disappears reads as "unknown" to alerts, not as "none").
const JOB_STATES: [JobState; 7] = [
    JobState::Synced,
    JobState::Pending,
    JobState::Deploying,
    JobState::Failed,
    JobState::Blocked,
    JobState::Drifted,
    JobState::Pruned,
];

/// Every result of a notification, shown at 0 for each destination (see [`JOB_STATES`]).
const NOTIFICATION_RESULTS: [&str; 3] = ["sent", "failed", "dropped"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PassLabels {
    source: String,
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentLabels {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    destination: String,
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    destination: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    /// The short commit it was built from (`-dirty` with local changes), or `unknown`.
    commit: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The daemon's metrics. Shared behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    last_sync: Family<SourceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    passes: Family<PassLabels, Counter>,
    pass_duration: Histograms<SourceLabels>,
    fetch_duration: Histograms<SourceLabels>,
    jobs: Family<StateLabels, Gauge>,
    drift: Family<JobLabels, Gauge>,
    deployments: Family<DeploymentLabels, Counter>,
    events: Family<EventLabels, Counter>,
    nomad_requests: Histograms<RequestLabels>,
    notifications: Family<NotificationLabels, Counter>,
    notification_retries: Family<DestinationLabels, Counter>,
    leader: Gauge,
    leader_changes: Counter,
    verification_refusals: Family<RefusalLabels, Counter>,
    verified: Family<SourceLabels, Gauge>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    source: String,
    reason: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A pass takes from milliseconds (nothing changed) to minutes (deployments followed).
fn pass_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 13))
}

/// A no-op fetch takes tens of milliseconds; a first clone may take a minute or more.
fn fetch_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 12))
}

/// From a local answer (5 ms) to a blocking query's wait (minutes: those land near the top).
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("drover"),
            last_sync: Family::default(),
            passes: Family::default(),
            pass_duration: Family::new_with_constructor(pass_buckets),
            fetch_duration: Family::new_with_constructor(fetch_buckets),
            jobs: Family::default(),
            drift: Family::default(),
            deployments: Family::default(),
            events: Family::default(),
            nomad_requests: Family::new_with_constructor(request_buckets),
            notifications: Family::default(),
            notification_retries: Family::default(),
            // Without high availability every instance leads; the election sets it otherwise.
            leader: Gauge::default(),
            leader_changes: Counter::default(),
            verification_refusals: Family::default(),
            verified: Family::default(),
        };
        metrics.leader.set(1);
        for kind in EventKind::ALL {
            let _ = metrics.events.get_or_create(&event_labels(kind));
        }
        metrics.register();
        metrics
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "source_last_sync_timestamp_seconds",
            "When a source's last converged pass finished (Unix time)",
            self.last_sync.clone(),
        );
        r.register(
            "source_sync",
            "Passes per source by result: converged, problems or error",
            self.passes.clone(),
        );
        r.register(
            "source_pass_duration_seconds",
            "How long a pass over a source took",
            self.pass_duration.clone(),
        );
        r.register(
            "git_fetch_duration_seconds",
            "How long fetching a source's repository took",
            self.fetch_duration.clone(),
        );
        r.register("jobs", "Managed jobs per state", self.jobs.clone());
        r.register(
            "job_drift",
            "1 for a job changed outside Git; jobs that are not drifted have no series",
            self.drift.clone(),
        );
        r.register(
            "deployments",
            "Deployments followed to their end, by final status",
            self.deployments.clone(),
        );
        r.register(
            "events",
            "Events about jobs, by kind (registered, progress, succeeded, failed, ...)",
            self.events.clone(),
        );
        r.register(
            "nomad_request_duration_seconds",
            "Nomad API requests (each attempt) by call and HTTP status (0: no response)",
            self.nomad_requests.clone(),
        );
        r.register(
            "notifications",
            "Notification requests by destination and result: sent, failed (given up or \
             refused) or dropped (queue overflow)",
            self.notifications.clone(),
        );
        r.register(
            "notification_retries",
            "Notification requests sent again after a server error, a timeout, a connection \
             error or a rate limit",
            self.notification_retries.clone(),
        );
        r.register(
            "leader",
            "1 while this instance holds the leader lock and applies; 0 for a follower",
            self.leader.clone(),
        );
        r.register(
            "leader_changes",
            "Times this instance became leader or stopped being one",
            self.leader_changes.clone(),
        );
        r.register(
            "verification_refusals",
            "Passes whose fetched commit (or tag) was not deployed for its signature, by source \
             and reason: unsigned, unknown_key, bad_signature, expired_key, not_allowed_at, \
             unreadable",
            self.verification_refusals.clone(),
        );
        r.register(
            "source_verified",
            "1 while a source's fetched commit passed signature verification, 0 while it is \
             refused; sources without [source.verify] have no series",
            self.verified.clone(),
        );
        let labels = BuildLabels {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: env!("DROVER_COMMIT").to_owned(),
        };
        r.register(
            "build",
            "The running drover's version and commit",
            Info::new(labels),
        );
    }

    /// A pass over `source` ended with `result` (`converged`, `problems` or `error`). A
    /// converged pass also sets the source's last-sync timestamp.
    pub fn pass_finished(&self, source: &str, result: &str, duration: Duration) {
        let labels = PassLabels {
            source: source.to_owned(),
            result: result.to_owned(),
        };
        self.passes.get_or_create(&labels).inc();
        self.pass_duration
            .get_or_create(&source_labels(source))
            .observe(duration.as_secs_f64());
        if result == "converged" {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            self.last_sync
                .get_or_create(&source_labels(source))
                .set(now.as_secs_f64());
        }
    }

    /// A pass over a source that verifies signatures: `refused` names the reason its commit
    /// was refused. A pass that fetched nothing leaves the gauge as it was.
    pub fn verification(&self, source: &str, refused: Option<&str>, fetched: bool) {
        if let Some(reason) = refused {
            let labels = RefusalLabels {
                source: source.to_owned(),
                reason: reason.to_owned(),
            };
            self.verification_refusals.get_or_create(&labels).inc();
        }
        if fetched {
            let gauge = self.verified.get_or_create(&source_labels(source));
            gauge.set(i64::from(refused.is_none()));
        }
    }

    pub fn fetch_finished(&self, source: &str, duration: Duration) {
        self.fetch_duration
            .get_or_create(&source_labels(source))
            .observe(duration.as_secs_f64());
    }

    /// Replaces the per-state job counts; states missing from `counts` read 0.
    pub fn jobs(&self, counts: &BTreeMap<JobState, u64>) {
        for state in JOB_STATES.iter().chain(counts.keys()) {
            let count = counts.get(state).copied().unwrap_or(0);
            let labels = StateLabels {
                state: state.as_str().to_owned(),
            };
            self.jobs
                .get_or_create(&labels)
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// Marks `job` drifted (1) or removes its series when it is back in step.
    pub fn job_drift(&self, job: &str, drifted: bool) {
        let labels = JobLabels {
            job: job.to_owned(),
        };
        if drifted {
            self.drift.get_or_create(&labels).set(1);
        } else {
            self.drift.remove(&labels);
        }
    }

    /// A followed deployment ended with `status` (`successful`, `failed`, `cancelled`, ...).
    pub fn deployment_finished(&self, status: &str) {
        let labels = DeploymentLabels {
            status: status.to_owned(),
        };
        self.deployments.get_or_create(&labels).inc();
    }

    /// An event was published.
    pub fn event(&self, kind: EventKind) {
        self.events.get_or_create(&event_labels(kind)).inc();
    }

    /// One Nomad request attempt; the signature of [`crate::nomad::Client::with_observer`].
    pub fn nomad_request(&self, endpoint: &str, code: u16, duration: Duration) {
        let labels = RequestLabels {
            endpoint: endpoint.to_owned(),
            code: code.to_string(),
        };
        self.nomad_requests
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
    }

    /// Shows `destination`'s notification series at 0 before anything happened to it, so that
    /// "no failures yet" reads 0 rather than missing.
    pub fn notification_destination(&self, destination: &str) {
        for result in NOTIFICATION_RESULTS {
            let _ = self
                .notifications
                .get_or_create(&notification_labels(destination, result));
        }
        let _ = self
            .notification_retries
            .get_or_create(&destination_labels(destination));
    }

    /// A notification request to `destination` ended with `result`: `sent`, `failed` (given up
    /// or refused) or `dropped` (its queue overflowed).
    pub fn notification(&self, destination: &str, result: &str) {
        self.notifications
            .get_or_create(&notification_labels(destination, result))
            .inc();
    }

    /// A notification request to `destination` is sent again.
    pub fn notification_retry(&self, destination: &str) {
        self.notification_retries
            .get_or_create(&destination_labels(destination))
            .inc();
    }

    /// Whether this instance leads (high availability).
    pub fn leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// This instance's role changed (to leader or away from it).
    pub fn leader_changed(&self) {
        self.leader_changes.inc();
    }

    /// Every metric in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error would only mean a half-written page.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

fn source_labels(source: &str) -> SourceLabels {
    SourceLabels {
        source: source.to_owned(),
    }
}

fn notification_labels(destination: &str, result: &str) -> NotificationLabels {
    NotificationLabels {
        destination: destination.to_owned(),
        result: result.to_owned(),
    }
}

fn destination_labels(destination: &str) -> DestinationLabels {
    DestinationLabels {
        destination: destination.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_show_in_the_text_format() {
        let m = Metrics::new();
        m.pass_finished("web", "converged", Duration::from_millis(300));
        m.pass_finished("web", "error", Duration::from_millis(10));
        m.jobs(&BTreeMap::from([(JobState::Synced, 3)]));
        m.job_drift("prod/api", true);
        m.job_drift("prod/db", true);
        m.job_drift("prod/db", false);
        m.deployment_finished("successful");
        m.nomad_request("plan", 200, Duration::from_millis(20));
        m.leader(false);
        m.leader_changed();
        m.notification_destination("chat");
        m.notification_destination("github");
        m.notification("github", "sent");
        m.notification_retry("github");
        m.verification("web", Some("unsigned"), true);
        m.verification("web", Some("unsigned"), true);
        m.verification("api", None, true);
        let text = m.encode();
        for line in [
            "drover_source_sync_total{source=\"web\",result=\"converged\"} 1",
            "drover_source_sync_total{source=\"web\",result=\"error\"} 1",
            "drover_jobs{state=\"synced\"} 3",
            "drover_jobs{state=\"failed\"} 0",
            "drover_job_drift{job=\"prod/api\"} 1",
            "drover_deployments_total{status=\"successful\"} 1",
            "drover_nomad_request_duration_seconds_count{endpoint=\"plan\",code=\"200\"} 1",
            "drover_source_pass_duration_seconds_count{source=\"web\"} 2",
            "drover_leader 0",
            "drover_leader_changes_total 1",
            "drover_notifications_total{destination=\"github\",result=\"sent\"} 1",
            "drover_notifications_total{destination=\"chat\",result=\"dropped\"} 0",
            "drover_notification_retries_total{destination=\"github\"} 1",
            "drover_notification_retries_total{destination=\"chat\"} 0",
            "drover_verification_refusals_total{source=\"web\",reason=\"unsigned\"} 2",
            "drover_source_verified{source=\"web\"} 0",
            "drover_source_verified{source=\"api\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(
            !text.contains("prod/db"),
            "a job back in step loses its series"
        );
        assert!(text.contains("drover_source_last_sync_timestamp_seconds{source=\"web\"} 1"));
        let build = format!(
            "drover_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            env!("DROVER_COMMIT")
        );
        assert!(text.contains(&build), "{text}");
    }
}
