//! `drover demo`: the bundled example jobs synced into Nomad and followed to the end, for a
//! first look on any machine. Without an address it starts the Nomad simulator in-process
//! (like `nomad agent -dev`); with one it talks to that Nomad exactly as the daemon would.
//!
//! Owns the demo's orchestration and its printout only: parse, plan, register with
//! check-and-set, follow the evaluation and the deployment, then a second pass that must find
//! nothing to do. It never deregisters anything and never forces a registration.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{Cluster, Config, DEFAULT_CLUSTER, Env};
use crate::nomad::{Client, DiffType, IndexTracker, RegisterRequest, RegisterResponse};
use crate::render::{self, Prepared, RenderError, RenderedJob, Settings, Variables};
use crate::validate::{DEFAULT_MAX_FILE_SIZE, WorkTree};
use anyhow::Context;

/// The source name stamped into the demo jobs' `drover.source` meta.
const DEMO_SOURCE: &str = "demo";
/// How long one blocking read waits before asking again.
const WATCH_WAIT: Duration = Duration::from_secs(10);
/// The built-in simulator runs deployments this many times faster than real time, so that a
/// 10 s `min_healthy_time` takes half a second.
const SIM_TIME_SCALE: f64 = 20.0;

/// Runs the demo; the exit code is non-zero when a job could not be synced.
pub fn run(jobs: &Path, nomad_addr: Option<&str>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(demo(jobs, nomad_addr))
}

async fn demo(dir: &Path, nomad_addr: Option<&str>) -> anyhow::Result<ExitCode> {
    let files = job_files(dir)?;
    let tree = WorkTree::new(dir, DEFAULT_MAX_FILE_SIZE);
    let (_simulator, cluster, target) =
        connect(dir, nomad_addr, &namespaces(&tree, &files)).await?;
    let client = Client::new(&cluster)?;
    client
        .status_leader()
        .await
        .with_context(|| format!("cannot reach Nomad at {}; is it running?", cluster.address))?;
    println!(
        "drover demo: syncing {} job files from {} into {target}",
        files.len(),
        dir.display()
    );

    let mut tasks = tokio::task::JoinSet::new();
    for file in files.clone() {
        let (client, tree) = (client.clone(), tree.clone());
        tasks.spawn(async move { (sync_job(&client, &tree, &file).await, file) });
    }
    let mut results = tasks.join_all().await;
    results.sort_by(|a, b| a.1.cmp(&b.1));
    let mut failures = 0;
    for (result, file) in &results {
        match result {
            Ok(line) => println!("  {line}"),
            Err(e) => {
                failures += 1;
                println!("  {file}: {e:#}");
            }
        }
    }
    second_pass(&client, &tree, &files).await?;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The `*.nomad.hcl` and `*.nomad` files under `dir` (a jobs repository's layout, one directory
/// per environment), as `/`-separated paths relative to it, sorted.
fn job_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        let entries = std::fs::read_dir(dir.join(&rel))
            .with_context(|| format!("cannot read the jobs directory {}; run drover demo from the repository root or pass --jobs DIR", dir.join(&rel).display()))?;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| !n.starts_with('.')) else {
                continue;
            };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(rel.join(name));
            } else if kind.is_file() && (name.ends_with(".nomad.hcl") || name.ends_with(".nomad")) {
                let path = rel.join(name);
                let parts: Option<Vec<&str>> = path.iter().map(|p| p.to_str()).collect();
                files.extend(parts.map(|p| p.join("/")));
            }
        }
    }
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no *.nomad.hcl files under {}",
        dir.display()
    );
    Ok(files)
}

/// The namespaces the job files name, which the built-in simulator creates (as an operator
/// runs `nomad namespace apply` on a real cluster). A file that does not prepare is left to
/// fail with its own error later.
fn namespaces(tree: &WorkTree, files: &[String]) -> BTreeSet<String> {
    files
        .iter()
        .filter_map(|file| prepare(tree, file).ok())
        .map(|prepared| prepared.namespace)
        .collect()
}

/// The cluster to sync into: the named Nomad (with the `NOMAD_*` environment, as the CLI reads
/// it), or a simulator started here. The simulator handle must outlive the demo.
async fn connect(
    dir: &Path,
    nomad_addr: Option<&str>,
    namespaces: &BTreeSet<String>,
) -> anyhow::Result<(Option<Simulator>, Cluster, String)> {
    let (simulator, env, target) = match nomad_addr {
        Some(addr) => (
            None,
            Env::from_process().with("NOMAD_ADDR", addr),
            format!("Nomad at {addr}"),
        ),
        None => {
            let sim = start_simulator(namespaces).await?;
            let url = sim.url();
            let target = format!("the built-in Nomad simulator ({url})");
            (Some(sim), Env::default().with("NOMAD_ADDR", &url), target)
        }
    };
    // The demo is a configuration with an empty `[nomad]` table and the jobs directory as its
    // one source, resolved like any other.
    let text = format!(
        "[nomad]\n[[source]]\nname = {DEMO_SOURCE:?}\nurl = {:?}\npaths = [\"*.nomad.hcl\", \"*.nomad\"]\n",
        std::path::absolute(dir)?.display().to_string()
    );
    let config = Config::parse(&text, Path::new("drover-demo.toml"), &env)?;
    let cluster = config
        .cluster(DEFAULT_CLUSTER)
        .context("the default cluster")?
        .clone();
    Ok((simulator, cluster, target))
}

