//! `drover diff` for the cluster objects besides jobs: each object file read as a pass reads
//! it, the object read from Nomad, and the fields that would change (only those the file
//! sets), or that it would be created, or why it would be left alone. Reads only.

use serde::Serialize;

use super::Entry;
use crate::apply::objects as nomad_objects;
use crate::apply::registry::Registry;
use crate::config::Source;
use crate::kinds::{self, Kind, KindError};
use crate::nomad::Client;
use crate::source::{FileError, RepoFiles, Snapshot};
use crate::state::META_SOURCE;

/// One field that would change.
#[derive(Debug, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub live: Option<String>,
    pub desired: Option<String>,
}

/// The entries of every object file of the source at the snapshot.
pub(super) async fn entries(source: &Source, snapshot: &Snapshot, client: &Client) -> Vec<Entry> {
    let read = |path: &str| -> Result<String, FileError> {
        let bytes = snapshot.read(path)?;
        String::from_utf8(bytes).map_err(|_| FileError::Unreadable {
            path: path.to_owned(),
            detail: "not valid UTF-8 text".to_owned(),
        })
    };
    let mut owned = None;
    let mut entries = Vec::new();
    for (kind, files) in Kind::ALL.into_iter().zip(&snapshot.groups) {
        for file in files {
            let parsed = read(&file.path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    kinds::parse(kind, &file.path, &text, &read).map_err(|e| lines(&e))
                });
            let spec = match parsed {
                Ok(spec) => spec,
                Err(error) => {
                    let mut entry = super::failed(source, &file.path, error);
                    entry.object = Some(format!("{} file", kind.noun()));
                    entries.push(entry);
                    continue;
                }
            };
            let mut entry = super::failed(source, &file.path, String::new());
            entry.error = None;
            entry.object = Some(spec.key());
            entry.namespace.clone_from(&spec.namespace);
            match nomad_objects::read(client, kind, &spec.name, spec.namespace.as_deref()).await {
                Err(e) if e.is_acl_disabled() => {
                    entry.note = Some("not applicable: the cluster has no ACLs".to_owned());
                }
                Err(e) => entry.error = Some(format!("cannot read it from Nomad: {e}")),
                Ok(None) => {
                    entry.change = true;
                    entry.note = Some(format!("{} {:?} would be created", kind.noun(), spec.name));
                }
                Ok(Some(live)) => {
                    let ours = if kind.has_meta() {
                        live.pointer(&format!("/Meta/{META_SOURCE}"))
                            .and_then(|v| v.as_str())
                            == Some(source.name.as_str())
                    } else {
                        if owned.is_none() {
                            owned = Some(
                                Registry::new(client, &source.name)
                                    .read()
                                    .await
                                    .unwrap_or_default(),
                            );
                        }
                        owned.as_ref().is_some_and(|o| o.contains_key(&spec.key()))
                    };
                    let changes = kinds::changes(&spec, &live);
                    entry.change = !changes.is_empty() && (ours || source.objects.adopt);
                    if !ours && !source.objects.adopt {
                        entry.note = Some(
                            "exists and is not this source's: left alone (adopt = false)"
                                .to_owned(),
                        );
                    } else if !ours {
                        entry.note =
                            Some("exists and is not this source's: would be adopted".to_owned());
                    }
                    entry.fields = changes
                        .into_iter()
                        .map(|c| FieldChange {
                            field: c.field,
                            live: c.live,
                            desired: c.desired,
                        })
                        .collect();
                }
            }
            entries.push(entry);
        }
    }
    entries
}

fn lines(errors: &[KindError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// `~ Description: "a" => "b"`, one line per field.
pub(super) fn text(fields: &[FieldChange]) -> String {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
    fields
        .iter()
        .map(|f| {
            format!(
                "  ~ {}: {} => {}\n",
                f.field,
                show(&f.live),
                show(&f.desired)
            )
        })
        .collect()
}
