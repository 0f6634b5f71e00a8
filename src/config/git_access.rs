//! The Git side of a `[[source]]`: credentials, trust, host keys and the limits of one
//! repository. Checks that each key fits the URL's transport (a password only over HTTPS, an
//! SSH key only over SSH); locates secrets, never reads them.

use std::path::PathBuf;
use std::time::Duration;

use super::Ctx;
use super::error::ConfigError;
use super::locate::KeyPath;
use super::resolve::credential;
use super::schema::RawSource;
use super::secret::Secret;
use super::source::RepoUrl;

/// How drover authenticates to the Git server and checks who the server is.
#[derive(Debug, Clone, Default)]
pub struct GitAccess {
    /// HTTPS user name sent with the password; `None` sends `git` (GitHub and GitLab accept
    /// any name with an access token; Gitea wants the account's name).
    pub username: Option<String>,
    /// HTTPS password or access token (HTTP Basic), from `password_file` or
    /// `password_credential`.
    pub password: Option<Secret>,
    /// A private CA trusted for the HTTPS server, on top of the system roots.
    pub ca_file: Option<PathBuf>,
    pub ssh_key_file: Option<PathBuf>,
    /// The file holding the passphrase of `ssh_key_file`; handed to OpenSSH, never read here.
    pub ssh_key_passphrase_file: Option<PathBuf>,
    /// `None`: OpenSSH's default, the service user's `~/.ssh/known_hosts`.
    pub known_hosts_file: Option<PathBuf>,
    pub insecure_skip_host_key_check: bool,
}

/// What one repository may cost drover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLimits {
    /// Largest file read from the repository, in bytes.
    pub max_file_size: u64,
    /// Most job files `paths` may match.
    pub max_files: usize,
    pub fetch_timeout: Duration,
    /// Pack files in the mirror past which it is repacked into one.
    pub max_packs: usize,
}

/// The transport a URL uses, as far as credentials are concerned.
#[derive(PartialEq)]
enum Transport {
    Https,
    PlainHttp,
    Ssh,
    Other,
}

fn transport(url: &RepoUrl) -> Transport {
    match url {
        RepoUrl::Url(u) if u.scheme() == "https" => Transport::Https,
        RepoUrl::Url(u) if u.scheme() == "http" => Transport::PlainHttp,
        RepoUrl::Url(u) if u.scheme() == "ssh" => Transport::Ssh,
        RepoUrl::Scp(_) => Transport::Ssh,
        _ => Transport::Other,
    }
}

pub(super) fn access(
    raw: &RawSource,
    url: &RepoUrl,
    key: &KeyPath,
    cx: &Ctx,
) -> Result<GitAccess, ConfigError> {
    let fail = |field: &str, message: String| cx.invalid(&key.key(field), message);
    let path = |field: &str, value: &Option<PathBuf>| -> Result<Option<PathBuf>, ConfigError> {
        match value {
            Some(p) if p.as_os_str().is_empty() => Err(fail(field, "must not be empty".into())),
            Some(p) => Ok(Some(cx.file_path(p))),
            None => Ok(None),
        }
    };
    let password = match (&raw.password_file, &raw.password_credential) {
        (Some(_), Some(_)) => {
            let message = "set password_file or password_credential, not both".to_owned();
            return Err(fail("password_credential", message));
        }
        (Some(_), None) => path("password_file", &raw.password_file)?.map(Secret::file),
        (None, Some(name)) => Some(credential(
            cx,
            &key.key("password_credential"),
            name,
            "password_file",
        )?),
        (None, None) => None,
    };
    let kind = transport(url);
    let password_field = match raw.password_file {
        Some(_) => "password_file",
        None => "password_credential",
    };
    if password.is_some() && kind == Transport::PlainHttp {
        let message = "credentials are never sent over plain http://: use an https:// URL";
        return Err(fail(password_field, message.to_owned()));
    }
    if password.is_some() && kind != Transport::Https {
        let message = "only https:// URLs take a password; ssh uses ssh_key_file";
        return Err(fail(password_field, message.to_owned()));
    }
    if raw.username.as_ref().is_some_and(|u| u.trim().is_empty()) {
        return Err(fail("username", "must not be empty".to_owned()));
    }
    if raw.ca_file.is_some() && kind != Transport::Https {
        return Err(fail("ca_file", "only applies to https:// URLs".to_owned()));
    }
    let ssh_keys = [
        ("ssh_key_file", raw.ssh_key_file.is_some()),
        (
            "ssh_key_passphrase_file",
            raw.ssh_key_passphrase_file.is_some(),
        ),
        ("known_hosts_file", raw.known_hosts_file.is_some()),
        (
            "insecure_skip_host_key_check",
            raw.insecure_skip_host_key_check,
        ),
    ];
    let ssh_key = ssh_keys.iter().find(|(_, set)| *set);
    if let Some((field, _)) = ssh_key.filter(|_| kind != Transport::Ssh) {
        let message = "only applies to ssh:// and scp-like host:path URLs".to_owned();
        return Err(fail(field, message));
    }
    if raw.ssh_key_passphrase_file.is_some() && raw.ssh_key_file.is_none() {
        let message = "needs ssh_key_file, the key it unlocks".to_owned();
        return Err(fail("ssh_key_passphrase_file", message));
    }
    Ok(GitAccess {
        username: raw.username.clone(),
        password,
        ca_file: path("ca_file", &raw.ca_file)?,
        ssh_key_file: path("ssh_key_file", &raw.ssh_key_file)?,
        ssh_key_passphrase_file: path("ssh_key_passphrase_file", &raw.ssh_key_passphrase_file)?,
        known_hosts_file: path("known_hosts_file", &raw.known_hosts_file)?,
        insecure_skip_host_key_check: raw.insecure_skip_host_key_check,
    })
}

pub(super) fn limits(
    raw: &RawSource,
    key: &KeyPath,
    cx: &Ctx,
) -> Result<SourceLimits, ConfigError> {
    let fail = |field: &str, message: &str| cx.invalid(&key.key(field), message);
    if raw.max_file_size == 0 {
        return Err(fail("max_file_size", "must be at least 1 byte"));
    }
    if raw.max_files == 0 {
        return Err(fail("max_files", "must be at least 1"));
    }
    if raw.fetch_timeout < Duration::from_secs(1) {
        return Err(fail("fetch_timeout", "must be at least 1s"));
    }
    if raw.max_packs < 2 {
        return Err(fail("max_packs", "must be at least 2"));
    }
    Ok(SourceLimits {
        max_file_size: raw.max_file_size,
        max_files: raw.max_files,
        fetch_timeout: raw.fetch_timeout,
        max_packs: raw.max_packs,
    })
}
