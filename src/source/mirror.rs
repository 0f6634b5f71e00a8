//! [`Mirror`]: one bare repository per source under `<state>/mirrors/`, created on first use
//! and reused across restarts. Fetches run on a worker thread so that a timeout or a shutdown
//! returns at once even when the transport is stuck; the ref that a fetch moved is checked
//! (rejected updates are errors, forced ones are logged) and the commit is resolved from the
//! local refs, never from the remote's word. Never checks out a working tree.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::remote::fetch::Status;
use gix::remote::fetch::refs::update::Mode;
use tokio_util::sync::CancellationToken;

use super::error::{SourceError, chain};
use super::select::Selection;
use super::{packs, remote};
use crate::config::{GitAccess, RepoUrl, Revision, Source, SourceLimits};

/// How long a stopped fetch gets to wind down before its caller stops waiting.
const WIND_DOWN: Duration = Duration::from_secs(2);

/// What a successful fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The commit the source's revision points at now.
    pub commit: ObjectId,
    /// What it pointed at in the mirror before this fetch (`None` on the first fetch).
    pub previous: Option<ObjectId>,
    /// The remote rewrote history: `previous` is not an ancestor of `commit`.
    pub forced: bool,
}

/// A source's bare mirror. Cloning is cheap and shares the mirror; fetches are serialized.
#[derive(Clone)]
pub struct Mirror {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    repo: RwLock<gix::ThreadSafeRepository>,
    fetching: Mutex<()>,
}

/// The parts of a [`Source`] the mirror needs, and where its files live.
pub(super) struct Settings {
    pub name: String,
    pub url: RepoUrl,
    pub gix_url: String,
    pub revision: Revision,
    pub access: GitAccess,
    pub limits: SourceLimits,
    pub selection: Selection,
    pub dir: PathBuf,
    pub askpass: PathBuf,
    pub ssh_log: PathBuf,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.inner.settings;
        f.debug_struct("Mirror")
            .field("source", &s.name)
            .field("url", &s.url.to_string())
            .field("dir", &s.dir)
            .finish()
    }
}

impl Mirror {
    /// Opens the mirror of `source` under `state_dir/mirrors/`, creating an empty one the first
    /// time. No network I/O: the first [`Mirror::fetch`] downloads the repository.
    pub fn open(source: &Source, state_dir: &Path) -> Result<Self, SourceError> {
        let base = state_dir.join("mirrors");
        let dir = mirror_dir(state_dir, &source.name);
        let gix_url = match &source.url {
            RepoUrl::Local(path) => path.display().to_string(),
            other => other.to_string(),
        };
        let settings = Settings {
            name: source.name.clone(),
            url: source.url.clone(),
            gix_url,
            revision: source.revision.clone(),
            access: source.access.clone(),
            limits: source.limits.clone(),
            selection: Selection::new(
                &source.paths,
                &source.exclude,
                &source.objects.globs_in_order(),
            )?,
            askpass: base.join(format!("{}.askpass", source.name)),
            ssh_log: base.join(format!("{}.ssh-stderr", source.name)),
            dir,
        };
        let repo = open_or_init(&settings.dir)?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                repo: RwLock::new(repo),
                fetching: Mutex::new(()),
            }),
        })
    }

    /// The mirror's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.settings.dir
    }

    /// The commit the followed revision points at in the mirror, without fetching; `None`
    /// before the first successful fetch. After a restart this is the last good commit.
    pub fn current(&self) -> Result<Option<ObjectId>, SourceError> {
        let repo = self.inner.repo().to_thread_local();
        self.inner.resolve(&repo)
    }

    /// Fetches what is new and resolves the followed revision. Blocks; returns
    /// [`SourceError::Interrupted`] soon after `interrupt` is set and [`SourceError::Timeout`]
    /// after `fetch_timeout`. On any error the mirror keeps its last good state.
    pub fn fetch(&self, interrupt: &AtomicBool) -> Result<Fetched, SourceError> {
        let inner = Arc::clone(&self.inner);
        let stop = Arc::new(AtomicBool::new(false));
        let worker_stop = Arc::clone(&stop);
        let (send, receive) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("fetch {}", inner.settings.name))
            .spawn(move || {
                let _ = send.send(inner.fetch_now(&worker_stop));
            });
        if let Err(e) = spawned {
            return Err(self
                .inner
                .mirror_error(format!("cannot start a thread: {e}")));
        }
        let settings = &self.inner.settings;
        let deadline = Instant::now() + settings.limits.fetch_timeout;
        loop {
            let stopped = if interrupt.load(Ordering::Relaxed) {
                SourceError::Interrupted
            } else if Instant::now() >= deadline {
                SourceError::Timeout {
                    url: settings.url.to_string(),
                    after: settings.limits.fetch_timeout,
                }
            } else {
                match receive.recv_timeout(Duration::from_millis(20)) {
                    Ok(result) => return result,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(self.inner.mirror_error("the fetch thread panicked".into()));
                    }
                }
            };
            // gix checks the flag between reads; a transport stuck in a read is left behind
            // (it holds the fetch lock, so it cannot race the next fetch).
            stop.store(true, Ordering::Relaxed);
            let _ = receive.recv_timeout(WIND_DOWN);
            return Err(stopped);
        }
    }

    /// [`Mirror::fetch`] off the async runtime; `cancel` (the daemon's shutdown token)
    /// interrupts it.
    pub async fn fetch_async(&self, cancel: &CancellationToken) -> Result<Fetched, SourceError> {
        let interrupt = Arc::new(AtomicBool::new(false));
        let mirror = self.clone();
        let flag = Arc::clone(&interrupt);
        let mut task = tokio::task::spawn_blocking(move || mirror.fetch(&flag));
        tokio::select! {
            joined = &mut task => self.joined(joined),
            () = cancel.cancelled() => {
                interrupt.store(true, Ordering::Relaxed);
                self.joined(task.await)
            }
        }
    }

    fn joined(
        &self,
        joined: Result<Result<Fetched, SourceError>, tokio::task::JoinError>,
    ) -> Result<Fetched, SourceError> {
        joined.map_err(|e| self.inner.mirror_error(format!("fetch task failed: {e}")))?
    }

    /// `id`'s subject and author, when the mirror holds it.
    pub fn commit_summary(&self, id: ObjectId) -> Option<CommitSummary> {
        summary(&self.inner.repo().to_thread_local(), id)
    }

    /// The repository handle, for snapshots and diffs.
    pub(super) fn repository(&self) -> gix::ThreadSafeRepository {
        self.inner.repo()
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.inner.settings
    }
}

