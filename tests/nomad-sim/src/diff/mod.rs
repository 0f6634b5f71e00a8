//! The plan's view of a job change: the desired updates per group and the annotated JobDiff.
//!
//! Owns: pure functions over server jobs (`canonical::server_job` output). Never: state,
//! allocations or deployments; a plan here assumes every existing allocation runs the old job.

mod job;
mod model;
mod nested;
#[cfg(test)]
mod tests;
mod updates;

pub use job::job_diff;
pub(crate) use model::object;
pub use updates::{GroupChange, desired_updates, group_change};
