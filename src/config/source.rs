//! `[[source]]` → [`Source`]: a repository, the revision to follow, which files are jobs, and
//! how they are applied. Checks names, references between tables and the shape of paths and
//! revisions; never touches the repository itself.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::cluster::Cluster;
use super::error::ConfigError;
use super::git_access::{GitAccess, SourceLimits, access, limits};
use super::locate::KeyPath;
use super::notify::{CommitStatus, commit_status, http_url};
use super::objects::{Objects, objects};
use super::policy::Policy;
use super::schema::{DEFAULT_BRANCH, RawSource};
use super::verify::{Verify, verify};
use super::{Ctx, check_name};

/// One repository of job files and how drover applies them.
#[derive(Debug, Clone)]
pub struct Source {
    /// Unique; stamped on every job as `drover.source`.
    pub name: String,
    pub url: RepoUrl,
    pub revision: Revision,
    /// Globs (repository-relative, `/`-separated) selecting job files.
    pub paths: Vec<String>,
    /// Globs of files to leave out even when `paths` matches them.
    pub exclude: Vec<String>,
    /// The cluster this source's jobs go to.
    pub cluster: Arc<Cluster>,
    /// Namespace for this source's jobs; `None` leaves it to the job file and the cluster.
    pub namespace: Option<String>,
    /// Region for this source's jobs; `None` leaves it to the job file and the cluster.
    pub region: Option<String>,
    /// Datacenters for this source's jobs; `None` leaves them to the job file.
    pub datacenters: Option<Vec<String>>,
    /// The rules its jobs must follow: `[source.policy]` over `[policy]`.
    pub policy: Policy,
    /// Repository-relative HCL variable files, applied in order.
    pub var_files: Vec<String>,
    /// Job variables given inline, of any TOML type; they win over `var_files`.
    pub variables: BTreeMap<String, toml::Value>,
    pub poll: Duration,
    pub prune: bool,
    /// Largest share of this source's managed jobs that one commit may prune, in `0..=1`.
    pub max_prune_fraction: f64,
    pub self_heal: bool,
    pub preserve_counts: PreserveCounts,
    pub auto_promote: bool,
    pub rollback_on_failure: bool,
    /// The forge told of each deployed commit's outcome.
    pub commit_status: Option<CommitStatus>,
    /// The signatures a commit or tag needs before it is deployed (`None`: none).
    pub verify: Option<Verify>,
    /// A commit's page on the forge (`commit_url`), `{commit}` standing for its full ID.
    pub commit_url: Option<String>,
    /// Namespaces, node pools, ACL policies and roles, and variables from the same commit.
    pub objects: Objects,
    /// Credentials, trust and host keys for reaching the repository.
    pub access: GitAccess,
    pub limits: SourceLimits,
}

/// What a source follows: exactly one of the `branch`, `tag` and `commit` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    Branch(String),
    Tag(String),
    /// A full commit id in lower-case hex (an abbreviation could become ambiguous).
    Commit(String),
}

/// Where the repository is, in one of the forms `git clone` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoUrl {
    /// `https://`, `http://`, `ssh://`, `git://` or `file://`.
    Url(url::Url),
    /// scp-like `[user@]host:path`, which Git reaches over SSH.
    Scp(String),
    /// A local path, made absolute against the config file's directory.
    Local(PathBuf),
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => write!(f, "{url}"),
            Self::Scp(s) => write!(f, "{s}"),
            Self::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Whose word counts for a task group's `count` when the job is updated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreserveCounts {
    /// Groups with a `scaling` block keep their live count (an autoscaler owns it); others
    /// take the count from Git.
    #[default]
    Scaled,
    /// Every group keeps its live count; Git's count only applies when a group is created.
    Always,
    /// Git's count always wins.
    Never,
}

/// Resolves every `[[source]]`; at least one is required.
pub(super) fn sources(
    raw: &[RawSource],
    clusters: &BTreeMap<String, Arc<Cluster>>,
    cx: &Ctx,
) -> Result<Vec<Source>, ConfigError> {
    if raw.is_empty() {
        let message = "no [[source]] table: drover has nothing to sync; add one with at least `name` and `url`";
        return Err(cx.invalid(&KeyPath::root("source"), message));
    }
    let mut seen = BTreeMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, source) in raw.iter().enumerate() {
        let key = KeyPath::root("source").index(i);
        if let Some(first) = seen.insert(source.name.as_str(), i) {
            let message = format!(
                "`{}` is already the name of source[{first}]; names must be unique",
                source.name
            );
            return Err(cx.invalid(&key.key("name"), message));
        }
        out.push(resolve(source, &key, clusters, cx)?);
    }
    Ok(out)
}

