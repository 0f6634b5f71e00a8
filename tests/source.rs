//! The Git source against real repositories made with the `git` CLI and served over
//! `file://`, a plain path and `git daemon`: first and incremental fetches, changes between
//! commits, force-pushes, lost branches and servers, and the limits on what a tree may hold.

mod git;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use drover::source::{CommitId, FileError, Mirror, RepoFiles, SourceError};
use git::daemon::Daemon;
use git::repo::{Repo, git};

const JOBS: &str = "paths = [\"jobs/**/*.nomad.hcl\"]\n";

fn id(hex: &str) -> CommitId {
    CommitId::from_hex(hex.as_bytes()).expect("commit id")
}

fn fetch(mirror: &Mirror) -> Result<drover::source::Fetched, SourceError> {
    mirror.fetch(&AtomicBool::new(false))
}

fn sample() -> Repo {
    let repo = Repo::new();
    repo.write("jobs/web.nomad.hcl", "job \"web\" {}\n")
        .write("jobs/prod/api.nomad.hcl", "job \"api\" {}\n")
        .write("vars/prod.hcl", "count = 2\n")
        .write("README.md", "jobs\n");
    repo.commit("first");
    repo
}

#[test]
fn first_fetch_lists_job_files_and_a_restart_reuses_the_mirror() {
    let repo = sample();
    let state = tempfile::tempdir().expect("state");
    let source = git::source(&repo.file_url(), JOBS);
    let mirror = Mirror::open(&source, state.path()).expect("open");
    assert_eq!(mirror.current().expect("current"), None);
    let fetched = fetch(&mirror).expect("fetch");
    assert_eq!(fetched.commit, id(&repo.head()));
    assert_eq!((fetched.previous, fetched.forced), (None, false));

    let snapshot = mirror.snapshot(fetched.commit).expect("snapshot");
    let paths: Vec<_> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["jobs/prod/api.nomad.hcl", "jobs/web.nomad.hcl"]);
    let web = &snapshot.files[1];
    assert_eq!(
        web.blob,
        id(&repo.git(&["rev-parse", "HEAD:jobs/web.nomad.hcl"]))
    );
    assert_eq!(web.size, 13);
    // Any file of the tree can be read, job or not (var files, file()).
    assert_eq!(
        snapshot.read("vars/prod.hcl").expect("var file"),
        b"count = 2\n"
    );
    assert_eq!(
        snapshot.read("jobs/nope.hcl"),
        Err(FileError::Missing {
            path: "jobs/nope.hcl".into()
        })
    );

    // A bare mirror under the state directory, no working tree, no checkout.
    let dir = state.path().join("mirrors/t.git");
    assert_eq!(mirror.dir(), dir);
    assert!(dir.join("HEAD").is_file() && !dir.join("jobs").exists());
    assert!(git(&dir, &["rev-parse", "--is-bare-repository"]) == "true");

    // A second start finds the last good commit without fetching, and a fetch with nothing
    // new changes nothing.
    let reopened = Mirror::open(&source, state.path()).expect("reopen");
    assert_eq!(reopened.current().expect("current"), Some(fetched.commit));
    let packs = drover::source::packs::count(&dir);
    let again = fetch(&reopened).expect("fetch again");
    assert_eq!(
        (again.commit, again.previous),
        (fetched.commit, Some(fetched.commit))
    );
    assert_eq!(
        drover::source::packs::count(&dir),
        packs,
        "no-op fetch wrote a pack"
    );
}

