//! The command line: the subcommands, their flags, logging set-up and exit codes. Each
//! subcommand's work lives in its own module; this file only dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Where the configuration is unless --config or DROVER_CONFIG say otherwise.
const DEFAULT_CONFIG: &str = "/etc/drover/drover.toml";
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
        default_value = DEFAULT_CONFIG
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
    ///
    /// Exit code 0 when every job converged, 1 when some job failed or was blocked, 2 for a
    /// configuration, fetch or connection error. A job that drifted and is only reported does
    /// not change the exit code.
    Sync {
        /// Run a single pass and exit (`drover run` is the daemon).
        #[arg(long, required = true)]
        once: bool,
        /// Submit without following deployments to their end.
        #[arg(long)]
        detach: bool,
        /// Re-plan every managed job now (a drift check of all of them).
        #[arg(long)]
        full: bool,
        /// Prune even past a source's `max_prune_fraction`.
        #[arg(long)]
        allow_mass_prune: bool,
    },
    /// Show what a pass would change, like `nomad job plan`; submits nothing.
    ///
    /// Exit code 0 when nothing would change, 3 when changes are pending, 1 when a file
    /// cannot be rendered, 2 for a configuration, fetch or connection error.
    Diff {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Output for people (coloured on a terminal) or JSON for machines.
        #[arg(long, value_enum, default_value_t = crate::diff::Format::Text)]
        format: crate::diff::Format,
        /// Only these job IDs.
        jobs: Vec<String>,
    },
    /// Check job files offline, e.g. in the CI pipeline of the jobs repository.
    ///
    /// Given PATHs (job files, or directories searched for *.nomad.hcl and *.nomad), checks
    /// each file's syntax, its single job block, file() inlining (confined to the Git work tree
    /// holding the file), variables, duplicate job IDs and the `[policy]` rules of --config
    /// (when given or present), and prints every error as `path:LINE:COL: error: message`.
    /// Without PATHs, checks the configuration, then every source's job files at the current
    /// commit of its revision, with the source's var files and policy.
    Validate {
        /// Job files or directories.
        paths: Vec<PathBuf>,
        /// Also parse each job with Nomad (the config's [nomad], else NOMAD_ADDR...).
        #[arg(long)]
        nomad: bool,
        /// `text`: diagnostics on stderr, a summary on stdout; `json`: one document on stdout.
        #[arg(long, value_enum, default_value_t = crate::validate::Format::Text)]
        format: crate::validate::Format,
        /// An HCL var file, as `nomad job run -var-file`; repeatable, later files win.
        #[arg(long = "var-file", value_name = "FILE")]
        var_files: Vec<PathBuf>,
        /// A variable, as `nomad job run -var NAME=VALUE`; repeatable, wins over var files.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
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
        Command::Validate {
            paths,
            nomad,
            format,
            var_files,
            vars,
        } => {
            let options = crate::validate::Options {
                config: validate_config(&cli.config, !paths.is_empty()),
                paths,
                nomad,
                format,
                var_files,
                vars,
            };
            crate::validate::run(&options)
        }
        Command::Demo { jobs, nomad_addr } => crate::demo::run(&jobs, nomad_addr.as_deref()),
        Command::Sync {
            once: _,
            detach,
            full,
            allow_mass_prune,
        } => {
            let options = crate::sync::Options {
                full,
                detach,
                allow_mass_prune,
            };
            sync_once(&cli.config, options)
        }
        Command::Diff {
            source,
            format,
            jobs,
        } => with_config(&cli.config, |config| async move {
            crate::diff::run(
                &config,
                &crate::diff::Options {
                    source,
                    jobs,
                    format,
                },
            )
            .await
        }),
        Command::Run | Command::Status { .. } => {
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

/// The config `drover validate` reads. With job paths, the default file is optional (a CI
/// runner has none); one named with --config or DROVER_CONFIG must exist.
fn validate_config(config: &std::path::Path, have_paths: bool) -> Option<PathBuf> {
    let default = std::path::Path::new(DEFAULT_CONFIG);
    (!have_paths || config != default || config.exists()).then(|| config.to_owned())
}

fn sync_once(config: &std::path::Path, options: crate::sync::Options) -> anyhow::Result<ExitCode> {
    with_config(config, |config| async move {
        crate::sync::once::run(&config, options).await
    })
}

/// Loads the configuration (exit code 2 when it is invalid) and runs `command` on a runtime.
fn with_config<F, Fut>(path: &std::path::Path, command: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(crate::config::Config) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let config = match crate::config::Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("drover: {e}");
            return Ok(ExitCode::from(crate::sync::once::EXIT_ERROR));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(command(config))
}

/// Subcommands whose pipeline stages this build does not have yet say so plainly.
fn unavailable(command: &Command) -> ExitCode {
    let name = match command {
        Command::Run => "run",
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
