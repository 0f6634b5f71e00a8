//! One fetch over the wire: the refspecs for the followed revision, credentials handed to gix
//! (never written into the mirror's config), the private CA and timeout for HTTPS, and the
//! OpenSSH command line with its host-key policy. Owns the mapping of transport failures to
//! [`SourceError`]; never decides which commit is current.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gix::credentials::helper::{Action, NextAction};
use gix::credentials::protocol::Outcome as Identity;
use gix::protocol::transport::client::blocking_io::http;
use gix::protocol::transport::client::git as git_protocol;
use gix::remote::Direction;
use gix::remote::fetch::Outcome;

use super::error::{SourceError, chain, classify};
use super::mirror::Settings;
use crate::config::{RepoUrl, Revision};

/// The user name sent with a password when the config names none.
const DEFAULT_USERNAME: &str = "git";

/// Fetches the refs of `settings.revision` into `repo`, stopping when `stop` is set.
pub(super) fn receive(
    settings: &Settings,
    repo: &mut gix::Repository,
    stop: &AtomicBool,
) -> Result<Outcome, SourceError> {
    let transport = Transport::of(&settings.url);
    require_programs(transport)?;
    if transport == Transport::Ssh {
        configure_ssh(settings, repo)?;
    }
    let fail = |err: gix::Error| failure(settings, &err);
    let remote = repo
        .remote_at(settings.gix_url.as_str())
        .map_err(fail)?
        .with_refspecs(
            refspecs(&settings.revision).iter().map(String::as_str),
            Direction::Fetch,
        )
        .map_err(fail)?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    if transport == Transport::Daemon {
        let stream = daemon_stream(settings)?;
        return finish(settings, remote.to_connection_with_transport(stream), stop);
    }
    let mut connection = remote.connect(Direction::Fetch).map_err(fail)?;
    if transport == Transport::Https {
        connection.set_transport_options(http_options(settings)?);
    }
    finish(settings, connection, stop)
}

fn finish<T: gix::protocol::transport::client::blocking_io::Transport>(
    settings: &Settings,
    connection: gix::remote::Connection<'_, '_, '_, T>,
    stop: &AtomicBool,
) -> Result<Outcome, SourceError> {
    let fail = |err: gix::Error| failure(settings, &err);
    let connection = connection.with_credentials(credentials(settings)?);
    let prepared = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(fail)?;
    prepared.receive(gix::progress::Discard, stop).map_err(fail)
}

/// `git://` over a socket with Nagle's algorithm off: gix writes the protocol in small
/// pieces, and with Nagle on each exchange waits for a delayed ACK (about 40 ms).
fn daemon_stream(
    settings: &Settings,
) -> Result<git_protocol::blocking_io::Connection<TcpStream, TcpStream>, SourceError> {
    let url = settings.url.to_string();
    let unreachable = |detail: String| SourceError::Unreachable {
        url: url.clone(),
        detail,
    };
    let RepoUrl::Url(parsed) = &settings.url else {
        return Err(unreachable("not a git:// URL".to_owned()));
    };
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port();
    let address = (host.as_str(), port.unwrap_or(9418))
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve host {host}: {e}")))?
        .next()
        .ok_or_else(|| unreachable(format!("cannot resolve host {host}")))?;
    let timeout = settings.limits.fetch_timeout.min(Duration::from_secs(30));
    let read = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| unreachable(format!("cannot connect to {address}: {e}")))?;
    let write = read
        .set_nodelay(true)
        .and_then(|()| read.try_clone())
        .map_err(|e| unreachable(format!("connection to {address}: {e}")))?;
    Ok(git_protocol::blocking_io::Connection::new(
        read,
        write,
        gix::protocol::transport::Protocol::V2,
        parsed.path(),
        Some((host, port)),
        git_protocol::ConnectMode::Daemon,
        false,
    ))
}

