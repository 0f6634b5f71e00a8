//! The notifier: tells people and forges how deployments went, from the events alone.
//!
//! - **Commit statuses** (`[source.commit_status]`): `pending` when a pass registers a job of a
//!   commit, then one final state once the pass and every job it registered or blocked have
//!   ended ([`commits`]), posted to GitHub, GitLab or Gitea ([`forge`]).
//! - **Messages** (`[[notify]]`): the events a destination asks for (by default failed, rolled
//!   back, blocked, and `recovered`: the first success after a failure), at or above its
//!   severity, grouped per commit within its `group_window` so that a burst is one summary
//!   ([`message`]), in the destination's format ([`chat`]).
//! - **Exactly once**: each outcome is keyed by (destination, source, job, commit, outcome)
//!   and sent only if no earlier run or leader sent it ([`sent`]).
//! - **Never in the way**: the notifier reads the event bus on a task of its own and hands
//!   requests to a bounded queue per destination ([`deliver`]); a slow or failing forge never
//!   delays a pass or a deployment, and what does not fit is dropped and counted.
//!
//! Never reads Nomad's jobs or Git's files (only a commit's subject, from the mirror), never
//! decides anything about a job, and never logs a token or a webhook URL.

mod chat;
mod commits;
pub mod deliver;
mod forge;
mod message;
mod sent;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

pub use chat::{SIGNATURE_HEADER, signature};
use commits::{Commits, Update};
use deliver::{Outbox, Outgoing};
use message::{Message, Told};
pub use sent::Sent;

use crate::config::{Config, Destination, RecoveredWord, Severity, Source, Wanted};
use crate::events::{Event, EventKind};
use crate::metrics::Metrics;
use crate::state::Recorder;

/// What the notifier needs from the daemon.
pub struct Setup {
    pub config: watch::Receiver<Arc<Config>>,
    pub recorder: Recorder,
    pub sent: Sent,
    pub metrics: Arc<Metrics>,
    pub state_dir: PathBuf,
}

/// Runs until `cancel`: reads every event and tells what its destinations ask for.
pub async fn run(setup: Setup, cancel: CancellationToken) {
    let mut events = setup.recorder.bus().subscribe();
    let mut notifier = Notifier {
        setup,
        cancel: cancel.clone(),
        commits: Commits::default(),
        outboxes: HashMap::new(),
        http: None,
        groups: BTreeMap::new(),
    };
    loop {
        let due = notifier.groups.values().map(|g| g.due).min();
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => notifier.on_event(&event).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "events came faster than the notifier took them; some were not told");
                }
                Err(RecvError::Closed) => return,
            },
            () = sleep_until(due) => notifier.flush(Instant::now()).await,
            () = cancel.cancelled() => return,
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Outcomes of one commit for one destination, told together when the window closes.
struct Group {
    due: Instant,
    told: Vec<Told>,
}

struct Notifier {
    setup: Setup,
    cancel: CancellationToken,
    commits: Commits,
    /// By destination name (`[[notify]]` name, or `<source>:<provider>`); kept across reloads.
    outboxes: HashMap<String, Outbox>,
    /// Shared by every outbox; made when the first is.
    http: Option<reqwest::Client>,
    /// By (destination, source, commit).
    groups: BTreeMap<(String, String, String), Group>,
}

impl Notifier {
    async fn on_event(&mut self, event: &Event) {
        let config = self.setup.config.borrow().clone();
        let Some(source) = config.sources.iter().find(|s| s.name == event.source) else {
            return;
        };
        if source.commit_status.is_some() {
            self.commit_status(source, event, config.server.public_url.as_ref())
                .await;
        }
        if self.held_after_failure(event) {
            return;
        }
        let recovered = event.kind == EventKind::Succeeded && self.recovered(event);
        for destination in config.notify.iter().filter(|d| d.hears(&event.source)) {
            if let Some(outcome) = outcome(destination, event, recovered) {
                let link = job_link(config.server.public_url.as_ref(), event);
                let key = (
                    destination.name.clone(),
                    event.source.clone(),
                    event.commit.clone().unwrap_or_default(),
                );
                let window = destination.group_window;
                let group = self.groups.entry(key).or_insert_with(|| Group {
                    due: Instant::now() + window,
                    told: Vec::new(),
                });
                group.told.push(Told::new(event, outcome, link));
            }
        }
    }

    /// Whether the job's latest end before `event` was a failure.
    fn recovered(&self, event: &Event) -> bool {
        self.previous_end(event)
            .is_some_and(|(kind, _)| kind != EventKind::Succeeded)
    }

