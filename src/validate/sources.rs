//! `drover validate --config FILE` without paths: every configured source's job files at the
//! current commit of its branch, tag or commit, read from a fresh mirror in a scratch
//! directory (a CI runner has no state dir, and a running daemon's mirrors are never touched),
//! each with its source's settings, var files and policy, and its cluster objects besides jobs
//! (namespaces, node pools, ACL policies and roles, variables), each read and checked as a
//! pass reads it. A source whose `url` is a local
//! directory that is not itself a repository (the bundled `jobs-example/`) is read as a work
//! tree, like the paths of `drover validate PATH`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{Diagnostic, Group, JobFile, WorkTree};
use crate::config::{Config, RepoUrl, Source};
use crate::kinds::sops::{self, Identities};
use crate::kinds::{self, Kind};
use crate::render::{self, Settings};
use crate::source::{Listed as Selected, Mirror, RepoFiles, Selection, verify};

/// A scratch directory, removed when dropped.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("drover-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover scratch mirror in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One group per source, and its job files (reported by repository path).
/// `age_identity`: the text of an age identity file that decrypts the sources' SOPS files (they
/// are checked without it, but for their MAC and values).
pub(super) fn groups(
    config: &Config,
    age_identity: Option<&Identities>,
) -> anyhow::Result<(Vec<Group>, Vec<JobFile>, Scratch)> {
    let scratch = Scratch::new()?;
    let mut groups = Vec::new();
    let mut files = Vec::new();
    for source in &config.sources {
        let (repo, paths, problems) = match &source.url {
            RepoUrl::Local(dir) if !is_repository(dir) => work_tree(source, dir, age_identity)?,
            _ => at_commit(source, scratch.path(), age_identity)?,
        };
        for path in paths {
            files.push(JobFile {
                display: path.clone(),
                rel: path,
                group: groups.len(),
            });
        }
        let settings = Settings::from_source(source);
        let variables = render::load_variables(repo.as_ref(), &settings).map_err(|errors| {
            errors
                .iter()
                .map(|e| Diagnostic::from_render(&e.path, e))
                .collect()
        });
        groups.push(Group {
            files: repo,
            settings,
            variables,
            problems,
            policy: source.policy.clone(),
            cluster: Some(source.cluster.as_ref().clone()),
        });
    }
    Ok((groups, files, scratch))
}

type Listed = (Box<dyn RepoFiles>, Vec<String>, Vec<Diagnostic>);

/// The source's job files at the current commit of its revision, from a scratch mirror.
fn at_commit(
    source: &Source,
    scratch: &Path,
    age_identity: Option<&Identities>,
) -> anyhow::Result<Listed> {
    let mirror = Mirror::open(source, scratch)?;
    let fetched = mirror.fetch(&AtomicBool::new(false))?;
    let snapshot = mirror.snapshot(fetched.commit)?;
    let mut problems: Vec<Diagnostic> = snapshot
        .refused
        .iter()
        .map(|e| {
            let path = refused_path(e);
            let e = render::RenderError {
                path: path.clone(),
                position: None,
                kind: render::ErrorKind::Unreadable(e.clone()),
            };
            Diagnostic::from_render(&path, &e)
        })
        .collect();
    if let Some(verify) = &source.verify {
        // A commit the daemon would refuse is an error here too; a good one is said.
        match verify::verify(&mirror, fetched.commit, verify) {
            Ok(signer) => eprintln!(
                "source `{}`: commit {} signed by {signer} (verify mode {})",
                source.name,
                fetched.commit,
                verify.mode.as_str()
            ),
            Err(refusal) => problems.push(Diagnostic {
                path: format!("source `{}` at commit {}", source.name, fetched.commit),
                line: None,
                column: None,
                severity: "error",
                message: format!("would not be deployed: {refusal}"),
                warning: None,
            }),
        }
    }
    let paths = snapshot.files.iter().map(|f| f.path.clone()).collect();
    let objects: Vec<(usize, String)> = (snapshot.groups.iter().enumerate())
        .flat_map(|(group, files)| files.iter().map(move |f| (group, f.path.clone())))
        .collect();
    let namespace = source.namespace.as_deref();
    problems.extend(check_objects(&snapshot, &objects, age_identity, namespace));
    Ok((Box::new(snapshot), paths, problems))
}

