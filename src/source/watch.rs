//! [`RefWatch`]: for a source that is a local repository, a filesystem watch on its refs so
//! that a local commit triggers a sync at once instead of at the next poll. Only `refs/`,
//! `packed-refs` and `HEAD` count (a commit touches hundreds of object files); bursts are
//! debounced into one event. Never watches drover's own mirror: it would only see its writes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::error::SourceError;

/// Refs of a local repository changed. Dropping it stops the watch.
pub struct RefWatch {
    _watcher: RecommendedWatcher,
    events: mpsc::UnboundedReceiver<()>,
    debounce: Duration,
}

impl RefWatch {
    /// Watches the repository at `repo` (a work tree with `.git`, or a bare repository).
    pub fn new(repo: &Path, debounce: Duration) -> Result<Self, SourceError> {
        let git_dir = git_dir(repo);
        let fail = |e: notify::Error| SourceError::Mirror {
            path: git_dir.display().to_string(),
            detail: format!("cannot watch refs: {e}"),
        };
        let (send, events) = mpsc::unbounded_channel();
        let root = git_dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                if event.paths.iter().any(|p| is_ref_path(&root, p)) {
                    let _ = send.send(());
                }
            })
            .map_err(fail)?;
        // The directory itself, not each file: Git replaces refs and packed-refs by renaming.
        watcher
            .watch(&git_dir, RecursiveMode::NonRecursive)
            .map_err(fail)?;
        watcher
            .watch(&git_dir.join("refs"), RecursiveMode::Recursive)
            .map_err(fail)?;
        Ok(Self {
            _watcher: watcher,
            events,
            debounce,
        })
    }

    /// Waits for the next change of refs, then for `debounce` of quiet, so that a burst (a
    /// rebase, a pull) is one event. `None` once the watch has stopped.
    pub async fn changed(&mut self) -> Option<()> {
        self.events.recv().await?;
        loop {
            match tokio::time::timeout(self.debounce, self.events.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) | Err(_) => return Some(()),
            }
        }
    }
}

fn git_dir(repo: &Path) -> PathBuf {
    let dot_git = repo.join(".git");
    if dot_git.is_dir() {
        dot_git
    } else {
        repo.to_owned()
    }
}

/// `refs/**`, `packed-refs` or `HEAD` of the repository, lock files excluded.
fn is_ref_path(git_dir: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(git_dir) else {
        return false;
    };
    if relative.extension().is_some_and(|e| e == "lock") {
        return false;
    }
    relative.starts_with("refs")
        || relative == Path::new("packed-refs")
        || relative == Path::new("HEAD")
}
