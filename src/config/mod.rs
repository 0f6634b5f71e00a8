//! Configuration: the TOML schema, its defaults, validation with line numbers, and the
//! `NOMAD_*` environment fallbacks. Never does network I/O.

mod cluster;
mod secret;

pub use cluster::{Cluster, Retry, Tls};
pub use secret::{Secret, SecretError};
