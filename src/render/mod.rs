//! Render: one job file at a commit → the exact job Nomad should run, or errors that name the
//! file, line and column.
//!
//! Owns, in order: the local check (UTF-8, HCL2 syntax, exactly one `job "ID"` block), `file()`
//! inlining from the same commit (confined to the repository, edited by span), variables (the
//! source's var files and inline values, handed to Nomad as `-var-file` would), the
//! fingerprint, the canonical JSON from Nomad's `POST /v1/jobs/parse`, the source's overrides
//! and the `drover.*` ownership meta. Never decides whether to plan or register, never
//! evaluates HCL itself (Nomad does, so runtime interpolations such as `${NOMAD_ALLOC_DIR}` or
//! `${attr.unique.hostname}` reach it untouched), and reads the repository only through
//! [`RepoFiles`].
//!
//! # Use
//! Per source and commit, [`load_variables`] once; per job file, [`prepare`] (local, no I/O but
//! the repository: compare [`Prepared::fingerprint`] with the last one to skip unchanged jobs),
//! then [`render`] (one parse call). [`block_duplicates`] over the rendered set. [`report`]
//! turns a file's errors into the text people read.

mod check;
mod declared;
mod duplicates;
mod error;
mod fingerprint;
mod inline;
mod report;
mod stamp;
mod vars;
mod view;
mod wave;

use std::collections::BTreeMap;

use serde_json::Value;

pub(crate) use check::{position, syntax_message};
pub use duplicates::duplicates;
pub use error::{ErrorKind, Position, RenderError, Warning};
pub(crate) use fingerprint::hex;
pub use report::{Detail, Diagnosed, report};
pub use vars::{Given, Variables};
pub use wave::WAVE_META;

use crate::config::Source;
use crate::nomad::{Client, ParseRequest, Submission};
use crate::policy::JobView;
use crate::source::RepoFiles;
use crate::state::JobKey;

/// What rendering needs from a source's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Stamped as `drover.source`.
    pub source: String,
    /// The source's `namespace` override.
    pub namespace: Option<String>,
    /// The cluster's namespace, for jobs whose file sets none.
    pub cluster_namespace: Option<String>,
    pub region: Option<String>,
    pub datacenters: Option<Vec<String>>,
    pub var_files: Vec<String>,
    pub variables: BTreeMap<String, Given>,
}

impl Settings {
    pub fn from_source(source: &Source) -> Self {
        Self {
            source: source.name.clone(),
            namespace: source.namespace.clone(),
            cluster_namespace: source.cluster.namespace.clone(),
            region: source.region.clone(),
            datacenters: source.datacenters.clone(),
            var_files: source.var_files.clone(),
            variables: source
                .variables
                .iter()
                .map(|(name, value)| (name.clone(), Given::from_toml(value)))
                .collect(),
        }
    }
}

/// Reads and merges a source's var files and inline variables (once per commit). An error
/// blocks every job of the source: none can be rendered as configured.
pub fn load_variables(
    files: &dyn RepoFiles,
    settings: &Settings,
) -> Result<Variables, Vec<RenderError>> {
    vars::load(files, &settings.var_files, &settings.variables)
}

/// A job file after the local steps, ready for Nomad's parse endpoint.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub path: String,
    pub id: String,
    /// Where the job will run as far as the file and settings tell (Nomad's answer wins later).
    pub namespace: String,
    pub fingerprint: String,
    /// Repository paths besides the job file that its rendering read (inlined and var files).
    pub depends_on: Vec<String>,
    /// The policy view of the file's literal values, for checks without Nomad.
    pub file_view: JobView,
    /// The files `file()`, `filebase64()` and `fileexists()` read, with what they found
    /// (`None`: no such file), to tell later whether any of them changed.
    pub inlined_inputs: Vec<(String, Option<Vec<u8>>)>,
    /// The job's `drover.wave` (0 without it): its place in the order of a pass.
    pub wave: i64,
    settings: Settings,
    original: String,
    inlined: String,
    variables: String,
    shifts: error::ColumnShifts,
    sets_namespace: bool,
}

impl Prepared {
    pub fn key(&self) -> JobKey {
        JobKey::new(&self.namespace, &self.id)
    }
}

