//! `drover diff`: what a pass would change, submitting nothing. Per job, the plan's field and
//! object changes and the scheduler's annotations, like `nomad job plan`, without drover's own
//! meta (the sync's plan ignores it too); coloured on a terminal, plain in a pipe, JSON for
//! machines. A file that cannot be rendered shows its errors first and its warnings folded
//! (every one with `--verbose`). Exit code 0 when nothing would change, 3 when changes are
//! pending, 1 when a file cannot be rendered, 2 for a configuration, fetch or connection error.
//! Never registers, deregisters or writes the state.

mod objects;

use std::io::IsTerminal;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use crate::apply::{self, Style, Submit, job_text};
use crate::config::{Config, Source};
use crate::nomad::{Client, JobDiff};
use crate::render;
use crate::source::Mirror;

pub const EXIT_PENDING: u8 = 3;

/// `--format` of `drover diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What `drover diff` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: Option<String>,
    /// Job IDs to show; all when empty.
    pub jobs: Vec<String>,
    pub format: Format,
    /// How a file's warnings are shown: folded by kind, or every one.
    pub detail: render::Detail,
}

/// One job's would-be change.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub source: String,
    pub path: String,
    pub job: Option<String>,
    pub namespace: Option<String>,
    pub change: bool,
    pub diff: Option<JobDiff>,
    /// The scheduler's annotations per group (`DesiredTGUpdates`).
    pub annotations: Option<Value>,
    pub error: Option<String>,
    /// A cluster object besides a job: its key (`namespace/prod`, `acl_policy/ops`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// An object's fields that would change (only those its file sets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<objects::FieldChange>,
    /// Why an object would be created or left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub async fn run(config: &Config, options: &Options) -> anyhow::Result<ExitCode> {
    let mut entries = Vec::new();
    let sources = config
        .sources
        .iter()
        .filter(|s| options.source.as_ref().is_none_or(|n| *n == s.name));
    for source in sources {
        let mirror = Mirror::open(source, &config.state.dir)?;
        let fetched = mirror
            .fetch_async(&tokio_util::sync::CancellationToken::new())
            .await?;
        entries.extend(source_entries(source, &mirror, fetched.commit, options).await?);
    }
    match options.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        Format::Text => print_text(&entries),
    }
    let code = if entries.iter().any(|e| e.error.is_some()) {
        1
    } else if entries.iter().any(|e| e.change) {
        EXIT_PENDING
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

async fn source_entries(
    source: &Source,
    mirror: &Mirror,
    commit: crate::source::CommitId,
    options: &Options,
) -> anyhow::Result<Vec<Entry>> {
    let snapshot = mirror.snapshot(commit)?;
    let settings = render::Settings::from_source(source);
    let client = Client::new(&source.cluster)?;
    let report = |errors: &[render::RenderError]| render::report(errors, options.detail);
    let variables = render::load_variables(&snapshot, &settings)
        .map_err(|errors| anyhow::anyhow!(report(&errors)))?;
    let signer = match &source.verify {
        None => None,
        Some(verify) => match crate::source::verify::verify(mirror, commit, verify) {
            Ok(signer) => {
                eprintln!(
                    "source `{}`: commit {commit} signed by {signer} (verify mode {})",
                    source.name,
                    verify.mode.as_str()
                );
                Some(signer)
            }
            Err(refusal) => {
                let error = format!("commit {commit} would not be deployed: {refusal}");
                return Ok(vec![failed(source, "", error)]);
            }
        },
    };
    let commit = commit.to_string();
    let mut entries = objects::entries(source, &snapshot, &client).await;
    for file in &snapshot.files {
        let entry = match render::prepare(&snapshot, &file.path, &settings, &variables) {
            Err(errors) => failed(source, &file.path, report(&errors)),
            Ok(p) if !options.jobs.is_empty() && !options.jobs.contains(&p.id) => continue,
            Ok(p) => {
                let client = client.in_namespace(p.namespace.clone());
                match render::render(&client, &p, Some(&commit), signer.as_deref()).await {
                    Err(errors) => failed(source, &file.path, report(&errors)),
                    Ok(rendered) => planned(source, &client, rendered).await,
                }
            }
        };
        entries.push(entry);
    }
    Ok(entries)
}

async fn planned(source: &Source, client: &Client, rendered: render::RenderedJob) -> Entry {
    let mut entry = failed(source, &rendered.path, String::new());
    entry.error = None;
    entry.job = Some(rendered.id.clone());
    entry.namespace = Some(rendered.namespace.clone());
    let submit = Submit {
        job: rendered.job,
        submission: None,
        preserve_counts: source.preserve_counts,
        // Not known without the job list: a change shows the commit it would stamp.
        live_commit: None,
    };
    match apply::plan(client, &submit).await {
        Ok(planned) => {
            entry.change = planned.is_change();
            entry.annotations = planned
                .plan
                .annotations
                .as_ref()
                .and_then(|a| serde_json::to_value(&a.desired_tg_updates).ok());
            entry.diff = planned.plan.diff.map(apply::without_own_meta);
        }
        Err(e) => entry.error = Some(e.to_string()),
    }
    entry
}

pub(super) fn failed(source: &Source, path: &str, error: String) -> Entry {
    Entry {
        source: source.name.clone(),
        path: path.to_owned(),
        job: None,
        namespace: None,
        change: false,
        diff: None,
        annotations: None,
        error: Some(error),
        object: None,
        fields: Vec::new(),
        note: None,
    }
}

fn print_text(entries: &[Entry]) {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let style = if color { Style::Color } else { Style::Plain };
    for e in entries {
        let job = e.job.as_deref().unwrap_or("?");
        if let (None, Some(object)) = (&e.error, &e.object) {
            let note = e.note.as_deref().unwrap_or(if e.change {
                "would change"
            } else {
                "unchanged"
            });
            println!(
                "{} ({}): {object}: {note}\n{}",
                e.path,
                e.source,
                objects::text(&e.fields)
            );
            continue;
        }
        match (&e.error, &e.diff) {
            (Some(error), _) => println!("{} ({}): error: {error}\n", e.path, e.source),
            (None, Some(diff)) if e.change => {
                println!("{} ({}):\n{}", e.path, e.source, job_text(diff, style))
            }
            _ => println!("{} ({}): job {job:?} unchanged\n", e.path, e.source),
        }
    }
    let (objects, jobs): (Vec<&Entry>, Vec<&Entry>) =
        entries.iter().partition(|e| e.object.is_some());
    let pending = |list: &[&Entry]| list.iter().filter(|e| e.change).count();
    if !objects.is_empty() {
        println!(
            "{} of {} object(s) would change",
            pending(&objects),
            objects.len()
        );
    }
    println!("{} of {} job(s) would change", pending(&jobs), jobs.len());
}
