//! Configuration: the TOML schema, its defaults, validation with line numbers, the `NOMAD_*`
//! environment fallbacks, and where secrets come from. Never does network I/O and never reads a
//! secret's value while loading (see [`Config::verify_secrets`]).
//!
//! `jobs-example/drover.toml` is the annotated reference of every key; tests fail when it
//! drifts from the schema.
//!
//! # Rules
//! - Every table rejects unknown keys. Errors read `FILE:LINE:COL: `key`: message`; semantic
//!   errors found after parsing point at the key, or at its table when the key is missing.
//! - `[nomad]` is the cluster named `default`. Each of its keys that the file leaves out falls
//!   back to the variable the `nomad` CLI reads (`NOMAD_ADDR`, `NOMAD_REGION`,
//!   `NOMAD_NAMESPACE`, `NOMAD_CACERT`, `NOMAD_CAPATH`, `NOMAD_CLIENT_CERT`,
//!   `NOMAD_CLIENT_KEY`, `NOMAD_TLS_SERVER_NAME`, `NOMAD_SKIP_VERIFY`), then to the CLI's
//!   default. An empty variable counts as unset. `[clusters.NAME]` tables never read `NOMAD_*`,
//!   and their `address` is required.
//! - A token is never inline. Its source, first match wins: `token_file`; `token_credential`
//!   (a file in `$CREDENTIALS_DIRECTORY`, systemd's `LoadCredential=`); for the default cluster
//!   only, `NOMAD_TOKEN`, then the credential `nomad-token` if that file exists. Setting both
//!   `token_file` and `token_credential` is an error. The webhook secret likewise comes from
//!   `webhook_secret_file` or `webhook_secret_credential`, never both.
//! - Relative paths in the file (`token_file`, `ca_file`, `ca_path`, `client_cert`,
//!   `client_key`, `webhook_secret_file`, `tls_cert_file`, `tls_key_file`, `state.dir`, a
//!   local source `url`, a source's `password_file`, `ca_file`, `ssh_key_file`,
//!   `ssh_key_passphrase_file` and `known_hosts_file`) are relative to the config file's
//!   directory. Paths from `NOMAD_*` variables are taken as the CLI takes them (relative to
//!   the working directory). `paths`, `exclude` and `var_files` are relative
//!   to the repository root.

mod cluster;
mod env;
mod error;
mod git_access;
mod locate;
mod notify;
mod objects;
mod policy;
mod resolve;
mod schema;
mod secret;
mod settings;
mod source;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_env;
#[cfg(test)]
mod tests_example;
#[cfg(test)]
mod tests_git_access;
#[cfg(test)]
mod tests_notify;
#[cfg(test)]
mod tests_verify;
mod verify;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cluster::{Cluster, Retry, Tls};
pub use env::Env;
pub use error::{ConfigError, Location};
pub use git_access::{GitAccess, SourceLimits};
pub use notify::{
    CommitStatus, Destination, NotifyKind, Provider, RecoveredWord, Severity, Wanted,
    default_events,
};
pub use objects::Objects;
pub use policy::{Policy, RESOURCE_KEYS};
pub use secret::{Secret, SecretError};
pub use settings::{HaSettings, ServerSettings, ServerTls, StateSettings, SyncSettings};
pub use source::{PreserveCounts, RepoUrl, Revision, Source};
pub use verify::{Verify, VerifyMode};

use error::Report;
use locate::KeyPath;
use schema::RawConfig;

/// The name of the cluster configured by `[nomad]`, and a source's `cluster` by default.
pub const DEFAULT_CLUSTER: &str = "default";

/// The credential used as the default cluster's token when nothing else names one.
pub const DEFAULT_TOKEN_CREDENTIAL: &str = "nomad-token";

/// Largest config file accepted; a real one is a few kilobytes.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for reloads and messages).
    pub path: PathBuf,
    /// Every cluster by name, `default` included.
    pub clusters: BTreeMap<String, Arc<Cluster>>,
    /// In file order; each holds its resolved cluster.
    pub sources: Vec<Source>,
    pub server: ServerSettings,
    pub state: StateSettings,
    pub sync: SyncSettings,
    /// `[ha]`: `None` unless enabled (this instance then always leads).
    pub ha: Option<HaSettings>,
    /// The global `[policy]` (each source holds its own rules resolved over it).
    pub policy: Policy,
    /// `[[notify]]`: where deployment outcomes are told, in file order.
    pub notify: Vec<Destination>,
}