/// The local ref each revision lands in: one branch or tag only, so a fetch never downloads
/// what the source does not follow. `+` accepts force-pushes (checked by the caller).
pub(super) fn refspecs(revision: &Revision) -> Vec<String> {
    match revision {
        Revision::Branch(b) => vec![format!("+refs/heads/{b}:refs/remotes/origin/{b}")],
        Revision::Tag(t) => vec![format!("+refs/tags/{t}:refs/tags/{t}")],
        // A pinned commit may be on any branch or tag.
        Revision::Commit(_) => vec![
            "+refs/heads/*:refs/remotes/origin/*".to_owned(),
            "+refs/tags/*:refs/tags/*".to_owned(),
        ],
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Https,
    Ssh,
    /// `git://`: drover opens the socket itself (see [`daemon_stream`]).
    Daemon,
    /// `file://` and local paths: gix runs `git-upload-pack`.
    Local,
    Other,
}

impl Transport {
    fn of(url: &RepoUrl) -> Self {
        match url {
            RepoUrl::Url(u) => match u.scheme() {
                "https" => Self::Https,
                "ssh" => Self::Ssh,
                "file" => Self::Local,
                "git" => Self::Daemon,
                _ => Self::Other,
            },
            RepoUrl::Scp(_) => Self::Ssh,
            RepoUrl::Local(_) => Self::Local,
        }
    }
}

fn require_programs(transport: Transport) -> Result<(), SourceError> {
    match transport {
        Transport::Local if find_program("git").is_none() => Err(SourceError::ProgramMissing {
            program: "git",
            why: "file:// and local repositories are read through `git upload-pack`",
        }),
        Transport::Ssh if find_program("ssh").is_none() => Err(SourceError::ProgramMissing {
            program: "ssh",
            why: "ssh:// and host:path URLs need the OpenSSH client (package openssh-client)",
        }),
        _ => Ok(()),
    }
}

/// The first executable called `name` on `PATH`.
pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Turns gix's error into the variant an operator acts on, adding what `ssh` printed.
fn failure(settings: &Settings, err: &gix::Error) -> SourceError {
    let mut detail = chain(err);
    if let Ok(stderr) = std::fs::read_to_string(&settings.ssh_log) {
        let stderr = stderr.trim();
        if !stderr.is_empty() {
            detail = format!("{detail}: ssh: {stderr}");
        }
    }
    let url = settings.url.to_string();
    match classify(&url, detail) {
        SourceError::RevisionNotFound { url, what: _, .. } => match &settings.revision {
            Revision::Tag(t) => SourceError::RevisionNotFound {
                url,
                what: "tag",
                name: t.clone(),
            },
            Revision::Branch(b) => SourceError::RevisionNotFound {
                url,
                what: "branch",
                name: b.clone(),
            },
            Revision::Commit(c) => SourceError::CommitNotFound {
                url,
                commit: c.clone(),
            },
        },
        other => other,
    }
}

/// Answers gix's request for credentials (made after the server's 401) from the source's
/// password secret. Never falls back to Git's credential helpers or a prompt.
fn credentials(
    settings: &Settings,
) -> Result<impl FnMut(Action) -> gix::Result<Option<Identity>> + 'static, SourceError> {
    // Read before connecting, so that an unreadable password file is reported as such rather
    // than as whatever the server answers without it. The error names the file, not its content.
    let password = match &settings.access.password {
        Some(secret) => Some(secret.read().map_err(|e| SourceError::Credentials {
            url: settings.url.to_string(),
            detail: format!("password: {e}"),
        })?),
        None => None,
    };
    let username = settings.access.username.clone();
    Ok(move |action| {
        let Action::Get(context) = action else {
            return Ok(None);
        };
        let Some(password) = &password else {
            return Err(gix::error::message(
                "the server requires authentication and this source has no password_file",
            )
            .into());
        };
        let username = username
            .clone()
            .or_else(|| context.username.clone())
            .unwrap_or_else(|| DEFAULT_USERNAME.to_owned());
        Ok(Some(Identity {
            identity: gix::sec::identity::Account {
                username,
                password: password.clone(),
                oauth_refresh_token: None,
            },
            next: NextAction::from(context),
        }))
    })
}

