//! Each deployed commit's state on the forge, from the events: `pending` once a pass
//! registered a job of the commit, then one final state once the pass has ended and every job
//! it registered (or blocked) has ended too — `success`, `failure` (a deployment failed or was
//! rolled back, or a job was blocked), or `error` when a newer commit superseded a deployment
//! before it ended.
//!
//! Pure: no I/O, no clock. Owns the bookkeeping per (source, commit); never sends anything.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::events::{Event, EventKind, short_commit as short};

/// A commit's state, in the forges' common words (each provider maps them to its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitState {
    Pending,
    Success,
    Failure,
    /// Superseded before it finished.
    Error,
}

impl CommitState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
        }
    }

    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

/// A state to set on a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub source: String,
    pub commit: String,
    pub state: CommitState,
    /// Short and stable (no durations): `3 jobs deployed`, `web: deployment of v5 failed...`.
    pub description: String,
    /// The one job the state is about (`namespace`, `job`), for a link to its page.
    pub job: Option<(String, String)>,
}

/// How one job of a commit ended, so far.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    InFlight,
    Succeeded,
    /// What went wrong, for the description.
    Failed(String),
    /// The newer commit, when drover registered it.
    Superseded(Option<String>),
}

#[derive(Debug, Default)]
struct Commit {
    /// By `namespace/job`, the namespace and job kept for links.
    jobs: BTreeMap<String, (String, String, End)>,
    pass_ended: bool,
}

/// Commits followed at once; past this the oldest is forgotten (a flood of commits whose
/// deployments never end must not grow without bound).
const MAX_COMMITS: usize = 256;

/// The commits being deployed, per source.
#[derive(Debug, Default)]
pub struct Commits {
    open: HashMap<(String, String), Commit>,
    /// Oldest first, for the bound.
    order: VecDeque<(String, String)>,
    /// The commit each job was last registered from, per source and job.
    latest: HashMap<(String, String), String>,
}

impl Commits {
    /// What `event` changes on the forge: nothing, `pending`, or final states (the event's own
    /// commit's, and an older commit's that it superseded).
    pub fn on_event(&mut self, event: &Event) -> Vec<Update> {
        let Some(commit) = event.commit.clone() else {
            return Vec::new();
        };
        let source = event.source.clone();
        let job = format!("{}/{}", event.namespace, event.job);
        let mut updates = Vec::new();
        match event.kind {
            EventKind::Registered => {
                let before = self
                    .latest
                    .insert((source.clone(), job.clone()), commit.clone());
                if let Some(older) = before.filter(|c| *c != commit) {
                    let end = End::Superseded(Some(commit.clone()));
                    if self.set(&source, &older, &job, end) {
                        updates.extend(self.settle(&source, &older));
                    }
                }
                let new = !self.open.contains_key(&(source.clone(), commit.clone()));
                self.commit(&source, &commit).jobs.insert(
                    job,
                    (event.namespace.clone(), event.job.clone(), End::InFlight),
                );
                if new {
                    updates.push(Update {
                        source,
                        commit,
                        state: CommitState::Pending,
                        description: "deploying".to_owned(),
                        job: None,
                    });
                }
                return updates;
            }
            EventKind::Blocked => {
                let blocked = End::Failed(format!("blocked: {}", first_line(&event.detail)));
                self.commit(&source, &commit)
                    .jobs
                    .insert(job, (event.namespace.clone(), event.job.clone(), blocked));
            }
            EventKind::Succeeded => {
                self.set(&source, &commit, &job, End::Succeeded);
            }
            EventKind::Failed | EventKind::RolledBack => {
                let end = End::Failed(first_line(&event.detail).to_owned());
                self.set(&source, &commit, &job, end);
            }
            EventKind::Superseded => {
                let newer = self
                    .latest
                    .get(&(source.clone(), job.clone()))
                    .filter(|c| **c != commit)
                    .cloned();
                self.set(&source, &commit, &job, End::Superseded(newer));
            }
            EventKind::PassEnded => {
                if let Some(c) = self.open.get_mut(&(source.clone(), commit.clone())) {
                    c.pass_ended = true;
                }
            }
            _ => return updates,
        }
        updates.extend(self.settle(&source, &commit));
        updates
    }

    /// Whether `commit` of `source` is being followed.
    pub fn follows(&self, source: &str, commit: &str) -> bool {
        self.open
            .contains_key(&(source.to_owned(), commit.to_owned()))
    }

