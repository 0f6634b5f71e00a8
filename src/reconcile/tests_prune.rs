//! Pruning (invariant 2): what is deleted when a file leaves Git, and every reason it is not.

use super::tests::{case, path};
use super::*;

/// Four running jobs of the source; `old`'s file is gone, the other three still render.
fn four_with_old_gone() -> tests::Case {
    case()
        .job("a", "fa")
        .job("b", "fb")
        .job("c", "fc")
        .running("a")
        .running("b")
        .running("c")
        .running("old")
}

fn refused(why: PruneRefusal) -> Reason {
    Reason::PruneRefused(why)
}

#[test]
fn a_job_whose_file_left_git_is_pruned_only_when_everything_allows_it() {
    let base = four_with_old_gone;
    let render_failed = PruneRefusal::RenderFailed {
        files: 1,
        first: "jobs/broken.nomad.hcl".into(),
    };
    let table = [
        ("allowed", base().prune(), Reason::LeftGit),
        ("prune off", base(), refused(PruneRefusal::Disabled)),
        (
            "fetch failed",
            base().prune().fetch_failed(),
            refused(PruneRefusal::FetchFailed {
                error: "connection refused".into(),
            }),
        ),
        (
            "another file failed to render",
            base()
                .prune()
                .blocked("jobs/broken.nomad.hcl", None, Problem::Render),
            refused(render_failed),
        ),
        (
            "a policy violation elsewhere does not hide which jobs are gone",
            base()
                .prune()
                .blocked("jobs/p.nomad.hcl", Some("p"), Problem::Policy),
            Reason::LeftGit,
        ),
        (
            "prune off wins over the other reasons",
            base().fetch_failed(),
            refused(PruneRefusal::Disabled),
        ),
    ];
    for (name, case, want) in table {
        assert_eq!(case.reason("old"), want, "{name}");
    }
}

#[test]
fn a_job_that_opted_out_is_never_pruned() {
    let case = case()
        .prune()
        .mass()
        .job("a", "fa")
        .running("a")
        .kept("old");
    assert_eq!(case.reason("old"), refused(PruneRefusal::OptedOut));
}

#[test]
fn jobs_without_this_sources_meta_are_never_pruned_or_listed() {
    let case = case()
        .prune()
        .mass()
        .job("a", "fa")
        .running("a")
        .owned_by("theirs", "billing")
        .unmanaged("manual");
    assert_eq!(case.reasons("theirs"), []);
    assert_eq!(case.reasons("manual"), []);
}

#[test]
fn a_stopped_job_whose_file_left_git_is_already_gone() {
    let case = case()
        .prune()
        .mass()
        .job("a", "fa")
        .running("a")
        .stopped("old");
    assert_eq!(case.reasons("old"), []);
}

#[test]
fn a_pass_may_not_prune_more_than_the_configured_share() {
    let too_many = |prunes| {
        refused(PruneRefusal::TooMany {
            prunes,
            managed: 4,
            max_fraction: 0.5,
        })
    };
    // Two of four is exactly the share: allowed.
    let half = case().prune().job("a", "fa").job("b", "fb");
    let half = half.running("a").running("b").running("x").running("y");
    assert_eq!(
        (half.reason("x"), half.reason("y")),
        (Reason::LeftGit, Reason::LeftGit)
    );
    // Three of four is over it: every one is refused, none is picked.
    let most = case().prune().job("a", "fa");
    let most = most.running("a").running("x").running("y").running("z");
    for id in ["x", "y", "z"] {
        assert_eq!(most.reason(id), too_many(3), "{id}");
    }
    // An explicit mass prune lifts the limit.
    let most = most.mass();
    assert!(
        ["x", "y", "z"]
            .iter()
            .all(|id| most.reason(id) == Reason::LeftGit)
    );
}

#[test]
fn opted_out_jobs_do_not_count_towards_the_share() {
    let case = case().prune().job("a", "fa").job("b", "fb");
    let case = case.running("a").running("b").kept("x").running("y");
    assert_eq!(case.reason("x"), refused(PruneRefusal::OptedOut));
    assert_eq!(case.reason("y"), Reason::LeftGit);
}

#[test]
fn a_source_whose_files_all_left_git_prunes_nothing_by_default() {
    // The classic accident: a wrong `paths` glob or branch matches no file at all.
    let case = case().prune().running("x").running("y");
    let actions = case.run();
    assert_eq!(actions.len(), 2);
    assert!(actions.iter().all(|a| a.kind() == ActionKind::PruneRefused));
    let text = actions[0].to_string();
    assert_eq!(
        text,
        format!(
            "prune refused prod/x ({}): its file left Git, but this pass would prune 2 of 2 jobs, more than max_prune_fraction = 0.5 (allow a mass prune to proceed)",
            path("x")
        )
    );
}

#[test]
fn refusals_read_well_in_a_log_line() {
    let table = [
        (PruneRefusal::Disabled, "prune is off for this source"),
        (
            PruneRefusal::FetchFailed {
                error: "timed out".into(),
            },
            "this pass's fetch failed (timed out)",
        ),
        (
            PruneRefusal::RenderFailed {
                files: 2,
                first: "jobs/a.nomad.hcl".into(),
            },
            "2 file(s) failed to render this pass (first: jobs/a.nomad.hcl)",
        ),
        (
            PruneRefusal::OptedOut,
            "its meta sets drover.prune = \"false\"",
        ),
    ];
    for (refusal, want) in table {
        assert_eq!(refusal.to_string(), want);
    }
}
