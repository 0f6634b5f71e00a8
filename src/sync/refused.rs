//! What Nomad refused, remembered. A job file whose very inputs Nomad refused (its parse, plan
//! or register answered with a refusal of the request, see [`crate::nomad::Error::is_refusal`])
//! is reported blocked with the words of that refusal, at no Nomad call, until its inputs, the
//! cluster's Nomad version or drover's version change. A refusal by plan or register may come
//! from the cluster's configuration as much as from the job (a quota, a node pool), so such a
//! job is sent again at the drift interval too; a parse depends on nothing but the inputs and
//! the version. A full pass (`sync --full`) sends every job again.
//!
//! Owns the decision to hold a job back, the reading of Nomad's version for it (at most once
//! per drift interval and source, and only when there is a refusal to judge) and the refusal
//! records. Never decides anything else about a job.

use std::time::SystemTime;

use super::Context;
use super::prepare::blocked_file;
use crate::config::Source;
use crate::nomad::{Client, Error};
use crate::reconcile::{Action, Block, Desired, Problem, Reason};
use crate::state::{Refusal, RefusedBy, Save, SeenVersion};

/// Sent with every refusal: a new drover may render the same inputs differently.
const DROVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest message kept per refusal (Nomad's text is already cut at 4 KiB per error).
const MAX_MESSAGE: usize = 16 * 1024;

/// Moves each desired job whose refusal still holds into `desired.blocked`, and forgets the
/// refusals of files that no longer render to the inputs refused.
pub(super) async fn hold_back(
    source: &Source,
    ctx: &Context,
    client: &Client,
    desired: &mut Desired,
    full: bool,
) {
    let now = SystemTime::now();
    let (candidates, stale) = {
        let state = ctx.recorder.lock();
        let refused = &state.source(&source.name).refused;
        if refused.is_empty() {
            return;
        }
        let mut candidates = Vec::new();
        let mut live_paths = Vec::new();
        for (i, job) in desired.jobs.iter().enumerate() {
            let Some(refusal) = refused.get(&job.path) else {
                continue;
            };
            if refusal.fingerprint != job.fingerprint {
                continue;
            }
            live_paths.push(job.path.as_str());
            if !full && still_holds(refusal, ctx, now) {
                candidates.push((i, refusal.clone()));
            }
        }
        let stale: Vec<String> = refused
            .keys()
            .filter(|p| !live_paths.contains(&p.as_str()))
            .cloned()
            .collect();
        (candidates, stale)
    };
    if !stale.is_empty() {
        let name = source.name.clone();
        ctx.recorder
            .record(Save::Soon, move |state| {
                let refused = &mut state.source_mut(&name).refused;
                stale.iter().for_each(|p| drop(refused.remove(p)));
            })
            .await;
    }
    if candidates.is_empty() {
        return;
    }
    let version = nomad_version(source, ctx, client).await;
    let mut held = Vec::new();
    // From the last, so that each removal leaves the earlier indices in place.
    for (i, refusal) in candidates.into_iter().rev() {
        // Nomad's version unknown now (unreachable): nothing tells the refusal is out of date.
        if version.as_ref().is_none_or(|v| *v == refusal.nomad_version) {
            let job = desired.jobs.remove(i);
            let problem = Problem::Refused(refusal.by);
            held.push(blocked_file(
                &job.path,
                Some(job.key),
                problem,
                refusal.message,
            ));
        }
    }
    desired.blocked.extend(held.into_iter().rev());
}

/// Whether a refusal by plan or register is still recent enough to be trusted; a parse
/// refusal always is. Either holds only for the drover that met it.
fn still_holds(refusal: &Refusal, ctx: &Context, now: SystemTime) -> bool {
    if refusal.drover_version != DROVER_VERSION {
        return false;
    }
    match refusal.by {
        RefusedBy::Parse => true,
        RefusedBy::Plan | RefusedBy::Register => now
            .duration_since(refusal.at)
            .is_ok_and(|age| age < ctx.drift_interval),
    }
}

/// Remembers that Nomad refused the inputs `fingerprint` of the file at `path` (`errors`, and
/// `full` when the warnings were folded) and returns what was kept: the words the report, and
/// every later pass until the refusal is lifted, tells.
pub(super) async fn remember(
    source: &Source,
    ctx: &Context,
    client: &Client,
    (path, fingerprint): (&str, &str),
    by: RefusedBy,
    errors: &str,
    full: Option<String>,
) -> Refusal {
    let again = match by {
        RefusedBy::Parse => "not sent again until they, Nomad's version or drover's change",
        RefusedBy::Plan | RefusedBy::Register => {
            "not sent again until they, Nomad's version or drover's change, or the next drift check"
        }
    };
    let with_note = |text: &str| bounded(format!("{text}\nNomad refused these inputs; {again}"));
    let version = nomad_version(source, ctx, client).await.flatten();
    let refusal = Refusal {
        fingerprint: fingerprint.to_owned(),
        by,
        message: with_note(errors),
        full: full.as_deref().map(with_note),
        nomad_version: version,
        drover_version: DROVER_VERSION.to_owned(),
        at: SystemTime::now(),
    };
    let (name, path, kept) = (source.name.clone(), path.to_owned(), refusal.clone());
    ctx.recorder
        .record(Save::Soon, move |state| {
            state.source_mut(&name).refused.insert(path, kept);
        })
        .await;
    refusal
}

/// `text` cut to [`MAX_MESSAGE`] bytes on a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The full words of a job held back for a refusal whose warnings were folded.
pub(super) fn full_detail(source: &Source, ctx: &Context, action: &Action) -> Option<String> {
    let Reason::Blocked(Block::File {
        problem: problem @ Problem::Refused(_),
        ..
    }) = &action.reason
    else {
        return None;
    };
    let state = ctx.recorder.lock();
    let full = state
        .source(&source.name)
        .refused
        .get(&action.path)?
        .full
        .clone()?;
    let reason = Reason::Blocked(Block::File {
        problem: *problem,
        message: full,
    });
    Some(reason.to_string())
}

/// Forgets the refusal of the file at `path`, if there is one: Nomad took its inputs.
pub(super) async fn forget(source: &Source, ctx: &Context, path: &str) {
    let known = ctx
        .recorder
        .lock()
        .source(&source.name)
        .refused
        .contains_key(path);
    if known {
        let (name, path) = (source.name.clone(), path.to_owned());
        ctx.recorder
            .record(Save::Soon, move |state| {
                state.source_mut(&name).refused.remove(&path);
            })
            .await;
    }
}

/// The cluster's Nomad version: the one read last, or read again when that is older than the
/// drift interval. `Some(None)` when the token may not read it (`agent:read`); `None` when it
/// could not be read now and never was.
async fn nomad_version(source: &Source, ctx: &Context, client: &Client) -> Option<Option<String>> {
    let now = SystemTime::now();
    let seen = ctx
        .recorder
        .lock()
        .source(&source.name)
        .nomad_version
        .clone();
    if let Some(seen) = &seen
        && now
            .duration_since(seen.at)
            .is_ok_and(|age| age < ctx.drift_interval)
    {
        return Some(seen.version.clone());
    }
    let version = match client.agent_self().await {
        Ok(agent) => Some(agent.version),
        Err(Error::PermissionDenied { .. }) => None,
        Err(e) => {
            tracing::debug!(source = %source.name, error = %e, "cannot read Nomad's version");
            return seen.map(|s| s.version);
        }
    };
    let name = source.name.clone();
    let record = SeenVersion {
        version: version.clone(),
        at: now,
    };
    ctx.recorder
        .record(Save::Soon, move |state| {
            state.source_mut(&name).nomad_version = Some(record);
        })
        .await;
    Some(version)
}