impl Inner {
    fn repo(&self) -> gix::ThreadSafeRepository {
        // A poisoned lock only means a reader panicked; the handle is still valid.
        self.repo.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn mirror_error(&self, detail: String) -> SourceError {
        SourceError::Mirror {
            path: self.settings.dir.display().to_string(),
            detail,
        }
    }

    fn fetch_now(&self, stop: &AtomicBool) -> Result<Fetched, SourceError> {
        let _one_at_a_time = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        let mut repo = self.repo().to_thread_local();
        let previous = self.resolve(&repo)?;
        if let (Revision::Commit(_), Some(commit)) = (&self.settings.revision, previous) {
            // A pinned commit never changes: once it is here, there is nothing to fetch.
            return Ok(Fetched {
                commit,
                previous,
                forced: false,
            });
        }
        let outcome = remote::receive(&self.settings, &mut repo, stop)?;
        let forced = self.check_updates(&outcome)? && previous.is_some();
        let Some(commit) = self.resolve(&repo)? else {
            return Err(self.not_found());
        };
        if forced {
            tracing::warn!(
                source = %self.settings.name,
                old = %previous.map(|p| p.to_string()).unwrap_or_default(),
                new = %commit,
                "history was rewritten (force-push): following the new tip"
            );
        }
        // The fetch itself succeeded: a failed repack is reported but does not undo it.
        match packs::bound(&self.settings) {
            Ok(Some(fresh)) => *self.repo.write().unwrap_or_else(|e| e.into_inner()) = fresh,
            Ok(None) => {}
            Err(e) => tracing::error!(
                source = %self.settings.name,
                error = %e,
                "cannot keep the mirror's pack count bounded; listing will slow down"
            ),
        }
        Ok(Fetched {
            commit,
            previous,
            forced,
        })
    }

    /// Fails on any rejected ref update; returns whether one was forced.
    fn check_updates(&self, outcome: &gix::remote::fetch::Outcome) -> Result<bool, SourceError> {
        let update_refs = match &outcome.status {
            Status::NoPackReceived { update_refs, .. } | Status::Change { update_refs, .. } => {
                update_refs
            }
        };
        let mut forced = false;
        for (update, mapping) in update_refs.updates.iter().zip(&outcome.ref_map.mappings) {
            match &update.mode {
                Mode::Forced => forced = true,
                Mode::NoChangeNeeded
                | Mode::FastForward
                | Mode::New
                | Mode::ImplicitTagNotSentByRemote => {}
                rejected => {
                    return Err(SourceError::Rejected {
                        url: self.settings.url.to_string(),
                        reference: mapping
                            .remote
                            .as_name()
                            .map_or_else(|| "a ref".to_owned(), |name| name.to_string()),
                        mode: rejected.to_string(),
                    });
                }
            }
        }
        Ok(forced)
    }

    /// The commit the revision points at in the mirror.
    fn resolve(&self, repo: &gix::Repository) -> Result<Option<ObjectId>, SourceError> {
        let name = match &self.settings.revision {
            Revision::Branch(b) => format!("refs/remotes/origin/{b}"),
            Revision::Tag(t) => format!("refs/tags/{t}"),
            Revision::Commit(c) => {
                let id = ObjectId::from_hex(c.as_bytes())
                    .map_err(|e| self.mirror_error(format!("bad commit id: {e}")))?;
                return Ok(repo.has_object(id).then_some(id));
            }
        };
        let Ok(mut reference) = repo.find_reference(name.as_str()) else {
            return Ok(None);
        };
        let id = reference
            .peel_to_id()
            .map_err(|e| self.mirror_error(format!("cannot resolve {name}: {}", chain(&e))))?
            .detach();
        // A tag may point at a tree or a blob; only a commit has job files.
        match repo.find_commit(id) {
            Ok(_) => Ok(Some(id)),
            Err(_) => Err(self.mirror_error(format!("{name} does not point at a commit"))),
        }
    }

    fn not_found(&self) -> SourceError {
        let url = self.settings.url.to_string();
        match &self.settings.revision {
            Revision::Branch(b) => SourceError::RevisionNotFound {
                url,
                what: "branch",
                name: b.clone(),
            },
            Revision::Tag(t) => SourceError::RevisionNotFound {
                url,
                what: "tag",
                name: t.clone(),
            },
            Revision::Commit(c) => SourceError::CommitNotFound {
                url,
                commit: c.clone(),
            },
        }
    }
}

/// Opens the bare mirror at `dir`, or creates it. Created under a temporary name and renamed,
/// so a crash never leaves a half-made mirror where the next start looks.
/// Where the mirror of source `name` lives.
fn mirror_dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("mirrors").join(format!("{name}.git"))
}

