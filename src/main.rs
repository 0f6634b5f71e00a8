//! The `drover` binary: parses the command line and hands over to [`drover::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tune_allocator();
    let cli = drover::cli::Cli::parse();
    drover::cli::main(cli)
}

/// Tunes glibc's allocator for a long-running daemon that holds little. By default it makes up
/// to eight arenas per core as threads contend, each keeping its own freed pages, and raises its
/// mmap threshold to the largest block freed, so the megabyte buffers of a state save or a
/// status document end up in the heap between long-lived records and pin its pages. With two
/// arenas and blocks of 1 MiB or more always mapped apart, the daemon's resident memory after a
/// cold sync of 5,000 jobs fell from 45 MiB to 33 MiB; the CPU time of a cold sync stayed
/// within the noise between runs. Must run before the runtime starts its threads.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