    /// Follows a commit again from its kept events (oldest first), as after a restart or a
    /// change of leader: its pass ended before them. Returns every update they make; what was
    /// already sent is the caller's to skip.
    pub fn replay(&mut self, events: &[Event]) -> Vec<Update> {
        // Apart from the commits followed now: a kept registration is older than any this
        // process saw (a settled commit is replayed too, when an end comes after its verdict),
        // so it must neither supersede a newer commit's deployment nor pass for the latest.
        let mut kept = Commits::default();
        let mut updates = Vec::new();
        for event in events {
            // A new leader keeps no registration made by the leader before it: the end of a
            // job's deployment says the job was registered from this commit all the same.
            if ends(event.kind) && !kept.has_job(event) {
                let mut registered = event.clone();
                registered.kind = EventKind::Registered;
                updates.extend(kept.on_event(&registered));
            }
            updates.extend(kept.on_event(event));
        }
        if let Some(last) = events.last() {
            let mut ended = Event::new(EventKind::PassEnded, &last.source, "", "");
            ended.commit.clone_from(&last.commit);
            updates.extend(kept.on_event(&ended));
        }
        for ((source, commit), open) in kept.open {
            *self.commit(&source, &commit) = open;
        }
        for (job, commit) in kept.latest {
            self.latest.entry(job).or_insert(commit);
        }
        updates
    }

    /// Whether the job of `event` is one of its open commit's.
    fn has_job(&self, event: &Event) -> bool {
        let Some(commit) = &event.commit else {
            return false;
        };
        let job = format!("{}/{}", event.namespace, event.job);
        self.open
            .get(&(event.source.clone(), commit.clone()))
            .is_some_and(|c| c.jobs.contains_key(&job))
    }

    fn commit(&mut self, source: &str, commit: &str) -> &mut Commit {
        let key = (source.to_owned(), commit.to_owned());
        if !self.open.contains_key(&key) {
            self.order.push_back(key.clone());
            if self.order.len() > MAX_COMMITS
                && let Some(oldest) = self.order.pop_front()
            {
                self.open.remove(&oldest);
            }
        }
        self.open.entry(key).or_default()
    }

    /// Sets how a job of an open commit ended; false when the commit or job is not followed
    /// or already ended (a failure stays a failure: a rollback event refines its words only).
    fn set(&mut self, source: &str, commit: &str, job: &str, end: End) -> bool {
        let Some(c) = self.open.get_mut(&(source.to_owned(), commit.to_owned())) else {
            return false;
        };
        let Some((_, _, slot)) = c.jobs.get_mut(job) else {
            return false;
        };
        match (&*slot, &end) {
            (End::InFlight, _) | (End::Failed(_), End::Failed(_)) => {
                *slot = end;
                true
            }
            _ => false,
        }
    }

    /// The commit's final state, once its pass ended and none of its jobs is in flight.
    fn settle(&mut self, source: &str, commit: &str) -> Option<Update> {
        let key = (source.to_owned(), commit.to_owned());
        let c = self.open.get(&key)?;
        if !c.pass_ended || c.jobs.values().any(|(_, _, e)| *e == End::InFlight) {
            return None;
        }
        let c = self.open.remove(&key)?;
        self.order.retain(|k| *k != key);
        Some(verdict(source, commit, &c))
    }
}

/// Whether an event of `kind` ends a job's deployment.
pub fn ends(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Succeeded | EventKind::Failed | EventKind::RolledBack | EventKind::Superseded
    )
}

