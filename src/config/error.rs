//! `ConfigError`: every way a config file can be rejected, each with a message an operator can
//! act on (the file, the line and column where known, the key, what to do). Never contains a
//! secret value: only the names and paths of secrets.

use std::fmt;
use std::path::{Path, PathBuf};

use super::locate::{self, KeyPath};
use super::secret::SecretError;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is larger than {limit} bytes; is it the right file?")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("config file {path} is not valid UTF-8")]
    NotUtf8 { path: PathBuf },
    /// The text is not TOML (and so no key can be named).
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// A key is unknown, has the wrong type, or a value that does not make sense.
    #[error("{at}: `{key}`: {message}")]
    Invalid {
        at: Location,
        key: String,
        message: String,
    },
    /// A `NOMAD_*` (or `CREDENTIALS_DIRECTORY`) variable that the file does not override is wrong.
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
    /// A `[source.verify]` key file cannot be read or does not parse: its path and line.
    #[error("{0}")]
    KeyFile(#[source] crate::source::verify::KeyFileError),
    /// A secret file named by the config cannot be read (see [`super::Config::verify_secrets`]).
    #[error("{what}: {source}")]
    Secret {
        what: String,
        #[source]
        source: SecretError,
    },
}

/// A place in the config file: `path:line:column`, or just the path when the line is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    /// One-based line and column.
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, col)) => write!(f, "{}:{line}:{col}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Builds errors that point into one config text.
#[derive(Clone, Copy)]
pub(super) struct Report<'a> {
    pub text: &'a str,
    pub path: &'a Path,
}

impl Report<'_> {
    fn location(&self, offset: Option<usize>) -> Location {
        Location {
            path: self.path.to_owned(),
            line_col: offset.map(|o| locate::line_col(self.text, o)),
        }
    }

    /// An error about `key`, located where the key (or its enclosing table) is written.
    pub(super) fn invalid(&self, key: &KeyPath, message: impl Into<String>) -> ConfigError {
        let span = locate::span_of(self.text, key);
        ConfigError::Invalid {
            at: self.location(span.map(|s| s.start)),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Turns toml's error (parse or deserialize) into `path:LINE:COL: key: message`.
    pub(super) fn toml(&self, err: &toml::de::Error) -> ConfigError {
        let offset = err.span().map(|s| s.start);
        let at = self.location(offset);
        let message = with_hint(err.message());
        match offset.and_then(|o| locate::path_at(self.text, o)) {
            Some(key) => ConfigError::Invalid {
                at,
                key: key.to_string(),
                message,
            },
            None => ConfigError::Syntax { at, message },
        }
    }
}

/// Keys people write by habit that drover refuses on purpose, with what to write instead.
const HINTS: &[(&str, &str)] = &[
    (
        "token",
        "secrets are never written in the config file: put the token in a file and set \
         `token_file`, or use `token_credential` with systemd's LoadCredential=",
    ),
    (
        "webhook_secret",
        "secrets are never written in the config file: put the secret in a file and set \
         `webhook_secret_file`",
    ),
    ("sources", "sources are declared one per `[[source]]` table"),
    (
        "cluster",
        "more clusters go in `[clusters.NAME]` tables; `[nomad]` is the default one",
    ),
];

fn with_hint(message: &str) -> String {
    let hint = HINTS
        .iter()
        .find(|(key, _)| message.starts_with(&format!("unknown field `{key}`")));
    match hint {
        Some((_, hint)) => format!("{message}; {hint}"),
        None => message.to_owned(),
    }
}
