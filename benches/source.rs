//! drover's Git source against the `git` CLI on the same repository, served by `git daemon`:
//! 5,000 small job files and 500 commits. Prints, from one run, the ratios of drover's time
//! to git's for (a) a first clone plus the listing of the job files and (b) an incremental
//! fetch of one new commit plus the changed paths, and the peak memory of a listing.
//!
//! `cargo bench --bench source` (a release build; takes a minute or two).

#[path = "../tests/git/mod.rs"]
mod git;

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use drover::source::Mirror;
use git::daemon::Daemon;
use git::repo::Repo;

/// The repository's size: 5,000 files and 500 commits, or smaller for CI's smoke run
/// (`DROVER_BENCH_FILES`, `DROVER_BENCH_COMMITS`).
fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn files() -> usize {
    size("DROVER_BENCH_FILES", 5_000)
}

fn commits() -> usize {
    size("DROVER_BENCH_COMMITS", 500)
}
const RUNS: usize = 3;
const JOBS: &str = "paths = [\"jobs/**/*.nomad.hcl\"]\n";

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--measure-listing") {
        let (state, url) = (args.next().expect("state"), args.next().expect("url"));
        return measure_listing(&state, &url);
    }
    let repo = build_repo();
    let served = tempfile::tempdir().expect("served");
    let bare = repo.bare_clone(served.path());
    let daemon = Daemon::start(served.path());
    let url = daemon.url("repo.git");

    let (ours, theirs) = (median(|| drover_clone(&url)), median(|| git_clone(&url)));
    println!(
        "(a) clone + list {} files: drover {ours:?}, git {theirs:?}, ratio {:.2}",
        files(),
        ratio(ours, theirs)
    );

    let state = tempfile::tempdir().expect("state");
    let mirror = Mirror::open(&git::source(&url, JOBS), state.path()).expect("open");
    mirror.fetch(&AtomicBool::new(false)).expect("fetch");
    let cli = tempfile::tempdir().expect("cli");
    git::repo::git(cli.path(), &["clone", "-q", "--bare", &url, "m.git"]);
    let cli = cli.path().join("m.git");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        repo.write(
            &format!("jobs/d{:02}/job{i}.nomad.hcl", i % 50),
            &format!("job \"x{i}\" {{}}\n"),
        );
        repo.commit("one more");
        git::repo::git(
            &bare,
            &[
                "fetch",
                "-q",
                &repo.path().display().to_string(),
                "main:main",
            ],
        );
        ours.push(timed(|| {
            let fetched = mirror.fetch(&AtomicBool::new(false)).expect("fetch");
            let changes = mirror
                .changes(fetched.previous, fetched.commit)
                .expect("changes");
            assert_eq!(changes.modified.len(), 1);
        }));
        theirs.push(timed(|| {
            let old = git::repo::git(&cli, &["rev-parse", "main"]);
            git::repo::git(
                &cli,
                &["fetch", "-q", &url, "+refs/heads/main:refs/heads/main"],
            );
            let out = git::repo::git(&cli, &["diff", "--name-status", &old, "main"]);
            assert_eq!(out.lines().count(), 1);
        }));
    }
    let (ours, theirs) = (mid(ours), mid(theirs));
    println!(
        "(b) fetch 1 commit + changed paths: drover {ours:?}, git {theirs:?}, ratio {:.2}",
        ratio(ours, theirs)
    );

    let listing = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--measure-listing",
            &state.path().display().to_string(),
            &url,
        ])
        .output()
        .expect("listing process");
    print!("{}", String::from_utf8_lossy(&listing.stdout));
    drop(daemon);
}

fn build_repo() -> Repo {
    let started = Instant::now();
    let repo = Repo::new();
    for i in 0..files() {
        repo.write(
            &format!("jobs/d{:02}/job{i}.nomad.hcl", i % 50),
            &format!("job \"job{i}\" {{}}\n"),
        );
    }
    repo.commit("jobs");
    for i in 1..commits() {
        let path = format!("jobs/d{:02}/job{i}.nomad.hcl", i % 50);
        repo.write(&path, &format!("job \"job{i}\" {{ version = {i} }}\n"));
        repo.git(&["commit", "-q", "-a", "-m", "change"]);
    }
    eprintln!(
        "built {} files, {} commits in {:?}",
        files(),
        commits(),
        started.elapsed()
    );
    repo
}

fn drover_clone(url: &str) -> Duration {
    let state = tempfile::tempdir().expect("state");
    timed(|| {
        let mirror = Mirror::open(&git::source(url, JOBS), state.path()).expect("open");
        let fetched = mirror.fetch(&AtomicBool::new(false)).expect("fetch");
        assert_eq!(
            mirror.snapshot(fetched.commit).expect("list").files.len(),
            files()
        );
    })
}

fn git_clone(url: &str) -> Duration {
    let dir = tempfile::tempdir().expect("dir");
    timed(|| {
        git::repo::git(dir.path(), &["clone", "-q", "--bare", url, "m.git"]);
        let listing = git::repo::git(&dir.path().join("m.git"), &["ls-tree", "-r", "main"]);
        assert_eq!(listing.lines().count(), files());
    })
}

/// Runs in a child process so that its peak RSS is the listing's alone.
fn measure_listing(state: &str, url: &str) {
    let mirror = Mirror::open(&git::source(url, JOBS), std::path::Path::new(state)).expect("open");
    let commit = mirror.current().expect("current").expect("fetched");
    let started = Instant::now();
    let files = mirror.snapshot(commit).expect("list").files.len();
    let elapsed = started.elapsed();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    println!(
        "listing {files} files from the mirror: {elapsed:?}, process peak memory {}",
        peak.trim_start_matches("VmHWM:").trim()
    );
}

fn timed(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn median(f: impl Fn() -> Duration) -> Duration {
    mid((0..RUNS).map(|_| f()).collect())
}

fn mid(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ratio(ours: Duration, theirs: Duration) -> f64 {
    ours.as_secs_f64() / theirs.as_secs_f64()
}
