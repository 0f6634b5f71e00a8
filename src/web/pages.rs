//! The HTML of each page, from the board's document and the events' history. Every string
//! from Git, Nomad or the configuration goes through maud, which escapes it.

use std::cmp::Ordering;
use std::time::{Duration, SystemTime};

use maud::{DOCTYPE, Markup, html};

use crate::config::Config;
use crate::events::{Event, EventKind, GroupProgress, History, short_commit};
use crate::source::CommitSummary;
use crate::status::{Document, JobState, JobStatus, ObjectStatus, Reachability, SourceStatus};

/// Jobs per page of a source's table.
pub const PAGE_SIZE: usize = 500;
/// Problems listed at the top of the overview; the rest are on the sources' pages.
const PROBLEMS_SHOWN: usize = 20;
/// Jobs named on a source's card of the overview, so that a small setup is seen whole on one
/// page; a larger one is counted there and listed on the source's page.
const JOBS_SHOWN: usize = 50;

/// Links out of drover: a commit on its forge, a job in Nomad's UI, from the configuration.
pub struct Links<'a> {
    config: &'a Config,
}

impl<'a> Links<'a> {
    pub fn new(config: &'a Config) -> Self {
        Self { config }
    }

    fn commit(&self, source: &str, commit: &str) -> Option<String> {
        let source = self.config.sources.iter().find(|s| s.name == source)?;
        source.commit_link(commit)
    }

    fn nomad_job(&self, source: &str, namespace: &str, job: &str) -> Option<String> {
        let source = self.config.sources.iter().find(|s| s.name == source)?;
        let base = source.cluster.ui_url.as_ref()?;
        Some(format!(
            "{}/ui/jobs/{}@{}",
            base.as_str().trim_end_matches('/'),
            encode(job, false),
            encode(namespace, false)
        ))
    }
}

/// The state filter, sort order and page of a source's table, from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobsQuery {
    pub state: Option<JobState>,
    pub sort: Sort,
    pub descending: bool,
    /// From 1.
    pub page: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    Namespace,
    #[default]
    Job,
    File,
    State,
    Version,
    Changed,
}

impl Sort {
    const ALL: [(Sort, &'static str); 6] = [
        (Sort::Namespace, "namespace"),
        (Sort::Job, "job"),
        (Sort::File, "file"),
        (Sort::State, "state"),
        (Sort::Version, "version"),
        (Sort::Changed, "changed"),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("job", |(_, n)| n)
    }
}

impl JobsQuery {
    /// `state=failed&sort=-changed&page=2`; what it does not understand is left at its default.
    pub fn parse(query: &str) -> Self {
        let mut parsed = Self {
            page: 1,
            ..Self::default()
        };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "state" => parsed.state = JobState::ALL.into_iter().find(|s| s.as_str() == value),
                "sort" => {
                    let (descending, name) = match value.strip_prefix('-') {
                        Some(name) => (true, name),
                        None => (false, value.as_ref()),
                    };
                    if let Some((sort, _)) = Sort::ALL.iter().find(|(_, n)| *n == name) {
                        parsed.sort = *sort;
                        parsed.descending = descending;
                    }
                }
                "page" => parsed.page = value.parse().unwrap_or(1).max(1),
                _ => {}
            }
        }
        parsed
    }

    /// This query's address with some of its parts changed.
    fn href(
        &self,
        source: &str,
        state: Option<JobState>,
        sort: (Sort, bool),
        page: usize,
    ) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(state) = state {
            query.append_pair("state", state.as_str());
        }
        let (by, descending) = sort;
        if by != Sort::Job || descending {
            let name = if descending {
                format!("-{}", by.name())
            } else {
                by.name().to_owned()
            };
            query.append_pair("sort", &name);
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        let path = format!("/ui/sources/{}", encode(source, false));
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        }
    }
}

