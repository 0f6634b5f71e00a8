//! `drover status`: asks a running drover for `GET /status` and prints it as two tables, the
//! sources, then one line per job.
//!
//! Reads the document leniently (unknown fields ignored, missing ones shown as `-`), so that a
//! `drover status` of one version can read a daemon of another. Never changes anything.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The whole request, connecting included: a local daemon answers in milliseconds.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest document read: a few hundred bytes per job.
const MAX_DOCUMENT: usize = 16 * 1024 * 1024;
/// Longest error or summary shown in a cell; `/status` has the whole text.
const MAX_CELL: usize = 60;

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    version: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    sources: Vec<SourceView>,
}

#[derive(Deserialize)]
struct SourceView {
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    revision: String,
    last_fetched_commit: Option<String>,
    last_synced_commit: Option<String>,
    last_pass_at: Option<String>,
    last_pass_result: Option<String>,
    last_pass_summary: Option<String>,
    #[serde(default)]
    jobs: Vec<JobView>,
}

#[derive(Deserialize)]
struct JobView {
    id: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    file: String,
    #[serde(default)]
    state: String,
    applied_commit: Option<String>,
    version: Option<u64>,
    deployment_status: Option<String>,
    /// A running deployment's progress (newer daemons only).
    progress: Option<String>,
    last_error: Option<String>,
}

/// Prints the status of the drover at `addr` (e.g. `http://127.0.0.1:9315`). Exit code 0 when
/// it answered; an error (exit code 1) when it cannot be reached or answers nonsense.
pub fn run(addr: &str) -> anyhow::Result<ExitCode> {
    let url = status_url(addr)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let document = runtime.block_on(fetch(&url))?;
    print!("{}", render(&document, SystemTime::now()));
    Ok(ExitCode::SUCCESS)
}

fn status_url(addr: &str) -> anyhow::Result<url::Url> {
    let base = url::Url::parse(addr)
        .with_context(|| format!("--addr {addr:?} is not a URL like http://127.0.0.1:9315"))?;
    if !matches!(base.scheme(), "http" | "https") {
        bail!("--addr {addr:?} must start with http:// or https://");
    }
    Ok(base.join("/status")?)
}

async fn fetch(url: &url::Url) -> anyhow::Result<Document> {
    let https = url.scheme() == "https";
    // System roots (and SSL_CERT_FILE) for an https endpoint, as the Nomad client does.
    let tls = crate::nomad::client_config(&crate::config::Tls::default(), https)?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let unreachable = || {
        format!(
            "cannot reach drover at {url} (is `drover run` running, and is --addr its [server] listen address?)"
        )
    };
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .with_context(unreachable)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.with_context(unreachable)? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            bail!("{url} answered more than {MAX_DOCUMENT} bytes; is it drover?");
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        bail!("{url} answered {status}: {}", text.trim());
    }
    serde_json::from_slice(&body).with_context(|| format!("{url} did not answer a drover status"))
}

