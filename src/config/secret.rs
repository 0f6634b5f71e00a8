//! Secrets (Nomad token, Git password, webhook secret): where they come from and how they are
//! read. A secret is never inline in the TOML; it comes from a file (re-read when it changes, so
//! a rotated token takes effect without a restart), from `$CREDENTIALS_DIRECTORY` (systemd
//! `LoadCredential=`), or from the environment. Its value never reaches `Debug` or `Display`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Largest secret file accepted: a token is tens of bytes; anything bigger is a wrong path.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {path} is larger than {MAX_SECRET_BYTES} bytes; is it the right file?")]
    TooLarge { path: PathBuf },
    #[error("secret file {path} is not valid UTF-8")]
    NotUtf8 { path: PathBuf },
    #[error("secret file {path} is empty")]
    Empty { path: PathBuf },
    /// The secret is read as a URL (a webhook's) and is not one. The value is never shown.
    #[error("{what} is not a valid URL")]
    NotUrl { what: String },
}

/// A secret value or the place to read it from. Cloning shares the cache.
#[derive(Clone)]
pub struct Secret(Arc<Source>);

enum Source {
    /// From the environment, read once at start-up.
    Value(String),
    /// From a file, re-read whenever its modification time or length changes.
    File {
        path: PathBuf,
        cache: Mutex<Option<Cached>>,
    },
}

struct Cached {
    stamp: Stamp,
    value: String,
}

/// What identifies one version of a secret file without reading it. The inode catches the
/// usual rotation (a new file renamed over the old one) even when the new token has the same
/// length and lands in the same coarse modification-time tick.
#[derive(PartialEq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        }
    }
}

impl Secret {
    /// A secret whose value is already known (taken from the environment).
    pub fn value(value: impl Into<String>) -> Self {
        Self(Arc::new(Source::Value(value.into())))
    }

    /// A secret kept in a file, such as `/run/credentials/drover.service/nomad-token`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self(Arc::new(Source::File {
            path: path.into(),
            cache: Mutex::new(None),
        }))
    }

    /// Where the secret comes from, safe to show to a person.
    pub fn origin(&self) -> String {
        match &*self.0 {
            Source::Value(_) => "the environment".to_owned(),
            Source::File { path, .. } => path.display().to_string(),
        }
    }

    /// The current value, trimmed of surrounding whitespace (files usually end with a newline).
    pub fn read(&self) -> Result<String, SecretError> {
        match &*self.0 {
            Source::Value(v) => Ok(v.clone()),
            Source::File { path, cache } => read_cached(path, cache),
        }
    }
}

fn read_cached(path: &Path, cache: &Mutex<Option<Cached>>) -> Result<String, SecretError> {
    let read_err = |source| SecretError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let stamp = Stamp::of(&meta);
    // A poisoned lock only means another reader panicked; the cache is still usable.
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = guard.as_ref().filter(|c| c.stamp == stamp) {
        return Ok(c.value.clone());
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    let text = String::from_utf8(bytes).map_err(|_| SecretError::NotUtf8 {
        path: path.to_owned(),
    })?;
    let value = text.trim().to_owned();
    if value.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    *guard = Some(Cached {
        stamp,
        value: value.clone(),
    });
    Ok(value)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(from {})", self.origin())
    }
}