#[cfg(feature = "demo")]
type Simulator = nomad_sim::Sim;

#[cfg(feature = "demo")]
async fn start_simulator(namespaces: &BTreeSet<String>) -> anyhow::Result<Simulator> {
    let sim = nomad_sim::Sim::builder()
        .time_scale(SIM_TIME_SCALE)
        .start()
        .await?;
    for namespace in namespaces {
        sim.create_namespace(namespace);
    }
    Ok(sim)
}

#[cfg(not(feature = "demo"))]
enum Simulator {}

#[cfg(not(feature = "demo"))]
impl Simulator {
    fn url(&self) -> String {
        match *self {}
    }
}

#[cfg(not(feature = "demo"))]
async fn start_simulator(_: &BTreeSet<String>) -> anyhow::Result<Simulator> {
    let _ = SIM_TIME_SCALE;
    anyhow::bail!(
        "this drover was built without the `demo` feature: name a Nomad with --nomad-addr"
    )
}

/// The local steps of rendering (syntax, `file()` inlining, variables' defaults) for `file`, a
/// path in the jobs directory, which is the repository: `file()` may reach files beside the
/// environments' directories, never outside.
fn prepare(tree: &WorkTree, file: &str) -> Result<Prepared, Vec<RenderError>> {
    let settings = Settings {
        source: DEMO_SOURCE.to_owned(),
        ..Settings::default()
    };
    render::prepare(tree, file, &settings, &Variables::default())
}

/// Renders a job file as the daemon does (inlining, Nomad's parse, `drover.*` meta).
async fn render_file(client: &Client, tree: &WorkTree, file: &str) -> anyhow::Result<RenderedJob> {
    let errors = |errors: Vec<RenderError>| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(lines.join("\n"))
    };
    let prepared = prepare(tree, file).map_err(errors)?;
    render::render(client, &prepared, None)
        .await
        .map_err(errors)
}

/// One job: plan, register only when the plan shows a change, follow it.
async fn sync_job(client: &Client, tree: &WorkTree, file: &str) -> anyhow::Result<String> {
    let RenderedJob {
        job,
        id,
        namespace,
        submission,
        ..
    } = render_file(client, tree, file).await?;
    let id = format!("{namespace}/{id}");
    let plan = client.plan_job(&job).await?;
    let change = plan.diff.as_ref().map_or(DiffType::Edited, |d| d.r#type);
    if change == DiffType::None {
        return Ok(format!("{id:<16} unchanged, nothing submitted"));
    }
    let verb = if change == DiffType::Added {
        "created"
    } else {
        "updated"
    };
    let request = RegisterRequest {
        job,
        enforce_index: Some(plan.job_modify_index),
        preserve_counts: false,
        submission: Some(submission),
    };
    let registered = client.register_job(&request).await?;
    let outcome = follow(client, &registered).await?;
    Ok(format!("{id:<16} {verb:<8} {outcome}"))
}

/// Follows a registration's evaluation and, if it started one, its deployment to the end.
async fn follow(client: &Client, registered: &RegisterResponse) -> anyhow::Result<String> {
    if registered.eval_id.is_empty() {
        return Ok(
            "no evaluation (a periodic or parameterized job waits for its launch)".to_owned(),
        );
    }
    let mut tracker = IndexTracker::new();
    let eval = loop {
        let read = client
            .read_evaluation(&registered.eval_id, &tracker.query(WATCH_WAIT))
            .await?;
        tracker.observe(&read.meta);
        if read.value.status.is_terminal() {
            break read.value;
        }
    };
    if eval.deployment_id.is_empty() {
        return Ok(format!("evaluation {:?}, no deployment", eval.status).to_lowercase());
    }
    let mut tracker = IndexTracker::new();
    loop {
        let read = client
            .read_deployment(&eval.deployment_id, &tracker.query(WATCH_WAIT))
            .await?;
        tracker.observe(&read.meta);
        let d = read.value;
        if d.status.is_terminal() {
            let healthy: u64 = d.task_groups.values().map(|g| g.healthy_allocs).sum();
            let total: u64 = d.task_groups.values().map(|g| g.desired_total).sum();
            let status = format!("{:?}", d.status).to_lowercase();
            return Ok(format!(
                "deployment {status}: {healthy}/{total} healthy ({})",
                d.status_description
            ));
        }
    }
}

/// Plans every job again: with nothing changed in the files, nothing may be submitted.
async fn second_pass(client: &Client, tree: &WorkTree, files: &[String]) -> anyhow::Result<()> {
    let mut unchanged = 0;
    for file in files {
        let plan = client
            .plan_job(&render_file(client, tree, file).await?.job)
            .await?;
        if plan.diff.is_some_and(|d| d.r#type == DiffType::None) {
            unchanged += 1;
        }
    }
    let changed = files.len() - unchanged;
    println!("second pass: {unchanged} unchanged, {changed} would change");
    Ok(())
}
