//! [`Changes`]: what changed between two commits, split into job files (by `paths` and
//! `exclude`) and everything else (var files, files read by `file()`), so later stages touch
//! only what changed. Renames are exact: the same content under a new path.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::diff::tree::recorder::Change;
use gix::objs::tree::EntryKind;

use super::error::{SourceError, chain};
use super::mirror::Mirror;

/// The paths that differ between two commits (like `git diff --name-status --no-renames`,
/// then exact renames paired up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Job files, each list in path order.
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
    pub renamed: Vec<Renamed>,
    /// Every other file that was added, modified or removed.
    pub other: Vec<String>,
}

/// A job file moved without a change to its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub from: String,
    pub to: String,
}

impl Changes {
    /// Nothing changed at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Mirror {
    /// The changes from `from` (`None`: the empty tree, as on a first sync) to `to`. Both
    /// commits must be in the mirror; a `from` that is not (a mirror made afresh) is
    /// [`SourceError::CommitNotFound`], and the caller then resyncs everything.
    pub fn changes(&self, from: Option<ObjectId>, to: ObjectId) -> Result<Changes, SourceError> {
        let settings = self.settings();
        let repo = self.repository().to_thread_local();
        let tree_of = |commit: ObjectId| {
            repo.find_commit(commit)
                .and_then(|c| c.tree())
                .map_err(|_| SourceError::CommitNotFound {
                    url: settings.url.to_string(),
                    commit: commit.to_string(),
                })
        };
        let old = match from {
            Some(commit) => tree_of(commit)?,
            None => repo.empty_tree(),
        };
        let new = tree_of(to)?;
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old.data, old.id.kind()),
            gix::objs::TreeRefIter::from_bytes(&new.data, new.id.kind()),
            gix::diff::tree::State::default(),
            &repo.objects,
            &mut recorder,
        )
        .map_err(|e| SourceError::Mirror {
            path: settings.dir.display().to_string(),
            detail: format!("cannot diff {old_id}..{to}: {}", chain(&e), old_id = old.id),
        })?;
        Ok(split(recorder.records, |p| settings.selection.matches(p)))
    }
}

/// Sorts recorded changes into job and other paths and pairs exact renames of job files.
fn split(records: Vec<Change>, is_job: impl Fn(&str) -> bool) -> Changes {
    let mut out = Changes::default();
    let mut added: BTreeMap<String, ObjectId> = BTreeMap::new();
    let mut removed: BTreeMap<String, ObjectId> = BTreeMap::new();
    for change in records {
        let (path, mode, oid, list) = match change {
            Change::Addition {
                path,
                entry_mode,
                oid,
                ..
            } => (path, entry_mode, oid, &mut added),
            Change::Deletion {
                path,
                entry_mode,
                oid,
                ..
            } => (path, entry_mode, oid, &mut removed),
            Change::Modification {
                path, entry_mode, ..
            } => {
                if entry_mode.kind() != EntryKind::Tree {
                    let path = path.to_string();
                    match is_job(&path) {
                        true => out.modified.push(path),
                        false => out.other.push(path),
                    }
                }
                continue;
            }
        };
        if mode.kind() == EntryKind::Tree {
            continue;
        }
        let path = path.to_string();
        match is_job(&path) {
            true => {
                list.insert(path, oid);
            }
            false => out.other.push(path),
        }
    }
    let mut by_content: BTreeMap<ObjectId, Vec<String>> = BTreeMap::new();
    for (path, oid) in &added {
        by_content.entry(*oid).or_default().push(path.clone());
    }
    for (path, oid) in removed {
        let target = by_content.get_mut(&oid).and_then(Vec::pop);
        match target {
            Some(to) => {
                added.remove(&to);
                out.renamed.push(Renamed { from: path, to });
            }
            None => out.removed.push(path),
        }
    }
    out.added = added.into_keys().collect();
    out.modified.sort();
    out.other.sort();
    out
}
