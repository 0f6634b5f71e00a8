//! What drover says about itself: its version line (with the commit `build.rs` recorded), shell
//! completions and man pages, all generated from the command-line definitions of
//! [`crate::cli`], so that the binary that ships is the one that documents itself. Never reads
//! the configuration or the network, and writes nowhere but stdout and the directory it is given.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

/// `drover --version`: `0.1.0 (commit 1a2b3c4d5e6f, 2026-12-05)`, or `(commit unknown)` for a
/// build outside a Git checkout without `DROVER_BUILD_COMMIT`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("DROVER_COMMIT_INFO"),
    ")"
);

/// Writes the completion script of `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut command = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut command, "drover", out);
}

/// Writes `drover.1` and one `drover-COMMAND.1` per subcommand into `dir`, created if need
/// be.
pub fn man_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(crate::cli::Cli::command(), dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))
}
