//! The deployment follower: one per cluster, beside the source loops. A pass hands it every
//! registration it made and goes on; the follower watches the evaluations and then the
//! deployments with blocking queries, promotes canaries where configured, rolls a failed
//! deployment back (unless Nomad's `auto_revert` does), remembers a failed spec as known-bad,
//! records every outcome in the state and publishes it as an event.
//!
//! A newer registration of a job in flight supersedes the older one at once (Nomad cancels
//! the older deployment). After a restart, or when an instance becomes leader, [`resume`]
//! finds what is still in flight from Nomad itself: the latest deployment of every job a
//! source owns, and the `drover.fingerprint` meta on the job.
//!
//! Owns following and the known-bad record shared through Nomad ([`SharedKnownBad`]). Never
//! registers a new spec and never decides whether a job should change (`sync` and
//! `reconcile` do); never waits on a pass, and a pass waits on it only for `sync --once`.
//!
//! # Layout
//! - this file: [`Followers`] (one follower per cluster, started on first use), [`Handle`],
//!   [`Registration`].
//! - `follower.rs`: the loop of one follower; `watch.rs`: its one blocking query on the
//!   cluster's deployment list; `act.rs`: reading a deployment, promoting, rolling back.
//! - `resume.rs`: what is in flight, found from Nomad; `known_bad.rs`: the shared known-bad
//!   record.

mod act;
mod follower;
mod known_bad;
mod resume;
mod watch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use act::{AUTO_PROMOTE_META, Settings};
pub use known_bad::SharedKnownBad;
pub use resume::resume;

use crate::config::Cluster;
use crate::events::Tracked;
use crate::leader::Fence;
use crate::nomad::{BuildError, Client, ObserveFn};
use crate::state::{JobKey, Recorder};
use crate::status::Board;

/// Where following starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// A registration's evaluation (empty for periodic and parameterized jobs, which get none).
    Evaluation(String),
    /// A deployment found in flight (after a restart or a change of leader).
    Deployment(String),
}

/// One registration to follow to its end.
#[derive(Debug, Clone)]
pub struct Registration {
    pub source: String,
    pub job: JobKey,
    pub path: String,
    pub start: Start,
    /// Of the inputs registered: marked known-bad if the deployment fails.
    pub fingerprint: String,
    pub commit: String,
    /// Who signed the commit, when the source verifies signatures: told with every event.
    pub signer: Option<String>,
    pub settings: Settings,
}

/// How the registration ended, or where it waits for a person (canaries awaiting promotion, a
/// paused deployment): what `sync --once` reports.
pub type Waiter = oneshot::Receiver<Told>;

/// What the follower tells whoever waits: the outcome, and the words its event has for it.
#[derive(Debug, Clone)]
pub struct Told {
    pub tracked: Tracked,
    pub detail: String,
}

enum Command {
    Follow(Registration, Option<oneshot::Sender<Told>>),
}

/// The follower of one cluster. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Handle(mpsc::UnboundedSender<Command>);

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Follow(r, _) => write!(f, "Follow({})", r.job),
        }
    }
}

impl Handle {
    /// Follows `registration`; nobody waits for the end.
    pub fn follow(&self, registration: Registration) {
        let _ = self.0.send(Command::Follow(registration, None));
    }

    /// Follows `registration` and tells the end (or the wait for a person) to the returned
    /// receiver. A receiver that gets nothing means drover is stopping or lost the lead.
    pub fn follow_and_wait(&self, registration: Registration) -> Waiter {
        let (tx, rx) = oneshot::channel();
        let _ = self.0.send(Command::Follow(registration, Some(tx)));
        rx
    }
}

/// What every follower shares.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub recorder: Recorder,
    pub cancel: CancellationToken,
    /// With high availability: a follower acts (promotes, rolls back, records) only while
    /// this instance leads.
    pub fence: Option<Fence>,
    pub known_bad: Option<SharedKnownBad>,
    /// Where the daemon's health reads each follower's progress.
    pub board: Option<Board>,
}

/// The followers of every cluster, started on first use. Cheap to clone.
#[derive(Clone)]
pub struct Followers {
    shared: Shared,
    tracker: TaskTracker,
    /// By cluster name: the follower and the settings it was started with (a reload that
    /// changes them starts another; the older one follows what it has to the end).
    running: Arc<Mutex<HashMap<String, (String, Handle)>>>,
    observer: Option<Arc<ObserveFn>>,
}

impl std::fmt::Debug for Followers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Followers")
            .field("clusters", &running.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Followers {
    /// Followers that record through `recorder` and stop with `cancel`.
    pub fn new(recorder: Recorder, cancel: CancellationToken) -> Self {
        Self {
            shared: Shared {
                recorder,
                cancel,
                fence: None,
                known_bad: None,
                board: None,
            },
            tracker: TaskTracker::new(),
            running: Arc::default(),
            observer: None,
        }
    }

    /// Tells `observer` of every Nomad request the followers make (for the metrics).
    pub fn with_observer(mut self, observer: Arc<ObserveFn>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// With high availability: act only under `fence`, and share known-bad specs.
    pub fn with_leadership(mut self, fence: Fence, known_bad: SharedKnownBad) -> Self {
        self.shared.fence = Some(fence);
        self.shared.known_bad = Some(known_bad);
        self
    }

    /// Reports each follower's progress on `board`, for `/healthz` and the watchdog.
    pub fn with_board(mut self, board: Board) -> Self {
        self.shared.board = Some(board);
        self
    }

    /// The shared known-bad record, with high availability.
    pub fn known_bad(&self) -> Option<&SharedKnownBad> {
        self.shared.known_bad.as_ref()
    }

    /// The follower of `cluster`, started if it is not running with these settings yet.
    pub fn of(&self, cluster: &Cluster) -> Result<Handle, BuildError> {
        // `Debug` shows every setting and where a secret comes from, never its value.
        let settings = format!("{cluster:?}");
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, handle)) = running
            .get(&cluster.name)
            .filter(|(s, h)| *s == settings && !h.0.is_closed())
        {
            return Ok(handle.clone());
        }
        let mut client = Client::new(cluster)?;
        if let Some(observer) = &self.observer {
            client = client.with_observer(observer.clone());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let follower = follower::Follower::new(&cluster.name, client, self.shared.clone());
        self.tracker.spawn(follower.run(rx));
        let handle = Handle(tx);
        running.insert(cluster.name.clone(), (settings, handle.clone()));
        Ok(handle)
    }

    /// Waits until every follower has stopped (after the cancellation token).
    pub async fn stopped(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}
