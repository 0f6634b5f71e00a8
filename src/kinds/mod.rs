//! Kinds: the cluster objects a source holds besides jobs (namespaces, node pools, ACL
//! policies, ACL roles, Nomad variables). Owns their file formats, the offline checks
//! `drover validate` runs on them, the body Nomad is sent, and the field-by-field comparison
//! with what Nomad returns. Pure: never reads a file by itself (an ACL policy's rules file comes
//! through the caller's `read`), never calls Nomad, never decides what to apply or prune.
//!
//! # Formats
//! One object per file. A file whose name ends in `.json` is JSON in the shape of Nomad's API
//! (field names matched ignoring case, as Nomad's decoder does; `CreateIndex` and
//! `ModifyIndex`, as `-json` output holds them, are ignored); any other file is HCL2. HCL
//! values are literals: drover evaluates no expressions, templates or function calls. A map
//! (`meta`, `items`) is written as a block, `meta { owner = "ops" }`, or, for keys that are not
//! HCL names, as an object, `meta = { "team.name" = "ops" }`. Unknown attributes, blocks and
//! fields are errors.
//!
//! - Namespace, as `nomad namespace apply` reads it: `name`, `description`, `quota`,
//!   `meta { }`, `capabilities { enabled_task_drivers, disabled_task_drivers,
//!   enabled_network_modes, disabled_network_modes }`, `node_pool_config { default, allowed,
//!   denied }`, `vault { default, allowed, denied }`, `consul { default, allowed, denied }`,
//!   `required_extra_claims { }`, `optional_extra_claims { }`.
//! - Node pool, as `nomad node pool apply` reads it: `node_pool "gpu" { description, meta { },
//!   node_identity_ttl = "24h", scheduler_config { scheduler_algorithm,
//!   memory_oversubscription_enabled } }`. `all` and `default` are Nomad's own.
//! - ACL policy (drover's format: Nomad's CLI takes the name and description as flags):
//!
//!   ```hcl
//!   name        = "ops-read"
//!   description = "Read access for operators"
//!   rules       = <<EOT
//!   namespace "*" { policy = "read" }
//!   EOT
//!   # or, instead of `rules`, a file relative to the repository root:
//!   # rules_file = "acl/ops-read.policy.hcl"
//!
//!   # optional; a job needs a namespace, a group a job, a task a group
//!   job_acl {
//!     namespace = "prod"
//!     job       = "web"
//!   }
//!   ```
//!
//!   JSON: `{"Name", "Description", "Rules", "JobACL": {"Namespace", "JobID", "Group",
//!   "Task"}}`. The rules must be HCL (or JSON) text.
//! - ACL role (drover's format): `name`, `description`, `policies = ["ops-read"]`. JSON:
//!   `{"Name", "Description", "Policies": [{"Name": "ops-read"}]}`, or a list of names.
//! - Variable, the `nomad var put` specification: `path = "nomad/jobs/web"`, `namespace =
//!   "prod"` (optional, `default` without it), `items { greeting = "hello" }`; JSON
//!   `{"Path", "Namespace", "Items"}`. Item values are strings; a key may hold any character
//!   (Nomad only warns that templates need `index` for keys beyond letters, digits and `_`).
//!
//! Licensed features (node pool scheduler configuration, namespace node pool, Vault and Consul
//! configuration) are read as written: only the cluster knows whether it may use them.

mod acl_policy;
mod acl_role;
mod diff;
mod namespace;
mod node_pool;
mod read;
pub mod sops;
mod variable;

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use diff::changes;
pub use variable::variable;

use crate::render::Position;
use crate::source::FileError;

