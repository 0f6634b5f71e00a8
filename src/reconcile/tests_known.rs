//! When a pass may decide from the state alone, without Nomad's job list.

use super::tests::{MIN, case, path};

#[test]
fn with_every_job_applied_and_checked_the_state_decides_as_the_list_would() {
    let synced = case()
        .job("web", "fp-2")
        .job("api", "fp-1")
        .running("web")
        .running("api")
        .applied("web", "fp-1", MIN)
        .applied("api", "fp-1", MIN);
    let known = synced.run_known().expect("no list needed");
    assert_eq!(known, synced.run(), "the same actions as with the list");
    assert_eq!(known.len(), 2, "one update, one unchanged: {known:?}");
}

#[test]
fn a_job_drover_has_no_applied_record_of_needs_the_list() {
    let synced = || {
        case()
            .job("web", "fp-1")
            .running("web")
            .applied("web", "fp-1", MIN)
    };
    assert!(synced().known().is_some(), "the baseline needs no list");
    let table = [
        ("a new file", synced().job("api", "fp-1")),
        (
            "a record whose file left Git",
            synced().applied("old", "fp-1", MIN),
        ),
        (
            "a blocked file",
            synced().blocked(&path("api"), None, super::Problem::Render),
        ),
        (
            "a drift check due",
            synced().applied("web", "fp-1", 6 * MIN),
        ),
        ("a full pass", synced().full()),
        ("a failed fetch", synced().fetch_failed()),
        ("records rebuilt from meta", synced().rebuilt()),
        ("no job file at all", case().applied("web", "fp-1", MIN)),
    ];
    for (name, case) in table {
        assert!(case.known().is_none(), "{name}: the jobs must be listed");
    }
}

#[test]
fn a_source_without_jobs_lists_them_once_and_then_knows_there_are_none() {
    assert!(case().known().is_none(), "the first pass lists the jobs");
    let known = case().passed_before().known();
    assert_eq!(known, Some(Vec::new()), "no job since: nothing to list");
    let had_jobs = case().passed_before().applied("web", "fp-1", MIN);
    assert!(
        had_jobs.known().is_none(),
        "a job whose file left Git needs the list"
    );
}

#[test]
fn inputs_known_to_fail_stay_blocked_without_the_list() {
    let bad = case()
        .job("web", "fp-2")
        .running("web")
        .applied("web", "fp-1", MIN)
        .failed("web", "fp-2");
    let known = bad.run_known().expect("no list needed");
    assert_eq!(known, bad.run());
}

#[test]
fn a_file_held_back_for_a_refusal_needs_no_list_and_keeps_its_job() {
    use crate::state::RefusedBy;
    let refused = super::Problem::Refused(RefusedBy::Parse);
    // Its earlier inputs run (the record, with a drift check long due: it is never planned).
    let held = case()
        .job("web", "fp-1")
        .running("web")
        .running("api")
        .applied("web", "fp-1", MIN)
        .applied("api", "fp-1", 60 * MIN)
        .blocked(&path("api"), Some("api"), refused);
    let known = held.run_known().expect("no list needed");
    assert_eq!(known, held.run(), "the same actions as with the list");
    // Never deployed at all.
    let new = case()
        .job("web", "fp-1")
        .running("web")
        .applied("web", "fp-1", MIN)
        .blocked(&path("api"), Some("api"), refused);
    assert_eq!(new.run_known().expect("no list needed"), new.run());
    let unnamed = case()
        .job("web", "fp-1")
        .running("web")
        .applied("web", "fp-1", MIN)
        .blocked(&path("api"), None, refused);
    assert!(
        unnamed.known().is_none(),
        "a file whose job is unknown needs the list"
    );
}
