//! The hand-off from `source` to `render`: read access to the files of a repository at one
//! commit (or of a work tree, for `drover validate`), with the same rules everywhere: paths are
//! repository-relative and cannot escape the repository, links are never followed, and sizes
//! are capped.

/// Read access to the files of one repository at one point in its history.
pub trait RepoFiles: Send + Sync {
    /// The content of the regular file at `path`, a normalized repository-relative path (see
    /// [`join`]).
    fn read(&self, path: &str) -> Result<Vec<u8>, FileError>;

    /// The file at `path` as UTF-8 text.
    fn read_text(&self, path: &str) -> Result<String, FileError> {
        String::from_utf8(self.read(path)?).map_err(|_| FileError::Unreadable {
            path: path.to_owned(),
            detail: "not valid UTF-8 text".to_owned(),
        })
    }
}

/// Why a file of the repository cannot be read. Each names the path as the repository knows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{path}: no such file in the repository")]
    Missing { path: String },
    #[error("{path}: is a symbolic link; drover never follows links")]
    Symlink { path: String },
    #[error("{path}: is a directory or a submodule, not a file")]
    NotAFile { path: String },
    #[error("{path}: {size} bytes is over the limit of {limit} bytes")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}: leads outside the repository")]
    Escapes { path: String },
    #[error("{path}: cannot be read: {detail}")]
    Unreadable { path: String, detail: String },
}

impl FileError {
    /// The repository path the error is about.
    pub fn path(&self) -> &str {
        match self {
            Self::Missing { path }
            | Self::Symlink { path }
            | Self::NotAFile { path }
            | Self::TooLarge { path, .. }
            | Self::Escapes { path }
            | Self::Unreadable { path, .. } => path,
        }
    }
}

/// Joins `relative` to the repository directory `base` (`""` for the root) and normalizes the
/// result (`.` and `..` resolved, `/`-separated, no leading `/`). An absolute path, or one whose
/// `..` climbs above the root, is [`FileError::Escapes`].
pub fn join(base: &str, relative: &str) -> Result<String, FileError> {
    let escapes = || FileError::Escapes {
        path: relative.to_owned(),
    };
    if relative.starts_with('/') || relative.contains('\\') || relative.contains('\0') {
        return Err(escapes());
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(relative.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(escapes)?;
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalizes_and_confines() {
        assert_eq!(
            join("jobs/web", "files/nginx.conf"),
            Ok("jobs/web/files/nginx.conf".into())
        );
        assert_eq!(
            join("jobs/web", "../shared/a.tpl"),
            Ok("jobs/shared/a.tpl".into())
        );
        assert_eq!(join("", "./a//b"), Ok("a/b".into()));
        assert!(matches!(
            join("jobs", "../../etc/passwd"),
            Err(FileError::Escapes { .. })
        ));
        assert!(matches!(
            join("jobs", "/etc/passwd"),
            Err(FileError::Escapes { .. })
        ));
    }
}
