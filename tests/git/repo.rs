//! A Git repository in a temporary directory, driven through the `git` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A work tree with a `main` branch. Dropped with its directory.
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Self {
        let repo = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `file://` URL of the repository.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    /// Runs `git` in the repository and returns its trimmed standard output.
    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }

    pub fn write(&self, path: &str, content: &str) -> &Self {
        let file = self.path().join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(file, content).expect("write");
        self
    }

    pub fn remove(&self, path: &str) -> &Self {
        std::fs::remove_file(self.path().join(path)).expect("remove");
        self
    }

    pub fn symlink(&self, path: &str, target: &str) -> &Self {
        let link = self.path().join(path);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::os::unix::fs::symlink(target, link).expect("symlink");
        self
    }

    /// Commits everything and returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// A bare clone beside nothing else, for the servers to export.
    pub fn bare_clone(&self, into: &Path) -> PathBuf {
        let target = into.join("repo.git");
        git(
            into,
            &[
                "clone",
                "-q",
                "--bare",
                &self.path().display().to_string(),
                "repo.git",
            ],
        );
        target
    }
}

/// Runs `git` in `dir` with a fixed identity and no user or system config.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=drover test",
            "-c",
            "user.email=test@drover.invalid",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "core.symlinks=true"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
