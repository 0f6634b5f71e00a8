//! The file's shape: serde structs that mirror the TOML tables one to one, every table with
//! `deny_unknown_fields`, and every default in one place. Deserializing is all that happens
//! here; what values mean (paths, URLs, references between tables) is checked in `resolve`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::notify::{RawCommitStatus, RawNotify};
use super::policy::RawPolicy;
use super::source::PreserveCounts;
use super::verify::RawVerify;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawConfig {
    /// The default cluster, named `default`.
    pub nomad: RawCluster,
    pub clusters: BTreeMap<String, RawCluster>,
    #[serde(rename = "source")]
    pub sources: Vec<RawSource>,
    pub server: RawServer,
    pub state: RawState,
    pub sync: RawSync,
    pub ha: RawHa,
    /// Rules for every source's jobs; a `[source.policy]` table overrides them key by key.
    pub policy: RawPolicy,
    /// Where deployment outcomes are told.
    pub notify: Vec<RawNotify>,
}

/// `[nomad]` and `[clusters.NAME]`. Options left unset fall back to `NOMAD_*` (default cluster
/// only) and then to the `nomad` CLI's defaults.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawCluster {
    pub address: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_credential: Option<String>,
    pub region: Option<String>,
    pub namespace: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub skip_verify: Option<bool>,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    pub max_retries: usize,
    #[serde(with = "humantime_serde")]
    pub retry_min_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max_delay: Duration,
    pub max_response_bytes: u64,
    #[serde(with = "humantime_serde")]
    pub blocking_wait: Duration,
    /// Nomad's web UI, for links from drover's pages.
    pub ui_url: Option<String>,
}

impl Default for RawCluster {
    fn default() -> Self {
        Self {
            address: None,
            token_file: None,
            token_credential: None,
            region: None,
            namespace: None,
            ca_file: None,
            ca_path: None,
            client_cert: None,
            client_key: None,
            tls_server_name: None,
            skip_verify: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 4,
            retry_min_delay: Duration::from_millis(250),
            retry_max_delay: Duration::from_secs(10),
            // Room for ten thousand jobs listed with their meta (about 1 KiB each).
            max_response_bytes: 16 * 1024 * 1024,
            blocking_wait: Duration::from_secs(30),
            ui_url: None,
        }
    }
}

/// One `[[source]]`: a repository, the revision to follow and how its jobs are applied.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub name: String,
    pub url: String,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default = "default_cluster")]
    pub cluster: String,
    pub namespace: Option<String>,
    /// Overrides of the job files' `region` and `datacenters`.
    pub region: Option<String>,
    pub datacenters: Option<Vec<String>>,
    /// This source's policy keys, over the global `[policy]`.
    pub policy: Option<RawPolicy>,
    #[serde(default)]
    pub var_files: Vec<String>,
    /// Globs of the files of each kind of cluster object besides jobs.
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub node_pools: Vec<String>,
    #[serde(default)]
    pub acl_policies: Vec<String>,
    #[serde(default)]
    pub acl_roles: Vec<String>,
    #[serde(default)]
    pub nomad_variables: Vec<String>,
    /// Globs of SOPS files (encrypted with age) that become Nomad variables.
    #[serde(default)]
    pub encrypted_variables: Vec<String>,
    /// The age identity that decrypts them: a file, or a systemd credential.
    pub age_identity_file: Option<PathBuf>,
    pub age_identity_credential: Option<String>,
    /// Take over objects of the same name that drover did not create.
    #[serde(default)]
    pub adopt: bool,
    /// The kinds of cluster object pruned when their file leaves Git.
    #[serde(default)]
    pub prune_kinds: Vec<String>,
    /// Any TOML value: strings, numbers, booleans, arrays and tables, nested.
    #[serde(default)]
    pub variables: BTreeMap<String, toml::Value>,
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll: Duration,
    #[serde(default)]
    pub prune: bool,
    #[serde(default = "default_max_prune_fraction")]
    pub max_prune_fraction: f64,
    #[serde(default)]
    pub self_heal: bool,
    #[serde(default)]
    pub preserve_counts: PreserveCounts,
    #[serde(default)]
    pub auto_promote: bool,
    #[serde(default = "default_rollback_on_failure")]
    pub rollback_on_failure: bool,
    /// The forge told of each deployed commit's outcome.
    pub commit_status: Option<RawCommitStatus>,
    /// The signatures a commit or tag needs before it is deployed.
    pub verify: Option<RawVerify>,
    /// A commit's page on the forge, `{commit}` standing for its full ID.
    pub commit_url: Option<String>,
    // Git access: HTTPS credentials, a private CA, SSH keys and host keys.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_credential: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub ssh_key_file: Option<PathBuf>,
    pub ssh_key_passphrase_file: Option<PathBuf>,
    pub known_hosts_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_host_key_check: bool,
    // Limits of what one repository may cost.
    #[serde(default = "default_max_file_size")]
    pub max_file_size: u64,
    #[serde(default = "default_max_files")]
    pub max_files: usize,
    #[serde(default = "default_fetch_timeout", with = "humantime_serde")]
    pub fetch_timeout: Duration,
    #[serde(default = "default_max_packs")]
    pub max_packs: usize,
}

