//! Blocked files (render errors, policy violations, duplicate IDs) and how actions read.

use super::tests::{case, key, path};
use super::*;

fn file_block(problem: Problem, file: &str) -> Reason {
    let message = format!("{file}:3:5: something is wrong");
    Reason::Blocked(Block::File { problem, message })
}

#[test]
fn blocked_files_leave_their_live_jobs_alone() {
    let table = [
        ("render error", Problem::Render),
        ("policy violation", Problem::Policy),
        ("duplicate ID", Problem::Duplicate),
    ];
    for (name, problem) in table {
        let case = case()
            .prune()
            .mass()
            .running("web")
            .blocked(&path("web"), Some("web"), problem);
        assert_eq!(
            case.reason("web"),
            file_block(problem, &path("web")),
            "{name}"
        );
    }
}

#[test]
fn a_file_broken_before_its_job_id_is_known_protects_its_jobs_by_path() {
    let broken = path("web");
    let protected = case()
        .prune()
        .mass()
        .running("web")
        .blocked(&broken, None, Problem::Render);
    assert_eq!(
        protected.reason("web"),
        file_block(Problem::Render, &broken)
    );
    // With no live job from that path, the file is reported on its own.
    let alone = case().blocked(&broken, None, Problem::Render).run();
    assert_eq!(alone.len(), 1);
    assert_eq!(
        (alone[0].job.as_ref(), alone[0].kind()),
        (None, ActionKind::Blocked)
    );
}

#[test]
fn duplicates_the_caller_flagged_block_both_files() {
    let case = case()
        .prune()
        .running("web")
        .blocked("a.nomad.hcl", Some("web"), Problem::Duplicate)
        .blocked("b.nomad.hcl", Some("web"), Problem::Duplicate);
    let reasons = case.reasons("web");
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons.iter().all(|r| matches!(r, Reason::Blocked(_))),
        "{reasons:?}"
    );
}

#[test]
fn duplicates_the_caller_missed_are_blocked_too() {
    let case = case()
        .job_at("web", "a.nomad.hcl", "f1")
        .job_at("web", "b.nomad.hcl", "f2")
        .running("web");
    let actions = case.run();
    let texts: Vec<String> = actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "blocked prod/web (a.nomad.hcl): duplicate job ID: prod/web is also defined in b.nomad.hcl",
            "blocked prod/web (b.nomad.hcl): duplicate job ID: prod/web is also defined in a.nomad.hcl",
        ]
    );
}

#[test]
fn a_job_moved_to_another_file_is_not_blocked_by_its_old_broken_file() {
    let case = case()
        .running("web")
        .job_at("web", "jobs/new.nomad.hcl", "f1")
        .blocked(&path("web"), None, Problem::Render);
    // Owned, running, no record of this file's fingerprint: a plan decides.
    assert_eq!(case.reason("web"), Reason::NotRecorded);
}

#[test]
fn actions_read_well_in_a_log_line() {
    let long = "0123456789abcdef0123456789abcdef01234567";
    let table = [
        (
            Reason::InputsChanged {
                applied_commit: Some(long.into()),
            },
            "update prod/web (jobs/web.nomad.hcl): inputs changed since commit 0123456789ab",
        ),
        (
            Reason::InputsChanged {
                applied_commit: None,
            },
            "update prod/web (jobs/web.nomad.hcl): inputs changed since drover applied it",
        ),
        (
            Reason::StoppedInNomad,
            "create prod/web (jobs/web.nomad.hcl): stopped in Nomad; registering starts it",
        ),
        (
            Reason::Unchanged,
            "unchanged prod/web (jobs/web.nomad.hcl): inputs unchanged since drover applied them",
        ),
        (
            Reason::DriftCheckDue,
            "plan prod/web (jobs/web.nomad.hcl): drift check due",
        ),
        (
            Reason::GoneFromNomad { stopped: false },
            "plan prod/web (jobs/web.nomad.hcl): removed from Nomad outside Git",
        ),
        (
            Reason::LeftGit,
            "prune prod/web (jobs/web.nomad.hcl): its file left Git",
        ),
        (
            Reason::Blocked(Block::KnownBad {
                fingerprint: long.into(),
            }),
            "blocked prod/web (jobs/web.nomad.hcl): these inputs (fingerprint 0123456789ab) failed to deploy before; waiting for a change in Git",
        ),
        (
            Reason::Blocked(Block::OwnedElsewhere {
                source: "billing".into(),
            }),
            "blocked prod/web (jobs/web.nomad.hcl): the job in Nomad belongs to source `billing`",
        ),
    ];
    for (reason, want) in table {
        let action = Action {
            job: Some(key("web")),
            path: path("web"),
            reason,
        };
        assert_eq!(action.to_string(), want);
    }
    let unnamed = case()
        .blocked("jobs/x.nomad.hcl", None, Problem::Policy)
        .run();
    assert_eq!(
        unnamed[0].to_string(),
        "blocked jobs/x.nomad.hcl: policy violation: jobs/x.nomad.hcl:3:5: something is wrong"
    );
}