fn resolve(
    raw: &RawSource,
    key: &KeyPath,
    clusters: &BTreeMap<String, Arc<Cluster>>,
    cx: &Ctx,
) -> Result<Source, ConfigError> {
    check(raw, key, cx)?;
    let Some(cluster) = clusters.get(&raw.cluster) else {
        let message = format!(
            "source `{}` names cluster `{}`, which is not defined: add a [clusters.{}] table, or use \"default\" for [nomad]",
            raw.name, raw.cluster, raw.cluster
        );
        return Err(cx.invalid(&key.key("cluster"), message));
    };
    let url = parse_repo_url(&raw.url, cx).map_err(|m| cx.invalid(&key.key("url"), m))?;
    Ok(Source {
        name: raw.name.clone(),
        access: access(raw, &url, key, cx)?,
        limits: limits(raw, key, cx)?,
        url,
        revision: revision(raw, key, cx)?,
        paths: raw.paths.clone(),
        exclude: raw.exclude.clone(),
        cluster: Arc::clone(cluster),
        namespace: raw.namespace.clone(),
        region: raw.region.clone(),
        datacenters: raw.datacenters.clone(),
        // Resolved with the global table by `policy::apply`.
        policy: Policy::default(),
        var_files: raw.var_files.clone(),
        variables: raw.variables.clone(),
        poll: raw.poll,
        prune: raw.prune,
        max_prune_fraction: raw.max_prune_fraction,
        self_heal: raw.self_heal,
        preserve_counts: raw.preserve_counts,
        auto_promote: raw.auto_promote,
        rollback_on_failure: raw.rollback_on_failure,
        commit_status: raw
            .commit_status
            .as_ref()
            .map(|c| commit_status(c, &raw.name, key, cx))
            .transpose()?,
        verify: verify(raw, key, cx)?,
        commit_url: commit_url(raw.commit_url.as_deref())
            .map_err(|m| cx.invalid(&key.key("commit_url"), m))?,
        objects: objects(raw, key, cx, check_repo_path)?,
    })
}

/// The checks that need no other table.
fn check(raw: &RawSource, key: &KeyPath, cx: &Ctx) -> Result<(), ConfigError> {
    let fail = |field: &str, message: String| cx.invalid(&key.key(field), message);
    check_name(&raw.name).map_err(|m| fail("name", format!("source name {m}")))?;
    if raw.paths.is_empty() {
        return Err(fail(
            "paths",
            "must list at least one glob; leave the key out for the default".to_owned(),
        ));
    }
    for (field, list) in [
        ("paths", &raw.paths),
        ("exclude", &raw.exclude),
        ("var_files", &raw.var_files),
    ] {
        for (i, item) in list.iter().enumerate() {
            check_repo_path(item).map_err(|m| cx.invalid(&key.key(field).index(i), m))?;
        }
    }
    if raw.region.as_ref().is_some_and(|n| n.trim().is_empty()) {
        return Err(fail(
            "region",
            "must not be empty; remove the key to leave it unset".to_owned(),
        ));
    }
    if let Some(dcs) = &raw.datacenters
        && (dcs.is_empty() || dcs.iter().any(|d| d.trim().is_empty()))
    {
        let message = "must list at least one datacenter, none empty; remove the key to leave them to the job files";
        return Err(fail("datacenters", message.to_owned()));
    }
    if raw.namespace.as_ref().is_some_and(|n| n.trim().is_empty()) {
        return Err(fail(
            "namespace",
            "must not be empty; remove the key to leave it unset".to_owned(),
        ));
    }
    if let Some(bad) = raw.variables.keys().find(|name| !is_identifier(name)) {
        let message = format!(
            "`{bad}` is not a variable name (letters, digits, `_` and `-`, not starting with a digit)"
        );
        return Err(cx.invalid(&key.key("variables").key(bad), message));
    }
    if let Some((name, _)) = raw.variables.iter().find(|(_, v)| !finite(v)) {
        let message = "holds a NaN or infinite number, which HCL cannot express".to_owned();
        return Err(cx.invalid(&key.key("variables").key(name), message));
    }
    if raw.poll < Duration::from_secs(1) {
        return Err(fail("poll", "must be at least 1s".to_owned()));
    }
    if !(0.0..=1.0).contains(&raw.max_prune_fraction) {
        let message =
            "must be between 0 and 1: the largest share of this source's jobs one commit may prune";
        return Err(fail("max_prune_fraction", message.to_owned()));
    }
    Ok(())
}

/// A path or glob inside the repository: relative, `/`-separated, never climbing out.
fn check_repo_path(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.starts_with('/') {
        return Err(format!("`{value}` must be relative to the repository root"));
    }
    if value.split('/').any(|part| part == "..") {
        return Err(format!(
            "`{value}` must stay inside the repository (no `..`)"
        ));
    }
    Ok(())
}

