//! The words of a chat or webhook message: one outcome, or a summary of the outcomes of one
//! commit that came together (a commit that touches 300 jobs, an outage that fails 50). Short
//! and complete — source, job, commit (short, with its subject), what happened, the version, a
//! link — and stable: no durations or times in the text, so that the same outcome always
//! reads the same.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::events::Event;
use crate::events::short_commit as short;

/// One outcome a destination hears.
#[derive(Debug, Clone)]
pub struct Told {
    pub event: Event,
    /// The event's kind, or `recovered` for the first success after a failure.
    pub outcome: &'static str,
    /// The job's page, when `public_url` is set.
    pub link: Option<String>,
}

impl Told {
    /// `event` told as `outcome`, without its plan: the webhook's document is the whole event,
    /// and a commit of 300 jobs would send (and hold, until its window closes) 300 diffs. The
    /// job's page shows the plan.
    pub fn new(event: &Event, outcome: &'static str, link: Option<String>) -> Self {
        let event = Event {
            plan: None,
            ..event.clone()
        };
        Self {
            event,
            outcome,
            link,
        }
    }
}

/// What one message tells: outcomes of one source and commit.
#[derive(Debug, Clone)]
pub struct Message {
    pub source: String,
    pub commit: Option<String>,
    /// The commit's subject line, when the mirror has the commit.
    pub subject: Option<String>,
    pub told: Vec<Told>,
}

/// Job names listed in a summary line before "and N more".
const NAMES_SHOWN: usize = 5;

impl Message {
    /// For people: one line per outcome, or a summary line per outcome when there are many.
    pub fn text(&self) -> String {
        let mut head = format!("[{}]", self.source);
        if let Some(commit) = &self.commit {
            head.push_str(&format!(" {}", short(commit)));
            if let Some(subject) = &self.subject {
                head.push_str(&format!(" \"{subject}\""));
            }
            if let Some(signer) = self.told.iter().find_map(|t| t.event.signer.as_deref()) {
                head.push_str(&format!(" signed by {signer}"));
            }
        }
        if let [one] = self.told.as_slice() {
            let e = &one.event;
            let mut line = format!("{head}: {} {}", e.job, one.outcome.replace('_', " "));
            if let Some(v) = e.version {
                line.push_str(&format!(" (v{v})"));
            }
            if let Some(detail) = e.detail.lines().next().filter(|d| !d.is_empty()) {
                line.push_str(&format!(": {detail}"));
            }
            if let Some(link) = &one.link {
                line.push_str(&format!(" {link}"));
            }
            return line;
        }
        let mut by_outcome: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for t in &self.told {
            by_outcome.entry(t.outcome).or_default().push(&t.event.job);
        }
        let mut lines = vec![format!("{head}: {} outcomes", self.told.len())];
        for (outcome, jobs) in by_outcome {
            let mut names: Vec<&str> = jobs.iter().take(NAMES_SHOWN).copied().collect();
            names.sort_unstable();
            let more = match jobs.len().saturating_sub(NAMES_SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            let outcome = outcome.replace('_', " ");
            lines.push(format!(
                "{} {outcome}: {}{more}",
                jobs.len(),
                names.join(", ")
            ));
        }
        lines.join("\n")
    }

    /// For programs (the `webhook` kind): the outcomes as events, with the text.
    pub fn document(&self) -> Value {
        let events: Vec<Value> = self
            .told
            .iter()
            .map(|t| {
                let mut event = serde_json::to_value(&t.event).unwrap_or_default();
                if let Some(map) = event.as_object_mut() {
                    map.insert("outcome".into(), t.outcome.into());
                    if let Some(link) = &t.link {
                        map.insert("link".into(), link.clone().into());
                    }
                }
                event
            })
            .collect();
        json!({
            "source": self.source,
            "commit": self.commit,
            "subject": self.subject,
            "text": self.text(),
            "events": events,
        })
    }
}

/// At most `max` characters of `text`, cut with an ellipsis: what a forge or a chat takes.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max - 1).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    fn told(job: &str, kind: EventKind, outcome: &'static str) -> Told {
        let event = Event::new(kind, "prod", "default", job)
            .commit(Some("abcdef0123456789"))
            .version(Some(5))
            .detail("deployment of v5 failed: unhealthy\nmore")
            .plan("+/- Job: \"web\"\n");
        let link = format!("https://drover.example.com/status/jobs/default/{job}");
        Told::new(&event, outcome, Some(link))
    }

    fn message(told: Vec<Told>) -> Message {
        Message {
            source: "prod".into(),
            commit: Some("abcdef0123456789".into()),
            subject: Some("Bump web to 1.27".into()),
            told,
        }
    }

    #[test]
    fn one_outcome_is_one_complete_line() {
        let mut rolled_back = told("web", EventKind::RolledBack, "rolled_back");
        rolled_back.event.signer = Some("alice@example.com".into());
        let m = message(vec![rolled_back]);
        assert_eq!(
            m.text(),
            "[prod] abcdef0 \"Bump web to 1.27\" signed by alice@example.com: web rolled back (v5): deployment of v5 failed: unhealthy https://drover.example.com/status/jobs/default/web"
        );
        let doc = m.document();
        assert_eq!(doc["events"][0]["outcome"], "rolled_back");
        assert_eq!(doc["events"][0]["job"], "web");
        assert_eq!(doc["subject"], "Bump web to 1.27");
        assert!(doc["events"][0].get("plan").is_none(), "{doc}");
    }

    #[test]
    fn many_outcomes_are_one_summary() {
        let mut all: Vec<Told> = (0..298)
            .map(|i| told(&format!("job-{i:03}"), EventKind::Succeeded, "succeeded"))
            .collect();
        all.push(told("web", EventKind::Failed, "failed"));
        all.push(told("api", EventKind::Failed, "failed"));
        let text = message(all).text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "[prod] abcdef0 \"Bump web to 1.27\": 300 outcomes",
                "2 failed: api, web",
                "298 succeeded: job-000, job-001, job-002, job-003, job-004 and 293 more",
            ]
        );
    }
}
