//! The daemon-wide tables: `[server]`, `[state]`, `[sync]` and `[ha]`, resolved and checked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
use super::cluster::Cluster;
use super::error::ConfigError;
use super::locate::KeyPath;
use super::resolve::credential;
use super::schema::{RawHa, RawServer, RawState, RawSync};
use super::secret::Secret;

/// `[server]`: the HTTP endpoint for `/healthz`, `/readyz`, `/status`, `/metrics`, `/webhook`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Shared secret of every forge's webhooks: the HMAC key of GitHub's and Gitea's
    /// signatures, GitLab's token. `None` disables `/webhook` (it answers 404).
    pub webhook_secret: Option<Secret>,
    /// Largest webhook body read, in bytes; a larger one is refused with 413.
    pub max_webhook_body: usize,
    /// How long a client may take to send a webhook body.
    pub request_timeout: Duration,
    /// Webhook deliveries handled at the same time; one more is answered 503 at once, so that
    /// a flood of deliveries cannot hold `max_webhook_body` bytes each without bound.
    pub max_concurrent_requests: usize,
    /// Serve HTTPS with this certificate and key; `None` serves plain HTTP.
    pub tls: Option<ServerTls>,
    /// Where people reach this endpoint (`public_url`), for links in notifications.
    pub public_url: Option<url::Url>,
    /// The token the web pages ask for, as a bearer token or a basic-auth password; `None`
    /// leaves them open. Health, status, metrics and webhook routes keep their own rules.
    pub ui_auth_token: Option<Secret>,
}

/// `tls_cert_file` and `tls_key_file`: PEM files read when the server starts.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Bounds of `max_webhook_body`: a push payload is a few KiB; GitHub caps payloads at 25 MB.
const WEBHOOK_BODY_RANGE: std::ops::RangeInclusive<u64> = 1024..=64 * 1024 * 1024;

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
    let key = KeyPath::root("server");
    let path = |name: &str, value: Option<&PathBuf>| match value {
        Some(p) if p.as_os_str().is_empty() => Err(cx.invalid(&key.key(name), "must not be empty")),
        Some(p) => Ok(Some(cx.file_path(p))),
        None => Ok(None),
    };
    let secret = |name: &str, file: Option<&PathBuf>, credential_name: Option<&String>| {
        let file_key = format!("{name}_file");
        let credential_key = key.key(&format!("{name}_credential"));
        match (path(&file_key, file)?, credential_name) {
            (Some(_), Some(_)) => {
                let message = format!("set {name}_file or {name}_credential, not both");
                Err(cx.invalid(&credential_key, message))
            }
            (Some(file), None) => Ok(Some(Secret::file(file))),
            (None, Some(credential_name)) => {
                credential(cx, &credential_key, credential_name, &file_key).map(Some)
            }
            (None, None) => Ok(None),
        }
    };
    let webhook_secret = secret(
        "webhook_secret",
        raw.webhook_secret_file.as_ref(),
        raw.webhook_secret_credential.as_ref(),
    )?;
    let ui_auth_token = secret(
        "ui_auth_token",
        raw.ui_auth_token_file.as_ref(),
        raw.ui_auth_token_credential.as_ref(),
    )?;
    if !WEBHOOK_BODY_RANGE.contains(&raw.max_webhook_body) {
        let message = format!(
            "must be between {} and {} bytes",
            WEBHOOK_BODY_RANGE.start(),
            WEBHOOK_BODY_RANGE.end()
        );
        return Err(cx.invalid(&key.key("max_webhook_body"), message));
    }
    if raw.request_timeout.is_zero() {
        return Err(cx.invalid(&key.key("request_timeout"), "must be greater than zero"));
    }
    if raw.max_concurrent_requests == 0 {
        return Err(cx.invalid(&key.key("max_concurrent_requests"), "must be at least 1"));
    }
    let cert = path("tls_cert_file", raw.tls_cert_file.as_ref())?;
    let tls = match (cert, path("tls_key_file", raw.tls_key_file.as_ref())?) {
        (Some(cert_file), Some(key_file)) => Some(ServerTls {
            cert_file,
            key_file,
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(cx.invalid(&key.key("tls_key_file"), "missing: tls_cert_file needs it"));
        }
        (None, Some(_)) => {
            return Err(cx.invalid(&key.key("tls_cert_file"), "missing: tls_key_file needs it"));
        }
    };
    Ok(ServerSettings {
        listen: raw.listen,
        webhook_secret,
        max_webhook_body: usize::try_from(raw.max_webhook_body).unwrap_or(usize::MAX),
        request_timeout: raw.request_timeout,
        max_concurrent_requests: raw.max_concurrent_requests,
        public_url: super::notify::public_url(raw.public_url.as_deref(), cx)?,
        ui_auth_token,
        tls,
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

/// `[ha]` when `enabled`: the lock that elects the one instance that applies.
#[derive(Debug, Clone)]
pub struct HaSettings {
    /// The variable holding the lock, e.g. `drover/leader`.
    pub lock_path: String,
    /// Where the variable lives; `None` for the cluster's namespace.
    pub namespace: Option<String>,
    /// The lease: renewed every 0.7 × TTL, retried by followers every 1.1 × TTL.
    pub ttl: Duration,
    /// The cluster whose Raft store decides.
    pub cluster: Arc<Cluster>,
}

/// Nomad's bounds of a lock TTL (docs/nomad-api.md).
const TTL_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(10)..=Duration::from_secs(24 * 60 * 60);

/// Checked even when disabled, so that turning HA on never reveals an old mistake.
pub(super) fn ha(
    raw: &RawHa,
    clusters: &BTreeMap<String, Arc<Cluster>>,
    cx: &Ctx,
) -> Result<Option<HaSettings>, ConfigError> {
    let key = KeyPath::root("ha");
    if !TTL_RANGE.contains(&raw.ttl) {
        return Err(cx.invalid(
            &key.key("ttl"),
            "must be between 10s and 24h (Nomad's bounds)",
        ));
    }
    let path = raw.lock_path.trim_matches('/');
    if path.is_empty() {
        return Err(cx.invalid(&key.key("lock_path"), "must not be empty"));
    }
    if raw.namespace.as_deref() == Some("") {
        return Err(cx.invalid(&key.key("namespace"), "must not be empty"));
    }
    let Some(cluster) = clusters.get(&raw.cluster) else {
        let message = format!("no cluster named `{}`", raw.cluster);
        return Err(cx.invalid(&key.key("cluster"), message));
    };
    Ok(raw.enabled.then(|| HaSettings {
        lock_path: path.to_owned(),
        namespace: raw.namespace.clone(),
        ttl: raw.ttl,
        cluster: cluster.clone(),
    }))
}
