//! The bounded history: the last [`PER_JOB`] events of each job, and no more than
//! [`MAX_HISTORY_BYTES`] over every job (the oldest event of all is dropped first), so that
//! thousands of jobs keep the state file and the daemon's memory small. A deployment's
//! progress replaces its previous progress event instead of piling up.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeSeq, Serializer};

use super::{Event, EventKind};

/// Events kept per job.
pub const PER_JOB: usize = 20;
/// What every job's events together may weigh in memory (see [`Event::weight`], plus the
/// history's own bookkeeping): some 5,000 events, the last one or two of each of 5,000 jobs,
/// a twentieth of the daemon's memory target. A plan's text weighs in too, so that events
/// with large plans keep fewer events, not more memory.
pub const MAX_HISTORY_BYTES: usize = 2 * 1024 * 1024;

/// Events by job (`namespace/job`), oldest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    jobs: HashMap<Arc<str>, VecDeque<(u64, Event)>>,
    /// Every kept event's sequence number and job, oldest first; entries of events already
    /// dropped by their job's own bound are skipped when met.
    order: VecDeque<(u64, Arc<str>)>,
    next: u64,
    bytes: usize,
}

fn job_key(namespace: &str, job: &str) -> String {
    format!("{namespace}/{job}")
}

/// What keeping one more event costs besides the event: its place in the order of all.
const BOOKKEEPING: usize = std::mem::size_of::<(u64, Arc<str>)>() + 8;

impl History {
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The job's events, newest first.
    pub fn of(&self, namespace: &str, job: &str) -> Option<impl Iterator<Item = &Event>> {
        let events = self.jobs.get(job_key(namespace, job).as_str())?;
        Some(events.iter().rev().map(|(_, e)| e))
    }

    /// Every kept event of `source` about `commit`, oldest first.
    pub fn of_commit(&self, source: &str, commit: &str) -> Vec<Event> {
        let mut found: Vec<&(u64, Event)> = self
            .jobs
            .values()
            .flatten()
            .filter(|(_, e)| e.source == source && e.commit.as_deref() == Some(commit))
            .collect();
        found.sort_by_key(|(seq, _)| *seq);
        found.into_iter().map(|(_, e)| e.clone()).collect()
    }

    /// The job's newest event.
    pub fn last(&self, namespace: &str, job: &str) -> Option<&Event> {
        self.jobs
            .get(job_key(namespace, job).as_str())
            .and_then(|events| events.back())
            .map(|(_, e)| e)
    }

    /// Keeps `event`, dropping what the bounds require.
    pub fn push(&mut self, event: Event) {
        let name = job_key(&event.namespace, &event.job);
        let key = match self.jobs.get_key_value(name.as_str()) {
            Some((key, _)) => key.clone(),
            None => Arc::from(name),
        };
        let events = self.jobs.entry(key.clone()).or_default();
        let replaces = events.back().is_some_and(|(_, last)| {
            event.kind == EventKind::Progress
                && last.kind == EventKind::Progress
                && last.deployment == event.deployment
        });
        if replaces && let Some((_, last)) = events.pop_back() {
            self.bytes -= last.weight() + BOOKKEEPING;
        }
        let seq = self.next;
        self.next += 1;
        self.bytes += event.weight() + BOOKKEEPING;
        events.push_back((seq, event));
        if events.len() > PER_JOB
            && let Some((_, dropped)) = events.pop_front()
        {
            self.bytes -= dropped.weight() + BOOKKEEPING;
        }
        self.order.push_back((seq, key));
        while self.bytes > MAX_HISTORY_BYTES {
            self.drop_oldest();
        }
        // Entries whose events a job's own bound dropped pile up in `order` otherwise.
        if self.order.len() > 2 * self.len() + PER_JOB {
            self.compact();
        }
    }

    fn len(&self) -> usize {
        self.jobs.values().map(VecDeque::len).sum()
    }

    fn drop_oldest(&mut self) {
        while let Some((seq, key)) = self.order.pop_front() {
            let Some(events) = self.jobs.get_mut(&key) else {
                continue;
            };
            if events.front().is_some_and(|(s, _)| *s == seq) {
                if let Some((_, e)) = events.pop_front() {
                    self.bytes -= e.weight() + BOOKKEEPING;
                }
                if events.is_empty() {
                    self.jobs.remove(&key);
                }
                return;
            }
        }
    }

