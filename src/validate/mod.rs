//! `drover validate`: checks job files without touching a cluster, for the CI pipeline of a
//! jobs repository. Given paths, each file goes through render's local steps (syntax, one job
//! block, `file()` inlining confined to the Git work tree holding it, variables), duplicate IDs
//! across the files, and the policy rules that need no server; `--nomad` adds Nomad's own parse
//! (and the policy rules on its canonical job). Every error of every file is printed, and the
//! exit code is non-zero when there is any; Nomad's warnings are printed after a file's errors
//! and never fail it.
//!
//! Never registers, plans or writes anything.

mod report;
mod server;
mod sources;
mod worktree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

pub use report::Diagnostic;
pub use worktree::WorkTree;

use crate::config::{Config, Policy};
use crate::policy::JobView;
use crate::render::{self, Prepared, RenderError, Settings};
use crate::source::{FileError, RepoFiles};
use crate::state::JobKey;

/// Largest file read, like a source's `max_file_size` default.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Output format of `drover validate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `path:LINE:COL: error: message` lines on stderr, a summary on stdout.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// What to check and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The configuration whose `[policy]` applies; required without `paths`.
    pub config: Option<PathBuf>,
    /// Job files, or directories searched for `*.nomad.hcl` and `*.nomad`.
    pub paths: Vec<PathBuf>,
    /// Also parse each job with Nomad (the `[nomad]` cluster, or `NOMAD_ADDR`...).
    pub nomad: bool,
    pub format: Format,
    /// Var files and `NAME=VALUE` variables, as `nomad job run -var-file/-var` take them.
    pub var_files: Vec<PathBuf>,
    pub vars: Vec<String>,
    /// How the text shows warnings: each kind folded into one line per file, or every one.
    pub detail: render::Detail,
    /// An age identity file (`age-keygen`'s): with it, `--config` decrypts the sources' SOPS
    /// files and checks their MAC and values too.
    pub age_identity: Option<PathBuf>,
}