/// The kinds of cluster object a source may hold besides jobs, in the order a pass applies them
/// (prunes run in reverse).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Namespace,
    NodePool,
    AclPolicy,
    AclRole,
    Variable,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Namespace,
        Kind::NodePool,
        Kind::AclPolicy,
        Kind::AclRole,
        Kind::Variable,
    ];

    /// The source's glob key: "namespaces", "node_pools", "acl_policies", "acl_roles",
    /// "nomad_variables".
    pub fn config_key(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::NodePool => "node_pools",
            Kind::AclPolicy => "acl_policies",
            Kind::AclRole => "acl_roles",
            Kind::Variable => "nomad_variables",
        }
    }

    /// For messages: "namespace", "node pool", "ACL policy", "ACL role", "variable".
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::NodePool => "node pool",
            Kind::AclPolicy => "ACL policy",
            Kind::AclRole => "ACL role",
            Kind::Variable => "variable",
        }
    }

    /// Whether objects of this kind carry `Meta` (namespace, node pool): ownership is stamped
    /// there.
    pub fn has_meta(self) -> bool {
        matches!(self, Kind::Namespace | Kind::NodePool)
    }

    /// The first part of [`Spec::key`]: the serde name.
    fn key_prefix(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::NodePool => "node_pool",
            Kind::AclPolicy => "acl_policy",
            Kind::AclRole => "acl_role",
            Kind::Variable => "variable",
        }
    }
}

/// One object as its file describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub kind: Kind,
    /// The object's identity: the namespace, node pool, policy or role name; a variable's path.
    pub name: String,
    /// A variable's namespace ("default" when the file names none); `None` for the other kinds.
    pub namespace: Option<String>,
    /// The repository-relative file it was read from.
    pub path: String,
    /// The fields the file sets, as Nomad's API writes them (PascalCase), without the identity
    /// fields (Name, Path, Namespace, ID). A field the file leaves out is not compared and not
    /// sent.
    pub fields: Map<String, Value>,
    /// Set for a variable decrypted from a SOPS file: its values are secret. Its fingerprint
    /// is then keyed, and [`changes`] names the items that differ, never their values.
    pub secret: Option<DigestKey>,
}

/// The key of the digest that stands for a secret's values where drover keeps a record of
/// them (the state's fingerprint), so that the record never lets anyone test a guess of a
/// value. Derived from the source's age identity, which the repository never holds.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestKey([u8; 32]);

impl DigestKey {
    /// The key for the identity whose text is `identity`.
    pub fn derive(identity: &[u8]) -> Self {
        let mut digest = Sha256::new();
        digest.update(b"drover secret digest v1\0");
        digest.update(identity);
        Self(digest.finalize().into())
    }
}

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(..)")
    }
}

/// Bumped whenever the same file comes to mean a different object.
const FINGERPRINT_VERSION: &str = "drover-kinds-v1";

impl Spec {
    /// A stable key: "namespace/web", "node_pool/gpu", "acl_policy/ops-read", "acl_role/ops",
    /// "variable/<namespace>/<path>".
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{}/{namespace}/{}", self.kind.key_prefix(), self.name),
            None => format!("{}/{}", self.kind.key_prefix(), self.name),
        }
    }

    /// The write body for Nomad: the fields plus the identity (`Name`; a variable's `Path` and
    /// `Namespace`). For a kind with `Meta`, `meta` (drover's ownership stamp, keys `drover.*`)
    /// is merged into `Meta`. A role's `Policies` are already links, `[{"Name": ...}]`.
    pub fn body(&self, meta: &BTreeMap<String, String>) -> Value {
        let mut body = Map::new();
        match self.kind {
            Kind::Variable => {
                body.insert("Path".into(), self.name.clone().into());
                let namespace = self.namespace.as_deref().unwrap_or("default");
                body.insert("Namespace".into(), namespace.into());
            }
            _ => {
                body.insert("Name".into(), self.name.clone().into());
            }
        }
        for (field, value) in &self.fields {
            body.insert(field.clone(), value.clone());
        }
        if self.kind.has_meta() && !meta.is_empty() {
            let merged = body
                .entry("Meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(merged) = merged {
                for (key, value) in meta {
                    merged.insert(key.clone(), value.clone().into());
                }
            }
        }
        Value::Object(body)
    }

    /// A digest of everything the object is made of (kind, identity, fields), stable across
    /// runs and independent of the order the file writes its keys in; lower-case hex SHA-256.
    /// The file's path is not an input: a moved file is the same object.
    pub fn fingerprint(&self) -> String {
        let inputs = serde_json::json!([
            FINGERPRINT_VERSION,
            self.kind,
            self.name,
            self.namespace,
            canonical(&Value::Object(self.fields.clone())),
        ]);
        let text = inputs.to_string();
        match &self.secret {
            Some(DigestKey(key)) => {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .expect("HMAC takes a key of any length");
                mac.update(text.as_bytes());
                crate::render::hex(&mac.finalize().into_bytes())
            }
            None => crate::render::hex(&Sha256::digest(text.as_bytes())),
        }
    }
}