/// `/`: every source, what is wrong first, the leader and Nomad.
pub fn overview_page(
    doc: &Document<'_>,
    reachability: &Reachability,
    links: &Links<'_>,
    fragment: bool,
) -> Markup {
    let problems: Vec<(&SourceStatus, &JobStatus)> = doc
        .sources
        .iter()
        .flat_map(|s| s.jobs.iter().map(move |j| (*s, j)))
        .filter(|(_, j)| matches!(j.state, JobState::Failed | JobState::Blocked))
        .collect();
    let object_problems: Vec<(&SourceStatus, &ObjectStatus)> = doc
        .sources
        .iter()
        .flat_map(|s| s.objects.iter().map(move |o| (*s, o)))
        .filter(|(_, o)| o.is_problem())
        .collect();
    let failing_sources: Vec<&SourceStatus> = doc
        .sources
        .iter()
        .copied()
        .filter(|s| s.last_error.is_some())
        .collect();
    let body = html! {
        main data-live="overview" {
            h1 { "Overview" }
            @if !failing_sources.is_empty() || !problems.is_empty() || !object_problems.is_empty() || !reachability.unreachable.is_empty() {
                section.alerts {
                    h2 { "Needs attention" }
                    ul {
                        @for line in &reachability.unreachable { li { (line) } }
                        @for s in &failing_sources {
                            li {
                                "source " a href=(source_href(&s.name)) { (s.name) } ": "
                                (s.last_error.as_deref().unwrap_or_default())
                            }
                        }
                        @for (s, j) in problems.iter().take(PROBLEMS_SHOWN) {
                            li {
                                (badge(j.state)) " "
                                (job_link(j)) " (" (s.name) ")"
                                @if let Some(e) = &j.last_error { ": " (first_line(e)) }
                            }
                        }
                        @if problems.len() > PROBLEMS_SHOWN {
                            li.muted { (problems.len() - PROBLEMS_SHOWN) " more on the sources' pages" }
                        }
                        @for (s, o) in object_problems.iter().take(PROBLEMS_SHOWN) {
                            li {
                                (state_badge(o.state)) " " (o.object) " ("
                                a href=(source_href(&s.name)) { (s.name) } ")"
                                @if !o.detail.is_empty() { ": " (first_line(&o.detail)) }
                            }
                        }
                        @if object_problems.len() > PROBLEMS_SHOWN {
                            li.muted { (object_problems.len() - PROBLEMS_SHOWN) " more on the sources' pages" }
                        }
                    }
                }
            }
            section.card {
                "drover " (doc.version) " · role " strong { (doc.role) }
                @if let Some(leader) = doc.leader {
                    " · leader " (leader.hostname) " (" (leader.instance) ", since " (leader.since) ")"
                }
                " · Nomad: "
                @match reachability.answered_ago {
                    Some(ago) if reachability.unreachable.is_empty() => { "answered " (ago_text(ago)) " ago" }
                    Some(_) => { strong { "unreachable" } }
                    None => { span.muted { "not reached yet" } }
                }
            }
            @if doc.sources.is_empty() {
                p.muted { "No source is configured." }
            }
            @for s in &doc.sources {
                section.card {
                    h2 { a href=(source_href(&s.name)) { (s.name) } " " (result_badge(s)) }
                    p.muted { (s.revision) " of " (s.url) }
                    table {
                        tr {
                            th { "fetched" }
                            td { (commit_cell(links, &s.name, s.last_fetched_commit.as_deref(), s.fetched_summary.as_ref())) }
                        }
                        tr {
                            th { "synced" }
                            td {
                                (commit_cell(links, &s.name, s.last_synced_commit.as_deref(), s.synced_summary.as_ref()))
                                @if let Some(signer) = &s.signer { " · signed by " (signer) }
                                @if let Some(v) = s.verification.filter(|v| *v != "verified") {
                                    " · " span.badge.state-blocked { "signature " (v) }
                                }
                            }
                        }
                        tr {
                            th { "last pass" }
                            td {
                                @match s.last_pass_at {
                                    Some(at) => { (ago_since(at)) " ago" }
                                    None => { span.muted { "no pass finished yet" } }
                                }
                                @if let Some(summary) = &s.last_pass_summary { " · " (summary) }
                                " " (sparkline(s))
                            }
                        }
                        tr {
                            th { "jobs" }
                            td { (state_counts(s)) }
                        }
                        @if !s.objects.is_empty() {
                            tr {
                                th { "cluster objects" }
                                td { (object_counts(s)) }
                            }
                        }
                    }
                    (job_names(s))
                }
            }
        }
    };
    page("drover", body, fragment)
}

