//! A source's cluster objects besides jobs: which files hold each kind (globs beside `paths`),
//! whether objects of the same name made by hand are adopted, and which kinds are pruned.
//! Checks the globs' shape and the kind names; never reads the repository.

use std::collections::{BTreeMap, BTreeSet};

use super::Ctx;
use super::error::ConfigError;
use super::locate::KeyPath;
use super::schema::RawSource;
use crate::kinds::Kind;

/// What a source holds besides jobs, and how drover treats it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Objects {
    /// Globs of the files of each kind; a kind without globs is not managed by this source.
    pub globs: BTreeMap<Kind, Vec<String>>,
    /// Take over an object of the same name that drover did not create (logged).
    pub adopt: bool,
    /// Kinds whose objects are deleted when their file leaves Git (opt-in, kind by kind).
    pub prune: BTreeSet<Kind>,
}

impl Objects {
    /// Whether the source holds any object besides jobs.
    pub fn any(&self) -> bool {
        !self.globs.is_empty()
    }

    /// The globs of every kind, in [`Kind::ALL`] order (empty for a kind not managed).
    pub fn globs_in_order(&self) -> Vec<Vec<String>> {
        Kind::ALL
            .iter()
            .map(|k| self.globs.get(k).cloned().unwrap_or_default())
            .collect()
    }
}

pub(super) fn objects(
    raw: &RawSource,
    key: &KeyPath,
    cx: &Ctx,
    check_path: impl Fn(&str) -> Result<(), String>,
) -> Result<Objects, ConfigError> {
    let mut globs = BTreeMap::new();
    for kind in Kind::ALL {
        let list = match kind {
            Kind::Namespace => &raw.namespaces,
            Kind::NodePool => &raw.node_pools,
            Kind::AclPolicy => &raw.acl_policies,
            Kind::AclRole => &raw.acl_roles,
            Kind::Variable => &raw.nomad_variables,
        };
        for (i, glob) in list.iter().enumerate() {
            check_path(glob).map_err(|m| cx.invalid(&key.key(kind.config_key()).index(i), m))?;
        }
        if !list.is_empty() {
            globs.insert(kind, list.clone());
        }
    }
    let mut prune = BTreeSet::new();
    for (i, name) in raw.prune_kinds.iter().enumerate() {
        let Some(kind) = Kind::ALL.into_iter().find(|k| k.config_key() == name) else {
            let names: Vec<_> = Kind::ALL.iter().map(|k| k.config_key()).collect();
            let message = format!("`{name}` is not a kind; use any of {}", names.join(", "));
            return Err(cx.invalid(&key.key("prune_kinds").index(i), message));
        };
        prune.insert(kind);
    }
    Ok(Objects {
        globs,
        adopt: raw.adopt,
        prune,
    })
}