/// HTTPS: drover's trust roots (system plus `ca_file`) and an overall request timeout, set
/// through the reqwest backend, which ignores `http.sslCAInfo`.
fn http_options(settings: &Settings) -> Result<Box<dyn std::any::Any>, SourceError> {
    let tls = super::tls::client_config(settings.access.ca_file.as_deref()).map_err(|detail| {
        SourceError::Credentials {
            url: settings.url.to_string(),
            detail,
        }
    })?;
    let timeout = settings.limits.fetch_timeout;
    let configure = move |builder: reqwest::blocking::ClientBuilder| {
        Ok(builder
            .tls_backend_preconfigured(tls.clone())
            .timeout(timeout))
    };
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(configure)),
        configure_request: None,
    };
    let options = http::Options {
        connect_timeout: Some(timeout),
        backend: Some(Arc::new(Mutex::new(backend))),
        ..Default::default()
    };
    Ok(Box::new(options))
}

/// Puts the OpenSSH command line in the repository's in-memory config (never on disk).
fn configure_ssh(settings: &Settings, repo: &mut gix::Repository) -> Result<(), SourceError> {
    let command = ssh_command(settings)?;
    let mut config = repo.config_snapshot_mut();
    let set = config
        .set_value(&gix::config::tree::Core::SSH_COMMAND, command.as_str())
        .and_then(|_| config.set_value(&gix::config::tree::Ssh::VARIANT, "ssh"));
    let committed = set.and_then(|_| config.commit().map(|_| ()));
    committed.map_err(|e| SourceError::Mirror {
        path: settings.dir.display().to_string(),
        detail: format!("cannot configure ssh: {}", chain(&e)),
    })
}

/// `ssh` in batch mode with strict host-key checking; its stderr goes to a file read back on
/// failure, because gix only recognises a few of OpenSSH's messages (not host-key failures).
fn ssh_command(settings: &Settings) -> Result<String, SourceError> {
    let access = &settings.access;
    let timeout = settings.limits.fetch_timeout.as_secs().max(1);
    let mut parts: Vec<String> = Vec::new();
    if let Some(passphrase) = &access.ssh_key_passphrase_file {
        // BatchMode forbids asking for a passphrase even through SSH_ASKPASS, so password
        // prompts are switched off one by one instead and the passphrase comes from a helper
        // script that only names the passphrase file.
        let askpass = write_askpass(&settings.askpass, passphrase)?;
        parts.push(format!("SSH_ASKPASS={}", quote(&askpass)));
        parts.push("SSH_ASKPASS_REQUIRE=force DISPLAY=none ssh".to_owned());
        parts.push("-o PasswordAuthentication=no -o KbdInteractiveAuthentication=no".to_owned());
        parts.push("-o PreferredAuthentications=publickey -o NumberOfPasswordPrompts=1".to_owned());
    } else {
        parts.push("ssh -o BatchMode=yes".to_owned());
    }
    parts.push(format!(
        "-o ConnectTimeout={timeout} -o ServerAliveInterval=15"
    ));
    if access.insecure_skip_host_key_check {
        tracing::warn!(
            source = %settings.name,
            "insecure_skip_host_key_check is on: the Git server's SSH host key is not checked"
        );
        parts.push("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null".to_owned());
    } else {
        parts.push("-o StrictHostKeyChecking=yes".to_owned());
        if let Some(known) = &access.known_hosts_file {
            parts.push(format!("-o UserKnownHostsFile={}", quote(known)));
        }
    }
    if let Some(key) = &access.ssh_key_file {
        parts.push(format!("-o IdentitiesOnly=yes -i {}", quote(key)));
    }
    parts.push(format!("2>{}", quote(&settings.ssh_log)));
    // A previous failure's messages must not be blamed on this fetch.
    let _ = std::fs::remove_file(&settings.ssh_log);
    Ok(parts.join(" "))
}

fn write_askpass(path: &Path, passphrase_file: &Path) -> Result<PathBuf, SourceError> {
    let script = format!("#!/bin/sh\nexec cat -- {}\n", quote(passphrase_file));
    let fail = |e: std::io::Error| SourceError::Mirror {
        path: path.display().to_string(),
        detail: format!("cannot write the ssh passphrase helper: {e}"),
    };
    std::fs::write(path, script).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(path.to_owned())
}

/// Single-quotes `path` for `sh`.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
