//! A Nomad cluster's connection settings after defaults, `NOMAD_*` fallbacks and secret sources
//! have been applied: what the `nomad` client needs to connect, and nothing else.

use std::path::PathBuf;
use std::time::Duration;

use super::secret::Secret;

/// Everything needed to talk to one Nomad cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Name used in logs and by `[[source]] cluster = ...` (`default` for `[nomad]`).
    pub name: String,
    /// Base URL of the HTTP API, e.g. `https://127.0.0.1:4646`, or `unix:///path/api.sock` for
    /// the Task API socket Nomad gives a task (see [`Cluster::unix_socket`]).
    pub address: url::Url,
    /// ACL token sent as `X-Nomad-Token`; re-read on every request so a rotated file takes effect.
    pub token: Option<Secret>,
    /// Added as `?region=` to every request when set.
    pub region: Option<String>,
    /// Added as `?namespace=` to every request that does not name its own.
    pub namespace: Option<String>,
    pub tls: Tls,
    /// Upper bound on one request (a blocking query adds its wait on top).
    pub request_timeout: Duration,
    /// Upper bound on establishing a connection.
    pub connect_timeout: Duration,
    pub retry: Retry,
    /// Largest successful response body read; a longer one is a decode error, so that a wrong
    /// address or a proxy streaming without end cannot exhaust the daemon's memory.
    pub max_response_bytes: usize,
    /// How long each blocking query drover sends (evaluation and deployment watches) waits
    /// for a change; at most Nomad's own cap of 5 minutes.
    pub blocking_wait: Duration,
    /// Nomad's web UI (`ui_url`), for links from drover's pages to a job; never called.
    pub ui_url: Option<url::Url>,
}

impl Cluster {
    /// The socket to connect to when the address is `unix:///path`: Nomad's Task API, plain
    /// HTTP on a socket in the task's secrets directory.
    pub fn unix_socket(&self) -> Option<PathBuf> {
        if self.address.scheme() != UNIX_SCHEME {
            return None;
        }
        self.address.to_file_path().ok()
    }
}

/// The scheme of a Task API socket address, as Nomad's own API client spells it.
pub(super) const UNIX_SCHEME: &str = "unix";

/// TLS settings, mirroring the `nomad` CLI's `-ca-cert`, `-ca-path`, `-client-cert`, ...
#[derive(Debug, Clone, Default)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Name to verify the server certificate against instead of the address's host
    /// (Nomad's certificates usually carry `server.<region>.nomad`).
    pub server_name: Option<String>,
    pub skip_verify: bool,
}

/// Retries of transient failures: exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Attempts after the first one.
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}
