//! Property-based fuzzing of every parser of outside input, run by `cargo test`: each target
//! feeds generated inputs (realistic structure, then mutations and raw bytes) to one parser and
//! checks that it returns, `Ok` or `Err`, without panicking and within [`DEADLINE`].
//!
//! Each target runs [`cases`] inputs: a few hundred by default, so that all of them together
//! stay within seconds in CI; `PROPTEST_CASES=100000 cargo test --test fuzz_parsers` runs a
//! longer session. A failing input is shrunk and printed; keep it as a regular test beside the
//! target, and its file under `tests/fuzz-corpus/<target>/`, which [`corpus`] replays.
//!
//! proptest (not cargo-fuzz) because these targets then run on the stable toolchain inside the
//! ordinary `cargo test --workspace`, with generators that know HCL, TOML and JSON.

mod adversarial;
#[path = "../common/mod.rs"]
mod common;
mod config;
mod nomad;
mod render;
mod source;
mod webhook;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, TestRunner};

/// The longest one call may take. Generous for a debug build on a busy machine: the point is to
/// catch an input that loops or goes quadratic, which takes far longer.
pub const DEADLINE: Duration = Duration::from_secs(1);

/// A runner of `default` cases, or of `PROPTEST_CASES` when set.
pub fn runner(default: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    TestRunner::new(Config {
        cases,
        // Failures are kept as regular tests and corpus files, not as proptest's own files.
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs `f`, fails when it took longer than [`DEADLINE`], and returns its result.
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < DEADLINE, "{what} took {took:?}");
    out
}

/// The files of `tests/fuzz-corpus/<target>/`: inputs worth replaying on every run.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    files
}
