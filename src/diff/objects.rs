//! `drover diff` for the cluster objects besides jobs: each object file read as a pass reads
//! it, the object read from Nomad, and the fields that would change (only those the file
//! sets), or that it would be created, or why it would be left alone. Reads only.

use serde::Serialize;

use super::Entry;
use crate::apply::objects as nomad_objects;
use crate::apply::registry::Registry;
use crate::config::Source;
use crate::kinds;
use crate::nomad::Client;
use crate::source::Snapshot;
use crate::state::META_SOURCE;
use crate::sync::read_object_files;

/// One field that would change.
#[derive(Debug, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub live: Option<String>,
    pub desired: Option<String>,
    /// A secret's item: the values are never shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// The entries of every object file of the source at the snapshot.
pub(super) async fn entries(source: &Source, snapshot: &Snapshot, client: &Client) -> Vec<Entry> {
    let set = read_object_files(
        snapshot,
        source.objects.age_identity.as_ref(),
        source.namespace.as_deref(),
    );
    let mut entries: Vec<Entry> = set
        .broken
        .into_iter()
        .map(|broken| {
            let mut entry = super::failed(source, &broken.path, broken.detail);
            entry.object = Some(broken.object);
            entry
        })
        .collect();
    let mut owned = None;
    for spec in set.specs {
        let kind = spec.kind;
        let mut entry = super::failed(source, &spec.path, String::new());
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
                        "exists and is not this source's: left alone (adopt = false)".to_owned(),
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
                        secret: c.secret,
                    })
                    .collect();
            }
        }
        entries.push(entry);
    }
    entries
}

/// `~ Description: a => b`, or `~ Items.password: (secret changed)`, one line per field.
pub(super) fn text(fields: &[FieldChange]) -> String {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
    fields
        .iter()
        .map(|f| match f.secret {
            true => format!("  ~ {}: (secret changed)\n", f.field),
            false => format!(
                "  ~ {}: {} => {}\n",
                f.field,
                show(&f.live),
                show(&f.desired)
            ),
        })
        .collect()
}
