//! Watching the configuration file for changes. The parent directory is watched and events
//! filtered by name, because editors and configuration management replace the file by
//! renaming, which ends a watch on the file itself; bursts are debounced into one reload.

use std::path::Path;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Quiet time after the last event before a reload.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Changes of one file. Dropping it stops the watch.
pub(super) struct ConfigWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    events: mpsc::UnboundedReceiver<()>,
}

/// Starts watching `path`; without a watch (an unsupported filesystem) only `SIGHUP` reloads.
pub(super) fn watch(path: &Path) -> ConfigWatch {
    let (send, events) = mpsc::unbounded_channel();
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let name = absolute.file_name().map(ToOwned::to_owned);
    let dir = absolute.parent().map(Path::to_owned).unwrap_or_default();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event.paths.iter().any(|p| p.file_name() == name.as_deref()) {
            let _ = send.send(());
        }
    })
    .and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w));
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the configuration; reload with SIGHUP");
            None
        }
    };
    ConfigWatch {
        _watcher: watcher,
        events,
    }
}

impl ConfigWatch {
    /// Waits for a change, then for [`DEBOUNCE`] of quiet.
    pub(super) async fn changed(&mut self) -> Option<()> {
        self.events.recv().await?;
        loop {
            match tokio::time::timeout(DEBOUNCE, self.events.recv()).await {
                Ok(Some(())) => {}
                Ok(None) => return None,
                Err(_) => return Some(()),
            }
        }
    }
}