/// `value` with every object's keys sorted, so that its text does not depend on the order they
/// were inserted in.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// One field that differs between the file and Nomad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// A dotted path: "Description", "Meta.owner", "Items.greeting",
    /// "Capabilities.EnabledTaskDrivers", "Rules", "Policies".
    pub field: String,
    /// Nomad's value and the file's, as short display text (JSON for non-strings; `None`:
    /// absent).
    pub live: Option<String>,
    pub desired: Option<String>,
    /// The values are a secret's: `live` and `desired` are never filled.
    pub secret: bool,
}

/// Reads one file of `kind`. `read` reads another file of the same commit (for an ACL policy's
/// `rules_file`), by repository-relative path. `source_namespace`: the source's `namespace`
/// setting, which a variable's must match (and which it takes when the file names none). Every
/// problem found is returned, each naming the file and, where there is one, the line and
/// column.
pub fn parse(
    kind: Kind,
    path: &str,
    text: &str,
    read: &dyn Fn(&str) -> Result<String, FileError>,
    source_namespace: Option<&str>,
) -> Result<Spec, Vec<KindError>> {
    match kind {
        Kind::Namespace => namespace::parse(path, text),
        Kind::NodePool => node_pool::parse(path, text),
        Kind::AclPolicy => acl_policy::parse(path, text, read),
        Kind::AclRole => acl_role::parse(path, text),
        Kind::Variable => variable::parse(path, text, source_namespace),
    }
}

/// A problem with one object file.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{}: {message}", self.location())]
pub struct KindError {
    pub path: String,
    pub position: Option<Position>,
    pub message: String,
}

impl KindError {
    /// `path:LINE:COL`, or `path` when the problem has no position.
    pub fn location(&self) -> String {
        match self.position {
            Some(p) => format!("{}:{}:{}", self.path, p.line, p.column),
            None => self.path.clone(),
        }
    }
}

