//! What earlier passes learned from each job file, reused while the file's inputs stay the
//! same: its blob, every file it inlined, the var files and the render settings. Preparing a
//! file parses its HCL; over thousands of unchanged files that was most of a pass's time. Holds
//! keys and fingerprints, never job text: a file whose job must go to Nomad is prepared again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::render::{self, Prepared, Variables};
use gix::ObjectId;

use crate::source::{FileError, RepoFiles};
use crate::state::JobKey;

/// Shared by every pass of a process; cheap to clone.
#[derive(Clone, Default)]
pub struct PrepareCache(Arc<Mutex<HashMap<String, SourceEntries>>>);

/// One source's files, valid for one set of settings and variables.
struct SourceEntries {
    settings: render::Settings,
    variables: Variables,
    files: HashMap<String, Entry>,
}

/// A job file that prepared cleanly.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    blob: ObjectId,
    inlined: Vec<(String, Option<Vec<u8>>)>,
    pub key: JobKey,
    pub fingerprint: String,
    pub wave: i64,
}

impl Entry {
    pub(crate) fn new(prepared: &Prepared, blob: ObjectId) -> Self {
        Self {
            blob,
            inlined: prepared.inlined_inputs.clone(),
            key: prepared.key(),
            fingerprint: prepared.fingerprint.clone(),
            wave: prepared.wave,
        }
    }

    /// Whether the file at `blob` would prepare to this entry: the same blob, and every
    /// inlined file as it was (a file that `fileexists` found missing still missing).
    pub(crate) fn holds(&self, blob: ObjectId, files: &dyn RepoFiles) -> bool {
        self.blob == blob
            && self
                .inlined
                .iter()
                .all(|(path, was)| match (files.read(path), was) {
                    (Ok(now), Some(was)) => &now == was,
                    (Err(FileError::Missing { .. }), None) => true,
                    _ => false,
                })
    }
}

impl PrepareCache {
    /// Takes the source's entries out, or none when the settings or variables changed since.
    pub(crate) fn take(
        &self,
        source: &str,
        settings: &render::Settings,
        variables: &Variables,
    ) -> HashMap<String, Entry> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match all.remove(source) {
            Some(s) if &s.settings == settings && &s.variables == variables => s.files,
            _ => HashMap::new(),
        }
    }

    /// Puts back the source's entries for this pass's files, by path.
    pub(crate) fn put(
        &self,
        source: &str,
        settings: render::Settings,
        variables: Variables,
        files: HashMap<String, Entry>,
    ) {
        let entries = SourceEntries {
            settings,
            variables,
            files,
        };
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(source.to_owned(), entries);
    }
}
