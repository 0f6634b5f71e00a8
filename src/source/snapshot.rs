//! [`Snapshot`]: the job files of one commit, listed from its tree (no checkout), and read
//! access to every file of that tree under the rules of [`RepoFiles`]: symbolic links are
//! refused wherever they are on the path, submodules are not entered, sizes are capped, and
//! paths cannot leave the repository. Never parses a file.

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use super::error::{SourceError, chain};
use super::files::{FileError, RepoFiles, join};
use super::mirror::Mirror;
use super::select::Listed;

/// One job file at the snapshot's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFile {
    /// Repository-relative, `/`-separated.
    pub path: String,
    pub blob: ObjectId,
    pub size: u64,
}

/// The job files of a commit, and the tree they come from.
pub struct Snapshot {
    pub commit: ObjectId,
    /// Matched by `paths`, readable, in path order.
    pub files: Vec<JobFile>,
    /// The files of each other group of globs (see [`Selection`](super::select::Selection)),
    /// readable, in path order.
    pub groups: Vec<Vec<JobFile>>,
    /// Paths matched by `paths` that cannot be used (a link, over `max_file_size`). Each bad
    /// file is reported on its own; the others are still synced.
    pub refused: Vec<FileError>,
    /// Submodules in the tree; drover never follows them.
    pub submodules: Vec<String>,
    tree: ObjectId,
    repo: gix::ThreadSafeRepository,
    max_file_size: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("commit", &self.commit)
            .field("files", &self.files.len())
            .field("refused", &self.refused)
            .finish()
    }
}

impl Mirror {
    /// Lists the job files at `commit`, which must be in the mirror (see [`Mirror::fetch`]).
    pub fn snapshot(&self, commit: ObjectId) -> Result<Snapshot, SourceError> {
        let settings = self.settings();
        let ts = self.repository();
        let repo = ts.to_thread_local();
        let fail = |detail: String| SourceError::Mirror {
            path: settings.dir.display().to_string(),
            detail,
        };
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree_id().map(|id| id.detach()))
            .map_err(|_| SourceError::CommitNotFound {
                url: settings.url.to_string(),
                commit: commit.to_string(),
            })?;
        let entries = repo
            .find_tree(tree)
            .and_then(|t| t.traverse().breadthfirst.files())
            .map_err(|e| fail(format!("cannot list the tree of {commit}: {}", chain(&e))))?;
        let limit = settings.limits.max_file_size;
        let mut matched = Vec::new();
        let mut refused = Vec::new();
        let mut submodules = Vec::new();
        for entry in entries {
            let kind = entry.mode.kind();
            if kind == EntryKind::Tree {
                continue;
            }
            let path = entry.filepath.to_string();
            if kind == EntryKind::Commit {
                submodules.push(path);
            } else if let Some(listed) = settings.selection.classify(&path) {
                matched.push((path, kind, entry.oid, listed));
            }
        }
        if matched.len() > settings.limits.max_files {
            return Err(SourceError::TooManyFiles {
                matched: matched.len(),
                limit: settings.limits.max_files,
            });
        }
        let mut files = Vec::with_capacity(matched.len());
        let mut groups = vec![Vec::new(); settings.selection.groups()];
        for (path, kind, blob, listed) in matched {
            if kind == EntryKind::Link {
                refused.push(FileError::Symlink { path });
                continue;
            }
            let size = repo
                .find_header(blob)
                .map_err(|e| fail(format!("{path}: {}", chain(&e))))?
                .size();
            if size > limit {
                refused.push(FileError::TooLarge { path, size, limit });
            } else {
                let file = JobFile { path, blob, size };
                match listed {
                    Listed::Job => files.push(file),
                    Listed::Group(i) => groups[i].push(file),
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        for group in &mut groups {
            group.sort_by(|a, b| a.path.cmp(&b.path));
        }
        for path in &submodules {
            tracing::warn!(source = %settings.name, %commit, submodule = %path, "submodules are not followed");
        }
        for problem in &refused {
            tracing::warn!(source = %settings.name, %commit, error = %problem, "job file refused");
        }
        Ok(Snapshot {
            commit,
            files,
            groups,
            refused,
            submodules,
            tree,
            repo: ts,
            max_file_size: limit,
        })
    }
}

impl RepoFiles for Snapshot {
    fn read(&self, path: &str) -> Result<Vec<u8>, FileError> {
        let path = join("", path)?;
        let repo = self.repo.to_thread_local();
        // A listed job file is read by its blob, without walking the trees down to it again.
        if let Ok(i) = self.files.binary_search_by(|f| f.path.as_str().cmp(&path)) {
            return self.read_blob(&repo, self.files[i].blob, path);
        }
        let unreadable = |detail: String| FileError::Unreadable {
            path: path.clone(),
            detail,
        };
        let mut tree = repo
            .find_tree(self.tree)
            .map_err(|e| unreadable(chain(&e)))?;
        let parts: Vec<&str> = path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let here = parts[..=i].join("/");
            let Some(entry) = tree.find_entry(*part) else {
                return Err(FileError::Missing { path });
            };
            let (kind, oid) = (entry.mode().kind(), entry.object_id());
            let last = i + 1 == parts.len();
            match kind {
                // A link anywhere on the path: never followed, whatever it points at.
                EntryKind::Link => return Err(FileError::Symlink { path: here }),
                EntryKind::Commit => return Err(FileError::NotAFile { path: here }),
                EntryKind::Tree if last => return Err(FileError::NotAFile { path }),
                EntryKind::Tree => {
                    tree = repo.find_tree(oid).map_err(|e| unreadable(chain(&e)))?;
                }
                EntryKind::Blob | EntryKind::BlobExecutable if last => {
                    return self.read_blob(&repo, oid, path);
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    return Err(FileError::Missing { path });
                }
            }
        }
        // `join` never yields an empty path for a file; the root is a directory.
        Err(FileError::NotAFile { path })
    }
}

impl Snapshot {
    fn read_blob(
        &self,
        repo: &gix::Repository,
        oid: ObjectId,
        path: String,
    ) -> Result<Vec<u8>, FileError> {
        let unreadable = |e: gix::Error| FileError::Unreadable {
            path: path.clone(),
            detail: chain(&e),
        };
        let size = repo.find_header(oid).map_err(unreadable)?.size();
        if size > self.max_file_size {
            return Err(FileError::TooLarge {
                path,
                size,
                limit: self.max_file_size,
            });
        }
        Ok(repo.find_blob(oid).map_err(unreadable)?.detach().data)
    }
}
