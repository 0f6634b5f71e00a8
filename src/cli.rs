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

/// drover keeps the jobs of a Nomad cluster in step with a Git repository of job files.
#[derive(Debug, Parser)]
#[command(name = "drover", version = crate::selfdoc::VERSION, about, long_about = None)]
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
    /// Log format: `text` for people and journald, `json` for log shippers. Which events:
    /// DROVER_LOG, else RUST_LOG (e.g. `info,drover::sync=debug`), else `info`.
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
        /// Re-plan every managed job now (a drift check of all of them), and send again the
        /// job files whose unchanged inputs Nomad refused before.
        #[arg(long)]
        full: bool,
        /// Prune even past a source's `max_prune_fraction`.
        #[arg(long)]
        allow_mass_prune: bool,
        /// Print every diagnostic of a job in full, not its warnings folded into one line.
        #[arg(long, short)]
        verbose: bool,
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
        /// Print every diagnostic of a file in full, not its warnings folded into one line.
        #[arg(long, short)]
        verbose: bool,
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
        /// Print every warning (text format), not each kind folded into one line per file.
        #[arg(long, short)]
        verbose: bool,
        /// An age identity file (as `age-keygen` writes it): with --config, also decrypt each
        /// source's SOPS files and check their MAC; without it they are checked offline.
        #[arg(long, value_name = "FILE")]
        age_identity: Option<PathBuf>,
    },
    /// Ask a running drover for its status and print it as a table.
    ///
    /// Exit code 0 when drover answered, 1 when it cannot be reached or its answer is not a
    /// status. An https:// address is checked against the system roots (or SSL_CERT_FILE).
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
        /// The example to run: job files and the `drover.toml` that syncs them.
        #[arg(long, default_value = "jobs-example")]
        example: PathBuf,
        /// A real Nomad to sync into instead of the built-in simulator (also `NOMAD_ADDR`).
        #[arg(long, env = "NOMAD_ADDR")]
        nomad_addr: Option<String>,
        /// Where the HTTP endpoint (status, metrics, webhook) listens.
        #[arg(long, default_value = "127.0.0.1:9315")]
        listen: std::net::SocketAddr,
    },
    /// Print the shell completion script for SHELL to stdout.
    ///
    /// bash: `drover completions bash > ~/.local/share/bash-completion/completions/drover`;
    /// zsh: into a directory of `$fpath` as `_drover`; fish: into
    /// `~/.config/fish/completions/drover.fish`. The Debian package installs all three.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (drover.1 and drover-COMMAND.1 for each command) into DIR.
    ///
    /// The Debian package's pages are written by the binary it ships, so they describe that
    /// binary; from a source build, e.g. `drover man --dir ~/.local/share/man/man1`.
    Man {
        /// The directory to write into; created if need be.
        #[arg(long)]
        dir: PathBuf,
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
            verbose,
            age_identity,
        } => {
            let options = crate::validate::Options {
                config: validate_config(&cli.config, !paths.is_empty()),
                paths,
                nomad,
                format,
                var_files,
                vars,
                detail: detail(verbose),
                age_identity,
            };
            crate::validate::run(&options)
        }
        Command::Demo {
            example,
            nomad_addr,
            listen,
        } => crate::demo::run(&crate::demo::Options {
            example,
            nomad_addr,
            listen,
        }),
        Command::Sync {
            once: _,
            detach,
            full,
            allow_mass_prune,
            verbose,
        } => {
            let options = crate::sync::Options {
                full,
                detach,
                hand_over: false,
                allow_mass_prune,
            };
            sync_once(&cli.config, options, verbose)
        }
        Command::Diff {
            source,
            format,
            verbose,
            jobs,
        } => with_config(&cli.config, |config| async move {
            crate::diff::run(
                &config,
                &crate::diff::Options {
                    source,
                    jobs,
                    format,
                    detail: detail(verbose),
                },
            )
            .await
        }),
        Command::Status { addr } => crate::serve::status_command(&addr),
        Command::Run => run_daemon(&cli.config),
        Command::Completions { shell } => {
            crate::selfdoc::completions(shell, &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => crate::selfdoc::man_pages(&dir).map(|()| ExitCode::SUCCESS),
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

fn sync_once(
    config: &std::path::Path,
    options: crate::sync::Options,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    with_config(config, |config| async move {
        crate::sync::once::run(&config, options, verbose).await
    })
}

/// How much of a file's warnings a command prints: each kind folded into one line, or every
/// one with `--verbose`.
fn detail(verbose: bool) -> crate::render::Detail {
    if verbose {
        crate::render::Detail::Full
    } else {
        crate::render::Detail::Folded
    }
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

/// `drover run`; a configuration that does not load is exit code 2, as for `sync --once`.
fn run_daemon(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let loaded = crate::config::Config::load(path).and_then(|c| c.verify_secrets().map(|()| c));
    match loaded {
        Ok(config) => crate::daemon::run(path, config),
        Err(e) => {
            eprintln!("drover: {e}");
            Ok(ExitCode::from(crate::sync::once::EXIT_ERROR))
        }
    }
}

/// The global subscriber, on stderr. Which events: `DROVER_LOG`, else `RUST_LOG` (both in
/// `RUST_LOG` syntax, e.g. `info,drover::sync=debug`; DROVER_LOG wins so that drover can be
/// tuned apart from other programs in one environment), else `info`. How: JSON lines with
/// `--log-format json`; text otherwise, coloured only on a terminal, and under journald (stderr
/// is the stream `JOURNAL_STREAM` names) without a timestamp (the journal has its own) and with
/// a `<N>` priority prefix so that `journalctl -p warning` works.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let (filter, invalid) = log_filter(|name| std::env::var(name).ok());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Json => layer.json().boxed(),
        LogFormat::Text if stderr_is_journal() => {
            let format = tracing_subscriber::fmt::format()
                .without_time()
                .with_ansi(false);
            layer
                .with_ansi(false)
                .event_format(JournalPriority(format))
                .boxed()
        }
        LogFormat::Text => layer.with_ansi(std::io::stderr().is_terminal()).boxed(),
    };
    // `try_init`: a second call (an embedding, a test) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
    if let Some((var, error)) = invalid {
        tracing::warn!(var, %error, "invalid log filter ignored; logging at info");
    }
}

/// The filter from the first of `DROVER_LOG` and `RUST_LOG` that is set (`info` without
/// either), and, when that one does not parse, its name and the error.
fn log_filter(
    var: impl Fn(&str) -> Option<String>,
) -> (
    tracing_subscriber::EnvFilter,
    Option<(&'static str, tracing_subscriber::filter::ParseError)>,
) {
    use tracing_subscriber::EnvFilter;
    let set = ["DROVER_LOG", "RUST_LOG"].into_iter().find_map(|name| {
        var(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    });
    match set.map(|(name, v)| (name, EnvFilter::try_new(v))) {
        None => (EnvFilter::new("info"), None),
        Some((_, Ok(filter))) => (filter, None),
        Some((name, Err(e))) => (EnvFilter::new("info"), Some((name, e))),
    }
}

/// Whether stderr is the journal stream systemd connected: `JOURNAL_STREAM` is
/// `DEVICE:INODE` of that stream, and stays set in children whose stderr was redirected.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var("JOURNAL_STREAM").ok() else {
        return false;
    };
    let stderr = std::io::stderr().as_fd().try_clone_to_owned();
    let meta = stderr.and_then(|fd| std::fs::File::from(fd).metadata());
    meta.is_ok_and(|m| stream == format!("{}:{}", m.dev(), m.ino()))
}

/// Text events prefixed with their syslog priority (`sd-daemon(3)`), which journald strips
/// and records as the entry's priority.
struct JournalPriority<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalPriority<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}
