//! A mirror over months: the pack count stays bounded so listing stays fast after many
//! incremental fetches, and a local repository's refs are watched for immediate syncs.

mod git;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use drover::source::{Mirror, RefWatch, packs};
use git::repo::Repo;

const JOBS: &str = "paths = [\"jobs/**/*.nomad.hcl\"]\n";

fn listing_time(mirror: &Mirror, commit: drover::source::CommitId) -> Duration {
    let started = Instant::now();
    let snapshot = mirror.snapshot(commit).expect("snapshot");
    assert_eq!(snapshot.files.len(), 1_000);
    started.elapsed()
}

/// The fastest of several listings of each mirror, taken in turns, so that both see the same
/// load from whatever else runs on the machine and one scheduling hiccup decides nothing.
fn fastest_listings(
    a: &Mirror,
    b: &Mirror,
    commit: drover::source::CommitId,
) -> (Duration, Duration) {
    (0..9).fold((Duration::MAX, Duration::MAX), |(best_a, best_b), _| {
        (
            best_a.min(listing_time(a, commit)),
            best_b.min(listing_time(b, commit)),
        )
    })
}

/// `DROVER_PACK_FETCHES=500` for the full run; CI uses fewer, enough to repack several times.
#[test]
fn listing_after_many_incremental_fetches_is_as_fast_as_a_fresh_mirror() {
    let fetches: usize = std::env::var("DROVER_PACK_FETCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let repo = Repo::new();
    for i in 0..1_000 {
        repo.write(
            &format!("jobs/d{}/j{i}.nomad.hcl", i % 20),
            &format!("job \"j{i}\" {{}}\n"),
        );
    }
    repo.commit("jobs");
    let state = tempfile::tempdir().expect("state");
    let source = git::source(&repo.file_url(), &format!("max_packs = 16\n{JOBS}"));
    let mirror = Mirror::open(&source, state.path()).expect("open");
    let stop = AtomicBool::new(false);
    mirror.fetch(&stop).expect("first fetch");
    let mut most_packs = 0;
    for i in 0..fetches {
        repo.write(
            &format!("jobs/d{}/j{i}.nomad.hcl", i % 20),
            &format!("job \"j{i}\" {{ v = {i} }}\n"),
        );
        repo.commit("change");
        mirror.fetch(&stop).expect("incremental fetch");
        most_packs = most_packs.max(packs::count(mirror.dir()));
    }
    assert!(most_packs <= 17, "pack count not bounded: {most_packs}");
    let commit = mirror.current().expect("current").expect("fetched");
    let fresh_state = tempfile::tempdir().expect("state");
    let fresh = Mirror::open(&source, fresh_state.path()).expect("open");
    fresh.fetch(&stop).expect("fresh fetch");
    let (aged, new) = fastest_listings(&mirror, &fresh, commit);
    println!(
        "{fetches} fetches: listing {aged:?} after, {new:?} fresh, at most {most_packs} packs"
    );
    assert!(
        aged.as_secs_f64() <= new.as_secs_f64() * 1.5,
        "listing after {fetches} fetches took {aged:?}, a fresh mirror {new:?}"
    );
}

#[tokio::test]
async fn a_local_commit_is_seen_at_once_and_bursts_are_one_event() {
    let repo = Repo::new();
    repo.write("jobs/a.nomad.hcl", "job \"a\" {}\n");
    repo.commit("first");
    let mut watch = RefWatch::new(repo.path(), Duration::from_millis(200)).expect("watch");

    // Staging writes the index and objects under .git, but moves no ref.
    repo.write("jobs/b.nomad.hcl", "job \"b\" {}\n");
    repo.git(&["add", "-A"]);
    let quiet = tokio::time::timeout(Duration::from_millis(500), watch.changed()).await;
    assert!(quiet.is_err(), "a work-tree write is not a ref change");

    repo.commit("second");
    repo.git(&["tag", "v1"]);
    let seen = tokio::time::timeout(Duration::from_secs(5), watch.changed()).await;
    assert_eq!(seen.expect("a commit is seen"), Some(()));
    let again = tokio::time::timeout(Duration::from_millis(500), watch.changed()).await;
    assert!(
        again.is_err(),
        "one commit and a tag right after are one event"
    );
}