fn verdict(source: &str, commit: &str, c: &Commit) -> Update {
    let update = |state, description: String, job| Update {
        source: source.to_owned(),
        commit: commit.to_owned(),
        state,
        description,
        job,
    };
    let failed: Vec<_> = c
        .jobs
        .values()
        .filter_map(|(ns, id, e)| match e {
            End::Failed(why) => Some((ns, id, why)),
            _ => None,
        })
        .collect();
    if let Some((ns, id, why)) = failed.first() {
        let more = match failed.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        let job = (failed.len() == 1).then(|| ((*ns).clone(), (*id).clone()));
        return update(CommitState::Failure, format!("{id}: {why}{more}"), job);
    }
    let superseded = c.jobs.values().find_map(|(_, _, e)| match e {
        End::Superseded(by) => Some(by),
        _ => None,
    });
    if let Some(by) = superseded {
        let description = match by {
            Some(newer) => format!("superseded by {}", short(newer)),
            None => "superseded by a newer version of a job".to_owned(),
        };
        return update(CommitState::Error, description, None);
    }
    let description = match c.jobs.len() {
        1 => "1 job deployed".to_owned(),
        n => format!("{n} jobs deployed"),
    };
    let job = (c.jobs.len() == 1)
        .then(|| {
            c.jobs
                .values()
                .next()
                .map(|(ns, id, _)| (ns.clone(), id.clone()))
        })
        .flatten();
    update(CommitState::Success, description, job)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: &str = "1111111111111111111111111111111111111111";
    const C2: &str = "2222222222222222222222222222222222222222";

    fn event(kind: EventKind, job: &str, commit: &str, detail: &str) -> Event {
        Event::new(kind, "prod", "default", job)
            .commit(Some(commit))
            .detail(detail)
    }

    fn pass_ended(commit: &str) -> Event {
        Event::new(EventKind::PassEnded, "prod", "", "").commit(Some(commit))
    }

    fn states(updates: &[Update]) -> Vec<(&str, CommitState, &str)> {
        updates
            .iter()
            .map(|u| (&u.commit[..1], u.state, u.description.as_str()))
            .collect()
    }

    #[test]
    fn pending_once_then_success_when_the_pass_and_every_job_ended() {
        let mut c = Commits::default();
        let first = c.on_event(&event(EventKind::Registered, "web", C1, ""));
        assert_eq!(states(&first), [("1", CommitState::Pending, "deploying")]);
        assert!(
            c.on_event(&event(EventKind::Registered, "api", C1, ""))
                .is_empty()
        );
        assert!(
            c.on_event(&event(EventKind::Succeeded, "web", C1, ""))
                .is_empty()
        );
        assert!(
            c.on_event(&pass_ended(C1)).is_empty(),
            "api is still deploying"
        );
        let done = c.on_event(&event(EventKind::Succeeded, "api", C1, ""));
        assert_eq!(
            states(&done),
            [("1", CommitState::Success, "2 jobs deployed")]
        );
        assert!(
            c.on_event(&event(EventKind::Succeeded, "api", C1, ""))
                .is_empty()
        );
    }

    #[test]
    fn a_failure_names_the_job_and_what_happened() {
        let mut c = Commits::default();
        c.on_event(&event(EventKind::Registered, "web", C1, ""));
        c.on_event(&event(EventKind::Registered, "api", C1, ""));
        c.on_event(&pass_ended(C1));
        c.on_event(&event(EventKind::Succeeded, "api", C1, ""));
        let failed =
            "deployment of v5 failed: Failed due to unhealthy allocations; rolled back to v4";
        let done = c.on_event(&event(EventKind::Failed, "web", C1, failed));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].state, CommitState::Failure);
        assert_eq!(done[0].description, format!("web: {failed}"));
        assert_eq!(done[0].job, Some(("default".into(), "web".into())));
        let rolled = c.on_event(&event(EventKind::RolledBack, "web", C1, "rolled back"));
        assert!(rolled.is_empty(), "the commit was settled already");
    }

    #[test]
    fn a_commit_that_only_blocks_fails_at_the_end_of_its_pass() {
        let mut c = Commits::default();
        let blocked = c.on_event(&event(
            EventKind::Blocked,
            "web",
            C1,
            "render error: x\nmore",
        ));
        assert!(blocked.is_empty(), "the pass may register more");
        let done = c.on_event(&pass_ended(C1));
        assert_eq!(
            states(&done),
            [("1", CommitState::Failure, "web: blocked: render error: x")]
        );
    }

    #[test]
    fn a_newer_commit_supersedes_an_older_ones_deployment() {
        let mut c = Commits::default();
        c.on_event(&event(EventKind::Registered, "web", C1, ""));
        c.on_event(&pass_ended(C1));
        let updates = c.on_event(&event(EventKind::Registered, "web", C2, ""));
        assert_eq!(
            states(&updates),
            [
                ("1", CommitState::Error, "superseded by 2222222"),
                ("2", CommitState::Pending, "deploying"),
            ]
        );
        let later = c.on_event(&event(EventKind::Superseded, "web", C1, "superseded"));
        assert!(later.is_empty(), "told once");
    }

    #[test]
    fn a_commit_is_followed_again_from_its_kept_events() {
        let kept = [
            event(EventKind::Registered, "web", C1, ""),
            event(EventKind::Registered, "api", C1, ""),
            event(EventKind::Succeeded, "api", C1, ""),
            event(EventKind::Succeeded, "web", C1, ""),
        ];
        let mut c = Commits::default();
        let updates = c.replay(&kept);
        assert_eq!(
            states(&updates),
            [
                ("1", CommitState::Pending, "deploying"),
                ("1", CommitState::Success, "2 jobs deployed"),
            ]
        );
        let mut c = Commits::default();
        let updates = c.replay(&kept[..3]);
        assert_eq!(states(&updates), [("1", CommitState::Pending, "deploying")]);
        assert!(c.follows("prod", C1), "web is still deploying");
    }

    #[test]
    fn events_of_commits_never_registered_here_change_nothing() {
        let mut c = Commits::default();
        assert!(
            c.on_event(&event(EventKind::Succeeded, "web", C1, ""))
                .is_empty()
        );
        assert!(c.on_event(&pass_ended(C1)).is_empty());
        assert!(
            c.on_event(&event(EventKind::DriftFound, "web", C1, ""))
                .is_empty()
        );
    }
}
