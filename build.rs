//! Stamps the binary with the Git commit it was built from, for `drover --version`. Owns the
//! compile-time variable `DROVER_COMMIT_INFO` (`commit 1a2b3c4d5e6f, 2026-12-05`); never fails
//! a build: without Git it records `commit unknown`.
//!
//! A packager building from a tarball sets `DROVER_BUILD_COMMIT` (and optionally
//! `DROVER_BUILD_DATE`, `YYYY-MM-DD`), which win over Git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DROVER_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=DROVER_BUILD_DATE");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (commit, date) = match from_env("DROVER_BUILD_COMMIT") {
        Some(commit) => (commit, from_env("DROVER_BUILD_DATE")),
        None => git_commit(&manifest).unwrap_or_else(|| ("unknown".to_owned(), None)),
    };
    let info = match date {
        Some(date) => format!("commit {commit}, {date}"),
        None => format!("commit {commit}"),
    };
    println!("cargo:rustc-env=DROVER_COMMIT_INFO={info}");
    println!("cargo:rustc-env=DROVER_COMMIT={commit}");
}

/// The short commit of the checkout at `dir` (with `-dirty` when tracked files changed) and
/// its commit date; `None` outside a Git checkout of this very package, so that a tarball
/// unpacked inside some other repository does not report that repository's commit.
fn git_commit(dir: &Path) -> Option<(String, Option<String>)> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    watch_git_state(dir);
    let hash = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    let date = git(dir, &["log", "-1", "--format=%cs", "HEAD"]);
    let changes = git(dir, &["status", "--porcelain", "--untracked-files=no"])?;
    let dirty = if changes.is_empty() { "" } else { "-dirty" };
    Some((format!("{hash}{dirty}"), date))
}

/// Reruns this script when the commit or the work tree may have changed, and only then: a
/// new HEAD (a checkout, a commit on the branch, the ref packed), the index (`git add`, a
/// commit), and the sources and manifest that make up the binary. Without these lines cargo
/// would rerun it, and rebuild the crate, after any change to any file of the package.
fn watch_git_state(dir: &Path) {
    let mut watched = vec![
        "HEAD".to_owned(),
        "index".to_owned(),
        "packed-refs".to_owned(),
    ];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        // `--git-path` resolves a linked work tree's own HEAD and index, and the shared refs.
        // A path that does not exist (a packed ref) is skipped: cargo would rerun every time.
        let path = git(dir, &["rev-parse", "--git-path", &name]).map(|p| dir.join(p));
        if let Some(path) = path.filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    for path in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
}

/// `git ARGS` run in `dir`: its trimmed stdout when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        // `git status` would otherwise refresh the index, which this script watches.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
