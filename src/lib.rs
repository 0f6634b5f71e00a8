//! drover keeps the jobs running in a Nomad cluster in step with a Git repository.
//!
//! # Layout
//! One module per pipeline stage (see `docs/architecture.md`):
//! - [`config`]: the TOML file, defaults, `NOMAD_*` fallbacks, secrets.
//! - [`nomad`]: the HTTP client for Nomad's API.
//! - [`source`]: Git mirrors and the files of a repository at a commit.
//! - [`render`]: one job file at a commit → the exact job Nomad should run.
//! - [`kinds`]: namespaces, node pools, ACL policies and roles, variables: their files, offline
//!   checks, write bodies and comparison with Nomad (pure).
//! - [`policy`]: the config's rules checked on a rendered job (pure).
//! - [`reconcile`]: desired jobs + live jobs + state → actions with reasons (pure).
//! - [`apply`]: plan and register with check-and-set, bounded concurrency.
//! - [`follow`]: the deployment follower of each cluster: evaluations and deployments
//!   watched apart from the passes; promote, roll back, known-bad, resume after a restart.
//! - [`events`]: every outcome as an event; the bounded per-job history; subscriptions.
//! - [`state`]: what was applied and how it ended; `state.json`, written atomically.
//! - [`status`]: the daemon's view of its sources and jobs, and the health rules.
//! - [`trigger`]: why a source's loop should pass now.
//! - [`serve`]: the HTTP endpoint (`/healthz`, `/readyz`, `/status`, `/metrics`, `/webhook`)
//!   and `drover status`, its client.
//! - [`metrics`]: the Prometheus metrics the daemon records and `/metrics` shows.
//! - [`notifier`]: commit statuses on forges and messages to chat and webhooks, from events.
//! - [`sync`]: one pass over one source, stage by stage.
//! - [`leader`]: high availability: the leader election over a Nomad variable lock, the fence.
//! - [`daemon`]: `drover run`: the source loops, reloads, signals, shutdown.
//! - [`systemd`]: systemd's notification socket: READY, RELOADING, STOPPING, STATUS, WATCHDOG.
//! - [`cli`]: the command line; `main.rs` only calls into it.
//! - [`diff`]: `drover diff`, what a pass would change, printed like `nomad job plan`.
//! - [`validate`]: `drover validate`, offline checks of job files for CI.
//! - [`demo`]: `drover demo`, the example jobs synced and followed.

pub mod apply;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod diff;
pub mod events;
pub mod follow;
pub mod kinds;
pub mod leader;
pub mod metrics;
pub mod nomad;
pub mod notifier;
pub mod policy;
pub mod reconcile;
pub mod render;
pub mod selfdoc;
pub mod serve;
pub mod source;
pub mod state;
pub mod status;
pub mod sync;
pub mod systemd;
pub mod trigger;
pub mod validate;
pub mod web;
