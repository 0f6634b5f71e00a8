//! The object files of a commit, read and checked without Nomad: each kind's files parsed
//! (the variables of SOPS files decrypted too), every error of a file reported with its line
//! and column, and two files defining the same object both blocked. A kind with a file that
//! did not become an object is marked, so that none of its objects is pruned in the pass.

use std::collections::{BTreeMap, BTreeSet};

use super::display;
use crate::config::Secret;
use crate::kinds::sops::{self, Identities};
use crate::kinds::{self, DigestKey, Kind, KindError, Spec};
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

/// Reads every object file of the commit, and decrypts the SOPS files with `age_identity`.
/// `namespace`: the source's, which its variables must be in. No Nomad call.
pub(crate) fn read_files(
    snapshot: &Snapshot,
    age_identity: Option<&Secret>,
    namespace: Option<&str>,
) -> ObjectSet {
    let mut set = ObjectSet::default();
    let read = |path: &str| snapshot.read_text(path);
    let encrypted = snapshot.groups.get(Kind::ALL.len());
    let encrypted = encrypted
        .into_iter()
        .flatten()
        .map(|f| (Kind::Variable, f, true));
    let plain = Kind::ALL.into_iter().zip(&snapshot.groups);
    let plain = plain.flat_map(|(kind, files)| files.iter().map(move |f| (kind, f, false)));
    let mut identity = None;
    for (kind, file, sealed) in plain.chain(encrypted) {
        let text = read(&file.path).map_err(|e| vec![e.to_string()]);
        let parsed = text.and_then(|text| match sealed {
            false => kinds::parse(kind, &file.path, &text, &read, namespace).map_err(lines),
            true => {
                let key = identity.get_or_insert_with(|| load_identity(age_identity));
                decrypt(&file.path, &text, key, namespace)
            }
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

/// The source's age identities and the digest key derived from them, or why there are none.
type Identity = Result<(Identities, DigestKey), String>;

fn load_identity(secret: Option<&Secret>) -> Identity {
    let secret = secret.ok_or("the source sets no age_identity_file or age_identity_credential")?;
    let text = secret
        .read()
        .map_err(|e| format!("cannot read the age identity: {e}"))?;
    let identities = Identities::parse(&text).map_err(|e| e.to_string())?;
    Ok((identities, DigestKey::derive(text.as_bytes())))
}

/// A SOPS file as the variable it holds, its values marked secret.
fn decrypt(
    path: &str,
    text: &str,
    identity: &Identity,
    namespace: Option<&str>,
) -> Result<Spec, Vec<String>> {
    let file = sops::read(path, text, namespace).map_err(lines)?;
    let (identities, key) = identity
        .as_ref()
        .map_err(|why| vec![format!("{path}: {why}")])?;
    let mut spec = sops::decrypt(&file, identities).map_err(|e| vec![e.to_string()])?;
    spec.secret = Some(key.clone());
    Ok(spec)
}

/// A file's errors, one line each.
fn lines(errors: Vec<KindError>) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}
