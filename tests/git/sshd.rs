//! A real OpenSSH server on a loopback port, with a host key and a user key made for the
//! test, so that drover's SSH transport (the OpenSSH client under gix) is exercised end to
//! end, host-key checking included.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, wait_for_port};

pub struct Sshd {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    /// The private key the server accepts.
    pub user_key: PathBuf,
    /// A known_hosts file with the server's real host key.
    pub known_hosts: PathBuf,
    /// A known_hosts file naming another key for the same host: a changed host key.
    pub wrong_known_hosts: PathBuf,
}

/// The `sshd` binary, if installed.
pub fn find() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn keygen(path: &Path) -> String {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "drover-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
    let public = std::fs::read_to_string(format!("{}.pub", path.display())).expect("public key");
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Sshd {
    pub fn start(sshd: &Path) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |name: &str| dir.path().join(name);
        let host_public = keygen(&p("host_key.k"));
        let user_public = keygen(&p("user_key.k"));
        let other_public = keygen(&p("other_key.k"));
        std::fs::write(p("authorized_keys"), format!("{user_public}\n")).expect("authorized_keys");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\n\
             PidFile {pid}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             AcceptEnv GIT_PROTOCOL\nLogLevel ERROR\n",
            host = p("host_key.k").display(),
            auth = p("authorized_keys").display(),
            pid = p("sshd.pid").display(),
        );
        std::fs::write(p("sshd_config"), config).expect("sshd_config");
        // sshd refuses to start without its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(p("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        wait_for_port(port);
        let host = format!("[127.0.0.1]:{port}");
        std::fs::write(p("known_hosts"), format!("{host} {host_public}\n")).expect("known_hosts");
        std::fs::write(p("wrong_known_hosts"), format!("{host} {other_public}\n"))
            .expect("known_hosts");
        Self {
            child,
            port,
            user_key: p("user_key.k"),
            known_hosts: p("known_hosts"),
            wrong_known_hosts: p("wrong_known_hosts"),
            dir,
        }
    }

    /// The `ssh://` URL of the repository at the absolute `path`, as the current user.
    pub fn url(&self, path: &Path) -> String {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, path.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
