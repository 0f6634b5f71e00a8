//! The Git source: a bare mirror per configured repository, the job files at a commit, and the
//! paths that changed between two commits. Never parses HCL.

mod files;

pub use files::{FileError, RepoFiles, join};