impl Config {
    /// Reads and validates `path`, taking `NOMAD_*` from the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with(path, &Env::from_process())
    }

    /// Reads and validates `path` with the given environment.
    pub fn load_with(path: &Path, env: &Env) -> Result<Self, ConfigError> {
        Self::parse(&read_text(path)?, path, env)
    }

    /// Validates the text of a config file; `path` names it in errors and anchors its
    /// relative paths.
    pub fn parse(text: &str, path: &Path, env: &Env) -> Result<Self, ConfigError> {
        let report = Report { text, path };
        let raw: RawConfig = toml::from_str(text).map_err(|e| report.toml(&e))?;
        let base = config_dir(path);
        let cx = Ctx {
            report,
            base: &base,
            env,
        };
        let clusters = resolve::clusters(&raw, &cx)?;
        let ha = settings::ha(&raw.ha, &clusters, &cx)?;
        let sources = policy::apply(&raw, source::sources(&raw.sources, &clusters, &cx)?, &cx)?;
        let notify = notify::destinations(&raw.notify, &cx)?;
        let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        notify::check_sources(&notify, &names, &cx)?;
        Ok(Self {
            path: path.to_owned(),
            sources,
            notify,
            clusters,
            server: settings::server(&raw.server, &cx)?,
            state: settings::state(&raw.state, &cx)?,
            sync: settings::sync(&raw.sync, &cx)?,
            ha,
            policy: policy::resolve(&raw.policy, None, &KeyPath::root("policy"), &cx)?,
        })
    }

    /// The cluster called `name` (`default` for `[nomad]`).
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.get(name).map(Arc::as_ref)
    }

    /// Reads every secret once, so that a missing or unreadable token file stops the daemon
    /// at start-up instead of at its first request. Not part of [`Config::parse`], because
    /// offline checks (`drover validate` in a CI job) run where the secrets do not exist.
    pub fn verify_secrets(&self) -> Result<(), ConfigError> {
        let tokens = self.clusters.values().filter_map(|c| {
            let what = format!("token of cluster `{}`", c.name);
            c.token.as_ref().map(|t| (what, t))
        });
        let webhook = self
            .server
            .webhook_secret
            .as_ref()
            .map(|s| ("webhook secret".to_owned(), s));
        let passwords = self.sources.iter().filter_map(|s| {
            let what = format!("Git password of source `{}`", s.name);
            s.access.password.as_ref().map(|p| (what, p))
        });
        let forge_tokens = self.sources.iter().filter_map(|s| {
            let what = format!("commit status token of source `{}`", s.name);
            s.commit_status.as_ref().map(|c| (what, &c.token))
        });
        let destinations = self.notify.iter().flat_map(|d| {
            let url = (format!("URL of [[notify]] `{}`", d.name), &d.url);
            let secret = d
                .secret
                .as_ref()
                .map(|s| (format!("secret of [[notify]] `{}`", d.name), s));
            std::iter::once(url).chain(secret)
        });
        let all = tokens
            .chain(webhook)
            .chain(passwords)
            .chain(forge_tokens)
            .chain(destinations);
        for (what, secret) in all {
            secret
                .read()
                .map_err(|source| ConfigError::Secret { what, source })?;
        }
        Ok(())
    }
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    // One byte over the limit is enough to know it is too large, without reading it all.
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            limit: MAX_CONFIG_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 {
        path: path.to_owned(),
    })
}

/// The directory relative paths in the file are anchored to, made absolute so that they keep
/// their meaning if the process later changes directory.
fn config_dir(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    absolute.parent().map(Path::to_owned).unwrap_or_default()
}

/// What resolving one table needs: where to report, where relative paths start, the env.
struct Ctx<'a> {
    report: Report<'a>,
    base: &'a Path,
    env: &'a Env,
}

impl Ctx<'_> {
    fn invalid(&self, key: &KeyPath, message: impl Into<String>) -> ConfigError {
        self.report.invalid(key, message)
    }

    /// `path` from the file, anchored to the config file's directory (`.` segments dropped).
    fn file_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_owned();
        }
        self.base.join(path).components().collect()
    }
}

/// Source and cluster names end up in job meta, metric labels and directory names.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(format!(
            "`{name}` must be at most 64 letters, digits, `-` or `_`, starting with a letter or digit"
        ));
    }
    Ok(())
}