    /// Whether `event` holds a job back because this very commit's deployment of it just
    /// failed: the failure was told, and the pass that then refuses the same inputs adds
    /// nothing a person needs to hear again.
    fn held_after_failure(&self, event: &Event) -> bool {
        event.kind == EventKind::Blocked
            && self.previous_end(event).is_some_and(|(kind, commit)| {
                matches!(kind, EventKind::Failed | EventKind::RolledBack) && commit == event.commit
            })
    }

    /// The kind and commit of the job's latest end before `event`, from the kept history.
    fn previous_end(&self, event: &Event) -> Option<(EventKind, Option<String>)> {
        let state = self.setup.recorder.lock();
        let history = state.history.of(&event.namespace, &event.job)?;
        let mut ends = history.skip_while(|e| *e != event).skip(1).filter(|e| {
            matches!(
                e.kind,
                EventKind::Succeeded
                    | EventKind::Failed
                    | EventKind::RolledBack
                    | EventKind::Blocked
            )
        });
        ends.next().map(|e| (e.kind, e.commit.clone()))
    }

    async fn commit_status(&mut self, source: &Source, event: &Event, public: Option<&Url>) {
        let Some(forge) = &source.commit_status else {
            return;
        };
        let Some(commit) = &event.commit else { return };
        let updates = if commits::ends(event.kind) && !self.commits.follows(&source.name, commit) {
            // Followed again after a restart (or a change of leader): from the kept events.
            let kept = self
                .setup
                .recorder
                .lock()
                .history
                .of_commit(&source.name, commit);
            self.commits.replay(&kept)
        } else {
            self.commits.on_event(event)
        };
        let destination = format!(
            "{}:{}:{}",
            forge.provider.as_str(),
            forge.repository,
            forge.context
        );
        for update in updates {
            let key = sent::key(
                &destination,
                &update.source,
                "",
                &update.commit,
                update.state.as_str(),
            );
            let keys = self.setup.sent.claim(vec![key]).await;
            if keys.is_empty() {
                continue;
            }
            let link = status_link(public, &update);
            match forge::request(forge, &update, link.as_ref()) {
                Ok(request) => {
                    let name = format!("{}:{}", source.name, forge.provider.as_str());
                    let item = Outgoing {
                        keys,
                        is_final: update.state.is_final(),
                        request,
                    };
                    self.send(&name, item);
                }
                Err(e) => {
                    self.setup.sent.release(keys);
                    tracing::warn!(source = %source.name, error = %e, "cannot set the commit status");
                }
            }
        }
    }