/// A directory that Git can fetch from: a work tree's top level or a bare repository.
fn is_repository(dir: &Path) -> bool {
    dir.join(".git").exists() || (dir.join("HEAD").is_file() && dir.join("objects").is_dir())
}

/// The files of `dir` that the source's `paths` select and `exclude` does not, and its
/// object files, checked.
fn work_tree(
    source: &Source,
    dir: &Path,
    age_identity: Option<&Identities>,
) -> anyhow::Result<Listed> {
    let selection = Selection::new(
        &source.paths,
        &source.exclude,
        &source.objects.globs_in_order(),
    )?;
    let tree = WorkTree::new(dir, source.limits.max_file_size);
    let mut found = Vec::new();
    list(dir, dir, &mut found)?;
    let mut paths = Vec::new();
    let mut objects = Vec::new();
    for path in found {
        match selection.classify(&path) {
            Some(Selected::Job) => paths.push(path),
            Some(Selected::Group(group)) => objects.push((group, path)),
            None => {}
        }
    }
    let problems = check_objects(&tree, &objects, age_identity, source.namespace.as_deref());
    Ok((Box::new(tree), paths, problems))
}

/// Every problem of the object files, each as a pass would report it. `objects`: each file
/// with its group (a kind in [`Kind::ALL`] order, then the SOPS files); `namespace` the
/// source's.
fn check_objects(
    files: &dyn RepoFiles,
    objects: &[(usize, String)],
    age_identity: Option<&Identities>,
    namespace: Option<&str>,
) -> Vec<Diagnostic> {
    let read = |path: &str| files.read_text(path);
    let mut problems = Vec::new();
    for (group, path) in objects {
        let text = match read(path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(error(path, None, e.to_string()));
                continue;
            }
        };
        let errors = match Kind::ALL.get(*group) {
            Some(kind) => kinds::parse(*kind, path, &text, &read, namespace).err(),
            None => match (sops::read(path, &text, namespace), age_identity) {
                (Err(errors), _) => Some(errors),
                (Ok(file), Some(identities)) => {
                    if let Err(e) = sops::decrypt(&file, identities) {
                        // The error names the file first; the diagnostic names it already.
                        let message = e.to_string();
                        let message = message
                            .strip_prefix(&format!("{path}: "))
                            .unwrap_or(&message);
                        problems.push(error(path, None, message.to_owned()));
                    }
                    None
                }
                (Ok(_), None) => None,
            },
        };
        problems.extend(errors.into_iter().flatten().map(|e| {
            let at = e.position.map(|p| (p.line, p.column));
            error(&e.path, at, e.message)
        }));
    }
    problems
}

fn error(path: &str, at: Option<(usize, usize)>, message: String) -> Diagnostic {
    Diagnostic {
        path: path.to_owned(),
        line: at.map(|(line, _)| line),
        column: at.map(|(_, column)| column),
        severity: "error",
        message,
        warning: None,
    }
}

/// Every regular file under `dir`, repository-relative, skipping dot-directories.
fn list(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() && !entry.file_name().to_string_lossy().starts_with('.') {
            list(root, &path, out)?;
        } else if kind.is_file()
            && let Some(rel) = WorkTree::new(root, 0).relative(&path)
        {
            out.push(rel);
        }
    }
    Ok(())
}

fn refused_path(e: &crate::source::FileError) -> String {
    use crate::source::FileError::*;
    match e {
        Missing { path }
        | Symlink { path }
        | NotAFile { path }
        | TooLarge { path, .. }
        | Escapes { path }
        | Unreadable { path, .. } => path.clone(),
    }
}
