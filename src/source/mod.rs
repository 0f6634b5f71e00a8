//! The Git source: a bare mirror per configured repository, the job files at a commit, and the
//! paths that changed between two commits. Never parses HCL, never checks out a working tree,
//! never writes a credential to disk or to a log.
//!
//! # Use
//! ```no_run
//! # use drover::source::{Mirror, RepoFiles};
//! # async fn sync(source: &drover::config::Source, shutdown: tokio_util::sync::CancellationToken)
//! # -> Result<(), drover::source::SourceError> {
//! let mirror = Mirror::open(source, std::path::Path::new("/var/lib/drover"))?;
//! let fetched = mirror.fetch_async(&shutdown).await?;
//! let snapshot = mirror.snapshot(fetched.commit)?; // job files: path, blob id, size
//! let changes = mirror.changes(fetched.previous, fetched.commit)?;
//! for path in &changes.modified {
//!     let _text = snapshot.read(path); // RepoFiles: links refused, size capped
//! }
//! # Ok(()) }
//! ```
//!
//! # Rules
//! - One bare mirror per source at `<state>/mirrors/<name>.git`, reused across restarts; a
//!   fetch brings only the followed branch or tag (`+` refspec: force-pushes are followed,
//!   logged with the old and new commit; a rejected ref update is an error).
//! - Every failure is an error and leaves the mirror's last good commit in place
//!   ([`Mirror::current`]); a failed fetch never yields an empty snapshot.
//! - HTTPS credentials come from the source's password secret through gix's credential
//!   callback, never from a URL or Git's helpers; `ca_file` adds a trust root. SSH runs the
//!   OpenSSH client in batch mode with strict host-key checking.
//! - Limits per source: `max_file_size`, `max_files`, `fetch_timeout`; past `max_packs`
//!   pack files the mirror is repacked with `git repack`.
//! - Fetches run on their own thread; [`Mirror::fetch_async`] is the async entry point.
//! - For a local repository, [`RefWatch`] reports ref changes as they happen.
//!
//! # Programs
//! gix needs `git` for `file://` and local paths (`git upload-pack`), `ssh` for SSH, and
//! drover needs `git` to repack. Their absence is [`SourceError::ProgramMissing`].

mod changes;
mod error;
mod files;
mod mirror;
pub mod packs;
mod remote;
mod select;
mod snapshot;
mod tls;
pub mod verify;
mod watch;

pub use changes::{Changes, Renamed};
pub use error::SourceError;
pub use files::{FileError, RepoFiles, join};
pub use gix::ObjectId as CommitId;
pub use mirror::{CommitSummary, Fetched, Mirror, commit_subject};
pub use select::{Listed, Selection};
pub use snapshot::{JobFile, Snapshot};
pub use watch::RefWatch;
