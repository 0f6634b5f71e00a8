//! The object files of a commit, read and checked without Nomad: each kind's files parsed
//! (the variables of SOPS files decrypted too), every error of a file reported with its line
//! and column, and two files defining the same object both blocked. A kind with a file that
//! did not become an object is marked, so that none of its objects is pruned in the pass.

use std::collections::{BTreeMap, BTreeSet};

use super::display;
use crate::kinds::{self, Kind, Spec};
use crate::source::{RepoFiles, Snapshot};
use crate::sync::{ObjectReport, Status};

/// The objects of one commit, read from their files.
#[derive(Debug, Default)]
pub(crate) struct ObjectSet {
    pub specs: Vec<Spec>,
    /// Files that did not become an object, with every error found in them.
    pub broken: Vec<ObjectReport>,
    /// Kinds of which a file did not parse: none of their objects is pruned in this pass.
    pub unparsed: BTreeSet<Kind>,
}

/// Reads every object file of the commit. No Nomad call.
pub(crate) fn read_files(snapshot: &Snapshot) -> ObjectSet {
    let mut set = ObjectSet::default();
    let read = |path: &str| snapshot.read_text(path);
    for (kind, files) in Kind::ALL.into_iter().zip(&snapshot.groups) {
        for file in files {
            let parsed = read(&file.path)
                .map_err(|e| vec![e.to_string()])
                .and_then(|text| {
                    kinds::parse(kind, &file.path, &text, &read)
                        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
                });
            match parsed {
                Ok(spec) => set.specs.push(spec),
                Err(errors) => {
                    set.unparsed.insert(kind);
                    set.broken.push(ObjectReport::new(
                        &format!("{} file", kind.noun()),
                        &file.path,
                        Status::Blocked,
                        errors.join("\n"),
                    ));
                }
            }
        }
    }
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, spec) in set.specs.iter().enumerate() {
        by_key.entry(spec.key()).or_default().push(i);
    }
    let twice: BTreeSet<usize> = by_key
        .values()
        .filter(|ids| ids.len() > 1)
        .flatten()
        .copied()
        .collect();
    if !twice.is_empty() {
        let specs = std::mem::take(&mut set.specs);
        let paths: BTreeMap<String, Vec<String>> =
            twice.iter().fold(BTreeMap::new(), |mut m, i| {
                m.entry(specs[*i].key())
                    .or_default()
                    .push(specs[*i].path.clone());
                m
            });
        for (i, spec) in specs.into_iter().enumerate() {
            if twice.contains(&i) {
                set.unparsed.insert(spec.kind);
                let files = paths[&spec.key()].join(", ");
                set.broken.push(ObjectReport::new(
                    &display(spec.kind, &spec.name, spec.namespace.as_deref()),
                    &spec.path,
                    Status::Blocked,
                    format!(
                        "{} {:?} is defined by several files ({files}); each is blocked",
                        spec.kind.noun(),
                        spec.name
                    ),
                ));
            } else {
                set.specs.push(spec);
            }
        }
    }
    set
}
