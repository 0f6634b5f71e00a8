//! The one way the running parts of drover change the state: a [`Recorder`] shared by the
//! passes and the deployment follower, which changes the records under the lock, saves them
//! as [`Save`] asks, and publishes events — kept in the state's bounded history and sent to
//! every subscriber of the [`Bus`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{State, Store};
use crate::events::{Bus, Event};

/// When a change of the state must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Save {
    /// Before the caller goes on: what Nomad cannot tell again (a failed deployment's inputs,
    /// a prune, the pass itself).
    Now,
    /// Written at once unless a write began less than [`SAVE_SOON`] ago; then with the next
    /// write, whenever that comes: what the ownership meta restores after a crash (a
    /// registration, the time of a plan), and the history. A cold sync of thousands of jobs
    /// writes the file about once a second instead of once per job.
    Soon,
}

/// How recent a write lets a [`Save::Soon`] change wait for the next one.
const SAVE_SOON: Duration = Duration::from_secs(1);

/// The state, its file and the event bus. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    state: Arc<Mutex<State>>,
    store: Arc<Store>,
    bus: Bus,
}

impl Recorder {
    pub fn new(state: State, store: Store) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
            store: Arc::new(store),
            bus: Bus::default(),
        }
    }

    /// The state, locked. Held briefly: every pass and the follower wait on it.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Changes the state and returns once it is on disk or, for [`Save::Soon`], due to be.
    pub async fn record(&self, save: Save, change: impl FnOnce(&mut State) + Send + 'static) {
        let (state, store) = (self.state.clone(), self.store.clone());
        let saved = tokio::task::spawn_blocking(move || match save {
            Save::Now => store.change_and_save(&state, change),
            Save::Soon => store.change_and_save_within(&state, change, SAVE_SOON),
        })
        .await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot save the state"),
            Err(e) => tracing::error!(error = %e, "state save task failed"),
        }
    }

    /// Publishes `event` unless the job's newest event already says the same (a job blocked
    /// or drifted for one reason is told once, not at every pass).
    pub fn publish_change(&self, event: Event) {
        let same = self
            .lock()
            .history
            .last(&event.namespace, &event.job)
            .is_some_and(|last| last.kind == event.kind && last.detail == event.detail);
        if !same {
            self.publish(event);
        }
    }

    /// Sends `event` to subscribers without keeping it: for what is about a source, not a job.
    pub fn announce(&self, event: Event) {
        self.bus.send(Arc::new(event));
    }

    /// Keeps `event` in the history (saved with the next write) and sends it to subscribers.
    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        self.lock().history.push((*event).clone());
        self.bus.send(event);
    }
}
