use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, SystemTime};

use super::*;
use crate::events::{Outcome, Tracked};
use crate::nomad::JobStub;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn tracked(outcome: Outcome) -> Tracked {
    Tracked {
        outcome,
        deployment_id: Some("d-1".into()),
        job_version: Some(4),
        healthy: 2,
        unhealthy: 1,
        reasons: vec!["1 allocation(s) unhealthy".into()],
        reverted_to: None,
    }
}

fn sample() -> State {
    let mut state = State::default();
    let source = state.source_mut("platform");
    source.last_synced_commit = Some("c1".into());
    source.last_fetched_commit = Some("c2".into());
    source.last_pass = Some(PassRecord {
        at: at(5),
        commit: Some("c2".into()),
        converged: false,
        summary: "1 updated, 1 blocked".into(),
    });
    let mut record = JobRecord::new("jobs/web.nomad.hcl");
    record.applied("fp-1", "c1", at(1));
    record.finished("fp-1", tracked(Outcome::Successful), at(2));
    source.jobs.insert(JobKey::new("prod", "web"), record);
    // Job IDs may contain `/`; the namespace never does.
    let odd = JobKey::new("default", "batch/periodic-1");
    source
        .jobs
        .insert(odd, JobRecord::new("jobs/batch.nomad.hcl"));
    state
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn live(id: &str, pairs: &[(&str, &str)]) -> LiveJob {
    let stub = JobStub {
        id: id.into(),
        namespace: "prod".into(),
        meta: Some(meta(pairs)),
        ..JobStub::default()
    };
    LiveJob::from_stub(&stub)
}

#[test]
fn saved_state_loads_back_equal_with_its_format_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    store.save(&sample()).expect("save");
    let loaded = store.load().expect("load");
    assert_eq!(loaded.state, sample());
    assert_eq!(loaded.warning, None);
    let text = fs::read_to_string(store.path()).expect("read");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["version"], FORMAT_VERSION);
    assert!(json["sources"]["platform"]["jobs"]["prod/web"].is_object());
}

#[test]
fn every_change_is_on_disk_when_change_and_save_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(Store::new(dir.path()));
    let state = std::sync::Arc::new(std::sync::Mutex::new(State::default()));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (store, state) = (store.clone(), state.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let key = JobKey::new("default", format!("job-{t}-{i}"));
                    let inserted = key.clone();
                    store
                        .change_and_save(&state, move |s| {
                            let jobs = &mut s.source_mut("platform").jobs;
                            jobs.insert(inserted, JobRecord::new("jobs/a.nomad.hcl"));
                        })
                        .expect("save");
                    // Read directly: `load` would remove the other writers' temporary files.
                    let text = fs::read_to_string(store.path()).expect("read");
                    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
                    assert!(
                        json["sources"]["platform"]["jobs"][key.to_string()].is_object(),
                        "{key} is on disk once its change returned"
                    );
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    let on_disk = store.load().expect("load").state;
    assert_eq!(on_disk.source("platform").jobs.len(), 100);
}

#[test]
fn a_change_that_may_wait_goes_to_disk_with_the_next_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let state = std::sync::Mutex::new(State::default());
    let add = |id: &'static str| {
        move |s: &mut State| {
            let record = JobRecord::new("jobs/a.nomad.hcl");
            s.source_mut("platform")
                .jobs
                .insert(JobKey::new("default", id), record);
        }
    };
    let on_disk = |id: &str| {
        let loaded = store.load().expect("load").state;
        loaded
            .source("platform")
            .jobs
            .contains_key(&JobKey::new("default", id))
    };
    let hour = Duration::from_secs(3600);
    store
        .change_and_save_within(&state, add("first"), hour)
        .expect("save");
    assert!(on_disk("first"), "no write yet: this one writes");
    store
        .change_and_save_within(&state, add("second"), hour)
        .expect("save");
    assert!(!on_disk("second"), "a write began within the interval");
    store.change_and_save(&state, add("third")).expect("save");
    assert!(on_disk("second") && on_disk("third"));
}