#[test]
fn incremental_fetch_over_git_daemon_reports_changed_paths() {
    let repo = sample();
    let served = tempfile::tempdir().expect("served");
    let bare = repo.bare_clone(served.path());
    let daemon = Daemon::start(served.path());
    let state = tempfile::tempdir().expect("state");
    let mirror =
        Mirror::open(&git::source(&daemon.url("repo.git"), JOBS), state.path()).expect("open");
    let first = fetch(&mirror).expect("first fetch");
    let packs = drover::source::packs::count(mirror.dir());

    repo.write("jobs/web.nomad.hcl", "job \"web\" { group \"g\" {} }\n")
        .write("jobs/new.nomad.hcl", "job \"new\" {}\n")
        .write("vars/prod.hcl", "count = 3\n");
    repo.git(&["mv", "jobs/prod/api.nomad.hcl", "jobs/api.nomad.hcl"]);
    let second = repo.commit("second");
    git(
        &bare,
        &[
            "fetch",
            "-q",
            &repo.path().display().to_string(),
            "main:main",
        ],
    );

    let fetched = fetch(&mirror).expect("incremental fetch");
    assert_eq!(fetched.commit, id(&second));
    assert_eq!(
        (fetched.previous, fetched.forced),
        (Some(first.commit), false)
    );
    assert_eq!(
        drover::source::packs::count(mirror.dir()),
        packs + 1,
        "one new pack"
    );

    let changes = mirror
        .changes(fetched.previous, fetched.commit)
        .expect("changes");
    assert_eq!(changes.added, ["jobs/new.nomad.hcl"]);
    assert_eq!(changes.modified, ["jobs/web.nomad.hcl"]);
    assert!(changes.removed.is_empty());
    let renamed: Vec<_> = changes
        .renamed
        .iter()
        .map(|r| (r.from.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(renamed, [("jobs/prod/api.nomad.hcl", "jobs/api.nomad.hcl")]);
    assert_eq!(changes.other, ["vars/prod.hcl"]);

    // The first sync diffs from the empty tree: every job file is new.
    let all = mirror
        .changes(None, first.commit)
        .expect("changes from nothing");
    assert_eq!(all.added, ["jobs/prod/api.nomad.hcl", "jobs/web.nomad.hcl"]);
    assert_eq!(all.other, ["README.md", "vars/prod.hcl"]);
}

#[test]
fn a_plain_local_path_tag_and_pinned_commit() {
    let repo = sample();
    let first = repo.head();
    repo.git(&["tag", "v1"]);
    repo.write("jobs/web.nomad.hcl", "job \"web\" { }\n");
    let second = repo.commit("second");
    let state = tempfile::tempdir().expect("state");
    let path = repo.path().display().to_string();
    let by_path = Mirror::open(&git::source(&path, JOBS), state.path()).expect("open");
    assert_eq!(fetch(&by_path).expect("fetch").commit, id(&second));

    let state = tempfile::tempdir().expect("state");
    let tag = Mirror::open(
        &git::source(&path, &format!("tag = \"v1\"\n{JOBS}")),
        state.path(),
    )
    .expect("open");
    assert_eq!(fetch(&tag).expect("tag").commit, id(&first));
    let state = tempfile::tempdir().expect("state");
    let pinned = git::source(&path, &format!("commit = \"{first}\"\n{JOBS}"));
    let pinned = Mirror::open(&pinned, state.path()).expect("open");
    assert_eq!(fetch(&pinned).expect("pinned").commit, id(&first));
    assert_eq!(
        fetch(&pinned).expect("pinned again").previous,
        Some(id(&first))
    );
}

/// A bare repository served over `file://`, pushed to from a work tree.
struct Served {
    repo: Repo,
    _dir: tempfile::TempDir,
    bare: std::path::PathBuf,
}

impl Served {
    fn new() -> Self {
        let repo = sample();
        let dir = tempfile::tempdir().expect("served");
        let bare = repo.bare_clone(dir.path());
        Self {
            repo,
            _dir: dir,
            bare,
        }
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    fn push(&self, force: bool) {
        let target = self.bare.display().to_string();
        let mut args = vec!["push", "-q"];
        if force {
            args.push("--force");
        }
        args.extend([target.as_str(), "main:main"]);
        self.repo.git(&args);
    }
}

#[test]
fn a_force_push_is_followed_and_reported() {
    let served = Served::new();
    let state = tempfile::tempdir().expect("state");
    let mirror = Mirror::open(&git::source(&served.url(), JOBS), state.path()).expect("open");
    served
        .repo
        .write("jobs/web.nomad.hcl", "job \"web\" { a = 1 }\n");
    let old = served.repo.commit("to be rewritten");
    served.push(false);
    assert_eq!(fetch(&mirror).expect("fetch").commit, id(&old));

    served.repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    served
        .repo
        .write("jobs/web.nomad.hcl", "job \"web\" { b = 2 }\n");
    let new = served.repo.commit("rewritten");
    served.push(true);
    let fetched = fetch(&mirror).expect("fetch after force-push");
    assert_eq!(fetched.commit, id(&new));
    assert_eq!(fetched.previous, Some(id(&old)));
    assert!(fetched.forced, "a rewrite is reported");
    // The orphaned commit is still there to diff from.
    let changes = mirror
        .changes(fetched.previous, fetched.commit)
        .expect("changes");
    assert_eq!(changes.modified, ["jobs/web.nomad.hcl"]);
}

#[test]
fn a_deleted_branch_keeps_the_last_good_snapshot() {
    let served = Served::new();
    let state = tempfile::tempdir().expect("state");
    let mirror = Mirror::open(&git::source(&served.url(), JOBS), state.path()).expect("open");
    let good = fetch(&mirror).expect("fetch").commit;
    git(&served.bare, &["update-ref", "-d", "refs/heads/main"]);

    let err = fetch(&mirror).expect_err("branch is gone");
    assert!(
        matches!(&err, SourceError::RevisionNotFound { what: "branch", name, .. } if name == "main"),
        "{err:?}"
    );
    assert!(err.to_string().contains("branch `main` not found"), "{err}");
    assert_eq!(mirror.current().expect("current"), Some(good));
    assert_eq!(mirror.snapshot(good).expect("snapshot").files.len(), 2);
}

#[test]
fn an_unreachable_or_missing_repository_is_an_error_not_an_empty_tree() {
    let repo = sample();
    let served = tempfile::tempdir().expect("served");
    repo.bare_clone(served.path());
    let daemon = Daemon::start(served.path());
    let state = tempfile::tempdir().expect("state");
    let url = daemon.url("repo.git");
    let mirror = Mirror::open(&git::source(&url, JOBS), state.path()).expect("open");
    let good = fetch(&mirror).expect("fetch").commit;
    drop(daemon);

    let err = fetch(&mirror).expect_err("server is gone");
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(mirror.current().expect("current"), Some(good));
    assert_eq!(mirror.snapshot(good).expect("snapshot").files.len(), 2);

    let daemon = Daemon::start(served.path());
    let missing =
        Mirror::open(&git::source(&daemon.url("nope.git"), JOBS), state.path()).expect("open");
    let err = fetch(&missing).expect_err("no such repository");
    assert!(
        matches!(err, SourceError::RepositoryNotFound { .. }),
        "{err:?}"
    );
    let state = tempfile::tempdir().expect("state");
    let missing = Mirror::open(
        &git::source("file:///nonexistent/repo.git", JOBS),
        state.path(),
    )
    .expect("open");
    let err = fetch(&missing).expect_err("no such path");
    assert!(
        matches!(err, SourceError::RepositoryNotFound { .. }),
        "{err:?}"
    );
}

#[test]
fn links_are_refused_wherever_they_are_and_paths_stay_inside() {
    let repo = sample();
    repo.symlink("jobs/evil.nomad.hcl", "/etc/passwd")
        .symlink("jobs/root", "../..")
        .write("jobs/big.nomad.hcl", &"x".repeat(300));
    repo.commit("links");
    let state = tempfile::tempdir().expect("state");
    let source = git::source(&repo.file_url(), &format!("max_file_size = 200\n{JOBS}"));
    let mirror = Mirror::open(&source, state.path()).expect("open");
    let snapshot = mirror
        .snapshot(fetch(&mirror).expect("fetch").commit)
        .expect("snapshot");
    let paths: Vec<_> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["jobs/prod/api.nomad.hcl", "jobs/web.nomad.hcl"]);
    let too_large = FileError::TooLarge {
        path: "jobs/big.nomad.hcl".into(),
        size: 300,
        limit: 200,
    };
    let evil = FileError::Symlink {
        path: "jobs/evil.nomad.hcl".into(),
    };
    assert_eq!(snapshot.refused, [too_large.clone(), evil.clone()]);

    assert_eq!(snapshot.read("jobs/evil.nomad.hcl"), Err(evil));
    assert_eq!(snapshot.read("jobs/big.nomad.hcl"), Err(too_large));
    let through_link = snapshot.read("jobs/root/etc/passwd");
    assert_eq!(
        through_link,
        Err(FileError::Symlink {
            path: "jobs/root".into()
        })
    );
    for escaping in ["../../etc/passwd", "/etc/passwd", "jobs/../../x"] {
        let err = snapshot.read(escaping).expect_err(escaping);
        assert!(
            matches!(err, FileError::Escapes { .. }),
            "{escaping}: {err:?}"
        );
    }
    assert!(matches!(
        snapshot.read("jobs"),
        Err(FileError::NotAFile { .. })
    ));
}

#[test]
fn submodules_are_named_and_not_followed() {
    let repo = sample();
    let head = repo.head();
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},jobs/sub"),
    ]);
    repo.git(&["commit", "-q", "-m", "submodule"]);
    let state = tempfile::tempdir().expect("state");
    let mirror = Mirror::open(&git::source(&repo.file_url(), JOBS), state.path()).expect("open");
    let snapshot = mirror
        .snapshot(fetch(&mirror).expect("fetch").commit)
        .expect("snapshot");
    assert_eq!(snapshot.submodules, ["jobs/sub"]);
    let err = snapshot
        .read("jobs/sub/web.nomad.hcl")
        .expect_err("not followed");
    assert_eq!(
        err,
        FileError::NotAFile {
            path: "jobs/sub".into()
        }
    );
}