    /// Tells every group whose window closed by `now`.
    async fn flush(&mut self, now: Instant) {
        let due: Vec<_> = self
            .groups
            .iter()
            .filter(|(_, g)| g.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let config = self.setup.config.borrow().clone();
        for key in due {
            let Some(group) = self.groups.remove(&key) else {
                continue;
            };
            let (name, source, commit) = key;
            let Some(destination) = config.notify.iter().find(|d| d.name == name) else {
                continue;
            };
            self.tell(destination, source, commit, group.told).await;
        }
    }

    async fn tell(
        &mut self,
        destination: &Destination,
        source: String,
        commit: String,
        told: Vec<Told>,
    ) {
        let keyed: Vec<(String, Told)> = told
            .into_iter()
            .map(|t| {
                let job = format!("{}/{}", t.event.namespace, t.event.job);
                (
                    sent::key(&destination.name, &source, &job, &commit, t.outcome),
                    t,
                )
            })
            .collect();
        let mut keys: Vec<String> = keyed.iter().map(|(k, _)| k.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        let fresh = self.setup.sent.claim(keys).await;
        let mut seen = std::collections::HashSet::new();
        let told: Vec<Told> = keyed
            .into_iter()
            .filter(|(k, _)| fresh.contains(k) && seen.insert(k.clone()))
            .map(|(_, t)| t)
            .collect();
        if told.is_empty() {
            return;
        }
        let is_final = told
            .iter()
            .any(|t| t.outcome == "recovered" || Severity::of(t.event.kind) > Severity::Info);
        let commit = Some(commit).filter(|c| !c.is_empty());
        let subject = match &commit {
            Some(c) => {
                let (dir, name, c) = (self.setup.state_dir.clone(), source.clone(), c.clone());
                tokio::task::spawn_blocking(move || crate::source::commit_subject(&dir, &name, &c))
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        let message = Message {
            source,
            commit,
            subject,
            told,
        };
        match chat::request(destination, &message) {
            Ok(request) => {
                let item = Outgoing {
                    keys: fresh,
                    is_final,
                    request,
                };
                self.send(&destination.name, item);
            }
            Err(e) => {
                self.setup.sent.release(fresh);
                tracing::warn!(destination = %destination.name, error = %e, "cannot notify");
            }
        }
    }

    /// Queues `item` for destination `name`, starting its outbox on first use — and the HTTP
    /// client with it: a daemon that notifies nobody never loads the system's CA roots.
    fn send(&mut self, name: &str, item: Outgoing) {
        if !self.outboxes.contains_key(name) {
            let http = match self.http.clone().map_or_else(deliver::http_client, Ok) {
                Ok(http) => http,
                Err(e) => {
                    tracing::error!(destination = name, error = %e.without_url(), "cannot set up the notifier's HTTP client");
                    self.setup.sent.release(item.keys);
                    return;
                }
            };
            self.http = Some(http.clone());
            let sent = self.setup.sent.clone();
            let delivered = Arc::new(move |keys: Vec<String>| {
                let sent = sent.clone();
                tokio::spawn(async move { sent.delivered(keys).await });
            });
            let outbox = Outbox::start(
                name,
                http,
                self.setup.metrics.clone(),
                delivered,
                self.cancel.child_token(),
            );
            self.outboxes.insert(name.to_owned(), outbox);
        }
        if let Some(outbox) = self.outboxes.get(name) {
            outbox.push(item);
        }
    }
}

/// What `destination` hears of `event`: its kind, `recovered`, or nothing.
fn outcome(destination: &Destination, event: &Event, recovered: bool) -> Option<&'static str> {
    if event.kind == EventKind::PassEnded {
        return None;
    }
    let wants = |w: Wanted, severity: Severity| {
        destination.events.contains(&w) && severity >= destination.min_severity
    };
    if recovered
        && wants(
            Wanted::Recovered(RecoveredWord::Recovered),
            Severity::Warning,
        )
    {
        return Some("recovered");
    }
    wants(Wanted::Event(event.kind), Severity::of(event.kind)).then(|| event.kind.as_str())
}

/// The job's page on drover's status endpoint.
fn job_link(public: Option<&Url>, event: &Event) -> Option<String> {
    let base = public?.as_str().trim_end_matches('/');
    Some(format!(
        "{base}/status/jobs/{}/{}",
        event.namespace, event.job
    ))
}

/// A commit state's link: the one job it is about, or the whole status.
fn status_link(public: Option<&Url>, update: &Update) -> Option<Url> {
    let base = public?.as_str().trim_end_matches('/');
    let link = match &update.job {
        Some((ns, job)) => format!("{base}/status/jobs/{ns}/{job}"),
        None => format!("{base}/status"),
    };
    Url::parse(&link).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NotifyKind, Secret, default_events};

    fn destination(events: Option<Vec<Wanted>>, min: Severity) -> Destination {
        Destination {
            name: "ops".into(),
            kind: NotifyKind::Slack,
            url: Secret::value("https://hooks.example.com/x"),
            secret: None,
            sources: None,
            events: events.map_or_else(default_events, |e| e.into_iter().collect()),
            min_severity: min,
            group_window: std::time::Duration::from_secs(1),
        }
    }

    fn event(kind: EventKind) -> Event {
        Event::new(kind, "prod", "default", "web")
    }

    #[test]
    fn by_default_failures_blocks_and_recoveries_are_told() {
        let d = destination(None, Severity::Info);
        assert_eq!(
            outcome(&d, &event(EventKind::Failed), false),
            Some("failed")
        );
        assert_eq!(
            outcome(&d, &event(EventKind::RolledBack), false),
            Some("rolled_back")
        );
        assert_eq!(
            outcome(&d, &event(EventKind::Blocked), false),
            Some("blocked")
        );
        assert_eq!(outcome(&d, &event(EventKind::Succeeded), false), None);
        assert_eq!(
            outcome(&d, &event(EventKind::Succeeded), true),
            Some("recovered")
        );
        assert_eq!(outcome(&d, &event(EventKind::Registered), false), None);
        assert_eq!(outcome(&d, &event(EventKind::PassEnded), false), None);
    }

    #[test]
    fn a_destination_hears_what_it_names_at_its_severity() {
        let kinds = vec![
            Wanted::Event(EventKind::Succeeded),
            Wanted::Event(EventKind::Failed),
        ];
        let d = destination(Some(kinds.clone()), Severity::Info);
        assert_eq!(
            outcome(&d, &event(EventKind::Succeeded), true),
            Some("succeeded")
        );
        let d = destination(Some(kinds), Severity::Error);
        assert_eq!(outcome(&d, &event(EventKind::Succeeded), false), None);
        assert_eq!(
            outcome(&d, &event(EventKind::Failed), false),
            Some("failed")
        );
    }
}
