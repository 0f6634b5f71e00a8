//! The `drover` binary: parses the command line and hands over to [`drover::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = drover::cli::Cli::parse();
    drover::cli::main(cli)
}
