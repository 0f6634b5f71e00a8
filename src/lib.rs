//! drover keeps the jobs running in a Nomad cluster in step with a Git repository.
//!
//! # Layout
//! One module per pipeline stage (see `DESIGN.md` in the project's shared notes):
//! - [`config`]: the TOML file, defaults, `NOMAD_*` fallbacks, secrets.
//! - [`nomad`]: the HTTP client for Nomad's API.
//! - [`source`]: Git mirrors and the files of a repository at a commit.
//! - [`apply`]: plan and register with check-and-set, bounded concurrency.
//! - [`track`]: follow evaluations and deployments; promote, roll back.
//! - [`cli`]: the command line; `main.rs` only calls into it.
//! - [`demo`]: `drover demo`, the example jobs synced and followed.

pub mod apply;
pub mod cli;
pub mod config;
pub mod demo;
pub mod nomad;
pub mod source;
pub mod track;