fn render(doc: &Document, now: SystemTime) -> String {
    let mut out = format!("drover {} ({})\n\n", doc.version, doc.role);
    let mut sources = vec![row(&[
        "SOURCE",
        "URL",
        "REVISION",
        "FETCHED",
        "SYNCED",
        "LAST PASS",
        "RESULT",
        "SUMMARY",
    ])];
    for s in &doc.sources {
        sources.push(vec![
            s.name.clone(),
            s.url.clone(),
            s.revision.clone(),
            short_commit(s.last_fetched_commit.as_deref()),
            short_commit(s.last_synced_commit.as_deref()),
            s.last_pass_at
                .as_deref()
                .map_or_else(dash, |t| when(t, now)),
            s.last_pass_result.clone().unwrap_or_else(dash),
            truncate(s.last_pass_summary.as_deref()),
        ]);
    }
    out.push_str(&table(&sources));
    let mut jobs = vec![row(&[
        "JOB",
        "NAMESPACE",
        "STATE",
        "VERSION",
        "COMMIT",
        "DEPLOYMENT",
        "ERROR",
    ])];
    for j in doc.sources.iter().flat_map(|s| &s.jobs) {
        jobs.push(vec![
            j.id.clone().unwrap_or_else(|| j.file.clone()),
            j.namespace.clone().unwrap_or_else(dash),
            j.state.clone(),
            j.version.map_or_else(dash, |v| v.to_string()),
            short_commit(j.applied_commit.as_deref()),
            j.progress
                .clone()
                .or_else(|| j.deployment_status.clone())
                .unwrap_or_else(dash),
            truncate(j.last_error.as_deref()),
        ]);
    }
    out.push('\n');
    if jobs.len() == 1 {
        out.push_str("no jobs\n");
    } else {
        out.push_str(&table(&jobs));
    }
    out
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

fn dash() -> String {
    "-".to_owned()
}

fn short_commit(commit: Option<&str>) -> String {
    commit.map_or_else(dash, |c| c.chars().take(8).collect())
}

/// One line of at most [`MAX_CELL`] characters.
fn truncate(text: Option<&str>) -> String {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return dash();
    };
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > MAX_CELL || line.len() < text.len() {
        let kept: String = line.chars().take(MAX_CELL - 1).collect();
        format!("{kept}…")
    } else {
        line.to_owned()
    }
}

/// `2025-01-02T10:00:00Z (3m 12s ago)`.
fn when(timestamp: &str, now: SystemTime) -> String {
    let Ok(at) = humantime::parse_rfc3339_weak(timestamp) else {
        return timestamp.to_owned();
    };
    let ago = now.duration_since(at).unwrap_or_default();
    let ago = Duration::from_secs(ago.as_secs());
    format!(
        "{} ({} ago)",
        humantime::format_rfc3339_seconds(at),
        humantime::format_duration(ago)
    )
}

/// Columns padded to their widest cell, two spaces apart; the last one is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let width = |r: &Vec<String>| r.get(c).map_or(0, |s| s.chars().count());
            rows.iter().map(width).max().unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sources_then_jobs() {
        let doc: Document = serde_json::from_str(
            r#"{"version":"0.1.0","role":"leader","future_field":1,"sources":[{"name":"web",
            "url":"https://git.example.com/ops/deploy.git","revision":"branch main",
            "last_fetched_commit":"0123456789abcdef","last_synced_commit":null,
            "last_pass_at":"2025-01-02T10:00:00Z","last_pass_result":"problems",
            "last_pass_summary":"1 synced, 1 blocked","jobs":[
            {"id":"api","namespace":"prod","file":"api.nomad.hcl","state":"synced","version":3,
             "applied_commit":"0123456789abcdef","deployment_status":"successful"},
            {"id":"web","namespace":"prod","file":"web.nomad.hcl","state":"deploying",
             "deployment_status":"successful","progress":"running 3/5 healthy, 1 canary"},
            {"id":null,"namespace":null,"file":"bad.nomad.hcl","state":"blocked",
             "last_error":"bad.nomad.hcl:3:1: error\nsecond line"}]}]}"#,
        )
        .expect("document");
        let now = humantime::parse_rfc3339("2025-01-02T10:03:12Z").expect("time");
        let text = render(&doc, now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "drover 0.1.0 (leader)");
        assert!(lines[2].starts_with("SOURCE  URL"), "{text}");
        assert!(lines[3].contains("01234567  -"), "{text}");
        assert!(
            lines[3].contains("2025-01-02T10:00:00Z (3m 12s ago)  problems"),
            "{text}"
        );
        assert!(lines[5].starts_with("JOB "), "{text}");
        assert!(lines[6].starts_with("api "), "{text}");
        assert!(
            lines[7].contains("deploying  -        -         running 3/5 healthy, 1 canary"),
            "a running deployment shows its progress: {text}"
        );
        assert!(lines[8].ends_with("bad.nomad.hcl:3:1: error…"), "{text}");
    }
}
