//! The [`Case`] builder, and the decision for each rendered job, one table row per branch.
//! Blocked files are in `tests_blocked.rs`, pruning in `tests_prune.rs`.

use std::time::{Duration, SystemTime};

use super::*;
use crate::events::{Outcome, Tracked};
use crate::state::Ownership;

const SOURCE: &str = "platform";
pub(super) const MIN: Duration = Duration::from_secs(60);

pub(super) fn key(id: &str) -> JobKey {
    JobKey::new("prod", id)
}

pub(super) fn path(id: &str) -> String {
    format!("jobs/{id}.nomad.hcl")
}

/// One pass's inputs, built up a call at a time.
#[derive(Debug, Clone)]
pub(super) struct Case {
    desired: Desired,
    live: Vec<LiveJob>,
    state: SourceState,
    settings: Settings,
    now: SystemTime,
}

/// A source with prune off, drift checks every 5 minutes, nothing rendered or running.
pub(super) fn case() -> Case {
    Case {
        desired: Desired::default(),
        live: Vec::new(),
        state: SourceState::default(),
        settings: Settings {
            source: SOURCE.to_owned(),
            prune: false,
            max_prune_fraction: 0.5,
            allow_mass_prune: false,
            drift_interval: 5 * MIN,
            full: false,
        },
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

impl Case {
    /// `jobs/ID.nomad.hcl` rendered to job `prod/ID` with fingerprint `fp`.
    pub(super) fn job(self, id: &str, fp: &str) -> Self {
        self.job_at(id, &path(id), fp)
    }

    pub(super) fn job_at(mut self, id: &str, file: &str, fp: &str) -> Self {
        self.desired.jobs.push(DesiredJob {
            key: key(id),
            path: file.to_owned(),
            fingerprint: fp.to_owned(),
        });
        self
    }

    pub(super) fn blocked(mut self, file: &str, id: Option<&str>, problem: Problem) -> Self {
        self.desired.blocked.push(BlockedFile {
            path: file.to_owned(),
            job: id.map(key),
            problem,
            message: format!("{file}:3:5: something is wrong"),
        });
        self
    }

    /// A running job of this source, from `jobs/ID.nomad.hcl` at commit `c1`.
    pub(super) fn running(self, id: &str) -> Self {
        self.live_owned(id, SOURCE, true, false)
    }

    pub(super) fn stopped(self, id: &str) -> Self {
        self.live_owned(id, SOURCE, true, true)
    }

    /// A running job of this source whose meta sets `drover.prune = "false"`.
    pub(super) fn kept(self, id: &str) -> Self {
        self.live_owned(id, SOURCE, false, false)
    }

    pub(super) fn owned_by(self, id: &str, source: &str) -> Self {
        self.live_owned(id, source, true, false)
    }

    fn live_owned(mut self, id: &str, source: &str, prunable: bool, stopped: bool) -> Self {
        let owner = Ownership {
            source: source.to_owned(),
            path: path(id),
            commit: "c1".to_owned(),
            prunable,
        };
        self.live.push(LiveJob {
            key: key(id),
            owner: Some(owner),
            stopped,
            version: None,
        });
        self
    }

    /// A running job without any ownership meta (deployed by hand).
    pub(super) fn unmanaged(mut self, id: &str) -> Self {
        self.live.push(LiveJob {
            key: key(id),
            owner: None,
            stopped: false,
            version: Some(7),
        });
        self
    }

    /// Drover applied `fp` from commit `c1`, planned last `checked_ago` before now.
    pub(super) fn applied(mut self, id: &str, fp: &str, checked_ago: Duration) -> Self {
        let mut record = JobRecord::new(path(id));
        record.applied(fp, "c1", self.now - checked_ago);
        self.state.jobs.insert(key(id), record);
        self
    }

    fn record(mut self, id: &str, change: impl FnOnce(&mut JobRecord)) -> Self {
        change(self.state.jobs.entry(key(id)).or_default());
        self
    }

    /// Drover registered `fp` and its deployment failed.
    pub(super) fn failed(self, id: &str, fp: &str) -> Self {
        let now = self.now;
        let failed = Tracked {
            outcome: Outcome::Failed {
                description: "Failed due to unhealthy allocations".to_owned(),
            },
            deployment_id: Some("d-1".to_owned()),
            job_version: Some(2),
            healthy: 0,
            unhealthy: 1,
            reasons: Vec::new(),
            reverted_to: Some(1),
        };
        self.record(id, |r| {
            r.applied(fp, "c2", now);
            r.finished(fp, failed, now);
        })
    }

    /// The state file was lost: records rebuilt from the live jobs' meta.
    pub(super) fn rebuilt(mut self) -> Self {
        self.state = SourceState::default();
        self.state.rebuild_from_live(SOURCE, &self.live);
        self
    }

    pub(super) fn prune(mut self) -> Self {
        self.settings.prune = true;
        self
    }

    /// A pass over the source ended before.
    pub(super) fn passed_before(mut self) -> Self {
        self.state.last_pass = Some(crate::state::PassRecord {
            at: self.now,
            commit: None,
            converged: true,
            summary: String::new(),
        });
        self
    }

    pub(super) fn fetch_failed(mut self) -> Self {
        self.desired.fetch_error = Some("connection refused".to_owned());
        self
    }

    pub(super) fn mass(mut self) -> Self {
        self.settings.allow_mass_prune = true;
        self
    }

    pub(super) fn full(mut self) -> Self {
        self.settings.full = true;
        self
    }

    /// The live jobs as the state knows them, when the list is not needed.
    pub(super) fn known(&self) -> Option<Vec<LiveJob>> {
        let c = self;
        live_from_state(&c.desired, &c.state, &c.settings, c.now)
    }

    /// The actions when reconcile is given the live jobs the state knows of instead.
    pub(super) fn run_known(&self) -> Option<Vec<Action>> {
        let c = self;
        let live = self.known()?;
        Some(reconcile(&c.desired, &live, &c.state, &c.settings, c.now))
    }

    pub(super) fn run(&self) -> Vec<Action> {
        let c = self;
        reconcile(&c.desired, &c.live, &c.state, &c.settings, c.now)
    }

    /// The reasons of every action about job `id`.
    pub(super) fn reasons(&self, id: &str) -> Vec<Reason> {
        let key = key(id);
        let about = |a: &&Action| a.job.as_ref() == Some(&key);
        self.run()
            .iter()
            .filter(about)
            .map(|a| a.reason.clone())
            .collect()
    }

    /// The one reason for job `id`; panics unless there is exactly one action about it.
    pub(super) fn reason(&self, id: &str) -> Reason {
        match self.reasons(id).as_slice() {
            [one] => one.clone(),
            other => panic!("expected one action for {id}, got {other:?}"),
        }
    }
}

#[test]
fn each_rendered_job_gets_the_action_its_inputs_call_for() {
    let web = || case().job("web", "f1");
    let known_bad = Reason::Blocked(Block::KnownBad {
        fingerprint: "f2".into(),
    });
    let table = [
        ("new job", web(), Reason::NotInNomad),
        (
            "stopped, never applied",
            web().stopped("web"),
            Reason::StoppedInNomad,
        ),
        (
            "inputs changed",
            case()
                .job("web", "f2")
                .running("web")
                .applied("web", "f1", MIN),
            Reason::InputsChanged {
                applied_commit: Some("c1".into()),
            },
        ),
        (
            "unchanged",
            web().running("web").applied("web", "f1", MIN),
            Reason::Unchanged,
        ),
        (
            "drift interval elapsed",
            web().running("web").applied("web", "f1", 5 * MIN),
            Reason::DriftCheckDue,
        ),
        (
            "never checked",
            web()
                .running("web")
                .applied("web", "f1", MIN)
                .record("web", |r| r.last_drift_check = None),
            Reason::DriftCheckDue,
        ),
        (
            "clock went back",
            web().running("web").record("web", |r| {
                r.applied_fingerprint = Some("f1".into());
                r.last_drift_check =
                    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000));
            }),
            Reason::DriftCheckDue,
        ),
        (
            "--full",
            web().running("web").applied("web", "f1", MIN).full(),
            Reason::FullPass,
        ),
        (
            "stopped outside Git",
            web().stopped("web").applied("web", "f1", MIN),
            Reason::GoneFromNomad { stopped: true },
        ),
        (
            "removed outside Git",
            web().applied("web", "f1", MIN),
            Reason::GoneFromNomad { stopped: false },
        ),
        (
            "changed while removed",
            case().job("web", "f2").applied("web", "f1", MIN),
            Reason::NotInNomad,
        ),
        (
            "state lost: rebuilt from meta",
            web().running("web").rebuilt(),
            Reason::NotRecorded,
        ),
        (
            "deployed by hand, no meta",
            web().unmanaged("web"),
            Reason::Adopt,
        ),
        (
            "another source's job",
            web().owned_by("web", "billing"),
            Reason::Blocked(Block::OwnedElsewhere {
                source: "billing".into(),
            }),
        ),
        (
            "known-bad spec",
            case().job("web", "f2").running("web").failed("web", "f2"),
            known_bad.clone(),
        ),
        (
            "known-bad, not running",
            case().job("web", "f2").failed("web", "f2"),
            known_bad,
        ),
        (
            "known-bad, then a fix",
            case().job("web", "f3").running("web").failed("web", "f2"),
            Reason::NotRecorded,
        ),
    ];
    for (name, case, want) in table {
        assert_eq!(case.reason("web"), want, "{name}");
    }
}

#[test]
fn nothing_is_done_for_a_source_with_no_files_and_no_jobs() {
    assert_eq!(case().run(), []);
    // Jobs of other sources and jobs deployed by hand are not this source's business.
    assert_eq!(
        case()
            .prune()
            .mass()
            .owned_by("x", "billing")
            .unmanaged("y")
            .run(),
        []
    );
}