#[test]
fn five_thousand_job_files_and_the_cap_on_matches() {
    let repo = Repo::new();
    for i in 0..5_000 {
        let path = repo
            .path()
            .join(format!("jobs/d{:02}/job{i}.nomad.hcl", i % 50));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, format!("job \"job{i}\" {{}}\n")).expect("write");
    }
    let head = repo.commit("many");
    let state = tempfile::tempdir().expect("state");
    let mirror = Mirror::open(&git::source(&repo.file_url(), JOBS), state.path()).expect("open");
    let commit = fetch(&mirror).expect("fetch").commit;
    assert_eq!(commit, id(&head));
    let started = Instant::now();
    let snapshot = mirror.snapshot(commit).expect("snapshot");
    assert_eq!(snapshot.files.len(), 5_000);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let capped = git::source(&repo.file_url(), &format!("max_files = 4999\n{JOBS}"));
    let state = tempfile::tempdir().expect("state");
    let mirror = Mirror::open(&capped, state.path()).expect("open");
    let err = mirror
        .snapshot(fetch(&mirror).expect("fetch").commit)
        .expect_err("too many");
    assert!(
        matches!(
            err,
            SourceError::TooManyFiles {
                matched: 5_000,
                limit: 4_999
            }
        ),
        "{err:?}"
    );
}
