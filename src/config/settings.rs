//! The daemon-wide tables: `[server]`, `[state]` and `[sync]`, resolved and checked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Ctx;
use super::error::ConfigError;
use super::locate::KeyPath;
use super::schema::{RawServer, RawState, RawSync};
use super::secret::Secret;

/// `[server]`: the HTTP endpoint for `/healthz`, `/readyz`, `/status`, `/metrics`, `/webhook`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Shared secret that webhook deliveries are signed with; `None` disables `/webhook`.
    pub webhook_secret: Option<Secret>,
}

/// `[state]`: where the bare mirrors and the record of applied jobs live.
#[derive(Debug, Clone)]
pub struct StateSettings {
    pub dir: PathBuf,
}

/// `[sync]`: knobs shared by every source's loop.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Jobs planned, registered or tracked at the same time, across all sources.
    pub max_parallel: usize,
    /// How often every managed job is re-planned to find changes made outside Git.
    pub drift_interval: Duration,
    /// On SIGTERM, how long in-flight work may take before it is abandoned; keep it below
    /// systemd's `TimeoutStopSec`.
    pub shutdown_timeout: Duration,
}

pub(super) fn server(raw: &RawServer, cx: &Ctx) -> Result<ServerSettings, ConfigError> {
    let webhook_secret = match &raw.webhook_secret_file {
        Some(path) if path.as_os_str().is_empty() => {
            let key = KeyPath::root("server").key("webhook_secret_file");
            return Err(cx.invalid(
                &key,
                "must not be empty; remove the key to disable /webhook",
            ));
        }
        Some(path) => Some(Secret::file(cx.file_path(path))),
        None => None,
    };
    Ok(ServerSettings {
        listen: raw.listen,
        webhook_secret,
    })
}

pub(super) fn state(raw: &RawState, cx: &Ctx) -> Result<StateSettings, ConfigError> {
    if raw.dir.as_os_str().is_empty() {
        return Err(cx.invalid(&KeyPath::root("state").key("dir"), "must not be empty"));
    }
    Ok(StateSettings {
        dir: cx.file_path(&raw.dir),
    })
}

pub(super) fn sync(raw: &RawSync, cx: &Ctx) -> Result<SyncSettings, ConfigError> {
    let key = KeyPath::root("sync");
    if raw.max_parallel == 0 {
        return Err(cx.invalid(&key.key("max_parallel"), "must be at least 1"));
    }
    if raw.drift_interval < Duration::from_secs(1) {
        return Err(cx.invalid(&key.key("drift_interval"), "must be at least 1s"));
    }
    if raw.shutdown_timeout.is_zero() {
        return Err(cx.invalid(&key.key("shutdown_timeout"), "must be greater than zero"));
    }
    Ok(SyncSettings {
        max_parallel: raw.max_parallel,
        drift_interval: raw.drift_interval,
        shutdown_timeout: raw.shutdown_timeout,
    })
}
