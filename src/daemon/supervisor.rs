//! The set of source loops: started, stopped and replaced as the configuration says, and the
//! triggers routed to them. A replaced loop's successor waits for it to finish, so a source
//! never has two passes at once; a stopped loop finishes the registrations in flight.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Shared, source_loop};
use crate::config::{Config, Source};
use crate::trigger::{Reason, Trigger};

struct Loop {
    /// The settings it runs with, to notice a change on reload (`Debug` shows every setting and
    /// where each secret comes from, never a secret's value).
    settings: String,
    cancel: CancellationToken,
    triggers: mpsc::UnboundedSender<Reason>,
    handle: JoinHandle<()>,
}

pub(super) struct Supervisor {
    loops: HashMap<String, Loop>,
    shared: Shared,
    root: CancellationToken,
    tracker: TaskTracker,
}

impl Supervisor {
    pub(super) fn new(shared: Shared, root: CancellationToken, tracker: TaskTracker) -> Self {
        Self {
            loops: HashMap::new(),
            shared,
            root,
            tracker,
        }
    }

    /// Brings the running loops in line with `config`: new sources start, removed ones stop,
    /// changed ones restart with their new settings once their current pass ends.
    pub(super) fn apply(&mut self, config: &Config) {
        let wanted: HashMap<&str, &Source> = config
            .sources
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let removed: Vec<String> = self
            .loops
            .keys()
            .filter(|n| !wanted.contains_key(n.as_str()))
            .cloned()
            .collect();
        for name in removed {
            if let Some(old) = self.loops.remove(&name) {
                tracing::info!(source = %name, "source removed from the configuration; stopping its loop");
                old.cancel.cancel();
                self.shared.board.remove_source(&name);
            }
        }
        for source in &config.sources {
            let settings = format!("{source:?}");
            let previous = match self.loops.remove(&source.name) {
                Some(old) if old.settings == settings => {
                    self.loops.insert(source.name.clone(), old);
                    continue;
                }
                Some(old) => {
                    tracing::info!(source = %source.name, "source settings changed; restarting its loop");
                    old.cancel.cancel();
                    Some(old.handle)
                }
                None => None,
            };
            self.start(source, settings, previous);
        }
    }

    fn start(&mut self, source: &Source, settings: String, previous: Option<JoinHandle<()>>) {
        self.shared.board.add_source(source);
        let (triggers, receiver) = mpsc::unbounded_channel();
        let cancel = self.root.child_token();
        let (shared, token, source_arc) = (
            self.shared.clone(),
            cancel.clone(),
            Arc::new(source.clone()),
        );
        let handle = self.tracker.spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            source_loop::run(source_arc, shared, receiver, token).await;
        });
        self.loops.insert(
            source.name.clone(),
            Loop {
                settings,
                cancel,
                triggers,
                handle,
            },
        );
    }

    /// Passes a trigger to its source's loop; a trigger for an unknown source is dropped.
    pub(super) fn trigger(&self, trigger: Trigger) {
        match self.loops.get(&trigger.source) {
            Some(l) => {
                let _ = l.triggers.send(trigger.reason);
            }
            None => {
                tracing::debug!(source = %trigger.source, "trigger for a source that is not running")
            }
        }
    }

    /// Asks every loop for a pass (after a reload).
    pub(super) fn trigger_all(&self, reason: Reason) {
        for l in self.loops.values() {
            let _ = l.triggers.send(reason);
        }
    }
}