    fn compact(&mut self) {
        let jobs = &self.jobs;
        self.order.retain(|(seq, key)| {
            jobs.get(key)
                .is_some_and(|events| events.binary_search_by_key(seq, |(s, _)| *s).is_ok())
        });
    }

    /// Every kept event, oldest first.
    fn in_order(&self) -> impl Iterator<Item = &Event> {
        self.order.iter().filter_map(|(seq, key)| {
            let events = self.jobs.get(key)?;
            let i = events.binary_search_by_key(seq, |(s, _)| *s).ok()?;
            Some(&events[i].1)
        })
    }
}

/// Two histories are equal when they keep the same events in the same order.
impl PartialEq for History {
    fn eq(&self, other: &Self) -> bool {
        self.in_order().eq(other.in_order())
    }
}

/// Written as one list, oldest first, so that reading it back keeps the order of drops.
impl Serialize for History {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for event in self.in_order() {
            seq.serialize_element(event)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for History {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let events = Vec::<Event>::deserialize(deserializer)?;
        let mut history = Self::default();
        for event in events {
            history.push(event);
        }
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(job: &str, kind: EventKind, detail: &str) -> Event {
        Event::new(kind, "prod", "default", job).detail(detail)
    }

    #[test]
    fn each_job_keeps_its_last_twenty_newest_first() {
        let mut history = History::default();
        for i in 0..30 {
            history.push(event("web", EventKind::Registered, &i.to_string()));
        }
        history.push(event("api", EventKind::Pruned, "x"));
        let web: Vec<&str> = history
            .of("default", "web")
            .expect("web")
            .map(|e| e.detail.as_str())
            .collect();
        assert_eq!(web.len(), PER_JOB);
        assert_eq!(web.first(), Some(&"29"));
        assert_eq!(web.last(), Some(&"10"));
        assert_eq!(history.of("default", "api").expect("api").count(), 1);
        assert!(history.of("default", "db").is_none());
    }

    #[test]
    fn progress_of_one_deployment_replaces_the_previous_progress() {
        let mut history = History::default();
        let progress = |d: &str, n: &str| event("web", EventKind::Progress, n).deployment(Some(d));
        history.push(event("web", EventKind::Registered, "r"));
        history.push(progress("d1", "1"));
        history.push(progress("d1", "2"));
        history.push(progress("d2", "3"));
        let details: Vec<&str> = history
            .of("default", "web")
            .expect("web")
            .map(|e| e.detail.as_str())
            .collect();
        assert_eq!(details, ["3", "2", "r"]);
    }

    #[test]
    fn the_whole_history_stays_under_its_byte_bound_dropping_the_oldest() {
        let mut history = History::default();
        let detail = "x".repeat(900);
        let jobs = 5_000;
        for i in 0..jobs {
            history.push(event(&format!("job-{i}"), EventKind::Registered, &detail));
        }
        assert!(history.bytes <= MAX_HISTORY_BYTES);
        assert!(
            history.of("default", "job-0").is_none(),
            "the oldest went first"
        );
        assert!(
            history
                .of("default", &format!("job-{}", jobs - 1))
                .is_some()
        );
        assert!(history.order.len() <= 2 * history.len() + PER_JOB);
    }

    #[test]
    fn plans_as_large_as_they_may_be_keep_the_history_under_its_bound() {
        let mut history = History::default();
        let plan = "  + Datacenters: \"dc1\"\n".repeat(crate::events::PLAN_MAX_BYTES / 16);
        for i in 0..400 {
            history.push(event(&format!("job-{i}"), EventKind::Registered, "r").plan(&plan));
        }
        assert!(history.bytes <= MAX_HISTORY_BYTES);
        let kept = history.len();
        assert!(
            (100..140).contains(&kept),
            "about 2 MiB / 16 KiB plans: {kept}"
        );
        assert!(history.of("default", "job-399").is_some());
    }

    #[test]
    fn it_reads_back_in_the_same_order() {
        let mut history = History::default();
        for i in 0..25 {
            history.push(event(
                ["a", "b"][i % 2],
                EventKind::Registered,
                &i.to_string(),
            ));
        }
        let text = serde_json::to_string(&history).expect("encode");
        let back: History = serde_json::from_str(&text).expect("decode");
        let order = |h: &History| h.in_order().map(|e| e.detail.clone()).collect::<Vec<_>>();
        assert_eq!(order(&back), order(&history));
        assert_eq!(back.of("default", "a").expect("a").count(), 13);
    }
}
