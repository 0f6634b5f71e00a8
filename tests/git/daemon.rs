//! `git daemon` exporting one directory over `git://` on a loopback port.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{free_port, wait_for_port};

pub struct Daemon {
    child: Child,
    pub port: u16,
}

impl Daemon {
    /// Serves every repository under `root` (read-only, `--export-all`).
    pub fn start(root: &Path) -> Self {
        let port = free_port();
        // `git daemon` runs `git-daemon` as a child: start that directly, so that dropping
        // this handle really stops the server.
        let exec_path = super::repo::git(root, &["--exec-path"]);
        let child = Command::new(std::path::Path::new(&exec_path).join("git-daemon"))
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", root.display()))
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        wait_for_port(port);
        Self { child, port }
    }

    /// The `git://` URL of `name` under the root.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
