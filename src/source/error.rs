//! `SourceError`: every way getting files out of a repository can fail, one variant per thing
//! an operator does differently about it. Texts name the repository and what to check; they
//! never contain a credential (drover never puts one in a URL, and reads secrets only to hand
//! them to the transport).

use std::time::Duration;

use super::files::FileError;

/// Why a fetch, snapshot or diff failed. A caller keeps its last good snapshot on any of them.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// DNS, connection refused, no route: the server was not reached at all.
    #[error("{url}: cannot reach the Git server: {detail}")]
    Unreachable { url: String, detail: String },
    #[error(
        "{url}: authentication failed: check username and password_file (an access token needs read access to the repository) or ssh_key_file"
    )]
    Authentication { url: String },
    #[error(
        "{url}: SSH host key verification failed (unknown or changed host key): add the server's key to known_hosts_file, or check for an impostor"
    )]
    HostKey { url: String },
    #[error("{url}: {what} `{name}` not found on the remote (deleted or renamed?)")]
    RevisionNotFound {
        url: String,
        /// `branch` or `tag`.
        what: &'static str,
        name: String,
    },
    #[error("{url}: commit {commit} is not in the repository")]
    CommitNotFound { url: String, commit: String },
    #[error("{url}: repository not found (check the URL and that the credentials may read it)")]
    RepositoryNotFound { url: String },
    #[error("{url}: fetch did not finish within {after:?} (fetch_timeout)")]
    Timeout { url: String, after: Duration },
    #[error("fetch interrupted by shutdown")]
    Interrupted,
    /// A ref update that `git fetch` would have refused; never passed over silently.
    #[error("{url}: update of {reference} rejected: {mode}")]
    Rejected {
        url: String,
        reference: String,
        mode: String,
    },
    #[error("`{glob}` in paths or exclude is not a valid glob: {detail}")]
    InvalidGlob { glob: String, detail: String },
    #[error("{matched} files match `paths`, more than max_files = {limit}")]
    TooManyFiles { matched: usize, limit: usize },
    /// A program gix relies on (`git` for `file://` and repacking, `ssh` for SSH) is missing.
    #[error("`{program}` is not installed or not on PATH; {why}")]
    ProgramMissing {
        program: &'static str,
        why: &'static str,
    },
    /// The password file, CA file or key cannot be used. Names the file, never its content.
    #[error("{url}: {detail}")]
    Credentials { url: String, detail: String },
    /// Any other failure of the Git protocol or the server.
    #[error("{url}: fetch failed: {detail}")]
    Fetch { url: String, detail: String },
    /// The mirror on disk cannot be created, opened or read.
    #[error("mirror {path}: {detail}")]
    Mirror { path: String, detail: String },
    #[error(transparent)]
    File(#[from] FileError),
}

impl SourceError {
    /// True when retrying later may help (the server, the network or a deadline), as opposed to
    /// something an operator must fix (credentials, host keys, a missing branch, the config).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Fetch { .. }
        )
    }
}

/// The text of an error and all its sources, for classification and messages.
pub(super) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

/// Maps the text of a failed fetch (gix's error chain, plus what `ssh` printed) to the variant
/// an operator can act on. Text matching is the only way: gix reports transport failures as
/// strings from `ssh`, `git-upload-pack`, the HTTP stack or the OS.
pub(super) fn classify(url: &str, detail: String) -> SourceError {
    let lower = detail.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    let url = url.to_owned();
    if has(&[
        "host key verification failed",
        "remote host identification has changed",
        "host key for",
        "no matching host key",
    ]) {
        return SourceError::HostKey { url };
    }
    if has(&["none of the refspec"]) {
        // Only the single-revision refspecs can match nothing; the caller fills in the name.
        return SourceError::RevisionNotFound {
            url,
            what: "branch",
            name: String::new(),
        };
    }
    if has(&[
        "repository not found",
        "does not appear to be a git repository",
        "not a git repository",
        "repository not exported",
        "404",
        "could not be found or was not accessible",
        "no such file or directory",
        "not a valid repository",
    ]) {
        return SourceError::RepositoryNotFound { url };
    }
    if has(&[
        "permission denied",
        "authentication",
        "401",
        "403",
        "unauthorized",
        "forbidden",
        "credentials",
        "invalid username or password",
    ]) {
        return SourceError::Authentication { url };
    }
    if has(&[
        "resolve host",
        "resolve hostname",
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "temporary failure in name resolution",
        "connection refused",
        "network is unreachable",
        "no route to host",
        "connect to host",
        "error trying to connect",
        "tcp connect error",
        "connection reset",
        "certificate",
        "invalid peer",
    ]) {
        return SourceError::Unreachable { url, detail };
    }
    SourceError::Fetch { url, detail }
}
