//! Keeping a long-lived mirror fast. gix writes one pack per fetch that brings objects and
//! never repacks; after a few hundred fetches every object lookup searches hundreds of pack
//! indexes. Past `max_packs` the mirror is repacked into one pack with `git repack` (gix has
//! no repack). Unreachable objects are kept, so that a diff from a commit that a force-push
//! orphaned still works.

use std::path::Path;
use std::process::{Command, Stdio};

use super::error::SourceError;
use super::mirror::{Settings, open};
use super::remote::find_program;

/// The number of pack files in the mirror at `dir`.
pub fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("objects/pack"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        })
        .unwrap_or(0)
}

/// Repacks when the mirror holds more than `max_packs` packs; returns a fresh handle to the
/// repository when it did (the old one still maps the deleted packs).
pub(super) fn bound(settings: &Settings) -> Result<Option<gix::ThreadSafeRepository>, SourceError> {
    let packs = count(&settings.dir);
    if packs <= settings.limits.max_packs {
        return Ok(None);
    }
    if find_program("git").is_none() {
        return Err(SourceError::ProgramMissing {
            program: "git",
            why: "drover repacks its mirrors with `git repack` (gix cannot); install git",
        });
    }
    let fail = |detail: String| SourceError::Mirror {
        path: settings.dir.display().to_string(),
        detail,
    };
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(&settings.dir)
        .args([
            "-c",
            "gc.auto=0",
            "repack",
            "-a",
            "-d",
            "-q",
            "--keep-unreachable",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run git repack: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!("git repack failed: {}", stderr.trim())));
    }
    tracing::info!(
        source = %settings.name,
        packs_before = packs,
        packs_after = count(&settings.dir),
        "repacked the mirror"
    );
    open(&settings.dir).map(Some).map_err(fail)
}