/// `/ui/sources/<name>`: the source's jobs, filtered, sorted and paginated on the server.
pub fn source_page(
    source: &SourceStatus,
    history: &History,
    query: &JobsQuery,
    links: &Links<'_>,
    fragment: bool,
) -> Markup {
    let changed = |j: &JobStatus| -> Option<SystemTime> {
        history
            .last(j.namespace.as_deref()?, j.id.as_deref()?)
            .map(|e| e.at)
    };
    let mut rows: Vec<(&JobStatus, Option<SystemTime>)> = source
        .jobs
        .iter()
        .filter(|j| query.state.is_none_or(|s| j.state == s))
        .map(|j| (j, changed(j)))
        .collect();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let order = |a: &(&JobStatus, Option<SystemTime>), b: &(&JobStatus, Option<SystemTime>)| {
        let by = match query.sort {
            Sort::Namespace => text(&a.0.namespace).cmp(&text(&b.0.namespace)),
            Sort::Job => Ordering::Equal,
            Sort::File => a.0.file.cmp(&b.0.file),
            Sort::State => a.0.state.cmp(&b.0.state),
            Sort::Version => a.0.version.cmp(&b.0.version),
            Sort::Changed => a.1.cmp(&b.1),
        };
        let by = by.then_with(|| a.0.id.cmp(&b.0.id));
        if query.descending { by.reverse() } else { by }
    };
    rows.sort_by(order);
    let total = rows.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page_number = query.page.min(pages);
    let shown = rows
        .iter()
        .skip((page_number - 1) * PAGE_SIZE)
        .take(PAGE_SIZE);
    let header = |label: &str, by: Sort| {
        let descending = query.sort == by && !query.descending;
        let href = query.href(&source.name, query.state, (by, descending), 1);
        let mark = match (query.sort == by, query.descending) {
            (true, false) => " ▲",
            (true, true) => " ▼",
            (false, _) => "",
        };
        html! { th { a href=(href) { (label) (mark) } } }
    };
    let body = html! {
        main data-live="source" {
            h1 { "Source " (source.name) " " (result_badge(source)) }
            p.muted { (source.revision) " of " (source.url) " · " (state_counts(source)) }
            p.filters {
                "Show: "
                a class=[query.state.is_none().then_some("on")]
                    href=(query.href(&source.name, None, (query.sort, query.descending), 1)) { "all" }
                @for state in JobState::ALL {
                    a class=[(query.state == Some(state)).then_some("on")]
                        href=(query.href(&source.name, Some(state), (query.sort, query.descending), 1)) { (state.as_str()) }
                }
            }
            @if source.jobs.is_empty() {
                p.muted {
                    @if source.passes == 0 { "No pass has finished yet." } @else { "This source has no jobs." }
                }
            } @else {
                p.muted { (total) " job(s)" @if pages > 1 { ", page " (page_number) " of " (pages) } }
                table.jobs {
                    thead {
                        tr {
                            (header("namespace", Sort::Namespace))
                            (header("job", Sort::Job))
                            (header("file", Sort::File))
                            (header("state", Sort::State))
                            (header("version", Sort::Version))
                            th { "commit" }
                            th { "deployment" }
                            (header("last change", Sort::Changed))
                            th { "error" }
                        }
                    }
                    tbody {
                        @for (job, changed) in shown {
                            tr {
                                td { (job.namespace.as_deref().unwrap_or("-")) }
                                td { (job_link(job)) }
                                td { code { (job.file) } }
                                td { (badge(job.state)) }
                                td { (job.version.map(|v| v.to_string()).unwrap_or_default()) }
                                td { (commit_link(links, &source.name, job.applied_commit.as_deref())) }
                                td { (deployment_cell(job)) }
                                td { @if let Some(at) = changed { (ago_since(*at)) " ago" } }
                                td { @if let Some(e) = &job.last_error { (first_line(e)) } }
                            }
                        }
                    }
                }
                @if pages > 1 {
                    p.filters {
                        @if page_number > 1 {
                            a href=(query.href(&source.name, query.state, (query.sort, query.descending), page_number - 1)) { "← previous" }
                        }
                        @if page_number < pages {
                            a href=(query.href(&source.name, query.state, (query.sort, query.descending), page_number + 1)) { "next →" }
                        }
                    }
                }
            }
            @if !source.objects.is_empty() {
                h2 { "Cluster objects" }
                table.objects {
                    thead { tr { th { "object" } th { "file" } th { "state" } th { "detail" } } }
                    tbody {
                        @for o in &source.objects {
                            tr {
                                td { (o.object) }
                                td { code { (o.file) } }
                                td { (state_badge(o.state)) }
                                td { (first_line(&o.detail)) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&format!("drover · {}", source.name), body, fragment)
}

/// `/ui/jobs/<namespace>/<job>`: where the job stands, its last plan, its deployments and its
/// history; `None` when no source has the job.
pub fn job_page(
    doc: &Document<'_>,
    namespace: &str,
    id: &str,
    history: &History,
    links: &Links<'_>,
    fragment: bool,
) -> Option<Markup> {
    let (source, job) = doc.sources.iter().find_map(|s| {
        s.jobs
            .iter()
            .find(|j| j.namespace.as_deref() == Some(namespace) && j.id.as_deref() == Some(id))
            .map(|j| (*s, j))
    })?;
    let events: Vec<&Event> = history
        .of(namespace, id)
        .map(Iterator::collect)
        .unwrap_or_default();
    let deployments = deployments(&events);
    let nomad = links.nomad_job(&source.name, namespace, id);
    let body = html! {
        main data-live="job" {
            h1 { "Job " (id) " " (badge(job.state)) }
            table {
                tr { th { "namespace" } td { (namespace) } }
                tr { th { "source" } td { a href=(source_href(&source.name)) { (source.name) } } }
                tr { th { "file" } td { code { (job.file) } } }
                tr { th { "commit" } td { (commit_link(links, &source.name, job.applied_commit.as_deref())) } }
                tr { th { "version" } td { (job.version.map(|v| v.to_string()).unwrap_or_default()) } }
                @if let Some(url) = &nomad { tr { th { "in Nomad" } td { a href=(url) { "open in Nomad's UI" } } } }
                @if let Some(error) = job.last_error_full.as_ref().or(job.last_error.as_ref()) {
                    tr { th { "error" } td { pre { (error) } } }
                }
            }
            h2 { "Plan" }
            @if let Some(plan) = last_plan(&events) {
                p {
                    "Plan of " (commit_link(links, &source.name, plan.event.commit.as_deref()))
                    @if let Some(v) = plan.version { " (version " (v) ")" }
                    ", " (ago_since(plan.event.at)) " ago "
                    span class={"badge kind-" (plan.event.kind.as_str())} { (plan.event.kind.as_str()) }
                }
                pre.plan { @for line in plan.text.lines() { (plan_line(line)) "\n" } }
            } @else if let Some(created) = events.iter().find(|e| e.kind == EventKind::Registered) {
                p {
                    "Created at " (commit_link(links, &source.name, created.commit.as_deref()))
                    ", " (ago_since(created.at)) " ago, from " code { (job.file) }
                    ": a new job's plan is its whole file."
                }
            } @else {
                p.muted {
                    "No plan of this job is kept in the history. "
                    code { "drover diff" } " shows what the next pass would change"
                    @if let Some(url) = &nomad { ", and " a href={(url) "/versions"} { "the job's versions in Nomad" } " what changed between them" }
                    "."
                }
            }
            h2 { "Deployments" }
            @if deployments.is_empty() {
                p.muted { "No deployment in the kept history." }
            }
            @for d in &deployments {
                section.card data-deployment=(d.id) {
                    strong { (short_commit(d.id)) } " " span class={"badge kind-" (d.outcome_class)} { (d.outcome) }
                    @if let Some(v) = d.version { " · version " (v) }
                    @if d.groups.is_empty() { p.muted { "No progress reported." } }
                    @else {
                        table {
                            tr { th { "group" } th { "progress" } th { "placed" } th { "healthy" } th { "unhealthy" } th { "canaries" } }
                            @for g in d.groups {
                                tr {
                                    td { (g.group) }
                                    td { progress value=(g.healthy) max=(g.desired.max(1)) { (g.healthy) "/" (g.desired) } }
                                    td { (g.placed) }
                                    td { (g.healthy) "/" (g.desired) }
                                    td { (g.unhealthy) }
                                    td { (g.canaries) @if g.promoted { " (promoted)" } }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "History" }
            @if events.is_empty() {
                p.muted { "No event kept for this job." }
            } @else {
                table {
                    tr { th { "when" } th { "what" } th { "commit" } th { "version" } th { "detail" } }
                    @for e in &events {
                        tr {
                            td { (ago_since(e.at)) " ago" }
                            td { span class={"badge kind-" (e.kind.as_str())} { (e.kind.as_str()) } }
                            td { (commit_link(links, &source.name, e.commit.as_deref())) }
                            td { (e.version.map(|v| v.to_string()).unwrap_or_default()) }
                            td { pre { (e.detail) } }
                        }
                    }
                }
            }
        }
    };
    Some(page(&format!("drover · {namespace}/{id}"), body, fragment))
}

/// The newest kept plan of a job.
struct Plan<'a> {
    event: &'a Event,
    text: &'a str,
    /// The version it registered: a registration's event has none, but the follower's events
    /// of the same commit after it do. A drift found registered nothing.
    version: Option<u64>,
}

/// The newest of `events` (newest first) that carries a plan.
fn last_plan<'a>(events: &[&'a Event]) -> Option<Plan<'a>> {
    let i = events.iter().position(|e| e.plan.is_some())?;
    let event = events[i];
    let version = match event.kind {
        EventKind::DriftFound => None,
        _ => events[..i]
            .iter()
            .rev()
            .filter(|e| e.commit == event.commit)
            .find_map(|e| e.version),
    };
    Some(Plan {
        event,
        text: event.plan.as_deref()?,
        version,
    })
}

/// One line of a plan, marked by what it does (`+/-` edited, `+` added, `-` deleted) for the
/// stylesheet's colours; the marker stays in the text, so the marks do not rest on colour.
fn plan_line(line: &str) -> Markup {
    let mark = match line.trim_start() {
        l if l.starts_with("+/-") => Some("diff-edit"),
        l if l.starts_with('+') => Some("diff-add"),
        l if l.starts_with('-') => Some("diff-del"),
        _ => None,
    };
    html! {
        @match mark {
            Some(class) => span class=(class) { (line) },
            None => (line),
        }
    }
}

/// One deployment as the kept events tell it, newest first.
struct Deployment<'a> {
    id: &'a str,
    version: Option<u64>,
    outcome: &'static str,
    outcome_class: &'static str,
    groups: &'a [GroupProgress],
}

fn deployments<'a>(events: &[&'a Event]) -> Vec<Deployment<'a>> {
    let mut found: Vec<Deployment<'a>> = Vec::new();
    for event in events {
        let Some(id) = event.deployment.as_deref() else {
            continue;
        };
        let index = match found.iter().position(|d| d.id == id) {
            Some(i) => i,
            None => {
                let (outcome, outcome_class) = match event.kind {
                    EventKind::Succeeded => ("successful", "succeeded"),
                    EventKind::Failed => ("failed", "failed"),
                    EventKind::RolledBack => ("rolled back", "rolled_back"),
                    EventKind::Superseded => ("superseded", "superseded"),
                    _ => ("running", "progress"),
                };
                found.push(Deployment {
                    id,
                    version: event.version,
                    outcome,
                    outcome_class,
                    groups: &[],
                });
                found.len() - 1
            }
        };
        let deployment = &mut found[index];
        if deployment.groups.is_empty() && !event.groups.is_empty() {
            deployment.groups = &event.groups;
        }
        if deployment.version.is_none() {
            deployment.version = event.version;
        }
    }
    found
}

fn page(title: &str, body: Markup, fragment: bool) -> Markup {
    if fragment {
        return body;
    }
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/ui/app.css";
                script src="/ui/app.js" defer {}
            }
            body {
                header {
                    a href="/" { "drover" }
                    a href="/status" { "/status" }
                    a href="/metrics" { "/metrics" }
                }
                (body)
            }
        }
    }
}

fn source_href(name: &str) -> String {
    format!("/ui/sources/{}", encode(name, false))
}

fn job_link(job: &JobStatus) -> Markup {
    match (&job.namespace, &job.id) {
        (Some(namespace), Some(id)) => html! {
            a href={"/ui/jobs/" (encode(namespace, false)) "/" (encode(id, true))} { (id) }
        },
        _ => html! { code { (job.file) } },
    }
}

/// A job's state as a coloured badge that also says it in words.
fn badge(state: JobState) -> Markup {
    state_badge(state.as_str())
}

fn result_badge(source: &SourceStatus) -> Markup {
    match &source.last_pass_result {
        Some(result) => html! { span class={"badge result-" (result)} { (result) } },
        None => html! { span.badge.state-pending { "waiting for its first pass" } },
    }
}

fn state_counts(source: &SourceStatus) -> Markup {
    let counts = JobState::ALL.map(|s| (s, source.jobs.iter().filter(|j| j.state == s).count()));
    html! {
        @if source.jobs.is_empty() { span.muted { "no jobs" } }
        @for (state, count) in counts.iter().filter(|(_, n)| *n > 0) {
            a href={"/ui/sources/" (encode(&source.name, false)) "?state=" (state.as_str())} {
                (count_badge(state.as_str(), *count))
            }
            " "
        }
    }
}

/// A job's or an object's state as a badge, in words as well as colour.
fn state_badge(state: &str) -> Markup {
    html! { span class={"badge state-" (state)} { (state) } }
}

/// `n` jobs or objects in `state`, as a badge.
fn count_badge(state: &str, n: usize) -> Markup {
    html! { span class={"badge state-" (state)} { (n) " " (state) } }
}

/// How many of the source's objects are in each state, linked to its page's list.
fn object_counts(source: &SourceStatus) -> Markup {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for object in &source.objects {
        match counts.iter_mut().find(|(state, _)| *state == object.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((object.state, 1)),
        }
    }
    html! {
        a href=(source_href(&source.name)) {
            @for (state, n) in &counts { (count_badge(state, *n)) " " }
        }
    }
}

/// The source's first jobs by name, each with its state; the rest counted.
fn job_names(source: &SourceStatus) -> Markup {
    let mut jobs: Vec<&JobStatus> = source.jobs.iter().collect();
    jobs.sort_by(|a, b| (&a.namespace, &a.id).cmp(&(&b.namespace, &b.id)));
    html! {
        @if !jobs.is_empty() {
            ul.jobs {
                @for job in jobs.iter().take(JOBS_SHOWN) {
                    li {
                        (job_link(job))
                        @if let Some(namespace) = &job.namespace { span.muted { " " (namespace) } }
                        " " (badge(job.state))
                    }
                }
                @if jobs.len() > JOBS_SHOWN {
                    li.muted {
                        a href=(source_href(&source.name)) { (jobs.len() - JOBS_SHOWN) " more" }
                    }
                }
            }
        }
    }
}

fn commit_link(links: &Links<'_>, source: &str, commit: Option<&str>) -> Markup {
    let Some(commit) = commit else {
        return html! {};
    };
    html! {
        @match links.commit(source, commit) {
            Some(url) => { a href=(url) { code { (short_commit(commit)) } } }
            None => { code title=(commit) { (short_commit(commit)) } }
        }
    }
}

fn commit_cell(
    links: &Links<'_>,
    source: &str,
    commit: Option<&str>,
    summary: Option<&CommitSummary>,
) -> Markup {
    let summary = summary.filter(|s| Some(s.commit.as_str()) == commit);
    html! {
        @if commit.is_none() { span.muted { "none yet" } }
        (commit_link(links, source, commit))
        @if let Some(s) = summary { " " (s.subject) span.muted { " — " (s.author) } }
    }
}

fn deployment_cell(job: &JobStatus) -> Markup {
    html! {
        @if let Some((healthy, desired)) = job.progress_counts {
            progress value=(healthy) max=(desired.max(1)) { (healthy) "/" (desired) } " "
        }
        @if let Some(progress) = &job.progress { (progress) }
        @else if let Some(status) = job.deployment_status { (status) }
    }
}

/// The last passes' durations as bars, the longest filling the height.
fn sparkline(source: &SourceStatus) -> Markup {
    const WIDTH: u64 = 4;
    const HEIGHT: u64 = 20;
    let durations: Vec<Duration> = source.pass_durations().collect();
    let Some(longest) = durations.iter().max().copied() else {
        return html! {};
    };
    let longest = longest.as_millis().max(1);
    let width = WIDTH * durations.len() as u64;
    let summary = format!("last {} passes, longest {} ms", durations.len(), longest);
    html! {
        svg.spark width=(width) height=(HEIGHT) viewBox={"0 0 " (width) " " (HEIGHT)} role="img" aria-label=(summary) {
            title { (summary) }
            @for (i, d) in durations.iter().enumerate() {
                @let h = ((d.as_millis() * u128::from(HEIGHT)) / longest).max(1);
                rect x=(i as u64 * WIDTH) y=(u128::from(HEIGHT) - h) width=(WIDTH - 1) height=(h) {}
            }
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn ago_since(at: SystemTime) -> String {
    ago_text(SystemTime::now().duration_since(at).unwrap_or_default())
}

fn ago_text(ago: Duration) -> String {
    let secs = ago.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// `text` as a path segment: unreserved characters as they are, the rest percent-encoded (`/`
/// too, unless `keep_slash`: a job ID may hold one, and the job route takes the rest of the
/// path).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if plain {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