/// Steps 1-3 and the fingerprint for the job file at `path`: every error found, not only the
/// first.
pub fn prepare(
    files: &dyn RepoFiles,
    path: &str,
    settings: &Settings,
    variables: &Variables,
) -> Result<Prepared, Vec<RenderError>> {
    let bytes = files
        .read(path)
        .map_err(|e| vec![RenderError::new(path, None, ErrorKind::Unreadable(e))])?;
    let checked = check::check(path, &bytes)?;
    let mut errors = declared::check(path, &checked.text, &checked.body, &variables.names);
    let content = variables
        .content_for(path, &checked.text, &checked.body)
        .map_err(|e| errors.extend(e));
    let inlined =
        inline::inline(path, &checked.text, &checked.body, files).map_err(|e| errors.extend(e));
    let wave = wave::wave(path, &checked.text, &checked.body).map_err(|e| errors.extend(e));
    let (inlined, content, wave) = match (inlined, content, wave) {
        (Ok(inlined), Ok(content), Ok(wave)) if errors.is_empty() => (inlined, content, wave),
        _ => {
            errors.sort_by_key(|e| e.position);
            return Err(errors);
        }
    };
    let fingerprint = fingerprint::fingerprint(&fingerprint::Inputs {
        path,
        job: &bytes,
        inlined: &inlined.inputs,
        var_files: &variables.inputs,
        settings,
    });
    let namespace = settings
        .namespace
        .clone()
        .or_else(|| checked.namespace.clone())
        .or_else(|| settings.cluster_namespace.clone())
        .unwrap_or_else(|| "default".to_owned());
    let known_namespace = (settings.namespace.is_some() || !checked.sets_namespace)
        .then(|| namespace.clone())
        .or_else(|| checked.namespace.clone());
    let depends_on = inlined
        .inputs
        .iter()
        .map(|(p, _)| p.clone())
        .chain(variables.inputs.iter().map(|(p, _)| p.clone()))
        .collect();
    Ok(Prepared {
        path: path.to_owned(),
        file_view: view::from_file(&checked.body, &checked.id, known_namespace),
        id: checked.id,
        namespace,
        fingerprint,
        depends_on,
        settings: settings.clone(),
        original: checked.text,
        inlined_inputs: inlined.inputs,
        wave,
        inlined: inlined.text,
        variables: content,
        shifts: inlined.shifts,
        sets_namespace: checked.sets_namespace,
    })
}

/// A job as Nomad should run it.
#[derive(Debug, Clone)]
pub struct RenderedJob {
    pub id: String,
    pub namespace: String,
    pub path: String,
    /// Nomad's canonical API JSON with overrides and `drover.*` meta.
    pub job: Value,
    pub fingerprint: String,
    pub depends_on: Vec<String>,
    /// The original HCL and variables, for the register call (`nomad job inspect`, the UI).
    pub submission: Submission,
    /// What the policy rules look at.
    pub view: JobView,
}

impl RenderedJob {
    pub fn key(&self) -> JobKey {
        JobKey::new(&self.namespace, &self.id)
    }
}

/// Steps 4-6: Nomad's canonical JSON, the overrides and the ownership meta. `commit` is
/// stamped as `drover.commit` (the commit at which this job's inputs last changed), `signer`
/// as `drover.signer` (who signed the commit deployed, when the source verifies signatures).
pub async fn render(
    client: &Client,
    prepared: &Prepared,
    commit: Option<&str>,
    signer: Option<&str>,
) -> Result<RenderedJob, Vec<RenderError>> {
    let request = ParseRequest {
        job_hcl: prepared.inlined.clone(),
        variables: (!prepared.variables.is_empty()).then(|| prepared.variables.clone()),
        canonicalize: true,
    };
    let mut job = client
        .in_namespace(prepared.namespace.clone())
        .parse_job(&request)
        .await
        .map_err(|e| error::from_nomad(&prepared.path, e, &prepared.shifts))?;
    let settings = &prepared.settings;
    let namespace = stamp::namespace(settings, prepared.sets_namespace, &job);
    let origin = stamp::Origin {
        path: &prepared.path,
        commit,
        signer,
        fingerprint: &prepared.fingerprint,
    };
    stamp::apply(&mut job, settings, &namespace, &origin);
    let id = job
        .get("ID")
        .and_then(Value::as_str)
        .map_or_else(|| prepared.id.clone(), str::to_owned);
    let mut view = JobView::from_api(&job);
    view.declared_resources_from(&prepared.file_view);
    Ok(RenderedJob {
        id,
        namespace,
        path: prepared.path.clone(),
        job,
        fingerprint: prepared.fingerprint.clone(),
        depends_on: prepared.depends_on.clone(),
        submission: Submission::hcl2(prepared.original.clone(), prepared.variables.clone()),
        view,
    })
}

/// Splits off every job whose namespace and ID another file of the set also declares.
pub fn block_duplicates(jobs: Vec<RenderedJob>) -> (Vec<RenderedJob>, Vec<RenderError>) {
    let keys: Vec<(JobKey, String)> = jobs.iter().map(|j| (j.key(), j.path.clone())).collect();
    let mut blocked = duplicates(&keys);
    let mut kept = Vec::with_capacity(jobs.len());
    let mut errors = Vec::new();
    for (i, job) in jobs.into_iter().enumerate() {
        match blocked.remove(&i) {
            Some(e) => errors.push(e),
            None => kept.push(job),
        }
    }
    (kept, errors)
}
