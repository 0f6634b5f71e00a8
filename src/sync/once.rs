//! `drover sync --once`: one pass over every source, as the daemon would make it now, with a
//! line per job (its errors first, its warnings folded unless `--verbose`) and a closing count.
//! Exit codes: 0 every job converged, 1 some job failed or was blocked, 2 a configuration,
//! fetch or connection error.

use std::process::ExitCode;

use super::{Context, Options, PassReport};
use crate::config::Config;
use crate::source::Mirror;
use crate::state::Store;

pub const EXIT_PROBLEMS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// Runs one pass over every source of `config` and prints the result; `verbose` prints every
/// diagnostic of a job in full.
pub async fn run(config: &Config, options: Options, verbose: bool) -> anyhow::Result<ExitCode> {
    config.verify_secrets()?;
    let store = Store::new(&config.state.dir);
    let loaded = store.load()?;
    if let Some(warning) = &loaded.warning {
        tracing::warn!(%warning, "state file unusable; starting from Nomad's ownership meta");
    }
    let ctx = Context::new(loaded.state, store, &config.sync);
    let mut reports = Vec::new();
    for source in &config.sources {
        let report = match Mirror::open(source, &config.state.dir) {
            Ok(mirror) => super::pass(source, &mirror, &ctx, options).await,
            Err(e) => PassReport::failed(&source.name, e.to_string()),
        };
        print(&report, verbose);
        reports.push(report);
    }
    let code = if reports.iter().any(|r| r.error.is_some()) {
        EXIT_ERROR
    } else if reports.iter().all(PassReport::converged) {
        0
    } else {
        EXIT_PROBLEMS
    };
    Ok(ExitCode::from(code))
}

fn print(report: &PassReport, verbose: bool) {
    let commit = report
        .commit
        .as_deref()
        .map(|c| &c[..c.len().min(12)])
        .unwrap_or("-");
    println!("source {} at {commit}", report.source);
    for object in &report.objects {
        for line in object.line().lines() {
            println!("  {line}");
        }
    }
    for job in &report.jobs {
        for line in job.line(verbose).lines() {
            println!("  {line}");
        }
    }
    println!("  {}", report.summary());
}
