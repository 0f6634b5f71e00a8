//! The loop of one source: a pass, then wait for the next trigger (the poll interval with
//! jitter, a webhook, a local ref change, a due drift check). Triggers that arrive during a
//! pass coalesce into one follow-up pass; there are never two passes of one source at once. A
//! source whose passes keep failing backs off exponentially, capped, without touching others.
//! A follower (high availability) only fetches, so that a takeover starts with a warm mirror.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Shared;
use crate::config::{RepoUrl, Source};
use crate::source::{Mirror, RefWatch};
use crate::sync::{self, Options, PassReport};
use crate::trigger::Reason;

/// The longest a failing source waits between passes.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Quiet time after a burst of local ref changes before a pass starts.
const REF_DEBOUNCE: Duration = Duration::from_millis(300);

/// Runs the loop of `source` until `cancel`; a pass in flight finishes its registrations first.
pub(super) async fn run(
    source: Arc<Source>,
    shared: Shared,
    mut triggers: mpsc::UnboundedReceiver<Reason>,
    cancel: CancellationToken,
) {
    let mirror = match open_mirror(&source, &shared).await {
        Some(m) => m,
        None => return,
    };
    let mut watch = ref_watch(&source);
    let mut failures: u32 = 0;
    let mut reason = Reason::Poll;
    loop {
        let report = one_pass(&source, &mirror, &shared, &cancel, reason).await;
        failures = if report.error.is_some() {
            failures + 1
        } else {
            0
        };
        if cancel.is_cancelled() {
            return;
        }
        // Everything that arrived during the pass is served by one follow-up pass.
        if let Some(next) = drain(&mut triggers) {
            reason = next;
            continue;
        }
        let delay = next_delay(&source, shared.sync.drift_interval, failures);
        reason = tokio::select! {
            () = tokio::time::sleep(delay) => Reason::Poll,
            r = triggers.recv() => match r { Some(r) => r, None => return },
            Some(()) = changed(&mut watch) => Reason::RefWatch,
            () = cancel.cancelled() => return,
        };
    }
}

async fn open_mirror(source: &Arc<Source>, shared: &Shared) -> Option<Mirror> {
    let (s, dir) = (source.clone(), shared.state_dir.clone());
    match tokio::task::spawn_blocking(move || Mirror::open(&s, &dir)).await {
        Ok(Ok(m)) => Some(m),
        Ok(Err(e)) => {
            tracing::error!(source = %source.name, error = %e, "cannot open the source's mirror; this source will not sync");
            let report = PassReport::failed(&source.name, e.to_string());
            shared
                .board
                .pass_finished(&report, &Default::default(), Duration::ZERO);
            None
        }
        Err(e) => {
            tracing::error!(source = %source.name, error = %e, "opening the mirror failed");
            None
        }
    }
}

fn ref_watch(source: &Source) -> Option<RefWatch> {
    let RepoUrl::Local(path) = &source.url else {
        return None;
    };
    match RefWatch::new(path, REF_DEBOUNCE) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(source = %source.name, error = %e, "cannot watch the local repository; polling only");
            None
        }
    }
}

async fn changed(watch: &mut Option<RefWatch>) -> Option<()> {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// The first trigger waiting, if any, after taking them all.
fn drain(triggers: &mut mpsc::UnboundedReceiver<Reason>) -> Option<Reason> {
    let mut first = None;
    while let Ok(r) = triggers.try_recv() {
        first.get_or_insert(r);
    }
    first
}

/// The poll interval (never longer than the drift interval) with up to 10 % jitter, so that
/// many instances and sources do not poll in step; doubled per consecutive failure, capped.
fn next_delay(source: &Source, drift_interval: Duration, failures: u32) -> Duration {
    let base = source.poll.min(drift_interval);
    let backoff = base
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(MAX_BACKOFF.max(base));
    let jitter = backoff.mul_f64(rand::rng().random_range(0.0..0.1));
    backoff + jitter
}

async fn one_pass(
    source: &Source,
    mirror: &Mirror,
    shared: &Shared,
    cancel: &CancellationToken,
    reason: Reason,
) -> PassReport {
    if !shared.leads() {
        return fetch_only(source, mirror, shared, cancel).await;
    }
    let span = tracing::info_span!("pass", source = %source.name, trigger = reason.as_str(), commit = tracing::field::Empty);
    let started = Instant::now();
    let ctx = shared.sync_context(cancel.clone());
    let options = Options {
        hand_over: true,
        ..Options::default()
    };
    let report = sync::pass(source, mirror, &ctx, options)
        .instrument(span)
        .await;
    shared.pass_finished(source, &report, started.elapsed());
    release_freed_memory();
    report
}

/// Hands the memory a pass freed back to the system. glibc's allocator keeps freed pages in
/// its arenas for reuse; after a pass that rendered thousands of jobs that is tens of MiB an
/// idle daemon would go on holding. Trimming takes well under a millisecond when little is free.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own arenas to the kernel;
    // it touches no memory in use and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A follower's pass: the mirror kept fresh, nothing applied.
async fn fetch_only(
    source: &Source,
    mirror: &Mirror,
    shared: &Shared,
    cancel: &CancellationToken,
) -> PassReport {
    let mut report = PassReport::new(&source.name);
    match mirror.fetch_async(cancel).await {
        Ok(fetched) => {
            report.commit = Some(fetched.commit.to_string());
            report.commit_summary = mirror.commit_summary(fetched.commit);
        }
        Err(e) => report.error = Some(format!("fetch of {} failed: {e}", source.url)),
    }
    shared.board.fetched(&report);
    tracing::debug!(source = %source.name, commit = report.commit.as_deref().unwrap_or("-"), "follower: fetched only");
    report
}