/// The branch followed when a source names no branch, tag or commit.
pub(super) const DEFAULT_BRANCH: &str = "main";

/// Nomad's two conventional job file extensions, anywhere in the repository.
fn default_paths() -> Vec<String> {
    vec!["**/*.nomad.hcl".to_owned(), "**/*.nomad".to_owned()]
}

fn default_cluster() -> String {
    super::DEFAULT_CLUSTER.to_owned()
}

fn default_poll() -> Duration {
    Duration::from_secs(60)
}

fn default_max_prune_fraction() -> f64 {
    0.5
}

fn default_rollback_on_failure() -> bool {
    true
}

/// A job file is a few kilobytes; a megabyte is a mistake (a binary, a generated dump).
fn default_max_file_size() -> u64 {
    1024 * 1024
}

fn default_max_files() -> usize {
    10_000
}

fn default_fetch_timeout() -> Duration {
    Duration::from_secs(120)
}

/// Each fetch adds a pack; past this many the mirror is repacked into one.
fn default_max_packs() -> usize {
    16
}

/// `[server]`: the HTTP endpoint for health, status, metrics and webhooks.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawServer {
    pub listen: SocketAddr,
    pub webhook_secret_file: Option<PathBuf>,
    pub webhook_secret_credential: Option<String>,
    /// Largest webhook body read; GitHub caps its payloads at 25 MB, a push is a few KiB.
    pub max_webhook_body: u64,
    /// How long a client may take to send a webhook body.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Webhook deliveries handled at once.
    pub max_concurrent_requests: usize,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Where people reach this endpoint, for links in notifications and commit statuses.
    pub public_url: Option<String>,
    /// The token the web pages ask for (bearer or basic auth); unset, they are open.
    pub ui_auth_token_file: Option<PathBuf>,
    pub ui_auth_token_credential: Option<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9315)),
            webhook_secret_file: None,
            webhook_secret_credential: None,
            max_webhook_body: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 16,
            tls_cert_file: None,
            tls_key_file: None,
            public_url: None,
            ui_auth_token_file: None,
            ui_auth_token_credential: None,
        }
    }
}

/// `[state]`: where mirrors and the record of applied jobs live.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawState {
    pub dir: PathBuf,
}

impl Default for RawState {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/drover"),
        }
    }
}

/// `[sync]`: daemon-wide knobs of the sync loops.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawSync {
    pub max_parallel: usize,
    #[serde(with = "humantime_serde")]
    pub drift_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for RawSync {
    fn default() -> Self {
        Self {
            max_parallel: 4,
            drift_interval: Duration::from_secs(5 * 60),
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// `[ha]`: several instances, one leader, elected through a Nomad variable lock.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawHa {
    pub enabled: bool,
    pub lock_path: String,
    /// The cluster's namespace when unset.
    pub namespace: Option<String>,
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    pub cluster: String,
}

impl Default for RawHa {
    fn default() -> Self {
        Self {
            enabled: false,
            lock_path: "drover/leader".to_owned(),
            namespace: None,
            ttl: Duration::from_secs(15),
            cluster: default_cluster(),
        }
    }
}