/// Whether every float in `value` is finite.
fn finite(value: &toml::Value) -> bool {
    match value {
        toml::Value::Float(f) => f.is_finite(),
        toml::Value::Array(items) => items.iter().all(finite),
        toml::Value::Table(table) => table.values().all(finite),
        _ => true,
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn revision(raw: &RawSource, key: &KeyPath, cx: &Ctx) -> Result<Revision, ConfigError> {
    let given: Vec<(&str, &String)> = [
        ("branch", &raw.branch),
        ("tag", &raw.tag),
        ("commit", &raw.commit),
    ]
    .into_iter()
    .filter_map(|(field, value)| value.as_ref().map(|v| (field, v)))
    .collect();
    let (field, value) = match given.as_slice() {
        [] => return Ok(Revision::Branch(DEFAULT_BRANCH.to_owned())),
        [one] => *one,
        [(first, _), (second, _), ..] => {
            let message = format!(
                "set at most one of branch, tag and commit (this source sets {first} and {second})"
            );
            return Err(cx.invalid(&key.key(second), message));
        }
    };
    let fail = |message: String| cx.invalid(&key.key(field), message);
    match field {
        "commit" => commit_id(value).map(Revision::Commit).map_err(fail),
        "tag" => check_ref_name(value)
            .map(|()| Revision::Tag(value.clone()))
            .map_err(fail),
        _ => check_ref_name(value)
            .map(|()| Revision::Branch(value.clone()))
            .map_err(fail),
    }
}

fn commit_id(value: &str) -> Result<String, String> {
    if value.len() == 40 && value.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(value.to_ascii_lowercase());
    }
    Err(format!(
        "`{value}` is not a full commit id (40 hex digits); an abbreviation could become ambiguous"
    ))
}

/// The rules of `git check-ref-format` that a hand-written name can break.
fn check_ref_name(name: &str) -> Result<(), String> {
    const FORBIDDEN: &[char] = &[' ', '~', '^', ':', '?', '*', '[', '\\'];
    if name.starts_with("refs/") {
        return Err(format!("give the short name, not `{name}`"));
    }
    let bad = name.is_empty()
        || name == "@"
        || name.starts_with(['-', '/', '.'])
        || name.ends_with(['/', '.'])
        || name.ends_with(".lock")
        || ["..", "//", "@{", "/."].iter().any(|s| name.contains(s))
        || name
            .chars()
            .any(|c| c.is_control() || FORBIDDEN.contains(&c));
    if bad {
        return Err(format!(
            "`{name}` is not a valid Git ref name (see `git check-ref-format`)"
        ));
    }
    Ok(())
}

/// What `{commit}` stands for in a `commit_url`.
const COMMIT_PLACEHOLDER: &str = "{commit}";

/// A `commit_url` template: an http(s) URL once `{commit}`, which it must hold, is replaced.
fn commit_url(value: Option<&str>) -> Result<Option<String>, String> {
    let Some(value) = value else { return Ok(None) };
    if !value.contains(COMMIT_PLACEHOLDER) {
        return Err(format!(
            "must contain {COMMIT_PLACEHOLDER}, e.g. \"https://github.com/acme/jobs/commit/{COMMIT_PLACEHOLDER}\""
        ));
    }
    http_url(&value.replace(COMMIT_PLACEHOLDER, &"0".repeat(40)))?;
    Ok(Some(value.to_owned()))
}

impl Source {
    /// The page of `commit` on the forge, when `commit_url` is set.
    pub fn commit_link(&self, commit: &str) -> Option<String> {
        let template = self.commit_url.as_ref()?;
        Some(template.replace(COMMIT_PLACEHOLDER, commit))
    }
}

/// Tells URLs, scp-like addresses and local paths apart the way Git does.
fn parse_repo_url(value: &str, cx: &Ctx) -> Result<RepoUrl, String> {
    if value.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.contains("://") {
        // Not echoed: a URL may carry a password.
        let url = url::Url::parse(value).map_err(|e| format!("not a valid URL ({e})"))?;
        if url.password().is_some() {
            return Err(
                "must not contain a password: secrets are never written in the config file"
                    .to_owned(),
            );
        }
        const SCHEMES: [&str; 5] = ["https", "http", "ssh", "git", "file"];
        if !SCHEMES.contains(&url.scheme()) {
            return Err(format!(
                "unsupported scheme `{}`: use https, http, ssh, git, file, scp-like host:path or a local path",
                url.scheme()
            ));
        }
        return Ok(RepoUrl::Url(url));
    }
    // Git's rule: a colon before any slash means `[user@]host:path`.
    if value
        .find(':')
        .is_some_and(|colon| colon > 0 && !value[..colon].contains('/'))
    {
        return Ok(RepoUrl::Scp(value.to_owned()));
    }
    Ok(RepoUrl::Local(cx.file_path(Path::new(value))))
}
