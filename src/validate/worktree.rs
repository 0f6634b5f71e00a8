//! [`RepoFiles`] over a directory on disk (a Git work tree, or the current directory), with the
//! rules a commit's tree has: repository-relative paths that cannot escape, no symbolic link
//! followed (not even as a parent directory), a size cap.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::source::{FileError, RepoFiles, join};

/// Files under `root`, as a repository holds them.
#[derive(Debug, Clone)]
pub struct WorkTree {
    root: PathBuf,
    max_file_size: u64,
}

impl WorkTree {
    pub fn new(root: impl Into<PathBuf>, max_file_size: u64) -> Self {
        Self {
            root: root.into(),
            max_file_size,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Git work tree holding `file` (the nearest directory upward with a `.git`), else
    /// `fallback` when it holds the file, else the file's own directory. Both paths absolute.
    pub fn root_of(file: &Path, fallback: &Path) -> PathBuf {
        let git = file
            .ancestors()
            .skip(1)
            .find(|dir| dir.join(".git").exists());
        match git {
            Some(dir) => dir.to_owned(),
            None if file.starts_with(fallback) => fallback.to_owned(),
            None => file.parent().map(Path::to_owned).unwrap_or_default(),
        }
    }

    /// `file`'s path relative to the root, `/`-separated; `None` when it is outside.
    pub fn relative(&self, file: &Path) -> Option<String> {
        let rel = file.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    }
}

impl RepoFiles for WorkTree {
    fn read(&self, path: &str) -> Result<Vec<u8>, FileError> {
        let path = join("", path)?;
        let unreadable = |detail: String| FileError::Unreadable {
            path: path.clone(),
            detail,
        };
        let mut at = self.root.clone();
        let parts: Vec<&str> = path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let meta = match std::fs::symlink_metadata(&at) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(FileError::Missing { path: path.clone() });
                }
                Err(e) => return Err(unreadable(e.kind().to_string())),
            };
            if meta.file_type().is_symlink() {
                let link = parts[..=i].join("/");
                return Err(FileError::Symlink { path: link });
            }
            let last = i + 1 == parts.len();
            if last && !meta.is_file() {
                return Err(FileError::NotAFile { path: path.clone() });
            }
            if last && meta.len() > self.max_file_size {
                return Err(FileError::TooLarge {
                    path: path.clone(),
                    size: meta.len(),
                    limit: self.max_file_size,
                });
            }
        }
        let file = std::fs::File::open(&at).map_err(|e| unreadable(e.kind().to_string()))?;
        let mut bytes = Vec::new();
        // The file may grow between the check and the read.
        file.take(self.max_file_size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unreadable(e.kind().to_string()))?;
        if bytes.len() as u64 > self.max_file_size {
            return Err(FileError::TooLarge {
                path: path.clone(),
                size: bytes.len() as u64,
                limit: self.max_file_size,
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_confined_regular_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("jobs/files")).expect("mkdir");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        std::fs::write(root.join("jobs/files/a.conf"), "a").expect("write");
        std::fs::write(root.join("big"), vec![b'x'; 11]).expect("write");
        std::fs::write(dir.path().join("outside"), "secret").expect("write");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("outside"), root.join("link"))
                .expect("symlink");
            std::os::unix::fs::symlink(root.join("jobs"), root.join("dirlink")).expect("symlink");
        }
        let tree = WorkTree::new(&root, 10);
        assert_eq!(tree.read("jobs/files/a.conf"), Ok(b"a".to_vec()));
        assert!(matches!(
            tree.read("../outside"),
            Err(FileError::Escapes { .. })
        ));
        assert!(matches!(tree.read("nope"), Err(FileError::Missing { .. })));
        assert!(matches!(tree.read("jobs"), Err(FileError::NotAFile { .. })));
        assert!(matches!(
            tree.read("big"),
            Err(FileError::TooLarge { size: 11, .. })
        ));
        #[cfg(unix)]
        {
            assert!(matches!(tree.read("link"), Err(FileError::Symlink { .. })));
            assert!(matches!(
                tree.read("dirlink/files/a.conf"),
                Err(FileError::Symlink { .. })
            ));
        }
        let file = root.join("jobs/files/a.conf");
        assert_eq!(WorkTree::root_of(&file, dir.path()), root);
        assert_eq!(tree.relative(&file).as_deref(), Some("jobs/files/a.conf"));
    }
}
