//! The prunes of the objects whose files left Git, after the jobs' prunes and in the reverse
//! order of the kinds (variables first, namespaces last), and what the registry and the state
//! keep of them.

use std::collections::BTreeSet;

use super::{Inputs, ObjectPass, announce, display};
use crate::apply::objects::{self as nomad_objects, ObjectError};
use crate::apply::registry::Owned;
use crate::events::EventKind;
use crate::kinds::Kind;
use crate::state::{ObjectRecord, Save};
use crate::sync::ObjectReport;
use crate::sync::Status;
use crate::sync::job::halted;

/// Deletes the objects whose files left Git, in the reverse order of their kinds, after the
/// jobs' prunes. A deletion Nomad refuses (a namespace that still holds jobs or variables, a
/// node pool with nodes) leaves the object and is reported blocked.
pub(crate) async fn prune(inputs: &Inputs<'_>, pass: &mut ObjectPass) {
    let Inputs {
        source,
        ctx,
        client,
        commit,
        ..
    } = *inputs;
    let mut removed = Vec::new();
    let mut refused = Vec::new();
    let mut unclaim: BTreeSet<String> = std::mem::take(&mut pass.forgotten);
    for kind in Kind::ALL.into_iter().rev() {
        for (action, value) in pass.prunes.iter().filter(|(a, _)| a.kind == kind) {
            let what = display(kind, &action.name, action.namespace.as_deref());
            let record = ObjectRecord {
                kind,
                name: action.name.clone(),
                namespace: action.namespace.clone(),
                path: action.path.clone(),
                fingerprint: None,
                id: None,
                delete_refused: None,
            };
            // In use (Nomad refuses) or halted: blocked until that changes; any other error
            // is a failure the next pass tries again.
            let result = match halted(ctx) {
                Some(why) => Err((Status::Blocked, why.to_owned())),
                None => nomad_objects::delete(client, &record, value)
                    .await
                    .map_err(|e| {
                        let in_use = matches!(&e, ObjectError::Nomad(n) if n.is_in_use());
                        let status = if in_use {
                            Status::Blocked
                        } else {
                            Status::Failed
                        };
                        (status, e.to_string())
                    }),
            };
            match result {
                Ok(()) => {
                    let detail = "its file left Git: deleted".to_owned();
                    announce(
                        ctx,
                        &source.name,
                        EventKind::Pruned,
                        &action.key,
                        commit,
                        &detail,
                    );
                    pass.reports.push(ObjectReport::new(
                        &what,
                        &action.path,
                        Status::Pruned,
                        detail,
                    ));
                    removed.push(action.key.clone());
                    if !kind.has_meta() {
                        unclaim.insert(action.key.clone());
                    }
                }
                Err((status, why)) => {
                    if status == Status::Blocked && halted(ctx).is_none() {
                        refused.push((action.key.clone(), record, why.clone()));
                    }
                    let detail = format!("its file left Git, but it stays: {why}");
                    pass.reports
                        .push(ObjectReport::new(&what, &action.path, status, detail));
                }
            }
        }
    }
    if !unclaim.is_empty()
        && let Err(e) = pass.registry.change(&Owned::new(), &unclaim).await
    {
        tracing::warn!(source = %source.name, error = %e, "cannot remove deleted objects from the registry; the next pass tries again");
    }
    if !removed.is_empty() || !refused.is_empty() {
        let name = source.name.clone();
        ctx.recorder
            .record(Save::Now, move |state| {
                let s = state.source_mut(&name);
                for key in removed {
                    s.objects.remove(&key);
                }
                for (key, record, why) in refused {
                    s.objects.entry(key).or_insert(record).delete_refused = Some(why);
                }
            })
            .await;
    }
}
