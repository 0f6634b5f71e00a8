//! `drover validate --nomad`: each prepared job parsed by Nomad, as the daemon would render it,
//! so that what only the server knows (its schema, unset variables, type errors) is checked too.

use std::sync::Arc;

use anyhow::Context;

use super::{Group, JobFile, diagnose};
use crate::config::{Cluster, Config, DEFAULT_CLUSTER, Env};
use crate::nomad::Client;
use crate::policy::JobView;
use crate::render::{self, Prepared};
use crate::state::JobKey;
use crate::validate::Diagnostic;

/// Parse calls in flight at once: enough to hide latency, few enough for a busy server.
const PARALLEL_PARSES: usize = 8;

type Checked<'a> = Vec<(&'a JobFile, JobKey, JobView)>;

/// Renders every job with Nomad (each group's cluster); files Nomad rejects become
/// diagnostics.
pub(super) fn render_all<'a>(
    groups: &[Group],
    prepared: &[(&'a JobFile, Prepared)],
) -> anyhow::Result<(Checked<'a>, Vec<Diagnostic>)> {
    let clients = groups
        .iter()
        .map(|g| Ok(Client::new(&cluster(g.cluster.as_ref())?)?))
        .collect::<anyhow::Result<Vec<Client>>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL_PARSES));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (file, job)) in prepared.iter().enumerate() {
            let client = clients[file.group].clone();
            let (job, limit) = (job.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (i, render::render(&client, &job, None, None).await)
            });
        }
        let mut results = tasks.join_all().await;
        results.sort_by_key(|(i, _)| *i);
        let mut ok = Vec::new();
        let mut diagnostics = Vec::new();
        for (i, result) in results {
            let file = prepared[i].0;
            match result {
                Ok(job) => ok.push((file, job.key(), job.view)),
                // Not the file's fault: one clear failure instead of one per file.
                Err(errors) if errors.iter().any(|e| e.is_transient()) => {
                    let e = errors.into_iter().find(|e| e.is_transient());
                    anyhow::bail!("{}", e.map(|e| e.kind.to_string()).unwrap_or_default());
                }
                Err(errors) => diagnostics.extend(errors.iter().map(|e| diagnose(file, e))),
            }
        }
        Ok((ok, diagnostics))
    })
}

/// The given cluster, or one from the `NOMAD_*` environment like the `nomad` CLI.
fn cluster(given: Option<&Cluster>) -> anyhow::Result<Cluster> {
    if let Some(cluster) = given {
        return Ok(cluster.clone());
    }
    let text = "[nomad]\n[[source]]\nname = \"validate\"\nurl = \".\"\n";
    let config = Config::parse(
        text,
        std::path::Path::new("drover-validate.toml"),
        &Env::from_process(),
    )?;
    config
        .cluster(DEFAULT_CLUSTER)
        .cloned()
        .context("the default cluster")
}
