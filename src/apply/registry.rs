//! What a source owns among the cluster objects that carry no meta (ACL policies and roles,
//! variables): one Nomad variable per source, `drover/owned/<source>` in the cluster's
//! namespace, so that another instance, a new leader or a drover whose state was lost knows
//! it. Its one item is a JSON object of object key (`acl_policy/ops-read`, ...) to the file
//! that defines it; one item, because a key holds characters an item name should not.
//!
//! A key is added before its object is first written and removed after the object is deleted,
//! so that a crash between the two leaves a claim on an object that is missing (created at the
//! next pass), never an object of drover's that nobody owns. Every write is check-and-set,
//! retried on a conflict with a fresh read.

use std::collections::{BTreeMap, BTreeSet};

use crate::nomad::{self, Client};

const PREFIX: &str = "drover/owned";
const ITEM: &str = "objects";
/// Far below Nomad's 64 KiB per variable: some 700 objects with their paths.
const MAX_BYTES: usize = 48 * 1024;
const CAS_ATTEMPTS: u32 = 5;

/// Object key → the file that defines it.
pub type Owned = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the registry of owned objects {path}: {source}")]
    Nomad {
        path: String,
        #[source]
        source: nomad::Error,
    },
    #[error(
        "the registry of owned objects {path} would hold {bytes} bytes, over {MAX_BYTES}: split the source's objects over more sources"
    )]
    TooLarge { path: String, bytes: usize },
    #[error("the registry of owned objects {path} kept changing under drover's writes")]
    Contended { path: String },
}

/// One source's registry.
#[derive(Debug, Clone)]
pub struct Registry {
    client: Client,
    path: String,
}

impl Registry {
    pub fn new(client: &Client, source: &str) -> Self {
        Self {
            client: client.clone(),
            path: format!("{PREFIX}/{source}"),
        }
    }

    /// What the source owns (empty when the variable does not exist yet).
    pub async fn read(&self) -> Result<Owned, RegistryError> {
        Ok(self.read_indexed().await?.0)
    }

    async fn read_indexed(&self) -> Result<(Owned, u64), RegistryError> {
        self.client
            .variable_item::<Owned>(&self.path, ITEM)
            .await
            .map_err(|source| self.error(source))
    }

    /// Adds `add` and removes `remove`, with check-and-set; nothing is written when nothing
    /// changes.
    pub async fn change(
        &self,
        add: &Owned,
        remove: &BTreeSet<String>,
    ) -> Result<(), RegistryError> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut owned, index) = self.read_indexed().await?;
            let before = owned.clone();
            owned.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
            owned.retain(|k, _| !remove.contains(k));
            if owned == before {
                return Ok(());
            }
            let text = serde_json::to_string(&owned).unwrap_or_default();
            if text.len() > MAX_BYTES {
                return Err(RegistryError::TooLarge {
                    path: self.path.clone(),
                    bytes: text.len(),
                });
            }
            let items = BTreeMap::from([(ITEM.to_owned(), text)]);
            match self.client.put_variable(&self.path, &items, index).await {
                Ok(_) => return Ok(()),
                Err(nomad::Error::LockConflict { .. }) => continue,
                Err(source) => return Err(self.error(source)),
            }
        }
        Err(RegistryError::Contended {
            path: self.path.clone(),
        })
    }

    fn error(&self, source: nomad::Error) -> RegistryError {
        RegistryError::Nomad {
            path: self.path.clone(),
            source,
        }
    }
}
