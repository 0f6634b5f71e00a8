//! A source's cluster objects besides jobs: which files hold each kind (globs beside `paths`),
//! the SOPS files that become variables and the age identity that decrypts them, whether
//! objects of the same name made by hand are adopted, and which kinds are pruned. Checks the
//! globs' shape and the kind names; never reads the repository or the identity.

use std::collections::{BTreeMap, BTreeSet};

use super::Ctx;
use super::error::ConfigError;
use super::locate::KeyPath;
use super::notify::secret;
use super::schema::RawSource;
use super::secret::Secret;
use crate::kinds::Kind;

/// What a source holds besides jobs, and how drover treats it.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    /// Globs of the files of each kind; a kind without globs is not managed by this source.
    pub globs: BTreeMap<Kind, Vec<String>>,
    /// Globs of SOPS files encrypted with age, each a Nomad variable.
    pub encrypted: Vec<String>,
    /// The age identity (`AGE-SECRET-KEY-1...` lines) that decrypts them; set with them.
    pub age_identity: Option<Secret>,
    /// Take over an object of the same name that drover did not create (logged).
    pub adopt: bool,
    /// Kinds whose objects are deleted when their file leaves Git (opt-in, kind by kind).
    pub prune: BTreeSet<Kind>,
}

impl Objects {
    /// Whether the source holds any object besides jobs.
    pub fn any(&self) -> bool {
        !self.globs.is_empty() || !self.encrypted.is_empty()
    }

    /// The globs of every kind, in [`Kind::ALL`] order (empty for a kind not managed), then
    /// those of the encrypted variables: the groups a snapshot lists, in that order.
    pub fn globs_in_order(&self) -> Vec<Vec<String>> {
        Kind::ALL
            .iter()
            .map(|k| self.globs.get(k).cloned().unwrap_or_default())
            .chain([self.encrypted.clone()])
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
    for (i, glob) in raw.encrypted_variables.iter().enumerate() {
        check_path(glob).map_err(|m| cx.invalid(&key.key("encrypted_variables").index(i), m))?;
    }
    let file = raw.age_identity_file.as_ref();
    let credential = raw.age_identity_credential.as_deref();
    let age_identity = secret(cx, key, "age_identity", file, credential)?;
    if age_identity.is_none() && !raw.encrypted_variables.is_empty() {
        let message = "missing: set age_identity_file or age_identity_credential, the age key that decrypts encrypted_variables";
        return Err(cx.invalid(&key.key("age_identity_file"), message));
    }
    Ok(Objects {
        globs,
        encrypted: raw.encrypted_variables.clone(),
        age_identity,
        adopt: raw.adopt,
        prune,
    })
}