#[test]
fn a_missing_file_is_an_empty_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loaded = Store::new(dir.path().join("not-yet")).load().expect("load");
    assert_eq!(loaded.state, State::default());
    assert_eq!(loaded.warning, None);
}

#[test]
fn a_crash_before_the_rename_leaves_the_old_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    store.save(&sample()).expect("save");
    // What a kill -9 between write and rename leaves: a complete temporary file.
    let mut newer = sample();
    newer.source_mut("platform").last_synced_commit = Some("c9".into());
    let temp = dir.path().join(".state.json.tmp.4242.0");
    fs::write(&temp, serde_json::to_vec(&newer).expect("encode")).expect("write");
    let loaded = store.load().expect("load");
    assert_eq!(loaded.state, sample());
    assert!(!temp.exists(), "a stale temporary file is removed on load");
    let left: Vec<_> = fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(left.len(), 1, "only state.json remains");
}

#[test]
fn a_corrupt_file_is_set_aside_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    fs::write(store.path(), b"{\"version\":1,\"sources\":{\"platform\":").expect("write");
    let loaded = store.load().expect("load never fails on a bad file");
    assert_eq!(loaded.state, State::default());
    assert!(matches!(loaded.warning, Some(LoadWarning::Corrupt { .. })));
    let aside = loaded.set_aside.expect("moved aside");
    assert_eq!(
        fs::read(aside).expect("read"),
        b"{\"version\":1,\"sources\":{\"platform\":"
    );
    // A record that does not decode (a bad job key) is corruption too.
    fs::write(
        store.path(),
        br#"{"version":1,"sources":{"s":{"jobs":{"no-slash":{}}}}}"#,
    )
    .expect("write");
    let loaded = store.load().expect("load");
    let warning = loaded.warning.expect("warning").to_string();
    assert!(warning.contains("not a job key"), "{warning}");
    store.save(&sample()).expect("saving over it works");
}

#[test]
fn an_unknown_format_version_is_set_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    fs::write(
        store.path(),
        br#"{"version":2,"sources":"a shape from the future"}"#,
    )
    .expect("write");
    let loaded = store.load().expect("load");
    assert_eq!(loaded.state, State::default());
    let warning = loaded.warning.expect("warning");
    assert_eq!(warning, LoadWarning::UnknownVersion { version: 2 });
    assert!(warning.to_string().contains("version 2"));
}

#[test]
fn an_oversized_file_is_not_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let file = fs::File::create(store.path()).expect("create");
    file.set_len(MAX_STATE_BYTES + 1).expect("sparse file");
    let loaded = store.load().expect("load");
    assert_eq!(
        loaded.warning,
        Some(LoadWarning::TooLarge {
            limit: MAX_STATE_BYTES
        })
    );
}

#[test]
fn io_failures_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    fs::create_dir(store.path()).expect("a directory where the file goes");
    assert!(matches!(store.load(), Err(StateError::Read { .. })));
    let blocked = Store::new(store.path().join("state.json").join("deeper"));
    fs::write(store.path().join("state.json"), b"a file").expect("write");
    let err = blocked
        .save(&sample())
        .expect_err("cannot create a dir under a file");
    assert!(
        err.to_string().contains("cannot write the state file"),
        "{err}"
    );
}