/// Runs the command; the exit code says whether anything is wrong.
pub fn run(opts: &Options) -> anyhow::Result<ExitCode> {
    let config = opts.config.as_deref().map(Config::load).transpose()?;
    // Holds the scratch mirrors of `--config` mode until the files are checked.
    let mut _scratch = None;
    let (groups, files) = match (&config, opts.paths.is_empty()) {
        (Some(config), true) => {
            let path = config.path.display();
            println!("{path}: valid ({} source(s))", config.sources.len());
            let identities = match &opts.age_identity {
                Some(path) => Some(age_identities(path)?),
                None => None,
            };
            let (groups, files, scratch) = sources::groups(config, identities.as_ref())?;
            _scratch = Some(scratch);
            (groups, files)
        }
        (None, true) => anyhow::bail!("give job files or directories, or --config"),
        (_, false) => path_groups(&opts.paths, opts, config.as_ref())?,
    };
    let mut diagnostics = check(&groups, &files, opts.nomad)?;
    // Per file, its errors before its warnings, as a report reads.
    diagnostics.sort_by(|a, b| {
        (&a.path, a.severity, a.line, a.column)
            .cmp(&(&b.path, b.severity, b.line, b.column))
            .then_with(|| a.cmp(b))
    });
    diagnostics.dedup();
    let json = opts.format == Format::Json;
    report::print(files.len(), &diagnostics, json, opts.detail)?;
    Ok(if !diagnostics.iter().any(Diagnostic::is_error) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The age identities in the file at `path`; its content is never shown.
fn age_identities(path: &Path) -> anyhow::Result<crate::kinds::sops::Identities> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the age identity file {}", path.display()))?;
    crate::kinds::sops::Identities::parse(&text)
        .with_context(|| format!("age identity file {}", path.display()))
}

/// Files read through one repository, rendered with one source's settings and rules.
pub(crate) struct Group {
    files: Box<dyn RepoFiles>,
    settings: Settings,
    /// The var files' problems are reported once, and block the group's jobs.
    variables: Result<render::Variables, Vec<Diagnostic>>,
    /// Files of the repository refused before rendering (links, over the size cap).
    problems: Vec<Diagnostic>,
    policy: Policy,
    /// Where `--nomad` parses: the source's cluster, else the default one or `NOMAD_*`.
    cluster: Option<crate::config::Cluster>,
}

/// One group per Git work tree holding the given files.
fn path_groups(
    paths: &[PathBuf],
    opts: &Options,
    config: Option<&Config>,
) -> anyhow::Result<(Vec<Group>, Vec<JobFile>)> {
    let settings = settings(opts)?;
    let variables = render::load_variables(&Given, &settings).map_err(|errors| {
        errors
            .iter()
            .map(|e| Diagnostic::from_render(&e.path, e))
            .collect()
    });
    let policy = config.map(|c| c.policy.clone()).unwrap_or_default();
    let cluster = config.and_then(|c| c.cluster(crate::config::DEFAULT_CLUSTER).cloned());
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut groups = Vec::new();
    let mut files = Vec::new();
    for (display, tree, rel) in collect(paths)? {
        let group = match roots.iter().position(|r| r == tree.root()) {
            Some(i) => i,
            None => {
                roots.push(tree.root().to_owned());
                groups.push(Group {
                    files: Box::new(tree),
                    settings: settings.clone(),
                    variables: variables.clone(),
                    problems: Vec::new(),
                    policy: policy.clone(),
                    cluster: cluster.clone(),
                });
                groups.len() - 1
            }
        };
        files.push(JobFile {
            display,
            rel,
            group,
        });
    }
    Ok((groups, files))
}

/// A job file: the path as given, its path in its repository, and its group.
#[derive(Debug, Clone)]
pub(crate) struct JobFile {
    display: String,
    rel: String,
    group: usize,
}

/// The job files named by `paths` (files as given, directories searched recursively), each
/// with the work tree holding it.
fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, WorkTree, String)>> {
    let cwd = std::env::current_dir()?;
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.is_dir() {
            walk(path, &mut found)?;
        } else {
            found.push(path.clone());
        }
    }
    let mut out = Vec::with_capacity(found.len());
    for path in found {
        let abs = std::path::absolute(&path)?;
        let abs: PathBuf = abs.components().collect();
        let tree = WorkTree::new(WorkTree::root_of(&abs, &cwd), DEFAULT_MAX_FILE_SIZE);
        let rel = tree
            .relative(&abs)
            .with_context(|| format!("{}: not a UTF-8 path", path.display()))?;
        out.push((path.display().to_string(), tree, rel));
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() && !name.starts_with('.') {
            walk(&entry.path(), out)?;
        } else if kind.is_file() && (name.ends_with(".nomad.hcl") || name.ends_with(".nomad")) {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Var files given on the command line, read as given: they are the caller's, not the
/// repository's, so they are not confined (only capped).
struct Given;

impl RepoFiles for Given {
    fn read(&self, path: &str) -> Result<Vec<u8>, FileError> {
        let owned = || path.to_owned();
        let unreadable = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => FileError::Missing { path: owned() },
            kind => FileError::Unreadable {
                path: owned(),
                detail: kind.to_string(),
            },
        };
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if !meta.is_file() {
            return Err(FileError::NotAFile { path: owned() });
        }
        if meta.len() > DEFAULT_MAX_FILE_SIZE {
            return Err(FileError::TooLarge {
                path: owned(),
                size: meta.len(),
                limit: DEFAULT_MAX_FILE_SIZE,
            });
        }
        std::fs::read(path).map_err(unreadable)
    }
}

fn settings(opts: &Options) -> anyhow::Result<Settings> {
    let mut variables = std::collections::BTreeMap::new();
    for var in &opts.vars {
        // The message never repeats the argument: its value may be a secret.
        let (name, value) = var
            .split_once('=')
            .context("--var: expected NAME=VALUE, got an argument without `=`")?;
        variables.insert(name.to_owned(), render::Given::Text(value.to_owned()));
    }
    Ok(Settings {
        source: "validate".to_owned(),
        var_files: opts
            .var_files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        variables,
        ..Settings::default()
    })
}

fn check(groups: &[Group], files: &[JobFile], nomad: bool) -> anyhow::Result<Vec<Diagnostic>> {
    let mut diagnostics: Vec<Diagnostic> = groups
        .iter()
        .flat_map(|g| {
            g.variables
                .as_ref()
                .err()
                .into_iter()
                .flatten()
                .chain(&g.problems)
        })
        .cloned()
        .collect();
    let mut prepared = Vec::new();
    for (file, result) in files.iter().zip(prepare_all(groups, files)) {
        match result {
            Some(Ok(p)) => prepared.push((file, p)),
            Some(Err(errors)) => diagnostics.extend(errors.iter().map(|e| diagnose(file, e))),
            None => {}
        }
    }
    let checked: Vec<(&JobFile, JobKey, JobView)> = if nomad {
        let (ok, errors) = server::render_all(groups, &prepared)?;
        diagnostics.extend(errors);
        ok
    } else {
        prepared
            .into_iter()
            .map(|(f, p)| (f, p.key(), p.file_view))
            .collect()
    };
    let duplicates = duplicates(groups, &checked);
    for (i, (file, _, view)) in checked.iter().enumerate() {
        if let Some(e) = duplicates.get(&i) {
            diagnostics.push(Diagnostic::from_render(&file.display, e));
        }
        for v in crate::policy::check(&groups[file.group].policy, view) {
            let e = RenderError {
                path: file.rel.clone(),
                position: None,
                kind: render::ErrorKind::Policy(Box::new(v)),
            };
            diagnostics.push(Diagnostic::from_render(&file.display, &e));
        }
    }
    Ok(diagnostics)
}

/// Duplicate job IDs, by index into `checked`; jobs of different clusters cannot collide.
fn duplicates(
    groups: &[Group],
    checked: &[(&JobFile, JobKey, JobView)],
) -> BTreeMap<usize, RenderError> {
    let cluster = |f: &JobFile| groups[f.group].cluster.as_ref().map(|c| c.name.clone());
    let clusters: BTreeSet<Option<String>> = checked.iter().map(|(f, _, _)| cluster(f)).collect();
    let mut out = BTreeMap::new();
    for c in clusters {
        let members: Vec<usize> = (0..checked.len())
            .filter(|&i| cluster(checked[i].0) == c)
            .collect();
        let keys: Vec<(JobKey, String)> = members
            .iter()
            .map(|&i| (checked[i].1.clone(), checked[i].0.display.clone()))
            .collect();
        for (j, e) in render::duplicates(&keys) {
            out.insert(members[j], e);
        }
    }
    out
}

/// Errors of the job file are reported with its path as given; errors of another file (a var
/// file) with that file's own path.
fn diagnose(file: &JobFile, e: &RenderError) -> Diagnostic {
    let path = if e.path == file.rel {
        &file.display
    } else {
        &e.path
    };
    Diagnostic::from_render(path, e)
}

/// The local steps for every file, spread over the machine's cores; `None` for a file whose
/// group's var files failed (reported once, with the group).
fn prepare_all(
    groups: &[Group],
    files: &[JobFile],
) -> Vec<Option<Result<Prepared, Vec<RenderError>>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = files.len().div_ceil(threads).max(1);
    let one = |f: &JobFile| {
        let g = &groups[f.group];
        let vars = g.variables.as_ref().ok()?;
        Some(render::prepare(g.files.as_ref(), &f.rel, &g.settings, vars))
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