/// The first line of `commit`'s message, read from the mirror of source `name` under
/// `state_dir`; `None` when the mirror does not hold it. Reads only: another process or task
/// may be fetching into the mirror meanwhile.
pub fn commit_subject(state_dir: &Path, name: &str, commit: &str) -> Option<String> {
    let repo = open(&mirror_dir(state_dir, name)).ok()?.to_thread_local();
    let id = ObjectId::from_hex(commit.as_bytes()).ok()?;
    summary(&repo, id).map(|s| s.subject)
}

/// A commit as people recognise it: its ID, subject line and author.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitSummary {
    pub commit: String,
    pub subject: String,
    pub author: String,
}

fn summary(repo: &gix::Repository, id: ObjectId) -> Option<CommitSummary> {
    let commit = repo.find_commit(id).ok()?;
    let subject = commit.message().ok()?.summary().to_string();
    let author = commit.author().ok()?.name.to_string();
    Some(CommitSummary {
        commit: id.to_string(),
        subject,
        author,
    })
}

fn open_or_init(dir: &Path) -> Result<gix::ThreadSafeRepository, SourceError> {
    let fail = |detail: String| SourceError::Mirror {
        path: dir.display().to_string(),
        detail,
    };
    if !dir.exists() {
        let parent = dir.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|e| fail(format!("cannot create: {e}")))?;
        let tmp = dir.with_extension("git.new");
        let _ = std::fs::remove_dir_all(&tmp);
        gix::init_bare(&tmp).map_err(|e| fail(format!("cannot create: {}", chain(&e))))?;
        std::fs::rename(&tmp, dir).map_err(|e| fail(format!("cannot create: {e}")))?;
    }
    open(dir).map_err(fail)
}

/// Opens a mirror reading only its own config: no system or user Git config and no `GIT_*`
/// variables, so the host's Git setup cannot redirect or weaken a fetch.
pub(super) fn open(dir: &Path) -> Result<gix::ThreadSafeRepository, String> {
    gix::open_opts(dir, gix::open::Options::isolated())
        .map(gix::Repository::into_sync)
        .map_err(|e| format!("cannot open: {}", chain(&e)))
}