#[test]
fn records_are_rebuilt_from_ownership_meta() {
    let owned = [
        ("drover.source", "platform"),
        ("drover.path", "jobs/web.nomad.hcl"),
        ("drover.commit", "c7"),
    ];
    let mut web = live("web", &owned);
    web.version = Some(3);
    let mut pruned = live("pruned", &[("drover.source", "platform")]);
    pruned.stopped = true;
    let jobs = [
        web,
        live("other", &[("drover.source", "someone-else")]),
        live("manual", &[]),
        live("known", &[("drover.source", "platform")]),
        pruned,
    ];
    let mut source = SourceState::default();
    let kept = JobRecord::new("jobs/known.nomad.hcl");
    source
        .jobs
        .insert(JobKey::new("prod", "known"), kept.clone());
    assert_eq!(source.rebuild_from_live("platform", &jobs), 1);
    let web = &source.jobs[&JobKey::new("prod", "web")];
    assert_eq!(web.path, "jobs/web.nomad.hcl");
    assert_eq!(web.applied_commit.as_deref(), Some("c7"));
    assert_eq!(web.version, Some(3));
    assert_eq!(web.applied_fingerprint, None, "unknown until planned");
    assert_eq!(source.jobs[&JobKey::new("prod", "known")], kept);
    assert_eq!(source.jobs.len(), 2, "a stopped job gets no record");
}

#[test]
fn ownership_meta_is_read_from_list_stubs() {
    let job = live(
        "web",
        &[("drover.source", "platform"), ("drover.prune", " FALSE")],
    );
    let owner = job.owned_by("platform").expect("owned");
    assert!(!owner.prunable);
    assert_eq!((owner.path.as_str(), owner.commit.as_str()), ("", ""));
    assert_eq!(job.owned_by("other"), None);
    assert!(
        live("web", &[("drover.source", "p"), ("drover.prune", "no")])
            .owner
            .expect("o")
            .prunable
    );
    assert_eq!(live("web", &[("drover.source", "")]).owner, None);
    let bare = LiveJob::from_stub(&JobStub {
        id: "web".into(),
        stop: true,
        ..JobStub::default()
    });
    assert_eq!(bare.key, JobKey::new("default", "web"));
    assert!(bare.stopped && bare.owner.is_none());
}

#[test]
fn a_failed_deployment_marks_its_fingerprint_known_bad_until_a_success() {
    let mut record = JobRecord::new("jobs/web.nomad.hcl");
    record.applied("fp-bad", "c2", at(1));
    let failed = Outcome::Failed {
        description: "Failed due to unhealthy allocations".into(),
    };
    record.finished("fp-bad", tracked(failed), at(2));
    assert!(record.is_known_bad("fp-bad"));
    assert_eq!(record.applied_fingerprint, None);
    assert_eq!(record.version, Some(4));
    record.applied("fp-fixed", "c3", at(3));
    record.finished("fp-fixed", tracked(Outcome::AwaitingPromotion), at(4));
    assert!(record.is_known_bad("fp-bad"), "not final yet");
    record.finished("fp-fixed", tracked(Outcome::Successful), at(5));
    assert!(record.failed_fingerprints.is_empty());
    assert_eq!(record.applied_fingerprint.as_deref(), Some("fp-fixed"));
    assert_eq!(record.outcome.expect("outcome").at, at(5));
}

#[test]
fn an_unknown_source_reads_as_empty() {
    let mut state = State::default();
    assert_eq!(state.source("new"), &SourceState::default());
    state.source_mut("new").last_fetched_commit = Some("c1".into());
    assert_eq!(
        state.source("new").last_fetched_commit.as_deref(),
        Some("c1")
    );
}

#[test]
fn known_bad_fingerprints_accumulate_up_to_a_bound_and_read_the_older_single_field() {
    let mut record = JobRecord::new("jobs/web.nomad.hcl");
    for fp in ["a", "b", "c", "d"] {
        assert!(record.mark_known_bad(fp));
    }
    assert!(!record.mark_known_bad("d"), "already known");
    assert_eq!(record.failed_fingerprints, ["b", "c", "d"]);
    let old: JobRecord =
        serde_json::from_str(r#"{"path": "jobs/web.nomad.hcl", "failed_fingerprint": "x"}"#)
            .expect("decode");
    assert!(old.is_known_bad("x"));
}