/// Every error that parsing `text` finds, as printed; a test helper of every kind's tests.
/// Panics when the text parses. A file the text names (a policy's `rules_file`) is read from
/// `files`.
#[cfg(test)]
pub(crate) fn refusals(
    kind: Kind,
    path: &str,
    text: &str,
    files: &dyn Fn(&str) -> Result<String, crate::source::FileError>,
) -> Vec<String> {
    match parse(kind, path, text, files, None) {
        Ok(spec) => panic!("{text:?} passed: {spec:?}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: Kind, name: &str, fields: Value) -> Spec {
        let Value::Object(fields) = fields else {
            panic!("an object")
        };
        Spec {
            kind,
            name: name.into(),
            namespace: (kind == Kind::Variable).then(|| "prod".to_owned()),
            path: "x.hcl".into(),
            fields,
            secret: None,
        }
    }

    #[test]
    fn kinds_name_themselves() {
        let keys: Vec<&str> = Kind::ALL.iter().map(|k| k.config_key()).collect();
        assert_eq!(
            keys,
            [
                "namespaces",
                "node_pools",
                "acl_policies",
                "acl_roles",
                "nomad_variables"
            ]
        );
        assert_eq!(Kind::AclPolicy.noun(), "ACL policy");
        assert_eq!(
            serde_json::to_value(Kind::NodePool).ok(),
            Some("node_pool".into())
        );
        let sorted = {
            let mut all = Kind::ALL;
            all.sort();
            all
        };
        assert_eq!(sorted, Kind::ALL, "the order a pass applies them in");
        assert!(Kind::Namespace.has_meta() && Kind::NodePool.has_meta());
        assert!(!Kind::AclRole.has_meta() && !Kind::Variable.has_meta());
    }

    #[test]
    fn keys_name_the_kind_and_identity() {
        let v = spec(Kind::Variable, "nomad/jobs/web", serde_json::json!({}));
        assert_eq!(v.key(), "variable/prod/nomad/jobs/web");
        let p = spec(Kind::NodePool, "gpu", serde_json::json!({}));
        assert_eq!(p.key(), "node_pool/gpu");
        let r = spec(Kind::AclRole, "ops", serde_json::json!({}));
        assert_eq!(r.key(), "acl_role/ops");
    }

    #[test]
    fn the_body_adds_identity_and_merges_the_stamp_into_meta() {
        let stamp = BTreeMap::from([("drover.source".to_owned(), "infra".to_owned())]);
        let ns = spec(
            Kind::Namespace,
            "web",
            serde_json::json!({"Description": "d", "Meta": {"owner": "ops"}}),
        );
        assert_eq!(
            ns.body(&stamp),
            serde_json::json!({"Name": "web", "Description": "d", "Meta": {"owner": "ops", "drover.source": "infra"}})
        );
        let bare = spec(Kind::NodePool, "gpu", serde_json::json!({}));
        assert_eq!(
            bare.body(&stamp),
            serde_json::json!({"Name": "gpu", "Meta": {"drover.source": "infra"}})
        );
        let var = spec(
            Kind::Variable,
            "nomad/jobs/web",
            serde_json::json!({"Items": {"a": "1"}}),
        );
        assert_eq!(
            var.body(&stamp),
            serde_json::json!({"Path": "nomad/jobs/web", "Namespace": "prod", "Items": {"a": "1"}})
        );
        let role = spec(
            Kind::AclRole,
            "ops",
            serde_json::json!({"Policies": [{"Name": "a"}]}),
        );
        assert_eq!(
            role.body(&stamp),
            serde_json::json!({"Name": "ops", "Policies": [{"Name": "a"}]}),
            "no Meta on a role"
        );
    }

    #[test]
    fn the_fingerprint_is_stable_and_sees_every_input() {
        let base = spec(
            Kind::Namespace,
            "web",
            serde_json::json!({"Description": "d", "Meta": {"a": "1", "b": "2"}}),
        );
        let fp = base.fingerprint();
        assert_eq!(fp.len(), 64);
        assert_eq!(fp, base.clone().fingerprint());
        let reordered = spec(
            Kind::Namespace,
            "web",
            serde_json::json!({"Meta": {"b": "2", "a": "1"}, "Description": "d"}),
        );
        assert_eq!(reordered.fingerprint(), fp, "key order is not an input");
        let moved = Spec {
            path: "elsewhere.hcl".into(),
            ..base.clone()
        };
        assert_eq!(moved.fingerprint(), fp, "the path is not an input");
        // A secret's digest is keyed: without the key, a guess of the values cannot be tested.
        let keyed = |key: &[u8]| Spec {
            secret: Some(DigestKey::derive(key)),
            ..base.clone()
        };
        assert_ne!(keyed(b"one").fingerprint(), fp);
        assert_ne!(keyed(b"one").fingerprint(), keyed(b"two").fingerprint());
        assert_eq!(keyed(b"one").fingerprint(), keyed(b"one").fingerprint());
        assert_eq!(format!("{:?}", DigestKey::derive(b"one")), "DigestKey(..)");
        let variants = [
            Spec {
                kind: Kind::NodePool,
                ..base.clone()
            },
            Spec {
                name: "api".into(),
                ..base.clone()
            },
            Spec {
                namespace: Some("x".into()),
                ..base.clone()
            },
            spec(
                Kind::Namespace,
                "web",
                serde_json::json!({"Description": "d", "Meta": {"a": "1", "b": "3"}}),
            ),
            spec(
                Kind::Namespace,
                "web",
                serde_json::json!({"Description": "d"}),
            ),
        ];
        for variant in variants {
            assert_ne!(variant.fingerprint(), fp, "{variant:?}");
        }
    }

    #[test]
    fn errors_show_their_location() {
        let e = KindError {
            path: "ns/web.hcl".into(),
            position: Some(Position { line: 2, column: 9 }),
            message: "m".into(),
        };
        assert_eq!(e.to_string(), "ns/web.hcl:2:9: m");
        let e = KindError {
            position: None,
            ..e
        };
        assert_eq!(e.to_string(), "ns/web.hcl: m");
    }
}
