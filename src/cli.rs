//! The command line: the subcommands, their flags, logging set-up and exit codes. Each
//! subcommand's work lives in its own module; this file only dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code of a command that ran but found problems (a pass that did not converge, a
/// configuration that does not validate).
const EXIT_PROBLEMS: u8 = 1;
/// Exit code of a command this build cannot run yet or that was called wrongly.
const EXIT_UNAVAILABLE: u8 = 2;

/// drover keeps the jobs of a Nomad cluster in step with a Git repository of job files.
#[derive(Debug, Parser)]
#[command(name = "drover", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "DROVER_CONFIG",
        default_value = "/etc/drover/drover.toml"
    )]
    pub config: PathBuf,
    /// Log format: `text` for a terminal, `json` for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: follow every source and keep Nomad in step with Git (the systemd service).
    Run,
    /// Run one pass over every source; the exit code says whether everything converged.
    Sync {
        /// Run a single pass and exit (the only mode so far; `drover run` is the daemon).
        #[arg(long)]
        once: bool,
        /// Submit without following deployments to their end.
        #[arg(long)]
        detach: bool,
    },
    /// Show what a pass would change, like `nomad job plan`; submits nothing.
    Diff,
    /// Check the configuration (and, later, the job files) offline, e.g. in the jobs repository's CI.
    Validate,
    /// Ask a running drover for its status and print it as a table.
    Status {
        /// Address of the running drover's HTTP endpoint.
        #[arg(long, default_value = "http://127.0.0.1:9315")]
        addr: String,
    },
    /// Sync the bundled example jobs into Nomad and follow their deployments: a first look.
    ///
    /// Without `--nomad-addr` the jobs go to a Nomad simulator started inside drover (like
    /// `nomad agent -dev`), so the demo runs on any machine.
    Demo {
        /// Directory of job files to sync.
        #[arg(long, default_value = "jobs-example")]
        jobs: PathBuf,
        /// A real Nomad to sync into instead of the built-in simulator (also `NOMAD_ADDR`).
        #[arg(long, env = "NOMAD_ADDR")]
        nomad_addr: Option<String>,
    },
}

/// Runs a parsed command line and returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    init_logging(cli.log_format);
    let outcome = match cli.command {
        Command::Validate => validate(&cli.config),
        Command::Demo { jobs, nomad_addr } => crate::demo::run(&jobs, nomad_addr.as_deref()),
        Command::Run | Command::Sync { .. } | Command::Diff | Command::Status { .. } => {
            return unavailable(&cli.command);
        }
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("drover: {e:#}");
            ExitCode::from(EXIT_PROBLEMS)
        }
    }
}

fn validate(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    let loaded = crate::config::Config::load(config)?;
    println!(
        "{}: valid ({} source(s))",
        config.display(),
        loaded.sources.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Subcommands whose pipeline stages this build does not have yet say so plainly.
fn unavailable(command: &Command) -> ExitCode {
    let name = match command {
        Command::Run => "run",
        Command::Sync { .. } => "sync",
        Command::Diff => "diff",
        _ => "status",
    };
    eprintln!(
        "drover {name}: not available in this version of drover yet; see `drover {name} --help` for what it will do"
    );
    ExitCode::from(EXIT_UNAVAILABLE)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
